package clientfault

import "testing"

func TestForeignIssuer(t *testing.T) {
	if c := apply(t, ForeignIssuer(), outside()); c.Token.Issuer != ForeignIssuerURL {
		t.Errorf("issuer %q", c.Token.Issuer)
	}
	refuses(t, ForeignIssuer(), inPod())
}
