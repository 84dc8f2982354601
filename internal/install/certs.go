package install

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// certManagerGroup is cert-manager's API group; the clusters made here do
// not serve it.
const certManagerGroup = "cert-manager.io"

// injectCAAnnotation is cert-manager's cainjector's: "<namespace>/<Certificate>".
const injectCAAnnotation = "cert-manager.io/inject-ca-from"

// NewIssuer stands in for cert-manager on a cluster without it (a node
// cluster, kind): a CA of its own, made now and kept in memory, that does
// cert-manager's two jobs for manifests relying on it (kubeflow/manifests'
// admission-webhook cert-manager overlay). Each Certificate becomes the
// Secret cert-manager would write (type kubernetes.io/tls with tls.crt,
// tls.key and ca.crt, at spec.secretName, for spec.dnsNames), signed by the
// CA, and each object annotated cert-manager.io/inject-ca-from gets the CA
// as its caBundle (webhook configurations, CRD conversion webhooks,
// APIServices); cert-manager.io objects (Certificates, Issuers) are dropped.
// The result is objs in their order, each Certificate replaced by its
// Secret: the kube-apiserver then trusts the webhook's serving certificate
// as it would with cert-manager.
func NewIssuer() (Issuer, error) {
	ca, err := newCA()
	if err != nil {
		return nil, err
	}
	return func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) { return ca.issue(objs) }, nil
}

func (pki *ca) issue(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.cert.Raw})
	certs := map[string]bool{} // namespace/name of the Certificates in objs
	for _, o := range objs {
		if o.GroupVersionKind().Group == certManagerGroup && o.GetKind() == "Certificate" {
			certs[o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GroupVersionKind().Group == certManagerGroup {
			if o.GetKind() != "Certificate" {
				continue // Issuers and the like: nothing to stand in for
			}
			s, err := certificateSecret(pki, o, caPEM)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		from, ok := o.GetAnnotations()[injectCAAnnotation]
		if !ok {
			out = append(out, o)
			continue
		}
		if !certs[from] {
			return nil, fmt.Errorf("%s %s: %s names Certificate %s, which is not among the manifests", o.GetKind(), o.GetName(), injectCAAnnotation, from)
		}
		o = o.DeepCopy()
		if err := injectCA(o, caPEM); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// certificateSecret is the Secret cert-manager writes for Certificate c.
func certificateSecret(pki *ca, c *unstructured.Unstructured, caPEM []byte) (*unstructured.Unstructured, error) {
	what := "Certificate " + c.GetNamespace() + "/" + c.GetName()
	secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
	dns, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "dnsNames")
	cn, _, _ := unstructured.NestedString(c.Object, "spec", "commonName")
	if secret == "" || len(dns) == 0 {
		return nil, fmt.Errorf("%s: want spec.secretName and spec.dnsNames (only DNS-named serving certificates are issued here)", what)
	}
	if cn == "" {
		cn = dns[0]
	}
	der, key, err := pki.sign(cn, dns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"name": secret, "namespace": c.GetNamespace(),
			// cert-manager's own annotations, so a reader can tell.
			"annotations": map[string]any{
				"cert-manager.io/certificate-name": c.GetName(),
				"cert-manager.io/common-name":      cn,
				"cert-manager.io/alt-names":        strings.Join(dns, ","),
				"kfp-connect.io/issued-by":         "kfp-connect's own CA, standing in for cert-manager",
			},
		},
		"type": "kubernetes.io/tls",
		"data": map[string]any{
			"tls.crt": b64(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			"tls.key": b64(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
			"ca.crt":  b64(caPEM),
		},
	}}
	return s, nil
}

// injectCA sets caBundle where cert-manager's cainjector would.
func injectCA(o *unstructured.Unstructured, caPEM []byte) error {
	bundle := base64.StdEncoding.EncodeToString(caPEM)
	switch o.GetKind() {
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		if err != nil {
			return fmt.Errorf("%s %s: webhooks: %w", o.GetKind(), o.GetName(), err)
		}
		for i, h := range hooks {
			hm, ok := h.(map[string]any)
			if !ok {
				return fmt.Errorf("%s %s: webhook %d is not an object", o.GetKind(), o.GetName(), i)
			}
			if err := unstructured.SetNestedField(hm, bundle, "clientConfig", "caBundle"); err != nil {
				return err
			}
		}
		return unstructured.SetNestedSlice(o.Object, hooks, "webhooks")
	case "CustomResourceDefinition":
		return unstructured.SetNestedField(o.Object, bundle, "spec", "conversion", "webhook", "clientConfig", "caBundle")
	case "APIService":
		return unstructured.SetNestedField(o.Object, bundle, "spec", "caBundle")
	}
	return fmt.Errorf("%s %s: %s on a kind cert-manager does not inject into", o.GetKind(), o.GetName(), injectCAAnnotation)
}

// ca is a certificate authority that lives as long as the run.
type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfp-connect-cert-manager-stand-in"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-signing the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key}, nil
}

// sign makes a key and a serving certificate for dnsNames, signed by the CA.
func (c *ca) sign(cn string, dnsNames []string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the key of %s: %w", cn, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    c.cert.NotBefore,
		NotAfter:     c.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing %s: %w", cn, err)
	}
	return der, key, nil
}
