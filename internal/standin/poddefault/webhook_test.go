package poddefault

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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kfp-connect/kfp-connect/internal/kube/admission"
)

func staticLister(pds ...PodDefault) Lister {
	return ListerFunc(func(_ context.Context, ns string) ([]PodDefault, error) {
		var out []PodDefault
		for _, pd := range pds {
			if pd.Namespace == ns {
				out = append(out, pd)
			}
		}
		return out, nil
	})
}

func review(t *testing.T, apiVersion string, p *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "ns",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, h http.Handler, body []byte) (int, admissionv1.AdmissionReview) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("reply is not an AdmissionReview: %v: %s", err, rec.Body)
		}
	}
	return rec.Code, out
}

// TestHandlerPatchesLikeApply sends the pod as the apiserver would, applies
// the returned JSON patch as the apiserver does, and compares the result
// with Apply's: the patch must carry every change and nothing else.
func TestHandlerPatchesLikeApply(t *testing.T) {
	pd := accessMLPipeline()
	pd.Spec.Labels = map[string]string{"injected": "yes"}
	h := &Handler{PodDefaults: staticLister(pd)}
	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		t.Run(version, func(t *testing.T) {
			p := pod(labelled)
			p.Namespace = "" // as in a create without metadata.namespace
			code, out := post(t, h, review(t, version, p))
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if out.APIVersion != version || out.Kind != "AdmissionReview" {
				t.Errorf("reply is %s %s, want the request's version %s", out.APIVersion, out.Kind, version)
			}
			r := out.Response
			if r == nil || !r.Allowed || r.UID != "uid-1" {
				t.Fatalf("response %+v: want allowed with the request's UID", r)
			}
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patchType %v, want JSONPatch", r.PatchType)
			}
			patch, err := jsonpatch.DecodePatch(r.Patch)
			if err != nil {
				t.Fatalf("patch %s: %v", r.Patch, err)
			}
			orig, _ := json.Marshal(p)
			patched, err := patch.Apply(orig)
			if err != nil {
				t.Fatalf("applying patch %s: %v", r.Patch, err)
			}
			var got corev1.Pod
			if err := json.Unmarshal(patched, &got); err != nil {
				t.Fatal(err)
			}
			want := p.DeepCopy()
			want.Namespace = "ns"
			if err := Apply(want, []PodDefault{pd}); err != nil {
				t.Fatal(err)
			}
			want.Namespace = "" // the patch does not touch the namespace
			if diff := cmp.Diff(want, &got); diff != "" {
				t.Errorf("patched pod differs from Apply's (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerDecisions(t *testing.T) {
	conflicting := pod(labelled, corev1.Container{Name: "main", Env: []corev1.EnvVar{{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/mine"}}})
	excluded := pod(labelled)
	excluded.Annotations = map[string]string{AnnotationPrefix + "/exclude": "true"}
	failing := ListerFunc(func(context.Context, string) ([]PodDefault, error) {
		return nil, errors.New("poddefaults.kubeflow.org is forbidden")
	})
	for _, tc := range []struct {
		name    string
		lister  Lister
		pod     *corev1.Pod
		allowed bool
		patched bool
		message string
	}{
		{"matching", staticLister(accessMLPipeline()), pod(labelled), true, true, ""},
		{"not matching", staticLister(accessMLPipeline()), pod(nil), true, false, ""},
		{"no PodDefaults", staticLister(), pod(labelled), true, false, ""},
		{"excluded", failing, excluded, true, false, ""},
		{"conflict refused", staticLister(accessMLPipeline()), conflicting, false, false, "conflict occurred while applying poddefaults: access-ml-pipeline on pod: p"},
		{"list fails: refused", failing, pod(labelled), false, false, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, &Handler{PodDefaults: tc.lister}, review(t, "admission.k8s.io/v1", tc.pod))
			if code != http.StatusOK || out.Response == nil {
				t.Fatalf("status %d response %v", code, out.Response)
			}
			r := out.Response
			if r.Allowed != tc.allowed || (len(r.Patch) > 0) != tc.patched {
				t.Errorf("allowed %v patch %s; want allowed %v patched %v", r.Allowed, r.Patch, tc.allowed, tc.patched)
			}
			if tc.message != "" && (r.Result == nil || !strings.Contains(r.Result.Message, tc.message)) {
				t.Errorf("result %+v lacks %q", r.Result, tc.message)
			}
		})
	}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	h := &Handler{PodDefaults: staticLister()}
	for _, tc := range []struct {
		name, method, ctype, body string
		want                      int
	}{
		{"GET", http.MethodGet, "application/json", "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"garbage", http.MethodPost, "application/json", "{", http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"unknown version", http.MethodPost, "application/json", `{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x"}}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "application/json", strings.Repeat(" ", admission.MaxReview+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, Path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestDynamicLister(t *testing.T) {
	pd := accessMLPipeline()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&pd)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion("kubeflow.org/v1alpha1")
	u.SetKind("PodDefault")
	other := u.DeepCopy()
	other.SetNamespace("elsewhere")
	other.SetName("other")
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{GVR: "PodDefaultList"}, u, other)
	got, err := DynamicLister{Client: client}.List(context.Background(), "ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "access-ml-pipeline" {
		t.Fatalf("listed %v, want the one PodDefault of ns", got)
	}
	if diff := cmp.Diff(pd.Spec, got[0].Spec); diff != "" {
		t.Errorf("spec round trip (-want +got):\n%s", diff)
	}
}

// writePair writes a self-signed serving certificate for localhost.
func writePair(t *testing.T, dir, cn string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// Written aside and renamed, as the kubelet swaps a Secret volume.
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}),
	} {
		if err := os.WriteFile(f+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writePair(t, dir, "first")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", certFile, keyFile, &Handler{PodDefaults: staticLister(accessMLPipeline())}, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	call := func(pool *x509.CertPool) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
		return c.Post("https://"+addr.String()+Path, "application/json", bytes.NewReader(review(t, "admission.k8s.io/v1", pod(labelled))))
	}
	resp, err := call(pool)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"allowed":true`) || !strings.Contains(string(body), `"patch"`) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
	// A renewed pair is served without a restart.
	_, _, pool2 := writePair(t, dir, "second")
	// A modification time surely unlike the first pair's, whatever the
	// file system's clock granularity.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	resp, err = call(pool2)
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	resp.Body.Close()
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Errorf("served %q after renewal, want the new pair", cn)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}

func TestServeNeedsTheKeyPair(t *testing.T) {
	dir := t.TempDir()
	err := Serve(context.Background(), "127.0.0.1:0", filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), http.NotFoundHandler(), nil)
	if err == nil || !strings.Contains(err.Error(), "tls.crt and tls.key") {
		t.Errorf("err = %v, want it to name the Secret's files", err)
	}
}
