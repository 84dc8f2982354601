package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is a JWKS server with one RSA key, as Dex or the cluster's
// jwks proxy serve it.
type issuer struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	kid     string
	fetches atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(is.jwks())
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) jwks() map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": is.kid, "alg": "RS256",
		"n": enc(is.key.N.Bytes()), "e": enc(big.NewInt(int64(is.key.E)).Bytes())}}}
}

func (is *issuer) mint(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = is.kid
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ra(ns, name, spec string) string {
	return "apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + spec
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	is := newIssuer(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	// The m2m and dex rules as Kubeflow writes them, with the keys at our
	// test server.
	kubeflow := ra("istio-system", "m2m-token-issuer", `  selector: {matchLabels: {app: istio-ingressgateway}}
  jwtRules:
  - issuer: https://kubernetes.default.svc.cluster.local
    jwksUri: `+is.srv.URL+`/jwks
    forwardOriginalToken: true
    outputClaimToHeaders: [{header: kubeflow-userid, claim: sub}, {header: kubeflow-groups, claim: groups}]
    fromHeaders: [{name: Authorization, prefix: "Bearer "}]`)
	cluster := func(extra map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:ns:default-editor",
			"aud": []string{"pipelines.kubeflow.org"}, "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	rows := []struct {
		name, source, policies string
		w                      Workload
		header                 http.Header
		failure                string
		principal              string
		check                  func(t *testing.T, h http.Header)
	}{
		{name: "no token: accepted without identity", source: refRA + ": \"A request that does not contain any authentication credentials will be accepted\"",
			policies: kubeflow, w: gatewayPod, header: hdr()},
		{name: "no RequestAuthentication selects the workload: the token is not looked at", source: refRA + ": selector",
			policies: kubeflow, w: apiPod, header: hdr("Authorization", "Bearer not-a-jwt")},
		{name: "malformed", source: refRA + ": \"If validation fails, the request will be rejected\" (jwt_verify_lib JwtBadFormat)",
			policies: kubeflow, w: gatewayPod, header: hdr("Authorization", "Bearer not-a-jwt"), failure: JWTMalformed},
		{name: "an issuer no rule names", source: refRA + ": issuer \"A JWT with different iss claim will be rejected.\" (Envoy: Jwt issuer is not configured)",
			policies: kubeflow, w: gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(map[string]any{"iss": "https://kubernetes.default.svc"})))},
		{name: "expired", source: refRA + " (jwt_verify_lib JwtExpired, 60 s clock skew)",
			policies: kubeflow, w: gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}))), failure: JWTExpired},
		{name: "within the clock skew", source: "Envoy jwt_authn clock_skew_seconds default 60",
			policies: kubeflow, w: gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))),
			principal: "https://kubernetes.default.svc.cluster.local/system:serviceaccount:ns:default-editor"},
		{name: "the JWKS cannot be fetched", source: refRA + ": jwksUri (Envoy: Jwks remote fetch is failed)",
			policies: ra("istio-system", "m2m", "  jwtRules: [{issuer: https://kubernetes.default.svc.cluster.local, jwksUri: "+goneURL+"/jwks}]"),
			w:        gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(nil))), failure: JWKSFetchFailed},
		{name: "a signature by another key", source: refRA + " (jwt_verify_lib JwtVerificationFail)",
			policies: ra("istio-system", "m2m", "  jwtRules: [{issuer: https://kubernetes.default.svc.cluster.local, jwksUri: "+is.srv.URL+"/jwks}]"),
			w:        gatewayPod, header: hdr("Authorization", "Bearer "+forged(t, cluster(nil))), failure: JWTVerifyFailed},
		{name: "audiences", source: refRA + ": audiences \"A JWT containing any of these audiences will be accepted.\"",
			policies: ra("istio-system", "aud", "  jwtRules: [{issuer: https://kubernetes.default.svc.cluster.local, jwksUri: "+is.srv.URL+"/jwks, audiences: [other]}]"),
			w:        gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(nil))), failure: JWTAudience},
		{name: "valid: outputClaimToHeaders, the token forwarded", source: refRA + ": outputClaimToHeaders, forwardOriginalToken: true (" + refKF + " m2m)",
			policies: kubeflow, w: gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(nil)), "kubeflow-userid", "admin@example.com", "kubeflow-groups", "admins"),
			principal: "https://kubernetes.default.svc.cluster.local/system:serviceaccount:ns:default-editor",
			check: func(t *testing.T, h http.Header) {
				if got := h.Values("kubeflow-userid"); len(got) != 1 || got[0] != "system:serviceaccount:ns:default-editor" {
					t.Fatalf("kubeflow-userid %q: the claim must replace the client's value", got)
				}
				if got := h.Values("kubeflow-groups"); len(got) != 0 {
					t.Fatalf("kubeflow-groups %q: a token without groups must not keep the client's", got)
				}
				if h.Get("Authorization") == "" {
					t.Fatal("forwardOriginalToken: true removed the token")
				}
			}},
		{name: "valid: the token removed without forwardOriginalToken", source: refRA + ": forwardOriginalToken (false: \"the original token is stripped\")",
			policies: ra("istio-system", "dex", "  jwtRules: [{issuer: https://kubernetes.default.svc.cluster.local, jwksUri: "+is.srv.URL+"/jwks, outputPayloadToHeader: x-jwt-payload}]"),
			w:        gatewayPod, header: hdr("Authorization", "Bearer "+is.mint(t, cluster(nil))),
			principal: "https://kubernetes.default.svc.cluster.local/system:serviceaccount:ns:default-editor",
			check: func(t *testing.T, h http.Header) {
				if h.Get("Authorization") != "" || h.Get("x-jwt-payload") == "" {
					t.Fatalf("headers %v", h)
				}
			}},
		{name: "fromHeaders: a token elsewhere is not looked for", source: refRA + ": fromHeaders (x-jwt-assertion)",
			policies: ra("foo", "h", "  jwtRules: [{issuer: https://kubernetes.default.svc.cluster.local, jwksUri: "+is.srv.URL+"/jwks, fromHeaders: [{name: x-jwt-assertion}]}]"),
			w:        httpbin, header: hdr("x-jwt-assertion", is.mint(t, cluster(nil)), "Authorization", "Bearer junk"),
			principal: "https://kubernetes.default.svc.cluster.local/system:serviceaccount:ns:default-editor"},
		{name: "keys from the issuer's OIDC discovery", source: refRA + ": jwksUri \"Optional if the key set document can ... be retrieved from OpenID Discovery\"",
			policies: ra("foo", "d", "  jwtRules: [{issuer: "+is.srv.URL+"}]"),
			w:        httpbin, header: hdr("Authorization", "Bearer "+is.mint(t, jwt.MapClaims{"iss": is.srv.URL, "sub": "u1", "exp": now.Add(time.Hour).Unix()})),
			principal: is.srv.URL + "/u1"},
		{name: "inline jwks", source: refRA + ": jwks \"JSON Web Key Set of public keys\"",
			policies: ra("foo", "i", "  jwtRules: [{issuer: inline, jwks: '"+mustJSON(t, is.jwks())+"'}]"),
			w:        httpbin, header: hdr("Authorization", "Bearer "+is.mint(t, jwt.MapClaims{"iss": "inline", "sub": "u2"})),
			principal: "inline/u2"},
	}
	rows[3].failure = JWTUnknownIss
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := config(t, row.policies)
			a := &Authenticator{Client: &http.Client{Timeout: 2 * time.Second}, Now: func() time.Time { return now }}
			r := httptest.NewRequest("GET", "http://gw/pipeline/apis/v2beta1/experiments", nil)
			r.Header = row.header
			res := a.Authenticate(context.Background(), c.JWTRules(row.w), r)
			if res.Failure != row.failure {
				t.Fatalf("failure %q, want %q (source: %s)", res.Failure, row.failure, row.source)
			}
			got := ""
			if res.Identity != nil {
				got = res.Identity.Principal()
			}
			if got != row.principal {
				t.Fatalf("principal %q, want %q (source: %s)", got, row.principal, row.source)
			}
			if row.check != nil {
				row.check(t, r.Header)
			}
		})
	}
}

