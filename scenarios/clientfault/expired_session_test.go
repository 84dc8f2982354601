package clientfault

import (
	"testing"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

func TestExpiredSession(t *testing.T) {
	c := outside()
	c.Session = &s.Login{Username: "user@example.com"}
	if c = apply(t, ExpiredSession(), c); !c.ExpireSession {
		t.Error("the session does not expire")
	}
	refuses(t, ExpiredSession(), outside())
}
