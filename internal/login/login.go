// Package login is the doctor's browser-less login through Kubeflow's gateway:
// it starts where a browser (and Kubeflow's own login test) starts, at the
// protected /pipeline/ path, and follows the chain generically — the
// oauth2-proxy (Kubeflow ≥ 1.9) or oidc-authservice (≤ 1.8) redirect into Dex,
// Dex's connector choice, its login form, the optional approval page, the
// callback that sets the session cookie — keeping every cookie in a jar, as
// the scripts broken by Kubeflow 1.9 did not (KFD012).
//
// The walk is split into four stages so that the doctor can report each as a
// probe and say which one broke: Secured, Connector, Credentials, Session.
// Every step is recorded with its URL stripped of query values (state, code,
// req and hmac are one-time secrets), and the password and every cookie value
// are registered with the redactor the moment they are seen.
package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/loginurl"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// MaxBody caps every page read: a login page is a few KB, and the doctor must
// not be made to swallow a large one.
const MaxBody = 1 << 20

// DefaultMaxRequests bounds the whole chain. The longest measured chain (401,
// sign-in start, connector choice, login, approval, callback, final page) is
// 13 requests; 20 leaves room for a proxy's extra hop without letting a
// misconfigured gateway run on.
const DefaultMaxRequests = 20

// loopVisits is how often one URL may be fetched before the chain counts as a
// loop: Dex legitimately visits /dex/auth?req&hmac twice around the approval
// page, never three times.
const loopVisits = 3

// DefaultRequestTimeout bounds one request when the caller's context has no
// earlier deadline.
const DefaultRequestTimeout = 5 * time.Second

// ProtectedPath is where KFP sits behind Kubeflow's gateway.
const ProtectedPath = "/pipeline/"

// Stage is one group of steps, reported by the doctor as one probe.
type Stage string

const (
	// StageSecured: the protected path leads into a login (or it does not:
	// an unsecured gateway).
	StageSecured Stage = "secured"
	// StageConnector: Dex's connector is found and its login form served.
	StageConnector Stage = "connector"
	// StageCredentials: the form is posted and accepted, the approval page
	// answered, and Dex sends the browser back to the gateway's callback.
	StageCredentials Stage = "credentials"
	// StageSession: the callback sets the session and the protected path
	// answers with it.
	StageSession Stage = "session"
)

// Generation is the gateway's login program, told by its callback path and
// its session cookie.
type Generation string

const (
	OAuth2Proxy Generation = "oauth2-proxy"     // Kubeflow ≥ 1.9
	AuthService Generation = "oidc-authservice" // Kubeflow ≤ 1.8
)

// Describe says which Kubeflow releases use the generation.
func (g Generation) Describe() string {
	switch g {
	case OAuth2Proxy:
		return "oauth2-proxy, Kubeflow ≥ 1.9"
	case AuthService:
		return "oidc-authservice, Kubeflow ≤ 1.8"
	}
	return "unknown login program"
}

// Kind says how a login failed.
type Kind string

const (
	KindWrongCredentials Kind = "wrong-credentials" // Dex answered its login form again
	KindUnknownConnector Kind = "unknown-connector" // the connector is not offered, or Dex refuses its path
	KindRedirectLoop     Kind = "redirect-loop"     // a URL came back too often, or the chain ran too long
	KindTransport        Kind = "transport"         // no HTTP answer (refused, timeout, TLS …)
	KindUnexpected       Kind = "unexpected"        // an answer the login flow does not allow
	KindNoSession        Kind = "no-session"        // the callback set no session, or it was not accepted
	// KindExtAuthzDown: Envoy refused with an empty 403 (its ext_authz
	// provider failed) and no oauth2-proxy route exists: oidc-authservice,
	// Kubeflow ≤ 1.8's provider, is down or hung.
	KindExtAuthzDown Kind = "ext-authz-down"
	// KindForeignLogin: the gateway sends the browser to a cloud's own
	// sign-in (Google, Cognito, Entra ID, App ID), which is no Dex form.
	KindForeignLogin Kind = "foreign-login"
)

