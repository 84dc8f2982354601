// Package jwttest mints JWTs shaped like the kube-apiserver's bound
// ServiceAccount tokens, for tests that inspect tokens without verifying them.
// Tests must mint tokens, never embed them.
package jwttest

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token describes what to mint.
type Token struct {
	Namespace, ServiceAccount, Pod string
	Audience                       []string
	Expires                        time.Time
	// Extra claims, for canaries.
	Extra map[string]any
}

// Mint signs the token with a throwaway key.
func Mint(t Token) (string, error) {
	claims := jwt.MapClaims{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + t.Namespace + ":" + t.ServiceAccount,
		"aud": t.Audience,
		"exp": t.Expires.Unix(),
		"iat": t.Expires.Add(-2 * time.Hour).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      t.Namespace,
			"serviceaccount": map[string]any{"name": t.ServiceAccount},
			"pod":            map[string]any{"name": t.Pod},
		},
	}
	for k, v := range t.Extra {
		claims[k] = v
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("jwttest-throwaway-key"))
}
