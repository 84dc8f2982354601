package clientfault

import "testing"

func TestNoTokenFile(t *testing.T) {
	if c := apply(t, NoTokenFile(), inPod()); !c.TokenFiles.Missing {
		t.Error("the token volumes are still mounted")
	}
	refuses(t, NoTokenFile(), outside())
}
