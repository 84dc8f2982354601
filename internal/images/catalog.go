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

// Image is an entry of the catalogue: an image tagged with the names the
// manifests use, so fixtures and upstream kustomizations run unchanged on a
// node cluster, built offline as one static binary on an empty base.
type Image struct {
	// Refs are its tags, the first the main one, e.g.
	// ghcr.io/kubeflow/kfp-api-server:2.17.0.
	Refs []string
	// Package is the main package of this module its binary is built from;
	// or, when empty, Tool is a pinned binary of the tools cache
	// (tools/build.sh) by name, e.g. dex.
	Package, Tool string
	// Path is where the binary lives in the image; empty is "/" and the
	// binary's base name.
	Path string
	// Args follow Path in the entrypoint: for /kfp-standin, the program.
	Args []string
	// Env is the image's own environment beyond PATH (KEY=VALUE), as the
	// real image's ENV lines set it.
	Env []string
}

// binaryName is the binary's file name, in the build directory and by
// default in the image.
func (img Image) binaryName() string {
	if img.Package != "" {
		return path.Base(img.Package)
	}
	return img.Tool
}

// catalog is filled by each file of this package with register, in init.
var catalog []Image

func register(img Image) {
	if len(img.Refs) == 0 || (img.Package == "") == (img.Tool == "") {
		panic(fmt.Sprintf("images: catalogue entry %v needs refs and exactly one of Package and Tool", img.Refs))
	}
	for _, r := range img.Refs {
		if _, dup := Find(r); dup {
			panic("images: ref registered twice: " + r)
		}
	}
	catalog = append(catalog, img)
}

// Catalog lists every image, ordered by main ref.
func Catalog() []Image {
	out := slices.Clone(catalog)
	sort.Slice(out, func(i, j int) bool { return out[i].Refs[0] < out[j].Refs[0] })
	return out
}

// Find returns the image that carries ref, as written in a pod spec
// (docker.io/ may be left out, as containerd normalises it).
func Find(ref string) (Image, bool) {
	want := normalise(ref)
	for _, img := range catalog {
		for _, r := range img.Refs {
			if normalise(r) == want {
				return img, true
			}
		}
	}
	return Image{}, false
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

// Builder writes catalogue images into Dir, building each binary once even
// when several images share it (/kfp-standin).
type Builder struct {
	ModuleDir string // a directory inside this module, for go build
	ToolsBin  string // the tools cache's bin directory, for Tool images
	Dir       string // where binaries and archives go

	built map[string]string // binary name → path
}

// Archives writes the images that carry refs, each once, and returns their
// archives in the order of refs. An unknown ref is an error naming the
// catalogue.
func (b *Builder) Archives(ctx context.Context, refs []string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	for _, r := range refs {
		img, ok := Find(r)
		if !ok {
			var known []string
			for _, i := range Catalog() {
				known = append(known, i.Refs...)
			}
			return nil, fmt.Errorf("image %s is not in the catalogue (internal/images): known are %s", r, strings.Join(known, ", "))
		}
		if done[img.Refs[0]] {
			continue
		}
		done[img.Refs[0]] = true
		a, err := b.archive(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (b *Builder) archive(ctx context.Context, img Image) (string, error) {
	bin, err := b.binary(ctx, img)
	if err != nil {
		return "", err
	}
	p := img.Path
	if p == "" {
		p = "/" + img.binaryName()
	}
	// One archive per image, named after its main ref.
	file := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(img.Refs[0]) + ".tar"
	dest := filepath.Join(b.Dir, file)
	spec := Spec{Ref: img.Refs[0], Tags: img.Refs[1:], Binary: bin, Path: p, Args: img.Args, Env: img.Env}
	if err := WriteArchive(spec, dest); err != nil {
		return "", err
	}
	return dest, nil
}

func (b *Builder) binary(ctx context.Context, img Image) (string, error) {
	n := img.binaryName()
	if p, ok := b.built[n]; ok {
		return p, nil
	}
	var p string
	switch {
	case img.Package != "":
		p = filepath.Join(b.Dir, n)
		if err := BuildGo(ctx, b.ModuleDir, img.Package, p); err != nil {
			return "", err
		}
	default:
		if b.ToolsBin == "" {
			return "", fmt.Errorf("image %s is the pinned %s: no tools directory given (run `make tools`)", img.Refs[0], img.Tool)
		}
		p = filepath.Join(b.ToolsBin, img.Tool)
	}
	if b.built == nil {
		b.built = map[string]string{}
	}
	b.built[n] = p
	return p, nil
}
