package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

const clusterIssuer = "https://kubernetes.default.svc.cluster.local"

// cluster serves a kube-apiserver's OIDC discovery and JWKS with a key
// generated for the test, and counts JWKS fetches.
type cluster struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	fetches atomic.Int32
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": clusterIssuer, "jwks_uri": clusterIssuer + "/openid/v1/jwks"})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		c.fetches.Add(1)
		b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test-kid",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

// staticMesh is a control plane with a fixed snapshot.
type staticMesh struct{ cfg *mesh.Config }

func (s staticMesh) Config() *mesh.Config { return s.cfg }

// gatewayPod is the gateway as Kubeflow's policies select it.
var gatewayPod = mesh.Workload{Namespace: "istio-system", Labels: map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}}

// meshOpts say which of Kubeflow's gateway objects a test's mesh holds.
type meshOpts struct {
	authorizer string // host:port of oauth2-proxy's ext_authz; "" for no login policies (CUSTOM, require-jwt)
	dexIssuer  string // the dex-jwt rule's issuer; "" for none
	m2mIssuer  string // the m2m rule's issuer; "" for none
	m2mJWKS    string // its jwksUri
}

// kubeflowMesh is the gateway's part of Kubeflow's mesh objects
// (fixtures/kfp/multi-user/90-mesh.yaml), pointed at the test's servers.
func kubeflowMesh(t *testing.T, o meshOpts) staticMesh {
	t.Helper()
	docs := []string{
		`{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: global-deny-all, namespace: istio-system}, spec: {}}`,
		`{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: istio-ingressgateway, namespace: istio-system},
		  spec: {action: ALLOW, selector: {matchLabels: {app: istio-ingressgateway, istio: ingressgateway}}, rules: [{}]}}`,
	}
	if o.authorizer != "" {
		host, port, _ := strings.Cut(o.authorizer, ":")
		docs = append(docs,
			`{apiVersion: v1, kind: ConfigMap, metadata: {name: istio, namespace: istio-system}, data: {mesh: "extensionProviders:\n- name: oauth2-proxy\n  envoyExtAuthzHttp:\n    service: `+host+`\n    port: `+port+`\n    headersToDownstreamOnDeny: [content-type, set-cookie]\n    headersToUpstreamOnAllow: [authorization, path, x-auth-request-email, x-auth-request-groups, x-auth-request-user]\n    includeRequestHeadersInCheck: [authorization, cookie]"}}`,
			`{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: istio-ingressgateway-oauth2-proxy, namespace: istio-system},
			  spec: {action: CUSTOM, provider: {name: oauth2-proxy}, selector: {matchLabels: {app: istio-ingressgateway}},
			    rules: [{when: [{key: "request.headers[authorization]", notValues: ["*"]}], to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]}]}}`,
			`{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: istio-ingressgateway-require-jwt, namespace: istio-system},
			  spec: {action: DENY, selector: {matchLabels: {app: istio-ingressgateway}},
			    rules: [{from: [{source: {notRequestPrincipals: ["*"]}}], to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]}]}}`)
	}
	if o.dexIssuer != "" {
		docs = append(docs, `{apiVersion: security.istio.io/v1beta1, kind: RequestAuthentication, metadata: {name: dex-jwt, namespace: istio-system},
		  spec: {selector: {matchLabels: {app: istio-ingressgateway}}, jwtRules: [{issuer: "`+o.dexIssuer+`", forwardOriginalToken: true,
		    outputClaimToHeaders: [{header: kubeflow-userid, claim: email}, {header: kubeflow-groups, claim: groups}], fromHeaders: [{name: Authorization, prefix: "Bearer "}]}]}}`)
	}
	if o.m2mIssuer != "" {
		docs = append(docs, `{apiVersion: security.istio.io/v1beta1, kind: RequestAuthentication, metadata: {name: m2m-token-issuer, namespace: istio-system},
		  spec: {selector: {matchLabels: {app: istio-ingressgateway}}, jwtRules: [{issuer: "`+o.m2mIssuer+`", jwksUri: "`+o.m2mJWKS+`", forwardOriginalToken: true,
		    outputClaimToHeaders: [{header: kubeflow-userid, claim: sub}, {header: kubeflow-groups, claim: groups}], fromHeaders: [{name: Authorization, prefix: "Bearer "}]}]}}`)
	}
	var objs []*unstructured.Unstructured
	for _, d := range docs {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	c := mesh.FromObjects(objs)
	if len(c.Invalid) > 0 {
		t.Fatal(c.Invalid)
	}
	return staticMesh{c}
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

// mint signs a ServiceAccount-shaped token; iss and exp can be overridden.
func mint(t *testing.T, key *rsa.PrivateKey, iss string, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "sub": "system:serviceaccount:kubeflow-user-example-com:default-editor",
		"aud": []string{clusterIssuer}, "exp": exp.Unix(), "iat": exp.Add(-time.Hour).Unix(),
	})
	tok.Header["kid"] = "test-kid"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seen is what the upstream (ml-pipeline-ui) received.
type seen struct {
	path, userID, authz, host string
	calls                     atomic.Int32
}

func upstream(t *testing.T, got *seen) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.calls.Add(1)
		got.path, got.userID, got.authz, got.host = r.URL.Path, r.Header.Get(UserIDHeader), r.Header.Get("Authorization"), r.Host
		w.Header().Set("Server", "node")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, h http.Handler, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGatewayPolicies(t *testing.T) {
	cl := newCluster(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const experiments = "/pipeline/apis/v2beta1/experiments"
	secured := meshOpts{authorizer: "127.0.0.1:9", m2mIssuer: clusterIssuer, m2mJWKS: cl.srv.URL + "/openid/v1/jwks"}
	unsecured := meshOpts{m2mIssuer: clusterIssuer, m2mJWKS: cl.srv.URL + "/openid/v1/jwks"}
	valid := "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(time.Hour))
	for _, tc := range []struct {
		name       string
		mesh       meshOpts
		path       string
		header     map[string]string
		status     int
		text       string // the gateway's own answer; "" for a proxied one
		proxied    bool
		wantUserID string
	}{
		{name: "valid token: sub becomes kubeflow-userid, Authorization forwarded", mesh: secured, path: experiments,
			header: map[string]string{"Authorization": valid},
			status: 200, proxied: true, wantUserID: "system:serviceaccount:kubeflow-user-example-com:default-editor"},
		{name: "foreign issuer", mesh: secured, path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, other, "https://issuer.example.com", now.Add(time.Hour))},
			status: 401, text: "Jwt issuer is not configured"},
		{name: "right issuer, another key", mesh: secured, path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, other, clusterIssuer, now.Add(time.Hour))},
			status: 401, text: "Jwt verification fails"},
		{name: "expired beyond the clock skew", mesh: secured, path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(-2*time.Minute))},
			status: 401, text: "Jwt is expired"},
		{name: "not a JWT", mesh: secured, path: experiments,
			header: map[string]string{"Authorization": "Bearer not-a-jwt"},
			status: 401, text: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"},
		// require-jwt: a request with no verified JWT is refused, whatever
		// header it sets itself.
		{name: "self-set kubeflow-userid, no token", mesh: secured, path: experiments,
			header: map[string]string{UserIDHeader: "user@example.com", "Authorization": "Basic eA=="},
			status: 403, text: "RBAC: access denied"},
		// outputClaimToHeaders: the token's sub replaces the client's value.
		{name: "self-set kubeflow-userid beside a valid token: the claim wins", mesh: secured, path: experiments,
			header: map[string]string{UserIDHeader: "admin@example.com", "Authorization": valid},
			status: 200, proxied: true, wantUserID: "system:serviceaccount:kubeflow-user-example-com:default-editor"},
		{name: "no credentials on an unsecured gateway: forwarded with no identity", mesh: unsecured, path: experiments,
			status: 200, proxied: true},
		{name: "no route without /pipeline", mesh: secured, path: "/apis/v2beta1/experiments",
			header: map[string]string{"Authorization": valid},
			status: 404, text: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got seen
			up := upstream(t, &got)
			g, err := New(Config{Upstream: up.URL, Mesh: kubeflowMesh(t, tc.mesh), Workload: gatewayPod})
			if err != nil {
				t.Fatal(err)
			}
			resp := call(t, g, tc.path, tc.header)
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, b)
			}
			if s := resp.Header.Get("Server"); s != "istio-envoy" {
				t.Errorf("server %q, want istio-envoy", s)
			}
			if tc.proxied != (got.calls.Load() == 1) {
				t.Fatalf("upstream called %d times, want proxied=%t", got.calls.Load(), tc.proxied)
			}
			if !tc.proxied {
				if b != tc.text {
					t.Errorf("body %q, want %q", b, tc.text)
				}
				if tc.text != "" && resp.Header.Get("Content-Type") != "text/plain" {
					t.Errorf("content-type %q, want text/plain", resp.Header.Get("Content-Type"))
				}
				if tc.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("401 without Envoy's Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
				}
				return
			}
			if got.path != tc.path {
				t.Errorf("upstream path %q, want %q (the prefix is kept)", got.path, tc.path)
			}
			if got.userID != tc.wantUserID {
				t.Errorf("upstream kubeflow-userid %q, want %q", got.userID, tc.wantUserID)
			}
			// forwardOriginalToken: true, as Kubeflow's m2m rule sets it.
			if want := tc.header["Authorization"]; got.authz != want {
				t.Errorf("upstream Authorization %q, want the client's %q", got.authz, want)
			}
			if got.host != "localhost:8080" {
				t.Errorf("upstream host %q, want the client's authority", got.host)
			}
		})
	}
}

