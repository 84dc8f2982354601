package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
)

// A run that checked nothing is never OK: `--timeout 1ns` leaves no time for
// any probe, which is the configuration's doing (exit 2), and every output
// format names KFD040.
func TestNothingCheckedIsNeverOK(t *testing.T) {
	for _, format := range []string{"text", "json", "junit"} {
		t.Run(format, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, nil, "--host", "http://127.0.0.1:1", "--timeout", "1ns", "-o", format)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
			}
			if !strings.Contains(stdout, "KFD040") || strings.Contains(stdout, "OK:") || strings.Contains(stdout, `"ok": true`) {
				t.Fatalf("report does not fail with KFD040:\n%s", stdout)
			}
		})
	}
}

// Ctrl-C while a probe waits: the interrupted probe is not blamed on the
// server, and the run, having reached no verdict on the connection, fails
// with KFD040 (exit 1: not a configuration problem) — also when the token
// probe, which only reads a local file, passed first.
func TestInterruptedRunFails(t *testing.T) {
	tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "sa", Audience: []string{"pipelines.kubeflow.org"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, extra := range map[string][]string{"no token": nil, "a valid token": {"--token-file", tokenFile, "-n", "ns-1"}} {
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case arrived <- struct{}{}:
				default:
				}
				<-r.Context().Done()
			}))
			t.Cleanup(s.Close)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-arrived
				cancel() // the user presses Ctrl-C while healthz waits
			}()
			var out, errb bytes.Buffer
			start := time.Now()
			code := run(ctx, append([]string{"--host", s.URL, "--timeout", "30s", "-o", "json"}, extra...), &out, &errb)
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("run took %s after Ctrl-C", took)
			}
			if code != exitFailed || !strings.Contains(out.String(), `"kfd": "KFD040"`) || !strings.Contains(out.String(), "interrupted") {
				t.Fatalf("exit %d, want 1 with KFD040 saying interrupted:\n%s%s", code, out.String(), errb.String())
			}
			if strings.Contains(out.String(), "KFD024") {
				t.Fatalf("an interruption was reported as the server not answering:\n%s", out.String())
			}
		})
	}
}
