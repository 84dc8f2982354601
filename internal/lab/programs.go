package lab

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
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
			if _, set := in.Lookup("TAG_NAME"); !set {
				// What the image's own ENV would have said.
				cfg.TagName = apiserver.TagFromImage(in.Container.Image)
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
	// Gateway is Kubeflow's Istio ingress gateway (image istio/proxyv2),
	// reduced to the /pipeline route and the m2m policies. It reads the
	// cluster's OIDC discovery and JWKS as the pod's ServiceAccount, which
	// the default system:service-account-issuer-discovery binding allows, and
	// reaches ml-pipeline-ui as the pod would. No ext_authz: an unsecured
	// gateway until the Dex and oauth2-proxy work lands.
	Gateway = Program{
		Name:  "istio-ingressgateway",
		Match: func(image string) bool { return strings.Contains(image, "istio/proxyv2") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			cfg := gateway.ConfigFromEnv(in.Lookup)
			cfg.Transport = in.Dialer.Transport()
			cfg.Cluster = in.Identity
			return gateway.New(cfg)
		},
	}
)
