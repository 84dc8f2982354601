package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain makes this test binary a sandbox helper when started as one,
// with a probe program its sandboxes run: an HTTP server on the fixed port
// 8888 that shows what the pod sees.
func TestMain(m *testing.M) {
	RegisterSelf("probe", probeMain)
	RunIfChild()
	os.Exit(m.Run())
}

func probeMain(argv []string) int {
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		if err := os.WriteFile(r.URL.Query().Get("path"), []byte("x"), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
		}
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprint(w, h)
	})
	mux.HandleFunc("/argv", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Join(argv, " "))
	})
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 3*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprint(w, line)
	})
	if err := http.ListenAndServe(":8888", mux); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	return 0
}

// startProbe starts a sandbox running the probe as /usr/local/bin/probe,
// with a volume at the ServiceAccount's path.
func startProbe(t *testing.T, name, podIP, token string, listen ...Listen) *Sandbox {
	t.Helper()
	dir := t.TempDir()
	vol := filepath.Join(dir, "volume")
	if err := os.MkdirAll(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "sandbox")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Hostname: name, Dir: root, PodIP: podIP,
		Files: []File{
			{Path: "/usr/local/bin/probe", Self: "probe"},
			{Path: "/etc/resolv.conf", Data: []byte("nameserver 10.96.0.10\n")},
			{Path: "/var/probe", Dir: true, Mode: 0o750},
		},
		Mounts: []Mount{{Source: vol, Target: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
		Argv:   []string{"probe", "--flag"},
		Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Listen: listen,
	}
	log := newLog(t)
	s, err := Start(context.Background(), spec, log)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, log.String())
	}
	t.Cleanup(func() {
		s.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, log.String())
		}
		// Nothing of the sandbox is mounted on this machine.
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), root) {
			t.Errorf("a mount of %s's sandbox is left on the machine:\n%s", name, b)
		}
	})
	return s
}

// get asks the probe in s through a connection Dial makes, retrying until
// it listens.
func get(t *testing.T, s *Sandbox, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return s.Dial(ctx, 8888) },
	}}
	var code int
	var body string
	var err error
	waitUntil(t, 20*time.Second, func() bool {
		var resp *http.Response
		if resp, err = client.Get("http://pod" + path); err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		return true
	}, func() string { return fmt.Sprintf("GET %s: %v", path, err) })
	return code, body
}

// waitUntil polls ok until it holds, failing tb with what() once within has
// passed: the one readiness wait of these tests and the benchmark.
func waitUntil(tb testing.TB, within time.Duration, ok func() bool, what func() string) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatal(what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two pods' programs bind the same fixed port at once (a rolling update),
// each sees its own volume at the ServiceAccount's path, read-only, its own
// hostname and resolv.conf, and its command line as written.
func TestTwoPodsOneFixedPort(t *testing.T) {
	old := startProbe(t, "api-old", "10.0.0.5", "old-token")
	next := startProbe(t, "api-new", "10.0.0.6", "new-token")
	for s, want := range map[*Sandbox]string{old: "old", next: "new"} {
		if code, body := get(t, s, "/file?path=/var/run/secrets/kubernetes.io/serviceaccount/token"); code != 200 || body != want+"-token" {
			t.Errorf("token: %d %q, want %s-token", code, body, want)
		}
		if _, body := get(t, s, "/hostname"); body != "api-"+want {
			t.Errorf("hostname %q", body)
		}
		if _, body := get(t, s, "/file?path=/etc/resolv.conf"); body != "nameserver 10.96.0.10\n" {
			t.Errorf("resolv.conf %q", body)
		}
		if _, body := get(t, s, "/argv"); body != "probe --flag" {
			t.Errorf("argv %q", body)
		}
		if code, body := get(t, s, "/write?path=/var/run/secrets/kubernetes.io/serviceaccount/token"); code == 200 {
			t.Errorf("the read-only volume took a write: %s", body)
		}
		// The root filesystem is writable, into the pod's own layer.
		if code, body := get(t, s, "/write?path=/etc/kfp-lab-sandbox-test"); code != 200 {
			t.Errorf("writing the root: %d %s", code, body)
		}
	}
	if _, err := os.Stat("/etc/kfp-lab-sandbox-test"); err == nil {
		os.Remove("/etc/kfp-lab-sandbox-test")
		t.Error("a pod's write reached this machine's /etc")
	}
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); err == nil {
		t.Error("the mount point was made on this machine")
	}
}

