package clientfault

import (
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
)

func TestTokenPathEnv(t *testing.T) {
	env := map[string]string{kubeflow.TokenPathEnv: "/opt/kfp-token/token", "OTHER": "x"}
	sc := s.Scenario{Name: "x", Paths: []s.Path{{Name: "p", Pod: &s.Pod{Namespace: "profile", Env: env}}},
		Faults: []s.Fault{{Name: "f", Client: TokenPathEnv("/opt/kfp-token/tokn")}}}
	c, err := sc.ClientOf(s.Case{Path: "p", Fault: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pod.Env[kubeflow.TokenPathEnv]; got != "/opt/kfp-token/tokn" || c.Pod.Env["OTHER"] != "x" {
		t.Errorf("env %v: want only the token path changed", c.Pod.Env)
	}
	if env[kubeflow.TokenPathEnv] != "/opt/kfp-token/token" {
		t.Error("the scenario's env changed: a fault changes the case's copy")
	}
	refuses(t, TokenPathEnv("/x"), outside())
}
