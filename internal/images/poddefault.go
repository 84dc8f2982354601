package images

// PodDefaultWebhookRef is the image kubeflow/manifests'
// applications/admission-webhook names for the PodDefault webhook.
const PodDefaultWebhookRef = "ghcr.io/kubeflow/kubeflow/poddefaults-webhook:v1.10.0"

// PodDefaultWebhookImage is our PodDefault webhook (kfp-standin's
// poddefault-webhook program) as that image. Upstream's entrypoint is
// /webhook taking flags, and its manifests give only args
// (--tlsCertFile=…), so the entrypoint names the program and the args
// follow; the user is distroless's nonroot, which the Deployment's
// runAsUser 65532 also asks for.
func PodDefaultWebhookImage(standin string) Image {
	return Image{
		Refs:       []string{PodDefaultWebhookRef},
		Files:      []File{{Path: "/kfp-standin", Source: standin}},
		Entrypoint: []string{"/kfp-standin", "poddefault-webhook"},
		User:       "65532:65532",
	}
}
