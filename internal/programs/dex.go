package programs

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// Dex, Kubeflow's OIDC provider (common/dex: ghcr.io/dexidp/dex, command
// `dex serve /etc/dex/cfg/config.yaml`), the real program from the tools
// cache, in its upstream image's layout: /usr/local/bin/dex found on PATH,
// a docker-entrypoint that ends by running its arguments, the numeric
// non-root user 1001 and its /var/dex. The fixtures' tag, and the one
// kubeflow/manifests pins (the same image, Dex a patch release later,
// answers to it).
func init() {
	register(Program{
		Name:  "dex",
		Repos: []string{"ghcr.io/dexidp/dex"},
		Tags:  []string{"v2.45.1", "v2.45.0"},
		Config: static(Config{
			Entrypoint: []string{"/usr/local/bin/docker-entrypoint"},
			Cmd:        []string{"dex", "serve", "/etc/dex/config.docker.yaml"},
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			User:       "1001:1001",
		}),
		Binary: "/usr/local/bin/dex",
		Contents: func(ctx context.Context, src Sources) (Contents, error) {
			dex, err := src.Tool("dex")
			if err != nil {
				return Contents{}, err
			}
			// Upstream's entrypoint runs its arguments (after rendering
			// templates, which ours does not).
			execArgs, err := src.Go(ctx, ExecArgsPackage)
			if err != nil {
				return Contents{}, err
			}
			return Contents{
				Files: []images.File{
					{Path: "/usr/local/bin/dex", Source: dex},
					{Path: "/usr/local/bin/docker-entrypoint", Source: execArgs},
					{Path: "/etc/dex", Dir: true},
					{Path: "/var/dex", Dir: true, UID: 1001, GID: 1001},
					{Path: "/tmp", Dir: true, Mode: 0o1777},
				},
				Labels: versionLabel(dex),
			}, nil
		},
	})
}

// versionLabel is the OCI version label of a tools-cache binary, from the
// version file tools/build.sh writes beside it.
func versionLabel(bin string) map[string]string {
	v := "unknown"
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "."+filepath.Base(bin)+".version")); err == nil {
		v = strings.TrimSpace(string(b))
	}
	return map[string]string{"org.opencontainers.image.version": v}
}
