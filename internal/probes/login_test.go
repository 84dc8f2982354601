package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/login/logintest"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// The login set runs the four stages first and holds every probe that
// reaches KFP until the session exists.
func TestWithLoginOrdersTheSet(t *testing.T) {
	set := WithLogin(&Login{}, Doctor())
	deps := map[string][]string{}
	var ids []string
	for _, p := range set {
		ids = append(ids, p.ID)
		deps[p.ID] = p.DependsOn
	}
	if got := strings.Join(ids, " "); got != "login-secured login-connector login-credentials login-session login-helper token healthz mode list-experiments" {
		t.Fatalf("order: %s", got)
	}
	for _, id := range []string{"healthz", "list-experiments"} {
		if !contains(deps[id], LoginSession) {
			t.Errorf("%s does not wait for the session: %v", id, deps[id])
		}
	}
	// The plain set is untouched.
	for _, p := range Doctor() {
		if contains(p.DependsOn, LoginSession) {
			t.Fatalf("Doctor() changed: %s", p.ID)
		}
	}
	if _, err := probe.NewRunner(set); err != nil {
		t.Fatal(err)
	}
}

func TestLoginProbes(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == kfptest.HealthzV2:
			kfptest.UIHealthz(true, true)(w, r)
		case r.URL.Path == kfptest.ExperimentsV2 && r.Header.Get("kubeflow-userid") == logintest.DefaultUser:
			kfptest.Reply(w, kfptest.Get("kubeflow-userid: user@example.com, ns=ns-1"))
		case r.URL.Path == kfptest.ExperimentsV2:
			kfptest.Reply(w, kfptest.Get("no auth, ns=ns-1"))
		default:
			kfptest.Reply(w, kfptest.Get("observed: unknown path"))
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	// Dex failing the login POST with a 500: a proxy in front of a
	// replayed gateway (its redirects follow the request's Host).
	failingDex := logintest.New(t, logintest.Options{Upstream: upstream})
	target, _ := url.Parse(failingDex.URL)
	dexProxy := httputil.NewSingleHostReverseProxy(target)
	failingPost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/dex/auth/") {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		dexProxy.ServeHTTP(w, r)
	}))
	t.Cleanup(failingPost.Close)

	type want struct {
		status probe.Status
		id     kfd.ID
	}
	pass := want{probe.Pass, ""}
	skip := want{probe.Skip, ""}
	cases := []struct {
		name      string
		opts      logintest.Options
		url       string
		connector string
		password  string
		want      map[string]want
		words     map[string]string
	}{
		{"oauth2-proxy with approval", logintest.Options{Approval: true}, "", "", "",
			map[string]want{LoginSecured: pass, LoginConnector: pass, LoginCredentials: pass, LoginSession: pass, LoginHelper: {probe.Warn, kfd.LoginHelper}, "healthz": pass, "list-experiments": pass},
			map[string]string{LoginSecured: "oauth2-proxy, Kubeflow ≥ 1.9", LoginCredentials: "approval page approved", LoginSession: "session cookie oauth2_proxy_kubeflow set", LoginConnector: "straight to it", LoginHelper: "would stop at Dex's approval page"}},
		{"oauth2-proxy's sign-in page first (Kubeflow ≥ 1.9 behind Istio)", logintest.Options{Unauthorized: true}, "", "", "",
			map[string]want{LoginSession: pass, LoginHelper: {probe.Warn, kfd.LoginHelper}, "list-experiments": pass},
			map[string]string{LoginHelper: "RuntimeError: HTTP status code '401' for GET"}},
		{"authservice, static password: the helper works", logintest.Options{Generation: logintest.AuthService}, "", "", "",
			map[string]want{LoginSession: pass, LoginHelper: pass, "list-experiments": pass},
			map[string]string{LoginHelper: "would log in here too"}},
		{"authservice with a choice of connectors", logintest.Options{Generation: logintest.AuthService, Connectors: []string{"local", "ldap"}}, "", "ldap", "",
			map[string]want{LoginSecured: pass, LoginConnector: pass, LoginCredentials: pass, LoginSession: pass, LoginHelper: {probe.Warn, kfd.LoginHelper}, "list-experiments": pass},
			map[string]string{LoginSession: "authservice_session", LoginConnector: "choice of local, ldap", LoginHelper: "a ldap user cannot log in with it"}},
		{"wrong password", logintest.Options{}, "", "", "nope-nope",
			map[string]want{LoginCredentials: {probe.Fail, kfd.WrongCredentials}, LoginSession: skip, "healthz": skip, "mode": skip, "list-experiments": skip},
			map[string]string{LoginCredentials: "POST /dex/auth/local/login?… → 401"}},
		{"unknown connector", logintest.Options{}, "", "ldap", "",
			map[string]want{LoginConnector: {probe.Fail, kfd.UnknownConnector}, LoginCredentials: skip, "list-experiments": skip},
			map[string]string{LoginConnector: `its only connector is "local"`}},
		{"unsecured gateway", logintest.Options{Unsecured: true}, "", "", "",
			map[string]want{LoginSecured: {probe.Warn, kfd.UnsecuredGateway}, LoginConnector: skip, LoginSession: skip, "healthz": pass, "list-experiments": {probe.Fail, kfd.NoIdentity}},
			map[string]string{LoginConnector: "no login on this gateway"}},
		{"500 on the login POST", logintest.Options{}, failingPost.URL, "", "",
			map[string]want{LoginSecured: pass, LoginConnector: pass, LoginCredentials: {probe.Fail, kfd.ServerError}, LoginSession: skip, "healthz": skip},
			map[string]string{LoginCredentials: "HTTP 500"}},
		{"nothing listening", logintest.Options{}, refused, "", "",
			map[string]want{LoginSecured: {probe.Fail, kfd.NothingListening}, LoginConnector: skip, "healthz": skip},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Upstream = upstream
			gw := c.url
			if gw == "" {
				gw = logintest.New(t, c.opts).URL
			}
			pw := c.password
			if pw == "" {
				pw = logintest.DefaultPassword
			}
			red := &redact.Redactor{}
			u, _ := url.Parse(gw)
			flow, err := login.New(login.Config{Gateway: u, Username: logintest.DefaultUser, Password: pw, Connector: c.connector, Redactor: red,
				HTTPClient: func() *http.Client { return &http.Client{Timeout: 2 * time.Second} }})
			if err != nil {
				t.Fatal(err)
			}
			lg := &Login{Flow: flow, Redactor: red}
			base, _ := kfp.ParseHost(gw + "/pipeline")
			client, err := kfp.NewClient(base, lg, kfp.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdle()
			runner, err := probe.NewRunner(WithLogin(lg, Doctor()))
			if err != nil {
				t.Fatal(err)
			}
			runner.Redact = red
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			results := runner.Run(ctx, &Target{Client: client, Namespace: "ns-1"})
			byID := map[string]probe.Result{}
			for _, r := range results {
				byID[r.Probe] = r
				if strings.Contains(r.Message, pw) || strings.Contains(r.Message, "code=") || strings.Contains(r.Message, "state=") {
					t.Errorf("%s shows a secret: %s", r.Probe, r.Message)
				}
			}
			for id, w := range c.want {
				r := byID[id]
				if r.Status != w.status || r.KFD != w.id {
					t.Errorf("%s: %s %s %q; want %s %s", id, r.Status, r.KFD, r.Message, w.status, w.id)
				}
				if r.Status == probe.Fail && (r.Hint == "" || r.Doc == "") {
					t.Errorf("%s fails without a hint or doc: %+v", id, r)
				}
			}
			for id, word := range c.words {
				if !strings.Contains(byID[id].Message, word) {
					t.Errorf("%s: %q lacks %q", id, byID[id].Message, word)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A login program missing behind the gateway shows as Envoy's 503 on its
// route: Dex's for /dex/, oauth2-proxy's for /oauth2/; other 503s and other
// statuses are not theirs.
func TestBackendDown(t *testing.T) {
	for _, c := range []struct {
		url    string
		status int
		want   kfd.ID
	}{
		{"http://gw/dex/auth?client_id=x", 503, kfd.LoginProviderDown},
		{"http://gw/oauth2/start?rd=/pipeline/", 503, kfd.LoginProxyDown},
		{"http://gw/pipeline/", 503, ""},
		{"http://gw/dex/auth", 404, ""},
	} {
		if got := backendDown([]login.Step{{Method: "GET", URL: "http://gw/pipeline/", Status: 403}, {Method: "GET", URL: c.url, Status: c.status}}); got != c.want {
			t.Errorf("%s → %d: %q, want %q", c.url, c.status, got, c.want)
		}
	}
	if got := backendDown(nil); got != "" {
		t.Errorf("no steps: %q", got)
	}
}

// The login's failures keep their ids: ext_authz not answering with no
// oauth2-proxy route is authservice down (KFD056).
func TestLoginFailureIDs(t *testing.T) {
	for kind, want := range map[login.Kind]kfd.ID{
		login.KindExtAuthzDown:     kfd.AuthserviceDown,
		login.KindWrongCredentials: kfd.WrongCredentials,
		login.KindRedirectLoop:     kfd.RedirectLoop,
	} {
		res := loginFailure(login.StageSecured, &login.Error{Stage: login.StageSecured, Kind: kind, Msg: "m"})
		if res.KFD != want || res.Status != probe.Fail {
			t.Errorf("%s: %s %s, want a failure naming %s", kind, res.Status, res.KFD, want)
		}
	}
}
