//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A kubeconfig exec credential plugin that would sleep 600 s (with a child
// of its own) ends the doctor within --timeout + 1 s, with a message naming
// the plugin and --timeout, and leaves no process behind.
func TestSlowExecPluginEndsWithTheRun(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.sh")
	script := "#!/bin/sh\necho $$ > " + dir + "/plugin.pid\nsleep 600 &\necho $! > " + dir + "/child.pid\nwait\n"
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "config")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: `+plugin+`, interactiveMode: Never}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, stdout, stderr := runDoctor(t, nil, "--kubeconfig", kc, "--timeout", "2s")
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %s with --timeout 2s", took)
	}
	if code != exitUsage || !strings.Contains(stderr, "exec credential plugin "+plugin) || !strings.Contains(stderr, "--timeout") {
		t.Fatalf("exit %d, want 2 naming the plugin and --timeout:\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"plugin.pid", "child.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("the plugin never wrote %s: %v", f, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if !ended(pid) {
			t.Fatalf("%s (pid %d) outlived the run", f, pid)
		}
	}
}

// ended reports whether pid ends within two seconds (a group's SIGKILL is
// delivered asynchronously; a zombie awaiting its reaper has ended).
func ended(pid int) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); <-time.After(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			return true
		}
	}
	return false
}
