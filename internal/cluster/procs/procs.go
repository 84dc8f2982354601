// Package procs finds, measures and stops the local processes of a cluster
// by what their command lines name (its work directory): kwokctl and the
// node provider start components this process is not the parent of.
package procs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/procstat"
)

// Process is a running process as /proc shows it.
type Process struct {
	PID     int
	Cmdline string // arguments joined by spaces
}

// Mentioning lists the processes (other than this one) whose command
// line contains s. kwokctl starts every component in its own session (setsid),
// so they are not our children and a process group kill cannot reach them; the
// cluster's work directory appears in each component's flags, which makes it a
// reliable handle on "the cluster's processes".
func Mentioning(s string) ([]Process, error) {
	if s == "" {
		return nil, errors.New("refusing to match every process: empty pattern")
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // gone meanwhile, or a kernel thread
		}
		cmd := strings.TrimSpace(string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})))
		if strings.Contains(cmd, s) {
			out = append(out, Process{PID: pid, Cmdline: cmd})
		}
	}
	return out, nil
}

// RSSBytes sums the resident set size (VmRSS) of the given processes; those
// that exited meanwhile count as zero.
func RSSBytes(procs []Process) (int64, error) {
	var total int64
	for _, p := range procs {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(p.PID), "status"))
		if err != nil {
			continue
		}
		kb, err := parseVmRSS(f)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("reading VmRSS of pid %d: %w", p.PID, err)
		}
		total += kb * 1024
	}
	return total, nil
}

// parseVmRSS returns the VmRSS line of a /proc/<pid>/status file in kB (0 when
// absent, as for zombies).
func parseVmRSS(r interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, sc.Err()
}

// KillMentioning is the last resort of clean-up: SIGTERM every process
// whose command line contains s, wait up to grace for them to exit, then
// SIGKILL the rest and wait for them to be gone.
func KillMentioning(ctx context.Context, s string, grace time.Duration) error {
	procs, err := Mentioning(s)
	if err != nil || len(procs) == 0 {
		return err
	}
	signalAll(procs, syscall.SIGTERM)
	if WaitExited(ctx, procs, grace) == nil {
		return nil
	}
	signalAll(procs, syscall.SIGKILL)
	if err := WaitExited(ctx, procs, 5*time.Second); err != nil {
		return fmt.Errorf("processes of %s still running after SIGKILL: %w", s, err)
	}
	return nil
}

// WaitExited polls until every process of procs has exited: it is gone, or
// a zombie, whose files and sockets the kernel has closed. Matching command
// lines is not enough for this: an exiting process's command line reads
// empty while it still holds its listening sockets (measured: the apiserver
// port stayed open after its process no longer "mentioned" anything).
func WaitExited(ctx context.Context, procs []Process, timeout time.Duration) error {
	var alive []int
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		alive = alive[:0]
		for _, p := range procs {
			if Running(p.PID) {
				alive = append(alive, p.PID)
			}
		}
		return len(alive) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("pids %v have not exited: %w", alive, err)
	}
	return nil
}

// running reports whether any thread of pid is still alive, that is neither
// a zombie ("Z") nor dead ("X"). The thread-group leader alone is not enough:
// it turns zombie while the other threads of a Go program are still exiting,
// and the sockets they share stay open until the last one is done (measured:
// a LISTEN socket with no owner after the leader was already "Z").
func Running(pid int) bool {
	taskDir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return false // gone, and reaped
	}
	for _, t := range tasks {
		// A thread that is gone (ok false) does not count.
		if state, ok := procstat.Read(strconv.Itoa(pid) + "/task/" + t.Name()); ok && !procstat.Exited(state) {
			return true
		}
	}
	return false
}

func signalAll(procs []Process, sig syscall.Signal) {
	for _, p := range procs {
		// ESRCH (already gone) is the outcome we want anyway.
		_ = syscall.Kill(p.PID, sig)
	}
}
