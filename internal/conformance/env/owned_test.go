package env

import (
	"context"
	"regexp"
	"strings"
	"testing"

	dynamicfake "k8s.io/client-go/dynamic/fake"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Sweep removes exactly the labelled objects — a run's, or every run's —
// and nothing of the install.
func TestSweep(t *testing.T) {
	obj := func(apiVersion, kind, ns, name string, labels map[string]string) runtime.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(labels)
		return u
	}
	mine, earlier := Owner{RunID: "run-1"}, Owner{RunID: "run-0"}
	scheme := runtime.NewScheme()
	lists := map[schema.GroupVersionResource]string{}
	for _, k := range ownedKinds {
		lists[k.gvr] = k.kind + "List"
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, lists,
		obj("v1", "Pod", "profile", "client-abc", mine.Label(map[string]string{"access-ml-pipeline": "true"})),
		obj("v1", "Pod", "profile", "client-old", earlier.Labels()),
		obj("v1", "Pod", "kubeflow", "ml-pipeline-1", map[string]string{"app": "ml-pipeline"}),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", "namespace-1", "allow", mine.Labels()),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", "profile", "default-editor", nil),
		obj("v1", "ServiceAccount", "profile", "default-editor", nil),
		obj("v1", "Namespace", "", "namespace-3", mine.Labels()),
		obj("v1", "Secret", "profile", "kfp-token-x", mine.Labels()),
		obj("v1", "ConfigMap", "profile", "kfp-context-x", mine.Labels()),
		obj("v1", "ConfigMap", "kubeflow", "pipeline-install-config", nil),
		obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "kfp-connect-doctor-profile-default-editor", mine.Labels()),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "kfp-doctor", mine.Labels()),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "kubeflow-edit", nil),
		obj("v1", "Namespace", "", "kubeflow", nil),
	)
	ctx := context.Background()
	removed, err := Sweep(ctx, dyn, RunLabel+"="+mine.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Pod profile/client-abc,Secret profile/kfp-token-x,ConfigMap profile/kfp-context-x,RoleBinding namespace-1/allow,ClusterRoleBinding kfp-connect-doctor-profile-default-editor,ClusterRole kfp-doctor,Namespace namespace-3"; strings.Join(removed, ",") != want {
		t.Errorf("removed %v, want %s", removed, want)
	}
	left, err := Owned(ctx, dyn, OwnedSelector)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, ",") != "Pod profile/client-old" {
		t.Errorf("left %v: want only the earlier run's pod", left)
	}
	if _, err := Sweep(ctx, dyn, OwnedSelector); err != nil {
		t.Fatal(err)
	}
	for _, k := range ownedKinds {
		list, err := dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			if o.GetLabels()[ManagedByLabel] == ManagedBy {
				t.Errorf("%s %s left", k.kind, o.GetName())
			}
		}
		if want := map[string]int{"Pod": 1, "RoleBinding": 1, "ServiceAccount": 1, "Namespace": 1, "ConfigMap": 1, "ClusterRole": 1}[k.kind]; len(list.Items) != want {
			t.Errorf("%d %s left, want the install's %d", len(list.Items), k.kind, want)
		}
	}
}

func TestOwnerLabels(t *testing.T) {
	o := NewOwner()
	if o2 := NewOwner(); o2.RunID == o.RunID {
		t.Fatalf("two runs share the id %s", o.RunID)
	}
	spec := map[string]string{"access-ml-pipeline": "true"}
	got := o.Label(spec)
	if len(spec) != 1 {
		t.Fatalf("Label changed the scenario's own map: %v", spec)
	}
	want := map[string]string{"access-ml-pipeline": "true", ManagedByLabel: ManagedBy, RunLabel: o.RunID}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s=%q, want %q", k, got[k], v)
		}
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(o.RunID) || len(o.RunID) > 63 {
		t.Errorf("run id %q is not a label value", o.RunID)
	}
}
