package images

// StandinPackage is the multi-call binary behind the stand-ins' images; each
// image names its program after /kfp-standin in the entrypoint.
const StandinPackage = "github.com/kfp-connect/kfp-connect/cmd/kfp-standin"

// KFP's images carry both releases the shared manifests name: 2.17.0 (KFP's
// own kustomizations and our fixtures) and 2.16.0 (kubeflow/manifests).
// Their ENV TAG_NAME is what the real API server reports as its build.
func init() {
	register(Image{
		Refs:    []string{"ghcr.io/kubeflow/kfp-api-server:2.17.0"},
		Package: StandinPackage, Args: []string{"kfp-api-server"}, Env: []string{"TAG_NAME=2.17.0"},
	})
	register(Image{
		Refs:    []string{"ghcr.io/kubeflow/kfp-api-server:2.16.0"},
		Package: StandinPackage, Args: []string{"kfp-api-server"}, Env: []string{"TAG_NAME=2.16.0"},
	})
	register(Image{
		Refs:    []string{"ghcr.io/kubeflow/kfp-frontend:2.17.0", "ghcr.io/kubeflow/kfp-frontend:2.16.0"},
		Package: StandinPackage, Args: []string{"kfp-frontend"},
	})
	// Kubeflow's ingress gateway, as our multi-user fixtures run it.
	register(Image{
		Refs:    []string{"docker.io/istio/proxyv2:1.26.0"},
		Package: StandinPackage, Args: []string{"istio-gateway"},
	})
}

// KFPRefs are the images a KFP install on a node cluster needs: its API
// server, its UI and Kubeflow's gateway, at the fixtures' tags.
func KFPRefs() []string {
	return []string{"ghcr.io/kubeflow/kfp-api-server:2.17.0", "ghcr.io/kubeflow/kfp-frontend:2.17.0", "docker.io/istio/proxyv2:1.26.0"}
}
