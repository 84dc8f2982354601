// Package programs builds each stand-in's server from what its container
// gets: its environment, a client config acting as its pod's
// ServiceAccount, and a way to reach cluster Services. The lab calls it for
// a kwok pod, with the pod's env resolved through the API and a dialer in
// place of cluster DNS; cmd/kfp-standin calls it inside a real container,
// with os.LookupEnv, rest.InClusterConfig and the default transport. One
// function per stand-in, so both run exactly the same configuration.
package programs

import (
	"errors"
	"fmt"
	"net/http"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
	"github.com/kfp-connect/kfp-connect/internal/standin/ui"
)

// Inputs is what a stand-in's container sees.
type Inputs struct {
	// Lookup reads the container's env, like os.LookupEnv.
	Lookup func(string) (string, bool)
	// Identity acts as the pod's ServiceAccount.
	Identity *rest.Config
	// Transport reaches cluster Services by their DNS names; nil is
	// http.DefaultTransport (a real pod's resolver and kube-proxy).
	Transport http.RoundTripper
}

// Program is one stand-in: the port its real counterpart listens on (the
// containerPort the manifests declare) and how to build its server.
type Program struct {
	Name  string
	Port  int
	Build func(Inputs) (http.Handler, error)
}

var errNoIdentity = errors.New("no ServiceAccount identity")

var (
	// APIServer is KFP's API server (ghcr.io/kubeflow/kfp-api-server); its
	// HTTP port is 8888 (the gRPC port 8887 is not served by the stand-in).
	APIServer = Program{Name: "kfp-api-server", Port: 8888, Build: func(in Inputs) (http.Handler, error) {
		cfg, err := apiserver.ConfigFromEnv(in.Lookup)
		if err != nil {
			return nil, err
		}
		if in.Identity == nil {
			return nil, fmt.Errorf("the API server checks tokens and access as its ServiceAccount: %w", errNoIdentity)
		}
		kube, err := kubernetes.NewForConfig(in.Identity)
		if err != nil {
			return nil, fmt.Errorf("client for the API server's ServiceAccount: %w", err)
		}
		return apiserver.New(cfg, kube), nil
	}}
	// UI is KFP's UI server (ghcr.io/kubeflow/kfp-frontend), on port 3000.
	UI = Program{Name: "kfp-frontend", Port: 3000, Build: func(in Inputs) (http.Handler, error) {
		cfg := ui.ConfigFromEnv(in.Lookup)
		cfg.Transport = in.Transport
		return ui.New(cfg), nil
	}}
	// Gateway is Kubeflow's Istio ingress gateway (docker.io/istio/proxyv2),
	// reduced to its routes and policies, on Istio's container port 8080. It
	// reads the cluster's OIDC discovery and JWKS as the pod's
	// ServiceAccount, which the default
	// system:service-account-issuer-discovery binding allows.
	Gateway = Program{Name: "istio-gateway", Port: 8080, Build: func(in Inputs) (http.Handler, error) {
		cfg := gateway.ConfigFromEnv(in.Lookup)
		cfg.Transport = in.Transport
		cfg.Cluster = in.Identity
		return gateway.New(cfg)
	}}
)
