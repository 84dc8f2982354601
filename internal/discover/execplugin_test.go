//go:build unix

package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pluginKubeconfig writes a kubeconfig whose user runs script as its exec
// credential plugin.
func pluginKubeconfig(t *testing.T, script string) (kubeconfig, dir string) {
	t.Helper()
	dir = t.TempDir()
	plugin := filepath.Join(dir, "plugin.sh")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(dir, "config")
	kc := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ` + plugin + `
      args: ["` + dir + `"]
      env: [{name: PLUGIN_DIR, value: "` + dir + `"}]
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, dir
}

// gone reports whether the process whose pid is in file ends within two
// seconds (SIGKILL to a group is delivered asynchronously; a zombie waiting
// for its reaper counts as ended).
func gone(t *testing.T, file string) bool {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if goneNow(t, file) {
			return true
		}
		runtime.Gosched()
		<-time.After(20 * time.Millisecond)
	}
	return false
}

func goneNow(t *testing.T, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the plugin never wrote %s: %v", file, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 {
		return stat[i+2] == 'Z' || stat[i+2] == 'X'
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// A plugin that would sleep 600 s, with a child of its own, ends with the
// run's context: Kubeconfig returns soon after, says why, and neither the
// plugin nor its child is left running.
func TestSlowExecPluginIsKilledWithItsGroup(t *testing.T) {
	kc, dir := pluginKubeconfig(t, `echo $$ > "$1/plugin.pid"
sleep 600 &
echo $! > "$1/child.pid"
wait
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := Kubeconfig(ctx, kc, "", time.Second)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "--timeout") || !strings.Contains(err.Error(), "stopped with every process it started") {
		t.Fatalf("err = %v", err)
	}
	if took > 2*time.Second {
		t.Fatalf("took %s with a 1s deadline", took)
	}
	for _, f := range []string{"plugin.pid", "child.pid"} {
		if !gone(t, filepath.Join(dir, f)) {
			t.Fatalf("%s is still running", f)
		}
	}
}

func TestExecPluginCredential(t *testing.T) {
	cases := []struct {
		name, script string
		says         string // "" for success
	}{
		{"token", `case "$KUBERNETES_EXEC_INFO" in *'"server":"https://127.0.0.1:1"'*'"interactive":false'*) ;; *) exit 3;; esac
[ "$PLUGIN_DIR" = "$1" ] || exit 4
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token-value"}}'`, ""},
		{"fails", "echo 'not logged in: run login first' >&2; exit 1", "failed: exit status 1 (stderr: not logged in: run login first)"},
		{"no status", `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}'`, "returned no status"},
		{"wrong version", `echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"x"}}'`, `answered apiVersion "client.authentication.k8s.io/v1beta1"`},
		{"not JSON", "echo hello", "printed no ExecCredential"},
		{"endless output", "yes", "printed more than"},
		{"leaves a child behind", `sleep 600 >/dev/null 2>&1 &
echo $! > "$1/child.pid"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kc, dir := pluginKubeconfig(t, c.script)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cfg, _, err := Kubeconfig(ctx, kc, "", time.Second)
			if c.says != "" {
				if err == nil || !strings.Contains(err.Error(), c.says) {
					t.Fatalf("err = %v, want %q", err, c.says)
				}
				return
			}
			if err != nil || cfg.ExecProvider != nil || cfg.BearerToken == "" {
				t.Fatalf("cfg = %+v, %v", cfg, err)
			}
			if c.name == "token" && cfg.BearerToken != "plugin-token-value" {
				t.Fatalf("token = %q", cfg.BearerToken)
			}
			if f := filepath.Join(dir, "child.pid"); fileExists(f) && !gone(t, f) {
				t.Fatal("the plugin's child outlived it")
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
