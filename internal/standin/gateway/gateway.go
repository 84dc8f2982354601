// Package gateway is a stand-in for Kubeflow's Istio ingress gateway
// (istio-ingressgateway in istio-system), which cannot run here, as a client
// reaching Kubeflow through it sees it. Its filters run in Envoy's order as
// Istio configures them for Kubeflow (common/oauth2-proxy, common/dex,
// KFP's istio config):
//
//   - ext_authz (the CUSTOM AuthorizationPolicy istio-ingressgateway-oauth2-proxy):
//     a request with no Authorization header, to any path but /dex/* and
//     /oauth2/*, is checked by oauth2-proxy as Envoy's envoyExtAuthzHttp
//     provider does it (method, path, Host, Authorization and Cookie
//     sent; on 2xx the Authorization, path and x-auth-request-* answers go
//     upstream; otherwise oauth2-proxy's answer goes back with its
//     Content-Type, Set-Cookie and Location). Kubeflow ≤ 1.8's
//     oidc-authservice is the other generation (authservice.go);
//   - jwt_authn (RequestAuthentications dex-jwt and m2m-token-issuer): a
//     Bearer JWT must come from an accepted issuer — Dex, whose email
//     becomes kubeflow-userid, or the cluster's ServiceAccount issuer,
//     whose sub does — and verify against that issuer's JWKS; the token is
//     forwarded upstream (forwardOriginalToken: true);
//   - rbac: a client setting kubeflow-userid itself is refused, and with a
//     login in front (istio-ingressgateway-require-jwt) so is any request
//     without a verified JWT, outside /dex/* and /oauth2/*: 403
//     "RBAC: access denied";
//   - the routes of the VirtualServices: /dex/ to Dex, /oauth2/ to
//     oauth2-proxy, /pipeline to ml-pipeline-ui (prefix kept, the UI strips
//     it); anything else gets Envoy's "no route", 404 with an empty body.
//
// Every answer carries "server: istio-envoy", as Envoy overwrites it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"k8s.io/client-go/rest"
)

// ExtAuthz is Istio's CUSTOM authorization (Envoy's ext_authz) for requests
// that carry no Authorization header. It either allows the request and
// returns the headers to add upstream, or writes its own refusal (a redirect
// to the login, or 401 for /apis/) and returns false.
type ExtAuthz func(w http.ResponseWriter, r *http.Request) (upstream http.Header, ok bool)

// Config is the gateway's routes and policies.
type Config struct {
	// Upstream is the ml-pipeline-ui Service; default http://ml-pipeline-ui.kubeflow:80.
	Upstream string
	// Dex and OAuth2Proxy are the Services behind /dex/ and /oauth2/; empty
	// means no such route.
	Dex, OAuth2Proxy string
	// Transport reaches the routes' Services; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Issuers are the m2m jwtRule's issuers. Empty: the cluster's
	// ServiceAccount issuer, read from its OIDC discovery, as the m2m
	// overlay configures it.
	Issuers []string
	// DexIssuer is the dex-jwt jwtRule's issuer (keys from its discovery's
	// jwks_uri, reached through Transport); empty means no such rule.
	DexIssuer string
	// Cluster reaches the kube-apiserver whose OIDC discovery
	// (/.well-known/openid-configuration) and JWKS (/openid/v1/jwks) give the
	// issuer and the keys. Nil: every cluster token fails as Istio's does
	// when it cannot fetch the JWKS.
	Cluster *rest.Config
	// Login is the ext_authz in front: LoginOAuth2Proxy (the default when
	// OAuth2Proxy is set), LoginAuthService, or LoginNone.
	Login string
	// AuthService configures the authservice generation.
	AuthService AuthServiceConfig
	// ExtAuthz, when set, replaces the ext_authz that Login names (tests).
	ExtAuthz ExtAuthz
	// UpstreamTimeout bounds a proxied call; default 300 s, the timeout of
	// Kubeflow's ml-pipeline-ui VirtualService.
	UpstreamTimeout time.Duration
	// Now is the clock for exp/nbf; default time.Now.
	Now func() time.Time
}

// The login programs the gateway can have in front.
const (
	LoginOAuth2Proxy = "oauth2-proxy" // Kubeflow ≥ 1.9
	LoginAuthService = "authservice"  // Kubeflow ≤ 1.8 (oidc-authservice)
	LoginNone        = "none"         // an unsecured gateway
)

