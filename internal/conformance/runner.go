package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// RunCase runs one case on env and checks the doctor's report against the
// case's expectation: what both the Ginkgo suite and the command run. The
// error is the case's failure (the run's, or the check's); res has the
// steps and the report as far as the run got.
func RunCase(ctx context.Context, env *Env, c scenarios.Case, workdir string) (*Result, error) {
	res, err := env.Run(ctx, c, workdir)
	if err != nil {
		return res, err
	}
	return res, Check(res.Report, c.Expect)
}

// Status is a case's outcome.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// CaseResult is one case's outcome, as the reports show it.
type CaseResult struct {
	Scenario string `json:"scenario"`
	Path     string `json:"path"`
	Fault    string `json:"fault,omitempty"`
	Name     string `json:"name"`
	// Expect says what the case must yield; KFD and Also are its ids,
	// Probe and AlsoProbe the probes that must name them.
	Expect     string        `json:"expect"`
	Probe      string        `json:"probe,omitempty"`
	KFD        kfd.ID        `json:"kfd,omitempty"`
	AlsoProbe  string        `json:"also_probe,omitempty"`
	Also       kfd.ID        `json:"also,omitempty"`
	Disruptive bool          `json:"disruptive"`
	Status     Status        `json:"status"`
	Reason     string        `json:"reason,omitempty"` // why it was skipped or failed
	Duration   time.Duration `json:"duration_ns"`
	Steps      []string      `json:"steps,omitempty"`
	Doctor     string        `json:"doctor,omitempty"` // the doctor's report, one line per probe
}

// FullName is "scenario: path × fault".
func (r CaseResult) FullName() string { return r.Scenario + ": " + r.Name }

// Results is a run's outcome.
type Results struct {
	RunID      string        `json:"run_id"`
	Provider   string        `json:"provider"`
	Disruptive bool          `json:"disruptive"`
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Cases      []CaseResult  `json:"cases"`
	// Cleanup lists what the run created and removed; CleanupError says
	// what it could not remove.
	Cleanup      []string `json:"cleanup,omitempty"`
	CleanupError string   `json:"cleanup_error,omitempty"`
}

// Count is how many cases ended with s.
func (r *Results) Count(s Status) int {
	n := 0
	for _, c := range r.Cases {
		if c.Status == s {
			n++
		}
	}
	return n
}

// OK is true when no case failed and the clean-up left nothing.
func (r *Results) OK() bool { return r.Count(Failed) == 0 && r.CleanupError == "" }

// Prepared is a scenario made ready on a cluster.
type Prepared struct {
	Env *Env
	// Skip, when set, skips every case of the scenario (the install is of
	// another mode, say) and Env is nil.
	Skip string
	// Notes say what preparing did (objects created), for progress.
	Notes []string
	// Teardown undoes the preparation; nil when there is nothing to undo.
	Teardown func(context.Context) error
}

// Target is where a run's scenarios go: a cluster made for each scenario
// (kwok), or one the user has (existing).
type Target interface {
	// Name is the provider's name, for the reports.
	Name() string
	// Prepare makes sc ready for its cases.
	Prepare(ctx context.Context, sc *scenarios.Scenario, owner Owner) (Prepared, error)
	// Close removes what the run left (its labelled objects); it is called
	// once, also after an interrupt, with a context that is not cancelled.
	Close(ctx context.Context, owner Owner) ([]string, error)
}

// Runner runs a plan on a target.
type Runner struct {
	Target Target
	Plans  []ScenarioPlan
	Owner  Owner
	// Disruptive is recorded in the results (the plan already holds its
	// effect).
	Disruptive bool
	// Workdir holds the cases' client files (tokens); a temporary
	// directory, removed after the run, when empty.
	Workdir string
	// Progress, when set, is told of each step and each case's outcome.
	Progress func(Event)
}

// Event is progress: a case's outcome (Case set) or a note (Note set).
type Event struct {
	Index, Total int
	Case         *CaseResult
	Note         string
}

