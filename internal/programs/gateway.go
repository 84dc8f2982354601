package programs

import (
	"net/http"

	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
)

// Kubeflow's Istio ingress gateway (docker.io/istio/proxyv2, at the tag our
// multi-user fixtures run), reduced to its routes and policies, on Istio's
// container port 8080: kfp-standin with the program named in the entrypoint.
// It reads the cluster's OIDC discovery and JWKS as the pod's
// ServiceAccount, which the default system:service-account-issuer-discovery
// binding allows; no ext_authz unless the pod's env names a login (see
// internal/standin/gateway).
func init() {
	register(Program{
		Name:  "istio-gateway",
		Repos: []string{"docker.io/istio/proxyv2"},
		Tags:  []string{"1.26.0"},
		Config: static(Config{
			Entrypoint: []string{"/kfp-standin", "istio-gateway"},
			Env:        []string{"PATH=/"},
		}),
		Contents: standinAt("/kfp-standin"),
		Server: &Server{Port: 8080, Build: func(in Inputs) (http.Handler, error) {
			cfg := gateway.ConfigFromEnv(in.Lookup)
			cfg.Transport = in.Transport
			cfg.Cluster = in.Identity
			return gateway.New(cfg)
		}},
	})
}
