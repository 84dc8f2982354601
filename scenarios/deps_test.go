package scenarios

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The scenarios are data with types of their own: they know Kubeflow's
// names and the catalogue's ids, not how an install is made or run.
func TestScenariosDoNotDependOnTheirRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range []string{"/internal/install", "/internal/cluster", "/internal/conformance", "/internal/lab"} {
			if strings.HasSuffix(dep, "kfp-connect"+f) || strings.Contains(dep, "kfp-connect"+f+"/") {
				t.Errorf("scenarios depend on %s", dep)
			}
		}
	}
}
