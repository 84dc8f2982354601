package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

type target struct{}

func probeOf(id string, deps []string, run func(ctx context.Context) Result) Probe[target] {
	return Probe[target]{ID: id, Title: "probe " + id, DependsOn: deps, Run: func(ctx context.Context, _ target) Result { return run(ctx) }}
}

func constant(r Result) func(context.Context) Result {
	return func(context.Context) Result { return r }
}

func mustRunner(t *testing.T, ps ...Probe[target]) *Runner[target] {
	t.Helper()
	r, err := NewRunner(ps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func byID(results []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range results {
		m[r.Probe] = r
	}
	return m
}

func TestNewRunnerRejectsBadPlans(t *testing.T) {
	ok := constant(Passf("ok"))
	cases := map[string][]Probe[target]{
		"duplicate":    {probeOf("a", nil, ok), probeOf("a", nil, ok)},
		"unknown dep":  {probeOf("a", []string{"zz"}, ok)},
		"cycle":        {probeOf("a", []string{"c"}, ok), probeOf("b", []string{"a"}, ok), probeOf("c", []string{"b"}, ok)},
		"self cycle":   {probeOf("a", []string{"a"}, ok)},
		"no run":       {{ID: "a"}},
		"no id at all": {{Run: func(context.Context, target) Result { return Passf("") }}},
	}
	for name, ps := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := NewRunner(ps); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	r := mustRunner(t,
		probeOf("token", nil, constant(Skipped("no token configured"))),
		probeOf("healthz", nil, constant(Failed(kfd.NothingListening, "refused"))),
		probeOf("mode", []string{"healthz"}, constant(Passf("never runs"))),
		probeOf("list", []string{"mode", "token"}, constant(Passf("never runs"))),
		probeOf("independent", []string{"token"}, constant(Passf("runs after a plain skip"))),
	)
	got := byID(r.Run(context.Background(), target{}))
	if got["mode"].Status != Skip || !strings.Contains(got["mode"].Message, "healthz did not pass") {
		t.Errorf("mode = %+v, want skip naming healthz", got["mode"])
	}
	if got["list"].Status != Skip || !strings.Contains(got["list"].Message, "mode did not pass") {
		t.Errorf("list = %+v, want skip naming mode (skips propagate)", got["list"])
	}
	if got["independent"].Status != Pass {
		t.Errorf("independent = %+v: a plain skip must not block", got["independent"])
	}
	h := got["healthz"]
	if h.Hint == "" || h.Doc != kfd.NothingListening.Doc() || h.Title != "probe healthz" {
		t.Errorf("healthz lacks catalogue hint/doc/title: %+v", h)
	}
}

func TestIndependentProbesRunInParallel(t *testing.T) {
	// Each probe waits until the other has started: run one after the other,
	// they would both time out.
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	meet := func(mine, other chan struct{}) func(context.Context) Result {
		return func(ctx context.Context) Result {
			close(mine)
			select {
			case <-other:
				return Passf("met")
			case <-ctx.Done():
				return Failed("", "ran alone")
			}
		}
	}
	r := mustRunner(t, probeOf("a", nil, meet(aStarted, bStarted)), probeOf("b", nil, meet(bStarted, aStarted)))
	r.DefaultTimeout = 5 * time.Second
	for _, res := range r.Run(context.Background(), target{}) {
		if res.Status != Pass {
			t.Fatalf("%s: %s", res.Probe, res.Message)
		}
	}
}

func TestPerProbeDeadline(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r := mustRunner(t,
		Probe[target]{ID: "polite", Timeout: 20 * time.Millisecond, Run: func(ctx context.Context, _ target) Result {
			<-ctx.Done()
			return Failed(kfd.NoAnswer, "gave up: "+ctx.Err().Error())
		}},
		Probe[target]{ID: "stubborn", Timeout: 20 * time.Millisecond, Run: func(context.Context, target) Result {
			<-release // ignores its context
			return Passf("too late")
		}},
		probeOf("fast", nil, constant(Passf("fine"))),
	)
	r.grace = 10 * time.Millisecond
	got := byID(r.Run(context.Background(), target{}))
	if got["polite"].Message != "gave up: context deadline exceeded" {
		t.Errorf("polite = %+v: the probe's own result must win", got["polite"])
	}
	if s := got["stubborn"]; s.Status != Fail || s.KFD != kfd.NoAnswer || !strings.Contains(s.Message, "its deadline") {
		t.Errorf("stubborn = %+v", s)
	}
	if got["fast"].Status != Pass {
		t.Errorf("fast = %+v", got["fast"])
	}
}

func TestOverallDeadlineAndCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := mustRunner(t,
		probeOf("slow", nil, func(pctx context.Context) Result {
			cancel() // the user presses Ctrl-C while this probe runs
			<-pctx.Done()
			return Failed(kfd.NoAnswer, "interrupted")
		}),
		probeOf("after", []string{"slow"}, constant(Passf("never"))),
	)
	start := time.Now()
	got := byID(r.Run(ctx, target{}))
	if time.Since(start) > 2*time.Second {
		t.Fatalf("run took %s after cancellation", time.Since(start))
	}
	if got["slow"].Message != "interrupted" || got["after"].Status != Skip {
		t.Fatalf("got %+v", got)
	}

	// A context already done: nothing runs, everything is skipped with a reason.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, res := range mustRunner(t, probeOf("x", nil, constant(Passf("no")))).Run(done, target{}) {
		if res.Status != Skip || !strings.Contains(res.Message, "run ended") {
			t.Fatalf("got %+v", res)
		}
	}
}

func TestPanicsAndEmptyResultsAreReported(t *testing.T) {
	r := mustRunner(t,
		probeOf("boom", nil, func(context.Context) Result { panic("nil map") }),
		probeOf("empty", nil, constant(Result{})),
	)
	got := byID(r.Run(context.Background(), target{}))
	if got["boom"].Status != Fail || !strings.Contains(got["boom"].Message, "probe crashed") {
		t.Errorf("boom = %+v", got["boom"])
	}
	if got["empty"].Status != Fail {
		t.Errorf("empty = %+v", got["empty"])
	}
}

func TestResultsAreRedacted(t *testing.T) {
	var red redact.Redactor
	red.Add("canary-Zq9x-secret")
	r := mustRunner(t, probeOf("leaky", nil, constant(Result{Status: Fail, KFD: kfd.TokenInvalid,
		Message:  "server said canary-Zq9x-secret",
		Evidence: &Evidence{Request: "GET /?t=canary-Zq9x-secret", Body: "echo canary-Zq9x-secret"}})))
	r.Redact = &red
	res := r.Run(context.Background(), target{})[0]
	for _, s := range []string{res.Message, res.Evidence.Request, res.Evidence.Body} {
		if strings.Contains(s, "canary-Zq9x-secret") {
			t.Fatalf("secret leaked: %q", s)
		}
	}
}

func TestOK(t *testing.T) {
	warn := []Result{{Status: Pass}, {Status: Warn}, {Status: Skip}}
	if !OK(warn, false) || OK(warn, true) {
		t.Error("warnings fail only in strict mode")
	}
	if OK([]Result{{Status: Fail}}, false) {
		t.Error("a failure is not OK")
	}
}
