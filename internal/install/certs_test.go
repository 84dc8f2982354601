package install

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// admissionWebhookManifests is what kubeflow/manifests'
// admission-webhook cert-manager overlay renders to (the parts that matter).
const admissionWebhookManifests = `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: admission-webhook-cert, namespace: kubeflow}
spec:
  commonName: admission-webhook-service.kubeflow.svc
  dnsNames: [admission-webhook-service.kubeflow.svc, admission-webhook-service.kubeflow.svc.cluster.local]
  isCA: true
  issuerRef: {kind: Issuer, name: admission-webhook-selfsigned-issuer}
  secretName: webhook-certs
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: admission-webhook-selfsigned-issuer, namespace: kubeflow}
spec: {selfSigned: {}}
---
apiVersion: v1
kind: Service
metadata: {name: admission-webhook-service, namespace: kubeflow}
spec: {ports: [{name: https-webhook, port: 443, targetPort: https-webhook}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: admission-webhook-mutating-webhook-configuration
  annotations: {cert-manager.io/inject-ca-from: kubeflow/admission-webhook-cert}
webhooks:
- name: admission-webhook-deployment.kubeflow.org
  clientConfig:
    caBundle: ""
    service: {name: admission-webhook-service, namespace: kubeflow, path: /apply-poddefault}
  admissionReviewVersions: [v1beta1, v1]
  sideEffects: None
`

func TestIssueCertificates(t *testing.T) {
	pki, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Decode("admission-webhook", []byte(admissionWebhookManifests))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pki.issue(objs)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range out {
		kinds = append(kinds, o.GetKind())
	}
	if strings.Join(kinds, ",") != "Secret,Service,MutatingWebhookConfiguration" {
		t.Fatalf("kinds %v: want the Certificate replaced by its Secret in place, the Issuer dropped", kinds)
	}
	s := out[0]
	if s.GetName() != "webhook-certs" || s.GetNamespace() != "kubeflow" {
		t.Errorf("secret %s/%s, want kubeflow/webhook-certs (spec.secretName)", s.GetNamespace(), s.GetName())
	}
	data := map[string][]byte{}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		v, _, _ := unstructured.NestedString(s.Object, "data", k)
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			t.Fatalf("data[%s]: %v", k, err)
		}
		data[k] = b
	}
	if _, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"]); err != nil {
		t.Errorf("tls.crt and tls.key are no pair: %v", err)
	}
	block, _ := pem.Decode(data["tls.crt"])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.cert)
	for _, dns := range []string{"admission-webhook-service.kubeflow.svc", "admission-webhook-service.kubeflow.svc.cluster.local"} {
		// What the kube-apiserver checks when it calls the webhook.
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: dns, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", dns, err)
		}
	}
	hooks := out[2].Object["webhooks"].([]any)
	bundle := hooks[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"].(string)
	caPEM, _ := base64.StdEncoding.DecodeString(bundle)
	if string(caPEM) != string(data["ca.crt"]) || !strings.Contains(string(caPEM), "BEGIN CERTIFICATE") {
		t.Errorf("caBundle is not the CA that signed the Secret")
	}
	if objs[3].Object["webhooks"].([]any)[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] != "" {
		t.Error("the input objects were modified")
	}

	// A webhook naming a Certificate that is not there is an error, not a
	// configuration the apiserver would distrust.
	if _, err := pki.issue(objs[3:]); err == nil || !strings.Contains(err.Error(), "kubeflow/admission-webhook-cert") {
		t.Errorf("missing Certificate: err = %v", err)
	}
}
