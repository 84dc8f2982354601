package clientfault

import "testing"

func TestNoPrefix(t *testing.T) {
	if c := apply(t, NoPrefix(), outside()); c.Host != "" {
		t.Errorf("host %q, want the forward's root", c.Host)
	}
	refuses(t, NoPrefix(), inPod())
}
