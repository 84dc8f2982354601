// Package nodeimages builds, offline and once per directory, the docker
// archives a cluster made here loads (internal/cluster/node imports them,
// kind loads them): the node's own images (its sandbox, CoreDNS, the
// specs' probe), the catalogue's images an install's pod templates name,
// and the doctor's image at a tag. The cluster providers build nothing:
// this is the one place that turns what a run needs into archives, before
// any cluster exists and outside any cluster's creation deadline.
package nodeimages

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node/dns"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// Builder writes archives into Dir, each image once however often it is
// asked for, and each of this module's programs built once.
type Builder struct {
	// ModuleDir is a directory inside this module, where `go build` runs;
	// empty is the current directory.
	ModuleDir string
	// ToolsBin is the tools cache's bin directory (CoreDNS, Dex,
	// oauth2-proxy), for the images of pinned programs.
	ToolsBin string
	// Dir is where the binaries and archives go.
	Dir string

	mu      sync.Mutex
	b       *programs.Builder
	written map[string]string // an image's key → archive
}

func (b *Builder) init() {
	if b.b == nil {
		dir := b.ModuleDir
		if dir == "" {
			dir = "."
		}
		b.b = &programs.Builder{ModuleDir: dir, ToolsBin: b.ToolsBin, Dir: b.Dir}
		b.written = map[string]string{}
	}
}

// once writes the image of ref with write, unless it is written already.
func (b *Builder) once(ref string, write func(dest string) error) (string, error) {
	if a, ok := b.written[ref]; ok {
		return a, nil
	}
	dest := filepath.Join(b.Dir, fileName(ref))
	if err := write(dest); err != nil {
		return "", err
	}
	b.written[ref] = dest
	return dest, nil
}

func fileName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}

// program writes the image of one of this module's main packages: the
// static binary alone on an empty base, at /<name>, its entrypoint.
func (b *Builder) program(ctx context.Context, ref, pkg string) (string, error) {
	return b.once(ref, func(dest string) error {
		bin, err := b.b.Go(ctx, pkg)
		if err != nil {
			return err
		}
		return images.WriteArchive(images.Spec{Ref: ref, Binary: bin, Path: "/" + filepath.Base(pkg)}, dest)
	})
}

// Node is what every node cluster needs: its sandbox image and, with dns,
// CoreDNS's (node.Options.ImageArchives).
func (b *Builder) Node(ctx context.Context, withDNS bool) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	pause, err := b.program(ctx, node.SandboxImage, images.PausePackage)
	if err != nil {
		return nil, err
	}
	out := []string{pause}
	if withDNS {
		if b.ToolsBin == "" {
			return nil, fmt.Errorf("no tools directory for the CoreDNS image (run `make tools`)")
		}
		a, err := b.once(dns.Image, func(dest string) error {
			return images.WriteArchive(images.Spec{Ref: dns.Image, Binary: filepath.Join(b.ToolsBin, "coredns"), Path: "/coredns"}, dest)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Probe is the specs' probe image (images.ProbeRef).
func (b *Builder) Probe(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.program(ctx, images.ProbeRef, images.ProbePackage)
}

// Doctor is the doctor's image tagged ref (e.g. images.Doctor("").Ref),
// built from this module.
func (b *Builder) Doctor(ctx context.Context, ref string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.program(ctx, ref, programs.DoctorPackage)
}

// Catalog writes the catalogue's images that carry refs (internal/programs'
// Find); an unknown ref is an error.
func (b *Builder) Catalog(ctx context.Context, refs ...string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	var out []string
	for _, r := range refs {
		p, tag, ok := programs.Find(r)
		if !ok {
			return nil, fmt.Errorf("image %s is not in the catalogue (internal/programs)", r)
		}
		// Tags of one config are one image (the catalogue's builder writes
		// them into one archive).
		key := fmt.Sprintf("%s %v", p.Name, p.ConfigAt(tag))
		a, ok := b.written[key]
		if !ok {
			archives, err := b.b.Archives(ctx, []string{r})
			if err != nil {
				return nil, err
			}
			a = archives[0]
			b.written[key] = a
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// ForObjects writes the catalogue's images that the pod templates of objs
// name, and lists the images they name that the catalogue has not: their
// pods cannot start on a cluster without a registry.
func (b *Builder) ForObjects(ctx context.Context, objs []*unstructured.Unstructured) (archives, absent []string, err error) {
	var known []string
	for _, ref := range ImagesOf(objs) {
		if _, _, ok := programs.Find(ref); ok {
			known = append(known, ref)
		} else {
			absent = append(absent, ref)
		}
	}
	archives, err = b.Catalog(ctx, known...)
	return archives, absent, err
}

// ImagesOf lists, once each and in order, the images the containers and
// init containers of objs' pods and pod templates name.
func ImagesOf(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		spec, ok := manifests.PodSpecPath(o.GetKind())
		if !ok {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			// NoCopy: kustomize's output holds plain ints, which
			// unstructured's deep copy refuses.
			v, _, _ := unstructured.NestedFieldNoCopy(o.Object, append(slices.Clone(spec), field)...)
			list, _ := v.([]any)
			for _, c := range list {
				m, _ := c.(map[string]any)
				if img, _ := m["image"].(string); img != "" && !slices.Contains(out, img) {
					out = append(out, img)
				}
			}
		}
	}
	return out
}
