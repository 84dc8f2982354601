package istiod

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// istiod in its own pod on a node cluster (the image istio/pilot, run as
// `discovery …`): the discovery endpoints on 15010, readiness on 8080, and
// the injection webhook on 15017 (the istiod Service's 443) with a serving
// certificate it makes itself and writes into the caBundle of the sidecar
// injector's MutatingWebhookConfiguration, as istiod does with its own CA
// ("istiod … patches the webhook configuration with its CA bundle",
// pilot/pkg/bootstrap/webhook.go, webhooks/webhookpatch).

// Istiod's ports in its pod.
const (
	ReadyPort   = 8080
	WebhookPort = 15017
)

// InjectorSelector picks the MutatingWebhookConfigurations whose caBundle
// istiod fills: its chart labels them app=sidecar-injector.
const InjectorSelector = "app=sidecar-injector"

// SelfSigned is a serving certificate, its own CA, for names and ips.
func SelfSigned(cn string, names []string, ips []net.IP) (certPEM []byte, cert tls.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		DNSNames: names, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert, err = tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return certPEM, cert, err
}

// RunPod serves istiod in its pod until ctx ends. cfg is the pod's
// ServiceAccount; namespace is where it runs (POD_NAMESPACE), whose
// istio-sidecar-injector ConfigMap names the proxy image.
func RunPod(ctx context.Context, cfg *rest.Config, namespace string, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	stop, err := serveOn(fmt.Sprintf(":%d", ReadyPort), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			http.Error(w, "not synced", http.StatusServiceUnavailable)
		}
	}), nil)
	if err != nil {
		return err
	}
	defer stop()

	ctl, err := Start(ctx, kube, dyn)
	if err != nil {
		return err
	}
	if stop, err = serveOn(fmt.Sprintf(":%d", DiscoveryPort), ctl.Handler(), nil); err != nil {
		return err
	}
	defer stop()

	svc := "istiod." + namespace + ".svc"
	caPEM, cert, err := SelfSigned("istiod", []string{"istiod", "istiod." + namespace, svc, svc + ".cluster.local"}, nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(InjectPath, &Injector{Kube: kube, ProxyImage: func(ctx context.Context) string { return proxyImage(ctx, kube, namespace) }})
	if stop, err = serveOn(fmt.Sprintf(":%d", WebhookPort), mux, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
		return err
	}
	defer stop()
	close(ready)
	fmt.Fprintf(stderr, "istiod: discovery on :%d, injection on :%d%s\n", DiscoveryPort, WebhookPort, InjectPath)
	// The webhook configuration may be applied after istiod starts, or
	// re-applied without the bundle: keep it filled, as istiod's patcher
	// does on every change.
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := patchCABundles(ctx, kube, namespace, caPEM); err != nil {
			log.Warn("istiod: filling the injector's caBundle", "error", err)
		}
	}, 2*time.Second)
	return nil
}

func serveOn(addr string, h http.Handler, tlsConfig *tls.Config) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig}
	go func() {
		if tlsConfig != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	return func() { _ = srv.Close() }, nil
}

// patchCABundles writes caPEM into every webhook of the sidecar injector's
// configurations that calls istiod's Service in namespace.
func patchCABundles(ctx context.Context, kube kubernetes.Interface, namespace string, caPEM []byte) error {
	hooks := kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	list, err := hooks.List(ctx, metav1.ListOptions{LabelSelector: InjectorSelector})
	if err != nil {
		return err
	}
	var errs []error
	for _, conf := range list.Items {
		var ops []map[string]any
		for i, h := range conf.Webhooks {
			if !callsIstiod(h.ClientConfig, namespace) || bytes.Equal(h.ClientConfig.CABundle, caPEM) {
				continue
			}
			ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), "value": caPEM})
		}
		if len(ops) == 0 {
			continue
		}
		patch, _ := json.Marshal(ops)
		if _, err := hooks.Patch(ctx, conf.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "istiod"}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", conf.Name, err))
		}
	}
	return errors.Join(errs...)
}

func callsIstiod(c admissionregistrationv1.WebhookClientConfig, namespace string) bool {
	return c.Service != nil && c.Service.Namespace == namespace && c.Service.Name == "istiod"
}
