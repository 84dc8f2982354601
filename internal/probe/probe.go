// Package probe is the engine: a probe is a small named check of one link in the
// chain between a client and KFP, and the runner decides order, parallelism,
// deadlines and skipping. Probes carry their KFD id as data; the engine fills
// in hints and doc links from the catalogue, so no probe formats its own advice.
package probe

import (
	"context"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// Status is the outcome of one probe.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Probe checks one link. T is what the probes look at (the doctor's target, a
// scenario's path): the engine never looks inside it.
type Probe[T any] struct {
	ID        string   // stable, kebab-case: "token", "healthz", "list-experiments"
	Title     string   // one line, what is being checked
	DependsOn []string // ids that must not have failed before this one runs
	// Timeout bounds this probe; zero means the runner's default. The run's
	// overall deadline always wins.
	Timeout time.Duration
	// Local marks a probe that looks only at this machine (a token file's
	// claims, the SDK's choices): its pass says nothing about the
	// connection, so a run in which only local probes reached a verdict has
	// checked nothing (KFD040).
	Local bool
	// Early, when set and true for the target, lets the probe start with
	// its prerequisites instead of after them — once their own
	// prerequisites have passed — for a probe whose work reads nothing they
	// establish (a request whose every part is already fixed): its answer is
	// then ready when theirs is. It stands only when they all pass;
	// otherwise the probe is stopped and skipped exactly as if it had
	// waited. Same checks, same verdicts, sooner.
	Early func(target T) bool
	Run   func(ctx context.Context, target T) Result
}

// Evidence is what a probe saw, kept short and redacted before it leaves the
// engine.
type Evidence struct {
	Request    string `json:"request,omitempty"` // "GET http://…/apis/v2beta1/healthz"
	StatusCode int    `json:"status_code,omitempty"`
	Body       string `json:"body,omitempty"` // the first bytes
}

// Result is what a probe found. Probes set Status, KFD (when not passing),
// Message and Evidence; the runner sets Probe, Title, Duration, and fills Hint
// and Doc from the catalogue when the probe left them empty.
type Result struct {
	Probe    string        `json:"probe"`
	Title    string        `json:"title"`
	Status   Status        `json:"status"`
	KFD      kfd.ID        `json:"kfd,omitempty"`
	Message  string        `json:"message"`
	Hint     string        `json:"hint,omitempty"`
	Doc      string        `json:"doc,omitempty"`
	Duration time.Duration `json:"-"`
	Evidence *Evidence     `json:"evidence,omitempty"`
	// Facts are what the probe established, as data next to the display
	// line (-o json "facts"): keys are snake_case, values short strings
	// with no secret (the runner masks them like the message).
	Facts map[string]string `json:"facts,omitempty"`

	// upstreamFailed marks a skip caused by a failed prerequisite, so that it
	// skips its own dependants too; a plain skip ("no token configured") does not.
	upstreamFailed bool
	// stopped says why the runner, not the probe, ended this probe without a
	// verdict: the run's deadline or an interruption came first.
	stopped stopCause
	// misconfigured marks the run's conclusion when the cause of "no
	// verdict" is what the user asked for (exit 2, not 1).
	misconfigured bool
	// local copies Probe.Local: this result is no verdict on the connection.
	local bool
}

// blocks reports a result that stops dependants from running.
func (r Result) blocks() bool { return r.Status == Fail || r.upstreamFailed }

// Helpers for probes, so a result reads like a sentence.

// Passf is a passing result.
func Passf(msg string) Result { return Result{Status: Pass, Message: msg} }

// Failed is a failing result naming its catalogue id.
func Failed(id kfd.ID, msg string) Result { return Result{Status: Fail, KFD: id, Message: msg} }

// Warned is a warning, optionally naming the failure it predicts.
func Warned(id kfd.ID, msg string) Result { return Result{Status: Warn, KFD: id, Message: msg} }

// Skipped is a skip with its reason.
func Skipped(reason string) Result { return Result{Status: Skip, Message: reason} }
