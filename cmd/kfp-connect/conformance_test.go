package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Bad input is a usage error (exit 2) naming the flag, found before any
// cluster is touched; a cluster that cannot be used is a failure (exit 1)
// that says what to do instead.
func TestConformanceUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	cases := map[string]struct {
		args []string
		code int
		want string
	}{
		"no provider":           {[]string{"conformance"}, exitUsage, "--provider is required"},
		"unknown provider":      {[]string{"conformance", "--provider", "minikube"}, exitUsage, `--provider "minikube"`},
		"archive for existing":  {[]string{"conformance", "--provider", "existing", "--image-archive", missing}, exitUsage, "kfp-connect lab load-image"},
		"archive not there":     {[]string{"conformance", "--provider", "node", "--image-archive", missing}, exitFailed, "not a readable file"},
		"bad pattern":           {[]string{"conformance", "--provider", "existing", "--test", "(unclosed"}, exitUsage, "--test"},
		"pattern of nothing":    {[]string{"conformance", "--provider", "existing", "--test", "no case is called this"}, exitUsage, "matches no case"},
		"unknown scenario":      {[]string{"conformance", "--provider", "existing", "--scenario", "multi-user"}, exitUsage, "multi-user/in-cluster"},
		"kubeconfig for kwok":   {[]string{"conformance", "--provider", "kwok", "--kubeconfig", missing}, exitUsage, "--kubeconfig and --context are for --provider existing"},
		"stray argument":        {[]string{"conformance", "--provider", "existing", "now"}, exitUsage, "now"},
		"unknown flag":          {[]string{"conformance", "--providers", "kwok"}, exitUsage, "--providers"},
		"kind without Docker":   {[]string{"conformance", "--provider", "kind"}, exitFailed, "--provider existing --context kind-NAME"},
		"kubeconfig not there":  {[]string{"conformance", "--provider", "existing", "--kubeconfig", missing}, exitFailed, "loading kubeconfig"},
		"usage before provider": {[]string{"conformance", "--provider", "kind", "--test", "(unclosed"}, exitUsage, "--test"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runConnect(t, c.args...)
			if code != c.code || stdout != "" || !strings.HasPrefix(stderr, "kfp-connect: ") || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q (want exit %d naming %s)", code, stdout, stderr, c.code, c.want)
			}
		})
	}
}
