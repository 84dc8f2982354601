package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// issuer is an OIDC provider (Dex) whose signing key can be rotated, as a
// restarted Dex with memory storage rotates it.
type issuer struct {
	srv *httptest.Server
	mu  sync.Mutex
	key *rsa.PrivateKey
	kid string
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	is.rotate(t, "kid-1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dex/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.url(), "jwks_uri": is.srv.URL + "/dex/keys"})
	})
	mux.HandleFunc("GET /dex/keys", func(w http.ResponseWriter, _ *http.Request) {
		is.mu.Lock()
		defer is.mu.Unlock()
		b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "alg": "RS256", "kid": is.kid, "n": b64(is.key.N.Bytes()), "e": b64(big.NewInt(int64(is.key.E)).Bytes()),
		}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) url() string { return is.srv.URL + "/dex" }

func (is *issuer) rotate(t *testing.T, kid string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.key, is.kid = key, kid
	is.mu.Unlock()
}

// idToken is an ID token as Dex issues it for a static user.
func (is *issuer) idToken(t *testing.T, email string) string {
	t.Helper()
	is.mu.Lock()
	defer is.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": is.url(), "sub": "CiQwOGE4Njg0Yi1kYjg4", "aud": "kubeflow-oidc-authservice", "email": email,
		"groups": []string{"team-a", "team-b"}, "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = is.kid
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorizer is oauth2-proxy as Kubeflow's ext_authz sees it: 202 with the
// ID token for a request with the session cookie; its sign-in page (403) for
// a browser path and 401 for an API path otherwise.
func authorizer(t *testing.T, is *issuer, checks *[]*http.Request) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*checks = append(*checks, r.Clone(r.Context()))
		if c, err := r.Cookie("oauth2_proxy_kubeflow"); err == nil && c.Value == "valid" {
			w.Header().Set("Authorization", "Bearer "+is.idToken(t, "user@example.com"))
			w.Header().Set("X-Auth-Request-Email", "user@example.com")
			w.Header().Set("X-Not-For-Upstream", "x")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "oauth2_proxy_kubeflow_csrf", Value: "nonce"})
		w.Header().Set("X-Not-For-Client", "x")
		w.Header().Set("Content-Type", "text/html")
		if strings.Contains(r.URL.Path, "/apis/") { // one of Kubeflow's api_routes
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html>Sign in with Dex</html>"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGatewayOAuth2ProxyExtAuthz(t *testing.T) {
	is := newIssuer(t)
	var checks []*http.Request
	authz := authorizer(t, is, &checks)
	var got seen
	up := upstream(t, &got)
	g, err := New(Config{Upstream: up.URL, OAuth2Proxy: authz.URL, Login: LoginOAuth2Proxy, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{authorizer: hostPort(authz.URL), dexIssuer: is.url()})})
	if err != nil {
		t.Fatal(err)
	}

	// No session, a browser path: oauth2-proxy's answer goes back, with
	// only the headers Kubeflow lets through on deny.
	resp := call(t, g, "/pipeline/", nil)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Server") != "istio-envoy" ||
		resp.Header.Get("Set-Cookie") == "" || resp.Header.Get("X-Not-For-Client") != "" || body(t, resp) != "<html>Sign in with Dex</html>" {
		t.Errorf("denied: %d %v", resp.StatusCode, resp.Header)
	}
	// No session, an API path: oauth2-proxy's 401.
	if resp := call(t, g, "/pipeline/apis/v2beta1/healthz", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API path without a session: %d, want 401", resp.StatusCode)
	}
	if got.calls.Load() != 0 {
		t.Fatal("a request without a session reached KFP")
	}

	// The check carries method, path and query, Host and the cookie.
	checks = nil
	resp = call(t, g, "/pipeline/apis/v2beta1/experiments?namespace=p", map[string]string{"Cookie": "oauth2_proxy_kubeflow=valid"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with a session: %d %s", resp.StatusCode, body(t, resp))
	}
	if len(checks) != 1 || checks[0].URL.RequestURI() != "/pipeline/apis/v2beta1/experiments?namespace=p" || checks[0].Host != "localhost:8080" {
		t.Errorf("the check: %+v", checks)
	}
	// Allowed: the ID token goes upstream and its email becomes the user.
	if got.userID != "user@example.com" || got.authz == "" {
		t.Errorf("upstream saw user %q, Authorization %q", got.userID, got.authz)
	}

	// /dex/ and /oauth2/ are not checked: /dex/ has no route here (404),
	// /oauth2/ is routed to oauth2-proxy itself, once.
	checks = nil
	if resp := call(t, g, "/dex/auth", nil); resp.StatusCode != http.StatusNotFound || len(checks) != 0 {
		t.Errorf("/dex/auth: %d after %d checks", resp.StatusCode, len(checks))
	}
	_ = call(t, g, "/oauth2/start?rd=/pipeline/", nil)
	if len(checks) != 1 || checks[0].URL.Path != "/oauth2/start" {
		t.Errorf("/oauth2/start reached oauth2-proxy %d times", len(checks))
	}

	// A Bearer from an issuer nobody configured is refused by jwt_authn,
	// before any check.
	if resp := call(t, g, "/pipeline/", map[string]string{"Authorization": "Bearer " + mint(t, is.key, "https://elsewhere", time.Now().Add(time.Hour))}); resp.StatusCode != http.StatusUnauthorized || body(t, resp) != mesh.JWTUnknownIss {
		t.Errorf("foreign token: %d", resp.StatusCode)
	}
}

