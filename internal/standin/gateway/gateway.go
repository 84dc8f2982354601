// Package gateway is a stand-in for Kubeflow's Istio ingress gateway
// (istio-ingressgateway in istio-system), which cannot run here, as a client
// reaching /pipeline through it sees it:
//
//   - the route of Kubeflow's ml-pipeline-ui VirtualService: the URI prefix
//     /pipeline to ml-pipeline-ui.kubeflow:80, prefix kept (the UI strips it);
//     anything else gets Envoy's "no route" answer, 404 with an empty body;
//   - the RequestAuthentication of the m2m overlay: a Bearer JWT must come
//     from an accepted issuer (by default the cluster's ServiceAccount issuer)
//     and verify against the cluster's JWKS; its sub becomes kubeflow-userid
//     and the Authorization header is not forwarded;
//   - the AuthorizationPolicy that refuses a client setting kubeflow-userid
//     itself (403 "RBAC: access denied");
//   - the ext_authz hook (oauth2-proxy in Kubeflow ≥ 1.9) for requests with
//     no Authorization, left to the caller: nil means an unsecured gateway.
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

	"k8s.io/client-go/rest"
)

// ExtAuthz is Istio's CUSTOM authorization (Envoy's ext_authz) for requests
// that carry no Authorization header. It either allows the request and
// returns the headers to add upstream, or writes its own refusal (a redirect
// to the login, or 401 for /apis/) and returns false.
//
// In Kubeflow ≥ 1.9 this is oauth2-proxy in front of Dex; it belongs to the
// login work (Dex is not served by the module proxy here), so the lab runs the
// gateway with none: an unsecured gateway.
type ExtAuthz func(w http.ResponseWriter, r *http.Request) (upstream http.Header, ok bool)

// Config is the gateway's routes and policies.
type Config struct {
	// Upstream is the ml-pipeline-ui Service; default http://ml-pipeline-ui.kubeflow:80.
	Upstream string
	// Transport reaches Upstream; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Issuers are the jwtRules' issuers. Empty: the cluster's ServiceAccount
	// issuer, read from its OIDC discovery, as the m2m overlay configures it.
	Issuers []string
	// Cluster reaches the kube-apiserver whose OIDC discovery
	// (/.well-known/openid-configuration) and JWKS (/openid/v1/jwks) give the
	// issuer and the keys. Nil: every Bearer token fails as Istio's does when
	// it cannot fetch the JWKS.
	Cluster *rest.Config
	// ExtAuthz decides requests without Authorization; nil lets them through
	// with no identity (KFP then answers that there is no identity header).
	ExtAuthz ExtAuthz
	// UpstreamTimeout bounds a proxied call; default 300 s, the timeout of
	// Kubeflow's ml-pipeline-ui VirtualService.
	UpstreamTimeout time.Duration
	// Now is the clock for exp/nbf; default time.Now.
	Now func() time.Time
}

const (
	defaultUpstream = "http://ml-pipeline-ui.kubeflow:80"
	// routePrefix is the VirtualService's uri prefix match: a plain string
	// prefix, as Envoy matches it (so /pipelines matches too).
	routePrefix            = "/pipeline"
	defaultUpstreamTimeout = 300 * time.Second
	// UserIDHeader is where the m2m overlay puts the token's sub.
	UserIDHeader = "kubeflow-userid"
	// Caps: Envoy buffers no body, but a stand-in must bound what it passes.
	maxRequestBody  = 32 << 20
	maxResponseBody = 64 << 20
)

// ConfigFromEnv reads the stand-in's settings from the gateway pod's env
// (the real gateway gets them from istiod; the fixture declares them there):
// JWT_ISSUERS, a comma-separated list of accepted issuers (empty: the
// cluster's own), and KFP_UI_URL, the ml-pipeline-ui Service URL.
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	cfg := Config{Upstream: defaultUpstream}
	if v, ok := lookup("KFP_UI_URL"); ok && strings.TrimSpace(v) != "" {
		cfg.Upstream = strings.TrimSpace(v)
	}
	if v, ok := lookup("JWT_ISSUERS"); ok {
		for _, iss := range strings.Split(v, ",") {
			if iss = strings.TrimSpace(iss); iss != "" {
				cfg.Issuers = append(cfg.Issuers, iss)
			}
		}
	}
	return cfg
}

type gateway struct {
	upstream *url.URL
	proxy    *httputil.ReverseProxy
	jwt      *verifier
	extAuthz ExtAuthz
	timeout  time.Duration
}

// New returns the gateway's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Upstream == "" {
		cfg.Upstream = defaultUpstream
	}
	up, err := url.Parse(strings.TrimSuffix(cfg.Upstream, "/"))
	if err != nil || up.Host == "" || (up.Scheme != "http" && up.Scheme != "https") {
		return nil, fmt.Errorf("gateway upstream %q: want an http(s) URL", cfg.Upstream)
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
	jv, err := newVerifier(cfg.Cluster, cfg.Issuers, cfg.Now)
	if err != nil {
		return nil, err
	}
	g := &gateway{upstream: up, jwt: jv, extAuthz: cfg.ExtAuthz, timeout: cfg.UpstreamTimeout}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(g.upstream)
			// The route keeps the path as the client sent it (/pipeline
			// included) and the client's authority, as Envoy does.
			pr.Out.URL.Path, pr.Out.URL.RawPath = g.upstream.Path+pr.In.URL.Path, g.upstream.EscapedPath()+pr.In.URL.EscapedPath()
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: cfg.Transport,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("Server", "istio-envoy")
			resp.Body = limitedBody{io.LimitReader(resp.Body, maxResponseBody), resp.Body}
			return nil
		},
		ErrorHandler: upstreamError,
	}
	return g, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// ServeHTTP runs Envoy's filters in their order: jwt_authn
// (RequestAuthentication), ext_authz (CUSTOM), rbac (DENY), then the router.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Whether the client itself set the identity: the deny policy looks at
	// what the client sent, not at what the gateway adds.
	selfSet := r.Header.Values(UserIDHeader) != nil
	var identity string
	var extra http.Header
	authz := r.Header.Get("Authorization")
	switch token, ok := bearer(authz); {
	case ok:
		claims, failure := g.jwt.verify(r.Context(), token)
		if failure != "" {
			// Envoy's jwt_authn refusal: plain text and a Bearer challenge.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s%s", error="invalid_token"`, r.Host, r.URL.Path))
			plain(w, http.StatusUnauthorized, failure)
			return
		}
		identity = claims.Subject
	case authz == "" && g.extAuthz != nil:
		// Envoy stamps the external authorizer's refusal as its own too.
		w.Header().Set("Server", "istio-envoy")
		var allowed bool
		if extra, allowed = g.extAuthz(w, r); !allowed {
			return
		}
		w.Header().Del("Server") // the proxied reply sets it
	}
	if selfSet {
		plain(w, http.StatusForbidden, "RBAC: access denied")
		return
	}
	if !strings.HasPrefix(r.URL.Path, routePrefix) {
		// Envoy's "no route": 404, empty body.
		w.Header().Set("Server", "istio-envoy")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	out := r.Clone(ctx)
	if ok := isBearer(authz); ok {
		// The m2m overlay does not set forwardOriginalToken: the verified
		// token stops at the gateway; KFP sees the header identity.
		out.Header.Del("Authorization")
	}
	if identity != "" {
		out.Header.Set(UserIDHeader, identity)
	}
	for k, vs := range extra {
		out.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if r.Body != nil {
		out.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	}
	g.proxy.ServeHTTP(w, out)
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

func isBearer(authz string) bool {
	_, ok := bearer(authz)
	return ok
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
