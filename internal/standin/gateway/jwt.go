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
	"slices"
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
	fetchTimeout   = 5 * time.Second
	maxFetchedBody = 1 << 20
)

// claims is what the gateway reads of a token.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	ExpiresAt *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
}

// verifier is the RequestAuthentication: issuers, and the cluster's keys,
// fetched on first use and cached as Envoy caches a remote JWKS.
type verifier struct {
	cluster *http.Client
	host    string
	issuers []string // configured; empty means the cluster's
	now     func() time.Time

	mu      sync.Mutex
	fetched time.Time
	issuer  string // the cluster's, from discovery
	keys    []jwk
}

type jwk struct {
	kid string
	key crypto.PublicKey
}

func newVerifier(cfg *rest.Config, issuers []string, now func() time.Time) (*verifier, error) {
	v := &verifier{issuers: issuers, now: now}
	if cfg == nil {
		return v, nil
	}
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for the cluster's OIDC discovery at %s: %w", cfg.Host, err)
	}
	v.cluster, v.host = c, strings.TrimSuffix(cfg.Host, "/")
	return v, nil
}

// verify checks a token in jwt_authn's order: form, issuer, time, then the
// signature against the JWKS. It returns Envoy's failure text, or "".
func (v *verifier) verify(ctx context.Context, token string) (*claims, string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, failForm
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if !decodeJSON(parts[0], &header) || header.Alg == "" {
		return nil, failHeader
	}
	var c claims
	if !decodeJSON(parts[1], &c) {
		return nil, failPayload
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, failSignature
	}

	issuers := v.issuers
	if len(issuers) == 0 {
		// The m2m overlay's issuer is the cluster's own: discovery is
		// needed before a token's issuer can be judged.
		iss, _, err := v.clusterKeys(ctx)
		if err != nil {
			return nil, failJWKSFetch
		}
		issuers = []string{iss}
	}
	if c.Issuer == "" || !slices.Contains(issuers, c.Issuer) {
		return nil, failIssuer
	}

	now := v.now()
	if c.ExpiresAt != nil && now.After(unix(*c.ExpiresAt).Add(clockSkew)) {
		return nil, failExpired
	}
	if c.NotBefore != nil && now.Add(clockSkew).Before(unix(*c.NotBefore)) {
		return nil, failNotYet
	}

	_, keys, err := v.clusterKeys(ctx)
	if err != nil {
		return nil, failJWKSFetch
	}
	method := jwt.GetSigningMethod(header.Alg)
	if method == nil || strings.HasPrefix(header.Alg, "HS") || header.Alg == "none" {
		// A JWKS of public keys verifies no symmetric or unsigned token.
		return nil, failVerify
	}
	signed := parts[0] + "." + parts[1]
	for _, k := range keys {
		if header.Kid != "" && k.kid != "" && k.kid != header.Kid {
			continue
		}
		if method.Verify(signed, sig, k.key) == nil {
			return &c, ""
		}
	}
	return nil, failVerify
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

func decodeJSON(part string, into any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return false
	}
	return json.Unmarshal(raw, into) == nil
}

// clusterKeys returns the cluster's ServiceAccount issuer and keys, fetched
// at most once per cache period. A failed fetch is not cached, so the next
// request tries again (Envoy retries a failed remote JWKS too).
func (v *verifier) clusterKeys(ctx context.Context) (string, []jwk, error) {
	if v.cluster == nil {
		return "", nil, errors.New("no cluster to fetch the JWKS from")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.fetched.IsZero() && v.now().Sub(v.fetched) < jwksCacheFor {
		return v.issuer, v.keys, nil
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := v.get(ctx, "/.well-known/openid-configuration", &disc); err != nil {
		return "", nil, err
	}
	if disc.Issuer == "" {
		return "", nil, errors.New("OIDC discovery names no issuer")
	}
	// The apiserver's own JWKS path: discovery's jwks_uri is under the
	// issuer's host, which need not resolve from here (the overlay's jwksUri
	// points at the apiserver in the same way).
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.get(ctx, "/openid/v1/jwks", &set); err != nil {
		return "", nil, err
	}
	keys := make([]jwk, 0, len(set.Keys))
	for _, raw := range set.Keys {
		if k, err := parseJWK(raw); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", nil, errors.New("the JWKS holds no usable key")
	}
	v.issuer, v.keys, v.fetched = disc.Issuer, keys, v.now()
	return v.issuer, v.keys, nil
}

func (v *verifier) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.host+path, nil)
	if err != nil {
		return err
	}
	// The apiserver answers 406 to the JWKS asked as application/json only.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := v.cluster.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchedBody))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
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
