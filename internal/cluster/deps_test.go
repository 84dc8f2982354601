package cluster

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The providers make clusters; they never build or know the application's
// images or programs: those come as archives (internal/nodeimages), as
// kind's users load the archives they built.
func TestProvidersDoNotDependOnTheApplication(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range []string{"/internal/images", "/internal/standin", "/internal/lab", "/internal/install", "/internal/conformance"} {
			if strings.HasSuffix(dep, "kfp-connect"+f) || strings.Contains(dep, "kfp-connect"+f+"/") {
				t.Errorf("internal/cluster depends on %s", dep)
			}
		}
	}
}
