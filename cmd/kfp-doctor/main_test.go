package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/login/logintest"
)

type jsonOut struct {
	OK      bool `json:"ok"`
	Results []struct {
		Probe      string `json:"probe"`
		Status     string `json:"status"`
		KFD        string `json:"kfd"`
		Message    string `json:"message"`
		Hint       string `json:"hint"`
		Doc        string `json:"doc"`
		DurationMS *int64 `json:"duration_ms"`
	} `json:"results"`
}

func (o jsonOut) probe(id string) (status, kfd string) {
	for _, r := range o.Results {
		if r.Probe == id {
			return r.Status, r.KFD
		}
	}
	return "absent", ""
}

func runDoctor(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// The SDK reads ~/.config/kfp/context.json: none unless a test puts one.
	t.Setenv("HOME", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func doctorJSON(t *testing.T, env map[string]string, args ...string) (int, jsonOut) {
	t.Helper()
	code, stdout, stderr := runDoctor(t, env, append(args, "-o", "json")...)
	var o jsonOut
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		t.Fatalf("-o json is not JSON (%v): %s\nstderr: %s", err, stdout, stderr)
	}
	return code, o
}

// The acceptance check of the doctor: against a server answering like each
// recorded reply, it names the right id and exits 1; against a healthy one, 0.
func TestDoctorAgainstRecordedReplies(t *testing.T) {
	cases := []struct {
		name      string
		healthz   http.HandlerFunc
		list      http.HandlerFunc
		args      []string
		wantCode  int
		wantProbe string
		wantKFD   string
	}{
		{"healthy multi-user", kfptest.Fixed("v2 healthz"), kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1"), []string{"--namespace", "ns-1"}, 0, "list-experiments", ""},
		{"healthy through the UI", kfptest.UIHealthz(true, true), kfptest.Fixed("kubeflow-userid: user@example.com, ns=ns-1"), []string{"--namespace", "ns-1"}, 0, "list-experiments", ""},
		{"no identity", kfptest.Fixed("v2 healthz"), kfptest.Fixed("no auth, ns=ns-1"), []string{"--namespace", "ns-1"}, 1, "list-experiments", "KFD001"},
		{"no namespace", kfptest.Fixed("v2 healthz"), kfptest.Fixed("no auth, no ns"), nil, 1, "list-experiments", "KFD010"},
		{"no namespace predicted", kfptest.Fixed("v2 healthz"), kfptest.Fixed("no auth, no ns"), nil, 1, "mode", "KFD010"},
		{"rbac denied", kfptest.Fixed("v2 healthz"), kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=kubeflow"), []string{"--namespace", "ns-1"}, 1, "list-experiments", "KFD009"},
		{"wrong audience", kfptest.Fixed("v2 healthz"), kfptest.Fixed("bearer aud=wrong.example.com, ns=ns-1"), []string{"--namespace", "ns-1"}, 1, "list-experiments", "KFD003"},
		{"header user denied", kfptest.Fixed("v2 healthz"), kfptest.Fixed("kubeflow-userid: other@example.com, ns=ns-1"), []string{"--namespace", "ns-1"}, 1, "list-experiments", "KFD009"},
		{"api server down behind the UI", kfptest.UIHealthz(false, false), kfptest.Fixed("v2 healthz"), []string{"--namespace", "ns-1"}, 1, "healthz", "KFD019"},
		{"standalone with a namespace", kfptest.UIHealthz(true, false), kfptest.Fixed("observed: single-user list"), []string{"--namespace", "ns-1"}, 0, "mode", "KFD011"},
		{"standalone strict", kfptest.UIHealthz(true, false), kfptest.Fixed("observed: single-user list"), []string{"--namespace", "ns-1", "--strict"}, 1, "mode", "KFD011"},
		{"login page", kfptest.Raw(200, "text/html", `<html><body><form action="/dex/auth/local/login"><input name="password"></form></body></html>`), nil, nil, 1, "healthz", "KFD013"},
		{"gateway 503", kfptest.Raw(503, "text/plain", "no healthy upstream"), nil, nil, 1, "healthz", "KFD019"},
		{"healthz 500", kfptest.Raw(500, "text/plain", "boom"), nil, nil, 1, "healthz", "KFD014"},
		{"KFP 1.x backend", nil, nil, nil, 1, "healthz", "KFD015"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			routes := kfptest.Routes{}
			if c.healthz != nil {
				routes[kfptest.HealthzV2] = c.healthz
			} else {
				routes[kfptest.HealthzV1] = kfptest.Fixed("v1 healthz")
			}
			if c.list != nil {
				routes[kfptest.ExperimentsV2] = c.list
			}
			s := kfptest.Server(t, routes)
			code, out := doctorJSON(t, nil, append([]string{"--host", s.URL}, c.args...)...)
			status, id := out.probe(c.wantProbe)
			if code != c.wantCode || id != c.wantKFD {
				t.Fatalf("exit %d, %s = %s %q; want exit %d, %q\n%+v", code, c.wantProbe, status, id, c.wantCode, c.wantKFD, out)
			}
			if out.OK != (code == 0) {
				t.Fatalf("ok = %t with exit %d", out.OK, code)
			}
			for _, r := range out.Results {
				if r.DurationMS == nil || r.Message == "" {
					t.Fatalf("result %s lacks duration_ms or message", r.Probe)
				}
				if r.Status == "fail" && (r.Hint == "" || !strings.HasPrefix(r.Doc, "https://")) {
					t.Fatalf("failure %s lacks a hint or doc link: %+v", r.Probe, r)
				}
			}
		})
	}
}

func TestDoctorTransportFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	big := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("{"), 1<<20)
		for i := 0; i < 50; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}})
	var loop *httptest.Server
	loop = kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}})

	cases := []struct {
		name, url, want string
	}{
		{"refused", refused, "KFD025"},
		{"never answers", kfptest.SilentServer(t), "KFD024"},
		{"50 MB body", big.URL, "KFD026"},
		{"redirect loop", loop.URL, "KFD027"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			code, out := doctorJSON(t, nil, "--host", c.url, "--timeout", "1s")
			took := time.Since(start)
			if _, id := out.probe("healthz"); code != 1 || id != c.want {
				t.Fatalf("exit %d, healthz %s; want 1, %s: %+v", code, id, c.want, out)
			}
			// The whole run honours --timeout (plus the engine's grace to
			// collect a stuck probe).
			if took > 1500*time.Millisecond {
				t.Fatalf("took %s with --timeout 1s", took)
			}
		})
	}
}