// Error is a failed stage. Its message never holds a secret: URLs carry query
// keys only, and no body is quoted.
type Error struct {
	Stage Stage
	Kind  Kind
	Msg   string
	// Err is the cause when there is one (a transport error, stripped of the
	// URL the net/http client would have put in it).
	Err error
	// Distro is the login stack recognised, for KindForeignLogin.
	Distro distro.ID
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, login.ErrWrongCredentials) and friends match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Stage == "" && t.Msg == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrWrongCredentials = &Error{Kind: KindWrongCredentials}
	ErrUnknownConnector = &Error{Kind: KindUnknownConnector}
	ErrRedirectLoop     = &Error{Kind: KindRedirectLoop}
)

// Step is one request of the chain.
type Step struct {
	Stage    Stage
	Name     string // what the step was for: "protected path", "connector choice", "login form" …
	Method   string
	URL      string // query values removed
	Status   int    // 0 when no answer came
	Duration time.Duration
}

func (s Step) String() string {
	st := "no answer"
	if s.Status != 0 {
		st = fmt.Sprint(s.Status)
	}
	return fmt.Sprintf("%s: %s %s → %s (%s)", s.Name, s.Method, s.URL, st, s.Duration.Round(time.Millisecond))
}

// Config is one login.
type Config struct {
	// Gateway is the gateway's base URL (http://localhost:8080): the
	// protected path and the login paths are under it.
	Gateway *url.URL
	// Path is the protected path; "" means ProtectedPath.
	Path      string
	Username  string
	Password  string // held in memory only; registered with Redactor
	Connector string // Dex connector id; "" means "local"
	// HTTPClient returns a client with the transport's timeouts (dial, TLS);
	// the flow sets its own jar and stops it following redirects, which it
	// does itself. Nil means a plain client.
	HTTPClient func() *http.Client
	// RequestTimeout bounds each request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRequests bounds the chain; 0 means DefaultMaxRequests.
	MaxRequests int
	// Redactor gets the password and every cookie value. Nil: a private one.
	Redactor *redact.Redactor
}

// Session is what a successful login leaves: the cookies a kfp.Client needs.
type Session struct {
	// Cookie is the Cookie header for the protected path: every cookie the
	// jar holds for it (the session, and whatever else the gateway set).
	Cookie string
	// Names are the cookie names, safe to print.
	Names []string
	// SessionCookie is the name of the cookie that carries the session.
	SessionCookie string
	Generation    Generation
}

// Flow is one login, walked stage by stage. Stages must be called in order
// and not concurrently; Steps may be read at any time.
type Flow struct {
	cfg    Config
	client *http.Client
	jar    *cookiejar.Jar
	start  *url.URL // the protected URL
	red    *redact.Redactor

	mu    sync.Mutex
	steps []Step

	requests int
	visits   map[string]int

	// Where the walk stands between stages.
	next       *url.URL // the URL to fetch next (a redirect's target)
	unsecured  bool
	foreign    *distro.Distribution // a cloud's sign-in the walk stopped at
	form       *Form                // the login form, after StageConnector
	formPage   *url.URL             // where it was served
	connectors []string             // offered on Dex's choice page, when one was shown
	straight   bool                 // Dex redirected straight to the connector (one connector)
	approved   bool                 // an approval page was answered
	callback   *url.URL
	generation Generation
}