// A rotated key (a new kid) is fetched again, at most once a second.
func TestRotatedKeys(t *testing.T) {
	now := time.Now()
	is := newIssuer(t)
	c := config(t, ra("foo", "r", "  jwtRules: [{issuer: x, jwksUri: "+is.srv.URL+"/jwks}]"))
	a := &Authenticator{Now: func() time.Time { return now }}
	call := func() string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+is.mint(t, jwt.MapClaims{"iss": "x", "sub": "s"}))
		return a.Authenticate(context.Background(), c.JWTRules(httpbin), r).Failure
	}
	if f := call(); f != "" {
		t.Fatal(f)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	is.key, is.kid = key, "k2"
	if f := call(); f != "" {
		t.Fatalf("after rotation: %s", f)
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Rotated again two seconds later: one refetch serves both calls.
	now = now.Add(2 * time.Second)
	is.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	is.kid = "k3"
	if f := call(); f != "" {
		t.Fatalf("after the second rotation: %s", f)
	}
	// A kid the issuer does not serve, within the second: no refetch.
	is.kid = "k4"
	if f := call(); f != JWTNoKey {
		t.Fatalf("unknown kid: %q, want %q", f, JWTNoKey)
	}
	is.kid = "k3"
	if n := is.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches within a second, want 3", n)
	}
}

