package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "` + server + `"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClusterFlagsUsage(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := writeKubeconfig(t, "http://127.0.0.1:1")
	cases := map[string]struct {
		args []string
		want string
	}{
		"no host, no kubeconfig": {nil, "--kubeconfig"},
		"bad scenario":           {[]string{"--kubeconfig", kc, "--scenario", "inside"}, "--scenario"},
		"missing kubeconfig":     {[]string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, "kubeconfig"},
		"unknown context":        {[]string{"--kubeconfig", kc, "--context", "nope"}, "nope"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBECONFIG": empty, "KUBERNETES_SERVICE_HOST": ""}, c.args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q (want it to name %s)", code, stdout, stderr, c.want)
			}
		})
	}
}

// A kubeconfig whose API server does not answer: the install probe says
// what it could not do, the probes that need the discovered host are
// skipped, and the kubeconfig's credentials never show.
func TestClusterUnreachable(t *testing.T) {
	kc := writeKubeconfig(t, "http://127.0.0.1:1")
	code, out := doctorJSON(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""}, "--kubeconfig", kc, "--timeout", "3s")
	if code != exitFailed || out.OK {
		t.Fatalf("exit %d ok %v", code, out.OK)
	}
	if status, id := out.probe("install"); status != "fail" || id != "KFD018" {
		t.Fatalf("install: %s %s", status, id)
	}
	for _, p := range []string{"healthz", "list-experiments", "endpoints"} {
		if status, _ := out.probe(p); status != "skip" {
			t.Errorf("%s: %s, want skip", p, status)
		}
	}
	_, stdout, _ := runDoctor(t, map[string]string{"KF_PIPELINES_ENDPOINT": "", "KUBERNETES_SERVICE_HOST": ""}, "--kubeconfig", kc, "--timeout", "3s")
	if strings.Contains(stdout, "not-a-real-token") {
		t.Fatal("the kubeconfig's token leaked into the report")
	}
	if !strings.Contains(stdout, "no KFP install found") || !strings.Contains(stdout, "scenario unknown-mode-out-of-cluster") {
		t.Fatalf("report:\n%s", stdout)
	}
}

// With --host and no cluster flag the doctor stays off the cluster, even if
// a kubeconfig is around: the sdk and distribution probes and the four
// connection probes only, as before.
func TestHostAloneIgnoresKubeconfig(t *testing.T) {
	kc := writeKubeconfig(t, "http://127.0.0.1:1")
	_, out := doctorJSON(t, map[string]string{"KUBECONFIG": kc, "KUBERNETES_SERVICE_HOST": ""}, "--host", "http://127.0.0.1:1", "--timeout", "2s")
	if status, _ := out.probe("install"); status != "absent" || len(out.Results) != 6 {
		t.Fatalf("results %+v", out.Results)
	}
	// --scenario brings the cluster in, and forces the mode.
	_, out = doctorJSON(t, map[string]string{"KUBECONFIG": kc, "KUBERNETES_SERVICE_HOST": ""}, "--host", "http://127.0.0.1:1", "--timeout", "2s", "--scenario", "multi-user-out-of-cluster")
	if status, _ := out.probe("install"); status != "fail" {
		t.Fatalf("install %s", status)
	}
	if status, _ := out.probe("healthz"); status != "fail" {
		t.Fatalf("with a given host healthz runs whatever discovery says: %s", status)
	}
}
