package lab

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/ui"
)

// KFP's two programs a client talks to. Images are matched by name, so the
// real manifests' images (ghcr.io/kubeflow/kfp-api-server:…) run here too.
var (
	APIServer = Program{
		Name:  "kfp-api-server",
		Match: func(image string) bool { return strings.Contains(image, "kfp-api-server") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			cfg, err := apiserver.ConfigFromEnv(in.Lookup)
			if err != nil {
				return nil, err
			}
			kube, err := kubernetes.NewForConfig(in.Identity)
			if err != nil {
				return nil, fmt.Errorf("client for the API server's ServiceAccount: %w", err)
			}
			return apiserver.New(cfg, kube), nil
		},
	}
	UIServer = Program{
		Name:  "kfp-frontend",
		Match: func(image string) bool { return strings.Contains(image, "kfp-frontend") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			cfg := ui.ConfigFromEnv(in.Lookup)
			cfg.Transport = in.Dialer.Transport()
			return ui.New(cfg), nil
		},
	}
)

// KFP is every program the lab runs for a KFP install.
func KFP() []Program { return []Program{APIServer, UIServer} }
