package lab

import (
	"context"
	"net/http"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/programs"
)

// KFP's two programs a client talks to, and the gateway. Images are matched
// by name, so the real manifests' images (ghcr.io/kubeflow/kfp-api-server:…)
// run here too. Each is built by internal/standin/programs, as the same
// stand-in is inside a real container (cmd/kfp-standin).
var (
	APIServer = Program{
		Name:  "kfp-api-server",
		Match: func(image string) bool { return strings.Contains(image, "kfp-api-server") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			lookup := in.Lookup
			if _, set := in.Lookup("TAG_NAME"); !set {
				// What the image's own ENV would have said (the node
				// provider's images carry it).
				tag := apiserver.TagFromImage(in.Container.Image)
				lookup = func(k string) (string, bool) {
					if k == "TAG_NAME" {
						return tag, true
					}
					return in.Lookup(k)
				}
			}
			return programs.APIServer.Build(programs.Inputs{Lookup: lookup, Identity: in.Identity})
		},
	}
	UIServer = Program{
		Name:  "kfp-frontend",
		Match: func(image string) bool { return strings.Contains(image, "kfp-frontend") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			return programs.UI.Build(in.programInputs())
		},
	}
	// Gateway is Kubeflow's Istio ingress gateway (image istio/proxyv2); it
	// reaches ml-pipeline-ui as the pod would, and reads its policies from
	// the lab's istiod.
	Gateway = Program{
		Name:  "istio-ingressgateway",
		Match: func(image string) bool { return strings.Contains(image, "istio/proxyv2") },
		Handler: func(_ context.Context, in Inputs) (http.Handler, error) {
			return programs.Gateway.Build(in.programInputs())
		},
	}
)

// programInputs is what the container would see, for internal/standin/programs.
func (in Inputs) programInputs() programs.Inputs {
	out := programs.Inputs{Lookup: in.Lookup, Identity: in.Identity, Transport: in.Dialer.Transport()}
	if in.Mesh != nil {
		out.Mesh = in.Mesh
	}
	if in.Pod != nil {
		out.Workload = mesh.Workload{Namespace: in.Pod.Namespace, Labels: in.Pod.Labels}
	}
	return out
}
