// Package gateway is a stand-in for Kubeflow's Istio ingress gateway
// (istio-ingressgateway in istio-system), which cannot run here, as a client
// reaching Kubeflow through it sees it. Its filters are Envoy's, in the
// order Istio builds them, and its policies are the cluster's objects as the
// control plane (internal/standin/istiod) reads them — the semantics are
// internal/mesh's, shared with the sidecars and the doctor:
//
//   - ext_authz: a CUSTOM AuthorizationPolicy that selects the gateway and
//     matches the request (Kubeflow's istio-ingressgateway-oauth2-proxy: no
//     Authorization header, not /dex/ or /oauth2/) hands it to the extension
//     provider the mesh config names (envoyExtAuthzHttp: oauth2-proxy), or,
//     for Kubeflow ≤ 1.8 (LOGIN=authservice), to the oidc-authservice
//     stand-in in its place (authservice.go);
//   - jwt_authn: the RequestAuthentications selecting the gateway (dex-jwt,
//     m2m-token-issuer): a token of an issuer they name must verify against
//     its keys, or Envoy's 401 answers; its claims go to the headers they
//     name (email or sub → kubeflow-userid);
//   - rbac: the DENY and ALLOW policies selecting the gateway
//     (istio-ingressgateway-require-jwt, istio-ingressgateway, and the
//     mesh-wide global-deny-all): 403 "RBAC: access denied";
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
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// ExtAuthz is Istio's CUSTOM authorization (Envoy's ext_authz) in place of
// the provider: it either allows the request and returns the headers to add
// upstream, or writes its own refusal and returns false (tests).
type ExtAuthz func(w http.ResponseWriter, r *http.Request) (upstream http.Header, ok bool)

// MeshSource is the control plane: the mesh's objects, now.
type MeshSource interface {
	Config() *mesh.Config
}

// Config is the gateway's routes and where its policies come from.
type Config struct {
	// Upstream is the ml-pipeline-ui Service; default http://ml-pipeline-ui.kubeflow:80.
	Upstream string
	// Dex and OAuth2Proxy are the Services behind /dex/ and /oauth2/; empty
	// means no such route.
	Dex, OAuth2Proxy string
	// Transport reaches the routes' Services, the extension provider and
	// the JWKS; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Mesh gives the policies, RequestAuthentications and providers; Workload
	// is the gateway's own pod as they select it.
	Mesh     MeshSource
	Workload mesh.Workload
	// Port is the container port requests arrive on; default 8080.
	Port int
	// Login is what stands in Envoy's ext_authz filter: LoginOAuth2Proxy
	// (the default: the provider a CUSTOM policy names, as the mesh config
	// declares it), LoginAuthService (Kubeflow ≤ 1.8), or LoginNone (no
	// ext_authz filter: CUSTOM policies check nothing).
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
	defaultPort     = 8080
	// routePrefix is the KFP VirtualService's uri prefix match: a plain
	// string prefix, as Envoy matches it (so /pipelines matches too).
	routePrefix            = "/pipeline"
	defaultUpstreamTimeout = 300 * time.Second
	// UserIDHeader is where the jwtRules put the user.
	UserIDHeader = kubeflow.UserIDHeader
	// Caps: Envoy buffers no body, but a stand-in must bound what it passes.
	maxRequestBody  = 32 << 20
	maxResponseBody = 64 << 20
	extAuthzTimeout = 10 * time.Second
)

// ConfigFromEnv reads the stand-in's routes from the gateway pod's env (the
// real gateway gets them from istiod's VirtualServices; the fixture declares
// them there): KFP_UI_URL, DEX_URL and OAUTH2_PROXY_URL; LOGIN, what stands
// in Envoy's ext_authz filter (oauth2-proxy, authservice or none); and for
// authservice its Dex client, AUTHSERVICE_CLIENT_ID and
// AUTHSERVICE_CLIENT_SECRET. The policies are the cluster's, not the env's.
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	cfg := Config{Upstream: defaultUpstream, Dex: get("DEX_URL"), OAuth2Proxy: get("OAUTH2_PROXY_URL"), Login: get("LOGIN"),
		AuthService: AuthServiceConfig{ClientID: get("AUTHSERVICE_CLIENT_ID"), ClientSecret: get("AUTHSERVICE_CLIENT_SECRET")}}
	if v := get("KFP_UI_URL"); v != "" {
		cfg.Upstream = v
	}
	return cfg
}

