package manifests

import (
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRead(t *testing.T) {
	fsys := fstest.MapFS{
		"b/20-roles.yaml": {Data: []byte("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: second}\n---\n# only a comment\n---\n")},
		"10-ns.yml":       {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n")},
		"README.md":       {Data: []byte("not a manifest")},
	}
	objs, err := Read(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	if got := strings.Join(names, ","); got != "first,second" {
		t.Fatalf("objects in order %q, want first,second", got)
	}

	_, err = Read(fstest.MapFS{"x.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\n")}})
	if err == nil || !strings.Contains(err.Error(), "x.yaml: document 1") {
		t.Fatalf("want an error naming the file and document, got %v", err)
	}
}

func TestRefuseWebhooks(t *testing.T) {
	hook := func(kind string, policies ...any) *unstructured.Unstructured {
		var hooks []any
		for _, p := range policies {
			h := map[string]any{"name": "x.kubeflow.org"}
			if p != nil {
				h["failurePolicy"] = p
			}
			hooks = append(hooks, h)
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
			"metadata": map[string]any{"name": "w"}, "webhooks": hooks,
		}}
	}
	for _, tc := range []struct {
		obj  *unstructured.Unstructured
		want string // substring of the reason; "" means applied
	}{
		{hook("MutatingWebhookConfiguration", nil), "failurePolicy Fail"},
		{hook("ValidatingWebhookConfiguration", "Ignore", "Fail"), "failurePolicy Fail, Ignore"},
		{&unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService"}}, "discovery"},
		{&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service"}}, ""},
	} {
		got := refuseOnFakePods(tc.obj)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("refuseOnFakePods(%s) = %q, want it to contain %q", tc.obj.GetKind(), got, tc.want)
		}
	}
}

func TestKindRankPutsWorkloadsLast(t *testing.T) {
	order := []string{"PriorityClass", "ServiceAccount", "ClusterRole", "Service", "NetworkPolicy", "Deployment"}
	for i := 1; i < len(order); i++ {
		if kindRank(order[i-1]) > kindRank(order[i]) {
			t.Errorf("%s ranks after %s", order[i-1], order[i])
		}
	}
}
