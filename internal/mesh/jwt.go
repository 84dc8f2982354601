package mesh

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	secv1beta1 "istio.io/api/security/v1beta1"
)

// Envoy's jwt_authn failure texts (jwt_verify_lib's status strings): the
// body of its 401. The doctor's classifier and explain match them.
const (
	JWTMalformed    = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	JWTBadHeader    = "Jwt header is an invalid JSON"
	JWTBadPayload   = "Jwt payload is an invalid JSON"
	JWTBadSignature = "Jwt signature is an invalid Base64url encoded"
	JWTUnknownIss   = "Jwt issuer is not configured"
	JWTAudience     = "Audiences in Jwt are not allowed"
	JWTExpired      = "Jwt is expired"
	JWTNotYetValid  = "Jwt not yet valid"
	JWKSFetchFailed = "Jwks remote fetch is failed"
	JWTNoKey        = "Jwks doesn't have key to match kid or alg from Jwt"
	JWTVerifyFailed = "Jwt verification fails"
)

const (
	clockSkew      = 60 * time.Second // Envoy's default clock_skew_seconds
	jwksCacheFor   = 10 * time.Minute // how long fetched keys are used
	refetchAfter   = time.Second      // the least time between refetches for an unknown kid
	fetchTimeout   = 5 * time.Second
	maxFetchedBody = 1 << 20
)

// JWTRule is one jwtRules entry with the RequestAuthentication it is from.
type JWTRule struct {
	From Ref
	Spec *secv1beta1.JWTRule
}

// JWTRules lists the jwtRules of every RequestAuthentication selecting w,
// merged as Istio merges them for one workload.
func (c *Config) JWTRules(w Workload) []JWTRule {
	var rules []JWTRule
	for i := range c.RequestAuthentications {
		ra := &c.RequestAuthentications[i]
		targeted := ra.Spec.GetTargetRef() != nil || len(ra.Spec.GetTargetRefs()) > 0
		if !c.selects(ra.Namespace, ra.Spec.GetSelector(), targeted, w) {
			continue
		}
		for _, r := range ra.Spec.GetJwtRules() {
			rules = append(rules, JWTRule{From: ra.Ref, Spec: r})
		}
	}
	return rules
}

// Authn is what RequestAuthentication made of a request.
type Authn struct {
	// Identity is the verified token; nil when the request carried none.
	Identity *Identity
	// Failure is Envoy's text when a token was presented and refused: the
	// request is answered 401 and goes no further.
	Failure string
	// Rule is the RequestAuthentication whose jwtRule decided (verified
	// the token, or failed it past the issuer check).
	Rule *Ref
	// Issuer is the token's iss as read (unverified), for the doctor.
	Issuer string
}

