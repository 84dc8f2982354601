package clientfault

import "testing"

func TestNamespace(t *testing.T) {
	if c := apply(t, Namespace("namespace-3"), inPod()); c.Namespace != "namespace-3" {
		t.Errorf("namespace %q", c.Namespace)
	}
	if c := apply(t, Namespace(""), outside()); c.Namespace != "" {
		t.Errorf("namespace %q, want none", c.Namespace)
	}
}
