package install

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

// loadedImages returns objs with every container whose image has no tag or
// the tag latest, and no imagePullPolicy, set to IfNotPresent: where pods
// really run here the images are loaded onto the nodes, not pulled, and
// such an image's default policy is Always, which fails without a registry
// (ErrImagePull). kind gives its users the same advice for `kind load`.
// Objects that need no change are returned as they are; changed ones are
// copies.
func loadedImages(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o
		spec, ok := manifests.PodSpecPath(o.GetKind())
		if !ok {
			continue
		}
		var copied *unstructured.Unstructured
		for _, field := range []string{"initContainers", "containers"} {
			list, _, _ := unstructured.NestedSlice(o.Object, append(spec, field)...)
			changed := false
			for j, c := range list {
				m, _ := c.(map[string]any)
				img, _ := m["image"].(string)
				if _, set := m["imagePullPolicy"]; set || !pulledAlways(img) {
					continue
				}
				m["imagePullPolicy"] = "IfNotPresent"
				list[j], changed = m, true
			}
			if !changed {
				continue
			}
			if copied == nil {
				copied = o.DeepCopy()
			}
			_ = unstructured.SetNestedSlice(copied.Object, list, append(spec, field)...) // the path exists: it was just read
		}
		if copied != nil {
			out[i] = copied
		}
	}
	return out
}

// pulledAlways reports whether image's default pull policy is Always: no
// tag, or the tag latest, and no digest.
func pulledAlways(image string) bool {
	if image == "" || strings.Contains(image, "@") {
		return false
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, tagged := strings.Cut(name, ":")
	return !tagged || tag == "latest"
}
