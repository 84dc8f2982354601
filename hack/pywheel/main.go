// Command pywheel builds the kfp-doctor Python wheels offline: one wheel per
// platform of the release, each carrying the static kfp-doctor binary as a
// script (pip puts it on PATH, as ruff and uv ship theirs) and the kfp_doctor
// package (python/, embedded; standard library only). No PyPI, pip or build
// backend is needed: a wheel is a zip with METADATA, WHEEL and RECORD.
//
//	go run ./hack/pywheel --version v1.2.3 --dist dist --out bin/wheels          # a release's binaries (goreleaser's artifacts.json)
//	go run ./hack/pywheel --version v1.2.3 --build linux/amd64,darwin/arm64 …   # cross-built here, with the release's flags
//	go run ./hack/pywheel --version v1.2.3 --binary linux/amd64=bin/kfp-doctor  # a binary at hand
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/pywheel"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pywheel:", err)
		os.Exit(1)
	}
}

// binaries are the kfp-doctor binaries by platform (GOOS/GOARCH).
type binaries map[string]string

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pywheel", flag.ContinueOnError)
	version := fs.String("version", "", "the release's version (a tag like v1.2.3, or what git describe prints)")
	out := fs.String("out", "bin/wheels", "directory the wheels are written to")
	dist := fs.String("dist", "", "goreleaser's dist directory: the kfp-doctor binaries listed in its artifacts.json")
	build := fs.String("build", "", "comma-separated GOOS/GOARCH list to cross-build kfp-doctor for, with the release's flags")
	var given []string
	fs.Func("binary", "GOOS/GOARCH=PATH: a kfp-doctor binary to wrap (repeatable)", func(v string) error { given = append(given, v); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return errors.New("--version is required")
	}
	pyVersion, err := pywheel.PEP440(*version)
	if err != nil {
		return err
	}
	pkg, readme, lic, err := pywheel.Package()
	if err != nil {
		return fmt.Errorf("reading the package: %w", err)
	}
	var bins binaries
	switch {
	case *dist != "":
		bins, err = fromDist(*dist)
	case *build != "":
		bins, err = crossBuild(ctx, strings.Split(*build, ","), *version, filepath.Join(*out, ".build"))
	default:
		bins, err = fromFlags(given)
	}
	if err != nil {
		return err
	}
	if len(bins) == 0 {
		return errors.New("no binaries: pass --dist, --build or --binary")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	stamp := sourceDate()
	for _, p := range pywheel.Platforms { // in a fixed order
		path, ok := bins[p.Name()]
		if !ok {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w := &pywheel.Wheel{Version: pyVersion, Platform: p, Binary: b, Package: pkg, README: readme, License: lic, Time: stamp}
		var zb bytes.Buffer
		if err := w.Write(&zb); err != nil {
			return err
		}
		dest := filepath.Join(*out, w.FileName())
		if err := os.WriteFile(dest, zb.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s (%.1f MB)\n", dest, float64(zb.Len())/1e6)
	}
	return nil
}

// sourceDate is $SOURCE_DATE_EPOCH (reproducible builds), else 1980-01-01,
// the earliest time a zip can hold.
func sourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 315532800 {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
}

func platformOf(s string) (pywheel.Platform, error) {
	goos, goarch, _ := strings.Cut(strings.TrimSpace(s), "/")
	p, ok := pywheel.FindPlatform(goos, goarch)
	if !ok {
		return pywheel.Platform{}, fmt.Errorf("%q: not a platform of the release (linux or darwin, amd64 or arm64)", s)
	}
	return p, nil
}

func fromFlags(given []string) (binaries, error) {
	bins := binaries{}
	for _, g := range given {
		plat, path, ok := strings.Cut(g, "=")
		if !ok {
			return nil, fmt.Errorf("--binary %q: want GOOS/GOARCH=PATH", g)
		}
		p, err := platformOf(plat)
		if err != nil {
			return nil, err
		}
		bins[p.Name()] = path
	}
	return bins, nil
}

// fromDist reads goreleaser's artifacts.json: the binaries of the build
// whose id is kfp-doctor.
func fromDist(dist string) (binaries, error) {
	b, err := os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		return nil, fmt.Errorf("--dist: %w (run goreleaser first)", err)
	}
	var arts []struct {
		Path   string         `json:"path"`
		Goos   string         `json:"goos"`
		Goarch string         `json:"goarch"`
		Type   string         `json:"type"`
		Extra  map[string]any `json:"extra"`
	}
	if err := json.Unmarshal(b, &arts); err != nil {
		return nil, fmt.Errorf("--dist: artifacts.json: %w", err)
	}
	bins := binaries{}
	for _, a := range arts {
		if a.Type != "Binary" || a.Extra["ID"] != "kfp-doctor" {
			continue
		}
		p, ok := pywheel.FindPlatform(a.Goos, a.Goarch)
		if !ok {
			continue
		}
		// Paths are relative to where goreleaser ran, the dist's parent.
		path := a.Path
		if _, err := os.Stat(path); err != nil && !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(filepath.Clean(dist)), a.Path)
		}
		bins[p.Name()] = path
	}
	if len(bins) != len(pywheel.Platforms) {
		return nil, fmt.Errorf("--dist: artifacts.json lists kfp-doctor for %d of the %d platforms", len(bins), len(pywheel.Platforms))
	}
	return bins, nil
}

// crossBuild builds kfp-doctor for each platform as .goreleaser.yaml does:
// CGO_ENABLED=0, -trimpath, -s -w, the version stamped.
func crossBuild(ctx context.Context, platforms []string, version, dir string) (binaries, error) {
	bins := binaries{}
	for _, s := range platforms {
		p, err := platformOf(s)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(dir, p.GOOS+"_"+p.GOARCH, "kfp-doctor")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/kfp-doctor")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.GOOS, "GOARCH="+p.GOARCH)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		fmt.Fprintf(os.Stderr, "building kfp-doctor for %s/%s\n", p.GOOS, p.GOARCH)
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building kfp-doctor for %s/%s: %w", p.GOOS, p.GOARCH, err)
		}
		bins[p.Name()] = out
	}
	return bins, nil
}
