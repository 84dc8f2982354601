package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// kfp-doctor is what users download: it must not carry the lab, the
// clusters it builds, the installs it applies or the stand-ins it runs.
// Those belong to kfp-connect (cmd/kfp-connect).
func TestDoctorDoesNotDependOnTheLab(t *testing.T) {
	forbidden := []string{
		"github.com/kfp-connect/kfp-connect/internal/lab",
		"github.com/kfp-connect/kfp-connect/internal/labd",
		"github.com/kfp-connect/kfp-connect/internal/programs",
		"github.com/kfp-connect/kfp-connect/internal/cluster",
		"github.com/kfp-connect/kfp-connect/internal/install",
		"github.com/kfp-connect/kfp-connect/internal/standin/",
		"github.com/kfp-connect/kfp-connect/internal/conformance",
		"github.com/kfp-connect/kfp-connect/fixtures",
		"github.com/kfp-connect/kfp-connect/kindconfigs",
		"sigs.k8s.io/kind",
		"sigs.k8s.io/e2e-framework",
		"sigs.k8s.io/kustomize",
		"github.com/onsi/gomega",
	}
	// Of Ginkgo only its JUnit types, with what they import, which the
	// doctor writes --junit-file with: not the DSL, its runner or its flags.
	ginkgoAllowed := map[string]bool{
		"github.com/onsi/ginkgo/v2/reporters":          true,
		"github.com/onsi/ginkgo/v2/internal/reporters": true,
		"github.com/onsi/ginkgo/v2/types":              true,
		"github.com/onsi/ginkgo/v2/config":             true,
		"github.com/onsi/ginkgo/v2/formatter":          true,
	}
	deps := goListDeps(t, ".")
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/onsi/ginkgo") && !ginkgoAllowed[dep] {
			t.Errorf("kfp-doctor depends on %s: only Ginkgo's JUnit types belong in it", dep)
		}
		for _, f := range forbidden {
			f = strings.TrimSuffix(f, "/")
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("kfp-doctor depends on %s (through %s); move what needs it to cmd/kfp-connect", dep, f)
			}
		}
	}
	t.Logf("kfp-doctor builds from %d packages", len(deps))
}

// The version `make build` stamps with -X main.version is what `version`
// prints; the same -X path is in the Makefile and .goreleaser.yaml.
func TestVersionFromLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kfp-doctor")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBinary(), "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatalf("kfp-doctor version: %v", err)
	}
	if !strings.HasPrefix(string(out), "kfp-doctor v9.8.7-test (") {
		t.Fatalf("kfp-doctor version printed %q", out)
	}
}

func goBinary() string {
	if goBin, err := exec.LookPath("go"); err == nil {
		return goBin
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// goListDeps lists the packages pkg is built from (go list -deps).
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBinary(), "list", "-deps", pkg).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pkg)
	}
	return deps
}
