package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every flag that names a local input reads it through the bounded reader:
// an endless file, a FIFO nobody writes, a directory and a sparse 64 GiB file
// each end the run at once with a message naming the problem, never in
// "fatal error: out of memory" or a hang through --timeout.
func TestLocalInputsAreBounded(t *testing.T) {
	d := t.TempDir()
	fifo, dir, sparse := filepath.Join(d, "fifo"), filepath.Join(d, "dir"), filepath.Join(d, "sparse")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	inputs := []struct{ name, path, says string }{
		{"endless device", "/dev/zero", "is a device"},
		{"FIFO", fifo, "is a FIFO"},
		{"directory", dir, "is a directory"},
		{"sparse 64 GiB", sparse, "is larger than"},
	}
	flags := []struct {
		name string
		args func(path string) []string
		code int    // usage for what is read at start; a failed probe for the per-request token
		kind string // the words naming the input
	}{
		{"--token-file", func(p string) []string { return []string{"--token-file", p} }, exitUsage, "token file"},
		{"--token-path", func(p string) []string { return []string{"--token-path", p} }, exitFailed, "token file"},
		{"--cookies @file", func(p string) []string { return []string{"--cookies", "@" + p} }, exitUsage, "cookie file"},
		{"--ca-cert", func(p string) []string { return []string{"--ca-cert", p} }, exitUsage, "CA bundle"},
		{"--kubeconfig", func(p string) []string { return []string{"--kubeconfig", p} }, exitUsage, "kubeconfig"},
	}
	for _, fl := range flags {
		for _, in := range inputs {
			t.Run(fl.name+"/"+in.name, func(t *testing.T) {
				args := append([]string{"--host", "http://127.0.0.1:1", "--timeout", "2s"}, fl.args(in.path)...)
				start := time.Now()
				code, stdout, stderr := runDoctor(t, nil, args...)
				if took := time.Since(start); took > 3*time.Second {
					t.Fatalf("took %s with --timeout 2s", took)
				}
				out := stdout + stderr
				if code != fl.code || !strings.Contains(out, in.says) || !strings.Contains(out, fl.kind) {
					t.Fatalf("exit %d, want %d with %q about the %s:\n%s", code, fl.code, in.says, fl.kind, out)
				}
			})
		}
	}
}

// --password-stdin reads one bounded line under the run's deadline: an
// endless stream is refused after 4 KiB, a pipe that never delivers ends at
// --timeout, a directory on stdin is an error, each with its message.
func TestPasswordStdinIsBounded(t *testing.T) {
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zero.Close() })
	silentR, silentW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silentW.Close(); silentR.Close() })
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	cases := []struct {
		name  string
		stdin *os.File
		says  string
	}{
		{"endless", zero, "longer than 4096 bytes"},
		{"pipe that never delivers", silentR, "nothing arrived before the deadline (--timeout) passed"},
		{"directory", dir, "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			start := time.Now()
			code := runWithInput(context.Background(), []string{"--host", "http://127.0.0.1:1", "--username", "user@example.com", "--password-stdin", "--timeout", "500ms"}, c.stdin, &out, &errb)
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Fatalf("took %s with --timeout 500ms", took)
			}
			if code != exitUsage || !strings.Contains(errb.String(), c.says) || !strings.Contains(errb.String(), "--password-stdin") {
				t.Fatalf("exit %d, want 2 naming --password-stdin and %q:\n%s%s", code, c.says, out.String(), errb.String())
			}
		})
	}
}