// Authenticator verifies tokens against jwtRules: it fetches and caches
// each rule's key set (jwks inline, jwksUri, or the issuer's OIDC
// discovery) through Client, which stands for the proxy's view of the
// network.
type Authenticator struct {
	Client *http.Client
	Now    func() time.Time

	mu   sync.Mutex
	sets map[string]*keySet
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// location is where a rule looks for a token: a header with a prefix, a
// query parameter, or a cookie (JWTRule's fromHeaders, fromParams,
// fromCookies; with none of them, the Authorization header's Bearer value
// and the access_token parameter).
type location struct {
	header, prefix, param, cookie string
}

func locations(r *secv1beta1.JWTRule) []location {
	var locs []location
	for _, h := range r.GetFromHeaders() {
		locs = append(locs, location{header: h.GetName(), prefix: h.GetPrefix()})
	}
	for _, p := range r.GetFromParams() {
		locs = append(locs, location{param: p})
	}
	for _, c := range r.GetFromCookies() {
		locs = append(locs, location{cookie: c})
	}
	if len(locs) == 0 {
		locs = []location{{header: "Authorization", prefix: "Bearer "}, {param: "access_token"}}
	}
	return locs
}

// extract returns the token at loc, if any.
func (l location) extract(r *http.Request) (string, bool) {
	switch {
	case l.header != "":
		v := r.Header.Get(l.header)
		if v == "" {
			return "", false
		}
		if l.prefix != "" {
			if len(v) < len(l.prefix) || !strings.EqualFold(v[:len(l.prefix)], l.prefix) {
				return "", false
			}
			v = v[len(l.prefix):]
		}
		v = strings.TrimSpace(v)
		return v, v != ""
	case l.param != "":
		v := r.URL.Query().Get(l.param)
		return v, v != ""
	case l.cookie != "":
		c, err := r.Cookie(l.cookie)
		if err != nil || c.Value == "" {
			return "", false
		}
		return c.Value, true
	}
	return "", false
}

// Authenticate runs RequestAuthentication on r for workload w, as Envoy's
// jwt_authn does with Istio's configuration: a request without a token
// passes with no identity ("A request that does not contain any
// authentication credentials will be accepted but will not have any
// authenticated identity"); a token is checked in jwt_verify_lib's order
// (form, issuer, audiences, time, keys, signature) and a failure is a 401.
// On success r is changed as the rule says: outputClaimToHeaders set (a
// client's own value of those headers removed), outputPayloadToHeader
// set, and the token removed from its header unless forwardOriginalToken.
func (a *Authenticator) Authenticate(ctx context.Context, rules []JWTRule, r *http.Request) Authn {
	return a.check(ctx, rules, r, true)
}

// Predict is Authenticate without the keys: every check up to the
// signature, which it assumes good. The doctor predicts with it what the
// gateway will make of a token it cannot verify itself.
func (a *Authenticator) Predict(rules []JWTRule, r *http.Request) Authn {
	return a.check(context.Background(), rules, r, false)
}

func (a *Authenticator) check(ctx context.Context, rules []JWTRule, r *http.Request, verify bool) Authn {
	var token string
	var at location
	found := false
	for _, rule := range rules {
		for _, loc := range locations(rule.Spec) {
			if t, ok := loc.extract(r); ok {
				token, at, found = t, loc, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return Authn{}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Authn{Failure: JWTMalformed}
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if !decodeJSON(parts[0], &header) || header.Alg == "" {
		return Authn{Failure: JWTBadHeader}
	}
	claims := map[string]any{}
	if !decodeJSON(parts[1], &claims) {
		return Authn{Failure: JWTBadPayload}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Authn{Failure: JWTBadSignature}
	}
	iss, _ := claims["iss"].(string)
	res := Authn{Issuer: iss}
	var rule *JWTRule
	for i := range rules {
		if iss != "" && rules[i].Spec.GetIssuer() == iss && slices.Contains(locations(rules[i].Spec), at) {
			rule = &rules[i]
			break
		}
	}
	if rule == nil {
		res.Failure = JWTUnknownIss
		return res
	}
	res.Rule = &rule.From
	if auds := rule.Spec.GetAudiences(); len(auds) > 0 && !audienceAllowed(claims["aud"], auds) {
		res.Failure = JWTAudience
		return res
	}
	now := a.now()
	if exp, ok := number(claims["exp"]); ok && now.After(time.Unix(exp, 0).Add(clockSkew)) {
		res.Failure = JWTExpired
		return res
	}
	if nbf, ok := number(claims["nbf"]); ok && now.Add(clockSkew).Before(time.Unix(nbf, 0)) {
		res.Failure = JWTNotYetValid
		return res
	}
	if verify {
		if f := a.verify(ctx, rule.Spec, header.Alg, header.Kid, parts, sig); f != "" {
			res.Failure = f
			return res
		}
	}
	sub, _ := claims["sub"].(string)
	res.Identity = &Identity{Issuer: iss, Subject: sub, Claims: claims}
	for _, out := range rule.Spec.GetOutputClaimToHeaders() {
		r.Header.Del(out.GetHeader())
		if v, ok := claimHeader(claims[out.GetClaim()]); ok {
			r.Header.Set(out.GetHeader(), v)
		}
	}
	if h := rule.Spec.GetOutputPayloadToHeader(); h != "" {
		r.Header.Set(h, parts[1])
	}
	if !rule.Spec.GetForwardOriginalToken() && at.header != "" {
		r.Header.Del(at.header)
	}
	return res
}

// verify checks the signature against the rule's keys, and returns
// Envoy's failure text or "".
func (a *Authenticator) verify(ctx context.Context, rule *secv1beta1.JWTRule, alg, kid string, parts []string, sig []byte) string {
	set, err := a.set(rule)
	if err != nil {
		return JWKSFetchFailed
	}
	keys, err := set.get(ctx)
	if err != nil {
		return JWKSFetchFailed
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || strings.HasPrefix(alg, "HS") || alg == "none" {
		// A JWKS of public keys verifies no symmetric or unsigned token.
		return JWTVerifyFailed
	}
	signed := parts[0] + "." + parts[1]
	ok := verified(method, signed, sig, kid, keys)
	if !ok && kid != "" && !hasKid(keys, kid) {
		// A kid the cached set lacks: the issuer rotated its keys (the
		// lab's Dex makes new ones at each start). Istio would fail until
		// istiod's next JWKS refresh; the layer refetches, at most once
		// per refetchAfter.
		if keys, err = set.refresh(ctx); err == nil {
			ok = verified(method, signed, sig, kid, keys)
		}
		if !ok && err == nil && !hasKid(keys, kid) {
			return JWTNoKey
		}
	}
	if !ok {
		return JWTVerifyFailed
	}
	return ""
}

// claimHeader renders a claim as outputClaimToHeaders writes it: a string
// as it is, a number or boolean in its JSON form, a list of strings joined
// with commas; anything else is not written.
func claimHeader(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, v != ""
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []any:
		var parts []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), len(parts) > 0
	}
	return "", false
}

func audienceAllowed(aud any, allowed []string) bool {
	switch aud := aud.(type) {
	case string:
		return slices.Contains(allowed, aud)
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && slices.Contains(allowed, s) {
				return true
			}
		}
	}
	return false
}

func number(v any) (int64, bool) {
	f, ok := v.(float64)
	return int64(f), ok
}

func decodeJSON(part string, into any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return false
	}
	return json.Unmarshal(raw, into) == nil
}

// set returns the cached key set of a rule: by its inline jwks, its
// jwksUri, or its issuer's discovery.
func (a *Authenticator) set(r *secv1beta1.JWTRule) (*keySet, error) {
	var key string
	var fetch func(context.Context) ([]json.RawMessage, error)
	switch {
	case r.GetJwks() != "":
		sum := sha256.Sum256([]byte(r.GetJwks()))
		key = "inline:" + hex.EncodeToString(sum[:])
		inline := r.GetJwks()
		fetch = func(context.Context) ([]json.RawMessage, error) { return parseSet([]byte(inline)) }
	case r.GetJwksUri() != "":
		key = "uri:" + r.GetJwksUri()
		uri := r.GetJwksUri()
		fetch = func(ctx context.Context) ([]json.RawMessage, error) {
			body, err := a.get(ctx, uri)
			if err != nil {
				return nil, err
			}
			return parseSet(body)
		}
	case r.GetIssuer() != "":
		key = "issuer:" + r.GetIssuer()
		issuer := r.GetIssuer()
		fetch = func(ctx context.Context) ([]json.RawMessage, error) {
			body, err := a.get(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration")
			if err != nil {
				return nil, err
			}
			var disc struct {
				JWKSURI string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(body, &disc); err != nil || disc.JWKSURI == "" {
				return nil, fmt.Errorf("%s: OIDC discovery names no jwks_uri", issuer)
			}
			if body, err = a.get(ctx, disc.JWKSURI); err != nil {
				return nil, err
			}
			return parseSet(body)
		}
	default:
		return nil, errors.New("jwtRule without issuer, jwks or jwksUri")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sets == nil {
		a.sets = map[string]*keySet{}
	}
	ks, ok := a.sets[key]
	if !ok {
		ks = &keySet{fetch: fetch, now: a.now}
		a.sets[key] = ks
	}
	return ks, nil
}

func (a *Authenticator) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// The kube-apiserver answers 406 to a JWKS asked as application/json only.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchedBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP %d", url, resp.StatusCode)
	}
	return body, nil
}

func parseSet(body []byte) ([]json.RawMessage, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding a JWKS: %w", err)
	}
	return set.Keys, nil
}

// keySet is one rule's keys, fetched on first use and cached. A failed
// fetch is not cached: the next request tries again. Requests that arrive
// while a fetch is under way wait for that one, as Envoy's requests wait
// for its pending JWKS fetch, rather than each starting its own after it:
// behind an unreachable jwksUri a burst of requests then fails together
// after one fetch timeout, not one timeout after another.
type keySet struct {
	fetch func(context.Context) ([]json.RawMessage, error)
	now   func() time.Time

	mu       sync.Mutex
	fetched  time.Time
	forced   time.Time
	keys     []jwk
	inflight *fetchCall
}

// fetchCall is one fetch and what it gave.
type fetchCall struct {
	done chan struct{}
	keys []jwk
	err  error
}

type jwk struct {
	kid string
	key crypto.PublicKey
}

func (ks *keySet) get(ctx context.Context) ([]jwk, error) {
	ks.mu.Lock()
	if !ks.fetched.IsZero() && ks.now().Sub(ks.fetched) < jwksCacheFor {
		keys := ks.keys
		ks.mu.Unlock()
		return keys, nil
	}
	call := ks.inflight
	if call == nil {
		call = &fetchCall{done: make(chan struct{})}
		ks.inflight = call
		// Not the first caller's to cancel: others wait for it too. The
		// fetch timeout bounds it.
		go ks.run(context.WithoutCancel(ctx), call)
	}
	ks.mu.Unlock()
	select {
	case <-call.done:
		return call.keys, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run fetches the keys for call and caches them if it got any.
func (ks *keySet) run(ctx context.Context, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := ks.fetchKeys(ctx)
	ks.mu.Lock()
	if err == nil {
		ks.keys, ks.fetched = keys, ks.now()
	}
	ks.inflight = nil
	ks.mu.Unlock()
	call.keys, call.err = keys, err
	close(call.done)
}

func (ks *keySet) fetchKeys(ctx context.Context) ([]jwk, error) {
	raw, err := ks.fetch(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]jwk, 0, len(raw))
	for _, r := range raw {
		if k, err := parseJWK(r); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS holds no usable key")
	}
	return keys, nil
}

func (ks *keySet) refresh(ctx context.Context) ([]jwk, error) {
	ks.mu.Lock()
	if now := ks.now(); now.Sub(ks.forced) >= refetchAfter {
		ks.fetched, ks.forced = time.Time{}, now
	}
	ks.mu.Unlock()
	return ks.get(ctx)
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

// parseJWK reads an RSA key, or an EC key on P-256/P-384/P-521.
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
