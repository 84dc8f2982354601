// Package probes is the doctor's catalogue of checks, one file per link of the
// chain a kfp.Client walks: its credentials, reaching healthz, the deployment
// mode against the namespace, and listing experiments. The suites run the same
// probes against clusters whose answer they know.
package probes

import (
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// DefaultAudience is the audience KFP's TokenReview asks for unless the
// deployment sets TOKEN_REVIEW_AUDIENCE.
const DefaultAudience = kubeflow.Audience

// Target is one connection as a kfp.Client would make it.
type Target struct {
	Client    *kfp.Client
	Namespace string // the user namespace (multi-user); "" for none
	// FillNamespace is the namespace kfp.Client() fills in when Namespace
	// is "" and the server says multi-user: the pod's ServiceAccount
	// namespace (sdkmodel.NamespacePod). "" outside a pod.
	FillNamespace string
	// SDK is what kfp.Client(...) chooses, per sdkmodel; nil when unknown.
	SDK *SDK

	// At most one of these is set: the token the client sends.
	TokenFile *credentials.TokenFile
	Bearer    *credentials.Bearer
	// Cookies is set when the client sends a session.
	Cookies *credentials.Cookies

	// InPod is true when the doctor runs inside a pod (KUBERNETES_SERVICE_HOST).
	InPod bool
	// Audience is the TokenReview audience expected; "" means DefaultAudience.
	Audience string
	// Now is the clock used to judge expiry; nil means time.Now.
	Now func() time.Time
	// Cluster is set when the doctor can see the cluster KFP runs in
	// (--kubeconfig, or in a pod); the cluster probes need it.
	Cluster *Cluster

	mu     sync.Mutex
	health *kfp.Health // what healthz said, for the probes after it
	mesh   *meshOnce   // the mesh probe's reading, shared with the calls
}

func (t *Target) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Target) audience() string {
	if t.Audience != "" {
		return t.Audience
	}
	return DefaultAudience
}

func (t *Target) setHealth(h *kfp.Health) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.health = h
}

func (t *Target) healthz() *kfp.Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health
}

// namespace is the namespace the calls send, as kfp.Client's
// get_user_namespace would have it: the given one, else the pod's once
// healthz (or, before it, the cluster) says multi-user.
func (t *Target) namespace() string {
	if t.Namespace != "" || t.FillNamespace == "" {
		return t.Namespace
	}
	if h := t.healthz(); h != nil {
		if multi, known := h.IsMultiUser(); known && multi {
			return t.FillNamespace
		}
		return ""
	}
	if t.Cluster != nil && t.Cluster.ModeKnown && t.Cluster.MultiUser {
		return t.FillNamespace
	}
	return ""
}

// sdkCall is what kfp.Client(...) chooses, or nil when the doctor did not
// model the call.
func (t *Target) sdkCall() *sdkmodel.Call {
	if t.SDK == nil {
		return nil
	}
	return t.SDK.Call
}

func (t *Target) hasCredentials() bool {
	return t.TokenFile != nil || t.Bearer != nil || t.Cookies != nil
}

// Doctor is the doctor's probe set for a target given by host.
func Doctor() []probe.Probe[*Target] {
	return []probe.Probe[*Target]{
		tokenProbe(),
		healthzProbe(),
		modeProbe(),
		listExperimentsProbe(),
	}
}

// evidence is what the server said. The runner masks it and only then keeps
// its start, so a secret straddling the cut cannot leave a prefix behind.
func evidence(r *kfp.Reply) *probe.Evidence {
	if r == nil {
		return nil
	}
	return &probe.Evidence{Request: r.Method + " " + r.URL, StatusCode: r.StatusCode, Body: string(r.Body)}
}
