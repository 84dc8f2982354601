package programs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

func TestLookupNormalisesDockerHub(t *testing.T) {
	for _, ref := range []string{"docker.io/istio/proxyv2:1.26.0", "istio/proxyv2:1.26.0"} {
		p, tag, ok := Find(ref)
		if !ok || p.Name != "istio-gateway" || tag != "1.26.0" {
			t.Errorf("Find(%q) = %v, %q, %t; want the gateway at 1.26.0", ref, p, tag, ok)
		}
	}
	// Any tag runs on kwok; only the catalogue's are built.
	if p, tag, ok := Lookup("ghcr.io/kubeflow/kfp-api-server:9.9.9"); !ok || p.Name != "kfp-api-server" || tag != "9.9.9" {
		t.Errorf("Lookup of another tag: %v %q %t", p, tag, ok)
	}
	if p, tag, ok := Lookup("ghcr.io/kubeflow/kfp-api-server@sha256:" + strings.Repeat("a", 64)); !ok || p.Name != "kfp-api-server" || tag != "" {
		t.Errorf("Lookup of a digest: %v %q %t", p, tag, ok)
	}
	for _, ref := range []string{"ghcr.io/kubeflow/kfp-api-server:9.9.9", "kfp-api-server:2.17.0", "docker.io/istio/proxyv2"} {
		if p, _, ok := Find(ref); ok {
			t.Errorf("Find(%q) = %s; want none: only the catalogue's tags are built", ref, p.Name)
		}
	}
}

// TestKFPImages builds the KFP images as a node cluster gets them: one
// kfp-standin binary for all, each archive readable under every tag it
// carries, its command naming a program the binary has, and the API
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
		t.Fatalf("binaries built %v, want kfp-standin once", bins)
	}
	for _, ref := range refs {
		var c *images.Contents
		for _, a := range archives {
			if c, err = images.ReadArchive(a, ref); err == nil {
				break
			}
		}
		if c == nil {
			t.Errorf("no archive carries %s", ref)
			continue
		}
		p, tag, _ := Find(ref)
		cmd := append(slices.Clone(c.Config.Config.Entrypoint), c.Config.Config.Cmd...)
		if want := p.ConfigAt(tag); !slices.Equal(c.Config.Config.Entrypoint, want.Entrypoint) || !slices.Equal(c.Config.Config.Cmd, want.Cmd) || !slices.Equal(c.Config.Config.Env, want.Env) {
			t.Errorf("%s: config %+v, want the catalogue's %+v", ref, c.Config.Config, want)
		}
		if _, ok := c.Headers[cmd[0]]; !ok {
			t.Errorf("%s: its command %q is not a file of the image", ref, cmd[0])
		}
		if p.Name == "kfp-api-server" && !slices.Contains(c.Config.Config.Env, "TAG_NAME="+tag) {
			t.Errorf("%s: env %q lacks TAG_NAME=%s", ref, c.Config.Config.Env, tag)
		}
		// The program the command names exists: --help is its usage
		// (exit 1, listing --listen), an unknown program is exit 2.
		run := exec.Command(bins[0], append(cmd[1:], "--help")...)
		run.Args[0] = cmd[0]
		out, err := run.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 2 || !strings.Contains(string(out), "-listen") {
			t.Errorf("%s: %q --help: %v: %s", ref, cmd, err, out)
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
	if _, err := b.Archives(context.Background(), []string{MainRef("dex")}); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("error %v: want one pointing at make tools", err)
	}
}

// The API server's image carries its release as ENV TAG_NAME, which its
// healthz reports: on kwok any tag of the image says its own.
func TestAPIServerTagName(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/kubeflow/kfp-api-server:2.17.0":             "2.17.0",
		"ghcr.io/kubeflow/kfp-api-server:2.16.0@sha256:abcd": "2.16.0",
		"ghcr.io/kubeflow/kfp-api-server@sha256:abc":         "unknown",
		"ghcr.io/kubeflow/kfp-api-server":                    "unknown",
	} {
		p, tag, ok := Lookup(image)
		if !ok {
			t.Errorf("Lookup(%q): not found", image)
			continue
		}
		if got := p.ConfigAt(tag).EnvMap()["TAG_NAME"]; got != want {
			t.Errorf("%s: TAG_NAME=%q, want %q", image, got, want)
		}
	}
}
