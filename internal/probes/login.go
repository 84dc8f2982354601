package probes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// Login is the doctor's login through Kubeflow's gateway: the login probes
// walk its stages, and the KFP client sends its session once it exists (it
// is one of the client's credentials).
type Login struct {
	Flow     *login.Flow
	Redactor *redact.Redactor

	mu      sync.Mutex
	cookies *credentials.Cookies
}

// Apply puts the session cookies on a request once the login has them;
// before that (or without a login) it sends nothing.
func (l *Login) Apply(req *http.Request) error {
	l.mu.Lock()
	c := l.cookies
	l.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Apply(req)
}

func (l *Login) String() string {
	return fmt.Sprintf("login as %s through Dex connector %s", l.Flow.Username(), l.Flow.ConnectorID())
}

func (l *Login) setCookies(c *credentials.Cookies) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cookies = c
}

// Ids of the login probes; the KFP probes wait for the last.
const (
	LoginSecured     = "login-secured"
	LoginConnector   = "login-connector"
	LoginCredentials = "login-credentials"
	LoginSession     = "login-session"
	LoginHelper      = "login-helper"
)

// WithLogin is set with the login in front: the four stages of the login,
// then set, whose probes that reach KFP (healthz and, after it, everything
// that needs a reply from KFP) wait for the session. Through oauth2-proxy
// even healthz needs it: /apis/ paths get 401 without a session.
func WithLogin(l *Login, set []probe.Probe[*Target]) []probe.Probe[*Target] {
	out := []probe.Probe[*Target]{
		loginProbe(l, LoginSecured, "login: GET /pipeline/ on the gateway leads into Dex", "", login.StageSecured),
		loginProbe(l, LoginConnector, "login: Dex's connector and its login form", LoginSecured, login.StageConnector),
		loginProbe(l, LoginCredentials, "login: user and password posted to Dex (and its approval page)", LoginConnector, login.StageCredentials),
		loginProbe(l, LoginSession, "login: the gateway's callback sets the session cookie", LoginCredentials, login.StageSession),
		{ID: LoginHelper, Title: "login: would the documentation's get_istio_auth_session() get this session too", DependsOn: []string{LoginSession},
			Run: func(context.Context, *Target) probe.Result { return helperVerdict(l.Flow) }},
	}
	for _, p := range set {
		if p.ID == "healthz" || p.ID == "list-experiments" {
			p.DependsOn = append(append([]string(nil), p.DependsOn...), LoginSession)
		}
		out = append(out, p)
	}
	return out
}

