package images

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestFindNormalisesDockerHub(t *testing.T) {
	for _, ref := range []string{"docker.io/istio/proxyv2:1.26.0", "istio/proxyv2:1.26.0"} {
		e, ok := Find(ref)
		if !ok || e.Refs[0] != "docker.io/istio/proxyv2:1.26.0" {
			t.Errorf("Find(%q) = %v, %t; want the gateway image", ref, e.Refs, ok)
		}
	}
	for _, ref := range []string{"ghcr.io/kubeflow/kfp-api-server:9.9.9", "kfp-api-server:2.17.0", "docker.io/istio/proxyv2"} {
		if e, ok := Find(ref); ok {
			t.Errorf("Find(%q) = %v; want none: only the exact tag is in the catalogue", ref, e.Refs)
		}
	}
}

// TestKFPImages builds the KFP images as a node cluster gets them: one
// kfp-standin binary for all, each archive readable under every tag it
// carries, its entrypoint naming a program the binary has, and the API
// server's ENV TAG_NAME matching its tag.
func TestKFPImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/kfp-standin")
	}
	dir := t.TempDir()
	b := &Builder{ModuleDir: ".", Dir: dir}
	refs := append(KFPRefs(), "ghcr.io/kubeflow/kfp-frontend:2.16.0", "ghcr.io/kubeflow/kfp-api-server:2.16.0")
	archives, err := b.Archives(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	// kfp-frontend:2.16.0 is a second tag of the 2.17.0 image: no archive of its own.
	if len(archives) != 4 {
		t.Errorf("%d archives for %d refs, want 4: %v", len(archives), len(refs), archives)
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "kfp-standin*"))
	if len(bins) != 1 {
		t.Errorf("binaries built %v, want kfp-standin once", bins)
	}
	program := map[string]string{
		"ghcr.io/kubeflow/kfp-api-server:2.17.0": "kfp-api-server", "ghcr.io/kubeflow/kfp-api-server:2.16.0": "kfp-api-server",
		"ghcr.io/kubeflow/kfp-frontend:2.17.0": "kfp-frontend", "ghcr.io/kubeflow/kfp-frontend:2.16.0": "kfp-frontend",
		"docker.io/istio/proxyv2:1.26.0": "istio-gateway",
	}
	for _, ref := range refs {
		args := []string{program[ref]}
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, a := range archives {
			im, err := tarball.ImageFromPath(a, &tag)
			if err != nil {
				continue
			}
			found = true
			cf, err := im.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"/kfp-standin"}, args...)
			if !slices.Equal(cf.Config.Entrypoint, want) {
				t.Errorf("%s: entrypoint %q, want %q", ref, cf.Config.Entrypoint, want)
			}
			if strings.Contains(ref, "kfp-api-server") {
				wantEnv := "TAG_NAME=" + tag.TagStr()
				if !slices.Contains(cf.Config.Env, wantEnv) {
					t.Errorf("%s: env %q lacks %s", ref, cf.Config.Env, wantEnv)
				}
			}
		}
		if !found {
			t.Errorf("no archive carries %s", ref)
		}
		// The program the entrypoint names exists: --help is its usage
		// (exit 1), an unknown program is exit 2.
		out, err := exec.Command(bins[0], append(args, "--help")...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 2 || !strings.Contains(string(out), "-listen") {
			t.Errorf("%s: kfp-standin %v --help: %v: %s", ref, args, err, out)
		}
	}
}

func TestArchivesRefusesUnknownRef(t *testing.T) {
	b := &Builder{ModuleDir: ".", Dir: t.TempDir()}
	_, err := b.Archives(context.Background(), []string{"ghcr.io/kubeflow/kfp-cache-server:2.17.0"})
	if err == nil || !strings.Contains(err.Error(), "not in the catalogue") || !strings.Contains(err.Error(), "kfp-api-server:2.17.0") {
		t.Fatalf("error %v: want one naming the catalogue's refs", err)
	}
	if entries, _ := os.ReadDir(b.Dir); len(entries) != 0 {
		t.Errorf("wrote %d files for an unknown ref", len(entries))
	}
}

func TestLoginImageNeedsToolsDir(t *testing.T) {
	b := &Builder{ModuleDir: ".", Dir: t.TempDir()}
	if _, err := b.Archives(context.Background(), []string{DexRef}); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("error %v: want one pointing at make tools", err)
	}
}
