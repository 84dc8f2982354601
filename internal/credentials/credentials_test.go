package credentials

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// mint signs a token like the kube-apiserver's bound tokens (the key does not
// matter: nothing here verifies signatures).
func mint(t testing.TB, claims jwt.MapClaims) string { // claims vary more here than jwttest allows
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("test-signing-key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func boundClaims(aud any, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:ns-1:default-editor",
		"aud": aud,
		"exp": exp.Unix(),
		"iat": exp.Add(-2 * time.Hour).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "ns-1",
			"serviceaccount": map[string]any{"name": "default-editor", "uid": "u1"},
			"pod":            map[string]any{"name": "notebook-0", "uid": "u2"},
		},
	}
}

func TestInspectToken(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	info, err := InspectToken(mint(t, boundClaims([]string{"pipelines.kubeflow.org"}, exp)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Who() != "system:serviceaccount:ns-1:default-editor" || info.Pod != "notebook-0" ||
		!info.HasAudience("pipelines.kubeflow.org") || !info.ExpiresAt.Equal(exp) {
		t.Fatalf("info = %+v", info)
	}
	// A single string audience, as some issuers write it.
	info, err = InspectToken(mint(t, boundClaims("pipelines.kubeflow.org", exp)))
	if err != nil || !info.HasAudience("pipelines.kubeflow.org") {
		t.Fatalf("string aud: %+v %v", info, err)
	}
	// Legacy secret tokens: flat claims, no expiry.
	legacy := mint(t, jwt.MapClaims{"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ns-2:default-editor",
		"kubernetes.io/serviceaccount/namespace": "ns-2", "kubernetes.io/serviceaccount/service-account.name": "default-editor"})
	info, err = InspectToken(legacy)
	if err != nil || info.Who() != "system:serviceaccount:ns-2:default-editor" || !info.ExpiresAt.IsZero() {
		t.Fatalf("legacy: %+v %v", info, err)
	}
	for _, bad := range []string{"", "not-a-jwt", "a.b", "a.b.c", "eyJ.eyJ.x", strings.Repeat(".", 2)} {
		if _, err := InspectToken(bad); !errors.Is(err, ErrNotJWT) {
			t.Errorf("InspectToken(%q) = %v, want ErrNotJWT", bad, err)
		}
	}
}

func TestTokenFileIsReadOnEveryRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	var red redact.Redactor
	tf := &TokenFile{Path: path, Redactor: &red}
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)

	if err := tf.Apply(req); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: %v", err)
	}
	for _, tok := range []string{"first-token-value", "rotated-token-value"} {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := tf.Apply(req); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer "+tok {
			t.Fatalf("Authorization = %q, want the file's current token", got)
		}
		if strings.Contains(red.String(tok), tok) {
			t.Fatal("a token read from the file was not registered as a secret")
		}
	}
	if err := os.WriteFile(path, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tf.Apply(req); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: %v", err)
	}
	// A path that cannot be read as a file (root can read any file, so use a
	// directory to stand for "unreadable").
	dir := &TokenFile{Path: t.TempDir()}
	if _, err := dir.Read(context.Background()); err == nil {
		t.Fatal("reading a directory as a token must fail")
	}
}

func TestBearerSources(t *testing.T) {
	var red redact.Redactor
	path := filepath.Join(t.TempDir(), "t")
	if err := os.WriteFile(path, []byte("Bearer static-token-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := BearerFromFile(context.Background(), path, &red)
	if err != nil || b.Token() != "static-token-123" {
		t.Fatalf("from file: %v %v", b, err)
	}
	if strings.Contains(b.String(), "static-token-123") || strings.Contains(red.String("static-token-123"), "static-token-123") {
		t.Fatal("token leaked")
	}
	env := map[string]string{"T": "env-token-456", "BAD": "two words"}
	getenv := func(k string) string { return env[k] }
	if b, ok, err := BearerFromEnv("T", getenv, &red); err != nil || !ok || b.Token() != "env-token-456" {
		t.Fatalf("from env: %v %v %v", b, ok, err)
	}
	if _, ok, err := BearerFromEnv("UNSET", getenv, &red); ok || err != nil {
		t.Fatal("unset env must be not-ok, no error")
	}
	if _, _, err := BearerFromEnv("BAD", getenv, &red); err == nil {
		t.Fatal("a value with spaces must be refused")
	}
	if _, err := BearerFromFile(context.Background(), filepath.Join(t.TempDir(), "none"), &red); err == nil {
		t.Fatal("missing file must fail")
	}
}

func TestCookies(t *testing.T) {
	var red redact.Redactor
	c, err := NewCookies("oauth2_proxy_kubeflow=SESSIONVALUE; oauth2_proxy_kubeflow_csrf=CSRFVALUE", &red)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Names(), ","); got != "oauth2_proxy_kubeflow,oauth2_proxy_kubeflow_csrf" {
		t.Fatalf("names = %s", got)
	}
	if strings.Contains(c.String(), "SESSIONVALUE") || strings.Contains(red.String("x SESSIONVALUE CSRFVALUE"), "VALUE") {
		t.Fatal("cookie value leaked")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	if err := (Chain{c}).Apply(req); err != nil || !strings.Contains(req.Header.Get("Cookie"), "SESSIONVALUE") {
		t.Fatalf("Cookie header = %q, %v", req.Header.Get("Cookie"), err)
	}
	for _, bad := range []string{"", "novalue", "a=1\r\nX: y", "=v"} {
		if _, err := NewCookies(bad, &red); err == nil {
			t.Errorf("NewCookies(%q) accepted", bad)
		}
	}
}

// FuzzInspectToken: any input either inspects or fails with ErrNotJWT or
// ErrBadClaim, and never panics; what inspects has dates in range.
func FuzzInspectToken(f *testing.F) {
	f.Add(mint(f, boundClaims([]string{"pipelines.kubeflow.org"}, time.Unix(2000000000, 0))))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOiJ4In0.")
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjFlMzAwfQ.") // {"exp":1e300}
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		info, err := InspectToken(raw)
		if err != nil {
			if !errors.Is(err, ErrNotJWT) && !errors.Is(err, ErrBadClaim) {
				t.Fatalf("error %v wraps neither ErrNotJWT nor ErrBadClaim", err)
			}
			return
		}
		for _, d := range []time.Time{info.ExpiresAt, info.IssuedAt, info.NotBefore} {
			if !d.IsZero() && (d.Year() < 1970 || d.Year() > 9999) {
				t.Fatalf("a date out of range came through: %v", d)
			}
		}
		_ = info.Who()
		_ = info.HasAudience("pipelines.kubeflow.org")
	})
}

// A --token-file value that names no file may be the token itself: a long
// one is masked in the error, a short file name is shown (and not masked
// wherever its word appears).
func TestTokenFileValueThatIsNoFile(t *testing.T) {
	var red redact.Redactor
	_, err := BearerFromFile(context.Background(), "Zq9opaqueTokenPassedAsPath", &red)
	if err == nil || strings.Contains(red.String(err.Error()), "Zq9") || !strings.Contains(err.Error(), "never the token itself") {
		t.Fatalf("err = %v", err)
	}
	var red2 redact.Redactor
	_, err = BearerFromFile(context.Background(), "token", &red2)
	if err == nil || red2.String("token file token") != "token file token" {
		t.Fatalf("a short name was registered as a secret: %v", err)
	}
}