func TestDoctorTokenFile(t *testing.T) {
	s := kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV2:     kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1"),
	})
	missing := filepath.Join(t.TempDir(), "nope")
	code, out := doctorJSON(t, nil, "--host", s.URL, "-n", "ns-1", "--token-path", missing)
	if st, id := out.probe("token"); code != 1 || id != "KFD004" {
		t.Fatalf("missing token file: exit %d, token %s %s", code, st, id)
	}
	if st, _ := out.probe("list-experiments"); st != "skip" {
		t.Fatalf("list-experiments must be skipped after the token failed, got %s", st)
	}
	// ServiceAccountTokenVolumeCredentials() takes its path from the SDK's
	// env variable.
	code, out = doctorJSON(t, map[string]string{"KF_PIPELINES_SA_TOKEN_PATH": missing}, "--host", s.URL, "-n", "ns-1", "--volume-credentials")
	if _, id := out.probe("token"); code != 1 || id != "KFD004" {
		t.Fatalf("KF_PIPELINES_SA_TOKEN_PATH: exit %d, token %s", code, id)
	}
	// Without credentials= the SDK sends nothing, whatever the variable
	// says; the doctor names the token left behind.
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("not-a-jwt-but-a-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out = doctorJSON(t, map[string]string{"KF_PIPELINES_SA_TOKEN_PATH": tok}, "--host", s.URL, "-n", "ns-1")
	if st, _ := out.probe("token"); st != "skip" {
		t.Fatalf("kfp.Client(host=…) sends no token, the doctor sent one: token %s", st)
	}
	if st, id := out.probe("unsent-token"); st != "warn" || id != "KFD036" {
		t.Fatalf("unsent-token: %s %s", st, id)
	}
}

