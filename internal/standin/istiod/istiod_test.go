package istiod

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

func pod(ns, name, sa, ip string, sidecar bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:   corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "main"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
	if sidecar {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
	}
	return p
}

func lists() map[schema.GroupVersionResource]string {
	return map[schema.GroupVersionResource]string{
		mesh.AuthorizationPolicies.WithVersion("v1beta1"):  "AuthorizationPolicyList",
		mesh.PeerAuthentications.WithVersion("v1beta1"):    "PeerAuthenticationList",
		mesh.RequestAuthentications.WithVersion("v1beta1"): "RequestAuthenticationList",
		{Version: "v1", Resource: "configmaps"}:            "ConfigMapList",
	}
}

func TestControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kube := fake.NewClientset(
		pod("kubeflow-user-example-com", "notebook-0", "default-editor", "10.244.0.9", true),
		pod("namespace-3", "client-0", "", "10.244.0.11", false),
	)
	deny := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "global-deny-all", "namespace": "istio-system"}, "spec": map[string]any{}}}
	meshCM := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "istio", "namespace": "istio-system"}, "data": map[string]any{"mesh": "trustDomain: example.org"}}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists(), deny, meshCM)
	c, err := Start(ctx, kube, dyn)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Config().AuthorizationPolicies); n != 1 || c.Config().Domain() != "example.org" {
		t.Fatalf("snapshot: %d policies, trust domain %q", n, c.Config().Domain())
	}
	// A pod with the proxy is its ServiceAccount, in the mesh's trust
	// domain; one without is nobody; an address no pod has is unknown.
	if p, err := c.Identify(ctx, netip.MustParseAddr("10.244.0.9")); err != nil || p.Principal != "example.org/ns/kubeflow-user-example-com/sa/default-editor" {
		t.Fatalf("notebook: %+v %v", p, err)
	}
	if p, err := c.Identify(ctx, netip.MustParseAddr("10.244.0.11")); err != nil || p.Principal != "" || p.Pod != "namespace-3/client-0" {
		t.Fatalf("outside: %+v %v", p, err)
	}
	if _, err := c.Identify(ctx, netip.MustParseAddr("10.9.9.9")); !errors.Is(err, ErrUnknownPod) {
		t.Fatalf("unknown address: %v", err)
	}
	// A change reaches the snapshot, and WaitFor sees it.
	pa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": "strict", "namespace": "kubeflow"}, "spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}}}}
	if _, err := dyn.Resource(mesh.PeerAuthentications.WithVersion("v1beta1")).Namespace("kubeflow").Create(ctx, pa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, func(cfg *mesh.Config) bool { return len(cfg.PeerAuthentications) == 1 }); err != nil {
		t.Fatalf("the new PeerAuthentication never reached the snapshot: %v", err)
	}
}

// Without Istio's CRDs the snapshot is empty: nothing is refused.
func TestControlWithoutIstio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists())
	dyn.PrependReactor("list", "authorizationpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(mesh.AuthorizationPolicies, "")
	})
	c, err := Start(ctx, fake.NewClientset(), dyn)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Config().AuthorizationPolicies) != 0 {
		t.Fatal("policies without Istio")
	}
}

func TestWants(t *testing.T) {
	ns := func(label string) *corev1.Namespace {
		n := &corev1.Namespace{}
		if label != "" {
			n.Labels = map[string]string{InjectLabel: label}
		}
		return n
	}
	withLabel := func(v string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{InjectOverride: v}}}
	}
	withAnn := func(v string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{InjectOverride: v}}}
	}
	for _, row := range []struct {
		name string
		ns   *corev1.Namespace
		pod  *corev1.Pod
		want bool
	}{
		{"a namespace labelled enabled", ns("enabled"), &corev1.Pod{}, true},
		{"…unless the pod opts out", ns("enabled"), withLabel("false"), false},
		{"…by the legacy annotation too", ns("enabled"), withAnn("false"), false},
		{"an unlabelled namespace", ns(""), &corev1.Pod{}, false},
		{"…where the pod opts in by label", ns(""), withLabel("true"), true},
		{"…or by annotation", ns(""), withAnn("true"), true},
		{"a namespace labelled disabled, whatever the pod says", ns("disabled"), withLabel("true"), false},
		{"a namespace labelled istio.io/rev=default", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{RevLabel: "default"}}}, &corev1.Pod{}, true},
		{"…another revision", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{RevLabel: "canary"}}}, &corev1.Pod{}, false},
		{"…istio-injection wins over it", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{RevLabel: "default", InjectLabel: "disabled"}}}, &corev1.Pod{}, false},
		{"a pod labelled istio.io/rev=default in an unlabelled namespace", ns(""), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{RevLabel: "default"}}}, true},
		{"a host-network pod", ns("enabled"), &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}}, false},
		{"a pod already injected", ns("enabled"), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{StatusAnnotation: "{}"}}}, false},
	} {
		if got := Wants(row.ns, row.pod); got != row.want {
			t.Errorf("%s: %v, want %v", row.name, got, row.want)
		}
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "default-editor", Containers: []corev1.Container{{Name: "main"}}}}
	Inject(p, "")
	if len(p.Spec.InitContainers) != 2 || p.Spec.InitContainers[0].Name != InitContainer || len(p.Spec.Containers) != 1 ||
		p.Spec.InitContainers[1].Name != ProxyContainer || p.Spec.InitContainers[1].Args[1] != "sidecar" ||
		p.Spec.InitContainers[1].RestartPolicy == nil || p.Annotations[StatusAnnotation] == "" {
		t.Fatalf("injected pod: %+v", p)
	}
}

