package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// kubeconfigWith writes a kubeconfig whose user holds the given fields
// (YAML flow map entries).
func kubeconfigWith(t *testing.T, server, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q}\nusers:\n- name: u\n  user: {%s}\ncontexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: ns-1}\ncurrent-context: ctx\n", server, user)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An API server that answers 401 and echoes what it was sent, in every
// form: the kubeconfig's token, its basic-auth password, never show, with
// or without --host, in any output format.
func TestKubeconfigCredentialsNeverPrinted(t *testing.T) {
	const (
		kubeToken    = "Zq9kubeconfigTOKEN-81x"
		kubePassword = "Zq9kubeconfigPASSWORD-5"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var forms []string
		for _, s := range []string{kubeToken, kubePassword} {
			forms = append(forms, echoForms(s)...)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized: %s got %s","reason":"Unauthorized","code":401}`,
			strings.Join(forms, " "), strings.ReplaceAll(r.Header.Get("Authorization"), `"`, ""))
	}))
	t.Cleanup(echo.Close)
	kfp := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")})
	users := map[string]string{
		"token":      "token: " + kubeToken,
		"basic auth": "username: admin, password: " + kubePassword,
	}
	for name, user := range users {
		kc := kubeconfigWith(t, echo.URL, user)
		for _, args := range [][]string{
			{"--kubeconfig", kc, "--host", kfp.URL, "-n", "ns-1"},
			{"--kubeconfig", kc, "-n", "ns-1"},
		} {
			for _, format := range []string{"text", "json", "junit"} {
				t.Run(name+"/"+strings.Join(args[2:], " ")+"/"+format, func(t *testing.T) {
					_, stdout, stderr := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""},
						append(args, "-o", format, "--timeout", "5s")...)
					for _, g := range append(giveaways(kubeToken), giveaways(kubePassword)...) {
						if strings.Contains(stdout+stderr, g) {
							t.Fatalf("%q leaked:\n%s%s", g, stdout, stderr)
						}
					}
				})
			}
		}
	}
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		close(done)
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// A kubeconfig server that never answers is a failed check, not bad usage:
// exit 1, with the probes saying so.
func TestHangingKubeconfigServerIsAFailure(t *testing.T) {
	kc := kubeconfigWith(t, hangingServer(t), "token: not-a-real-token")
	kfp := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")})
	for _, args := range [][]string{
		{"--kubeconfig", kc, "--host", kfp.URL, "-n", "ns-1"},
		{"--kubeconfig", kc, "-n", "ns-1"},
	} {
		code, stdout, stderr := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""}, append(args, "--timeout", "2s")...)
		if code != exitFailed {
			t.Errorf("%v: exit %d, want %d (a probe failed; 2 is for usage):\n%s%s", args, code, exitFailed, stdout, stderr)
		}
	}
}

// Discovery against an API server that never answers ends with the run's
// deadline: the whole run keeps to --timeout.
func TestDiscoveryKeepsToTheTimeout(t *testing.T) {
	kc := kubeconfigWith(t, hangingServer(t), "token: not-a-real-token")
	start := time.Now()
	runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""}, "--kubeconfig", kc, "-n", "ns-1", "--timeout", "2s")
	if took := time.Since(start); took > 2*time.Second+250*time.Millisecond {
		t.Errorf("the run took %s with --timeout 2s", took.Round(time.Millisecond))
	}
}