func forged(t *testing.T, claims jwt.MapClaims) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "'", "''")
}

// EC keys (some issuers publish ES256) parse back to the same public key, and
// a point off the curve is refused.
func TestParseECJWK(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, err := priv.PublicKey.Bytes() // 0x04‖X‖Y
		if err != nil {
			t.Fatal(err)
		}
		size := (curve.Params().BitSize + 7) / 8
		enc := base64.RawURLEncoding.EncodeToString
		raw, _ := json.Marshal(map[string]string{"kty": "EC", "kid": "k1", "crv": curve.Params().Name,
			"x": enc(point[1 : 1+size]), "y": enc(point[1+size:])})
		k, err := parseJWK(raw)
		if err != nil {
			t.Fatalf("%s: %v", curve.Params().Name, err)
		}
		if pub, ok := k.key.(*ecdsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) {
			t.Fatalf("%s: parsed key differs", curve.Params().Name)
		}
		bad, _ := json.Marshal(map[string]string{"kty": "EC", "kid": "k2", "crv": curve.Params().Name,
			"x": enc(point[1 : 1+size]), "y": enc(point[1 : 1+size])})
		if _, err := parseJWK(bad); err == nil {
			t.Fatalf("%s: a point off the curve was accepted", curve.Params().Name)
		}
	}
}

// Requests that come while the JWKS fetch hangs share that one fetch and
// its failure, so a burst behind an unreachable jwksUri waits one fetch
// timeout, not one per request in turn; the next request after it tries
// again.
func TestConcurrentRequestsShareAFetch(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		http.Error(w, "unreachable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := config(t, ra("foo", "r", "  jwtRules: [{issuer: x, jwksUri: "+srv.URL+"/jwks}]"))
	a := &Authenticator{}
	const n = 5
	failures := make(chan string, n)
	for range n {
		go func() {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+forged(t, jwt.MapClaims{"iss": "x", "sub": "s"}))
			failures <- a.Authenticate(context.Background(), c.JWTRules(httpbin), r).Failure
		}()
	}
	// Every request is waiting once the one fetch has arrived and no
	// second one has: give stragglers the chance to start a fetch of their
	// own (they must not) by waiting for the first to be in.
	deadline := time.Now().Add(5 * time.Second)
	for fetches.Load() == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	close(release)
	for range n {
		if f := <-failures; f != JWKSFetchFailed {
			t.Errorf("failure %q, want %q", f, JWKSFetchFailed)
		}
	}
	if got := fetches.Load(); got < 1 || got >= n {
		t.Errorf("%d fetches for %d concurrent requests, want them shared", got, n)
	}
	// A failed fetch is not kept: the next request fetches again.
	before := fetches.Load()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+forged(t, jwt.MapClaims{"iss": "x", "sub": "s"}))
	if f := a.Authenticate(context.Background(), c.JWTRules(httpbin), r).Failure; f != JWKSFetchFailed || fetches.Load() != before+1 {
		t.Errorf("after the failed fetch: %q with %d fetches, want a new one", f, fetches.Load()-before)
	}
}
