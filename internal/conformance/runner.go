// Package conformance is the one conformance runner: the plan's cases
// (internal/conformance/plan) on a target's clusters
// (internal/conformance/drivers: kwok, node, kind, existing), each case a
// fault injected (env), a client made real (client), the doctor run as it
// and its report held to the case's expectation (verdict), the outcomes
// collected and rendered (results). `kfp-connect conformance` runs it with
// Run; the Ginkgo suite (suites/conformance) drives the same steps —
// Prepare, Case, Close — one spec per case.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Prepared is a scenario made ready on a cluster.
type Prepared struct {
	Env *env.Env
	// Skip, when set, skips every case of the scenario (the install is of
	// another mode, say) and Env is nil.
	Skip string
	// Notes say what preparing did (objects created), for progress.
	Notes []string
	// Teardown undoes the preparation; nil when there is nothing to undo.
	Teardown func(context.Context) error
}

// Target is where a run's scenarios go: a cluster made for each scenario
// (kwok, node, kind), or one the user has (existing).
type Target interface {
	// Name is the provider's name, for the reports.
	Name() string
	// Prepare makes sc ready for its cases.
	Prepare(ctx context.Context, sc *scenarios.Scenario, owner env.Owner) (Prepared, error)
	// Close removes what the run left (its labelled objects); it is called
	// once, also after an interrupt, with a context that is not cancelled.
	Close(ctx context.Context, owner env.Owner) ([]string, error)
}

// Runner runs a plan on a target.
type Runner struct {
	Target Target
	Plans  []plan.Scenario
	Owner  env.Owner
	// Disruptive is recorded in the results (the plan already holds its
	// effect).
	Disruptive bool
	// Workdir holds the cases' client files (tokens); a temporary
	// directory, removed by Close, when empty.
	Workdir string
	// Progress, when set, is told of each step and each case's outcome.
	Progress func(Event)
	// SDK, when set, runs the real kfp.Client as each case's client where
	// it applies, and a verdict it disagrees with fails the case.
	SDK *sdkrun.Driver

	res     *results.Results
	workdir string
	cleanup func()
	index   int
	total   int
}

// Event is progress: a case's outcome (Case set) or a note (Note set).
type Event struct {
	Index, Total int
	Case         *results.CaseResult
	Note         string
}

