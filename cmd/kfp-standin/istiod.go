// The image docker.io/istio/pilot (istiod) runs this program.

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
)

func init() { register("istiod", runIstiod) }

// runIstiod ignores istiod's `discovery …` flags: its ports are Istio's
// defaults, its namespace the pod's.
func runIstiod(ctx context.Context, _ []string, stderr io.Writer) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("istiod watches the cluster as its ServiceAccount: %w", err)
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "istio-system"
	}
	return istiod.RunPod(ctx, cfg, ns, stderr)
}
