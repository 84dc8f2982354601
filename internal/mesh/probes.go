package mesh

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Istio rewrites an injected pod's HTTP and TCP probes so the kubelet, which
// has no mesh identity and whose probes would otherwise meet the sidecar
// (a TCP probe would always succeed, an HTTP one be refused under STRICT or
// a deny-all policy), asks the agent instead: the probe becomes a GET of
// /app-health/<container>/<livez|readyz|startupz> on the agent's port
// 15020, and the original goes into the proxy's ISTIO_KUBE_APP_PROBERS.
// The agent then probes the application itself, past the redirect, and
// answers with the status code alone ("Health Checking of Istio Services",
// https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/).

// AppProbersEnv is the proxy's variable holding the original probes.
const AppProbersEnv = "ISTIO_KUBE_APP_PROBERS"

// RewriteProbesAnnotation on a pod, "false", keeps its probes as written.
const RewriteProbesAnnotation = "sidecar.istio.io/rewriteAppHTTPProbers"

// AppProbe is one original probe, as ISTIO_KUBE_APP_PROBERS carries it.
type AppProbe struct {
	HTTPGet        *corev1.HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket      *corev1.TCPSocketAction `json:"tcpSocket,omitempty"`
	TimeoutSeconds int32                   `json:"timeoutSeconds,omitempty"`
}

// AppProbers maps an /app-health/… path to the probe it stands for.
type AppProbers map[string]AppProbe

// RewriteProbes rewrites the HTTP and TCP probes of pod's containers to the
// agent and returns the originals, their named ports resolved to numbers
// (the agent cannot see the container's port names). It leaves the pod as
// it is when the pod opts out.
func RewriteProbes(pod *corev1.Pod) AppProbers {
	if pod.Annotations[RewriteProbesAnnotation] == "false" {
		return nil
	}
	out := AppProbers{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, p := range []struct {
			probe *corev1.Probe
			kind  string
		}{{c.LivenessProbe, "livez"}, {c.ReadinessProbe, "readyz"}, {c.StartupProbe, "startupz"}} {
			if p.probe == nil || (p.probe.HTTPGet == nil && p.probe.TCPSocket == nil) {
				continue // exec and gRPC probes are left alone here
			}
			orig := AppProbe{TimeoutSeconds: p.probe.TimeoutSeconds}
			if h := p.probe.HTTPGet; h != nil {
				h = h.DeepCopy()
				h.Port = resolvePort(c, h.Port.String())
				orig.HTTPGet = h
			} else {
				t := p.probe.TCPSocket.DeepCopy()
				t.Port = resolvePort(c, t.Port.String())
				orig.TCPSocket = t
			}
			path := fmt.Sprintf("/app-health/%s/%s", c.Name, p.kind)
			out[path] = orig
			p.probe.TCPSocket = nil
			p.probe.HTTPGet = &corev1.HTTPGetAction{Path: path, Port: intOrString(AgentPort), Scheme: corev1.URISchemeHTTP}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Env is the proxy's ISTIO_KUBE_APP_PROBERS value.
func (a AppProbers) Env() string {
	b, _ := json.Marshal(a)
	return string(b)
}

// ParseAppProbers reads ISTIO_KUBE_APP_PROBERS.
func ParseAppProbers(s string) (AppProbers, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var a AppProbers
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("%s: %w", AppProbersEnv, err)
	}
	for path := range a {
		if !strings.HasPrefix(path, "/app-health/") {
			return nil, fmt.Errorf("%s: path %q is not under /app-health/", AppProbersEnv, path)
		}
	}
	return a, nil
}

func resolvePort(c *corev1.Container, port string) intstr.IntOrString {
	for _, p := range c.Ports {
		if p.Name == port {
			return intstr.FromInt32(p.ContainerPort)
		}
	}
	return intstr.Parse(port)
}

func intOrString(p int) intstr.IntOrString { return intstr.FromInt(p) }