// The webhook answers a pod of an injected namespace with the patch that
// makes it the injected pod, and leaves others alone.
func TestInjector(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{InjectLabel: "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}})
	h := &Injector{Kube: kube}
	for _, row := range []struct {
		ns      string
		patched bool
	}{{"team-a", true}, {"plain", false}} {
		pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: row.ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x"}}}}
		raw, _ := json.Marshal(pod)
		review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: row.ns,
				Object: runtime.RawExtension{Raw: raw}}}
		body, _ := json.Marshal(review)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", InjectPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || !out.Response.Allowed || out.Response.UID != "u1" {
			t.Fatalf("%s: %s %v", row.ns, rec.Body, err)
		}
		if (out.Response.Patch != nil) != row.patched {
			t.Fatalf("%s: patch %s", row.ns, out.Response.Patch)
		}
		if !row.patched {
			continue
		}
		p, err := jsonpatch.DecodePatch(out.Response.Patch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Apply(raw)
		if err != nil {
			t.Fatal(err)
		}
		var after corev1.Pod
		_ = json.Unmarshal(got, &after)
		if !discover.HasSidecar(&after) || after.Spec.InitContainers[0].Name != InitContainer {
			t.Fatalf("patched pod: %s", got)
		}
	}
}

// A proxy on a node follows istiod over HTTP: the snapshot, its changes,
// and who is behind an address.
func TestRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kube := fake.NewClientset(pod("kubeflow-user-example-com", "notebook-0", "default-editor", "10.244.0.9", true))
	deny := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "global-deny-all", "namespace": "istio-system"}, "spec": map[string]any{}}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists(), deny)
	c, err := Start(ctx, kube, dyn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	// The proxy stops following before the server closes, or Close waits
	// for its long poll.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	r, err := Dial(rctx, 0, srv.URL, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Config().AuthorizationPolicies); n != 1 {
		t.Fatalf("remote snapshot: %d policies", n)
	}
	w, err := r.Workload(ctx, netip.MustParseAddr("10.244.0.9"))
	p, _ := r.Identify(ctx, netip.MustParseAddr("10.244.0.9"))
	if err != nil || w.Namespace != "kubeflow-user-example-com" || p.Principal != "cluster.local/ns/kubeflow-user-example-com/sa/default-editor" {
		t.Fatalf("identify: %+v %+v %v", w, p, err)
	}
	pa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": "strict", "namespace": "kubeflow"}, "spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}}}}
	if _, err := dyn.Resource(mesh.PeerAuthentications.WithVersion("v1beta1")).Namespace("kubeflow").Create(ctx, pa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for len(r.Config().PeerAuthentications) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the change never reached the proxy")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The injector's proxy image comes from its ConfigMap's values as Istio's
// template composes it (hub/proxy.image:tag, or proxy.image when it is a
// full reference), the default otherwise.
func TestProxyImageOf(t *testing.T) {
	for values, want := range map[string]string{
		`{"global":{"hub":"gcr.io/istio-release","tag":"1.29.1","proxy":{"image":"proxyv2"}}}`:                   "gcr.io/istio-release/proxyv2:1.29.1",
		`{"global":{"hub":"docker.io/istio","tag":"1.26.0","proxy":{"image":"docker.io/istio/proxyv2:1.26.0"}}}`: "docker.io/istio/proxyv2:1.26.0",
		`{"global":{"hub":"","tag":"","proxy":{"image":"proxyv2"}}}`:                                             ProxyImage,
		`not json`: ProxyImage,
	} {
		if got := ProxyImageOf(values); got != want {
			t.Errorf("ProxyImageOf(%s) = %s, want %s", values, got, want)
		}
	}
}

// istiod fills the caBundle of the injector's webhooks that call it, and
// leaves other webhooks (another Service, another configuration) alone.
func TestPatchCABundles(t *testing.T) {
	svc := func(name string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "istio-system", Name: name}}
	}
	injector := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector", Labels: map[string]string{"app": "sidecar-injector"}},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a", ClientConfig: svc("istiod")}, {Name: "b", ClientConfig: svc("elsewhere")}},
	}
	other := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "poddefaults"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "c", ClientConfig: svc("istiod")}},
	}
	kube := fake.NewClientset(injector, other)
	ca := []byte("-----BEGIN CERTIFICATE-----\n…\n")
	ctx := context.Background()
	for range 2 { // the second pass finds nothing to change
		if err := patchCABundles(ctx, kube, "istio-system", ca); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector", metav1.GetOptions{})
	if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, ca) || got.Webhooks[1].ClientConfig.CABundle != nil {
		t.Errorf("injector after the patch: %+v", got.Webhooks)
	}
	o, _ := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "poddefaults", metav1.GetOptions{})
	if o.Webhooks[0].ClientConfig.CABundle != nil {
		t.Error("a configuration without the injector's label was patched")
	}
}
