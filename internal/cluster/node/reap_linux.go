package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/procstat"
)

// A node cluster's daemons outlive an owner that is SIGKILLed (or crashes):
// nothing runs Destroy. Each cluster's work directory therefore records its
// owner; the next NewNode in the same temp directory finds clusters whose
// owner is gone and removes them as Destroy would, from what the name and
// the directory alone say: the processes mentioning the directory, those
// in the cgroups named after the cluster, the network namespace, the
// cgroups and the directory.

// ownerFile is the work directory's record of the process that owns it.
const ownerFile = "owner.json"

type nodeOwner struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot: tells a reused PID apart
}

// writeOwner records this process as the owner of the cluster in dir.
func writeOwner(dir, name string) error {
	start, err := procstat.StartTime(os.Getpid())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(nodeOwner{Name: name, PID: os.Getpid(), Start: start})
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ownerFile))
}

// ownerAlive reports whether the owner recorded is the process still running.
func ownerAlive(o nodeOwner) bool {
	if !procs.Running(o.PID) {
		return false
	}
	start, err := procstat.StartTime(o.PID)
	return err == nil && start == o.Start
}

// ReapOrphans removes every node cluster under tempDir (empty:
// os.TempDir()) whose owner has died without destroying it, and returns
// their names. A cluster whose directory has no owner record yet (one being
// created) or whose owner runs is left alone.
func ReapOrphans(ctx context.Context, tempDir string) ([]string, error) {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	dirs, err := filepath.Glob(filepath.Join(tempDir, "kfpc-node-*"))
	if err != nil {
		return nil, err
	}
	var reaped []string
	var errs []error
	for _, dir := range dirs {
		b, err := readSmall(filepath.Join(dir, ownerFile), 4096)
		if err != nil {
			continue
		}
		var o nodeOwner
		if json.Unmarshal(b, &o) != nil || !strings.HasPrefix(o.Name, "kfpc-node-") || ownerAlive(o) {
			continue
		}
		if err := reapNode(ctx, o.Name, dir); err != nil {
			errs = append(errs, fmt.Errorf("removing node cluster %s left by pid %d: %w", o.Name, o.PID, err))
			continue
		}
		reaped = append(reaped, o.Name)
	}
	return reaped, errors.Join(errs...)
}

// reapNode is Destroy without the owner's records: the pods' processes by
// their cgroups, the daemons (and the namespace holder) by the work
// directory on their command lines, then the network namespace, the
// cgroups and the directory.
func reapNode(ctx context.Context, name, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var roots []string
	for _, m := range mounts {
		if d := filepath.Join(m.dir, name); isDir(d) {
			roots = append(roots, d)
		}
	}
	var errs []error
	errs = append(errs, killCgroupProcs(ctx, roots))
	errs = append(errs, procs.KillMentioning(ctx, dir, 5*time.Second))
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		errs = append(errs, run(ctx, "/usr/sbin/ip", "netns", "delete", name))
	}
	errs = append(errs, removeCgroups(ctx, roots))
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// readSmall reads at most max bytes of a file this package wrote itself.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
