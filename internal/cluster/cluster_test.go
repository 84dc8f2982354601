package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestToolsBinDir(t *testing.T) {
	pinned := "kfp-connect/k8s-v1.37.2-etcd-v3.7.3-kwok-v0.8.0/bin"
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"explicit env wins", map[string]string{ToolsBinEnv: "/opt/t", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/opt/t", false},
		{"XDG cache", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/" + pinned, false},
		{"home cache", map[string]string{"HOME": "/h"}, "/h/.cache/" + pinned, false},
		{"nothing set", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToolsBinDir(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ToolsBinDir = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The pinned versions are spelled in two places; a bump in one only would
// silently look for binaries that were never built.
func TestToolsVersionsMatchBuildScript(t *testing.T) {
	script, err := os.ReadFile("../../tools/versions.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"K8S_VERSION=" + k8sVersion, "ETCD_VERSION=" + etcdVersion, "KWOK_VERSION=" + kwokVersion} {
		if !strings.Contains(string(script), "\n"+line+"\n") {
			t.Errorf("tools/versions.env (read by tools/build.sh) does not pin %s", line)
		}
	}
}

func TestToolsBinNamesMissingAndMakeTools(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kwokctl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == ToolsBinEnv {
			return dir
		}
		return ""
	}
	if _, err := ToolsBin(env, "kwokctl"); err != nil {
		t.Fatalf("kwokctl present: %v", err)
	}
	_, err := ToolsBin(env, "kwokctl", "etcd", "kube-apiserver")
	if !errors.Is(err, ErrToolsMissing) {
		t.Fatalf("want ErrToolsMissing, got %v", err)
	}
	for _, want := range []string{"make tools", "etcd", "kube-apiserver"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "kwokctl") {
		t.Errorf("error %q blames a binary that is present", err)
	}
}
