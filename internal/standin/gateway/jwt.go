package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/client-go/rest"
)

// Envoy's jwt_authn failure texts (jwt_verify_lib's status strings), which
// the doctor's classifier matches.
const (
	failForm       = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	failHeader     = "Jwt header is an invalid JSON"
	failPayload    = "Jwt payload is an invalid JSON"
	failSignature  = "Jwt signature is an invalid Base64url encoded"
	failIssuer     = "Jwt issuer is not configured"
	failExpired    = "Jwt is expired"
	failNotYet     = "Jwt not yet valid"
	failJWKSFetch  = "Jwks remote fetch is failed"
	failVerify     = "Jwt verification fails"
	clockSkew      = 60 * time.Second // Envoy's default clock_skew_seconds
	jwksCacheFor   = 10 * time.Minute // Envoy's default JWKS cache_duration
	refetchAfter   = time.Second      // the least time between refetches on an unknown kid
	fetchTimeout   = 5 * time.Second
	maxFetchedBody = 1 << 20
)

// claims is what the gateway reads of a token.
type claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Email     string          `json:"email"`
	Groups    json.RawMessage `json:"groups"`
	ExpiresAt *float64        `json:"exp"`
	NotBefore *float64        `json:"nbf"`
}

// claim is a claim's value as outputClaimToHeaders writes it: a string as
// it is, a list joined with commas.
func (c *claims) claim(name string) string {
	switch name {
	case "sub":
		return c.Subject
	case "email":
		return c.Email
	case "groups":
		var list []string
		if json.Unmarshal(c.Groups, &list) == nil {
			return strings.Join(list, ",")
		}
		var one string
		_ = json.Unmarshal(c.Groups, &one)
		return one
	}
	return ""
}

// jwtRule is one of a RequestAuthentication's jwtRules: an issuer, where
// its keys are, and which claim becomes kubeflow-userid.
type jwtRule struct {
	// issuer is fixed, or "" for the cluster's own (the m2m overlay's),
	// known once its discovery has been read.
	issuer string
	// userClaim is the claim output to kubeflow-userid: sub for the m2m
	// overlay, email for Kubeflow's dex-jwt.
	userClaim string
	keys      *keySet
}

// keySet is a remote JWKS, fetched on first use and cached as Envoy caches
// it. A failed fetch is not cached, so the next request tries again (Envoy
// retries a failed remote JWKS too).
type keySet struct {
	// fetch returns the issuer its discovery names and the raw keys.
	fetch func(ctx context.Context) (string, []json.RawMessage, error)
	now   func() time.Time

	mu      sync.Mutex
	fetched time.Time
	forced  time.Time // the last refetch for an unknown kid
	issuer  string
	keys    []jwk
}

type jwk struct {
	kid string
	key crypto.PublicKey
}

// verifier is the gateway's RequestAuthentications.
type verifier struct {
	rules []jwtRule
	now   func() time.Time
}

// clusterRules is the m2m overlay's rule: issuers as configured, or the
// cluster's own; keys from the cluster's /openid/v1/jwks.
func clusterRules(cfg *rest.Config, issuers []string, now func() time.Time) ([]jwtRule, error) {
	ks := &keySet{now: now, fetch: func(context.Context) (string, []json.RawMessage, error) {
		return "", nil, errors.New("no cluster to fetch the JWKS from")
	}}
	if cfg != nil {
		c, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("client for the cluster's OIDC discovery at %s: %w", cfg.Host, err)
		}
		host := strings.TrimSuffix(cfg.Host, "/")
		ks.fetch = func(ctx context.Context) (string, []json.RawMessage, error) {
			var disc struct {
				Issuer string `json:"issuer"`
			}
			if err := getJSON(ctx, c, host+"/.well-known/openid-configuration", &disc); err != nil {
				return "", nil, err
			}
			// The apiserver's own JWKS path: discovery's jwks_uri is under
			// the issuer's host, which need not resolve from here (the
			// overlay's jwksUri points at the apiserver in the same way).
			var set struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if err := getJSON(ctx, c, host+"/openid/v1/jwks", &set); err != nil {
				return "", nil, err
			}
			return disc.Issuer, set.Keys, nil
		}
	}
	if len(issuers) == 0 {
		return []jwtRule{{userClaim: "sub", keys: ks}}, nil
	}
	rules := make([]jwtRule, 0, len(issuers))
	for _, iss := range issuers {
		rules = append(rules, jwtRule{issuer: iss, userClaim: "sub", keys: ks})
	}
	return rules, nil
}

// oidcRule is a jwtRule for an OIDC issuer (Dex): its keys are at the
// jwks_uri of its discovery, reached through transport.
func oidcRule(issuer, userClaim string, transport http.RoundTripper, now func() time.Time) jwtRule {
	c := &http.Client{Transport: transport, Timeout: fetchTimeout}
	return jwtRule{issuer: issuer, userClaim: userClaim, keys: &keySet{now: now, fetch: func(ctx context.Context) (string, []json.RawMessage, error) {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, c, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
			return "", nil, err
		}
		if disc.JWKSURI == "" {
			return "", nil, errors.New("OIDC discovery names no jwks_uri")
		}
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := getJSON(ctx, c, disc.JWKSURI, &set); err != nil {
			return "", nil, err
		}
		return disc.Issuer, set.Keys, nil
	}}}
}

