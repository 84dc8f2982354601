package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/existing"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
)

type conformanceFlags struct {
	provider, kubeconfig, kubeContext string
	scenarios                         []string
	test                              string
	reportDir                         string
	disruptive                        bool
}

// errCasesFailed makes the exit code 1 once the reports say why.
type errCasesFailed struct{ failed int }

func (e errCasesFailed) Error() string { return fmt.Sprintf("%d case(s) failed", e.failed) }

func newConformanceCommand(stdout, stderr io.Writer) *cobra.Command {
	var f conformanceFlags
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the scenarios' cases — every documented path, every fault — and check what the doctor names",
		Long: `conformance runs the same cases as the Ginkgo suite (suites/conformance):
each documented way a kfp.Client reaches KFP, under each fault users hit, and
checks that the doctor reports success or names the case's KFD id.

--provider kwok makes a kwok cluster per scenario, installs KFP and the lab's
stand-ins, and runs every case. --provider existing uses your cluster
(--kubeconfig, --context) and is non-destructive by default: it installs
nothing and changes nothing of the install; it runs the happy paths and the
faults that live in the client, and skips the faults that delete, scale or
re-configure the install's objects (--disruptive runs them, reverting each).
It creates only its own objects — client pods, and the scenarios' own
namespaces, ServiceAccounts and RoleBindings where the cluster lacks them —
labelled ` + conformance.OwnedSelector + ` and the run's id, and removes
them afterwards, also on Ctrl-C; the next run removes what a killed one left.

Exit codes: 0 every case passed, 1 a case failed (or the run could not go on),
2 bad usage.`,
		Example: `  kfp-connect conformance --provider existing --context my-cluster --report-dir reports/
  kfp-connect conformance --provider existing --scenario multi-user/out-of-cluster --test 'gateway'
  kfp-connect conformance --provider kwok --scenario standalone/out-of-cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConformance(cmd.Context(), &f, cmd.Flags().Changed("disruptive"), stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.provider, "provider", "", "where to run: kwok (a cluster per scenario, made and removed), kind, or existing (your cluster)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the existing cluster (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.kubeContext, "context", "", "kubeconfig context of the existing cluster (default: the current one)")
	fs.StringArrayVar(&f.scenarios, "scenario", nil, "run only this scenario (repeatable): "+joinNames())
	fs.StringVar(&f.test, "test", "", "run only the cases whose name (\"scenario: path × fault\") matches this regular expression")
	fs.StringVar(&f.reportDir, "report-dir", "", "write "+conformance.JUnitFile+", "+conformance.JSONFile+" and "+conformance.HTMLFile+" here")
	fs.BoolVar(&f.disruptive, "disruptive", false, "also run the cases that change the install, reverting each (default: on for kwok, off for existing)")
	_ = cmd.RegisterFlagCompletionFunc("provider", cobra.FixedCompletions([]string{"kwok", "kind", "existing"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("scenario", cobra.FixedCompletions(conformance.Names(all.Scenarios()), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func joinNames() string { return strings.Join(conformance.Names(all.Scenarios()), ", ") }

// conformanceTarget is the provider by name: where a run's scenarios go,
// and whether the run may change the install when --disruptive is not
// given. A new provider (node) is a new case here.
func conformanceTarget(ctx context.Context, f *conformanceFlags, log *slog.Logger) (conformance.Target, bool, error) {
	switch f.provider {
	case "kwok":
		if f.kubeconfig != "" || f.kubeContext != "" {
			return nil, false, usageErr("--kubeconfig and --context are for --provider existing; kwok makes its own clusters")
		}
		return &conformance.Fresh{Provider: "kwok", Log: log, New: func() (cluster.Provider, error) {
			return kwok.New(kwok.Options{})
		}}, true, nil
	case "kind":
		// The in-cluster paths need the client to be a real Pod of the
		// doctor's image, which is not built yet; a kind cluster you made
		// and installed KFP on is an existing one.
		return nil, false, fmt.Errorf("--provider kind cannot run yet: its in-cluster paths need the doctor's image as a Pod; for a kind cluster with KFP installed use --provider existing --context kind-NAME")
	case "existing":
		p := existing.New(f.kubeconfig, f.kubeContext)
		if err := p.Create(ctx); err != nil {
			return nil, false, err
		}
		return &conformance.Existing{Config: p.RESTConfig(), Cluster: p.Name()}, false, nil
	case "":
		return nil, false, usageErr("--provider is required: kwok, kind or existing")
	}
	return nil, false, usageErr("--provider %q: want kwok, kind or existing", f.provider)
}

func runConformance(ctx context.Context, f *conformanceFlags, disruptiveSet bool, stdout, stderr io.Writer) error {
	sel := conformance.Selection{Scenarios: f.scenarios}
	if f.test != "" {
		re, err := regexp.Compile(f.test)
		if err != nil {
			return usageErr("--test %q: %v", f.test, err)
		}
		sel.Test = re
	}
	// The plan's errors are the user's: a scenario or pattern that names
	// nothing. Checked before any cluster is touched.
	if _, err := conformance.Plan(all.Scenarios(), sel, conformance.PlanOptions{}); err != nil {
		return usageErr("%v", err)
	}
	// client-go logs the port-forward errors the faults provoke on purpose;
	// each case's outcome says what matters.
	klog.SetLogger(logr.Discard())
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	target, disposable, err := conformanceTarget(ctx, f, log)
	if err != nil {
		return err
	}
	disruptive := f.disruptive
	if !disruptiveSet {
		disruptive = disposable
	}
	plans, err := conformance.Plan(all.Scenarios(), sel, conformance.PlanOptions{Disruptive: disruptive})
	if err != nil {
		return usageErr("%v", err)
	}
	r := &conformance.Runner{
		Target: target, Plans: plans, Owner: conformance.NewOwner(), Disruptive: disruptive,
		Progress: func(ev conformance.Event) { fmt.Fprintln(stderr, conformance.ProgressLine(ev)) },
	}
	res, runErr := r.Run(ctx)
	if f.reportDir != "" {
		if err := conformance.WriteReports(f.reportDir, res); err != nil {
			return fmt.Errorf("writing the reports: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped (run %s on %s)\n",
		res.Count(conformance.Passed), res.Count(conformance.Failed), res.Count(conformance.Skipped), res.RunID, res.Provider)
	if len(res.Cleanup) > 0 {
		fmt.Fprintf(stderr, "• removed the run's %d object(s): %s\n", len(res.Cleanup), strings.Join(res.Cleanup, ", "))
	}
	if f.reportDir != "" {
		fmt.Fprintf(stdout, "reports in %s: %s, %s, %s\n", f.reportDir, conformance.HTMLFile, conformance.JUnitFile, conformance.JSONFile)
	}
	if runErr != nil {
		return runErr
	}
	if n := res.Count(conformance.Failed); n > 0 {
		return errCasesFailed{failed: n}
	}
	return nil
}
