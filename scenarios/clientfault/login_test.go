package clientfault

import (
	"testing"

	s "github.com/kfp-connect/kfp-connect/scenarios"
)

func TestLogin(t *testing.T) {
	before := throughGateway()
	c := apply(t, Login(s.Login{Password: "wrong"}), before)
	if c.Login.Password != "wrong" || c.Login.Username != "user@example.com" || c.Login.Connector != "local" {
		t.Errorf("login %+v: only the password changes", *c.Login)
	}
	refuses(t, Login(s.Login{Username: "x"}), outside())
}

// The scenario's data is a template for every case: a fault changes a copy.
func TestLoginLeavesTheScenarioAlone(t *testing.T) {
	user := &s.Login{Username: "user@example.com", Password: "12341234", Connector: "local"}
	sc := s.Scenario{Name: "x", Paths: []s.Path{{Name: "p", PortForward: &s.PortForward{Service: "gw"}, Login: user}},
		Faults: []s.Fault{{Name: "f", Client: Login(s.Login{Password: "wrong"})}}}
	c, err := sc.ClientOf(s.Case{Path: "p", Fault: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Login.Password != "wrong" || user.Password != "12341234" {
		t.Errorf("client %q, scenario %q: want the client's changed and the scenario's not", c.Login.Password, user.Password)
	}
}