// The m2m rule's issuer is read from the cluster's object: one naming
// …svc while the cluster issues …svc.cluster.local is KFD007's mismatch.
// The JWKS is fetched once for many requests.
func TestIssuerFromTheObjectAndJWKSCache(t *testing.T) {
	cl := newCluster(t)
	var got seen
	up := upstream(t, &got)
	g, err := New(Config{Upstream: up.URL, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{m2mIssuer: "https://kubernetes.default.svc", m2mJWKS: cl.srv.URL + "/openid/v1/jwks"})})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, cl.key, clusterIssuer, time.Now().Add(time.Hour))
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", map[string]string{"Authorization": "Bearer " + tok})
	if b := body(t, resp); resp.StatusCode != 401 || b != "Jwt issuer is not configured" {
		t.Fatalf("got %d %q, want 401 Jwt issuer is not configured", resp.StatusCode, b)
	}
	g, err = New(Config{Upstream: up.URL, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{m2mIssuer: clusterIssuer, m2mJWKS: cl.srv.URL + "/openid/v1/jwks"})})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if resp := call(t, g, "/pipeline/apis/v2beta1/healthz", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	if n := cl.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for three requests, want once (cached)", n)
	}
}

func TestJWKSUnreachable(t *testing.T) {
	cl := newCluster(t)
	tok := mint(t, cl.key, clusterIssuer, time.Now().Add(time.Hour))
	cl.srv.Close()
	var got seen
	up := upstream(t, &got)
	g, err := New(Config{Upstream: up.URL, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{m2mIssuer: clusterIssuer, m2mJWKS: cl.srv.URL + "/openid/v1/jwks"})})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", map[string]string{"Authorization": "Bearer " + tok})
	if b := body(t, resp); resp.StatusCode != 401 || b != "Jwks remote fetch is failed" {
		t.Fatalf("got %d %q, want 401 Jwks remote fetch is failed", resp.StatusCode, b)
	}
}

