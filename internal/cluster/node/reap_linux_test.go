package node

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/procstat"
)

func TestOwnerAliveTellsProcessesApart(t *testing.T) {
	self, err := procstat.StartTime(os.Getpid())
	if err != nil || self == 0 {
		t.Fatalf("StartTime(self) = %d, %v", self, err)
	}
	if ownerAlive(nodeOwner{PID: os.Getpid(), Start: self + 1}) {
		t.Fatal("a live PID with another start time counts as the owner: a reused PID would protect an orphan")
	}
	if !ownerAlive(nodeOwner{PID: os.Getpid(), Start: self}) {
		t.Fatal("this process does not count as alive")
	}
}

// writeOrphan makes a cluster directory as NewNode does, owned by a process
// that has exited, and a process of the "cluster" that mentions it.
func writeOrphan(t *testing.T, tmp string) (dir string, daemon *exec.Cmd) {
	t.Helper()
	dir, err := os.MkdirTemp(tmp, "kfpc-node-test-")
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(nodeOwner{Name: "kfpc-node-test", PID: dead.Process.Pid, Start: 1})
	if err := os.WriteFile(filepath.Join(dir, ownerFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	daemon = exec.Command("sleep", "300", dir)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	return dir, daemon
}

func TestReapOrphanNodes(t *testing.T) {
	tmp := t.TempDir()
	orphan, daemon := writeOrphan(t, tmp)
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()

	// A cluster being created (no record yet) and one whose owner runs.
	creating, err := os.MkdirTemp(tmp, "kfpc-node-new-")
	if err != nil {
		t.Fatal(err)
	}
	owned, err := os.MkdirTemp(tmp, "kfpc-node-mine-")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeOwner(owned, "kfpc-node-mine"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reaped, err := ReapOrphans(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(reaped) != 1 || reaped[0] != "kfpc-node-test" {
		t.Fatalf("reaped %v, want [kfpc-node-test]", reaped)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the orphan's process still runs")
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("the orphan's directory survives: %v", err)
	}
	for _, d := range []string{creating, owned} {
		if !isDir(d) {
			t.Fatalf("%s was removed: its cluster is not an orphan", d)
		}
	}
}
