package clientfault

import "testing"

func TestSuffix(t *testing.T) {
	if c := apply(t, Suffix("s"), outside()); c.Host != "/pipelines" {
		t.Errorf("host %q", c.Host)
	}
	if c := apply(t, Suffix("/x"), inPod()); c.Host != "http://ml-pipeline.kubeflow:8888/x" {
		t.Errorf("host %q", c.Host)
	}
	refuses(t, Suffix("/x"), sdkDefaultInPod())
}