const (
	defaultUpstream = "http://ml-pipeline-ui.kubeflow:80"
	// routePrefix is the KFP VirtualService's uri prefix match: a plain
	// string prefix, as Envoy matches it (so /pipelines matches too).
	routePrefix            = "/pipeline"
	defaultUpstreamTimeout = 300 * time.Second
	// UserIDHeader is where the jwtRules put the user; GroupsHeader the groups.
	UserIDHeader = kubeflow.UserIDHeader
	GroupsHeader = "kubeflow-groups"
	// Caps: Envoy buffers no body, but a stand-in must bound what it passes.
	maxRequestBody  = 32 << 20
	maxResponseBody = 64 << 20
	extAuthzTimeout = 10 * time.Second
)

// ConfigFromEnv reads the stand-in's settings from the gateway pod's env
// (the real gateway gets them from istiod; the fixture declares them there):
// KFP_UI_URL, DEX_URL and OAUTH2_PROXY_URL, the routes' Services; JWT_ISSUERS,
// the m2m rule's accepted issuers (comma-separated; empty: the cluster's
// own); DEX_ISSUER, the dex-jwt rule's issuer; LOGIN, the ext_authz in front
// (oauth2-proxy, authservice or none); and for authservice its Dex client,
// AUTHSERVICE_CLIENT_ID and AUTHSERVICE_CLIENT_SECRET.
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	cfg := Config{Upstream: defaultUpstream, Dex: get("DEX_URL"), OAuth2Proxy: get("OAUTH2_PROXY_URL"),
		DexIssuer: get("DEX_ISSUER"), Login: get("LOGIN"),
		AuthService: AuthServiceConfig{ClientID: get("AUTHSERVICE_CLIENT_ID"), ClientSecret: get("AUTHSERVICE_CLIENT_SECRET")}}
	if v := get("KFP_UI_URL"); v != "" {
		cfg.Upstream = v
	}
	for _, iss := range strings.Split(get("JWT_ISSUERS"), ",") {
		if iss = strings.TrimSpace(iss); iss != "" {
			cfg.Issuers = append(cfg.Issuers, iss)
		}
	}
	return cfg
}

type route struct {
	prefix string
	proxy  *httputil.ReverseProxy
}

type gateway struct {
	routes     []route // longest prefix first
	jwt        *verifier
	extAuthz   ExtAuthz
	requireJWT bool
	timeout    time.Duration
	authsvc    *authService
}

// New returns the gateway's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Upstream == "" {
		cfg.Upstream = defaultUpstream
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = defaultUpstreamTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Login == "" {
		cfg.Login = LoginNone
		if cfg.OAuth2Proxy != "" {
			cfg.Login = LoginOAuth2Proxy
		}
	}
	rules, err := clusterRules(cfg.Cluster, cfg.Issuers, cfg.Now)
	if err != nil {
		return nil, err
	}
	if cfg.DexIssuer != "" {
		rules = append([]jwtRule{oidcRule(cfg.DexIssuer, "email", cfg.Transport, cfg.Now)}, rules...)
	}
	g := &gateway{jwt: &verifier{rules: rules, now: cfg.Now}, timeout: cfg.UpstreamTimeout}
	for _, rt := range []struct{ prefix, target string }{{"/oauth2/", cfg.OAuth2Proxy}, {"/dex/", cfg.Dex}, {routePrefix, cfg.Upstream}} {
		if rt.target == "" {
			continue
		}
		p, err := newProxy(rt.target, cfg.Transport)
		if err != nil {
			return nil, err
		}
		g.routes = append(g.routes, route{rt.prefix, p})
	}
	switch cfg.Login {
	case LoginNone:
	case LoginOAuth2Proxy:
		if cfg.OAuth2Proxy == "" {
			return nil, errors.New("gateway: LOGIN=oauth2-proxy needs OAUTH2_PROXY_URL")
		}
		g.extAuthz, g.requireJWT = oauth2ProxyExtAuthz(cfg.OAuth2Proxy, cfg.Transport), true
	case LoginAuthService:
		if cfg.Dex == "" || cfg.DexIssuer == "" {
			return nil, errors.New("gateway: LOGIN=authservice needs DEX_URL and DEX_ISSUER")
		}
		g.authsvc = newAuthService(cfg.AuthService, cfg.Dex, g.jwt, cfg.Transport)
		g.extAuthz = g.authsvc.check
	default:
		return nil, fmt.Errorf("gateway: LOGIN %q: want oauth2-proxy, authservice or none", cfg.Login)
	}
	if cfg.ExtAuthz != nil {
		g.extAuthz = cfg.ExtAuthz
	}
	return g, nil
}

