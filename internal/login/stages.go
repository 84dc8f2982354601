package login

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/distro"
)

// Secured fetches the protected path and follows it into the login. It
// reports false, with no error, when the path answers without any login: an
// unsecured gateway.
func (f *Flow) Secured(ctx context.Context) (bool, error) {
	u, name := f.start, "protected path"
	triedStart := false
	// Envoy answers an empty 401/403 when its ext_authz provider does not
	// answer (UAEX): oauth2-proxy's or authservice's own refusals carry a
	// page or a redirect.
	deniedEmpty := false
	for {
		p, err := f.fetch(ctx, StageSecured, name, http.MethodGet, u, nil)
		if err != nil {
			return false, err
		}
		// A cloud's own sign-in is no Dex form: stop at its redirect (or
		// its refusal) rather than follow the browser off to Google,
		// Cognito, Entra ID or App ID and call what comes back a broken
		// Dex login.
		if m, ok := distro.Recognise(distro.Observe(nil, distro.Answer{URL: u, Status: p.status, Header: p.header, Body: p.body})); ok && !m.Distribution.Login {
			d := m.Distribution
			f.foreign = &d
			e := f.fail(StageSecured, KindForeignLogin, fmt.Sprintf("%s answered HTTP %d leading into %s (%s), not Dex: the doctor's --username login cannot walk it", SafeURL(u), p.status, d.Name, m.Seen()), nil).(*Error)
			e.Distro = d.ID
			return false, e
		}
		switch {
		case p.redirect() && isDex(p.location):
			// oidc-authservice redirects straight into Dex; oauth2-proxy
			// too when Istio relays its redirect (or after /oauth2/start).
			if f.generation == "" {
				f.generation = generationOf(callbackOf(p.location))
			}
			f.next = p.location
			return true, nil
		case p.redirect():
			if g := generationOf(p.location); g != "" && f.generation == "" {
				f.generation = g
			}
			u, name = p.location, "redirect"
			if isLogin(p.location) {
				name = "sign-in redirect"
			}
		case (p.status == http.StatusUnauthorized || p.status == http.StatusForbidden) && !triedStart && !isLogin(u):
			// Kubeflow ≥ 1.9: behind Istio's ext_authz, oauth2-proxy's
			// sign-in page can come back as 401/403 instead of a redirect.
			// Start the sign-in as Kubeflow's own login test does.
			triedStart = true
			deniedEmpty = len(bytes.TrimSpace(p.body)) == 0
			u, name = f.oauth2Start(), "oauth2-proxy sign-in start"
			f.generation = OAuth2Proxy
		case p.status >= 200 && p.status < 300 && !isLogin(u):
			f.unsecured = true
			return false, nil
		case triedStart && p.status == http.StatusNotFound && isOAuth2Proxy(u) && deniedEmpty:
			f.generation = AuthService
			return false, f.fail(StageSecured, KindExtAuthzDown, fmt.Sprintf("GET %s answered an empty %d and oauth2-proxy's sign-in (%s) is not served (404): %s (Envoy's UAEX); with no oauth2-proxy in front it is oidc-authservice (Kubeflow ≤ 1.8), down or hung", f.Start(), firstStatus(f.Steps(StageSecured)), SafeURL(u), SayExtAuthzNoAnswer), nil)
		case triedStart && p.status == http.StatusNotFound && isOAuth2Proxy(u):
			return false, f.fail(StageSecured, KindUnexpected, fmt.Sprintf("GET %s answered %d and oauth2-proxy's sign-in (%s) is not served (404): the gateway refuses without offering a Kubeflow login", f.Start(), firstStatus(f.Steps(StageSecured)), SafeURL(u)), nil)
		default:
			return false, f.fail(StageSecured, KindUnexpected, fmt.Sprintf("%s answered HTTP %d without leading into Dex (%s)", SafeURL(u), p.status, describe(p)), nil)
		}
	}
}

// Connector follows Dex to the login form of the chosen connector: through
// the choice page when Dex has several connectors, straight when it has one.
func (f *Flow) Connector(ctx context.Context) error {
	return f.connector(ctx, StageConnector)
}

