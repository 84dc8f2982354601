package layering

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const module = "github.com/kfp-connect/kfp-connect"

// rules: the packages matched by pattern must not depend on any of these.
var rules = []struct {
	pattern, why string
	forbidden    []string
}{
	{"./internal/cluster/...", "the providers make clusters; the application's images and programs come to them as archives (internal/nodeimages), as kind's users load the archives they built",
		[]string{"internal/images", "internal/programs", "internal/standin", "internal/lab", "internal/labd", "internal/install", "internal/conformance", "internal/nodeimages"}},
	{"./scenarios/...", "the scenarios are data with types of their own: they know Kubeflow's names and the catalogue's ids, not how an install is made or run",
		[]string{"internal/install", "internal/cluster", "internal/conformance", "internal/lab"}},
}

func TestLayering(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pattern, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}", r.pattern)
			cmd.Dir = "../.."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", r.pattern, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range r.forbidden {
					if p := module + "/" + f; dep == p || strings.HasPrefix(dep, p+"/") {
						t.Errorf("%s depends on %s: %s", r.pattern, dep, r.why)
					}
				}
			}
		})
	}
}