// Run runs every planned case. The error is for a run that could not go
// on (a cluster that could not be prepared, an interrupt); case failures
// are in the results. The clean-up runs in every case, bounded, on a
// context that ignores ctx's cancellation.
func (r *Runner) Run(ctx context.Context) (res *Results, err error) {
	res = &Results{RunID: r.Owner.RunID, Provider: r.Target.Name(), Disruptive: r.Disruptive, Started: time.Now()}
	workdir := r.Workdir
	if workdir == "" {
		if workdir, err = os.MkdirTemp("", "kfp-connect-conformance-"); err != nil {
			return res, err
		}
		defer os.RemoveAll(workdir)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		removed, cerr := r.Target.Close(cctx, r.Owner)
		res.Cleanup = append(res.Cleanup, removed...)
		if cerr != nil {
			res.CleanupError = cerr.Error()
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		res.Duration = time.Since(res.Started)
	}()
	total := 0
	for _, sp := range r.Plans {
		total += len(sp.Cases)
	}
	index := 0
	for _, sp := range r.Plans {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		var prep Prepared
		if sp.Runnable() {
			r.note(index, total, "preparing %s on %s", sp.Scenario.Name, r.Target.Name())
			if prep, err = r.Target.Prepare(ctx, sp.Scenario, r.Owner); err != nil {
				return res, fmt.Errorf("preparing %s: %w", sp.Scenario.Name, err)
			}
			for _, n := range prep.Notes {
				r.note(index, total, "%s", n)
			}
		}
		err := r.runScenario(ctx, sp, prep, workdir, &index, total, res)
		if prep.Teardown != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			if terr := prep.Teardown(tctx); terr != nil {
				err = errors.Join(err, fmt.Errorf("tearing down %s: %w", sp.Scenario.Name, terr))
			}
			cancel()
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *Runner) runScenario(ctx context.Context, sp ScenarioPlan, prep Prepared, workdir string, index *int, total int, res *Results) error {
	for _, p := range sp.Cases {
		*index++
		cr := newCaseResult(p)
		switch {
		case prep.Skip != "":
			// The whole scenario does not apply here (another mode):
			// that, not a case's own reason, is why it does not run.
			cr.Status, cr.Reason = Skipped, prep.Skip
		case p.Skip != "":
			cr.Status, cr.Reason = Skipped, p.Skip
		case prep.Env != nil && prep.Env.Unavailable(p.Case) != "":
			// A part of the install this cluster cannot run (an image it
			// cannot have): the case says so instead of failing.
			cr.Status, cr.Reason = Skipped, prep.Env.Unavailable(p.Case)
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted: %w", context.Cause(ctx))
		default:
			r.runOne(ctx, prep.Env, p, workdir, &cr)
			if ctx.Err() != nil {
				// The case was cut short, not failed by the cluster.
				cr.Status, cr.Reason = Failed, "interrupted: "+cr.Reason
				res.Cases = append(res.Cases, cr)
				r.report(*index, total, &cr)
				return fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
		}
		res.Cases = append(res.Cases, cr)
		r.report(*index, total, &cr)
	}
	return nil
}

// caseTimeout bounds one case, as the suite's NodeTimeout does.
const caseTimeout = 3 * time.Minute

func (r *Runner) runOne(ctx context.Context, env *Env, p Planned, workdir string, cr *CaseResult) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	dir, err := os.MkdirTemp(workdir, "case-")
	if err == nil {
		var run *Result
		run, err = RunCase(cctx, env, p.Case, dir)
		if run != nil {
			cr.Steps = run.Steps
			if run.Report != nil {
				cr.Doctor = Summary(run.Report)
			}
		}
		_ = os.RemoveAll(dir)
	}
	cr.Duration = time.Since(start)
	if err != nil {
		cr.Status, cr.Reason = Failed, err.Error()
		return
	}
	cr.Status = Passed
}

func newCaseResult(p Planned) CaseResult {
	return CaseResult{
		Scenario: p.Scenario.Name, Path: p.Case.Path, Fault: p.Case.Fault, Name: p.Case.Name(),
		Expect: p.Case.Expect.String(), Probe: p.Case.Expect.Probe, KFD: p.Case.Expect.KFD,
		AlsoProbe: p.Case.Expect.AlsoProbe, Also: p.Case.Expect.Also,
		Disruptive: p.Disruptive,
	}
}

func (r *Runner) note(index, total int, format string, args ...any) {
	if r.Progress != nil {
		r.Progress(Event{Index: index, Total: total, Note: fmt.Sprintf(format, args...)})
	}
}

func (r *Runner) report(index, total int, cr *CaseResult) {
	if r.Progress != nil {
		r.Progress(Event{Index: index, Total: total, Case: cr})
	}
}

// ProgressLine is an event as one line: what the command prints to stderr.
func ProgressLine(ev Event) string {
	if ev.Case == nil {
		return "• " + ev.Note
	}
	c := ev.Case
	mark := map[Status]string{Passed: "✔", Failed: "✖", Skipped: "–"}[c.Status]
	line := fmt.Sprintf("[%d/%d] %s %s: %s → %s", ev.Index, ev.Total, mark, c.Scenario, c.Name, c.Status)
	if c.Status != Skipped {
		line += fmt.Sprintf(" (%s)", c.Duration.Round(10*time.Millisecond))
	}
	if c.Reason != "" {
		reason, _, _ := strings.Cut(c.Reason, "\n")
		line += ": " + reason
	}
	return line
}
