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
	"regexp"
	"strings"
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
	PausePackage  = "github.com/kfp-connect/kfp-connect/internal/images/pause"
	ProbePackage  = "github.com/kfp-connect/kfp-connect/internal/images/probe"
	DoctorPackage = "github.com/kfp-connect/kfp-connect/cmd/kfp-doctor"
)

// DoctorRepository is the doctor's image name without its tag: the name the
// shipped Job (deploy/doctor) uses, so an image built here and loaded into a
// node (kind load image-archive, ctr import) runs it unchanged.
const DoctorRepository = "ghcr.io/kfp-connect/kfp-doctor"

// DevTag is the doctor's tag when no version is given: what the suites
// build and run, so a spec never depends on `git describe`.
const DevTag = "dev"

// Doctor is the doctor's image for version (the one `make build` stamps,
// e.g. v0.3.0-4-gabc1234-dirty; empty is DevTag), tagged
// ghcr.io/kfp-connect/kfp-doctor:<version>. Characters a tag cannot hold
// become '-'.
func Doctor(version string) Ref {
	return Ref{DoctorRepository + ":" + tagOf(version), DoctorPackage}
}

var notTag = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagOf makes version a valid image tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func tagOf(version string) string {
	t := notTag.ReplaceAllString(version, "-")
	t = strings.TrimLeft(t, ".-")
	if len(t) > 128 {
		t = t[:128]
	}
	if t == "" {
		return DevTag
	}
	return t
}

// Spec is an image of one static binary.
type Spec struct {
	Ref    string // tag, e.g. PauseRef
	Binary string // the static binary on disk
	Path   string // where it lives in the image, absolute, e.g. /pause; also the entrypoint
}

// ErrNotStatic is wrapped when a binary would not run on an empty base.
var ErrNotStatic = errors.New("binary is dynamically linked: it cannot run on an empty base image (build it with CGO_ENABLED=0)")

// WriteArchive writes the image of spec as a docker archive at dest: a
// single layer holding spec.Binary at spec.Path (mode 0755, root-owned),
// config linux/amd64 with Entrypoint [spec.Path]. The archive names the
// image spec.Ref and each of alsoTagged (e.g. …:latest besides …:v1.2.0).
func WriteArchive(spec Spec, dest string, alsoTagged ...string) error {
	refs := map[name.Reference]v1.Image{}
	var tags []name.Tag
	for _, r := range append([]string{spec.Ref}, alsoTagged...) {
		t, err := name.NewTag(r, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("image tag %q: %w", r, err)
		}
		tags = append(tags, t)
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
	img, err := mutate.AppendLayers(empty.Image, uncompressedLayer(layerTar(spec.Path, bin)))
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image %s: config: %w", spec.Ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{spec.Path}
	cf.Config.Env = []string{"PATH=/"}
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

// BuildOption changes how BuildGo and Build build.
type BuildOption func(*buildConfig)

type buildConfig struct {
	version string
	also    []string // extra tags
}

// Version stamps v into each program's main.version (-X main.version=v), as
// `make build` does, so `kfp-doctor version` in the image prints the build's
// version; programs without that variable are unaffected.
func Version(v string) BuildOption { return func(c *buildConfig) { c.version = v } }

// AlsoTag names each image Build writes also with tag (same repository),
// e.g. "latest", which deploy/doctor/job.yaml runs.
func AlsoTag(tag string) BuildOption { return func(c *buildConfig) { c.also = append(c.also, tag) } }

// BuildGo builds the main package pkg of this module as a static linux/amd64
// binary at dest. It runs `go build` in dir (any directory inside the
// module), so the Go toolchain must be on PATH.
func BuildGo(ctx context.Context, dir, pkg, dest string, opts ...BuildOption) error {
	var c buildConfig
	for _, o := range opts {
		o(&c)
	}
	ldflags := "-s -w"
	if c.version != "" {
		// Quoted for the linker's own flag splitting, which honours quotes.
		ldflags += fmt.Sprintf(" -X 'main.version=%s'", c.version)
	}
	// The doctor is a large program: on a shared, cold build cache it
	// takes minutes, not seconds.
	ctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", dest, pkg)
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
func Build(ctx context.Context, moduleDir, dir string, refs []Ref, opts ...BuildOption) ([]string, error) {
	var c buildConfig
	for _, o := range opts {
		o(&c)
	}
	var archives []string
	for _, r := range refs {
		base := filepath.Base(r.Package)
		bin := filepath.Join(dir, base)
		if err := BuildGo(ctx, moduleDir, r.Package, bin, opts...); err != nil {
			return nil, err
		}
		archive := filepath.Join(dir, base+".tar")
		var also []string
		for _, t := range c.also {
			also = append(also, retag(r.Ref, t))
		}
		if err := WriteArchive(Spec{Ref: r.Ref, Binary: bin, Path: "/" + base}, archive, also...); err != nil {
			return nil, err
		}
		archives = append(archives, archive)
	}
	return archives, nil
}

// retag is ref with its tag replaced by tag.
func retag(ref, tag string) string {
	if t, err := name.NewTag(ref); err == nil {
		return t.Context().Name() + ":" + tag
	}
	return ref + ":" + tag // WriteArchive reports the bad ref
}

// Ref names an image and the main package it is built from.
type Ref struct{ Ref, Package string }

// Defaults are the images every node cluster gets: the sandbox image and
// the probe the specs run.
func Defaults() []Ref {
	return []Ref{{PauseRef, PausePackage}, {ProbeRef, ProbePackage}}
}