func TestDoctorUsageErrors(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "t")
	if err := os.WriteFile(tok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"no host":           {},
		"bad output":        {"--host", "http://127.0.0.1:1", "-o", "yaml"},
		"bad host":          {"--host", "ftp://x"},
		"two tokens":        {"--host", "http://127.0.0.1:1", "--token-path", tok, "--token-file", tok},
		"missing tokenfile": {"--host", "http://127.0.0.1:1", "--token-file", filepath.Join(t.TempDir(), "none")},
		"zero timeout":      {"--host", "http://127.0.0.1:1", "--timeout", "0s"},
		"unknown flag":      {"--token", "secret"},
		"stray argument":    {"--host", "http://127.0.0.1:1", "extra"},
		"bad cookies":       {"--host", "http://127.0.0.1:1", "--cookies", "novalue"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": ""}, args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "kfp-doctor: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}
	if code, stdout, _ := runDoctor(t, nil, "version"); code != 0 || !strings.HasPrefix(stdout, "kfp-doctor ") {
		t.Fatalf("version: %d %q", code, stdout)
	}
}

// A canary secret in every input must be absent from every output format.
func TestSecretsNeverPrinted(t *testing.T) {
	const canary = "CANARYc4n4ry0x5EC"
	token, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "alice", Audience: []string{"pipelines.kubeflow.org"},
		Expires: time.Now().Add(time.Hour), Extra: map[string]any{"canary": canary}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cookies := "oauth2_proxy_kubeflow=" + canary + "-session; other=" + canary + "-other"
	// A server that echoes every credential back, in every place it can.
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			msg := "Authorization: " + r.Header.Get("Authorization") + " Cookie: " + r.Header.Get("Cookie") + " raw " +
				strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + " " + strings.Split(r.Header.Get("Cookie"), "=")[1]
			b, _ := json.Marshal(map[string]any{"code": 16, "message": msg})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(b)
		}
	}
	s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: echo(401)})
	badHealth := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: echo(503)})

	for _, host := range []string{s.URL, badHealth.URL} {
		for _, format := range []string{"text", "json", "junit"} {
			for _, tokenFlag := range []string{"--token-file", "--token-path"} {
				code, stdout, stderr := runDoctor(t, map[string]string{"KFP_DOCTOR_COOKIES": cookies},
					"--host", host, "-n", "ns-1", tokenFlag, tokenFile, "-o", format)
				if code != 1 {
					t.Fatalf("%s %s: exit %d", format, tokenFlag, code)
				}
				for _, secret := range []string{canary, token, token[len(token)-20:]} {
					if strings.Contains(stdout+stderr, secret) {
						t.Fatalf("%s %s leaked %q:\n%s%s", format, tokenFlag, secret, stdout, stderr)
					}
				}
			}
		}
	}
	// Bearer from the environment too.
	_, stdout, stderr := runDoctor(t, map[string]string{"KFP_DOCTOR_TOKEN": token, "KFP_DOCTOR_COOKIES": cookies}, "--host", s.URL, "-n", "ns-1", "-o", "json")
	if strings.Contains(stdout+stderr, canary) {
		t.Fatal("KFP_DOCTOR_TOKEN leaked")
	}
}

