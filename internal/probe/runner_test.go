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
	// The user stopped the wait: that is no finding about the server.
	if s := got["slow"]; s.Status != Skip || !strings.Contains(s.Message, "interrupted") {
		t.Fatalf("slow = %+v, want a skip saying it was interrupted", s)
	}
	if got["after"].Status != Skip {
		t.Fatalf("after = %+v", got["after"])
	}

	// A context already done: nothing runs, everything is skipped with a reason.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, res := range mustRunner(t, probeOf("x", nil, constant(Passf("no")))).Run(done, target{}) {
		if res.Probe == ConclusionID {
			continue
		}
		if res.Status != Skip || !strings.Contains(res.Message, "run ended") {
			t.Fatalf("got %+v", res)
		}
	}
}

// A run in which no probe reached a verdict is a failure with KFD040, never
// OK; where the cause is the configuration, the outcome says so (exit 2).
func TestNoVerdictIsAFailure(t *testing.T) {
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	interrupted, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	twoProbes := func() []Probe[target] {
		return []Probe[target]{probeOf("a", nil, constant(Passf("a"))), probeOf("b", []string{"a"}, constant(Passf("b")))}
	}
	cases := []struct {
		name   string
		ctx    context.Context
		probes []Probe[target]
		want   Outcome
		says   string
	}{
		{"deadline before any probe", expired, twoProbes(), OutcomeMisconfigured, "deadline passed before any probe started"},
		{"interrupted before any probe", interrupted, twoProbes(), OutcomeFailed, "interrupted"},
		{"every probe skipped itself", context.Background(),
			[]Probe[target]{probeOf("a", nil, constant(Skipped("nothing configured")))}, OutcomeMisconfigured, "nothing configured"},
		{"no probes at all", context.Background(), nil, OutcomeMisconfigured, "checks nothing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			results := mustRunner(t, c.probes...).Run(c.ctx, target{})
			last := results[len(results)-1]
			if last.Probe != ConclusionID || last.Status != Fail || last.KFD != kfd.NoVerdict || last.Doc != kfd.NoVerdict.Doc() || last.Hint == "" {
				t.Fatalf("last result = %+v, want the run's KFD040 failure with hint and doc", last)
			}
			if !strings.Contains(last.Message, c.says) {
				t.Errorf("message %q does not say %q", last.Message, c.says)
			}
			if got := Judge(results, false); got != c.want || OK(results, false) {
				t.Errorf("Judge = %v (OK %t), want %v", got, OK(results, false), c.want)
			}
		})
	}

	// A verdict, even a lone warning among skips, adds no conclusion.
	results := mustRunner(t, probeOf("a", nil, constant(Warned("", "w"))), probeOf("b", nil, constant(Skipped("s")))).Run(context.Background(), target{})
	if len(results) != 2 || !OK(results, false) {
		t.Fatalf("results = %+v", results)
	}
}

// Results assembled by hand (not by a runner) that hold no verdict are not OK
// either.
func TestJudgeWithoutRunner(t *testing.T) {
	for name, rs := range map[string][]Result{"empty": nil, "all skipped": {{Status: Skip}, {Status: Skip}}} {
		if Judge(rs, false) != OutcomeFailed || OK(rs, false) {
			t.Errorf("%s: judged OK", name)
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

// The evidence body is masked whole and only then cut to MaxEvidenceBody:
// a secret straddling the cut leaves no prefix behind.
func TestEvidenceIsMaskedBeforeItIsCut(t *testing.T) {
	const secret = "Zq9straddlingSecretValue"
	var red redact.Redactor
	red.Add(secret)
	for _, at := range []int{MaxEvidenceBody - 3, MaxEvidenceBody - 10, MaxEvidenceBody - len(secret) + 1} {
		body := strings.Repeat("x", at) + secret + strings.Repeat("y", 2000)
		r := mustRunner(t, probeOf("p", nil, constant(Result{Status: Fail, Message: "m", Evidence: &Evidence{Body: body}})))
		r.Redact = &red
		got := r.Run(context.Background(), target{})[0].Evidence.Body
		if strings.Contains(got, "Zq9") || !strings.Contains(got, "[") || len([]rune(got)) > MaxEvidenceBody+1 {
			t.Fatalf("secret at %d: evidence %q", at, got[max(0, len(got)-40):])
		}
	}
}

// A local probe's pass (a token file's claims) is no verdict on the
// connection; and a run stopped part-way with nothing failed does not read
// as OK either.
func TestLocalAndPartialRunsAreNotOK(t *testing.T) {
	t.Run("only a local probe passed before Ctrl-C", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		local := probeOf("token", nil, constant(Passf("claims fine")))
		local.Local = true
		results := mustRunner(t, local, probeOf("healthz", []string{"token"}, func(pctx context.Context) Result {
			cancel()
			<-pctx.Done()
			return Failed("", "interrupted")
		})).Run(ctx, target{})
		last := results[len(results)-1]
		if last.Probe != ConclusionID || last.KFD != kfd.NoVerdict || !strings.Contains(last.Message, "before any probe reached a verdict on the connection") || Judge(results, false) != OutcomeFailed {
			t.Fatalf("results = %+v", results)
		}
	})
	t.Run("one probe passed, another was interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		results := mustRunner(t, probeOf("healthz", nil, constant(Passf("up"))), probeOf("list", []string{"healthz"}, func(pctx context.Context) Result {
			cancel()
			<-pctx.Done()
			return Failed("", "interrupted")
		})).Run(ctx, target{})
		last := results[len(results)-1]
		if last.Probe != ConclusionID || !strings.Contains(last.Message, "before 1 probe(s) reached a verdict (list)") || Judge(results, false) != OutcomeFailed {
			t.Fatalf("results = %+v", results)
		}
	})
	t.Run("a failure needs no conclusion", func(t *testing.T) {
		results := mustRunner(t, probeOf("healthz", nil, constant(Failed(kfd.NothingListening, "refused")))).Run(context.Background(), target{})
		if len(results) != 1 || Judge(results, false) != OutcomeFailed {
			t.Fatalf("results = %+v", results)
		}
	})
	t.Run("hand-assembled: only local verdicts", func(t *testing.T) {
		if Judge([]Result{{Status: Pass, local: true}, {Status: Skip}}, false) != OutcomeFailed {
			t.Fatal("a local pass alone judged OK")
		}
	})
}

