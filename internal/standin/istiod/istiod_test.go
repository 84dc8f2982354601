package istiod

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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
