package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/kfp-connect/kfp-connect/internal/buildinfo"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// maxParallelContexts bounds how many clusters are diagnosed at once.
const maxParallelContexts = 4

func usageErr(format string, args ...any) error {
	return &doctor.UsageError{Err: fmt.Errorf(format, args...)}
}

// runContexts diagnoses the same call against several kubeconfig contexts
// at once — each with its own deadline, so a slow cluster holds up no other
// — and writes one report per context, in the order given: text reports one
// after another under a header, JSON as an array of reports that each name
// their context, JUnit (-o junit, --junit-file) as one file with a test
// suite per context. The exit code is the worst of them.
func runContexts(ctx context.Context, cfg doctor.Config, seams doctor.Seams, contexts []string, format string, red *redact.Redactor, stdout io.Writer, code *int, junit *reportFile) error {
	switch {
	case cfg.PasswordStdin:
		return usageErr("--password-stdin is read once: with several contexts pass the password in $%s", doctor.EnvPassword)
	case cfg.Host != "":
		return usageErr("--host names one endpoint: several contexts need the doctor to find KFP in each cluster (drop --host)")
	case cfg.ClientConfig != "":
		return usageErr("--client-config describes one kfp.Client, which names at most one context (kube_context=): drop --all-contexts or the repeated --context")
	}
	reports := make([]*report.Report, len(contexts))
	errs := make([]error, len(contexts))
	sem := make(chan struct{}, maxParallelContexts)
	var wg sync.WaitGroup
	for i, name := range contexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, sm := cfg, seams
			c.KubeContext, sm.Stdin = name, nil
			reports[i], errs[i] = doctor.Run(ctx, c, sm, red)
			if reports[i] != nil {
				reports[i].Tool = "kfp-doctor " + buildinfo.Read(version).String()
				reports[i].Context = name
			}
		}()
	}
	wg.Wait()

	worst := 0
	raise := func(c int) {
		if c > worst {
			worst = c
		}
	}
	if format == "json" {
		fmt.Fprintln(stdout, "[")
	}
	written := make([]*report.Report, 0, len(contexts))
	for i, name := range contexts {
		rep, err := reports[i], errs[i]
		if err != nil {
			// A context the doctor could not use is this context's
			// answer, not the end of the others'.
			if doctor.IsUsage(err) {
				raise(exitUsage)
			} else {
				raise(exitFailed)
			}
			rep = &report.Report{Target: "context " + name, Context: name, Redact: red,
				Results: []probe.Result{{Probe: "run", Title: "the run for this context", Status: probe.Fail, Message: err.Error()}}}
		} else {
			switch rep.Outcome() {
			case probe.OutcomeFailed:
				raise(exitFailed)
			case probe.OutcomeMisconfigured:
				raise(exitUsage)
			}
		}
		written = append(written, rep)
		var werr error
		switch format {
		case "junit":
			// One file for every context, after the loop.
		case "json":
			if i > 0 {
				fmt.Fprintln(stdout, ",")
			}
			werr = rep.JSON(stdout)
		default:
			fmt.Fprintf(stdout, "══ context %s\n", name)
			werr = rep.Text(stdout, useColor(stdout))
			fmt.Fprintln(stdout)
		}
		if werr != nil {
			return fmt.Errorf("writing the report of context %s: %w", name, werr)
		}
	}
	switch format {
	case "json":
		fmt.Fprintln(stdout, "]")
	case "junit":
		if err := report.WriteJUnit(stdout, written...); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	if err := junit.write(written...); err != nil {
		return err
	}
	*code = worst
	return nil
}
