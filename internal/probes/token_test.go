package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

func TestTokenProbe(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	mint := func(aud []string, exp time.Time) string {
		tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "default-editor", Pod: "nb-0", Audience: aud, Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := []string{"pipelines.kubeflow.org"}
	// mintWith overrides claims of an otherwise valid token.
	mintWith := func(extra map[string]any) string {
		tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "default-editor", Audience: good, Expires: now.Add(time.Hour), Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name     string
		content  *string // nil: no file
		dir      bool    // the path is a directory (unreadable as a file)
		status   probe.Status
		want     kfd.ID
		contains string
	}{
		{"valid", ptr(mint(good, now.Add(2*time.Hour))), false, probe.Pass, "", "system:serviceaccount:ns-1:default-editor (bound to pod nb-0)"},
		{"missing file", nil, false, probe.Fail, kfd.NoTokenFile, "does not exist"},
		{"unreadable", nil, true, probe.Fail, kfd.NoTokenFile, "token file"},
		{"empty", ptr(""), false, probe.Fail, kfd.NoTokenFile, "empty"},
		{"not a jwt", ptr("opaque-value"), false, probe.Warn, kfd.TokenInvalid, "not a JWT"},
		{"expired", ptr(mint(good, now.Add(-time.Minute))), false, probe.Fail, kfd.Expired, "exp passed 1m0s ago"},
		{"wrong audience", ptr(mint([]string{"https://kubernetes.default.svc"}, now.Add(time.Hour))), false, probe.Warn, kfd.TokenAudience, "without pipelines.kubeflow.org"},
		{"near expiry", ptr(mint(good, now.Add(3*time.Minute))), false, probe.Warn, kfd.Expired, "expires in 3m0s"},
		// Claims of the wrong type or range: no longer "never expires" or
		// "expired in the year 292277026596".
		{"exp as a string", ptr(mintWith(map[string]any{"exp": "1900000000"})), false, probe.Fail, kfd.TokenInvalid, "exp claim is a string"},
		{"exp 1e300", ptr(mintWith(map[string]any{"exp": 1e300})), false, probe.Fail, kfd.TokenInvalid, "exp claim is 1e+300 seconds, outside any date"},
		{"aud as a number", ptr(mintWith(map[string]any{"aud": 42})), false, probe.Fail, kfd.TokenInvalid, "aud claim is a number"},
		{"nbf in the future", ptr(mintWith(map[string]any{"nbf": now.Add(time.Hour).Unix()})), false, probe.Fail, kfd.TokenInvalid, "is not valid before 2026-11-28T13:00:00Z (nbf claim), 1h0m0s from now"},
		{"iat in the future", ptr(mintWith(map[string]any{"iat": now.Add(10 * time.Minute).Unix()})), false, probe.Fail, kfd.TokenInvalid, "(iat claim), 10m0s from now"},
		{"iat within the clock leeway", ptr(mintWith(map[string]any{"iat": now.Add(30 * time.Second).Unix()})), false, probe.Pass, "", "expires in 1h0m0s"},
		{"a control byte", ptr("opaque\x01value"), false, probe.Fail, kfd.HeaderUnsafeCredential, "control byte 0x01 at position 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if c.dir {
				path = t.TempDir()
			}
			if c.content != nil {
				if err := os.WriteFile(path, []byte(*c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			target := &Target{TokenFile: &credentials.TokenFile{Path: path}, Now: func() time.Time { return now }}
			res := tokenProbe().Run(context.Background(), target)
			if res.Status != c.status || res.KFD != c.want || !strings.Contains(res.Message, c.contains) {
				t.Fatalf("got %s %s %q; want %s %s containing %q", res.Status, res.KFD, res.Message, c.status, c.want, c.contains)
			}
			if c.status != probe.Pass && c.want != kfd.NoTokenFile && c.want != kfd.HeaderUnsafeCredential && !strings.Contains(res.Message, "not verified") {
				t.Fatalf("a prediction must say it is one: %q", res.Message)
			}
		})
	}
	if res := tokenProbe().Run(context.Background(), &Target{}); res.Status != probe.Skip {
		t.Fatalf("no token: %+v", res)
	}
}

func ptr(s string) *string { return &s }
