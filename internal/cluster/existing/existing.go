package existing

import (
	"context"
	"fmt"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Existing is a cluster the user already runs, reached through a kubeconfig
// and context. We never create or destroy it: Create only connects and
// checks readiness, Destroy does nothing.
type Existing struct {
	path    string
	context string
	rc      *rest.Config
}

var _ cluster.Provider = (*Existing)(nil)

// NewExisting uses the kubeconfig at path (empty: $KUBECONFIG, else
// ~/.kube/config, as kubectl does) and the named context (empty: the current one).
func New(path, kubeContext string) *Existing {
	return &Existing{path: path, context: kubeContext}
}

// Name implements cluster.Provider.
func (e *Existing) Name() string {
	if e.context != "" {
		return e.context
	}
	return "current-context"
}

func (e *Existing) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = e.path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: e.context})
}

// Create implements cluster.Provider: it loads the client config and waits for the
// apiserver, without requiring a node (a real cluster may be busy scaling).
func (e *Existing) Create(ctx context.Context) error {
	rc, err := e.loader().ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig (path %q, context %q): %w", e.KubeconfigPath(), e.context, err)
	}
	if rc.Timeout == 0 {
		rc.Timeout = 30 * time.Second
	}
	e.rc = rc
	// A cluster that is up answers at once; don't wait forever on one that
	// is not.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := cluster.WaitReady(ctx, rc, false); err != nil {
		return fmt.Errorf("existing cluster %s at %s: %w", e.Name(), rc.Host, err)
	}
	return nil
}

// KubeconfigPath implements cluster.Provider; empty means kubectl's default lookup.
func (e *Existing) KubeconfigPath() string {
	if e.path != "" {
		return e.path
	}
	return e.loader().ConfigAccess().GetDefaultFilename()
}

// RESTConfig implements cluster.Provider.
func (e *Existing) RESTConfig() *rest.Config {
	if e.rc == nil {
		return nil
	}
	return rest.CopyConfig(e.rc)
}

// Destroy implements cluster.Provider: the cluster is the user's, we leave it be.
func (e *Existing) Destroy(context.Context) error { return nil }
