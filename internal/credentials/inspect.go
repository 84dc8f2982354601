package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenInfo is what a token says about itself. Nothing here is verified: the
// doctor uses it to predict what the server will say, and says so.
type TokenInfo struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time // zero when the token never expires (legacy secrets)
	IssuedAt  time.Time // zero when absent
	NotBefore time.Time // zero when absent
	// Kubernetes claims ("kubernetes.io": namespace, serviceaccount, pod).
	Namespace      string
	ServiceAccount string
	Pod            string
}

// ErrNotJWT is returned for a token that is not a JWT at all.
var ErrNotJWT = errors.New("not a JWT")

// ErrBadClaim is returned for a JWT whose registered claims have the wrong
// type or an impossible value. No kube-apiserver mints such a token, and its
// validation decodes exp, iat and nbf as NumericDate and aud as a string or a
// list of strings, so KFP's TokenReview will not accept it.
var ErrBadClaim = errors.New("malformed claim")

// maxNumericDate is the last second of the year 9999: a date beyond it is no
// expiry anyone meant, and 1e300 used to read as "expired in the year
// 292277026596".
const maxNumericDate = 253402300799

// InspectToken decodes a token's claims without verifying its signature, and
// checks the type and range of exp, iat, nbf and aud.
func InspectToken(raw string) (*TokenInfo, error) {
	raw = strings.TrimSpace(raw)
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: a JWT has three dot-separated parts", ErrNotJWT)
	}
	claims := jwt.MapClaims{}
	// Numbers stay json.Number, so a range check sees what was written.
	if _, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(raw, claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJWT, err)
	}
	info := &TokenInfo{}
	info.Issuer, _ = claims["iss"].(string)
	info.Subject, _ = claims["sub"].(string)
	var err error
	if info.Audience, err = audience(claims["aud"]); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		to   *time.Time
	}{{"exp", &info.ExpiresAt}, {"iat", &info.IssuedAt}, {"nbf", &info.NotBefore}} {
		if *d.to, err = numericDate(d.name, claims[d.name]); err != nil {
			return nil, err
		}
	}
	if k8s, ok := claims["kubernetes.io"].(map[string]any); ok {
		info.Namespace, _ = k8s["namespace"].(string)
		if sa, ok := k8s["serviceaccount"].(map[string]any); ok {
			info.ServiceAccount, _ = sa["name"].(string)
		}
		if pod, ok := k8s["pod"].(map[string]any); ok {
			info.Pod, _ = pod["name"].(string)
		}
	}
	// Legacy secret-based tokens carry flat claims instead.
	if info.Namespace == "" {
		info.Namespace, _ = claims["kubernetes.io/serviceaccount/namespace"].(string)
	}
	if info.ServiceAccount == "" {
		info.ServiceAccount, _ = claims["kubernetes.io/serviceaccount/service-account.name"].(string)
	}
	return info, nil
}

// HasAudience reports whether the token names aud.
func (t *TokenInfo) HasAudience(aud string) bool { return slices.Contains(t.Audience, aud) }

// Who is the identity the token claims, as Kubernetes would name it.
func (t *TokenInfo) Who() string {
	if t.Namespace != "" && t.ServiceAccount != "" {
		return fmt.Sprintf("system:serviceaccount:%s:%s", t.Namespace, t.ServiceAccount)
	}
	if t.Subject != "" {
		return t.Subject
	}
	return "an unnamed subject"
}

// numericDate reads an RFC 7519 NumericDate claim: absent or null is the zero
// time; anything but a number of seconds between 1970 and the year 9999 is
// an error naming the claim and what it holds.
func numericDate(name string, v any) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: the token's %s claim is %s, not a number of seconds since 1970 (RFC 7519 NumericDate)", ErrBadClaim, name, kindOf(v))
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%w: the token's %s claim is %s seconds, outside any date (0 to %d, the end of the year 9999)", ErrBadClaim, name, short(n.String()), maxNumericDate)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// audience reads aud: a string or a list of strings (RFC 7519 §4.1.3).
func audience(v any) ([]string, error) {
	switch a := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, 0, len(a))
		for i, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: item %d of the token's aud claim is %s, not a string", ErrBadClaim, i+1, kindOf(x))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: the token's aud claim is %s, not a string or a list of strings", ErrBadClaim, kindOf(v))
}

// kindOf names a JSON value's type, never its content (a claim may hold
// anything, including a secret).
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "true or false"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}

// short keeps a number's text readable in a message.
func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
