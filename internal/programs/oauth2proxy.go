package programs

import (
	"context"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// oauth2-proxy, Kubeflow ≥ 1.9's ext_authz (common/oauth2-proxy:
// quay.io/oauth2-proxy/oauth2-proxy, args --http-address=0.0.0.0:4180
// --config=…), the real program from the tools cache (tools/build.sh's
// OAUTH2_PROXY_VERSION: the version label says which), in its upstream
// image's layout: entrypoint /bin/oauth2-proxy, so args alone work, and
// distroless's nonroot user.
func init() {
	register(Program{
		Name:  "oauth2-proxy",
		Repos: []string{"quay.io/oauth2-proxy/oauth2-proxy"},
		Tags:  []string{"v7.14.3"},
		Config: static(Config{
			Entrypoint: []string{"/bin/oauth2-proxy"},
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			User:       "65532:65532",
		}),
		Contents: func(_ context.Context, src Sources) (Contents, error) {
			bin, err := src.Tool("oauth2-proxy")
			if err != nil {
				return Contents{}, err
			}
			return Contents{
				Files:  []images.File{{Path: "/bin/oauth2-proxy", Source: bin}, {Path: "/tmp", Dir: true, Mode: 0o1777}},
				Labels: versionLabel(bin),
			}, nil
		},
	})
}
