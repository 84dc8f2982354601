package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kfp-connect/kfp-connect/internal/localfile"
)

// ServiceAccountDir is where the kubelet mounts a pod's ServiceAccount.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNoKubeconfig means no kubeconfig was found (or it names no cluster).
var ErrNoKubeconfig = errors.New("no kubeconfig")

// Kubeconfig loads a client configuration with kubectl's rules: the explicit
// path, else $KUBECONFIG (a list), else ~/.kube/config; kubeContext picks a
// context other than the current one. timeout bounds every request made with
// it. It also returns the context's namespace ("" when unset).
//
// The files are read here, through the bounded reader (a size cap, no FIFOs
// or devices), and handed to client-go as bytes: client-go's own loader reads
// a path without either, and an endless file ended the doctor out of memory.
func Kubeconfig(ctx context.Context, path, kubeContext string, timeout time.Duration) (*rest.Config, string, error) {
	files, explicit := kubeconfigFiles(path)
	merged := clientcmdapi.NewConfig()
	for _, f := range files {
		b, err := localfile.Read(ctx, f, localfile.Kubeconfig)
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			continue // kubectl skips missing entries of $KUBECONFIG and the default file
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
		}
		one, err := clientcmd.Load(b)
		if err != nil {
			return nil, "", fmt.Errorf("loading kubeconfig %s: %w", f, err)
		}
		mergeKubeconfig(merged, one, f)
	}
	if clientcmdapi.IsConfigEmpty(merged) {
		return nil, "", fmt.Errorf("%w: pass --kubeconfig, set $KUBECONFIG, or create ~/.kube/config", ErrNoKubeconfig)
	}
	// Relative paths in a kubeconfig are relative to the file that holds them.
	if err := clientcmd.ResolveLocalPaths(merged); err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig %s: %w", strings.Join(files, string(filepath.ListSeparator)), err)
	}
	loader := clientcmd.NewNonInteractiveClientConfig(*merged, kubeContext, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}, nil)
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("%w: pass --kubeconfig, set $KUBECONFIG, or create ~/.kube/config", ErrNoKubeconfig)
		}
		return nil, "", fmt.Errorf("loading kubeconfig %s: %w", strings.Join(files, string(filepath.ListSeparator)), err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		ns = ""
	}
	if err := runExecPlugin(ctx, cfg); err != nil {
		return nil, "", err
	}
	cfg.Timeout = timeout
	return cfg, ns, nil
}

// kubeconfigFiles lists the files kubectl would read, in precedence order;
// explicit is true for --kubeconfig, whose file must exist.
func kubeconfigFiles(path string) (files []string, explicit bool) {
	if path != "" {
		return []string{path}, true
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		for _, f := range filepath.SplitList(env) {
			if f != "" && !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		return files, false
	}
	return []string{clientcmd.RecommendedHomeFile}, false
}

// mergeKubeconfig adds one file's config to merged with kubectl's rule: the
// first file to set a name (cluster, user, context) or the current context
// wins. Each entry remembers its file, for resolving relative paths.
func mergeKubeconfig(merged, one *clientcmdapi.Config, file string) {
	for k, v := range one.Clusters {
		if _, ok := merged.Clusters[k]; !ok {
			v.LocationOfOrigin = file
			merged.Clusters[k] = v
		}
	}
	for k, v := range one.AuthInfos {
		if _, ok := merged.AuthInfos[k]; !ok {
			v.LocationOfOrigin = file
			merged.AuthInfos[k] = v
		}
	}
	for k, v := range one.Contexts {
		if _, ok := merged.Contexts[k]; !ok {
			v.LocationOfOrigin = file
			merged.Contexts[k] = v
		}
	}
	for k, v := range one.Extensions {
		if _, ok := merged.Extensions[k]; !ok {
			merged.Extensions[k] = v
		}
	}
	if merged.CurrentContext == "" {
		merged.CurrentContext = one.CurrentContext
	}
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

// KwokNodeAnnotation marks the nodes kwok fakes: their pods never run, and
// their IPs are on no machine.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// RealPods reports whether pods scheduled on nodes really run: there are
// nodes, and none of them is one kwok fakes.
func RealPods(nodes []corev1.Node) bool {
	for _, n := range nodes {
		if _, fake := n.Annotations[KwokNodeAnnotation]; fake {
			return false
		}
	}
	return len(nodes) > 0
}
