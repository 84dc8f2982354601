package programs

import (
	"context"
	"fmt"
	"io"
	"os"

	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
)

// Istiod is the name of istiod's program. On kwok the lab is istiod itself
// (its injector and the proxies' control plane in its process), so it runs
// no istiod pod.
const Istiod = "istiod"

// istiod, Istio's control plane (docker.io/istio/pilot at our fixtures'
// tag, gcr.io/istio-release/pilot at kubeflow/manifests'), as the stand-in
// internal/standin/istiod: the proxies' discovery on 15010, injection on
// 15017 with a certificate it makes and writes into the injector's
// caBundle. istiod's `discovery …` flags are ignored: its ports are Istio's
// defaults, its namespace the pod's.
func init() {
	register(Program{
		Name:  Istiod,
		Repos: []string{"docker.io/istio/pilot", "gcr.io/istio-release/pilot"},
		Tags:  []string{"1.26.0", "1.29.1"},
		Config: static(Config{
			Entrypoint: []string{"/kfp-standin", Istiod},
			Env:        []string{"PATH=/"},
		}),
		Contents: standinAt("/kfp-standin"),
		Main: func(ctx context.Context, _ []string, stderr io.Writer) error {
			cfg, err := rest.InClusterConfig()
			if err != nil {
				return fmt.Errorf("istiod watches the cluster as its ServiceAccount: %w", err)
			}
			ns := os.Getenv("POD_NAMESPACE")
			if ns == "" {
				ns = kubeflow.GatewayNamespace
			}
			return istiod.RunPod(ctx, cfg, ns, stderr)
		},
	})
}
