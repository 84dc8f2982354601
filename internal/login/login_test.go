package login_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/login/logintest"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

const (
	canaryPassword = "CANARYpw-0x5ec"
	canarySession  = "CANARYsession-0x5ec"
)

// Each case replays one measured chain (kfp-facts.md) and names every step
// the client must take, with the status it must see.
func TestLoginChains(t *testing.T) {
	users := map[string]string{logintest.DefaultUser: canaryPassword}
	oauth2 := []string{
		"secured GET /pipeline/ 302",
		"connector GET /dex/auth?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 302",
	}
	straightLocal := []string{
		"connector GET /dex/auth/local?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 302",
		"connector GET /dex/auth/local/login?back&state 200",
		"credentials POST /dex/auth/local/login?back&state 303",
		"credentials GET /dex/auth?hmac&req 303",
	}
	oauth2Session := []string{
		"session GET /oauth2/callback?code&state 302",
		"session GET /pipeline/ 200",
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name      string
		opts      logintest.Options
		connector string
		password  string
		wantSteps []string
		wantErr   login.Kind // "" for success
		wantStage login.Stage
		wantGen   login.Generation
		wantMsg   string // part of the error
		unsecured bool
	}{
		{
			name:      "oauth2-proxy, one connector: Dex redirects straight to it",
			opts:      logintest.Options{},
			wantSteps: cat(oauth2, straightLocal, oauth2Session),
			wantGen:   login.OAuth2Proxy,
		},
		{
			name:      "oauth2-proxy, two connectors: the choice page",
			opts:      logintest.Options{Connectors: []string{"local", "ldap"}},
			connector: "ldap",
			wantSteps: cat(oauth2[:1], []string{
				"connector GET /dex/auth?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 200",
				"connector GET /dex/auth/ldap?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 302",
				"connector GET /dex/auth/ldap/login?back&state 200",
				"credentials POST /dex/auth/ldap/login?back&state 303",
				"credentials GET /dex/auth?hmac&req 303",
			}, oauth2Session),
			wantGen: login.OAuth2Proxy,
		},
		{
			name: "oauth2-proxy with Dex's approval page",
			opts: logintest.Options{Approval: true},
			wantSteps: cat(oauth2, straightLocal[:3], []string{
				"credentials GET /dex/auth?hmac&req 303",
				"credentials GET /dex/approval?hmac&req 200",
				"credentials POST /dex/approval?hmac&req 303",
				"credentials GET /dex/auth?hmac&req 303",
			}, oauth2Session),
			wantGen: login.OAuth2Proxy,
		},
		{
			name: "oauth2-proxy answers 401 first: start at /oauth2/start",
			opts: logintest.Options{Unauthorized: true},
			wantSteps: cat([]string{
				"secured GET /pipeline/ 401",
				"secured GET /oauth2/start?rd 302",
			}, oauth2[1:], straightLocal, oauth2Session),
			wantGen: login.OAuth2Proxy,
		},
		{
			name: "oidc-authservice (Kubeflow ≤ 1.8)",
			opts: logintest.Options{Generation: logintest.AuthService},
			wantSteps: []string{
				"secured GET /pipeline/ 302",
				"connector GET /dex/auth?client_id&redirect_uri&response_type&scope&state 302",
				"connector GET /dex/auth/local?client_id&redirect_uri&response_type&scope&state 302",
				"connector GET /dex/auth/local/login?back&state 200",
				"credentials POST /dex/auth/local/login?back&state 303",
				"credentials GET /dex/auth?hmac&req 303",
				"session GET /authservice/oidc/callback?code&state 302",
				"session GET /pipeline/ 200",
			},
			wantGen: login.AuthService,
		},
		{
			name: "oauth2-proxy: Dex refuses the first POST with 403, start again at /oauth2/start",
			opts: logintest.Options{RefuseFirstPost: true},
			wantSteps: cat(oauth2, straightLocal[:2], []string{
				"credentials POST /dex/auth/local/login?back&state 403",
				"credentials GET /oauth2/start?rd 302",
				"credentials GET /dex/auth?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 302",
				"credentials GET /dex/auth/local?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 302",
				"credentials GET /dex/auth/local/login?back&state 200",
			}, straightLocal[2:], oauth2Session),
			wantGen: login.OAuth2Proxy,
		},
		{
			name:     "wrong password: Dex ≥ 2.36 answers its login form again with 401",
			opts:     logintest.Options{},
			password: canaryPassword + "-wrong",
			wantSteps: cat(oauth2, straightLocal[:2], []string{
				"credentials POST /dex/auth/local/login?back&state 401",
			}),
			wantErr: login.KindWrongCredentials, wantStage: login.StageCredentials, wantMsg: `(HTTP 401, no redirect): connector "local" refused user "user@example.com"`,
		},
		{
			name:     "wrong password: Dex < 2.36 answers its login form again with 200",
			opts:     logintest.Options{LegacyRefusal: true},
			password: canaryPassword + "-wrong",
			wantSteps: cat(oauth2, straightLocal[:2], []string{
				"credentials POST /dex/auth/local/login?back&state 200",
			}),
			wantErr: login.KindWrongCredentials, wantStage: login.StageCredentials, wantMsg: `(HTTP 200, no redirect): connector "local" refused user "user@example.com"`,
		},
		{
			name:      "unknown connector, one connector: Dex refuses the path",
			opts:      logintest.Options{},
			connector: "ldap",
			wantSteps: cat(oauth2, []string{
				"connector GET /dex/auth/ldap?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 404",
			}),
			wantErr: login.KindUnknownConnector, wantStage: login.StageConnector, wantMsg: `its only connector is "local"`,
		},
		{
			name:      "unknown connector, absent from the choice page",
			opts:      logintest.Options{Connectors: []string{"local", "github"}},
			connector: "ldap",
			wantSteps: cat(oauth2[:1], []string{
				"connector GET /dex/auth?approval_prompt&client_id&code_challenge&code_challenge_method&redirect_uri&response_type&scope&state 200",
			}),
			wantErr: login.KindUnknownConnector, wantStage: login.StageConnector, wantMsg: "offers the connectors local, github",
		},
		{
			name:      "unsecured gateway: 200 straight away",
			opts:      logintest.Options{Unsecured: true},
			wantSteps: []string{"secured GET /pipeline/ 200"},
			unsecured: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Users = users
			c.opts.SessionValue = canarySession
			g := logintest.New(t, c.opts)
			red := &redact.Redactor{}
			pw := c.password
			if pw == "" {
				pw = canaryPassword
			}
			sess, flow, err := login.Login(ctxT(t), config(t, g.URL, c.connector, pw, red))
			got := stepLines(flow.Steps(""))
			if strings.Join(got, "\n") != strings.Join(c.wantSteps, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.wantSteps, "\n"))
			}
			switch {
			case c.unsecured:
				if err != nil || sess != nil || !flow.Unsecured() {
					t.Fatalf("unsecured: session %v, err %v, unsecured %t", sess, err, flow.Unsecured())
				}
			case c.wantErr == "":
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if sess.Generation != c.wantGen || flow.Generation() != c.wantGen {
					t.Errorf("generation %q/%q, want %q", sess.Generation, flow.Generation(), c.wantGen)
				}
				want := logintest.OAuth2ProxyCookie
				if c.wantGen == login.AuthService {
					want = logintest.AuthServiceCookie
				}
				if sess.SessionCookie != want || !strings.Contains(sess.Cookie, want+"="+canarySession) {
					t.Errorf("session cookie %q, names %v", sess.SessionCookie, sess.Names)
				}
				// The CSRF cookie is spent at the callback; oauth2-proxy
				// clears it.
				if strings.Contains(sess.Cookie, logintest.OAuth2ProxyCSRFCookie) {
					t.Errorf("the spent CSRF cookie is still sent: %v", sess.Names)
				}
				if !strings.Contains(red.String(sess.Cookie), redact.Mask) || strings.Contains(red.String("x "+sess.Cookie), canarySession) {
					t.Error("the session cookie is not registered with the redactor")
				}
				// The cookies open KFP's API through the gateway.
				req, _ := http.NewRequest(http.MethodGet, g.URL+"/pipeline/", nil)
				req.Header.Set("Cookie", sess.Cookie)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET /pipeline/ with the session cookie: %d", resp.StatusCode)
				}
			default:
				var le *login.Error
				if !errors.As(err, &le) || le.Kind != c.wantErr || le.Stage != c.wantStage {
					t.Fatalf("err %v (%#v), want kind %s at stage %s", err, le, c.wantErr, c.wantStage)
				}
				if !strings.Contains(err.Error(), c.wantMsg) {
					t.Errorf("error %q lacks %q", err, c.wantMsg)
				}
				if sess != nil {
					t.Error("a failed login returned a session")
				}
			}
			noSecrets(t, flow, err)
		})
	}
}

