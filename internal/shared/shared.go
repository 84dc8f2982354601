// Package shared finds the folder of public data the project reads and runs
// but never copies: ../shared/upstream, holding Kubeflow's, KFP's, Istio's and
// Argo's manifests and the real KFP SDK. It is found by walking up from the
// working directory, so tests of any package and commands run from the
// repository find the same folder.
package shared

import (
	"os"
	"path/filepath"
)

// FindUpstream returns the first shared/upstream, walking up from the
// working directory, for which ok holds (a guard against an unrelated folder
// of that name). The bool is false when there is none.
func FindUpstream(ok func(dir string) bool) (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; {
		if c := filepath.Join(dir, "shared", "upstream"); ok(c) {
			return c, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