// newProxy is one VirtualService route's destination.
func newProxy(target string, transport http.RoundTripper) (*httputil.ReverseProxy, error) {
	up, err := url.Parse(strings.TrimSuffix(target, "/"))
	if err != nil || up.Host == "" || (up.Scheme != "http" && up.Scheme != "https") {
		return nil, fmt.Errorf("gateway route to %q: want an http(s) URL", target)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			// The route keeps the path as the client sent it (/pipeline
			// included) and the client's authority, as Envoy does.
			pr.Out.URL.Path, pr.Out.URL.RawPath = up.Path+pr.In.URL.Path, up.EscapedPath()+pr.In.URL.EscapedPath()
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("Server", "istio-envoy")
			resp.Body = limitedBody{io.LimitReader(resp.Body, maxResponseBody), resp.Body}
			return nil
		},
		ErrorHandler: upstreamError,
	}, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// isLoginPath is what the login policies leave alone: /dex/* and /oauth2/*
// (notPaths /dex/*, /dex/**, /oauth2/*), and authservice's own callback.
func isLoginPath(p string) bool {
	return strings.HasPrefix(p, "/dex/") || strings.HasPrefix(p, "/oauth2/") || strings.HasPrefix(p, authServicePrefix)
}

// ServeHTTP runs Envoy's filters in Istio's order: ext_authz (CUSTOM),
// jwt_authn (RequestAuthentication), rbac (DENY), then the router.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Whether the client itself set the identity: the deny policy looks at
	// what the client sent, not at what the gateway adds.
	selfSet := r.Header.Values(UserIDHeader) != nil
	out := r.Clone(r.Context())
	if g.authsvc != nil && strings.HasPrefix(r.URL.Path, authServicePrefix) {
		g.authsvc.serveCallback(w, r)
		return
	}
	if r.Header.Get("Authorization") == "" && g.extAuthz != nil && !isLoginPath(r.URL.Path) {
		// Envoy stamps the external authorizer's refusal as its own too.
		w.Header().Set("Server", "istio-envoy")
		extra, allowed := g.extAuthz(w, r)
		if !allowed {
			return
		}
		w.Header().Del("Server") // the proxied reply sets it
		for k, vs := range extra {
			out.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	principal := false
	authz := out.Header.Get("Authorization")
	if token, ok := bearer(authz); ok {
		c, rule, failure := g.jwt.verify(r.Context(), token)
		if failure != "" {
			// Envoy's jwt_authn refusal: plain text and a Bearer challenge.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s%s", error="invalid_token"`, r.Host, r.URL.Path))
			plain(w, http.StatusUnauthorized, failure)
			return
		}
		principal = true
		// outputClaimToHeaders; the token itself goes on
		// (forwardOriginalToken: true in both of Kubeflow's rules).
		if v := c.claim(rule.userClaim); v != "" {
			out.Header.Set(UserIDHeader, v)
		}
		if v := c.claim("groups"); v != "" {
			out.Header.Set(GroupsHeader, v)
		}
	}
	if selfSet || (g.requireJWT && !principal && !isLoginPath(r.URL.Path)) {
		plain(w, http.StatusForbidden, "RBAC: access denied")
		return
	}
	var proxy *httputil.ReverseProxy
	for _, rt := range g.routes {
		if strings.HasPrefix(r.URL.Path, rt.prefix) {
			proxy = rt.proxy
			break
		}
	}
	if proxy == nil {
		// Envoy's "no route": 404, empty body.
		w.Header().Set("Server", "istio-envoy")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	out = out.WithContext(ctx)
	if r.Body != nil {
		out.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	}
	proxy.ServeHTTP(w, out)
}

// bearer extracts the token as Istio's default JWT location does:
// the Authorization header with the "Bearer " prefix.
func bearer(authz string) (string, bool) {
	const prefix = "Bearer "
	if len(authz) < len(prefix) || !strings.EqualFold(authz[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(authz[len(prefix):]), true
}

// plain writes one of Envoy's local replies: plain text, server istio-envoy.
func plain(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Server", "istio-envoy")
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(text)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// upstreamError answers as Envoy does when the upstream fails: 504 for the
// route timeout, 503 with its connect-failure text otherwise.
func upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil {
		plain(w, http.StatusGatewayTimeout, "upstream request timeout")
		return
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		plain(w, http.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	plain(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
}
