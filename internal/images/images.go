// Package images builds the node provider's container images offline: each
// is one static binary on an empty base, written as a docker archive that
// `ctr images import` loads, so pods run with imagePullPolicy: Never and no
// registry is ever contacted.
package images

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The images the node provider builds, by tag. kfpc.local is no registry:
// the name only has to be one no pull could ever succeed for.
const (
	PauseRef = "kfpc.local/pause:3.10"
	ProbeRef = "kfpc.local/probe:1"
)

// The main packages of those images, built from this module.
const (
	PausePackage = "github.com/kfp-connect/kfp-connect/internal/images/pause"
	ProbePackage = "github.com/kfp-connect/kfp-connect/internal/images/probe"
)

// Spec is an image of one static binary.
type Spec struct {
	Ref    string // tag, e.g. PauseRef
	Binary string // the static binary on disk
	Path   string // where it lives in the image, absolute, e.g. /pause; also the entrypoint
	// Tags are more tags of the same image (the names several manifests
	// use for it); the archive carries them all.
	Tags []string
	// Args follow Path in the entrypoint: a multi-call binary's program,
	// kept when a pod's args: replace the image's Cmd.
	Args []string
	// Env is the config's environment after PATH=/, as KEY=VALUE.
	Env []string
}

// ErrNotStatic is wrapped when a binary would not run on an empty base.
var ErrNotStatic = errors.New("binary is dynamically linked: it cannot run on an empty base image (build it with CGO_ENABLED=0)")

// WriteArchive writes the image of spec as a docker archive at dest: a
// single layer holding spec.Binary at spec.Path (mode 0755, root-owned),
// config linux/amd64 with Entrypoint [spec.Path].
func WriteArchive(spec Spec, dest string) error {
	refs := map[name.Reference]v1.Image{}
	var tags []name.Tag
	for _, r := range append([]string{spec.Ref}, spec.Tags...) {
		tag, err := name.NewTag(r, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("image tag %q: %w", r, err)
		}
		tags = append(tags, tag)
	}
	if !path.IsAbs(spec.Path) || path.Clean(spec.Path) != spec.Path || spec.Path == "/" {
		return fmt.Errorf("image %s: path in image %q must be a clean absolute file path", spec.Ref, spec.Path)
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return fmt.Errorf("image %s: reading its binary: %w", spec.Ref, err)
	}
	if err := checkStatic(bin); err != nil {
		return fmt.Errorf("image %s: %s: %w", spec.Ref, spec.Binary, err)
	}
	layer, err := tarball.LayerFromOpener(opener(layerTar(spec.Path, bin)))
	if err != nil {
		return fmt.Errorf("image %s: layer: %w", spec.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image %s: config: %w", spec.Ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = append([]string{spec.Path}, spec.Args...)
	cf.Config.Env = append([]string{"PATH=/"}, spec.Env...)
	// A fixed date keeps the archive's digest a function of the binary only.
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("image %s: config: %w", spec.Ref, err)
	}
	for _, t := range tags {
		refs[t] = img
	}
	if err := tarball.MultiRefWriteToFile(dest, refs); err != nil {
		return fmt.Errorf("image %s: writing %s: %w", spec.Ref, dest, err)
	}
	return nil
}

// checkStatic refuses ELF files with a program interpreter (dynamic linking),
// and anything that is not ELF.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	return nil
}

// BuildGo builds the main package pkg of this module as a static linux/amd64
// binary at dest. It runs `go build` in dir (any directory inside the
// module), so the Go toolchain must be on PATH.
func BuildGo(ctx context.Context, dir, pkg, dest string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dest, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, bytes.TrimSpace(out))
	}
	return nil
}

// Build builds each main package of refs (tag → package) with BuildGo into
// dir and writes its archive there; it returns the archives' paths in the
// order of refs.
func Build(ctx context.Context, moduleDir, dir string, refs []Ref) ([]string, error) {
	var archives []string
	for _, r := range refs {
		base := filepath.Base(r.Package)
		bin := filepath.Join(dir, base)
		if err := BuildGo(ctx, moduleDir, r.Package, bin); err != nil {
			return nil, err
		}
		archive := filepath.Join(dir, base+".tar")
		if err := WriteArchive(Spec{Ref: r.Ref, Binary: bin, Path: "/" + base}, archive); err != nil {
			return nil, err
		}
		archives = append(archives, archive)
	}
	return archives, nil
}

// Ref names an image and the main package it is built from.
type Ref struct{ Ref, Package string }

// Defaults are the images every node cluster gets: the sandbox image and
// the probe the specs run.
func Defaults() []Ref {
	return []Ref{{PauseRef, PausePackage}, {ProbeRef, ProbePackage}}
}
