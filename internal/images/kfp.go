package images

import "context"

// KFP's images carry both releases the shared manifests name: 2.17.0 (KFP's
// own kustomizations and our fixtures) and 2.16.0 (kubeflow/manifests).
// Each is /kfp-standin with its program named in the entrypoint, so a pod's
// args: replace nothing of it; the API server's ENV TAG_NAME is what the
// real one reports as its build.
func init() {
	for _, tag := range []string{"2.17.0", "2.16.0"} {
		register(standinEntry("kfp-api-server", []string{"TAG_NAME=" + tag}, "ghcr.io/kubeflow/kfp-api-server:"+tag))
	}
	register(standinEntry("kfp-frontend", nil, "ghcr.io/kubeflow/kfp-frontend:2.17.0", "ghcr.io/kubeflow/kfp-frontend:2.16.0"))
	// Kubeflow's ingress gateway, as our multi-user fixtures run it.
	register(standinEntry("istio-gateway", nil, "docker.io/istio/proxyv2:1.26.0", ProxyUpstreamRef))
}

// standinEntry is an image of one file, /kfp-standin, running program.
func standinEntry(program string, env []string, refs ...string) Entry {
	return Entry{Refs: refs, Make: func(ctx context.Context, b *Builder) (Image, error) {
		bin, err := b.Go(ctx, StandinPackage)
		if err != nil {
			return Image{}, err
		}
		return Image{
			Files:      []File{{Path: "/kfp-standin", Source: bin}},
			Entrypoint: []string{"/kfp-standin", program},
			Env:        append([]string{"PATH=/"}, env...),
		}, nil
	}}
}

// KFPRefs are the images a KFP install on a node cluster needs: its API
// server, its UI and Kubeflow's gateway, at the fixtures' tags.
func KFPRefs() []string {
	return []string{"ghcr.io/kubeflow/kfp-api-server:2.17.0", "ghcr.io/kubeflow/kfp-frontend:2.17.0", "docker.io/istio/proxyv2:1.26.0"}
}
