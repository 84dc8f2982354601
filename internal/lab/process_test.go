package lab

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

func TestReroot(t *testing.T) {
	mounts := map[string]string{
		"/etc/dex/cfg":                       "/tmp/pod/volumes/config",
		"/etc/oauth2_proxy/oauth2_proxy.cfg": "/tmp/pod/volumes/cfg/oauth2_proxy.cfg",
		"/custom-theme/kubeflow-logo.svg":    "/tmp/pod/volumes/theme/kubeflow-logo.svg",
		"/etc":                               "/tmp/pod/volumes/etc",
	}
	for in, want := range map[string]string{
		"/etc/dex/cfg/config.yaml":                                "/tmp/pod/volumes/config/config.yaml",
		"--config=/etc/oauth2_proxy/oauth2_proxy.cfg":             "--config=/tmp/pod/volumes/cfg/oauth2_proxy.cfg",
		`custom_sign_in_logo = "/custom-theme/kubeflow-logo.svg"`: `custom_sign_in_logo = "/tmp/pod/volumes/theme/kubeflow-logo.svg"`,
		"/etc/hosts":                       "/tmp/pod/volumes/etc/hosts",       // the parent mount, since no longer one matches
		"/etcetera/x":                      "/etcetera/x",                      // not a path under /etc
		"http://dex.auth:5556/etc/dex/cfg": "http://dex.auth:5556/etc/dex/cfg", // inside a URL path, not a path of its own
		"a=/etc/dex/cfg,b=/etc/dex/cfg/x":  "a=/tmp/pod/volumes/config,b=/tmp/pod/volumes/config/x",
		"no paths here":                    "no paths here",
	} {
		if got := reroot(in, mounts); got != want {
			t.Errorf("reroot(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	env := map[string]string{"PORT": "4180"}
	expand := func(s string) string { return strings.ReplaceAll(s, "$(PORT)", env["PORT"]) }
	c := &corev1.Container{Command: []string{"dex", "serve", "/etc/dex/cfg/config.yaml"}}
	if got := commandLine(c, "/bin/dex", expand); strings.Join(got, " ") != "/bin/dex serve /etc/dex/cfg/config.yaml" {
		t.Errorf("command: %q", got)
	}
	// No command: the image's entrypoint (the binary), then args, expanded.
	c = &corev1.Container{Args: []string{"--http-address=0.0.0.0:$(PORT)"}}
	if got := commandLine(c, "/bin/oauth2-proxy", expand); strings.Join(got, " ") != "/bin/oauth2-proxy --http-address=0.0.0.0:4180" {
		t.Errorf("args: %q", got)
	}
}

func TestOAuth2ProxyListen(t *testing.T) {
	args := execs["oauth2-proxy"](Binaries{Dir: "/bin"}).Listen(
		[]string{"/bin/oauth2-proxy", "--http-address=0.0.0.0:4180", "--config=/x"},
		map[int32]string{4180: "127.0.0.1:5000", 44180: "127.0.0.1:5001"})
	got := strings.Join(args, " ")
	if got != "/bin/oauth2-proxy --config=/x --http-address=127.0.0.1:5000 --metrics-address=127.0.0.1:5001" {
		t.Errorf("got %q", got)
	}
}

func TestPrograms(t *testing.T) {
	over, err := ParsePrograms([]string{"ghcr.io/dexidp/dex=/opt/dex", "example.com/thing:1=/opt/thing"})
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
	if p := find("ghcr.io/dexidp/dex:v2.45.1"); p == nil || p.Exec.Binary != "/opt/dex" || p.Exec.Listen == nil {
		t.Errorf("dex override: %+v (want /opt/dex with Dex's port handling)", p)
	}
	if p := find("example.com/thing:2"); p == nil || p.Exec.Binary != "/opt/thing" || p.Exec.Listen != nil {
		t.Errorf("unknown image override: %+v", p)
	}
	if p := find("quay.io/oauth2-proxy/oauth2-proxy:v7.14.3"); p == nil || p.Exec.Binary != "/cache/oauth2-proxy" {
		t.Errorf("oauth2-proxy from the cache: %+v", p)
	}
	if p := find("ghcr.io/kubeflow/kfp-api-server:2.17.0"); p == nil || p.Handler == nil {
		t.Errorf("the API server stand-in: %+v", p)
	}
	for _, bad := range []string{"noequals", "=/x", "img="} {
		if _, err := ParsePrograms([]string{bad}); err == nil || !strings.Contains(err.Error(), "IMAGE=PATH") {
			t.Errorf("ParsePrograms(%q) = %v, want an IMAGE=PATH error", bad, err)
		}
	}
}

func TestProcStopsItsGroup(t *testing.T) {
	dir := t.TempDir()
	// A shell that forks a child which would outlive it: stop ends both.
	p := &Proc{Args: []string{"/bin/sh", "-c", "sleep 600 & echo started; wait"}, Env: map[string]string{"PATH": "/usr/bin:/bin"}, Dir: dir}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return strings.Contains(p.LogTail(), "started"), nil
	}); err != nil {
		t.Fatalf("the process printed nothing: %v", err)
	}
	pgid := p.cmd.Process.Pid
	p.stop(2 * time.Second)
	if done, _ := p.Exited(); !done {
		t.Fatal("the process is still running after stop")
	}
	if live := groupMembers(t, pgid); len(live) > 0 {
		t.Errorf("processes of the group survived stop: %v", live)
	}
}

// groupMembers lists the live (not zombie) processes of a process group,
// from /proc: a killed child reparented to an init that does not reap it
// stays a zombie, which signal 0 would still find.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) > 2 && fields[0] != "Z" && fields[2] == strconv.Itoa(pgid) {
			out = append(out, f)
		}
	}
	return out
}
