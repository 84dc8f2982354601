package node

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// certManagerGroup is cert-manager's API group; a node cluster does not
// serve it.
const certManagerGroup = "cert-manager.io"

// injectCAAnnotation is cert-manager's cainjector's: "<namespace>/<Certificate>".
const injectCAAnnotation = "cert-manager.io/inject-ca-from"

// IssueCertificates does cert-manager's two jobs for manifests that rely
// on it (kubeflow/manifests' admission-webhook cert-manager overlay), since
// a node cluster has no cert-manager: each Certificate becomes the Secret
// cert-manager would write (type kubernetes.io/tls with tls.crt, tls.key and
// ca.crt, at spec.secretName, for spec.dnsNames), signed by the cluster's own
// CA, and each object annotated cert-manager.io/inject-ca-from gets that CA
// as its caBundle (webhook configurations, CRD conversion webhooks,
// APIServices). cert-manager.io objects (Certificates, Issuers) are dropped.
// The result is objs in their order, each Certificate replaced by its
// Secret, for Apply; the kube-apiserver then trusts the webhook's serving
// certificate as it would with cert-manager. Valid after Create.
func (n *Node) IssueCertificates(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	pki, err := loadNodePKI(n.path("pki"))
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.caCert.Raw})
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
func certificateSecret(pki *nodePKI, c *unstructured.Unstructured, caPEM []byte) (*unstructured.Unstructured, error) {
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
	der, key, err := pki.sign(certSpec{file: c.GetName(), cn: cn, dnsNames: dns})
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
				"kfp-connect.io/issued-by":         "the node cluster's CA, standing in for cert-manager",
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
