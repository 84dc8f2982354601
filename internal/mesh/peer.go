package mesh

import (
	secv1beta1 "istio.io/api/security/v1beta1"
)

// MTLSMode is what a workload's sidecar accepts on a port.
type MTLSMode string

const (
	// Permissive accepts mTLS and plaintext: Istio's default.
	Permissive MTLSMode = "PERMISSIVE"
	// Strict accepts mTLS only; Envoy resets a plaintext connection.
	Strict MTLSMode = "STRICT"
	// Disable accepts plaintext only: even mesh clients send plaintext
	// (auto mTLS honours it), so no request has a peer principal.
	Disable MTLSMode = "DISABLE"
)

// PeerMode is the effective mTLS mode of workload w on port, and the
// PeerAuthentication that set it (nil: the default). Istio's precedence
// (PeerAuthentication reference): a policy selecting the workload in its
// namespace, else the namespace's policy without a selector, else the root
// namespace's policy without a selector ("policies with workload selectors
// are ignored when deployed in the root namespace"), else PERMISSIVE; among
// several at one level the oldest wins; UNSET inherits from the next level,
// and a workload policy's portLevelMtls overrides it for that port.
func (c *Config) PeerMode(w Workload, port int) (MTLSMode, *Ref) {
	var workload, namespace, mesh *PeerAuthentication
	older := func(cur, p *PeerAuthentication) bool {
		return cur == nil || p.Created.Before(cur.Created) ||
			(p.Created.Equal(cur.Created) && p.Name < cur.Name)
	}
	for i := range c.PeerAuthentications {
		p := &c.PeerAuthentications[i]
		hasSel := len(p.Spec.GetSelector().GetMatchLabels()) > 0
		switch {
		case p.Namespace == w.Namespace && hasSel && c.selects(p.Namespace, p.Spec.GetSelector(), false, w):
			if older(workload, p) {
				workload = p
			}
		case p.Namespace == w.Namespace && !hasSel:
			if older(namespace, p) {
				namespace = p
			}
		case p.Namespace == c.Root() && !hasSel:
			if older(mesh, p) {
				mesh = p
			}
		}
	}
	if workload != nil {
		if pl, ok := workload.Spec.GetPortLevelMtls()[uint32(port)]; ok && pl.GetMode() != secv1beta1.PeerAuthentication_MutualTLS_UNSET {
			return mode(pl.GetMode()), &workload.Ref
		}
	}
	for _, p := range []*PeerAuthentication{workload, namespace, mesh} {
		if p != nil && p.Spec.GetMtls().GetMode() != secv1beta1.PeerAuthentication_MutualTLS_UNSET {
			return mode(p.Spec.GetMtls().GetMode()), &p.Ref
		}
	}
	return Permissive, nil
}

func mode(m secv1beta1.PeerAuthentication_MutualTLS_Mode) MTLSMode {
	switch m {
	case secv1beta1.PeerAuthentication_MutualTLS_STRICT:
		return Strict
	case secv1beta1.PeerAuthentication_MutualTLS_DISABLE:
		return Disable
	}
	return Permissive
}

// Connection is how a client's connection meets a workload's sidecar:
// refused (STRICT and the client is outside the mesh), and otherwise the
// peer principal the policies will see.
type Connection struct {
	// Reset: Envoy closes a plaintext connection to a STRICT port before
	// any HTTP; the client sees its connection reset.
	Reset bool
	Mode  MTLSMode
	// By is the PeerAuthentication that set Mode (nil: Istio's default).
	By *Ref
	// Peer is the source principal, "" when the connection is plaintext.
	Peer string
}

// Connect is a client connecting to workload w on port. clientPrincipal is
// the client's own identity when it runs in the mesh (its sidecar then
// sends mTLS, Istio's auto mTLS), "" when it does not.
func (c *Config) Connect(w Workload, port int, clientPrincipal string) Connection {
	m, by := c.PeerMode(w, port)
	conn := Connection{Mode: m, By: by}
	switch {
	case clientPrincipal == "" && m == Strict:
		conn.Reset = true
	case clientPrincipal != "" && m != Disable:
		conn.Peer = clientPrincipal
	}
	return conn
}
