package clientfault

import "testing"

func TestServiceAccount(t *testing.T) {
	if c := apply(t, ServiceAccount("profile/viewer"), outside()); c.Token.ServiceAccount != "profile/viewer" {
		t.Errorf("service account %q", c.Token.ServiceAccount)
	}
	refuses(t, ServiceAccount("profile/viewer"), inPod())
}
