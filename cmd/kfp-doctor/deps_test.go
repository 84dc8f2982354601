package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/lazyre"
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
		// Not even its JUnit reporter types: they link go/packages, go/types
		// and semver into every start. internal/report writes the same XML.
		"github.com/onsi/ginkgo",
	}
	deps := goListDeps(t, ".")
	for _, dep := range deps {
		for _, f := range forbidden {
			f = strings.TrimSuffix(f, "/")
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("kfp-doctor depends on %s (through %s); move what needs it to cmd/kfp-connect", dep, f)
			}
		}
	}
	t.Logf("kfp-doctor builds from %d packages", len(deps))
}

// Every kfp-doctor run pays the package init of what it links, cluster or
// not. client-go's clientset registers every API group in one scheme at init
// (about 17 ms, more than the rest of the doctor's start-up together), and
// its discovery client links the clientset's scheme too: the doctor reaches
// the cluster through internal/kube/kubeapi instead, whose scheme holds the
// groups below and is built on first use. A new group here is a new call the
// doctor makes: add it to kubeapi and to this list.
func TestDoctorLinksNoClientsetAndFewAPIGroups(t *testing.T) {
	forbidden := []string{
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/discovery",
		"k8s.io/client-go/informers",
		"k8s.io/client-go/listers",
		"k8s.io/client-go/restmapper",
		"sigs.k8s.io/controller-runtime",
	}
	groups := map[string]bool{
		"k8s.io/api/core/v1":                  true,
		"k8s.io/api/apps/v1":                  true,
		"k8s.io/api/discovery/v1":             true,
		"k8s.io/api/networking/v1":            true,
		"k8s.io/api/authorization/v1":         true,
		"k8s.io/api/admissionregistration/v1": true,
	}
	linked := 0
	for _, dep := range goListDeps(t, ".") {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("kfp-doctor links %s: its init runs on every start; call the cluster through internal/kube/kubeapi", dep)
			}
		}
		if strings.HasPrefix(dep, "k8s.io/api/") {
			if !groups[dep] {
				t.Errorf("kfp-doctor links API group %s, which kubeapi does not serve: add it to kubeapi and this list, or drop the import", dep)
			}
			linked++
		}
	}
	if linked == 0 {
		t.Fatal("kfp-doctor links no k8s.io/api group at all: this test no longer looks at the doctor's graph")
	}
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

// The doctor's packages compile their regular expressions on first use
// (internal/lazyre), not at init; this compiles every one of them, so a bad
// expression fails here rather than in the run that first needs it.
func TestEveryLazyRegexpCompiles(t *testing.T) {
	lazyre.CompileAll()
}
