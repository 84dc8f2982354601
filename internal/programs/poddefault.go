package programs

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/standin/poddefault"
)

// Kubeflow's PodDefault admission webhook, ours, as the image
// kubeflow/manifests' applications/admission-webhook names. Upstream's
// entrypoint is /webhook taking flags, and its manifests give only args
// (--tlsCertFile=…), so the entrypoint names the program and the args
// follow; the user is distroless's nonroot, which the Deployment's
// runAsUser 65532 also asks for.
func init() {
	register(Program{
		Name:  "poddefault-webhook",
		Repos: []string{"ghcr.io/kubeflow/kubeflow/poddefaults-webhook"},
		Tags:  []string{"v1.10.0"},
		Config: static(Config{
			Entrypoint: []string{"/kfp-standin", "poddefault-webhook"},
			Env:        []string{"PATH=/"},
			User:       "65532:65532",
		}),
		Contents: standinAt("/kfp-standin"),
		Main:     podDefaultWebhook,
	})
}

// podDefaultWebhook serves with upstream's flags and defaults (the
// cert-manager overlay passes --tlsCertFile=/etc/webhook/certs/tls.crt
// --tlsKeyFile=/etc/webhook/certs/tls.key), reading PodDefaults with its
// pod's ServiceAccount.
func podDefaultWebhook(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("poddefault-webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	certFile := fs.String("tlsCertFile", "/etc/webhook/certs/cert.pem", "file containing the x509 certificate for HTTPS")
	keyFile := fs.String("tlsKeyFile", "/etc/webhook/certs/key.pem", "file containing the x509 private key matching --tlsCertFile")
	port := fs.Int("webhookPort", 4443, "port the webhook listens on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("it runs in a pod and reads PodDefaults with the pod's ServiceAccount: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "poddefault-webhook: ", log.LstdFlags)
	h := &poddefault.Handler{PodDefaults: poddefault.DynamicLister{Client: dyn}, Log: logger}
	return poddefault.Serve(ctx, ":"+strconv.Itoa(*port), *certFile, *keyFile, h, func(a net.Addr) {
		logger.Printf("serving %s on %s", poddefault.Path, a)
	})
}
