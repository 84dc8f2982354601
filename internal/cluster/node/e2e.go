package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/support"
)

// E2E is the node provider as sigs.k8s.io/e2e-framework's cluster
// provider, beside its kind and kwok ones:
//
//	testenv.Setup(envfuncs.CreateCluster(cluster.NewE2E(cluster.Options{DNS: true}), "kfp"))
//	testenv.Finish(envfuncs.DestroyCluster("kfp"))
//
// The cluster is a Node: the pinned Kubernetes of the tools cache, a real
// kubelet, containerd and runc in namespaces of its own (root).
type E2E struct {
	opts    Options
	name    string
	version string
	node    *Node
}

var _ support.E2EClusterProvider = (*E2E)(nil)

// NewNodeE2E prepares the provider; nothing runs until Create.
func NewE2E(opts Options) *E2E { return &E2E{opts: opts} }

// WithName implements support.E2EClusterProvider: the name e2e-framework
// keys the cluster by. The node's own name stays unique (kfpc-node-…), so
// two clusters of one name never collide on this machine.
func (e *E2E) WithName(name string) support.E2EClusterProvider { e.name = name; return e }

// WithVersion implements support.E2EClusterProvider. Only the pinned
// version (tools/) exists here; Create refuses another.
func (e *E2E) WithVersion(v string) support.E2EClusterProvider { e.version = v; return e }

// WithPath implements support.E2EClusterProvider: the tools cache's bin
// directory (Options.ToolsBin).
func (e *E2E) WithPath(p string) support.E2EClusterProvider { e.opts.ToolsBin = p; return e }

// WithOpts implements support.E2EClusterProvider.
func (e *E2E) WithOpts(opts ...support.ClusterOpts) support.E2EClusterProvider {
	for _, o := range opts {
		o(e)
	}
	return e
}

// SetDefaults implements support.E2EClusterProvider.
func (e *E2E) SetDefaults() support.E2EClusterProvider { return e }

// Create implements support.E2EClusterProvider: it creates the node
// cluster, Ready, and returns its kubeconfig.
func (e *E2E) Create(ctx context.Context, args ...string) (string, error) {
	if len(args) > 0 {
		return "", fmt.Errorf("node cluster: no command-line arguments (got %q): Options configure it", args)
	}
	if e.version != "" {
		return "", fmt.Errorf("node cluster: only the pinned Kubernetes of the tools cache runs here (tools/), not %q", e.version)
	}
	if e.node != nil {
		return e.node.KubeconfigPath(), nil
	}
	n, err := New(e.opts)
	if err != nil {
		return "", err
	}
	if err := n.Create(ctx); err != nil {
		return "", errors.Join(err, n.Destroy(context.WithoutCancel(ctx)))
	}
	e.node = n
	return n.KubeconfigPath(), nil
}

// CreateWithConfig implements support.E2EClusterProvider; a node cluster
// has no configuration file.
func (e *E2E) CreateWithConfig(context.Context, string) (string, error) {
	return "", errors.New("node cluster: no configuration file; set Options in NewNodeE2E")
}

// Node is the cluster, nil before Create.
func (e *E2E) Node() *Node { return e.node }

// GetKubeconfig implements support.E2EClusterProvider.
func (e *E2E) GetKubeconfig() string {
	if e.node == nil {
		return ""
	}
	return e.node.KubeconfigPath()
}

// GenerateKubeconfig implements support.E2EClusterProvider: the admin
// kubeconfig Create wrote.
func (e *E2E) GenerateKubeconfig(...string) (string, error) {
	if e.node == nil {
		return "", errors.New("node cluster: not created")
	}
	return e.node.KubeconfigPath(), nil
}

// GetKubectlContext implements support.E2EClusterProvider: the
// kubeconfig's current context.
func (e *E2E) GetKubectlContext() string {
	if e.node == nil {
		return ""
	}
	cfg, err := clientcmd.LoadFromFile(e.node.KubeconfigPath())
	if err != nil {
		return ""
	}
	return cfg.CurrentContext
}

// ExportLogs implements support.E2EClusterProvider: the components' logs
// (etcd, the control plane, containerd, the kubelet, kube-proxy) into dest.
func (e *E2E) ExportLogs(_ context.Context, dest string) error {
	if e.node == nil {
		return errors.New("node cluster: not created")
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	logs, err := filepath.Glob(filepath.Join(e.node.LogsDir(), "*.log"))
	if err != nil {
		return err
	}
	for _, l := range logs {
		if err := copyFile(l, filepath.Join(dest, filepath.Base(l))); err != nil {
			return err
		}
	}
	return nil
}

// copyFile streams src to dst: a component's log can be large.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Destroy implements support.E2EClusterProvider.
func (e *E2E) Destroy(ctx context.Context) error {
	if e.node == nil {
		return nil
	}
	return e.node.Destroy(ctx)
}

// WaitForControlPlane implements support.E2EClusterProvider: the node Ready
// and the default ServiceAccount, which Create already waited for.
func (e *E2E) WaitForControlPlane(ctx context.Context, _ klient.Client) error {
	if e.node == nil {
		return errors.New("node cluster: not created")
	}
	return cluster.WaitReady(ctx, e.node.RESTConfig(), true)
}

// KubernetesRestConfig implements support.E2EClusterProvider.
func (e *E2E) KubernetesRestConfig() *rest.Config {
	if e.node == nil {
		return nil
	}
	return e.node.RESTConfig()
}
