package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// The command line as the kubelet and the runtime make it from the
// container and the image's config.
func TestCommandLine(t *testing.T) {
	env := map[string]string{"PORT": "4180"}
	expand := func(s string) string { return strings.ReplaceAll(s, "$(PORT)", env["PORT"]) }
	img := programs.Config{Entrypoint: []string{"/usr/local/bin/docker-entrypoint"}, Cmd: []string{"dex", "serve", "/etc/dex/config.docker.yaml"}}
	for _, tc := range []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"the image's own", corev1.Container{}, "/usr/local/bin/docker-entrypoint dex serve /etc/dex/config.docker.yaml"},
		{"command replaces both", corev1.Container{Command: []string{"dex", "serve", "/etc/dex/cfg/config.yaml"}}, "dex serve /etc/dex/cfg/config.yaml"},
		{"args replace the cmd", corev1.Container{Args: []string{"--http-address=0.0.0.0:$(PORT)"}}, "/usr/local/bin/docker-entrypoint --http-address=0.0.0.0:4180"},
		{"command and args", corev1.Container{Command: []string{"x"}, Args: []string{"$(PORT)", "$(NOPE)"}}, "x 4180 $(NOPE)"},
	} {
		if got := strings.Join(commandLine(&tc.c, img, expand), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The image's ENV is under the pod's; HOSTNAME is the runtime's.
func TestContainerEnv(t *testing.T) {
	img := programs.Config{Env: []string{"PATH=/bin", "TAG_NAME=2.17.0", "A=image"}}
	env := containerEnv(img, map[string]string{"A": "pod", "B": "pod"}, "ml-pipeline-abc")
	for k, want := range map[string]string{"PATH": "/bin", "TAG_NAME": "2.17.0", "A": "pod", "B": "pod", "HOSTNAME": "ml-pipeline-abc"} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
}

func TestPrograms(t *testing.T) {
	over, err := ParsePrograms([]string{"ghcr.io/dexidp/dex=/opt/dex", "example.com/thing:1=/opt/thing", "ghcr.io/kubeflow/kfp-api-server=/opt/apiserver"})
	if err != nil {
		t.Fatal(err)
	}
	progs := Programs(Binaries{Dir: "/cache", ByImage: over})
	find := func(image string) *Program {
		for i := range progs {
			if progs[i].Match(image) {
				return &progs[i]
			}
		}
		return nil
	}
	if p := find("ghcr.io/dexidp/dex:v2.45.1"); p == nil || p.Binary != "/opt/dex" || p.Image == nil || p.Image.Name != "dex" {
		t.Errorf("dex override: %+v (want /opt/dex in Dex's image)", p)
	}
	if p := find("example.com/thing:2"); p == nil || p.Binary != "/opt/thing" || p.Image != nil {
		t.Errorf("unknown image override: %+v", p)
	}
	// A --program for a stand-in's image runs that binary as the pod's
	// process, named as the catalogue names the program.
	if p := find("ghcr.io/kubeflow/kfp-api-server:2.17.0"); p == nil || p.Handler != nil || p.Binary != "/opt/apiserver" || p.Name != "kfp-api-server" {
		t.Errorf("API server override: %+v", p)
	}
	if p := find("quay.io/oauth2-proxy/oauth2-proxy:v7.14.3"); p == nil || p.Binary != "" || p.Tools != "/cache" {
		t.Errorf("oauth2-proxy from the cache: %+v", p)
	}
	// istiod's pod answers with the lab's own istiod, which must be running.
	if p := find("docker.io/istio/pilot:1.26.0"); p == nil || p.Handler == nil || p.Name != "istiod" {
		t.Errorf("istiod: %+v (want the lab's discovery served)", p)
	} else if _, err := p.Handler(context.Background(), Inputs{}); err == nil {
		t.Errorf("istiod's pod served without the lab's istiod")
	}
	if p := find("ghcr.io/kubeflow/kfp-frontend:2.17.0"); p == nil || p.Handler == nil {
		t.Errorf("the UI stand-in: %+v", p)
	}
	for _, bad := range []string{"noequals", "=/x", "img="} {
		if _, err := ParsePrograms([]string{bad}); err == nil || !strings.Contains(err.Error(), "IMAGE=PATH") {
			t.Errorf("ParsePrograms(%q) = %v, want an IMAGE=PATH error", bad, err)
		}
	}
}

// A Go program's crash keeps its panic line in the tail the lab shows,
// however long the goroutine dump and registers after it.
func TestTailKeepsThePanic(t *testing.T) {
	tb := newTailBuffer(4096)
	fmt.Fprintln(tb, "starting")
	fmt.Fprintln(tb, "panic: runtime error: invalid memory address or nil pointer dereference")
	fmt.Fprintln(tb, "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]")
	fmt.Fprintln(tb, "\ngoroutine 1 [running]:\nmain.serve(...)\n\t/src/main.go:42")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(tb, "r%d      0x%016x\n", i%16, i)
	}
	tail := tb.Tail(20)
	if !strings.HasPrefix(tail, "panic: runtime error: invalid memory address") || !strings.Contains(tail, "main.go:42") {
		t.Errorf("the tail lacks the panic:\n%s", tail)
	}
	if !strings.HasSuffix(strings.TrimSpace(tail), fmt.Sprintf("0x%016x", 499)) {
		t.Errorf("the tail lacks the last lines:\n%s", tail)
	}
	// No crash: just the last lines.
	tb = newTailBuffer(4096)
	fmt.Fprint(tb, "a\nb\nc\n")
	if got := tb.Tail(2); got != "b\nc" {
		t.Errorf("Tail(2) = %q", got)
	}
}
