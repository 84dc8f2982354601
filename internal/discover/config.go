package discover

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountDir is where the kubelet mounts a pod's ServiceAccount.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNoKubeconfig means no kubeconfig was found (or it names no cluster).
var ErrNoKubeconfig = errors.New("no kubeconfig")

// Kubeconfig loads a client configuration with kubectl's rules: the explicit
// path, else $KUBECONFIG (a list), else ~/.kube/config; kubeContext picks a
// context other than the current one. timeout bounds every request made with
// it. It also returns the context's namespace ("" when unset).
func Kubeconfig(path, kubeContext string, timeout time.Duration) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("%w: pass --kubeconfig, set $KUBECONFIG, or create ~/.kube/config", ErrNoKubeconfig)
		}
		where := path
		if where == "" {
			where = strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
		}
		return nil, "", fmt.Errorf("loading kubeconfig %s: %w", where, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		ns = ""
	}
	cfg.Timeout = timeout
	return cfg, ns, nil
}

// Pod is what the doctor knows about the pod it runs in.
type Pod struct {
	Namespace string // from the ServiceAccount mount
	Name      string // $HOSTNAME, which the kubelet sets to the pod's name
}

// InPod reports whether the process runs in a Kubernetes pod: the kubelet
// sets KUBERNETES_SERVICE_HOST and mounts the ServiceAccount (unless
// automountServiceAccountToken is off, in which case the pod cannot ask the
// API anything and counts as outside).
func InPod(getenv func(string) string, readFile func(string) ([]byte, error), saDir string) (*Pod, bool) {
	if getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, false
	}
	if saDir == "" {
		saDir = ServiceAccountDir
	}
	if _, err := readFile(filepath.Join(saDir, "token")); err != nil {
		return nil, false
	}
	p := &Pod{Name: getenv("HOSTNAME")}
	if ns, err := readFile(filepath.Join(saDir, "namespace")); err == nil {
		p.Namespace = strings.TrimSpace(string(ns))
	}
	return p, true
}
