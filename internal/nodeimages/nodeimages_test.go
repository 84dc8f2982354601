package nodeimages

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestImagesOf(t *testing.T) {
	// Plain ints, as kustomize's output holds them.
	container := func(image string) map[string]any {
		return map[string]any{"name": "c", "image": image, "ports": []any{map[string]any{"containerPort": 8080}}}
	}
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"kind": "Deployment", "spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"initContainers": []any{container("init:1")}, "containers": []any{container("app:1"), container("side:1")}}}}}},
		{Object: map[string]any{"kind": "Pod", "spec": map[string]any{"containers": []any{container("app:1"), container("pod:1")}}}},
		{Object: map[string]any{"kind": "CronJob", "spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{container("cron:1")}}}}}}}},
		{Object: map[string]any{"kind": "ConfigMap", "data": map[string]any{"image": "not:1"}}},
	}
	want := []string{"init:1", "app:1", "side:1", "pod:1", "cron:1"}
	if got := ImagesOf(objs); !slices.Equal(got, want) {
		t.Fatalf("ImagesOf = %v, want %v", got, want)
	}
}
