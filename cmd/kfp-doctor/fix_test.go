package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
)

func TestFixCommandOffline(t *testing.T) {
	tok, err := jwttest.Mint(jwttest.Token{Namespace: "team-a", ServiceAccount: "default-editor", Audience: []string{"https://kubernetes.default.svc.cluster.local"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	if err := os.WriteFile(tf, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err []string
	}{
		{"KFD009 from the token's claims", []string{"KFD009", "-n", "team-b", "--token-file", tf}, exitOK,
			[]string{"kind: ServiceAccount", "name: default-editor", "namespace: team-a", "namespace: team-b", "name: kubeflow-edit", "# not validated"}, nil},
		{"KFD003 takes the token's audience", []string{"kfd003", "--token-file", tf}, exitOK,
			[]string{"value: https://kubernetes.default.svc.cluster.local", "namespace: kubeflow", "Warning"}, nil},
		{"KFD004 for a namespace", []string{"KFD004", "-n", "team-b"}, exitOK, []string{"kind: PodDefault", "audience: pipelines.kubeflow.org"}, nil},
		{"no subject", []string{"KFD009", "-n", "team-b"}, exitUsage, nil, []string{"no subject"}},
		{"no namespace", []string{"KFD009", "--subject", "u@x.org"}, exitUsage, nil, []string{"pass -n"}},
		{"an id without a fix", []string{"KFD014"}, exitUsage, nil, []string{"KFD014 has no YAML fix"}},
		{"not an id", []string{"rolebinding"}, exitUsage, nil, []string{"not a catalogue id"}},
		{"no id", nil, exitUsage, nil, []string{"requires at least 1 arg"}},
		{"--apply without a cluster", []string{"KFD009", "-n", "x", "--subject", "u@x.org", "--apply"}, exitUsage, nil, []string{"--apply needs --kubeconfig"}},
		{"--pod without a cluster", []string{"KFD004", "-n", "x", "--pod", "nb-0"}, exitUsage, nil, []string{"--pod needs --kubeconfig"}},
		{"a token file that is not a JWT", []string{"KFD009", "-n", "x", "--token-file", filepath.Join(dir, "missing")}, exitUsage, nil, []string{"no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runWithInput(context.Background(), append([]string{"fix"}, tc.args...), strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if strings.Contains(out.String()+errb.String(), tok) {
				t.Error("the token was printed")
			}
		})
	}
}