func TestErrorsIsByKind(t *testing.T) {
	g := logintest.New(t, logintest.Options{})
	_, _, err := login.Login(ctxT(t), config(t, g.URL, "", "wrong-password", nil))
	if !errors.Is(err, login.ErrWrongCredentials) || errors.Is(err, login.ErrUnknownConnector) {
		t.Fatalf("errors.Is by kind: %v", err)
	}
}

// A gateway that never ends its chain, or loops, fails clearly and soon.
func TestRedirectLoops(t *testing.T) {
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pipeline/":
			http.Redirect(w, r, "/oauth2/start?rd=/pipeline/", http.StatusFound)
		default:
			http.Redirect(w, r, "/pipeline/", http.StatusFound)
		}
	}))
	t.Cleanup(loop.Close)
	dexLoop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pipeline/":
			http.Redirect(w, r, "/dex/auth?client_id=x", http.StatusFound)
		case "/dex/auth":
			http.Redirect(w, r, "/dex/auth/local?client_id=x", http.StatusFound)
		default:
			http.Redirect(w, r, "/dex/auth?client_id=x", http.StatusFound)
		}
	}))
	t.Cleanup(dexLoop.Close)
	long := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.URL.Path)
		http.Redirect(w, r, r.URL.Path+fmt.Sprint(n%10)+"/", http.StatusFound)
	}))
	t.Cleanup(long.Close)
	cases := []struct {
		name, url string
		stage     login.Stage
		want      string
	}{
		{"gateway loop", loop.URL, login.StageSecured, "redirect loop: GET " + loop.URL + "/pipeline/ reached 3 times"},
		{"Dex loop", dexLoop.URL, login.StageConnector, "redirect loop"},
		{"chain that never ends", long.URL, login.StageSecured, "gave up after 20 requests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, flow, err := login.Login(ctxT(t), config(t, c.url, "", canaryPassword, nil))
			var le *login.Error
			if !errors.As(err, &le) || le.Kind != login.KindRedirectLoop || le.Stage != c.stage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want a %s redirect loop saying %q", err, c.stage, c.want)
			}
			if n := len(flow.Steps("")); n > login.DefaultMaxRequests {
				t.Fatalf("%d requests", n)
			}
			noSecrets(t, flow, err)
		})
	}
}

