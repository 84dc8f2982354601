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
	"k8s.io/client-go/rest"
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

func (c *cluster) config() *rest.Config { return &rest.Config{Host: c.srv.URL} }

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
	for _, tc := range []struct {
		name       string
		path       string
		header     map[string]string
		status     int
		text       string // the gateway's own answer; "" for a proxied one
		proxied    bool
		wantUserID string
	}{
		{name: "valid token: sub becomes kubeflow-userid, Authorization forwarded", path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(time.Hour))},
			status: 200, proxied: true, wantUserID: "system:serviceaccount:kubeflow-user-example-com:default-editor"},
		{name: "foreign issuer", path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, other, "https://issuer.example.com", now.Add(time.Hour))},
			status: 401, text: "Jwt issuer is not configured"},
		{name: "right issuer, another key", path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, other, clusterIssuer, now.Add(time.Hour))},
			status: 401, text: "Jwt verification fails"},
		{name: "expired beyond the clock skew", path: experiments,
			header: map[string]string{"Authorization": "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(-2*time.Minute))},
			status: 401, text: "Jwt is expired"},
		{name: "not a JWT", path: experiments,
			header: map[string]string{"Authorization": "Bearer not-a-jwt"},
			status: 401, text: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"},
		{name: "self-set kubeflow-userid", path: experiments,
			header: map[string]string{UserIDHeader: "user@example.com"},
			status: 403, text: "RBAC: access denied"},
		{name: "self-set kubeflow-userid beside a valid token", path: experiments,
			header: map[string]string{UserIDHeader: "user@example.com", "Authorization": "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(time.Hour))},
			status: 403, text: "RBAC: access denied"},
		{name: "no credentials on an unsecured gateway: forwarded with no identity", path: experiments,
			status: 200, proxied: true},
		{name: "no route without /pipeline", path: "/apis/v2beta1/experiments",
			header: map[string]string{"Authorization": "Bearer " + mint(t, cl.key, clusterIssuer, now.Add(time.Hour))},
			status: 404, text: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got seen
			up := upstream(t, &got)
			g, err := New(Config{Upstream: up.URL, Cluster: cl.config()})
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

func TestConfiguredIssuersAndJWKSCache(t *testing.T) {
	cl := newCluster(t)
	var got seen
	up := upstream(t, &got)
	// An overlay configured for …svc while the cluster issues …svc.cluster.local
	// (the mismatch behind KFD007).
	g, err := New(Config{Upstream: up.URL, Cluster: cl.config(), Issuers: []string{"https://kubernetes.default.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, cl.key, clusterIssuer, time.Now().Add(time.Hour))
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", map[string]string{"Authorization": "Bearer " + tok})
	if b := body(t, resp); resp.StatusCode != 401 || b != "Jwt issuer is not configured" {
		t.Fatalf("got %d %q, want 401 Jwt issuer is not configured", resp.StatusCode, b)
	}

	g, err = New(Config{Upstream: up.URL, Cluster: cl.config(), Issuers: []string{clusterIssuer}})
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
	g, err := New(Config{Upstream: up.URL, Cluster: cl.config()})
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
	g, err := New(Config{Upstream: up.URL, ExtAuthz: deny})
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
	g, err := New(Config{Upstream: up.URL})
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
	g, err := New(Config{Upstream: up.URL, UpstreamTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, g, "/pipeline/apis/v2beta1/healthz", nil)
	if b := body(t, resp); resp.StatusCode != 504 || b != "upstream request timeout" {
		t.Fatalf("got %d %q, want 504 upstream request timeout", resp.StatusCode, b)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"JWT_ISSUERS": " https://a , ,https://b"}
	cfg := ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if len(cfg.Issuers) != 2 || cfg.Issuers[0] != "https://a" || cfg.Issuers[1] != "https://b" || cfg.Upstream != defaultUpstream {
		t.Fatalf("got %+v", cfg)
	}
	if _, err := New(Config{Upstream: "ml-pipeline-ui"}); err == nil {
		t.Error("an upstream without scheme and host was accepted")
	}
}
