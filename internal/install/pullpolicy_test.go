package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestLoadedImages(t *testing.T) {
	dep := func(containers ...map[string]any) *unstructured.Unstructured {
		list := make([]any, len(containers))
		for i, c := range containers {
			list[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "d"}, "spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": list}}}}}
	}
	policy := func(o *unstructured.Unstructured, i int) string {
		list, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		p, _ := list[i].(map[string]any)["imagePullPolicy"].(string)
		return p
	}
	in := dep(
		map[string]any{"name": "a", "image": "docker.io/bitnamisecure/kubectl:latest"},
		map[string]any{"name": "b", "image": "ghcr.io/dexidp/dex:v2.41.1"},
		map[string]any{"name": "c", "image": "localhost:5000/x"},
		map[string]any{"name": "d", "image": "x:latest", "imagePullPolicy": "Always"},
		map[string]any{"name": "e", "image": "x@sha256:0123"},
	)
	got := loadedImages([]*unstructured.Unstructured{in})[0]
	for i, want := range []string{"IfNotPresent", "", "IfNotPresent", "Always", ""} {
		if p := policy(got, i); p != want {
			t.Errorf("container %d: imagePullPolicy %q, want %q", i, p, want)
		}
	}
	if policy(in, 0) != "" {
		t.Error("the caller's object was changed")
	}
	untouched := dep(map[string]any{"name": "b", "image": "ghcr.io/dexidp/dex:v2.41.1"})
	if loadedImages([]*unstructured.Unstructured{untouched})[0] != untouched {
		t.Error("an object needing no change was copied")
	}
}