// oauth2Start is oauth2-proxy's sign-in start for the protected path.
func (f *Flow) oauth2Start() *url.URL {
	s := *f.cfg.Gateway
	s.Path = strings.TrimRight(f.cfg.Gateway.Path, "/") + "/oauth2/start"
	s.RawQuery = url.Values{"rd": {f.start.Path}}.Encode()
	return &s
}

// connector walks from f.next to the login form; stage is whose steps these
// are (Credentials walks it again after a restart).
func (f *Flow) connector(ctx context.Context, stage Stage) error {
	if f.next == nil {
		return f.fail(stage, KindUnexpected, "no login to follow (Secured did not lead into Dex)", nil)
	}
	u, name, sole := f.next, "Dex authorization", ""
	for {
		p, err := f.fetch(ctx, stage, name, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		id, onConnector := connectorOf(u)
		switch {
		case p.redirect() && isDex(p.location):
			if c, ok := connectorOf(p.location); ok && !onConnector {
				f.straight = f.connectors == nil
				if c != f.cfg.Connector {
					// Dex has one connector and it is another one: ask for
					// ours as its choice page's link would.
					sole = c
					u, name = withConnector(p.location, f.cfg.Connector), "connector "+f.cfg.Connector
					continue
				}
			}
			u, name = p.location, "connector "+f.cfg.Connector
			if id, ok := connectorOf(p.location); ok && strings.HasSuffix(strings.TrimRight(p.location.Path, "/"), "/"+url.PathEscape(id)+"/login") {
				name = "login form"
			}
		case p.redirect():
			return f.fail(stage, KindUnexpected, fmt.Sprintf("Dex sent the browser to %s before showing a login form", SafeURL(p.location)), nil)
		case onConnector && id == f.cfg.Connector && (p.status == http.StatusNotFound || p.status == http.StatusBadRequest):
			msg := fmt.Sprintf("Dex has no connector %q: %s answered HTTP %d", f.cfg.Connector, SafeURL(u), p.status)
			if sole != "" {
				msg += fmt.Sprintf("; its only connector is %q (--login-connector %s)", sole, sole)
			}
			return f.fail(stage, KindUnknownConnector, msg, nil)
		case p.status == http.StatusOK:
			pg := parsePage(p.body, u)
			if lf := pg.loginForm(); lf != nil {
				f.form, f.formPage = lf, u
				return nil
			}
			offered := map[string]*url.URL{}
			var ids []string
			for _, l := range pg.links {
				if c, ok := connectorOf(l); ok && isDex(l) {
					if _, seen := offered[c]; !seen {
						offered[c] = l
						ids = append(ids, c)
					}
				}
			}
			if len(ids) == 0 {
				return f.fail(stage, KindUnexpected, fmt.Sprintf("%s answered a page with neither a login form nor Dex's connector choice (%s)", SafeURL(u), describe(p)), nil)
			}
			f.connectors = ids
			l, ok := offered[f.cfg.Connector]
			if !ok {
				return f.fail(stage, KindUnknownConnector, fmt.Sprintf("%s %s, not %q (--login-connector)", SayConnectors, strings.Join(ids, ", "), f.cfg.Connector), nil)
			}
			u, name = l, "connector "+f.cfg.Connector
		default:
			return f.fail(stage, KindUnexpected, fmt.Sprintf("%s answered HTTP %d (%s)", SafeURL(u), p.status, describe(p)), nil)
		}
	}
}

// Credentials posts the login form, answers an approval page if Dex shows
// one, and stops when Dex sends the browser back to the gateway's callback.
func (f *Flow) Credentials(ctx context.Context) error {
	if f.form == nil {
		return f.fail(StageCredentials, KindUnexpected, "no login form to post (Connector did not find one)", nil)
	}
	vals, err := f.filled()
	if err != nil {
		return err
	}
	u, name, form := f.form.Action, "login form", vals
	posted, restarted := false, false
	for {
		m := http.MethodGet
		if form != nil {
			m = http.MethodPost
		}
		p, err := f.fetch(ctx, StageCredentials, name, m, u, form)
		if err != nil {
			return err
		}
		wasLoginPost := form != nil && !posted
		posted = posted || form != nil
		form = nil
		switch {
		case p.redirect() && isDex(p.location):
			u, name = p.location, "Dex"
			if strings.HasSuffix(strings.TrimRight(p.location.Path, "/"), "/approval") {
				name = "approval page"
			}
		case p.redirect():
			f.callback = p.location
			if g := generationOf(p.location); g != "" {
				f.generation = g
			}
			return nil
		case p.status == http.StatusOK || (p.status == http.StatusUnauthorized && wasLoginPost):
			// Dex answers refused credentials (a wrong password or an
			// unknown user alike) with its login form again: HTTP 401 since
			// v2.36.0 (dexidp/dex#2796), HTTP 200 before.
			pg := parsePage(p.body, u)
			if pg.loginForm() != nil {
				if wasLoginPost {
					return f.fail(StageCredentials, KindWrongCredentials, fmt.Sprintf("%s (HTTP %d, no redirect): connector %q refused user %q with this password", SayWrongCredentials, p.status, f.cfg.Connector, f.cfg.Username), nil)
				}
				return f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("Dex showed its login form again at %s after accepting it", SafeURL(u)), nil)
			}
			af := pg.approvalForm()
			if af == nil || f.approved {
				return f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("%s answered a page that is neither the login form nor an approval page (%s)", SafeURL(u), describe(p)), nil)
			}
			// oauth2-proxy asks with approval_prompt=force by default, which
			// makes Dex ask even with skipApprovalScreen: approve.
			form = af.values()
			form.Set("approval", "approve")
			u, name = af.Action, "approve"
			f.approved = true
		case wasLoginPost && p.status == http.StatusForbidden && !restarted && f.generation == OAuth2Proxy:
			// Behind Kubeflow ≥ 1.9 a POST to Dex can come back 403; its
			// own login test then starts again at /oauth2/start. Once.
			restarted = true
			if err := f.restart(ctx); err != nil {
				return err
			}
			if form, err = f.filled(); err != nil {
				return err
			}
			u, name, posted = f.form.Action, "login form (after restart)", false
		case wasLoginPost && p.status == http.StatusForbidden:
			return f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("Dex refused the login POST with HTTP 403 (%s), also after starting again at /oauth2/start", describe(p)), nil)
		default:
			return f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("%s %s answered HTTP %d (%s)", m, SafeURL(u), p.status, describe(p)), nil)
		}
	}
}