// What the login flow does not allow is named with the step, never quoted.
func TestUnexpectedAnswers(t *testing.T) {
	istio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pipeline/" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "RBAC: access denied")
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(istio.Close)
	notKFP := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notKFP.Close)
	getForm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pipeline/":
			http.Redirect(w, r, "/dex/auth/local/login?state=s", http.StatusFound)
		default:
			fmt.Fprint(w, `<form method="get" action="/dex/auth/local/login"><input name="login"><input name="password" type="password"></form>`)
		}
	}))
	t.Cleanup(getForm.Close)
	cases := []struct {
		name, url string
		stage     login.Stage
		want      string
	}{
		{"403 and no oauth2-proxy", istio.URL, login.StageSecured, "oauth2-proxy's sign-in"},
		{"404 at /pipeline/", notKFP.URL, login.StageSecured, "answered HTTP 404 without leading into Dex"},
		{"a form that would put the password in a URL", getForm.URL, login.StageCredentials, "refusing to put the password in a URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, flow, err := login.Login(ctxT(t), config(t, c.url, "", canaryPassword, nil))
			var le *login.Error
			if !errors.As(err, &le) || le.Kind != login.KindUnexpected || le.Stage != c.stage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want an unexpected answer at %s saying %q", err, c.stage, c.want)
			}
			noSecrets(t, flow, err)
		})
	}
}

