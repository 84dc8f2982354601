package clientfault

import "testing"

func TestHost(t *testing.T) {
	if c := apply(t, Host("http://ml-pipeline-ui.namespace-2"), sdkDefaultInPod()); c.Host != "http://ml-pipeline-ui.namespace-2" {
		t.Errorf("host %q", c.Host)
	}
	refuses(t, Host("http://x"), outside())
}
