package clientfault

import "testing"

func TestPort(t *testing.T) {
	if c := apply(t, Port(8888), inPod()); c.Port != 8888 {
		t.Errorf("port %d", c.Port)
	}
	if c := apply(t, Port(1), outside()); c.Port != 1 {
		t.Errorf("port %d", c.Port)
	}
	refuses(t, Port(1), sdkDefaultInPod())
}
