package programs

import (
	"context"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// kubectl, from the image Kubeflow's cluster-jwks-proxy runs `kubectl
// proxy` from (common/oauth2-proxy/components/cluster-jwks-proxy:
// docker.io/bitnami/kubectl, renamed to bitnamisecure/kubectl:latest), which
// serves the cluster's JWKS to the gateway's m2m rule. The tools cache's
// kubectl (static) in Bitnami's layout and user; its entrypoint is kubectl,
// so a pod's args are kubectl's, and in a pod it finds its ServiceAccount
// as kubectl does.
func init() {
	register(Program{
		Name:  "kubectl",
		Repos: []string{"docker.io/bitnamisecure/kubectl"},
		Tags:  []string{"latest"},
		Config: static(Config{
			Entrypoint: []string{"/opt/bitnami/kubectl/bin/kubectl"},
			Env:        []string{"PATH=/opt/bitnami/kubectl/bin", "HOME=/"},
			User:       "1001",
		}),
		Contents: func(_ context.Context, src Sources) (Contents, error) {
			bin, err := src.Tool("kubectl")
			if err != nil {
				return Contents{}, err
			}
			return Contents{Files: []images.File{
				{Path: "/opt/bitnami/kubectl/bin/kubectl", Source: bin},
				{Path: "/tmp", Dir: true, Mode: 0o1777}, {Path: "/.kube", Dir: true, UID: 1001, GID: 1001},
			}, Labels: versionLabel(bin)}, nil
		},
	})
}
