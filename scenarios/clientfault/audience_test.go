package clientfault

import "testing"

func TestAudience(t *testing.T) {
	c := apply(t, Audience("wrong.example.com"), inPod())
	if c.TokenFiles.Audience != "wrong.example.com" || c.Token.Audience != "" {
		t.Errorf("in a pod the volumes' tokens change: %+v, %+v", c.TokenFiles, c.Token)
	}
	c = apply(t, Audience(""), outside())
	if c.Token.Audience != "" {
		t.Errorf("outside the minted token's audience changes: %+v", c.Token)
	}
	refuses(t, Audience("x"), throughGateway())
}
