package clientfault

import "testing"

func TestContextFile(t *testing.T) {
	c := apply(t, ContextNamespace("namespace-3"), inPod())
	c = apply(t, ContextHeader("kubeflow-userid", "user@example.com"), c)
	want := map[string]string{"namespace": "namespace-3", "client_authentication_header_name": "kubeflow-userid",
		"client_authentication_header_value": "user@example.com"}
	if len(c.ContextFile) != len(want) {
		t.Fatalf("context.json %v, want %v", c.ContextFile, want)
	}
	for k, v := range want {
		if c.ContextFile[k] != v {
			t.Errorf("context.json %s = %q, want %q", k, c.ContextFile[k], v)
		}
	}
	proxy := outside()
	proxy.PortForward, proxy.ServiceProxy = nil, true
	refuses(t, ContextNamespace("x"), proxy)
}