// An Early probe starts with its prerequisite, not after it: here the
// prerequisite waits until the early probe has started, which would time out
// if the early one waited for it.
func TestEarlyProbeStartsWithItsPrerequisite(t *testing.T) {
	listStarted := make(chan struct{})
	healthz := probeOf("healthz", nil, func(ctx context.Context) Result {
		select {
		case <-listStarted:
			return Passf("reached")
		case <-ctx.Done():
			return Failed(kfd.NoAnswer, "the early probe never started")
		}
	})
	list := probeOf("list", []string{"healthz"}, func(context.Context) Result {
		close(listStarted)
		return Passf("listed")
	})
	list.Early = func(target) bool { return true }
	r := mustRunner(t, healthz, list)
	r.DefaultTimeout = 5 * time.Second
	got := byID(r.Run(context.Background(), target{}))
	if got["healthz"].Status != Pass || got["list"].Status != Pass || got["list"].Message != "listed" {
		t.Fatalf("healthz %+v, list %+v", got["healthz"], got["list"])
	}
}

// When a prerequisite fails, an early probe's answer is thrown away, its
// context cancelled, and it is skipped as if it had waited; Early false for
// the target means waiting as usual.
func TestEarlyProbeAfterAFailedPrerequisiteIsSkippedAsBefore(t *testing.T) {
	for _, early := range []bool{true, false} {
		listCancelled := make(chan struct{})
		release := make(chan struct{})
		healthz := probeOf("healthz", nil, func(context.Context) Result {
			<-release
			return Failed(kfd.NothingListening, "refused")
		})
		ran := false
		list := probeOf("list", []string{"healthz"}, func(ctx context.Context) Result {
			ran = true
			close(release)
			<-ctx.Done()
			close(listCancelled)
			return Passf("an answer nobody may see")
		})
		list.Early = func(target) bool { return early }
		if !early {
			close(release)
		}
		r := mustRunner(t, healthz, list)
		r.DefaultTimeout = 5 * time.Second
		got := byID(r.Run(context.Background(), target{}))
		if l := got["list"]; l.Status != Skip || l.Message != "skipped: healthz did not pass" || l.Duration != 0 {
			t.Errorf("early %t: list = %+v, want the skip of a probe that waited", early, l)
		}
		if early {
			select {
			case <-listCancelled:
			default:
				t.Error("the early probe's context was not cancelled")
			}
		} else if ran {
			t.Error("with Early false the probe ran although its prerequisite failed")
		}
	}
}

// An early probe starts with its prerequisites, not before theirs: behind a
// login that healthz waits for, the list starts once the login has passed
// (with healthz), and not at all when the login fails.
func TestEarlyProbeWaitsForItsPrerequisitesPrerequisites(t *testing.T) {
	for _, loginPasses := range []bool{true, false} {
		var loginDone, listStarted = make(chan struct{}), make(chan struct{})
		login := probeOf("login", nil, func(context.Context) Result {
			defer close(loginDone)
			if loginPasses {
				return Passf("session")
			}
			return Failed(kfd.WrongCredentials, "wrong password")
		})
		healthz := probeOf("healthz", []string{"login"}, func(ctx context.Context) Result {
			select {
			case <-listStarted:
				return Passf("reached")
			case <-ctx.Done():
				return Failed(kfd.NoAnswer, "the early probe never started")
			}
		})
		list := probeOf("list", []string{"healthz", "login"}, func(context.Context) Result {
			select {
			case <-loginDone:
			default:
				t.Error("list started before the login ended")
			}
			close(listStarted)
			return Passf("listed")
		})
		list.Early = func(target) bool { return true }
		r := mustRunner(t, login, healthz, list)
		r.DefaultTimeout = 5 * time.Second
		got := byID(r.Run(context.Background(), target{}))
		if loginPasses && (got["healthz"].Status != Pass || got["list"].Status != Pass) {
			t.Errorf("login passes: healthz %+v, list %+v", got["healthz"], got["list"])
		}
		if !loginPasses && (got["list"].Status != Skip || got["healthz"].Status != Skip) {
			t.Errorf("login fails: healthz %+v, list %+v", got["healthz"], got["list"])
		}
	}
}
