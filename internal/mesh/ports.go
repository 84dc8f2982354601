package mesh

// Istio's sidecar ports: inbound traffic is redirected to InboundPort, the
// agent answers health at HealthPort, and Istio's iptables leave its own
// ports alone on the way in (istio-iptables -d 15090,15021,15020; 15008 is
// HBONE's, 15006 the inbound listener itself).
const (
	InboundPort = 15006
	HealthPort  = 15021
	// AgentPort is the agent's status port, where the kubelet's probes of
	// the pod's containers go once rewritten (AppProbers).
	AgentPort = 15020
)

// ExcludedInboundPorts are the ports never redirected to the sidecar.
var ExcludedInboundPorts = []int{15006, 15008, 15020, 15021, 15090}

// Redirected reports whether a connection to port goes through the
// sidecar.
func Redirected(port int) bool {
	for _, p := range ExcludedInboundPorts {
		if p == port {
			return false
		}
	}
	return true
}
