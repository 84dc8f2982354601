package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Shell completion offers the closed sets of values, and the kubeconfig's
// contexts for --context.
func TestFlagCompletion(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: lab, context: {cluster: c, user: u}}, {name: prod, context: {cluster: c, user: u}}]
current-context: lab
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "-o", ""}, []string{"text", "json", "junit"}},
		{[]string{"__complete", "--scenario", ""}, []string{"auto", "multi-user-out-of-cluster"}},
		{[]string{"__complete", "--login-connector", ""}, []string{"local", "ldap"}},
		{[]string{"__complete", "--kubeconfig", kubeconfig, "--context", ""}, []string{"lab", "prod"}},
	} {
		var out, errb bytes.Buffer
		run(context.Background(), c.args, &out, &errb)
		for _, w := range c.want {
			if !strings.Contains(out.String(), w+"\n") {
				t.Errorf("%v: %q lacks %q (stderr %q)", c.args, out.String(), w, errb.String())
			}
		}
	}
}
