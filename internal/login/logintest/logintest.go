// Package logintest replays Kubeflow's login chains, as measured with the real
// Dex and oauth2-proxy (shared/design/kfp-facts.md, "Login chains measured here
// with the real programs"), in one httptest server that plays the gateway:
// the protected /pipeline path, oauth2-proxy (Kubeflow ≥ 1.9) or
// oidc-authservice (≤ 1.8) in front of it, and Dex under /dex. Status codes,
// Location headers, cookie names and form fields follow the measurements;
// the pages' markup is our own. Test code only: real Dex is not served by the
// module proxy here, so these replays stand in until it is.
package logintest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Generation of the gateway's login program.
type Generation int

const (
	OAuth2Proxy Generation = iota // Kubeflow ≥ 1.9
	AuthService                   // Kubeflow ≤ 1.8
)

// Cookie names and paths the real programs use.
const (
	OAuth2ProxyCookie     = "oauth2_proxy_kubeflow"
	OAuth2ProxyCSRFCookie = "oauth2_proxy_kubeflow_csrf"
	AuthServiceCookie     = "authservice_session"
	OAuth2Callback        = "/oauth2/callback"
	AuthServiceCallback   = "/authservice/oidc/callback"
	// DefaultUser and DefaultPassword are Kubeflow's example static user.
	DefaultUser     = "user@example.com"
	DefaultPassword = "12341234"
)

// Options shape one gateway.
type Options struct {
	Generation Generation
	// Connectors are Dex's connector ids; empty means just "local". With one,
	// /dex/auth redirects straight to it; with several it shows the choice.
	Connectors []string
	// Approval makes Dex show its approval page (oauth2-proxy's default
	// approval_prompt=force does this even with skipApprovalScreen).
	Approval bool
	// Unauthorized makes an unauthenticated browser path answer oauth2-proxy's
	// sign-in page with 401, as Istio's ext_authz can relay it (Kubeflow ≥ 1.9).
	Unauthorized bool
	// RefuseFirstPost makes Dex answer the first login POST with 403, which
	// Kubeflow's own login test meets behind Kubeflow ≥ 1.9 and answers by
	// starting again at /oauth2/start (derived from that test, not measured).
	RefuseFirstPost bool
	// LegacyRefusal answers refused credentials with HTTP 200 and the login
	// form, as Dex did before v2.36.0; newer Dex answers 401 with the form.
	LegacyRefusal bool
	// Unsecured leaves the gateway without any login: everything reaches the
	// upstream.
	Unsecured bool
	// Users are Dex's passwords by user; nil means DefaultUser/DefaultPassword.
	Users map[string]string
	// SessionValue, when set, is the session cookie's value (a test's canary);
	// otherwise a random ~2 KB value, like oauth2-proxy's.
	SessionValue string
	// Upstream receives authenticated requests with /pipeline stripped (the
	// UI server strips it) and kubeflow-userid set to the session's email, as
	// the gateway's RequestAuthentication does. Nil answers a small HTML page.
	Upstream http.Handler
}

// Gateway is a running replay.
type Gateway struct {
	*httptest.Server
	opts Options

	mu       sync.Mutex
	sessions map[string]string   // session cookie value → email
	csrf     map[string]bool     // oauth2-proxy CSRF nonces handed out
	authReqs map[string]*authReq // Dex auth requests by id
	codes    map[string]string   // authorization code → email
	hits     map[string]int      // request counts by path, for tests
	posts    int                 // login POSTs seen
}

type authReq struct {
	redirectURI, state, connector, email string
	loggedIn, approved                   bool
}

