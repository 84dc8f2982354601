package main

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

func init() { register("poddefault-webhook", podDefaultWebhook) }

// podDefaultWebhook is the PodDefault admission webhook, with upstream's
// flags and defaults (the cert-manager overlay passes
// --tlsCertFile=/etc/webhook/certs/tls.crt --tlsKeyFile=/etc/webhook/certs/tls.key),
// reading PodDefaults with its pod's ServiceAccount.
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