// Run runs every planned case: Start, then per scenario Prepare, Case for
// each of its cases and the teardown, then Close. The error is for a run
// that could not go on (a cluster that could not be prepared, an
// interrupt); case failures are in the results. The clean-up runs in every
// case, bounded, on a context that ignores ctx's cancellation.
func (r *Runner) Run(ctx context.Context) (res *results.Results, err error) {
	if err := r.Start(); err != nil {
		return r.res, err
	}
	defer func() {
		if cerr := r.Close(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	for _, sp := range r.Plans {
		if err := ctx.Err(); err != nil {
			return r.res, fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		prep, err := r.Prepare(ctx, sp)
		if err != nil {
			return r.res, err
		}
		err = r.runScenario(ctx, sp, prep)
		if terr := r.Teardown(ctx, sp, prep); terr != nil {
			err = errors.Join(err, terr)
		}
		if err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

// Start begins a run: its results and its work directory.
func (r *Runner) Start() error {
	r.res = &results.Results{RunID: r.Owner.RunID, Provider: r.Target.Name(), Disruptive: r.Disruptive, Started: time.Now()}
	r.total = 0
	for _, sp := range r.Plans {
		r.total += len(sp.Cases)
	}
	r.workdir, r.cleanup = r.Workdir, func() {}
	if r.workdir == "" {
		dir, err := os.MkdirTemp("", "kfp-connect-conformance-")
		if err != nil {
			return err
		}
		r.workdir, r.cleanup = dir, func() { _ = os.RemoveAll(dir) }
	}
	return nil
}

// Results are the run's outcomes so far.
func (r *Runner) Results() *results.Results { return r.res }

// Prepare makes a scenario's cluster ready, unless none of its cases would
// run (then it returns a zero Prepared).
func (r *Runner) Prepare(ctx context.Context, sp plan.Scenario) (Prepared, error) {
	if !sp.Runnable() {
		return Prepared{}, nil
	}
	r.note("preparing %s on %s", sp.Scenario.Name, r.Target.Name())
	prep, err := r.Target.Prepare(ctx, sp.Scenario, r.Owner)
	if err != nil {
		return prep, fmt.Errorf("preparing %s: %w", sp.Scenario.Name, err)
	}
	for _, n := range prep.Notes {
		r.note("%s", n)
	}
	return prep, nil
}

// Teardown undoes a Prepare, bounded, also after an interrupt.
func (r *Runner) Teardown(ctx context.Context, sp plan.Scenario, prep Prepared) error {
	if prep.Teardown == nil {
		return nil
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := prep.Teardown(tctx); err != nil {
		return fmt.Errorf("tearing down %s: %w", sp.Scenario.Name, err)
	}
	return nil
}

// Close ends the run: the target removes what the run left, the work
// directory goes, and the results get their clean-up and duration.
func (r *Runner) Close(ctx context.Context) error {
	defer r.cleanup()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	removed, err := r.Target.Close(cctx, r.Owner)
	r.res.Cleanup = append(r.res.Cleanup, removed...)
	r.res.Duration = time.Since(r.res.Started)
	if err != nil {
		r.res.CleanupError = err.Error()
		return fmt.Errorf("cleaning up: %w", err)
	}
	return nil
}

func (r *Runner) runScenario(ctx context.Context, sp plan.Scenario, prep Prepared) error {
	for _, p := range sp.Cases {
		if ctx.Err() != nil && p.Skip == "" && prep.Skip == "" {
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		if cr := r.Case(ctx, prep, p); ctx.Err() != nil && cr.Status == results.Failed {
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
	}
	return nil
}

// Case runs one planned case on a prepared scenario, or skips it with the
// reason (the scenario does not apply, the plan or the cluster cannot run
// it), records its outcome and reports it. Each case stands alone: its
// own work directory, fault and revert, client and deadline.
func (r *Runner) Case(ctx context.Context, prep Prepared, p plan.Case) results.CaseResult {
	r.index++
	cr := newCaseResult(p)
	switch {
	case prep.Skip != "":
		// The whole scenario does not apply here (another mode): that,
		// not a case's own reason, is why it does not run.
		cr.Status, cr.Reason = results.Skipped, prep.Skip
	case p.Skip != "":
		cr.Status, cr.Reason = results.Skipped, p.Skip
	case prep.Env == nil:
		cr.Status, cr.Reason = results.Failed, "the scenario was not prepared"
	case prep.Env.Unavailable(p.Case) != "":
		// A part of the install this cluster cannot run (an image it
		// cannot have): the case says so instead of failing.
		cr.Status, cr.Reason = results.Skipped, prep.Env.Unavailable(p.Case)
	default:
		r.runOne(ctx, prep.Env, p, &cr)
		if ctx.Err() != nil && cr.Status == results.Failed {
			// The case was cut short, not failed by the cluster.
			cr.Reason = "interrupted: " + cr.Reason
		}
	}
	r.res.Cases = append(r.res.Cases, cr)
	if r.Progress != nil {
		r.Progress(Event{Index: r.index, Total: r.total, Case: &cr})
	}
	return cr
}

// caseTimeout bounds one case.
const caseTimeout = 3 * time.Minute

func (r *Runner) runOne(ctx context.Context, e *env.Env, p plan.Case, cr *results.CaseResult) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	dir, err := os.MkdirTemp(r.workdir, "case-")
	if err == nil {
		var out *Outcome
		out, err = RunCase(cctx, e, p.Case, dir, r.SDK)
		if out != nil {
			cr.Steps, cr.Doctor, cr.SDK = out.Steps, out.Doctor, out.SDK
		}
		_ = os.RemoveAll(dir)
	}
	cr.Duration = time.Since(start)
	if err != nil {
		cr.Status, cr.Reason = results.Failed, err.Error()
		return
	}
	cr.Status = results.Passed
}

func newCaseResult(p plan.Case) results.CaseResult {
	return results.CaseResult{
		Scenario: p.Scenario.Name, Path: p.Case.Path, Fault: p.Case.Fault, Name: p.Case.Name(),
		Expect: p.Case.Expect.String(), Probe: p.Case.Expect.Probe, KFD: p.Case.Expect.KFD,
		AlsoProbe: p.Case.Expect.AlsoProbe, Also: p.Case.Expect.Also,
		Disruptive: p.Disruptive,
	}
}

func (r *Runner) note(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(Event{Index: r.index, Total: r.total, Note: fmt.Sprintf(format, args...)})
	}
}

// ProgressLine is an event as one line: what the command prints to stderr.
func ProgressLine(ev Event) string {
	if ev.Case == nil {
		return "• " + ev.Note
	}
	c := ev.Case
	mark := map[results.Status]string{results.Passed: "✔", results.Failed: "✖", results.Skipped: "–"}[c.Status]
	line := fmt.Sprintf("[%d/%d] %s %s: %s → %s", ev.Index, ev.Total, mark, c.Scenario, c.Name, c.Status)
	if c.Status != results.Skipped {
		line += fmt.Sprintf(" (%s)", c.Duration.Round(10*time.Millisecond))
	}
	if c.Reason != "" {
		reason, _, _ := strings.Cut(c.Reason, "\n")
		line += ": " + reason
	}
	return line
}
