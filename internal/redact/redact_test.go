package redact

import (
	"strings"
	"sync"
	"testing"
)

func TestRedactor(t *testing.T) {
	var r Redactor
	r.Add("s3cr3t-token-value", "", "ab")
	r.AddCookies("oauth2_proxy_kubeflow=COOKIEVALUE123; other=plainvalue42")
	cases := []struct{ name, in, gone, keep string }{
		{"registered secret", "token is s3cr3t-token-value here", "s3cr3t-token-value", "token is"},
		{"cookie value", "got plainvalue42 back", "plainvalue42", "got"},
		{"session cookie shape", "Set-Cookie: authservice_session=abcdef; Path=/", "abcdef", "Set-Cookie"},
		{"jwt shape", `{"t":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}`, "eyJhbGciOiJSUzI1NiJ9", `{"t":"`},
		{"bearer shape", "Authorization: Bearer opaque-thing", "opaque-thing", "Authorization: Bearer"},
		{"bearer prose kept", "a bearer token from a file", "", "bearer token from"},
		{"password form", "login=user@example.com&password=12341234", "12341234", "login=user@example.com"},
		{"short values untouched", "ab and cd", "", "ab and cd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := r.String(c.in)
			if c.gone != "" && strings.Contains(out, c.gone) {
				t.Fatalf("%q still contains %q", out, c.gone)
			}
			if !strings.Contains(out, c.keep) {
				t.Fatalf("%q lost %q", out, c.keep)
			}
		})
	}
}

func TestRedactorConcurrent(t *testing.T) {
	var r Redactor
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Add("concurrent-secret")
			if strings.Contains(r.String("x concurrent-secret y"), "concurrent-secret") {
				t.Error("secret leaked")
			}
		}()
	}
	wg.Wait()
}
