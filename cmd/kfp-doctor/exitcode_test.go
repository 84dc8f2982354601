package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The exit codes as docs/doctor.md documents them: 0 passed, 1 a probe failed,
// 2 bad usage or configuration — each with a message naming the cause.
func TestExitCodes(t *testing.T) {
	healthy := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1")})
	anonymous := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: kfptest.Fixed("v2 healthz"), kfptest.ExperimentsV2: kfptest.Fixed("no auth, ns=ns-1")})
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage-kubeconfig")
	if err := os.WriteFile(garbage, []byte("clusters: [this is: not: yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := writeKubeconfig(t, "http://127.0.0.1:1")
	env := map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": "", "KFP_DOCTOR_PASSWORD": "", "KUBECONFIG": filepath.Join(dir, "none")}
	cases := []struct {
		name string
		args []string
		code int
		says string // on stderr for exit 2, in the report otherwise
	}{
		{"passed", []string{"--host", healthy.URL, "-n", "ns-1"}, exitOK, "list-experiments"},
		{"a probe failed", []string{"--host", anonymous.URL, "-n", "ns-1"}, exitFailed, "KFD001"},
		{"a kubeconfig whose cluster is dead: the install probe fails", []string{"--kubeconfig", dead, "--timeout", "3s"}, exitFailed, "KFD018"},
		{"a bad flag", []string{"--host", healthy.URL, "--no-such-flag"}, exitUsage, "unknown flag: --no-such-flag"},
		{"a bad flag value", []string{"--host", healthy.URL, "--timeout", "soon"}, exitUsage, `invalid argument "soon"`},
		{"a login that cannot be set up: no password", []string{"--host", healthy.URL, "--username", "u@example.com"}, exitUsage, "needs a password: set $KFP_DOCTOR_PASSWORD"},
		{"a login that cannot be set up: no gateway", []string{"--username", "u@example.com"}, exitUsage, "pass --host with its address"},
		{"a kubeconfig that cannot be loaded", []string{"--kubeconfig", garbage}, exitUsage, "--kubeconfig/--context: loading kubeconfig " + garbage},
		{"--as-group without --as", []string{"--kubeconfig", dead, "--as-group", "g"}, exitUsage, "--as-group needs --as"},
		{"a --request-timeout kubectl refuses", []string{"--kubeconfig", dead, "--request-timeout", "soon"}, exitUsage, "Invalid timeout value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, env, c.args...)
			where := stdout
			if c.code == exitUsage {
				where = stderr
				if stdout != "" || !strings.HasPrefix(stderr, "kfp-doctor: ") {
					t.Errorf("a usage error prints only its message: stdout %q stderr %q", stdout, stderr)
				}
			}
			if code != c.code || !strings.Contains(where, c.says) {
				t.Fatalf("exit %d (want %d), want %q in:\nstdout %s\nstderr %s", code, c.code, c.says, stdout, stderr)
			}
		})
	}
}

// A run whose set-up failed although the configuration was sound exits 1;
// usage errors, wrapped or not, and cobra's own errors exit 2.
func TestExitCodeOfAnError(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{&runFailure{errors.New("listening for the port-forward: address in use")}, exitFailed},
		{&runFailure{&doctor.UsageError{Err: errors.New("--host: bad")}}, exitUsage},
		{&doctor.UsageError{Err: errors.New("--timeout must be positive")}, exitUsage},
		{fmt.Errorf(`unknown command "extra" for "kfp-doctor"`), exitUsage},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// fakeKube is a kube-apiserver that lists three namespaces, answers 404 to
// everything else, and records how it was asked.
type fakeKube struct {
	// hang, when set, holds every answer until the client gives up.
	hang   bool
	mu     sync.Mutex
	users  []string
	groups []string
}

func (f *fakeKube) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.users = append(f.users, r.Header.Get("Impersonate-User"))
	f.groups = append(f.groups, r.Header.Values("Impersonate-Group")...)
	f.mu.Unlock()
	if f.hang {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/v1/namespaces" {
		fmt.Fprint(w, `{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"team-b"}},{"metadata":{"name":"team-a"}},{"metadata":{"name":"other"}}]}`)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
}

func (f *fakeKube) seen() (users, groups []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.users...), append([]string(nil), f.groups...)
}

// kubectl's --as, --as-group and --request-timeout reach every Kubernetes
// API call of the run, as kubectl sends them: impersonation headers on each
// request, and each request ended at the deadline given.
func TestKubectlFlagsReachTheCluster(t *testing.T) {
	fk := &fakeKube{}
	s := httptest.NewServer(fk)
	t.Cleanup(s.Close)
	kc := writeKubeconfig(t, s.URL)
	code, stdout, stderr := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""},
		"--kubeconfig", kc, "--as", "alice@example.com", "--as-group", "team-a", "--as-group", "auditors", "--timeout", "10s")
	if code != exitFailed || !strings.Contains(stdout, "cluster via kubeconfig as alice@example.com") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	users, groups := fk.seen()
	if len(users) == 0 {
		t.Fatal("the cluster was never asked")
	}
	for i, u := range users {
		if u != "alice@example.com" {
			t.Fatalf("request %d: Impersonate-User %q, want alice@example.com", i, u)
		}
	}
	if len(groups) < 2 || groups[0] != "team-a" || groups[1] != "auditors" {
		t.Fatalf("Impersonate-Group %q", groups)
	}

	// A cluster that never answers: with the doctor's own per-call
	// deadline (2s) one call alone outlasts what --request-timeout 100ms
	// lets the whole discovery take.
	hanging := &fakeKube{hang: true}
	hs := httptest.NewServer(hanging)
	t.Cleanup(hs.Close)
	start := time.Now()
	code, stdout, stderr = runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""},
		"--kubeconfig", writeKubeconfig(t, hs.URL), "--request-timeout", "100ms", "--timeout", "10s")
	took := time.Since(start)
	users, _ = hanging.seen()
	t.Logf("%d calls to a hanging cluster in %s", len(users), took)
	if code != exitFailed || len(users) == 0 || took >= maxConnectDefault {
		t.Fatalf("exit %d after %s (%d calls)\nstdout %s\nstderr %s", code, took, len(users), stdout, stderr)
	}
}

// maxConnectDefault is the doctor's own deadline of one Kubernetes call.
const maxConnectDefault = 2 * time.Second

// -n completes the cluster's namespaces, filtered by what is typed, asked
// with the kubeconfig and --as like the run itself.
func TestNamespaceCompletion(t *testing.T) {
	fk := &fakeKube{}
	s := httptest.NewServer(fk)
	t.Cleanup(s.Close)
	kc := writeKubeconfig(t, s.URL)
	code, stdout, stderr := runDoctor(t, nil, "__complete", "--kubeconfig", kc, "--as", "bob", "-n", "team")
	if code != exitOK || !strings.HasPrefix(stdout, "team-a\nteam-b\n") || strings.Contains(stdout, "other") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
	if users, _ := fk.seen(); len(users) != 1 || users[0] != "bob" {
		t.Fatalf("asked as %q", users)
	}
	// A cluster that does not answer completes nothing, within the bound.
	dead := writeKubeconfig(t, "http://127.0.0.1:1")
	code, stdout, _ = runDoctor(t, nil, "__complete", "--kubeconfig", dead, "--namespace", "")
	if code != exitOK || strings.Contains(stdout, "team") || !strings.Contains(stdout, ":4") {
		t.Fatalf("dead cluster: exit %d stdout %q", code, stdout)
	}
}