func TestReportFormats(t *testing.T) {
	s := kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV2:     kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: kfptest.Fixed("no auth, ns=ns-1"),
	})
	code, text, _ := runDoctor(t, nil, "--host", s.URL, "-n", "ns-1")
	for _, want := range []string{"✔ healthz", "✖ list-experiments [KFD001]", "hint:", "docs: https://", "FAILED: 3 passed, 0 warnings, 1 failed, 2 skipped"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text report lacks %q:\n%s", want, text)
		}
	}
	if code != 1 || strings.Contains(text, "\x1b[") {
		t.Fatalf("exit %d; colour codes when stdout is not a terminal:\n%q", code, text)
	}
	_, junit, _ := runDoctor(t, nil, "--host", s.URL, "-n", "ns-1", "-o", "junit")
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Skipped  int `xml:"skipped,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(junit), &suites); err != nil {
		t.Fatalf("junit is not XML: %v\n%s", err, junit)
	}
	su := suites.Suites[0]
	if su.Tests != 6 || su.Failures != 1 || su.Skipped != 2 {
		t.Fatalf("junit counts: %+v", su)
	}
	for _, tc := range su.Cases {
		if strings.HasPrefix(tc.Name, "list-experiments") && (tc.Failure == nil || tc.Failure.Type != "KFD001") {
			t.Fatalf("list-experiments case: %+v", tc)
		}
	}
	// --junit-file: the same JUnit in a file, the text report on stdout,
	// the exit code unchanged; with the run's facts as properties.
	path := filepath.Join(t.TempDir(), "report.xml")
	code, text, _ = runDoctor(t, nil, "--host", s.URL, "-n", "ns-1", "--junit-file", path)
	b, err := os.ReadFile(path)
	if err != nil || code != 1 || !strings.Contains(text, "FAILED: 3 passed") {
		t.Fatalf("exit %d, %v, stdout:\n%s", code, err, text)
	}
	var file reporters.JUnitTestSuites
	if err := xml.Unmarshal(b, &file); err != nil || len(file.TestSuites) != 1 {
		t.Fatalf("--junit-file: %v\n%s", err, b)
	}
	fs := file.TestSuites[0]
	if fs.Tests != 6 || fs.Failures != 1 || fs.Timestamp == "" || fs.Properties.WithName("host_source") != "host=" ||
		fs.Properties.WithName("credentials") != "none" || fs.Properties.WithName("namespace") != "ns-1" || !strings.HasPrefix(fs.Properties.WithName("tool"), "kfp-doctor ") {
		t.Fatalf("--junit-file suite: %+v", fs)
	}
	// A directory that is not there is refused before anything runs.
	code, _, stderr := runDoctor(t, nil, "--host", s.URL, "--junit-file", filepath.Join(t.TempDir(), "no", "such", "r.xml"))
	if code != exitUsage || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("missing directory: exit %d %q", code, stderr)
	}
}

// kfpBehindGateway answers as ml-pipeline-ui behind the gateway: recorded
// replies, experiments only for the identity the gateway sets from a session.
func kfpBehindGateway(echo bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == kfptest.HealthzV2:
			kfptest.UIHealthz(true, true)(w, r)
		case r.URL.Path == kfptest.ExperimentsV2 && echo:
			// Echo every credential back, as a careless proxy might.
			// The bare values come first: "Cookie: …" is masked by shape
			// anyway, the values only because the login registered them.
			var values []string
			for _, c := range r.Cookies() {
				values = append(values, c.Value)
			}
			b, _ := json.Marshal(map[string]any{"code": 7, "message": "denied " + strings.Join(values, " ") + "; Cookie: " + r.Header.Get("Cookie")})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(b)
		case r.URL.Path == kfptest.ExperimentsV2 && r.Header.Get("kubeflow-userid") == logintest.DefaultUser:
			kfptest.Reply(w, kfptest.Get("kubeflow-userid: user@example.com, ns=ns-1"))
		case r.URL.Path == kfptest.ExperimentsV2:
			kfptest.Reply(w, kfptest.Get("no auth, ns=ns-1"))
		default:
			kfptest.Reply(w, kfptest.Get("observed: unknown path"))
		}
	})
}

// The doctor logs in through a replay of each measured login chain, then
// lists experiments through /pipeline with the session.
func TestDoctorLogin(t *testing.T) {
	type want struct{ status, kfd string }
	pass, skip := want{"pass", ""}, want{"skip", ""}
	cases := []struct {
		name     string
		opts     logintest.Options
		hostPath string // appended to the gateway URL for --host
		args     []string
		password string
		wantCode int
		want     map[string]want
	}{
		{"oauth2-proxy, one connector", logintest.Options{}, "", nil, "", 0,
			map[string]want{"login-secured": pass, "login-connector": pass, "login-credentials": pass, "login-session": pass, "healthz": pass, "mode": pass, "list-experiments": pass}},
		{"oauth2-proxy, approval page, 401 first, host with /pipeline", logintest.Options{Approval: true, Unauthorized: true}, "/pipeline", nil, "", 0,
			map[string]want{"login-credentials": pass, "login-session": pass, "list-experiments": pass}},
		{"oidc-authservice, LDAP from a choice of connectors", logintest.Options{Generation: logintest.AuthService, Connectors: []string{"local", "ldap"}}, "", []string{"--login-connector", "ldap"}, "", 0,
			map[string]want{"login-connector": pass, "login-session": pass, "list-experiments": pass}},
		{"wrong password", logintest.Options{}, "", nil, "not-the-password", 1,
			map[string]want{"login-secured": pass, "login-connector": pass, "login-credentials": {"fail", "KFD029"}, "login-session": skip, "healthz": skip, "mode": skip, "list-experiments": skip}},
		{"unknown connector", logintest.Options{}, "", []string{"--login-connector", "ldap"}, "", 1,
			map[string]want{"login-connector": {"fail", "KFD030"}, "login-credentials": skip, "list-experiments": skip}},
		{"unsecured gateway", logintest.Options{Unsecured: true}, "", nil, "", 1,
			map[string]want{"login-secured": {"warn", "KFD031"}, "login-session": skip, "healthz": pass, "list-experiments": {"fail", "KFD001"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Upstream = kfpBehindGateway(false)
			g := logintest.New(t, c.opts)
			pw := c.password
			if pw == "" {
				pw = logintest.DefaultPassword
			}
			args := append([]string{"--host", g.URL + c.hostPath, "--username", logintest.DefaultUser, "-n", "ns-1"}, c.args...)
			code, out := doctorJSON(t, map[string]string{"KFP_DOCTOR_PASSWORD": pw}, args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d: %+v", code, c.wantCode, out)
			}
			for id, w := range c.want {
				if st, kfd := out.probe(id); st != w.status || kfd != w.kfd {
					t.Errorf("%s = %s %q, want %s %q: %+v", id, st, kfd, w.status, w.kfd, out)
				}
			}
		})
	}
}

// A wrong password names the failed step in the text report, with its id,
// and says why the rest was skipped.
func TestDoctorLoginWrongPasswordText(t *testing.T) {
	g := logintest.New(t, logintest.Options{Upstream: kfpBehindGateway(false)})
	code, text, _ := runDoctor(t, map[string]string{"KFP_DOCTOR_PASSWORD": "wrong-password"}, "--host", g.URL, "--username", logintest.DefaultUser, "-n", "ns-1")
	for _, want := range []string{
		"✔ login-secured", "✔ login-connector",
		"✖ login-credentials [KFD029] Dex answered its login form again",
		"docs: https://github.com/kfp-connect/kfp-connect/blob/main/docs/failures.md#kfd029",
		"skipped: login-credentials did not pass",
		"login as user@example.com through Dex connector local",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
}

func TestDoctorLoginPasswordStdin(t *testing.T) {
	g := logintest.New(t, logintest.Options{Upstream: kfpBehindGateway(false)})
	var out, errb bytes.Buffer
	t.Setenv("KFP_DOCTOR_PASSWORD", "")
	code := runWithInput(context.Background(), []string{"--host", g.URL, "--username", logintest.DefaultUser, "-n", "ns-1", "--password-stdin", "-o", "json"},
		strings.NewReader(logintest.DefaultPassword+"\n"), &out, &errb)
	var o jsonOut
	if err := json.Unmarshal(out.Bytes(), &o); err != nil || code != 0 {
		t.Fatalf("exit %d (%v): %s %s", code, err, out.String(), errb.String())
	}
	if st, _ := o.probe("list-experiments"); st != "pass" {
		t.Fatalf("list-experiments %s", st)
	}
}

func TestDoctorLoginUsageErrors(t *testing.T) {
	g := logintest.New(t, logintest.Options{})
	cases := []struct {
		name, stdin string
		env         map[string]string
		args        []string
		want        string
	}{
		{"no password", "", nil, []string{"--host", g.URL, "--username", "u@example.com"}, "KFP_DOCTOR_PASSWORD"},
		{"empty stdin", "", nil, []string{"--host", g.URL, "--username", "u@example.com", "--password-stdin"}, "stdin held no password"},
		{"stdin without a user", "pw\n", nil, []string{"--host", g.URL, "--password-stdin"}, "pass --username too"},
		{"no host", "", map[string]string{"KFP_DOCTOR_PASSWORD": "pw12"}, []string{"--username", "u@example.com"}, "pass --host"},
		{"login and cookies", "", map[string]string{"KFP_DOCTOR_PASSWORD": "pw12", "KFP_DOCTOR_COOKIES": "a=b"}, []string{"--host", g.URL, "--username", "u@example.com"}, "pass one of them"},
		{"bad connector", "", map[string]string{"KFP_DOCTOR_PASSWORD": "pw12"}, []string{"--host", g.URL, "--username", "u@example.com", "--login-connector", "a/b"}, "--login-connector"},
		{"password as a flag", "", nil, []string{"--host", g.URL, "--username", "u@example.com", "--password", "pw"}, "unknown flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"KFP_DOCTOR_PASSWORD": "", "KF_PIPELINES_ENDPOINT": "", "KFP_DOCTOR_COOKIES": ""}
			for k, v := range c.env {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := runWithInput(context.Background(), c.args, strings.NewReader(c.stdin), &out, &errb)
			if code != 2 || out.String() != "" || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out.String(), errb.String(), c.want)
			}
			if g.Hits("/pipeline/") != 0 {
				t.Fatal("a usage error still reached the gateway")
			}
		})
	}
}

// A canary password and session cookie are absent from every output format,
// whether the login succeeds (and KFP echoes the cookies back) or fails.
func TestLoginSecretsNeverPrinted(t *testing.T) {
	const canaryPW = "CANARYpw-l0gin-0x5EC"
	const canarySession = "CANARYsession-l0gin-0x5EC"
	users := map[string]string{logintest.DefaultUser: canaryPW}
	ok := logintest.New(t, logintest.Options{Users: users, SessionValue: canarySession, Upstream: kfpBehindGateway(true), Approval: true})
	authsvc := logintest.New(t, logintest.Options{Generation: logintest.AuthService, Users: users, SessionValue: canarySession, Upstream: kfpBehindGateway(true)})
	for _, host := range []string{ok.URL, authsvc.URL} {
		for _, pw := range []string{canaryPW, canaryPW + "-wrong"} {
			for _, format := range []string{"text", "json", "junit"} {
				code, stdout, stderr := runDoctor(t, map[string]string{"KFP_DOCTOR_PASSWORD": pw},
					"--host", host, "--username", logintest.DefaultUser, "-n", "ns-1", "-o", format)
				if code != 1 {
					t.Fatalf("%s: exit %d\n%s", format, code, stdout)
				}
				for _, secret := range []string{"CANARY", canaryPW, canarySession} {
					if strings.Contains(stdout+stderr, secret) {
						t.Fatalf("%s leaked %q:\n%s%s", format, secret, stdout, stderr)
					}
				}
				if pw == canaryPW && !strings.Contains(stdout, "login-session") {
					t.Fatalf("%s: no login-session in the report:\n%s", format, stdout)
				}
			}
		}
	}
}
