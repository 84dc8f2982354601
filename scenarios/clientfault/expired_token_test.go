package clientfault

import "testing"

func TestExpiredToken(t *testing.T) {
	if c := apply(t, ExpiredToken(), inPod()); !c.TokenFiles.Expired {
		t.Error("the token is not expired")
	}
	refuses(t, ExpiredToken(), outside())
}