// filled is the login form with the user and password set.
func (f *Flow) filled() (url.Values, error) {
	vals := f.form.values()
	login := f.form.loginField()
	if login == "" {
		return nil, f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("the login form at %s has no user name field", SafeURL(f.formPage)), nil)
	}
	if f.form.Method != http.MethodPost {
		// A password goes in a body, never in a URL.
		return nil, f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("the login form at %s submits with %s, not POST: refusing to put the password in a URL", SafeURL(f.formPage), f.form.Method), nil)
	}
	vals.Set(login, f.cfg.Username)
	vals.Set(f.form.passwordField(), f.cfg.Password)
	return vals, nil
}

// restart begins the sign-in again at /oauth2/start and walks Dex back to
// the login form; its steps belong to the credentials stage.
func (f *Flow) restart(ctx context.Context) error {
	start := f.oauth2Start()
	p, err := f.fetch(ctx, StageCredentials, "oauth2-proxy sign-in restart", http.MethodGet, start, nil)
	if err != nil {
		return err
	}
	if !p.redirect() || !isDex(p.location) {
		return f.fail(StageCredentials, KindUnexpected, fmt.Sprintf("Dex refused the login POST with HTTP 403, and starting again at %s answered HTTP %d instead of leading into Dex", SafeURL(start), p.status), nil)
	}
	f.next = p.location
	return f.connector(ctx, StageCredentials)
}

