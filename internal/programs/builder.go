package programs

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// Builder writes the catalogue's images as docker archives in Dir, offline:
// this module's programs built static (each once however many images hold
// it), the tools cache's binaries, files of this machine.
type Builder struct {
	ModuleDir string // a directory inside this module, for go build
	ToolsBin  string // the tools cache's bin directory (dex, oauth2-proxy)
	Dir       string // where binaries and archives go

	built map[string]string // package → binary
}

// Go builds the main package pkg of this module (static, images.BuildGo)
// into Dir, once, and returns the binary's path.
func (b *Builder) Go(ctx context.Context, pkg string) (string, error) {
	if p, ok := b.built[pkg]; ok {
		return p, nil
	}
	p := filepath.Join(b.Dir, path.Base(pkg))
	if err := images.BuildGo(ctx, b.ModuleDir, pkg, p); err != nil {
		return "", err
	}
	if b.built == nil {
		b.built = map[string]string{}
	}
	b.built[pkg] = p
	return p, nil
}

// Tool is a binary of the tools cache, or an error saying how to fill it.
func (b *Builder) Tool(name string) (string, error) {
	if b.ToolsBin == "" {
		return "", fmt.Errorf("no tools directory given for the image's %s (run `make tools`)", name)
	}
	return filepath.Join(b.ToolsBin, name), nil
}

// Archives writes the images that carry refs and returns their archives,
// in the order of refs, each image once. An image carries every tag of its
// program whose config is the same (kfp-frontend's 2.17.0 and 2.16.0 are
// one image; the API server's differ in ENV TAG_NAME). An unknown ref is an
// error naming the catalogue's.
func (b *Builder) Archives(ctx context.Context, refs []string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	contents := map[string]Contents{}
	for _, r := range refs {
		p, tag, ok := Find(r)
		if !ok {
			var known []string
			for _, k := range All() {
				known = append(known, k.Refs()...)
			}
			return nil, fmt.Errorf("image %s is not in the catalogue (internal/programs): known are %s", r, strings.Join(known, ", "))
		}
		cfg := p.ConfigAt(tag)
		var tags []string
		for _, t := range p.Tags {
			if reflect.DeepEqual(p.ConfigAt(t), cfg) {
				tags = append(tags, t)
			}
		}
		main := p.Repos[0] + ":" + tags[0]
		if done[main] {
			continue
		}
		done[main] = true
		c, ok := contents[p.Name]
		if !ok {
			var err error
			if c, err = p.Contents(ctx, b); err != nil {
				return nil, fmt.Errorf("image %s: %w", main, err)
			}
			contents[p.Name] = c
		}
		img := images.Image{
			Files: c.Files, Labels: c.Labels,
			Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir,
		}
		for _, repo := range p.Repos {
			for _, t := range tags {
				img.Refs = append(img.Refs, repo+":"+t)
			}
		}
		// One archive per image, named after its main ref.
		file := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(main) + ".tar"
		dest := filepath.Join(b.Dir, file)
		if err := images.WriteImage(img, dest); err != nil {
			return nil, err
		}
		out = append(out, dest)
	}
	return out, nil
}
