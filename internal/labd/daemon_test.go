package labd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// fakeLabEnv makes this test binary act as a lab's serve process, so the
// daemon's lifecycle is tested without a cluster: "ready" writes its state
// and serves until SIGTERM, "fail" exits at once, "hang" never gets ready.
const fakeLabEnv = "KFP_CONNECT_FAKE_LAB"

func TestMain(m *testing.M) {
	if behaviour := os.Getenv(fakeLabEnv); behaviour != "" {
		os.Exit(fakeServe(behaviour, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeServe(behaviour string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	name := ""
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			name = args[i+1]
		}
	}
	switch behaviour {
	case "fail":
		fmt.Fprintln(os.Stderr, "level=ERROR msg=\"cannot create the cluster\"")
		return 3
	case "ready":
		fmt.Fprintln(os.Stderr, "level=INFO msg=\"lab ready\"")
		dir := StateDir(name)
		s := State{Name: name, PID: os.Getpid(), Workdir: os.Getenv(fakeLabEnv + "_WORKDIR")}
		if err := WriteState(dir, s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.Remove(filepath.Join(dir, "state.json"))
	}
	<-ctx.Done()
	return 0
}

// daemonFixture is a Daemon whose serve command is this test binary, with
// the kwok binaries Up checks for (empty executables) and its own cache.
func daemonFixture(t *testing.T, behaviour string) (Daemon, *syncBuffer) {
	t.Helper()
	tools := t.TempDir()
	for _, b := range cluster.KwokBinaries {
		if err := os.WriteFile(filepath.Join(tools, b), nil, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(cluster.ToolsBinEnv, tools)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(fakeLabEnv, behaviour)
	progress := &syncBuffer{}
	d := Daemon{Serve: []string{os.Args[0], "lab", "serve"}, Progress: progress}
	return d, progress
}

// labOptions names the lab after the test, so leftovers are found by name.
func labOptions(t *testing.T, ready time.Duration) Options {
	name := fmt.Sprintf("daemon-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = procs.KillMentioning(ctx, "--name "+name+" ", time.Second)
	})
	return Options{Name: name, Mode: kubeflow.MultiUser, Source: install.FromFixtures, ReadyTimeout: ready}
}

func serveProcesses(t *testing.T, name string) []procs.Process {
	t.Helper()
	procs, err := procs.Mentioning("lab serve --name " + name + " ")
	if err != nil {
		t.Fatal(err)
	}
	return procs
}

func TestDaemonUpEnvDown(t *testing.T) {
	d, progress := daemonFixture(t, "ready")
	workdir := t.TempDir()
	t.Setenv(fakeLabEnv+"_WORKDIR", workdir)
	opts := labOptions(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := d.Up(ctx, opts)
	if err != nil {
		t.Fatalf("Up: %v\nprogress:\n%s", err, progress)
	}
	if !alive(s.PID) || s.Name != opts.Name {
		t.Fatalf("Up returned %+v; its process alive: %v", s, alive(s.PID))
	}
	if out := progress.String(); !strings.Contains(out, "bringing up lab") || !strings.Contains(out, "  │ level=INFO") {
		t.Errorf("progress does not show the lab's log lines:\n%s", out)
	}

	again, err := d.Up(ctx, opts)
	if err != nil || again.PID != s.PID {
		t.Fatalf("a second Up started another lab: %+v, %v", again, err)
	}
	if n := len(serveProcesses(t, opts.Name)); n != 1 {
		t.Fatalf("%d serve processes, want 1", n)
	}
	if r, err := Running(opts.Name); err != nil || r.PID != s.PID {
		t.Fatalf("Running = %+v, %v", r, err)
	}

	wasUp, err := d.Down(ctx, opts.Name)
	if err != nil || !wasUp {
		t.Fatalf("Down = %v, %v", wasUp, err)
	}
	if alive(s.PID) {
		t.Error("the lab's process survived Down")
	}
	for _, dir := range []string{StateDir(opts.Name), workdir} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Down (stat: %v)", dir, err)
		}
	}
	if _, err := Running(opts.Name); !errors.Is(err, ErrNotUp) {
		t.Errorf("Running after Down: %v, want ErrNotUp", err)
	}
	if wasUp, err := d.Down(ctx, opts.Name); err != nil || wasUp {
		t.Errorf("a second Down = %v, %v; want false, nil", wasUp, err)
	}
}

// A lab that does not get ready is stopped, and the error says why and
// where its log is.
func TestDaemonUpFailures(t *testing.T) {
	cases := map[string]struct {
		behaviour string
		ready     time.Duration
		ctx       time.Duration
		want      string
	}{
		"it exits":          {behaviour: "fail", ready: time.Minute, ctx: time.Minute, want: "stopped before it was ready"},
		"it is never ready": {behaviour: "hang", ready: 200 * time.Millisecond, ctx: time.Minute, want: "not ready within 200ms"},
		"the user gives up": {behaviour: "hang", ready: time.Minute, ctx: 300 * time.Millisecond, want: "interrupted"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, progress := daemonFixture(t, c.behaviour)
			d.Grace = 100 * time.Millisecond
			opts := labOptions(t, c.ready)
			ctx, cancel := context.WithTimeout(context.Background(), c.ctx)
			defer cancel()
			_, err := d.Up(ctx, opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Up: %v, want an error saying %q", err, c.want)
			}
			if c.behaviour == "fail" {
				if !strings.Contains(err.Error(), filepath.Join(StateDir(opts.Name), "lab.log")) {
					t.Errorf("the error does not point at the log: %v", err)
				}
				if !strings.Contains(progress.String(), "cannot create the cluster") {
					t.Errorf("the lab's last words were not shown:\n%s", progress)
				}
			}
			if procs := serveProcesses(t, opts.Name); len(procs) > 0 {
				t.Errorf("the lab still runs after Up failed: %v", procs)
			}
		})
	}
}

// Down finds a lab that is still starting (no state yet) by its command line.
func TestDaemonDownOfAStartingLab(t *testing.T) {
	d, _ := daemonFixture(t, "hang")
	opts := labOptions(t, time.Minute)
	child := exec.Command(d.Serve[0], append(d.Serve[1:], ServeFlags(opts)...)...)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if wasUp, err := d.Down(ctx, opts.Name); err != nil || wasUp {
		t.Fatalf("Down = %v, %v; want false (it was not up yet), nil", wasUp, err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("Down left the starting lab running")
	}
}

func TestDaemonUpWithoutTools(t *testing.T) {
	d, _ := daemonFixture(t, "ready")
	t.Setenv(cluster.ToolsBinEnv, t.TempDir())
	opts := labOptions(t, time.Minute)
	_, err := d.Up(context.Background(), opts)
	if !errors.Is(err, cluster.ErrToolsMissing) || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Up: %v, want the missing tools named", err)
	}
	if procs := serveProcesses(t, opts.Name); len(procs) > 0 {
		t.Errorf("a lab started without its tools: %v", procs)
	}
}

// syncBuffer is a bytes.Buffer the test reads while Up writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
