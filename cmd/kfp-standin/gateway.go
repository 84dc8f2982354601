// The image docker.io/istio/proxyv2 (Kubeflow's ingress gateway, and the
// proxy Istio's injector adds to a pod) runs this program. Like Istio's
// pilot-agent, it does what its arguments say: `istio-iptables …` in an
// injected pod's init container, `proxy sidecar …` as its sidecar, and
// otherwise (`proxy router`, or no arguments as our fixtures start it) the
// ingress gateway.

package main

import (
	"context"
	"io"
	"net/http"
	"os"

	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
	standins "github.com/kfp-connect/kfp-connect/internal/standin/programs"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

func init() { register(standins.Gateway.Name, proxy) }

var gateway = httpProgram(standins.Gateway)

func proxy(ctx context.Context, args []string, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "istio-iptables":
		return sidecar.Init(args[1:], stderr)
	case len(args) > 1 && args[0] == "proxy" && args[1] == "sidecar":
		t := serviceTransport()
		return sidecar.RunPod(ctx, os.LookupEnv, func(ctx context.Context) (sidecar.PodControl, error) {
			addr, _ := os.LookupEnv("ISTIOD_ADDRESS")
			if addr == "" {
				addr = istiod.DefaultAddress
			}
			return istiod.Dial(ctx, 0, addr, &http.Client{Transport: t}, nil)
		}, t, stderr)
	}
	return gateway(ctx, args, stderr)
}
