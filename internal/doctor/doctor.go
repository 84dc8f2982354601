// Package doctor turns the doctor's configuration into a plan, runs the
// probes against it and returns the report. The CLI only parses flags and
// maps the outcome to an exit code.
//
// A run has three parts, each written once: Config is what the user said
// (flags), Seams are what the process around it provides (environment,
// files, network), and the Plan is what the doctor resolved from both, the
// SDK's own configuration sources and the cluster, before any probe runs.
package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// Run checks the connection and returns the report. Its error is a usage
// error (the configuration cannot be run, exit 2) or, rarely, a failure to
// set the run up (a port-forward that cannot listen); everything the probes
// find is in the report. cfg and seams are read, never written.
func Run(ctx context.Context, cfg Config, seams Seams, red *redact.Redactor) (*report.Report, error) {
	start := seams.Started
	if start.IsZero() {
		start = time.Now()
	}
	// The run's deadline covers resolving too: a --timeout used up by
	// discovery leaves the probes nothing, and the report says so (KFD040).
	// It leaves the report its moment to be written before --timeout ends.
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Timeout-reportReserve(cfg.Timeout)))
	defer cancel()
	plan, err := Resolve(ctx, cfg, seams, red)
	if err != nil {
		return nil, err
	}
	defer plan.Close()

	runner, err := probe.NewRunner(plan.probeSet(cfg.CheckWrite))
	if err != nil {
		return nil, fmt.Errorf("internal: %w", err)
	}
	runner.Redact = red
	runner.DefaultTimeout = plan.Deadlines.Probe

	results := runner.Run(ctx, plan.target)
	return &report.Report{
		Target: plan.shown, Details: strings.Join(plan.details, " · "), Results: results,
		Elapsed: time.Since(start), Strict: cfg.Strict, Redact: red, Facts: plan.facts(), Started: start,
	}, nil
}

// probeSet is the probes the plan calls for: the doctor's four, the
// cluster's around them, the login before them, the write check after.
func (p *Plan) probeSet(checkWrite bool) []probe.Probe[*probes.Target] {
	set := probes.Doctor()
	switch {
	case p.site != nil:
		set = probes.OnCluster(p.site.hostFromInstall, p.site.cluster.Pod != nil)
	case p.meshCluster != nil:
		set = probes.WithMesh(set)
	}
	if p.login != nil {
		set = probes.WithLogin(p.login.login, set)
	}
	if checkWrite {
		set = probes.WithWriteCheck(set, randomSuffix)
	}
	set = probes.WithDistribution(set)
	return probes.WithSDK(p.target, set)
}

// randomSuffix names the write check's experiment, so runs never collide.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// reportReserve is the part of --timeout kept for what follows the probes'
// deadline: the runner collecting them, the report written, the exit.
func reportReserve(timeout time.Duration) time.Duration {
	return min(timeout/100, 20*time.Millisecond)
}