// New checks the configuration and registers the password as a secret.
func New(cfg Config) (*Flow, error) {
	if cfg.Gateway == nil || cfg.Gateway.Host == "" || (cfg.Gateway.Scheme != "http" && cfg.Gateway.Scheme != "https") {
		return nil, errors.New("login: the gateway URL must be http(s)://host[:port]")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("login: a username and a password are needed")
	}
	if cfg.Connector == "" {
		cfg.Connector = "local"
	}
	if strings.ContainsAny(cfg.Connector, "/?#% ") {
		return nil, fmt.Errorf("login: connector %q: want a Dex connector id such as local or ldap", cfg.Connector)
	}
	if cfg.Path == "" {
		cfg.Path = ProtectedPath
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	red := cfg.Redactor
	if red == nil {
		red = &redact.Redactor{}
	}
	red.Add(cfg.Password)
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("login: cookie jar: %w", err)
	}
	var c http.Client
	if cfg.HTTPClient != nil {
		if hc := cfg.HTTPClient(); hc != nil {
			c = *hc
		}
	}
	c.Jar = jar
	// The flow looks at every answer itself: a redirect is a step to record,
	// and a redirect into the login is what tells a secured gateway apart.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start := *cfg.Gateway
	start.Path = strings.TrimRight(cfg.Gateway.Path, "/") + "/" + strings.TrimLeft(cfg.Path, "/")
	start.RawQuery, start.Fragment, start.User = "", "", nil
	return &Flow{cfg: cfg, client: &c, jar: jar, start: &start, red: red, visits: map[string]int{}}, nil
}

// Login walks every stage. The result is nil for an unsecured gateway (there
// is nothing to log in to), which is not an error.
func Login(ctx context.Context, cfg Config) (*Session, *Flow, error) {
	f, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	secured, err := f.Secured(ctx)
	if err != nil || !secured {
		return nil, f, err
	}
	if err := f.Connector(ctx); err != nil {
		return nil, f, err
	}
	if err := f.Credentials(ctx); err != nil {
		return nil, f, err
	}
	s, err := f.Session(ctx)
	return s, f, err
}

// Steps returns the steps so far, or those of one stage ("" for all).
func (f *Flow) Steps(stage Stage) []Step {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Step
	for _, s := range f.steps {
		if stage == "" || s.Stage == stage {
			out = append(out, s)
		}
	}
	return out
}

// Unsecured reports that the protected path answered without a login.
func (f *Flow) Unsecured() bool { return f.unsecured }

// Foreign is the cloud's login stack the walk stopped at (Secured found the
// gateway sending the browser to it); nil otherwise.
func (f *Flow) Foreign() *distro.Distribution { return f.foreign }

// Connectors lists the connectors Dex's choice page offered (nil when Dex
// showed none).
func (f *Flow) Connectors() []string { return f.connectors }

// Straight reports that Dex sent the browser straight to a connector (it has
// only one).
func (f *Flow) Straight() bool { return f.straight }

// Approved reports that Dex showed an approval page and it was approved.
func (f *Flow) Approved() bool { return f.approved }

// Generation is the login program seen so far ("" before it shows).
func (f *Flow) Generation() Generation { return f.generation }

// Start is the protected URL the flow starts at.
func (f *Flow) Start() string { return SafeURL(f.start) }

// Username is the user logging in.
func (f *Flow) Username() string { return f.cfg.Username }

// ConnectorID is the connector asked for.
func (f *Flow) ConnectorID() string { return f.cfg.Connector }

// page is one answer, read and closed.
type page struct {
	status   int
	header   http.Header
	body     []byte
	url      *url.URL
	location *url.URL // resolved Location of a redirect, nil otherwise
}

func (p *page) redirect() bool { return p.location != nil && p.status >= 300 && p.status < 400 }

