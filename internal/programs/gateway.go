package programs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// Istio's proxy image (docker.io/istio/proxyv2 at our fixtures' tag,
// gcr.io/istio-release/proxyv2 at kubeflow/manifests' istio-install/base
// tag): kfp-standin with the program named in the entrypoint. Like Istio's
// pilot-agent it does what its arguments say: `istio-iptables …` in an
// injected pod's init container, `proxy sidecar …` as its sidecar, and
// otherwise (`proxy router`, or none as our fixtures start it) Kubeflow's
// ingress gateway, reduced to its routes, on Istio's container port 8080,
// its policies the cluster's as istiod gives them. It reads the cluster's
// OIDC discovery and JWKS as the pod's ServiceAccount, which the default
// system:service-account-issuer-discovery binding allows; no ext_authz
// unless the mesh config or the pod's env names a login (see
// internal/standin/gateway).
func init() {
	p := Program{
		Name:  Gateway,
		Repos: []string{"docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2"},
		Tags:  []string{"1.26.0", "1.29.1"},
		Config: static(Config{
			Entrypoint: []string{"/kfp-standin", Gateway},
			Env:        []string{"PATH=/"},
		}),
		Contents: standinAt("/kfp-standin"),
		Server: &Server{Port: 8080, Build: func(in Inputs) (http.Handler, error) {
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
		}},
	}
	p.Main = func(ctx context.Context, args []string, stderr io.Writer) error {
		switch {
		case len(args) > 0 && args[0] == "istio-iptables":
			return sidecar.Init(args[1:], stderr)
		case len(args) > 1 && args[0] == "proxy" && args[1] == "sidecar":
			t := serviceTransport()
			return sidecar.RunPod(ctx, os.LookupEnv, func(ctx context.Context) (sidecar.PodControl, error) {
				return istiod.Dial(ctx, 0, istiodAddress(os.LookupEnv), &http.Client{Transport: t}, nil)
			}, t, stderr)
		case len(args) > 1 && args[0] == "proxy":
			args = nil // `proxy router …`: the gateway, whose flags mean nothing here
		}
		return serveProgram(ctx, &p, args, stderr)
	}
	register(p)
}

// Gateway is the proxy's program name.
const Gateway = "istio-gateway"

// istiodAddress is where a proxy in a real pod reaches istiod.
func istiodAddress(lookup func(string) (string, bool)) string {
	if addr, _ := lookup("ISTIOD_ADDRESS"); addr != "" {
		return addr
	}
	return istiod.DefaultAddress
}

// followIstiod is how a proxy in a real pod gets its config: from istiod's
// Service, and its own workload by its pod's address ($INSTANCE_IP).
func followIstiod(in Inputs) (*istiod.Remote, mesh.Workload, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	remote, err := istiod.Dial(context.Background(), time.Minute, istiodAddress(in.Lookup), &http.Client{Transport: in.Transport}, nil)
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