type route struct {
	prefix string
	proxy  *httputil.ReverseProxy
}

type gateway struct {
	routes    []route // longest prefix first
	mesh      MeshSource
	workload  mesh.Workload
	port      int
	authn     *mesh.Authenticator
	login     string
	extAuthz  ExtAuthz
	transport http.RoundTripper
	timeout   time.Duration
	authsvc   *authService
}

// New returns the gateway's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Mesh == nil {
		return nil, errors.New("gateway: no control plane to read the mesh's policies from")
	}
	if cfg.Upstream == "" {
		cfg.Upstream = defaultUpstream
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = defaultUpstreamTimeout
	}
	if cfg.Port == 0 {
		cfg.Port = defaultPort
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Login == "" {
		cfg.Login = LoginOAuth2Proxy
	}
	g := &gateway{mesh: cfg.Mesh, workload: cfg.Workload, port: cfg.Port, login: cfg.Login, transport: cfg.Transport,
		timeout: cfg.UpstreamTimeout, extAuthz: cfg.ExtAuthz,
		authn: &mesh.Authenticator{Client: &http.Client{Transport: cfg.Transport}, Now: cfg.Now}}
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
	case LoginNone, LoginOAuth2Proxy:
	case LoginAuthService:
		if cfg.Dex == "" {
			return nil, errors.New("gateway: LOGIN=authservice needs DEX_URL")
		}
		g.authsvc = newAuthService(cfg.AuthService, cfg.Dex, g, cfg.Transport)
	default:
		return nil, fmt.Errorf("gateway: LOGIN %q: want oauth2-proxy, authservice or none", cfg.Login)
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

// ServeHTTP runs Envoy's filters in Istio's order: ext_authz (CUSTOM),
// jwt_authn (RequestAuthentication), rbac (DENY, ALLOW), then the router.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.authsvc != nil && strings.HasPrefix(r.URL.Path, authServicePrefix) {
		g.authsvc.serveCallback(w, r)
		return
	}
	cfg := g.mesh.Config()
	if cfg == nil {
		// Envoy without its configuration does not listen.
		mesh.WriteLocal(w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	out := r.Clone(r.Context())
	req := mesh.Request{Method: r.Method, Host: r.Host, Path: r.URL.RequestURI(), Header: out.Header, Port: g.port}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.SourceIP = ap.Addr()
	}
	if provider, _, ok := cfg.Custom(g.workload, &req); ok && g.login != LoginNone {
		if !g.customCheck(w, out, cfg, provider) {
			return
		}
	}
	if res := cfg.Filter(r.Context(), g.authn, g.workload, req, w, out); !res.Allowed() {
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
		w.Header().Set("Server", mesh.Server)
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

// customCheck is the ext_authz filter: the CUSTOM provider decides, and on
// allow its headers go on with out.
func (g *gateway) customCheck(w http.ResponseWriter, out *http.Request, cfg *mesh.Config, provider string) bool {
	var check ExtAuthz
	switch {
	case g.extAuthz != nil:
		check = g.extAuthz
	case g.authsvc != nil:
		check = g.authsvc.check
	default:
		return mesh.ExtAuthzCheck(out.Context(), cfg, provider, g.transport, w, out)
	}
	// Envoy stamps the external authorizer's refusal as its own too.
	w.Header().Set("Server", mesh.Server)
	extra, allowed := check(w, out)
	if !allowed {
		return false
	}
	w.Header().Del("Server") // the proxied reply sets it
	for k, vs := range extra {
		out.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return true
}

// plain writes one of Envoy's local replies.
func plain(w http.ResponseWriter, status int, text string) { mesh.WriteLocal(w, status, text) }

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