// Envoy's empty 403 (its ext_authz provider did not answer: UAEX) and no
// oauth2-proxy route: Kubeflow ≤ 1.8's oidc-authservice is down (KFD056),
// unlike "RBAC: access denied", which an AuthorizationPolicy says.
func TestExtAuthzDown(t *testing.T) {
	envoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "istio-envoy")
		if r.URL.Path == "/pipeline/" {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(envoy.Close)
	_, flow, err := login.Login(ctxT(t), config(t, envoy.URL, "", canaryPassword, nil))
	var le *login.Error
	if !errors.As(err, &le) || le.Kind != login.KindExtAuthzDown || le.Stage != login.StageSecured || !strings.Contains(err.Error(), login.SayExtAuthzNoAnswer) {
		t.Fatalf("err %v, want ext_authz down at the secured stage", err)
	}
	noSecrets(t, flow, err)
}

// Nothing listening, and a server that never answers: a transport error
// naming the step, within the request timeout, without the URL's query.
func TestTransportFailures(t *testing.T) {
	silent := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pipeline/" {
			http.Redirect(w, r, "/dex/auth?state=SECRETSTATE", http.StatusFound)
			return
		}
		select {
		case <-silent:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(silent); s.Close() })
	cfg := config(t, s.URL, "", canaryPassword, nil)
	cfg.RequestTimeout = 200 * time.Millisecond
	start := time.Now()
	_, flow, err := login.Login(ctxT(t), cfg)
	var le *login.Error
	if !errors.As(err, &le) || le.Kind != login.KindTransport || le.Stage != login.StageConnector {
		t.Fatalf("err %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the cause is lost: %v", err)
	}
	if time.Since(start) > 2*time.Second || strings.Contains(err.Error(), "SECRETSTATE") {
		t.Fatalf("took %s; %v", time.Since(start), err)
	}
	noSecrets(t, flow, err)
}

func TestNewRefusesBadConfig(t *testing.T) {
	u, _ := url.Parse("http://localhost:8080")
	for name, cfg := range map[string]login.Config{
		"no gateway":     {Username: "u", Password: "p"},
		"no password":    {Gateway: u, Username: "u"},
		"bad connector":  {Gateway: u, Username: "u", Password: "p", Connector: "../x"},
		"scheme missing": {Gateway: &url.URL{Host: "x"}, Username: "u", Password: "p"},
	} {
		if _, err := login.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSafeURL(t *testing.T) {
	u, _ := url.Parse("http://user:pw@h:1/oauth2/callback?state=s&code=c#frag")
	if got := login.SafeURL(u); got != "http://h:1/oauth2/callback?code&state" {
		t.Fatal(got)
	}
}

func config(t *testing.T, gateway, connector, password string, red *redact.Redactor) login.Config {
	t.Helper()
	u, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	if red == nil {
		red = &redact.Redactor{}
	}
	return login.Config{
		Gateway: u, Username: logintest.DefaultUser, Password: password, Connector: connector, Redactor: red,
		HTTPClient: func() *http.Client { return &http.Client{Timeout: 2 * time.Second} },
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stepLines renders steps as "stage METHOD path?keys status".
func stepLines(steps []login.Step) []string {
	var out []string
	for _, s := range steps {
		u, _ := url.Parse(s.URL)
		p := u.Path
		if u.RawQuery != "" {
			p += "?" + u.RawQuery
		}
		out = append(out, fmt.Sprintf("%s %s %s %d", s.Stage, s.Method, p, s.Status))
	}
	return out
}

func noSecrets(t *testing.T, flow *login.Flow, err error) {
	t.Helper()
	var all []string
	if err != nil {
		all = append(all, err.Error())
	}
	for _, s := range flow.Steps("") {
		all = append(all, s.String(), s.Name, s.URL)
	}
	for _, text := range all {
		for _, secret := range []string{canaryPassword, canarySession, "CANARY"} {
			if strings.Contains(text, secret) {
				t.Fatalf("%q shows a secret", text)
			}
		}
		if strings.Contains(text, "code=") || strings.Contains(text, "state=") {
			t.Fatalf("%q shows a query value", text)
		}
	}
}
