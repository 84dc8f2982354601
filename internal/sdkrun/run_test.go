package sdkrun

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// driver starts the driver under the SDK's own python, or skips when no SDK
// is at hand (the suites fail instead).
func driver(t *testing.T) *Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sdk, err := Find(ctx)
	if errors.Is(err, ErrNoSDK) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, sdk.Python, sdk, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// seen records what the server was sent.
type seen struct {
	mu   sync.Mutex
	auth []string
	ns   []string
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.ns = append(s.ns, r.URL.Query().Get("namespace"))
}

// kfpServer answers as the recorded multi-user KFP 2.17.0 did.
func kfpServer(t *testing.T, s *seen) *url.URL {
	list, refuse := kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1"), kfptest.Fixed("no auth, ns=ns-1")
	srv := kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV2: kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: func(w http.ResponseWriter, r *http.Request) {
			s.add(r)
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				list(w, r)
				return
			}
			refuse(w, r)
		},
	})
	u, _ := url.Parse(srv.URL)
	return u
}

func tokenFile(t *testing.T, dir string) string {
	t.Helper()
	tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "default-editor", Audience: []string{"pipelines.kubeflow.org"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The real SDK's outcomes, each as the SDK reaches it: a list, KFP's 401
// with its code, a refused connection, and a server that never answers.
func TestOutcomes(t *testing.T) {
	d := driver(t)
	var s seen
	srv := kfpServer(t, &s)
	dir := t.TempDir()
	tok := tokenFile(t, dir)
	home := map[string]string{"HOME": dir}
	ctx := context.Background()

	o, err := d.Run(ctx, Case{Host: srv.String(), Namespace: "ns-1", ExistingTokenFile: tok, Env: home})
	if err != nil || o.Result != Succeeded || o.Listed != 0 {
		t.Fatalf("with a token: %+v %v", o, err)
	}
	if got := s.auth[len(s.auth)-1]; !strings.HasPrefix(got, "Bearer ey") || s.ns[len(s.ns)-1] != "ns-1" {
		t.Fatalf("the SDK sent %q for namespace %q", got, s.ns[len(s.ns)-1])
	}

	o, err = d.Run(ctx, Case{Host: srv.String(), Namespace: "ns-1", Env: home})
	if err != nil || o.Result != Raised || o.Stage != "list_experiments" || o.HTTPStatus != 401 || o.KFPCode == nil || *o.KFPCode != 16 ||
		o.Exception != "kfp_server_api.exceptions.ApiException" {
		t.Fatalf("without a token: %+v %v", o, err)
	}
	if !strings.Contains(o.String(), "HTTP 401, KFP code 16") {
		t.Fatalf("%s", o)
	}

	o, err = d.Run(ctx, Case{Host: "http://127.0.0.1:1", Namespace: "ns-1", Env: home})
	if err != nil || o.Result != Raised || !strings.Contains(o.Exception, "MaxRetryError") {
		t.Fatalf("a closed port: %+v %v", o, err)
	}

	silent := kfptest.SilentServer(t)
	start := time.Now()
	o, err = d.Run(ctx, Case{Host: silent, Namespace: "ns-1", Env: home, Bound: 2 * time.Second})
	if err != nil || o.Result != Hung || o.Stage != "list_experiments" || o.Elapsed < 2*time.Second {
		t.Fatalf("a silent server: %+v %v", o, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("the hang was stopped after %s, bound 2s", time.Since(start))
	}
	// The driver goes on after a hung case.
	o, err = d.Run(ctx, Case{Host: srv.String(), Namespace: "ns-1", ExistingTokenFile: tok, Env: home})
	if err != nil || o.Result != Succeeded {
		t.Fatalf("after a hang: %+v %v", o, err)
	}
}

// kfp.Client() in an emulated pod: no host, the pod's namespace file read
// after a multi-user healthz, the default credentials from the token path,
// the Service's name reached through a local address.
func TestInAPod(t *testing.T) {
	d := driver(t)
	var s seen
	srv := kfpServer(t, &s)
	dir := t.TempDir()
	sa := filepath.Join(dir, "sa")
	if err := os.MkdirAll(sa, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"namespace": "ns-1", "token": "kubelet-token", "ca.crt": "not used"} {
		if err := os.WriteFile(filepath.Join(sa, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := Case{
		Env: map[string]string{"HOME": filepath.Join(dir, "home"), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
		Pod: &Pod{ServiceAccountDir: sa, TokenDefaultPath: tokenFile(t, dir), Dial: map[string]string{"ml-pipeline.kubeflow.svc.cluster.local:8888": srv.Host}},
	}
	o, err := d.Run(context.Background(), c)
	if err != nil || o.Result != Succeeded {
		t.Fatalf("%+v %v", o, err)
	}
	if len(s.auth) != 1 || !strings.HasPrefix(s.auth[0], "Bearer ey") || s.ns[0] != "ns-1" {
		t.Fatalf("the SDK in the pod sent %q for namespace %q", s.auth, s.ns)
	}
	// set_user_namespace wrote the pod's namespace where the SDK keeps it.
	if b, err := os.ReadFile(filepath.Join(dir, "home", ".config", "kfp", "context.json")); err != nil || !strings.Contains(string(b), `"ns-1"`) {
		t.Fatalf("context.json: %s %v", b, err)
	}
}

// A user's context.json given as a file is the one the SDK reads, copied
// into its home: the namespace it holds is the one listed in, and the file
// given is left as it was.
func TestContextFile(t *testing.T) {
	d := driver(t)
	var s seen
	srv := kfpServer(t, &s)
	dir := t.TempDir()
	given := filepath.Join(dir, "context.json")
	if err := os.WriteFile(given, []byte(`{"namespace": "team-b"}`), 0o444); err != nil {
		t.Fatal(err)
	}
	o, err := d.Run(context.Background(), Case{Host: srv.String(), ExistingTokenFile: tokenFile(t, dir), ContextFile: given,
		Env: map[string]string{"HOME": filepath.Join(dir, "home")}})
	if err != nil || o.Result != Succeeded {
		t.Fatalf("%+v %v", o, err)
	}
	if len(s.ns) != 1 || s.ns[0] != "team-b" {
		t.Fatalf("listed in %q, want the context file's team-b", s.ns)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "home", ".config", "kfp", "context.json")); err != nil || !strings.Contains(string(b), "team-b") {
		t.Fatalf("the home's context.json: %s %v", b, err)
	}
}

// A driver that gives no answer is stopped, and says so.
func TestDriverDeadline(t *testing.T) {
	d := driver(t)
	silent := kfptest.SilentServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := d.Run(ctx, Case{Host: silent, Namespace: "ns-1", Bound: time.Minute}); err == nil {
		t.Fatal("no error")
	}
	if _, err := d.Run(context.Background(), Case{Host: silent}); err == nil {
		t.Fatal("a stopped driver ran a case")
	}
}

func rep(results ...probe.Result) *report.Report { return &report.Report{Results: results} }

func TestCompare(t *testing.T) {
	code := 16
	pass := probe.Result{Probe: "list-experiments", Status: probe.Pass}
	fail := probe.Result{Probe: "list-experiments", Status: probe.Fail, KFD: kfd.NoIdentity}
	hung := probe.Result{Probe: "healthz", Status: probe.Fail, KFD: kfd.NoAnswer}
	ok := &Outcome{Result: Succeeded, Listed: 2}
	raised := &Outcome{Result: Raised, Stage: "list_experiments", Exception: "kfp_server_api.exceptions.ApiException", HTTPStatus: 401, KFPCode: &code}
	hang := &Outcome{Result: Hung, Stage: "constructor", Elapsed: 45 * time.Second}
	for _, c := range []struct {
		name  string
		o     *Outcome
		r     *report.Report
		agree bool
		why   string
	}{
		{"both through", ok, rep(pass), true, ""},
		{"both fail", raised, rep(fail), true, ""},
		{"the SDK through, the doctor fails", ok, rep(fail), false, "the real kfp.Client got through"},
		{"the SDK fails, the doctor passes", raised, rep(pass), false, "raised at list_experiments"},
		{"a hang the doctor predicts", hang, rep(hung), true, ""},
		{"a hang the doctor names otherwise", hang, rep(fail), true, "the SDK hung"},
		{"a broken driver", &Outcome{Result: Broken, Message: "boom"}, rep(pass), false, "no verdict"},
	} {
		a := Compare(c.o, c.r)
		if a.Agree != c.agree || (c.why == "") != (a.Why == "") || !strings.Contains(a.Why, c.why) {
			t.Errorf("%s: %+v", c.name, a)
		}
	}
	if got := Compare(raised, rep(fail)); got.SDK != "list_experiments raised ApiException (HTTP 401, KFP code 16) in 0s" || got.Doctor != "FAILED: list-experiments [KFD001]" {
		t.Errorf("%q / %q", got.SDK, got.Doctor)
	}
}

// Forwarders carry a connection to the address as dial reaches it, and
// stop with close.
func TestForwarders(t *testing.T) {
	var s seen
	srv := kfpServer(t, &s)
	var dialed []string
	var mu sync.Mutex
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Host)
	}
	m, closeAll, err := Forwarders(context.Background(), dial, []string{"ml-pipeline.kubeflow:8888", "ml-pipeline.kubeflow:8888"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 {
		t.Fatalf("%v", m)
	}
	resp, err := http.Get("http://" + m["ml-pipeline.kubeflow:8888"] + kfptest.HealthzV2)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	closeAll()
	if len(dialed) != 1 || dialed[0] != "ml-pipeline.kubeflow:8888" {
		t.Fatalf("dialed %v", dialed)
	}
	if _, err := http.Get("http://" + m["ml-pipeline.kubeflow:8888"] + kfptest.HealthzV2); err == nil {
		t.Fatal("a closed forwarder still answers")
	}
}

// Two runs of one call compare equal whatever the clock said.
func TestFindingsAreSteady(t *testing.T) {
	a := Findings([]map[string]any{{"probe": "token", "status": "pass", "message": "expires in 59m58s; took 215ms; experiment kfp-doctor-check-0a1b2c3d"}})
	b := Findings([]map[string]any{{"probe": "token", "status": "pass", "message": "expires in 59m59s; took 3ms; experiment kfp-doctor-check-ffff0000"}})
	if a[0] != b[0] || !strings.Contains(a[0].Message, "expires in …") {
		t.Fatalf("%+v\n%+v", a[0], b[0])
	}
	if c := Findings([]map[string]any{{"probe": "token", "message": "namespace-3, HTTP 401"}}); c[0].Message != "namespace-3, HTTP 401" {
		t.Fatalf("%q", c[0].Message)
	}
}

// diagnose(client)'s report against the doctor's: exactly, or by what each
// probe concluded.
func TestSameDiagnosis(t *testing.T) {
	doctor := rep(probe.Result{Probe: "sdk", Status: probe.Pass, Message: "host h (host=) · namespace n (namespace=)"},
		probe.Result{Probe: "list-experiments", Status: probe.Pass, Message: "listed 0 experiment(s)"})
	diag := func(ok bool, results ...map[string]any) *Diagnosis {
		b, _ := json.Marshal(map[string]any{"ok": ok, "results": results})
		return &Diagnosis{JSON: b}
	}
	same := diag(true, map[string]any{"probe": "sdk", "status": "pass", "message": "host h (host=) · namespace n (namespace=)"},
		map[string]any{"probe": "list-experiments", "status": "pass", "message": "listed 0 experiment(s)"})
	otherWords := diag(true, map[string]any{"probe": "sdk", "status": "pass", "message": "host h (host=) · namespace n (context.json)"},
		map[string]any{"probe": "list-experiments", "status": "pass", "message": "listed 0 experiment(s)"})
	failed := diag(false, map[string]any{"probe": "sdk", "status": "pass"}, map[string]any{"probe": "list-experiments", "status": "fail", "kfd": "KFD001"})
	for _, c := range []struct {
		name  string
		d     *Diagnosis
		exact bool
		want  string
	}{
		{"the same report", same, true, ""},
		{"other words, exact", otherWords, true, "probe sdk"},
		{"other words, verdicts", otherWords, false, ""},
		{"another verdict", failed, false, "ok=false"},
	} {
		got, err := SameDiagnosis(c.d, doctor, c.exact)
		if err != nil || (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q %v", c.name, got, err)
		}
	}
	if _, err := SameDiagnosis(&Diagnosis{Error: "kfp_doctor is not installed"}, doctor, true); err == nil {
		t.Error("a diagnosis that did not run compared")
	}
}

// With its retry sleeps shortened the SDK makes the same requests and
// reaches the same verdict: kfp.Client() without a namespace asks healthz
// five times, sleeping 5 s after each, then raises TimeoutError — without
// the 25 s of sleeps.
func TestRetrySleepShortened(t *testing.T) {
	d := driver(t)
	var mu sync.Mutex
	asked := 0
	srv := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		mu.Unlock()
		http.Error(w, "RBAC: access denied", http.StatusForbidden)
	}})
	o, err := d.Run(context.Background(), Case{Host: srv.URL, Env: map[string]string{"HOME": t.TempDir()}, RetrySleep: 10 * time.Millisecond})
	if err != nil || o.Result != Raised || o.Stage != "constructor" || o.Exception != "builtins.TimeoutError" {
		t.Fatalf("%+v %v", o, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked != 5 {
		t.Fatalf("healthz asked %d times, the SDK asks 5", asked)
	}
	// One of the SDK's own sleeps is 5 s: none of them happened.
	if o.Elapsed >= 5*time.Second || !strings.Contains(o.String(), "5 of its retry sleeps shortened to 0.01s") {
		t.Fatalf("%s (%s)", o, o.Elapsed)
	}
}