func TestExtAuthzHook(t *testing.T) {
	var got seen
	up := upstream(t, &got)
	deny := func(w http.ResponseWriter, r *http.Request) (http.Header, bool) {
		if r.Header.Get("Cookie") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return nil, false
		}
		return http.Header{"X-Auth-Request-Email": {"user@example.com"}}, true
	}
	// The login policies without require-jwt: what the hook allows goes on.
	m := kubeflowMesh(t, meshOpts{authorizer: "127.0.0.1:9"})
	var keep []mesh.AuthorizationPolicy
	for _, p := range m.cfg.AuthorizationPolicies {
		if p.Name != "istio-ingressgateway-require-jwt" {
			keep = append(keep, p)
		}
	}
	m.cfg.AuthorizationPolicies = keep
	g, err := New(Config{Upstream: up.URL, ExtAuthz: deny, Mesh: m, Workload: gatewayPod})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, g, "/pipeline/apis/v2beta1/experiments", nil)
	if resp.StatusCode != 401 || got.calls.Load() != 0 || resp.Header.Get("Server") != "istio-envoy" {
		t.Fatalf("without a session: %d (server %q), upstream calls %d; want 401 from istio-envoy and none", resp.StatusCode, resp.Header.Get("Server"), got.calls.Load())
	}
	resp = call(t, g, "/pipeline/apis/v2beta1/experiments", map[string]string{"Cookie": "session=x"})
	if resp.StatusCode != 200 || got.calls.Load() != 1 {
		t.Fatalf("with a session: %d, upstream calls %d; want 200 and one", resp.StatusCode, got.calls.Load())
	}
	if s := resp.Header.Values("Server"); len(s) != 1 || s[0] != "istio-envoy" {
		t.Errorf("server %q, want one istio-envoy", s)
	}
}

func TestUpstreamDown(t *testing.T) {
	var got seen
	up := upstream(t, &got)
	up.Close()
	g, err := New(Config{Upstream: up.URL, Mesh: kubeflowMesh(t, meshOpts{}), Workload: gatewayPod})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", nil)
	if b := body(t, resp); resp.StatusCode != 503 || !strings.HasPrefix(b, "upstream connect error") {
		t.Fatalf("got %d %q, want Envoy's 503 upstream connect error", resp.StatusCode, b)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	g, err := New(Config{Upstream: up.URL, UpstreamTimeout: 50 * time.Millisecond, Mesh: kubeflowMesh(t, meshOpts{}), Workload: gatewayPod})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", nil)
	if b := body(t, resp); resp.StatusCode != 504 || b != "upstream request timeout" {
		t.Fatalf("got %d %q, want 504 upstream request timeout", resp.StatusCode, b)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"LOGIN": "authservice", "DEX_URL": "http://dex.auth:5556"}
	cfg := ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if cfg.Login != LoginAuthService || cfg.Dex != "http://dex.auth:5556" || cfg.Upstream != defaultUpstream {
		t.Fatalf("got %+v", cfg)
	}
	if _, err := New(Config{Upstream: "ml-pipeline-ui", Mesh: staticMesh{}}); err == nil {
		t.Error("an upstream without scheme and host was accepted")
	}
	if _, err := New(Config{Upstream: "http://ui"}); err == nil {
		t.Error("a gateway without a control plane was accepted")
	}
}
