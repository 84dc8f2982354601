package images

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Entry is an entry of the catalogue: an image tagged with the names the
// manifests use, so fixtures and upstream kustomizations run unchanged on a
// node cluster, and how to make it offline from the binaries a Builder
// supplies (this module's programs, the tools cache's).
type Entry struct {
	// Refs are its tags, the first the main one, e.g.
	// ghcr.io/kubeflow/kfp-api-server:2.17.0. Make's image carries them.
	Refs []string
	Make func(ctx context.Context, b *Builder) (Image, error)
}

// catalog is filled by each file of this package with register, in init.
var catalog []Entry

func register(e Entry) {
	if len(e.Refs) == 0 || e.Make == nil {
		panic(fmt.Sprintf("images: catalogue entry %v needs refs and Make", e.Refs))
	}
	for _, r := range e.Refs {
		if _, dup := Find(r); dup {
			panic("images: ref registered twice: " + r)
		}
	}
	catalog = append(catalog, e)
}

// Catalog lists every entry, ordered by main ref.
func Catalog() []Entry {
	out := slices.Clone(catalog)
	sort.Slice(out, func(i, j int) bool { return out[i].Refs[0] < out[j].Refs[0] })
	return out
}

// Find returns the entry that carries ref as written in a pod spec
// (docker.io/ may be left out, as containerd normalises it).
func Find(ref string) (Entry, bool) {
	want := normalise(ref)
	for _, e := range catalog {
		for _, r := range e.Refs {
			if normalise(r) == want {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// normalise is the docker reference rule for the names used here: a first
// component without a dot or colon is a Docker Hub repository.
func normalise(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if !found {
		return "docker.io/library/" + ref
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + ref
	}
	return ref
}

// Builder makes catalogue images in Dir, building each of this module's
// programs once however many images hold it (/kfp-standin).
type Builder struct {
	ModuleDir string // a directory inside this module, for go build
	ToolsBin  string // the tools cache's bin directory (dex, oauth2-proxy)
	Dir       string // where binaries and archives go

	built map[string]string // package → binary
}

// Go builds the main package pkg of this module (static, BuildGo) into Dir,
// once, and returns the binary's path.
func (b *Builder) Go(ctx context.Context, pkg string) (string, error) {
	if p, ok := b.built[pkg]; ok {
		return p, nil
	}
	p := filepath.Join(b.Dir, path.Base(pkg))
	if err := BuildGo(ctx, b.ModuleDir, pkg, p); err != nil {
		return "", err
	}
	if b.built == nil {
		b.built = map[string]string{}
	}
	b.built[pkg] = p
	return p, nil
}

// Tools is the tools cache's directory, or an error saying how to fill it.
func (b *Builder) Tools() (string, error) {
	if b.ToolsBin == "" {
		return "", fmt.Errorf("no tools directory given for the images of pinned programs (run `make tools`)")
	}
	return b.ToolsBin, nil
}

// Archives writes the images that carry refs, each once, and returns their
// archives in the order of refs. An unknown ref is an error naming the
// catalogue's.
func (b *Builder) Archives(ctx context.Context, refs []string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	for _, r := range refs {
		e, ok := Find(r)
		if !ok {
			var known []string
			for _, k := range Catalog() {
				known = append(known, k.Refs...)
			}
			return nil, fmt.Errorf("image %s is not in the catalogue (internal/images): known are %s", r, strings.Join(known, ", "))
		}
		if done[e.Refs[0]] {
			continue
		}
		done[e.Refs[0]] = true
		img, err := e.Make(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", e.Refs[0], err)
		}
		img.Refs = e.Refs
		// One archive per image, named after its main ref.
		file := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(e.Refs[0]) + ".tar"
		dest := filepath.Join(b.Dir, file)
		if err := WriteImage(img, dest); err != nil {
			return nil, err
		}
		out = append(out, dest)
	}
	return out, nil
}
