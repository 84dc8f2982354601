// Package programs builds each stand-in's server from what its container
// gets: its environment, a client config acting as its pod's
// ServiceAccount, and a way to reach cluster Services. The lab calls it for
// a kwok pod, with the pod's env resolved through the API and a dialer in
// place of cluster DNS; cmd/kfp-standin calls it inside a real container,
// with os.LookupEnv, rest.InClusterConfig and the default transport. One
// function per stand-in, so both run exactly the same configuration.
package programs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
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
	// Mesh is the control plane an Istio proxy reads (the lab's istiod on
	// kwok); nil in a real pod, where the proxy follows istiod's Service.
	Mesh gateway.MeshSource
	// Workload is the pod as the mesh's policies select it; in a real pod
	// it is asked of istiod by the pod's address ($INSTANCE_IP).
	Workload mesh.Workload
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
	// reduced to its routes and policies, on Istio's container port 8080;
	// its policies are the cluster's, as istiod gives them.
	Gateway = Program{Name: "istio-gateway", Port: 8080, Build: func(in Inputs) (http.Handler, error) {
		cfg := gateway.ConfigFromEnv(in.Lookup)
		cfg.Transport = in.Transport
		cfg.Mesh, cfg.Workload = in.Mesh, in.Workload
		if cfg.Mesh == nil {
			remote, w, err := followIstiod(in)
			if err != nil {
				return nil, err
			}
			cfg.Mesh, cfg.Workload = remote, w
		}
		return gateway.New(cfg)
	}}
)

// followIstiod is how a proxy in a real pod gets its config: from istiod's
// Service, and its own workload by its pod's address.
func followIstiod(in Inputs) (*istiod.Remote, mesh.Workload, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, _ := in.Lookup("ISTIOD_ADDRESS")
	if addr == "" {
		addr = istiod.DefaultAddress
	}
	remote, err := istiod.Dial(context.Background(), time.Minute, addr, &http.Client{Transport: in.Transport}, nil)
	if err != nil {
		return nil, mesh.Workload{}, err
	}
	ipText, _ := in.Lookup("INSTANCE_IP")
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return nil, mesh.Workload{}, fmt.Errorf("$INSTANCE_IP %q: the proxy needs its pod's address to know its workload", ipText)
	}
	w, err := remote.Workload(ctx, ip)
	if err != nil {
		return nil, mesh.Workload{}, fmt.Errorf("istiod does not know this pod (%s): %w", ip, err)
	}
	return remote, w, nil
}