// Session follows the callback back to the protected path and returns the
// cookies that now open it.
func (f *Flow) Session(ctx context.Context) (*Session, error) {
	if f.callback == nil {
		return nil, f.fail(StageSession, KindUnexpected, "no callback to follow (Credentials did not finish)", nil)
	}
	u, name := f.callback, "callback"
	if !isCallback(u) {
		name = "back to the gateway"
	}
	for {
		p, err := f.fetch(ctx, StageSession, name, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		switch {
		case p.redirect() && isLogin(p.location) && !isCallback(p.location):
			return nil, f.fail(StageSession, KindNoSession, fmt.Sprintf("after the callback the gateway sent the browser back into the login (%s): %s%s", SafeURL(p.location), SaySessionRefused, cookieNote(f.names())), nil)
		case p.redirect():
			u, name = p.location, "protected path with the session"
		case p.status >= 200 && p.status < 300:
			return f.session(u)
		case isCallback(u):
			return nil, f.fail(StageSession, KindNoSession, fmt.Sprintf("the callback %s answered HTTP %d (%s): the gateway refused to open a session (oauth2-proxy answers 403 when its CSRF cookie did not come back)", SafeURL(u), p.status, describe(p)), nil)
		default:
			return nil, f.fail(StageSession, KindNoSession, fmt.Sprintf("%s answered HTTP %d after the login (%s)", SafeURL(u), p.status, describe(p)), nil)
		}
	}
}

func (f *Flow) session(final *url.URL) (*Session, error) {
	cookies := f.jar.Cookies(f.start)
	s := &Session{Generation: f.generation}
	var parts []string
	for _, c := range cookies {
		parts = append(parts, c.Name+"="+c.Value)
		s.Names = append(s.Names, c.Name)
		switch g := SessionCookieOf(c.Name); g {
		case OAuth2Proxy:
			if s.SessionCookie == "" {
				s.SessionCookie = c.Name
			}
			s.Generation = g
		case AuthService:
			s.SessionCookie = c.Name
			s.Generation = g
		}
	}
	if len(parts) == 0 {
		return nil, f.fail(StageSession, KindNoSession, fmt.Sprintf("%s answered after the login, but %s", SafeURL(final), SayNoCookie), nil)
	}
	s.Cookie = strings.Join(parts, "; ")
	f.red.AddCookies(s.Cookie)
	if s.SessionCookie == "" {
		// A session cookie under a name of the operator's choosing
		// (--cookie-name): the callback set it, so it is the session.
		s.SessionCookie = strings.Join(s.Names, ", ")
	}
	if f.generation == "" {
		f.generation = s.Generation
	}
	return s, nil
}

// names are the cookie names the jar holds for the protected path.
func (f *Flow) names() []string {
	var out []string
	for _, c := range f.jar.Cookies(f.start) {
		out = append(out, c.Name)
	}
	return out
}

func cookieNote(names []string) string {
	if len(names) == 0 {
		return "; no cookie was set for the gateway"
	}
	return "; cookies held: " + strings.Join(names, ", ")
}

// callbackOf reads the redirect_uri of a Dex authorization request, which
// names the gateway's login program before it shows itself.
func callbackOf(dex *url.URL) *url.URL {
	r := dex.Query().Get("redirect_uri")
	if r == "" {
		return &url.URL{}
	}
	u, err := url.Parse(r)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// describe names a page without quoting it: pages may echo what was posted.
func describe(p *page) string {
	ct := p.header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	if i := strings.Index(ct, ";"); i >= 0 {
		ct = ct[:i]
	}
	return fmt.Sprintf("%s, %d bytes", ct, len(p.body))
}

func firstStatus(steps []Step) int {
	if len(steps) == 0 {
		return 0
	}
	return steps[0].Status
}

// SessionCookieOf says which login program a cookie name is the session of:
// oauth2-proxy's (oauth2_proxy_kubeflow in Kubeflow, oauth2_proxy by
// default; not its _csrf cookie) or oidc-authservice's authservice_session;
// "" for any other cookie.
func SessionCookieOf(name string) Generation {
	switch {
	case strings.HasPrefix(name, "oauth2_proxy") && !strings.HasSuffix(name, "_csrf"):
		return OAuth2Proxy
	case name == "authservice_session":
		return AuthService
	}
	return ""
}