func TestGatewayRequiresAJWTBehindALogin(t *testing.T) {
	is := newIssuer(t)
	// An authorizer that allows without handing out a token: the
	// require-jwt policy still refuses.
	allowAll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(allowAll.Close)
	var got seen
	g, err := New(Config{Upstream: upstream(t, &got).URL, OAuth2Proxy: allowAll.URL, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{authorizer: hostPort(allowAll.URL), dexIssuer: is.url()})})
	if err != nil {
		t.Fatal(err)
	}
	if resp := call(t, g, "/pipeline/", nil); resp.StatusCode != http.StatusForbidden || body(t, resp) != "RBAC: access denied" {
		t.Errorf("no JWT behind the login: %d", resp.StatusCode)
	}
}

func TestGatewayExtAuthzUnreachable(t *testing.T) {
	is := newIssuer(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	var got seen
	g, err := New(Config{Upstream: upstream(t, &got).URL, OAuth2Proxy: deadURL, Workload: gatewayPod,
		Mesh: kubeflowMesh(t, meshOpts{authorizer: hostPort(deadURL), dexIssuer: is.url()})})
	if err != nil {
		t.Fatal(err)
	}
	// Envoy's answer when the authorization server fails: 403, no body.
	resp := call(t, g, "/pipeline/", nil)
	if resp.StatusCode != http.StatusForbidden || body(t, resp) != "" || resp.Header.Get("Server") != "istio-envoy" {
		t.Errorf("authorizer down: %d", resp.StatusCode)
	}
}

// A restarted Dex signs with a new key: the stand-in refetches the JWKS for
// the unknown kid and accepts the new token.
func TestGatewayRefetchesRotatedKeys(t *testing.T) {
	is := newIssuer(t)
	var got seen
	g, err := New(Config{Upstream: upstream(t, &got).URL, Workload: gatewayPod, Mesh: kubeflowMesh(t, meshOpts{dexIssuer: is.url()})})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func() map[string]string {
		return map[string]string{"Authorization": "Bearer " + is.idToken(t, "user@example.com")}
	}
	if resp := call(t, g, "/pipeline/", bearer()); resp.StatusCode != http.StatusOK || got.userID != "user@example.com" {
		t.Fatalf("first key: %d, user %q", resp.StatusCode, got.userID)
	}
	is.rotate(t, "kid-2")
	if resp := call(t, g, "/pipeline/", bearer()); resp.StatusCode != http.StatusOK {
		t.Errorf("after the rotation: %d %s", resp.StatusCode, body(t, resp))
	}
	// Same kid, another key: no refetch for a known kid, so it fails.
	is.mu.Lock()
	kid := is.kid
	is.mu.Unlock()
	is.rotate(t, kid)
	if resp := call(t, g, "/pipeline/", bearer()); resp.StatusCode != http.StatusUnauthorized || body(t, resp) != mesh.JWTVerifyFailed {
		t.Errorf("a known kid with another key: %d", resp.StatusCode)
	}
}
