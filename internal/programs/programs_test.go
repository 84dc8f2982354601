package programs

import (
	"context"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// fakeSources names the binaries without building them.
type fakeSources struct{}

func (fakeSources) Go(_ context.Context, pkg string) (string, error) {
	return "/build/" + path.Base(pkg), nil
}
func (fakeSources) Tool(name string) (string, error) { return "/tools/" + name, nil }

// TestCatalogue checks what every program must say, so that adding one is
// one file: an image config with PATH at every tag, a command, the program
// proper among the image's files, and — for kfp-standin's programs — an
// image whose command line makes kfp-standin choose that program.
func TestCatalogue(t *testing.T) {
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			for _, tag := range p.Tags {
				c := p.ConfigAt(tag)
				if _, ok := c.EnvMap()["PATH"]; !ok {
					t.Errorf("%s: the image's ENV sets no PATH", tag)
				}
				if len(c.Entrypoint)+len(c.Cmd) == 0 {
					t.Errorf("%s: the image has neither entrypoint nor cmd", tag)
				}
			}
			if p.Name == "notebook" {
				t.Skip("its files are a venv made by pip around a real kfp-doctor build: internal/images' TestNotebookImage and the node matrix check them")
			}
			if p.Name == "openldap" {
				if _, err := os.Stat(openldap.Debian.Slapd); err != nil {
					t.Skip("Debian's slapd is not installed: the image's files are the host's")
				}
			}
			contents, err := p.Contents(context.Background(), fakeSources{})
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, f := range contents.Files {
				files = append(files, f.Path)
			}
			if bin := p.BinaryPath(); !slices.Contains(files, bin) {
				t.Errorf("the program proper %q is not among the image's files %q", bin, files)
			}
			if standinProgram(p) {
				c := p.ConfigAt(p.Tags[0])
				argv := append(slices.Clone(c.Entrypoint), c.Cmd...)
				if got, _ := choose(argv); got != p {
					t.Errorf("kfp-standin called as the image's command %q does not choose %s", argv, p.Name)
				}
			}
		})
	}
}

func TestRefs(t *testing.T) {
	if got := strings.Join(KFPRefs(), " "); got != "ghcr.io/kubeflow/kfp-api-server:2.17.0 ghcr.io/kubeflow/kfp-frontend:2.17.0 docker.io/istio/proxyv2:1.26.0" {
		t.Errorf("KFPRefs: %s", got)
	}
	if got := LoginRefs(); len(got) != 4 || got[0] != "ghcr.io/dexidp/dex:v2.45.1" {
		t.Errorf("LoginRefs: %q", got)
	}
	for _, r := range append(KFPRefs(), LoginRefs()...) {
		if _, _, ok := Find(r); !ok {
			t.Errorf("%s is not found in the catalogue", r)
		}
	}
}