// New starts a gateway; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }, opts Options) *Gateway {
	if len(opts.Connectors) == 0 {
		opts.Connectors = []string{"local"}
	}
	if opts.Users == nil {
		opts.Users = map[string]string{DefaultUser: DefaultPassword}
	}
	g := &Gateway{opts: opts, sessions: map[string]string{}, csrf: map[string]bool{}, authReqs: map[string]*authReq{},
		codes: map[string]string{}, hits: map[string]int{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

// Hits returns how often a path was requested.
func (g *Gateway) Hits(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[path]
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.hits[r.URL.Path]++
	g.mu.Unlock()
	w.Header().Set("Server", "istio-envoy")
	p := r.URL.Path
	switch {
	case p == "/dex" || strings.HasPrefix(p, "/dex/"):
		g.dex(w, r)
	case strings.HasPrefix(p, "/oauth2/") && g.opts.Generation == OAuth2Proxy && !g.opts.Unsecured:
		g.oauth2(w, r)
	case strings.HasPrefix(p, "/authservice/") && g.opts.Generation == AuthService && !g.opts.Unsecured:
		g.authservice(w, r)
	case p == "/pipeline" || strings.HasPrefix(p, "/pipeline/"):
		g.protected(w, r)
	default:
		// Envoy's answer when no route matches.
		w.WriteHeader(http.StatusNotFound)
	}
}

// protected is the ext_authz decision for /pipeline, then the upstream.
func (g *Gateway) protected(w http.ResponseWriter, r *http.Request) {
	email := ""
	if !g.opts.Unsecured {
		email = g.sessionUser(r)
		if email == "" {
			g.signIn(w, r)
			return
		}
	}
	r = r.Clone(r.Context())
	r.Header.Del("kubeflow-userid")
	if email != "" {
		r.Header.Set("kubeflow-userid", email)
	}
	r.URL.Path = strings.TrimPrefix(r.URL.Path, "/pipeline")
	if r.URL.Path == "" {
		r.URL.Path = "/"
	}
	if g.opts.Upstream != nil && r.URL.Path != "/" {
		g.opts.Upstream.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><html><head><title>Kubeflow Pipelines</title></head><body><div id=\"root\"></div></body></html>")
}

func (g *Gateway) sessionUser(r *http.Request) string {
	name := OAuth2ProxyCookie
	if g.opts.Generation == AuthService {
		name = AuthServiceCookie
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sessions[c.Value]
}

// signIn is what an unauthenticated request gets.
func (g *Gateway) signIn(w http.ResponseWriter, r *http.Request) {
	if g.opts.Generation == AuthService {
		// oidc-authservice redirects every unauthenticated request into Dex.
		state := random(16)
		http.SetCookie(w, &http.Cookie{Name: "oidc_state_csrf", Value: state, Path: "/", HttpOnly: true})
		g.toDex(w, r, AuthServiceCallback, state)
		return
	}
	// oauth2-proxy's api_routes (/api/, /apis/, ^/ml_metadata) get 401.
	if strings.Contains(r.URL.Path, "/apis/") || strings.Contains(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Unauthorized")
		return
	}
	if g.opts.Unauthorized {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><form method="GET" action="/oauth2/start"><input type="hidden" name="rd" value="%s"><button type="submit">Sign in with OpenID Connect</button></form></body></html>`,
			html.EscapeString(r.URL.RequestURI()))
		return
	}
	g.oauth2Start(w, r, r.URL.RequestURI())
}

func (g *Gateway) oauth2(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth2/start":
		rd := r.URL.Query().Get("rd")
		if rd == "" {
			rd = "/"
		}
		g.oauth2Start(w, r, rd)
	case OAuth2Callback:
		c, err := r.Cookie(OAuth2ProxyCSRFCookie)
		nonce, rd, _ := strings.Cut(r.URL.Query().Get("state"), ":")
		g.mu.Lock()
		valid := err == nil && g.csrf[c.Value] && c.Value == nonce
		email, codeOK := g.codes[r.URL.Query().Get("code")]
		delete(g.codes, r.URL.Query().Get("code"))
		g.mu.Unlock()
		if !valid {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "<html><body><h1>403 Forbidden</h1><p>Login Failed: Unable to find a valid CSRF token. Please try again.</p></body></html>")
			return
		}
		if !codeOK {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "Internal Server Error")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: OAuth2ProxyCSRFCookie, Value: "", Path: "/", MaxAge: -1})
		http.SetCookie(w, &http.Cookie{Name: OAuth2ProxyCookie, Value: g.newSession(email), Path: "/", HttpOnly: true, Expires: time.Now().Add(24 * time.Hour)})
		http.Redirect(w, r, rd, http.StatusFound)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "404 page not found")
	}
}

func (g *Gateway) oauth2Start(w http.ResponseWriter, r *http.Request, rd string) {
	nonce := random(16)
	g.mu.Lock()
	g.csrf[nonce] = true
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: OAuth2ProxyCSRFCookie, Value: nonce, Path: "/", HttpOnly: true, Expires: time.Now().Add(15 * time.Minute)})
	g.toDex(w, r, OAuth2Callback, nonce+":"+rd)
}

func (g *Gateway) authservice(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != AuthServiceCallback {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	g.mu.Lock()
	email, ok := g.codes[r.URL.Query().Get("code")]
	delete(g.codes, r.URL.Query().Get("code"))
	g.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "invalid code")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: AuthServiceCookie, Value: g.newSession(email), Path: "/", HttpOnly: true})
	// oidc-authservice sends the browser back to where it started; the
	// state it issued stands for /pipeline/ here.
	http.Redirect(w, r, "/pipeline/", http.StatusFound)
}

func (g *Gateway) newSession(email string) string {
	v := g.opts.SessionValue
	if v == "" {
		v = random(1024) // ~2 KB, as oauth2-proxy's encrypted session
	}
	g.mu.Lock()
	g.sessions[v] = email
	g.mu.Unlock()
	return v
}

// toDex is the redirect into Dex's authorization endpoint.
func (g *Gateway) toDex(w http.ResponseWriter, r *http.Request, callback, state string) {
	q := url.Values{
		"client_id":     {"kubeflow-oidc-authservice"},
		"redirect_uri":  {"http://" + r.Host + callback},
		"response_type": {"code"},
		"scope":         {"openid profile email groups"},
		"state":         {state},
	}
	if g.opts.Generation == OAuth2Proxy {
		q.Set("code_challenge", random(16))
		q.Set("code_challenge_method", "S256")
		q.Set("approval_prompt", "force")
	}
	http.Redirect(w, r, "/dex/auth?"+q.Encode(), http.StatusFound)
}

// dex replays Dex's endpoints.
func (g *Gateway) dex(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // dex, auth, <connector>, login
	switch {
	case r.URL.Path == "/dex/auth" && r.URL.Query().Get("req") != "":
		g.dexFinish(w, r)
	case r.URL.Path == "/dex/auth":
		g.dexAuth(w, r)
	case r.URL.Path == "/dex/approval":
		g.dexApproval(w, r)
	case len(parts) == 3 && parts[1] == "auth":
		if !g.hasConnector(parts[2]) {
			dexError(w, http.StatusNotFound, "Requested resource does not exist.")
			return
		}
		id := random(12)
		g.mu.Lock()
		g.authReqs[id] = &authReq{redirectURI: r.URL.Query().Get("redirect_uri"), state: r.URL.Query().Get("state"), connector: parts[2]}
		g.mu.Unlock()
		http.Redirect(w, r, "/dex/auth/"+parts[2]+"/login?"+url.Values{"back": {""}, "state": {id}}.Encode(), http.StatusFound)
	case len(parts) == 4 && parts[1] == "auth" && parts[3] == "login":
		g.dexLogin(w, r, parts[2])
	default:
		dexError(w, http.StatusNotFound, "Not Found")
	}
}

func (g *Gateway) hasConnector(id string) bool {
	for _, c := range g.opts.Connectors {
		if c == id {
			return true
		}
	}
	return false
}

func (g *Gateway) dexAuth(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("connector_id"); id != "" {
		if !g.hasConnector(id) {
			dexError(w, http.StatusBadRequest, "Connector ID does not match a valid Connector")
			return
		}
		http.Redirect(w, r, "/dex/auth/"+id+"?"+r.URL.RawQuery, http.StatusFound)
		return
	}
	if len(g.opts.Connectors) == 1 {
		http.Redirect(w, r, "/dex/auth/"+g.opts.Connectors[0]+"?"+r.URL.RawQuery, http.StatusFound)
		return
	}
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><title>dex</title></head><body><div class="theme-panel"><h2 class="theme-heading">Log in to dex</h2>`)
	for _, c := range g.opts.Connectors {
		fmt.Fprintf(&b, `<div class="theme-form-row"><a href="%s" target="_self"><button class="dex-btn theme-btn-provider"><span class="dex-btn-text">Log in with %s</span></button></a></div>`,
			html.EscapeString("/dex/auth/"+c+"?"+r.URL.RawQuery), html.EscapeString(c))
	}
	b.WriteString(`</div></body></html>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, b.String())
}

func (g *Gateway) dexLogin(w http.ResponseWriter, r *http.Request, connector string) {
	id := r.URL.Query().Get("state")
	g.mu.Lock()
	ar := g.authReqs[id]
	g.mu.Unlock()
	if ar == nil || ar.connector != connector {
		dexError(w, http.StatusBadRequest, "Invalid 'state' parameter provided.")
		return
	}
	invalid := false
	if r.Method == http.MethodPost {
		g.mu.Lock()
		g.posts++
		first := g.posts == 1
		g.mu.Unlock()
		if first && g.opts.RefuseFirstPost {
			dexError(w, http.StatusForbidden, "Forbidden")
			return
		}
		if err := r.ParseForm(); err != nil {
			dexError(w, http.StatusBadRequest, "bad form")
			return
		}
		user, pw := r.PostForm.Get("login"), r.PostForm.Get("password")
		if want, ok := g.opts.Users[user]; ok && want == pw && pw != "" {
			g.mu.Lock()
			ar.loggedIn, ar.email = true, user
			g.mu.Unlock()
			http.Redirect(w, r, "/dex/auth?"+url.Values{"req": {id}, "hmac": {random(16)}}.Encode(), http.StatusSeeOther)
			return
		}
		invalid = true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if invalid && !g.opts.LegacyRefusal {
		w.WriteHeader(http.StatusUnauthorized)
	}
	action := "/dex/auth/" + connector + "/login?" + url.Values{"back": {""}, "state": {id}}.Encode()
	fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>dex</title></head><body><div class="theme-panel"><h2 class="theme-heading">Log in to Your Account</h2>
<form method="post" action="%s">
<div class="theme-form-row"><div class="theme-form-label"><label for="userid">Email Address</label></div>
<input tabindex="1" required id="login" name="login" type="text" class="theme-form-input" placeholder="email address" autofocus/></div>
<div class="theme-form-row"><div class="theme-form-label"><label for="password">Password</label></div>
<input tabindex="2" required id="password" name="password" type="password" class="theme-form-input" placeholder="password"/></div>`, html.EscapeString(action))
	if invalid {
		fmt.Fprint(w, `<div id="login-error" class="dex-error-box">Invalid Email Address and password.</div>`)
	}
	fmt.Fprint(w, `<button tabindex="3" id="submit-login" type="submit" class="dex-btn theme-btn--primary">Login</button></form></div></body></html>`)
}

// dexFinish is /dex/auth?req&hmac after the login: the approval page, or
// back to the client with a code.
func (g *Gateway) dexFinish(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("req")
	g.mu.Lock()
	ar := g.authReqs[id]
	g.mu.Unlock()
	if ar == nil || !ar.loggedIn {
		dexError(w, http.StatusBadRequest, "Login process not yet finalized.")
		return
	}
	if g.opts.Approval && !ar.approved {
		http.Redirect(w, r, "/dex/approval?"+r.URL.RawQuery, http.StatusSeeOther)
		return
	}
	code := random(12)
	g.mu.Lock()
	g.codes[code] = ar.email
	delete(g.authReqs, id)
	g.mu.Unlock()
	u, err := url.Parse(ar.redirectURI)
	if err != nil {
		dexError(w, http.StatusBadRequest, "bad redirect_uri")
		return
	}
	q := u.Query()
	q.Set("code", code)
	q.Set("state", ar.state)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (g *Gateway) dexApproval(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("req")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><div class="theme-panel"><h2 class="theme-heading">Grant Access</h2>
<form method="post"><input type="hidden" name="req" value="%[1]s"/><input type="hidden" name="approval" value="approve"><button type="submit" class="dex-btn theme-btn--success"><span class="dex-btn-text">Grant Access</span></button></form>
<form method="post"><input type="hidden" name="req" value="%[1]s"/><input type="hidden" name="approval" value="rejected"><button type="submit" class="dex-btn theme-btn-provider"><span class="dex-btn-text">Cancel</span></button></form>
</div></body></html>`, html.EscapeString(id))
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			dexError(w, http.StatusBadRequest, "bad form")
			return
		}
		id := r.PostForm.Get("req")
		g.mu.Lock()
		ar := g.authReqs[id]
		if ar != nil && r.PostForm.Get("approval") == "approve" {
			ar.approved = true
		}
		g.mu.Unlock()
		if ar == nil || !ar.approved {
			dexError(w, http.StatusBadRequest, "Approval rejected.")
			return
		}
		http.Redirect(w, r, "/dex/auth?"+url.Values{"req": {id}, "hmac": {r.URL.Query().Get("hmac")}}.Encode(), http.StatusSeeOther)
	default:
		dexError(w, http.StatusBadRequest, "Unsupported request method.")
	}
}

func dexError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!DOCTYPE html><html><body><div class="theme-panel"><h2 class="theme-heading">%s</h2><p>%s</p></div></body></html>`,
		html.EscapeString(http.StatusText(status)), html.EscapeString(msg))
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("logintest: " + err.Error())
	}
	return hex.EncodeToString(b)
}
