package distro

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
)

// ListCluster reads only lists, in the stacks' namespaces, and says what it
// could not read instead of guessing.
func TestListCluster(t *testing.T) {
	kube := fake.NewSimpleClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "dex"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "authservice"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "oidc-authservice-parameters"}},
	)
	kube.PrependReactor("list", "ingresses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "", nil)
	})
	objs, problems := ListCluster(context.Background(), fromclientset.Wrap(kube))
	m, ok := Recognise(ObserveCluster(objs))
	if !ok || m.Distribution.ID != DexAuthService || !strings.Contains(m.Seen(), "service istio-system/authservice") {
		t.Fatalf("recognised %q (%t) from %v", m.Distribution.ID, ok, objs)
	}
	for _, o := range objs {
		if o.Namespace == "default" {
			t.Errorf("listed outside the stacks' namespaces: %+v", o)
		}
	}
	if len(problems) != 1 || problems[0] != "cannot list Ingress objects in istio-system (forbidden)" {
		t.Errorf("problems %q", problems)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("a %s call: the doctor only lists", a.GetVerb())
		}
	}
}
