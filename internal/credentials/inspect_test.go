package credentials

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// exp, iat, nbf and aud are checked for type and range, each failure with a
// message naming the claim and what it holds (never its content).
func TestInspectTokenChecksClaims(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	with := func(claim string, v any) string {
		c := boundClaims([]string{"pipelines.kubeflow.org"}, exp)
		if v == nil {
			delete(c, claim)
		} else {
			c[claim] = v
		}
		return mint(t, c)
	}
	cases := []struct {
		name, token string
		says        string // "" for a token that inspects
	}{
		{"exp 1e300", with("exp", 1e300), "exp claim is 1e+300 seconds, outside any date"},
		{"exp negative", with("exp", -5), "exp claim is -5 seconds, outside any date"},
		{"exp as a string", with("exp", "1900000000"), "exp claim is a string, not a number of seconds"},
		{"exp as a list", with("exp", []any{1}), "exp claim is a list"},
		{"exp absent", with("exp", nil), ""},
		{"exp fractional", with("exp", float64(exp.Unix())+0.5), ""},
		{"iat as true", with("iat", true), "iat claim is true or false"},
		{"nbf as an object", with("nbf", map[string]any{"a": 1}), "nbf claim is an object"},
		{"nbf 1e20", with("nbf", 1e20), "nbf claim is 100000000000000000000 seconds"},
		{"aud as a number", with("aud", 42), "aud claim is a number, not a string or a list of strings"},
		{"aud list with a number", with("aud", []any{"pipelines.kubeflow.org", 7}), "item 2 of the token's aud claim is a number"},
		{"aud as a string", with("aud", "pipelines.kubeflow.org"), ""},
		{"aud absent", with("aud", nil), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := InspectToken(c.token)
			if c.says == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadClaim) || !strings.Contains(err.Error(), c.says) || info != nil {
				t.Fatalf("err = %v, want ErrBadClaim saying %q", err, c.says)
			}
		})
	}
	// The claims are read in full: nbf and a fractional exp come through.
	c := boundClaims([]string{"a"}, exp)
	c["nbf"] = float64(exp.Add(-time.Hour).Unix())
	c["exp"] = float64(exp.Unix()) + 0.25
	info, err := InspectToken(mint(t, c))
	if err != nil || !info.NotBefore.Equal(time.Unix(exp.Add(-time.Hour).Unix(), 0)) || info.ExpiresAt.Nanosecond() != 250000000 {
		t.Fatalf("info = %+v, %v", info, err)
	}
}
