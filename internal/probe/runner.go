package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Redactor masks secrets in everything a result says; Cut masks before it
// shortens (*redact.Redactor is one).
type Redactor interface {
	String(string) string
	Cut(s string, max int) string
}

// Runner runs a set of probes.
type Runner[T any] struct {
	probes []Probe[T]
	index  map[string]int
	// DefaultTimeout bounds a probe that sets none.
	DefaultTimeout time.Duration
	// Redact, when set, is applied to every message, hint and evidence.
	Redact Redactor
	// grace is how long the runner waits for a probe that ignores its
	// context before it records the probe as stuck and moves on.
	grace time.Duration
}

// NewRunner checks the probes (unique ids, known dependencies, no cycles) and
// returns a runner for them. Order of results follows the given order.
func NewRunner[T any](probes []Probe[T]) (*Runner[T], error) {
	r := &Runner[T]{probes: probes, index: map[string]int{}, DefaultTimeout: 3 * time.Second, grace: 200 * time.Millisecond}
	for i, p := range probes {
		if p.ID == "" || p.Run == nil {
			return nil, fmt.Errorf("probe %d: id and run function are required", i)
		}
		if _, dup := r.index[p.ID]; dup {
			return nil, fmt.Errorf("probe %q declared twice", p.ID)
		}
		r.index[p.ID] = i
	}
	for _, p := range probes {
		for _, d := range p.DependsOn {
			if _, ok := r.index[d]; !ok {
				return nil, fmt.Errorf("probe %q depends on unknown probe %q", p.ID, d)
			}
		}
	}
	if cycle := r.findCycle(); cycle != "" {
		return nil, fmt.Errorf("probe dependencies form a cycle: %s", cycle)
	}
	return r, nil
}

func (r *Runner[T]) findCycle() string {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(r.probes))
	var path []string
	var visit func(i int) string
	visit = func(i int) string {
		switch state[i] {
		case visiting:
			return strings.Join(append(path, r.probes[i].ID), " → ")
		case done:
			return ""
		}
		state[i] = visiting
		path = append(path, r.probes[i].ID)
		for _, d := range r.probes[i].DependsOn {
			if c := visit(r.index[d]); c != "" {
				return c
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return ""
	}
	for i := range r.probes {
		if c := visit(i); c != "" {
			return c
		}
	}
	return ""
}

// Run runs every probe once. Independent probes run in parallel; a probe
// starts when all its prerequisites have finished, and is skipped, with the
// reason, when one of them failed or was skipped because of a failure. When ctx
// ends, probes not yet started are skipped and running ones get their context
// cancelled; a probe the user interrupts is skipped, not failed. When no
// probe reached a verdict on the connection, or the run ended before every
// probe did and nothing failed, Run adds a failing result (ConclusionID,
// KFD040) that says why. Run returns when every probe has a result.
func (r *Runner[T]) Run(ctx context.Context, target T) []Result {
	n := len(r.probes)
	results := make([]Result, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i := range r.probes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer close(done[i])
			p := r.probes[i]
			wait := func(ids []string) {
				// Closing done[j] publishes results[j].
				for _, d := range ids {
					<-done[r.index[d]]
				}
			}
			if p.Early != nil && len(p.DependsOn) > 0 && p.Early(target) {
				// Start with the prerequisites: once theirs have passed.
				before := r.prerequisitesOf(p.DependsOn)
				wait(before)
				if !r.anyBlocks(before, results) && ctx.Err() == nil {
					results[i] = r.runEarly(ctx, p, target, results, func() { wait(p.DependsOn) })
					return
				}
			}
			wait(p.DependsOn)
			results[i] = r.runOne(ctx, p, target, results)
		}(i)
	}
	wg.Wait()
	if c, ok := conclude(ctx, results); ok {
		results = append(results, r.finish(Probe[T]{ID: ConclusionID, Title: "the run: at least one probe reaches a verdict"}, c, 0))
	}
	return results
}

func (r *Runner[T]) runOne(ctx context.Context, p Probe[T], target T, results []Result) Result {
	if skip, blocked := r.blocked(p, results); blocked {
		return skip
	}
	if ctx.Err() != nil {
		return r.finish(p, Result{Status: Skip, upstreamFailed: true, stopped: stoppedBeforeStart,
			Message: "skipped: the run ended (" + stopReason(ctx) + ") before this probe started"}, 0)
	}
	return r.execute(ctx, ctx, p, target)
}

// runEarly runs a probe that may start before its prerequisites end (Early):
// it starts at once, and its result stands only when they all pass; when
// one does not, it is stopped and skipped exactly as if it had waited.
// wait returns when every prerequisite has finished.
func (r *Runner[T]) runEarly(ctx context.Context, p Probe[T], target T, results []Result, wait func()) Result {
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan Result, 1)
	go func() { ran <- r.execute(ctx, ectx, p, target) }()
	wait()
	if skip, blocked := r.blocked(p, results); blocked {
		cancel()
		<-ran // it stops within the grace period
		return skip
	}
	return <-ran
}