func loginProbe(l *Login, id, title, after string, stage login.Stage) probe.Probe[*Target] {
	p := probe.Probe[*Target]{ID: id, Title: title}
	if after != "" {
		p.DependsOn = []string{after}
	}
	p.Run = func(ctx context.Context, _ *Target) probe.Result {
		if stage != login.StageSecured && l.Flow.Unsecured() {
			return probe.Skipped("no login on this gateway: " + LoginSecured + " found /pipeline/ unsecured")
		}
		if d := l.Flow.Foreign(); stage != login.StageSecured && d != nil {
			return probe.Skipped("no Dex login on this gateway: " + LoginSecured + " found " + d.Name + " in front")
		}
		var (
			res  probe.Result
			err  error
			sess *login.Session
		)
		switch stage {
		case login.StageSecured:
			var secured bool
			secured, err = l.Flow.Secured(ctx)
			switch {
			case err == nil && !secured:
				res = probe.Warned(kfd.UnsecuredGateway, fmt.Sprintf("%s %s on this gateway, so there is no session to get; the probes below go on without one", l.Flow.Start(), SayUnsecured))
			case err == nil:
				res = probe.Passf(fmt.Sprintf("%s leads into Dex (%s)", l.Flow.Start(), generation(l.Flow.Generation())))
			}
		case login.StageConnector:
			if err = l.Flow.Connector(ctx); err == nil {
				how := "Dex has only this one and sent the browser straight to it"
				if cs := l.Flow.Connectors(); cs != nil {
					how = "picked from Dex's choice of " + strings.Join(cs, ", ")
				}
				res = probe.Passf(fmt.Sprintf("connector %q served its login form (%s)", l.Flow.ConnectorID(), how))
			}
		case login.StageCredentials:
			if err = l.Flow.Credentials(ctx); err == nil {
				approval := "no approval page"
				if l.Flow.Approved() {
					approval = "its approval page approved"
				}
				res = probe.Passf(fmt.Sprintf("Dex accepted %s (%s) and sent the browser back to the gateway", l.Flow.Username(), approval))
			}
		case login.StageSession:
			if sess, err = l.Flow.Session(ctx); err == nil {
				c, cerr := credentials.NewCookies(sess.Cookie, l.Redactor)
				if cerr != nil {
					err = fmt.Errorf("the session cookies cannot be sent: %w", cerr)
					res = probe.Failed(kfd.LoginScript, err.Error())
					break
				}
				l.setCookies(c)
				res = probe.Passf(fmt.Sprintf("session cookie %s set (%s); %s answered with it; the probes below send cookies %s",
					sess.SessionCookie, generation(sess.Generation), l.Flow.Start(), strings.Join(c.Names(), ", ")))
			}
		}
		steps := l.Flow.Steps(stage)
		if err != nil && res.Status == "" {
			res = loginFailure(stage, err)
			if id := backendDown(steps); id != "" && res.KFD == "" {
				res.KFD = id
			}
		}
		res.Message += stepsNote(steps)
		if len(steps) > 0 {
			last := steps[len(steps)-1]
			// No body: a login page may echo what was posted.
			res.Evidence = &probe.Evidence{Request: last.Method + " " + last.URL, StatusCode: last.Status}
			// A stage the login flow could not place, ended by a server
			// error (Dex or oauth2-proxy answering 500 to the login POST),
			// is that server's failure.
			if id := kfp.ServerStatus(last.Status); res.Status == probe.Fail && res.KFD == "" && id != "" {
				res.KFD, res.Hint = id, ""
			}
		}
		return res
	}
	return p
}

// backendDown tells, from the last request of a failed stage, that a login
// program behind the gateway is not there: Envoy's 503 for Dex's pages, or
// for oauth2-proxy's /oauth2/ routes; an empty 403 for everything is the
// ext_authz provider failing, which shows in the stage as the sign-in start
// that then gets a 503.
func backendDown(steps []login.Step) kfd.ID {
	if len(steps) == 0 {
		return ""
	}
	last := steps[len(steps)-1]
	if last.Status != http.StatusServiceUnavailable && last.Status != http.StatusBadGateway {
		return ""
	}
	path := last.URL
	if i := strings.Index(path, "://"); i >= 0 {
		if j := strings.Index(path[i+3:], "/"); j >= 0 {
			path = path[i+3+j:]
		}
	}
	switch {
	case strings.HasPrefix(path, "/dex/"):
		return kfd.LoginProviderDown
	case strings.HasPrefix(path, "/oauth2/"):
		return kfd.LoginProxyDown
	}
	return ""
}

