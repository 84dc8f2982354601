// Package cluster gives the suites a Kubernetes cluster behind one small
// interface, whichever this machine allows: a kwok cluster of real control-plane
// binaries with fake nodes (no container runtime needed), a kind cluster (needs
// Docker), or an existing cluster the user points at.
package cluster

import (
	"context"

	"k8s.io/client-go/rest"
)

// Provider is a cluster the suites can create (or reuse), talk to and
// destroy; objects go onto it through internal/kube/manifests. Implementations are not safe for concurrent
// Create/Destroy calls; the rest is.
type Provider interface {
	// Name identifies the cluster in messages and in process listings.
	Name() string
	// Create creates the cluster, or reuses it when it already exists, and
	// returns once it is ready to serve the suites (not merely started).
	Create(ctx context.Context) error
	// KubeconfigPath is a kubeconfig file for the cluster, valid after Create.
	KubeconfigPath() string
	// RESTConfig is the admin client config, valid after Create.
	RESTConfig() *rest.Config
	// Destroy removes what Create started: processes, files, containers.
	// It is idempotent, safe after a failed or interrupted Create, and runs
	// even when ctx is already cancelled (it bounds its own time).
	Destroy(ctx context.Context) error
}
