package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// Canaries that no shape matches (not JWTs, no session cookie name), so only
// the registered secrets can keep them out. Each starts with "Zq9" so a
// surviving prefix is easy to spot.
const (
	opaqueToken  = "Zq9opaqueTOKEN-4f7a/b+c="
	quotedCookie = "Zq9quotedCOOKIE-77"
)

// echoForms is every shape in which a server might hand a secret back.
func echoForms(s string) []string {
	j, _ := json.Marshal(s)
	return []string{
		s, `"` + s + `"`, url.QueryEscape(s), url.PathEscape(s), string(j[1 : len(j)-1]),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
}

// giveaways are strings that must not be in any output: the secret's start
// and the start of each of its base64 forms (the first characters depend on
// the secret alone).
func giveaways(s string) []string {
	out := []string{"Zq9"}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(s))[:8])
	}
	return out
}

// A server echoes the token and the quoted cookie back in every form, and
// places a copy of each so that it straddles the message's quote cut (200
// characters) and the evidence cut (512): no output format shows any of it.
func TestCanariesNeverPrinted(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(opaqueToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	straddle := func(at int, s string) string { return strings.Repeat("x", at-len(s)/2) + s }
	plain := func(w http.ResponseWriter, r *http.Request) {
		// Both straddle the cuts; the quote cut comes first.
		body := straddle(200, opaqueToken)
		body += straddle(512-len(body), quotedCookie)
		for _, s := range []string{opaqueToken, quotedCookie} {
			body += " " + strings.Join(echoForms(s), " ")
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, body)
	}
	envelope := func(w http.ResponseWriter, r *http.Request) {
		msg := "echo: " + strings.Join(append(echoForms(opaqueToken), echoForms(quotedCookie)...), " ") +
			" header " + r.Header.Get("Authorization") + " cookie " + r.Header.Get("Cookie")
		b, _ := json.Marshal(map[string]any{"code": 2, "message": msg})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(b)
	}
	for name, h := range map[string]http.HandlerFunc{"plain text": plain, "KFP envelope": envelope} {
		s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: h})
		for _, format := range []string{"text", "json", "junit"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				code, stdout, stderr := runDoctor(t, map[string]string{"KFP_DOCTOR_COOKIES": `session="` + quotedCookie + `"`},
					"--host", s.URL, "-n", "ns-1", "--token-file", tokenFile, "-o", format)
				if code != exitFailed {
					t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
				}
				for _, g := range append(giveaways(opaqueToken), giveaways(quotedCookie)...) {
					if strings.Contains(stdout+stderr, g) {
						t.Fatalf("%q leaked:\n%s%s", g, stdout, stderr)
					}
				}
				if !strings.Contains(stdout, "[REDAC") {
					t.Fatalf("nothing was masked, so the echo never reached the report:\n%s", stdout)
				}
			})
		}
	}
}

// A secret in a flag's value is never echoed, whatever the flag's spelling;
// nor is the password in a malformed --host's user-info.
func TestSecretFlagValuesNeverEchoed(t *testing.T) {
	cases := [][]string{
		{"-cookies=session=Zq9flagCookie"},
		{"-cookies", "session=Zq9flagCookie"},
		{"--cookies=session=Zq9flagCookie", "--bogus"},
		{"-token=Zq9flagToken"},
		{"-password=Zq9flagPassword"},
		{"--token-file", "Zq9opaqueTokenGivenAsThePath"},
		{"--host", "http://user:Zq9hostPassword@ho st:3000"},
		{"--host", "ftp://user:Zq9hostPassword@host"},
		{"--host", "user:Zq9hostPassword@host:99999"},
		{"--host", "http://user:Zq9hostPassword@"},
		{"--host", "http://user:Zq9hostPassword@host/?q=1"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, nil, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2:\n%s%s", code, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "Zq9") {
				t.Fatalf("secret echoed:\n%s%s", stdout, stderr)
			}
		})
	}
}

// A port outside 1–65535 is bad usage, named as such, not a probe failure.
func TestPortOutOfRangeIsUsage(t *testing.T) {
	for _, host := range []string{"http://localhost:0", "http://localhost:65536", "localhost:99999", "http://[::1]:70000"} {
		code, stdout, stderr := runDoctor(t, nil, "--host", host)
		if code != exitUsage || !strings.Contains(stderr, "out of range") || stdout != "" {
			t.Errorf("--host %s: exit %d, want 2 saying out of range:\n%s%s", host, code, stdout, stderr)
		}
	}
}