// prerequisitesOf is the prerequisites of the probes ids, each once.
func (r *Runner[T]) prerequisitesOf(ids []string) []string {
	var out []string
	for _, id := range ids {
		for _, d := range r.probes[r.index[id]].DependsOn {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

func (r *Runner[T]) anyBlocks(ids []string, results []Result) bool {
	return slices.ContainsFunc(ids, func(id string) bool { return results[r.index[id]].blocks() })
}

// blocked is the skip of a probe one of whose prerequisites did not pass.
func (r *Runner[T]) blocked(p Probe[T], results []Result) (Result, bool) {
	for _, d := range p.DependsOn {
		if results[r.index[d]].blocks() {
			return r.finish(p, Result{Status: Skip, upstreamFailed: true, Message: fmt.Sprintf("skipped: %s did not pass", d)}, 0), true
		}
	}
	return Result{}, false
}

// execute runs p under its own deadline within pctx, and says, from the
// run's ctx, whether the user interrupted it.
func (r *Runner[T]) execute(ctx, pctx context.Context, p Probe[T], target T) Result {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = r.DefaultTimeout
	}
	pctx, cancel := context.WithTimeout(pctx, timeout)
	defer cancel()

	start := time.Now()
	ch := make(chan Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				ch <- Result{Status: Fail, Message: fmt.Sprintf("probe crashed: %v (a bug in kfp-doctor; please report it)", v)}
			}
		}()
		ch <- p.Run(pctx, target)
	}()
	select {
	case res := <-ch:
		return r.finish(p, interrupted(ctx, res), time.Since(start))
	case <-pctx.Done():
	}
	// The probe should notice its context; give it a moment to say what it saw.
	select {
	case res := <-ch:
		return r.finish(p, interrupted(ctx, res), time.Since(start))
	case <-time.After(r.grace):
		if errors.Is(ctx.Err(), context.Canceled) {
			return r.finish(p, interrupted(ctx, Result{Status: Fail}), time.Since(start))
		}
		why := "its deadline"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "the run's overall deadline"
		}
		return r.finish(p, Result{Status: Fail, KFD: kfd.NoAnswer,
			Message: fmt.Sprintf("no answer within %s (stopped by %s)", time.Since(start).Round(time.Millisecond), why)}, time.Since(start))
	}
}

// interrupted turns the failure of a probe that the user interrupted (Ctrl-C)
// into a skip: "interrupted" and "no answer before the deadline" say nothing
// about the connection when it was the user who stopped the wait. A probe's
// own classified failure stands.
func interrupted(ctx context.Context, res Result) Result {
	if !errors.Is(ctx.Err(), context.Canceled) || res.Status != Fail || (res.KFD != "" && res.KFD != kfd.NoAnswer) {
		return res
	}
	return Result{Status: Skip, upstreamFailed: true, stopped: stoppedWhileRunning,
		Message: "stopped: the run was interrupted before this probe reached a verdict"}
}

func (r *Runner[T]) finish(p Probe[T], res Result, d time.Duration) Result {
	res.Probe, res.Title, res.Duration, res.local = p.ID, p.Title, d, p.Local
	if res.Status == "" {
		res.Status = Fail
		res.Message = "probe returned no status (a bug in kfp-doctor)"
	}
	switch {
	case res.KFD != "":
		if e, ok := kfd.Lookup(res.KFD); ok && res.Hint == "" {
			res.Hint = e.Hint
		}
		if res.Doc == "" {
			res.Doc = res.KFD.Doc()
		}
	case res.Status == Fail:
		// Every failure carries a hint and a link, even one the catalogue
		// does not know yet.
		if res.Hint == "" {
			res.Hint = "not a known failure: look at the evidence (-o json) and report it if KFP should have understood this"
		}
		if res.Doc == "" {
			res.Doc = kfd.Unclassified.Doc()
		}
	}
	var red Redactor = (*redact.Redactor)(nil) // shapes only
	if r.Redact != nil {
		red = r.Redact
	}
	res.Message = red.String(res.Message)
	res.Hint = red.String(res.Hint)
	if len(res.Facts) > 0 {
		facts := make(map[string]string, len(res.Facts))
		for k, v := range res.Facts {
			facts[k] = red.String(v)
		}
		res.Facts = facts
	}
	if res.Evidence != nil {
		ev := *res.Evidence
		ev.Request = red.String(ev.Request)
		// Masked, then cut: never the other way round.
		ev.Body = red.Cut(ev.Body, MaxEvidenceBody)
		res.Evidence = &ev
	}
	return res
}

// MaxEvidenceBody is how much of a reply's body a result keeps (characters,
// after masking).
const MaxEvidenceBody = 512