// A connection the pod makes to any address but its own reaches the
// caller's socket, which sees the address dialled.
func TestEgressReachesCallersSocket(t *testing.T) {
	s := startProbe(t, "egress", "10.0.0.7", "t", Listen{Network: "tcp", Addr: ":9999"})
	ln := s.Sockets[0].(net.Listener)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "you dialled %s\n", c.LocalAddr())
		c.Close()
	}()
	if code, body := get(t, s, "/dial?addr=10.96.12.34:9999"); code != 200 || body != "you dialled 10.96.12.34:9999\n" {
		t.Errorf("dial: %d %q", code, body)
	}
	// A port nothing listens on is refused, not hung.
	if code, body := get(t, s, "/dial?addr=10.96.12.34:9998"); code != http.StatusBadGateway || !strings.Contains(body, "refused") {
		t.Errorf("dial to no listener: %d %q", code, body)
	}
}

// A program that exits ends the sandbox, which says how.
func TestExitIsReported(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Hostname: "x", Dir: dir, PodIP: "10.0.0.9", Argv: []string{"/bin/sh", "-c", "echo bye; exit 3"}, Env: []string{"PATH=/usr/bin:/bin"}}
	log := newLog(t)
	s, err := Start(context.Background(), spec, log)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not end")
	}
	if got := s.Exited(); got != "exit status 3" || !strings.Contains(log.String(), "bye") {
		t.Errorf("exited %q, log %q", got, log.String())
	}
	if _, err := s.Dial(context.Background(), 80); err == nil {
		t.Error("dialled an ended sandbox")
	}
}

// logFile is where a sandbox's helper and program print, for a test to read.
type logFile struct{ *os.File }

func newLog(t *testing.T) logFile {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return logFile{f}
}

func (l logFile) String() string {
	b, _ := os.ReadFile(l.Name())
	return string(b)
}

// Stopping a sandbox stops what its program forked too.
func TestStopEndsWhatTheProgramForked(t *testing.T) {
	spec := Spec{Hostname: "x", Dir: t.TempDir(), PodIP: "10.0.0.9", Argv: []string{"/bin/sh", "-c", "sleep 600 & echo started; wait"}, Env: []string{"PATH=/usr/bin:/bin"}}
	log := newLog(t)
	s, err := Start(context.Background(), spec, log)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "started") },
		func() string { return fmt.Sprintf("the program printed nothing: %q", log.String()) })
	pgid := s.cmd.Process.Pid
	s.Stop(2 * time.Second)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(fields) > 2 && fields[0] != "Z" && fields[2] == fmt.Sprint(pgid) {
			t.Errorf("%s of the sandbox's group survived Stop", f)
		}
	}
}

// BenchmarkStartToServing measures a pod process's start: the sandbox made
// (namespaces, root, network), the program started and answering on its
// port through Dial, then stopped and gone.
func BenchmarkStartToServing(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		spec := Spec{Hostname: "bench", Dir: dir, PodIP: "10.0.0.5",
			Files: []File{{Path: "/usr/local/bin/probe", Self: "probe"}},
			Argv:  []string{"probe"}, Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}}
		s, err := Start(context.Background(), spec, io.Discard)
		if errors.Is(err, ErrUnsupported) {
			b.Skip(err)
		}
		if err != nil {
			b.Fatal(err)
		}
		waitUntil(b, 20*time.Second, func() bool {
			var c net.Conn
			if c, err = s.Dial(context.Background(), 8888); err != nil {
				return false
			}
			c.Close()
			return true
		}, func() string { return fmt.Sprintf("the program never listened on 8888: %v", err) })
		s.Stop(5 * time.Second)
	}
}