// helperVerdict says whether Kubeflow's documented login helper,
// get_istio_auth_session(), would have got a session where the doctor did,
// and where it would stop. Its behaviour was measured against the real
// programs (kfp-facts.md, "The doctor's login and the seed's helper"): it
// needs 200 from its first GET (after redirects), rewrites Dex's connector
// choice to /dex/auth/local, and stops at Dex's approval page.
func helperVerdict(f *login.Flow) probe.Result {
	if d := f.Foreign(); d != nil {
		return probe.Skipped("get_istio_auth_session() walks Dex's forms: " + d.Name + " has none")
	}
	secured := f.Steps(login.StageSecured)
	if len(secured) > 0 && (secured[0].Status == http.StatusForbidden || secured[0].Status == http.StatusUnauthorized) {
		// The helper GETs the gateway's root (KUBEFLOW_ENDPOINT), not
		// /pipeline/; behind ext_authz both get the same sign-in page.
		root := gatewayRoot(f.Start())
		return probe.Warned(kfd.LoginHelper, fmt.Sprintf("%s stop at its first step: its GET of the gateway's root gets oauth2-proxy's sign-in page with HTTP %d, as /pipeline/ did here (Kubeflow ≥ 1.9), and it raises RuntimeError: HTTP status code '%d' for GET against: %s; the session has to be started at /oauth2/start?rd=/pipeline/", SayHelperWould, secured[0].Status, secured[0].Status, root))
	}
	if c := f.ConnectorID(); c != "" && c != "local" {
		return probe.Warned(kfd.LoginHelper, fmt.Sprintf("%s post to Dex's local connector, as it always does: a %s user cannot log in with it (Dex answers its login form again)", SayHelperWould, c))
	}
	if f.Approved() {
		return probe.Warned(kfd.LoginHelper, SayHelperWould+` stop at Dex's approval page holding only the _csrf cookie (oauth2-proxy asks with approval_prompt=force unless its config sets prompt = "none"), and the calls after it answer 401`)
	}
	return probe.Passf("get_istio_auth_session() would log in here too (" + generation(f.Generation()) + ")")
}

// gatewayRoot is the gateway's root URL of a protected path's: what the
// documented helper is given as KUBEFLOW_ENDPOINT.
func gatewayRoot(start string) string {
	u, err := url.Parse(start)
	if err != nil {
		return start
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}

// loginFailure names a failed stage with its catalogue id.
func loginFailure(stage login.Stage, err error) probe.Result {
	var le *login.Error
	if !errors.As(err, &le) {
		return probe.Failed(kfd.LoginScript, err.Error())
	}
	switch le.Kind {
	case login.KindWrongCredentials:
		return probe.Failed(kfd.WrongCredentials, le.Error())
	case login.KindUnknownConnector:
		return probe.Failed(kfd.UnknownConnector, le.Error())
	case login.KindRedirectLoop:
		return probe.Failed(kfd.RedirectLoop, le.Error())
	case login.KindNoSession:
		return probe.Failed(kfd.LoginScript, le.Error())
	case login.KindExtAuthzDown:
		return probe.Failed(kfd.AuthserviceDown, le.Error())
	case login.KindForeignLogin:
		// Recognising is the answer here: a warning naming the cloud's
		// own way in, not a Dex failure.
		if d, ok := distro.Lookup(le.Distro); ok {
			return probe.Warned(d.KFD, le.Error())
		}
		return probe.Failed(kfd.LoginScript, le.Error())
	case login.KindTransport:
		d := kfp.Classify(nil, le.Err)
		return probe.Failed(d.KFD, le.Msg+": "+d.Summary)
	}
	res := probe.Failed("", le.Error())
	if stage == login.StageSecured && strings.Contains(le.Msg, "HTTP 404") {
		res.KFD = kfd.NotKFP
		return res
	}
	res.Hint = "the login went somewhere this doctor does not know: open the gateway's /pipeline/ in a browser and compare; report it with the evidence of -o json"
	return res
}

// stepsNote lists a stage's requests, for the one-line message.
func stepsNote(steps []login.Step) string {
	if len(steps) == 0 {
		return ""
	}
	parts := make([]string, 0, len(steps))
	for _, s := range steps {
		st := "no answer"
		if s.Status != 0 {
			st = fmt.Sprint(s.Status)
		}
		took := "<1ms"
		if s.Duration >= time.Millisecond {
			took = s.Duration.Round(time.Millisecond).String()
		}
		parts = append(parts, fmt.Sprintf("%s %s → %s (%s)", s.Method, shortURL(s.URL), st, took))
	}
	return " [" + strings.Join(parts, "; ") + "]"
}

// shortURL drops scheme and host (the target line names them) and the query
// keys (the JSON evidence keeps them).
func shortURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.Index(u[i+3:], "/"); j >= 0 {
			u = u[i+3+j:]
		}
	}
	if i := strings.Index(u, "?"); i >= 0 {
		u = u[:i] + "?…"
	}
	return u
}

func generation(g login.Generation) string {
	if g == "" {
		return "login program not told yet"
	}
	return g.Describe()
}