// verify checks a token in jwt_authn's order: form, issuer, time, then the
// signature against the issuer's JWKS. It returns the claims and the rule
// that accepted them, or Envoy's failure text.
func (v *verifier) verify(ctx context.Context, token string) (*claims, *jwtRule, string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, failForm
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if !decodeJSON(parts[0], &header) || header.Alg == "" {
		return nil, nil, failHeader
	}
	var c claims
	if !decodeJSON(parts[1], &c) {
		return nil, nil, failPayload
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, failSignature
	}

	var rule *jwtRule
	for i := range v.rules {
		r := &v.rules[i]
		iss := r.issuer
		if iss == "" {
			// The cluster's issuer: discovery is needed before a token's
			// issuer can be judged.
			if iss, _, err = r.keys.get(ctx); err != nil {
				return nil, nil, failJWKSFetch
			}
		}
		if c.Issuer != "" && c.Issuer == iss {
			rule = r
			break
		}
	}
	if rule == nil {
		return nil, nil, failIssuer
	}

	now := v.now()
	if c.ExpiresAt != nil && now.After(unix(*c.ExpiresAt).Add(clockSkew)) {
		return nil, nil, failExpired
	}
	if c.NotBefore != nil && now.Add(clockSkew).Before(unix(*c.NotBefore)) {
		return nil, nil, failNotYet
	}

	_, keys, err := rule.keys.get(ctx)
	if err != nil {
		return nil, nil, failJWKSFetch
	}
	method := jwt.GetSigningMethod(header.Alg)
	if method == nil || strings.HasPrefix(header.Alg, "HS") || header.Alg == "none" {
		// A JWKS of public keys verifies no symmetric or unsigned token.
		return nil, nil, failVerify
	}
	signed := parts[0] + "." + parts[1]
	if verified(method, signed, sig, header.Kid, keys) {
		return &c, rule, ""
	}
	// A kid the cached set lacks: the issuer rotated its keys (Dex makes
	// new ones at each start of the lab's memory storage). Envoy would
	// fail until istiod pushes the new JWKS; the stand-in refetches, at
	// most once per refetchAfter, so a lab's restarted Dex is usable.
	if header.Kid != "" && !hasKid(keys, header.Kid) {
		if keys, err = rule.keys.refresh(ctx); err == nil && verified(method, signed, sig, header.Kid, keys) {
			return &c, rule, ""
		}
	}
	return nil, nil, failVerify
}

func verified(method jwt.SigningMethod, signed string, sig []byte, kid string, keys []jwk) bool {
	for _, k := range keys {
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		if method.Verify(signed, sig, k.key) == nil {
			return true
		}
	}
	return false
}

func hasKid(keys []jwk, kid string) bool {
	for _, k := range keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

func decodeJSON(part string, into any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return false
	}
	return json.Unmarshal(raw, into) == nil
}

// get returns the set's issuer and keys, fetched at most once per cache
// period.
func (ks *keySet) get(ctx context.Context) (string, []jwk, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if !ks.fetched.IsZero() && ks.now().Sub(ks.fetched) < jwksCacheFor {
		return ks.issuer, ks.keys, nil
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	issuer, raw, err := ks.fetch(ctx)
	if err != nil {
		return "", nil, err
	}
	if issuer == "" {
		return "", nil, errors.New("OIDC discovery names no issuer")
	}
	keys := make([]jwk, 0, len(raw))
	for _, r := range raw {
		if k, err := parseJWK(r); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", nil, errors.New("the JWKS holds no usable key")
	}
	ks.issuer, ks.keys, ks.fetched = issuer, keys, ks.now()
	return ks.issuer, ks.keys, nil
}

// refresh fetches the set again unless it was fetched less than
// refetchAfter ago, and returns the keys it then has.
func (ks *keySet) refresh(ctx context.Context) ([]jwk, error) {
	ks.mu.Lock()
	if now := ks.now(); now.Sub(ks.forced) >= refetchAfter {
		ks.fetched, ks.forced = time.Time{}, now
	}
	ks.mu.Unlock()
	_, keys, err := ks.get(ctx)
	return keys, err
}

func getJSON(ctx context.Context, c *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The apiserver answers 406 to the JWKS asked as application/json only.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchedBody))
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}

// parseJWK reads the public keys a kube-apiserver publishes: RSA, or EC on
// P-256/P-384/P-521.
func parseJWK(raw json.RawMessage) (jwk, error) {
	var k struct {
		Kty, Kid, N, E, Crv, X, Y string
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return jwk{}, err
	}
	num := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("bad key number: %v", err)
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		n, err := num(k.N)
		if err != nil {
			return jwk{}, err
		}
		e, err := num(k.E)
		if err != nil || !e.IsInt64() || e.Int64() > 1<<31-1 {
			return jwk{}, errors.New("bad RSA exponent")
		}
		return jwk{kid: k.Kid, key: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return jwk{}, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		// The uncompressed point 0x04‖X‖Y, each coordinate padded to the
		// field size, is what ecdsa parses and validates (on the curve).
		size := (curve.Params().BitSize + 7) / 8
		point := []byte{4}
		for _, c := range []string{k.X, k.Y} {
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil || len(b) > size {
				return jwk{}, fmt.Errorf("bad EC coordinate in key %q", k.Kid)
			}
			point = append(point, make([]byte, size-len(b))...)
			point = append(point, b...)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return jwk{}, fmt.Errorf("EC key %q: %w", k.Kid, err)
		}
		return jwk{kid: k.Kid, key: pub}, nil
	}
	return jwk{}, fmt.Errorf("unsupported key type %q", k.Kty)
}
