package credentials

import (
	"errors"
	"fmt"
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
	IssuedAt  time.Time
	// Kubernetes claims ("kubernetes.io": namespace, serviceaccount, pod).
	Namespace      string
	ServiceAccount string
	Pod            string
}

// ErrNotJWT is returned for a token that is not a JWT at all.
var ErrNotJWT = errors.New("not a JWT")

// InspectToken decodes a token's claims without verifying its signature.
func InspectToken(raw string) (*TokenInfo, error) {
	raw = strings.TrimSpace(raw)
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: a JWT has three dot-separated parts", ErrNotJWT)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJWT, err)
	}
	info := &TokenInfo{}
	info.Issuer, _ = claims.GetIssuer()
	info.Subject, _ = claims.GetSubject()
	if aud, err := claims.GetAudience(); err == nil {
		info.Audience = aud
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		info.ExpiresAt = exp.Time
	}
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		info.IssuedAt = iat.Time
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
