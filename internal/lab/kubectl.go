package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kubectl is kubectl run as a pod's program (docker.io/bitnamisecure/kubectl,
// the image Kubeflow's cluster-jwks-proxy runs `kubectl proxy` from, which
// serves the cluster's JWKS to the gateway's m2m rule), from the tools
// cache. Its listener moves with --address and --port. In a pod kubectl
// reads its ServiceAccount from the kubelet's fixed path; a process here
// is given the same token, CA and API server in a kubeconfig naming the
// files written for the pod's mount (the token file re-read, as a mounted
// one is).
func Kubectl(b Binaries) Program {
	return Program{
		Name:  "kubectl",
		Match: imageIs("bitnamisecure/kubectl", "bitnami/kubectl"),
		Exec: &Exec{
			Binary: filepath.Join(b.Dir, "kubectl"),
			Listen: func(args []string, addrs map[int32]string) []string {
				out := make([]string, 0, len(args)+2)
				for _, a := range args {
					if !strings.HasPrefix(a, "--address") && !strings.HasPrefix(a, "--port") {
						out = append(out, a)
					}
				}
				for _, addr := range addrs {
					host, port, _ := net.SplitHostPort(addr)
					return append(out, "--address="+host, "--port="+port)
				}
				return out
			},
			Prepare: func(_ context.Context, p *Proc) error {
				sa, ok := p.Mounts[serviceAccountDir]
				if !ok {
					return fmt.Errorf("kubectl: the pod mounts no ServiceAccount token at %s", serviceAccountDir)
				}
				host, port := p.Env["KUBERNETES_SERVICE_HOST"], p.Env["KUBERNETES_SERVICE_PORT"]
				kc := map[string]any{
					"apiVersion": "v1", "kind": "Config", "current-context": "pod",
					"clusters": []any{map[string]any{"name": "pod", "cluster": map[string]any{
						"server": "https://" + net.JoinHostPort(host, port), "certificate-authority": filepath.Join(sa, "ca.crt")}}},
					"users":    []any{map[string]any{"name": "pod", "user": map[string]any{"tokenFile": filepath.Join(sa, "token")}}},
					"contexts": []any{map[string]any{"name": "pod", "context": map[string]any{"cluster": "pod", "user": "pod"}}},
				}
				b, err := yaml.Marshal(kc)
				if err != nil {
					return err
				}
				path := filepath.Join(p.Dir, "kubeconfig")
				if err := os.WriteFile(path, b, 0o600); err != nil {
					return err
				}
				p.Args = append(p.Args, "--kubeconfig="+path)
				return nil
			},
		},
	}
}
