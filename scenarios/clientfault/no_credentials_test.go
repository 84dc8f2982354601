package clientfault

import (
	"testing"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

func TestNoCredentials(t *testing.T) {
	for _, c := range []s.Client{inPod(), outside()} {
		if c = apply(t, NoCredentials(), c); c.Token != (s.Token{}) {
			t.Errorf("%s still has credentials %+v", c.Name, c.Token)
		}
	}
}