// fetch sends one request, records it as a step and reads the answer.
func (f *Flow) fetch(ctx context.Context, stage Stage, name, method string, u *url.URL, form url.Values) (*page, error) {
	f.requests++
	if f.requests > f.cfg.MaxRequests {
		return nil, f.fail(stage, KindRedirectLoop, fmt.Sprintf("gave up after %d requests without reaching %s: the chain does not end (last %s)", f.cfg.MaxRequests, SafeURL(f.start), SafeURL(u)), nil)
	}
	key := method + " " + u.String()
	f.visits[key]++
	if f.visits[key] >= loopVisits {
		return nil, f.fail(stage, KindRedirectLoop, fmt.Sprintf("%s %s %s reached %d times", SayRedirectLoop, method, SafeURL(u), f.visits[key]), nil)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, f.fail(stage, KindUnexpected, fmt.Sprintf("%s %s: cannot build the request", method, SafeURL(u)), nil)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	step := Step{Stage: stage, Name: name, Method: method, URL: SafeURL(u)}
	began := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		step.Duration = time.Since(began)
		f.record(step)
		return nil, f.fail(stage, KindTransport, fmt.Sprintf("%s %s (%s)", method, SafeURL(u), name), stripURL(err))
	}
	defer resp.Body.Close()
	// Cookie values are secrets from the moment they arrive: a later error
	// or a page that echoes them must not show them.
	for _, c := range resp.Cookies() {
		f.red.Add(c.Value)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	step.Status, step.Duration = resp.StatusCode, time.Since(began)
	f.record(step)
	if err != nil {
		return nil, f.fail(stage, KindTransport, fmt.Sprintf("%s %s: reading the answer", method, SafeURL(u)), stripURL(err))
	}
	if len(b) > MaxBody {
		return nil, f.fail(stage, KindUnexpected, fmt.Sprintf("%s %s answered more than %d bytes: not a login page", method, SafeURL(u), MaxBody), nil)
	}
	p := &page{status: resp.StatusCode, header: resp.Header, body: b, url: u}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		l, err := u.Parse(loc)
		if err != nil {
			return nil, f.fail(stage, KindUnexpected, fmt.Sprintf("%s %s redirected to an unparsable Location", method, SafeURL(u)), nil)
		}
		p.location = l
	}
	return p, nil
}

func (f *Flow) record(s Step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, s)
}

func (f *Flow) fail(stage Stage, kind Kind, msg string, cause error) error {
	e := &Error{Stage: stage, Kind: kind, Msg: f.red.String(msg), Err: cause}
	if cause != nil {
		e.Err = safeError{msg: f.red.String(cause.Error()), cause: cause}
	}
	return e
}

// safeError keeps the cause's chain for errors.As (the doctor classifies
// transport errors) while its text has been redacted.
type safeError struct {
	msg   string
	cause error
}

func (e safeError) Error() string { return e.msg }
func (e safeError) Unwrap() error { return e.cause }

// stripURL drops the *url.Error wrapper, whose text repeats the full URL with
// its query (an authorization code, a state); the flow names the URL itself.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// SafeURL renders a URL with its query keys but none of their values, and no
// user info: "http://h/oauth2/callback?code&state".
func SafeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	s := c.String()
	if u.RawQuery == "" {
		return s
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return s + "?…"
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, url.QueryEscape(k))
	}
	sort.Strings(keys)
	return s + "?" + strings.Join(keys, "&")
}

// Login paths of the gateway and of Dex. The prefixes are matched as path
// segments anywhere, so a gateway served under a prefix still counts;
// whether a URL leads into a login at all is loginurl's rule, shared with
// the KFP client.
func isDex(u *url.URL) bool         { return loginurl.HasSegment(u.Path, "dex") }
func isOAuth2Proxy(u *url.URL) bool { return loginurl.HasSegment(u.Path, "oauth2") }
func isAuthService(u *url.URL) bool { return loginurl.HasSegment(u.Path, "authservice") }
func isLogin(u *url.URL) bool       { return loginurl.Is(u) }

func isCallback(u *url.URL) bool {
	return (isOAuth2Proxy(u) && strings.HasSuffix(u.Path, "/callback")) || (isAuthService(u) && strings.HasSuffix(u.Path, "/callback"))
}

func generationOf(u *url.URL) Generation {
	switch {
	case isOAuth2Proxy(u):
		return OAuth2Proxy
	case isAuthService(u):
		return AuthService
	}
	return ""
}
