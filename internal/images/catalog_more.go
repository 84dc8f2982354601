package images

import (
	"context"
	"fmt"
	"path/filepath"
)

// The login programs' images (login.go), the PodDefault webhook's
// (poddefault.go) and the doctor's, as catalogue entries: a node cluster
// asked for their refs builds and imports them like KFP's.
func init() {
	for _, refs := range [][]string{{DexRef, DexUpstreamRef}, {OAuth2ProxyRef}, {OpenLDAPRef}} {
		register(Entry{Refs: refs, Make: func(ctx context.Context, b *Builder) (Image, error) { return loginImage(ctx, b, refs[0]) }})
	}
	register(Entry{Refs: []string{PodDefaultWebhookRef}, Make: func(ctx context.Context, b *Builder) (Image, error) {
		standin, err := b.Go(ctx, StandinPackage)
		if err != nil {
			return Image{}, err
		}
		return PodDefaultWebhookImage(standin), nil
	}})
	// The doctor at the tag doctorpod runs by default; its version is the
	// dev build's, as the suites use it.
	register(Entry{Refs: []string{Doctor("").Ref}, Make: func(ctx context.Context, b *Builder) (Image, error) {
		bin, err := b.Go(ctx, DoctorPackage)
		if err != nil {
			return Image{}, err
		}
		return Image{Files: []File{{Path: "/kfp-doctor", Source: bin}}, Entrypoint: []string{"/kfp-doctor"}, Env: []string{"PATH=/"}}, nil
	}})
}

func loginImage(ctx context.Context, b *Builder, ref string) (Image, error) {
	tools, err := b.Tools()
	if err != nil {
		return Image{}, err
	}
	standin, err := b.Go(ctx, StandinPackage)
	if err != nil {
		return Image{}, err
	}
	execArgs, err := b.Go(ctx, ExecArgsPackage)
	if err != nil {
		return Image{}, err
	}
	imgs, err := LoginImages(LoginBinaries{ToolsBin: tools, Standin: standin, ExecArgs: execArgs})
	if err != nil {
		return Image{}, err
	}
	for _, img := range imgs {
		if img.Refs[0] == ref {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("the login images have none tagged %s", filepath.Base(ref))
}
