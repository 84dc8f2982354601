package images

import (
	"context"
	"path/filepath"
)

// Istio's images as Kubeflow's installs name them: istiod (istio/pilot) and
// the proxy (istio/proxyv2, kfp.go's gateway entry, which also runs as an
// injected pod's init container and sidecar), at our fixtures' tag and at
// kubeflow/manifests' (istio-install/base), all /kfp-standin; and the
// kubectl image Kubeflow's cluster-jwks-proxy runs `kubectl proxy` from,
// holding the tools cache's kubectl (static), which in a pod finds its
// ServiceAccount as kubectl does.
const (
	IstiodRef         = "docker.io/istio/pilot:1.26.0"
	IstiodUpstreamRef = "gcr.io/istio-release/pilot:1.29.1"
	ProxyUpstreamRef  = "gcr.io/istio-release/proxyv2:1.29.1"
	KubectlRef        = "docker.io/bitnamisecure/kubectl:latest"
)

func init() {
	register(standinEntry("istiod", nil, IstiodRef, IstiodUpstreamRef))
	register(Entry{Refs: []string{KubectlRef}, Make: func(_ context.Context, b *Builder) (Image, error) {
		tools, err := b.Tools()
		if err != nil {
			return Image{}, err
		}
		return Image{
			// Bitnami's layout and user; its entrypoint is kubectl, so a
			// pod's args are kubectl's.
			Files: []File{{Path: "/opt/bitnami/kubectl/bin/kubectl", Source: filepath.Join(tools, "kubectl")},
				{Path: "/tmp", Dir: true, Mode: 0o1777}, {Path: "/.kube", Dir: true, UID: 1001, GID: 1001}},
			Entrypoint: []string{"/opt/bitnami/kubectl/bin/kubectl"},
			Env:        []string{"PATH=/opt/bitnami/kubectl/bin", "HOME=/"},
			User:       "1001",
		}, nil
	}})
}

// MeshRefs are the images a multi-user install's mesh needs on a node
// cluster, besides the gateway's proxy (KFPRefs).
func MeshRefs() []string { return []string{IstiodRef, KubectlRef} }
