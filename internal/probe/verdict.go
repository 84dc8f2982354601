package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// The phrases of the run's conclusion that `kfp-doctor explain`
// recognises in a pasted report (internal/explain quotes them from here).
const (
	SayNoProbeStarted = "before any probe started"
	SayNoVerdict      = "no probe reached a verdict"
)

// ConclusionID is the probe id of the result the runner adds when no probe
// reached a verdict: a run that checked nothing must not read as a pass, or a
// CI gate built on the doctor goes green on nothing (`--timeout 1ns` used to
// print "OK: 0 passed … 4 skipped" and exit 0).
const ConclusionID = "run"

// stopCause says why the runner ended a probe without a verdict.
type stopCause int

const (
	notStopped stopCause = iota
	// stoppedBeforeStart: the run's context had ended before the probe began.
	stoppedBeforeStart
	// stoppedWhileRunning: the run was interrupted (Ctrl-C) while the probe
	// ran, so what it returned says nothing about the connection.
	stoppedWhileRunning
)

// Outcome is what a whole run concludes; the CLI maps it to its exit code.
type Outcome int

const (
	// OutcomeOK: no failure (with strict, no warning), and at least one
	// probe reached a verdict.
	OutcomeOK Outcome = iota
	// OutcomeFailed: a probe failed, or nothing was checked for a reason
	// outside the user's configuration (an interruption).
	OutcomeFailed
	// OutcomeMisconfigured: nothing was checked because of what the user
	// asked for (a deadline that passed before any probe could start,
	// every probe skipped by the configuration).
	OutcomeMisconfigured
)

// Judge concludes a run. A run in which no probe reached a verdict on the
// connection (only local probes passed, or everything was skipped) is never
// OK, whoever assembled the results.
func Judge(results []Result, strict bool) Outcome {
	out, verdict := OutcomeOK, false
	for _, r := range results {
		if r.misconfigured {
			return OutcomeMisconfigured
		}
		if r.Status == Fail || (strict && r.Status == Warn) {
			out = OutcomeFailed
		}
		if r.Status != Skip && !r.local {
			verdict = true
		}
	}
	if !verdict {
		return OutcomeFailed
	}
	return out
}

// OK reports whether results pass: some probe reached a verdict on the
// connection, none failed, and with strict none warned.
func OK(results []Result, strict bool) bool { return Judge(results, strict) == OutcomeOK }

// conclude returns the failure that says why the run reached no verdict, or
// ok false when it did. Two cases: no probe reached a verdict on the
// connection; or nothing failed, but the run's deadline or an interruption
// stopped some probes, so "OK" would vouch for what was never checked. ctx is
// the run's context, read after the run.
func conclude(ctx context.Context, results []Result) (res Result, ok bool) {
	verdict, failed, ranSome := false, false, false
	var stopped []string
	for _, r := range results {
		if r.Status != Skip && !r.local {
			verdict = true
		}
		if r.Status == Fail {
			failed = true
		}
		if r.stopped != notStopped {
			stopped = append(stopped, r.Probe)
		}
		// A probe of the connection that ran (to any result, or until it
		// was stopped) started; a prerequisite's skip or a stop before start
		// did not.
		if !r.local && (r.stopped == stoppedWhileRunning || (!r.upstreamFailed && r.stopped == notStopped)) {
			ranSome = true
		}
	}
	n := len(results)
	res = Result{Status: Fail, KFD: kfd.NoVerdict}
	switch {
	case failed:
		return Result{}, false // a failure is a verdict; the run fails anyway
	case verdict && len(stopped) == 0:
		return Result{}, false
	case verdict:
		res.Message = fmt.Sprintf("the run ended (%s) before %d probe(s) reached a verdict (%s): what ran passed, but this run does not vouch for the rest",
			stopReason(ctx), len(stopped), strings.Join(stopped, ", "))
	case n == 0:
		res.Message, res.misconfigured = "no probe to run: this configuration checks nothing", true
	case errors.Is(ctx.Err(), context.Canceled):
		res.Message = fmt.Sprintf("the run was interrupted before any probe reached a verdict on the connection (%d results): nothing was checked", n)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && !ranSome:
		res.Message = fmt.Sprintf("the run's deadline passed %s (%d skipped): nothing was checked; the deadline leaves no time to probe", SayNoProbeStarted, n)
		res.misconfigured = true
	case ctx.Err() != nil:
		res.Message = fmt.Sprintf("the run's deadline ended every probe before it reached a verdict on the connection (%d results): nothing was checked", n)
	default:
		res.Message = fmt.Sprintf("%s on the connection (%d results; first: %s): this configuration gives nothing to check", SayNoVerdict, n, results[0].Message)
		res.misconfigured = true
	}
	return res, true
}

// stopReason words why the run's context ended, for a probe's skip.
func stopReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "the run's deadline passed"
	}
	return "the run was interrupted"
}
