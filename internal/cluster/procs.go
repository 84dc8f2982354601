package cluster

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
)

// Process is a running process as /proc shows it.
type Process struct {
	PID     int
	Cmdline string // arguments joined by spaces
}

// ProcessesMentioning lists the processes (other than this one) whose command
// line contains s. kwokctl starts every component in its own session (setsid),
// so they are not our children and a process group kill cannot reach them; the
// cluster's work directory appears in each component's flags, which makes it a
// reliable handle on "the cluster's processes".
func ProcessesMentioning(s string) ([]Process, error) {
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

// KillProcessesMentioning is the last resort of clean-up: SIGTERM every process
// whose command line contains s, wait up to grace for them to exit, then
// SIGKILL the rest and wait for them to be gone.
func KillProcessesMentioning(ctx context.Context, s string, grace time.Duration) error {
	procs, err := ProcessesMentioning(s)
	if err != nil || len(procs) == 0 {
		return err
	}
	signalAll(procs, syscall.SIGTERM)
	if waitGone(ctx, s, grace) == nil {
		return nil
	}
	procs, err = ProcessesMentioning(s)
	if err != nil {
		return err
	}
	signalAll(procs, syscall.SIGKILL)
	if err := waitGone(ctx, s, 5*time.Second); err != nil {
		left, _ := ProcessesMentioning(s)
		return fmt.Errorf("processes of %s still running after SIGKILL: %v: %w", s, left, err)
	}
	return nil
}

func signalAll(procs []Process, sig syscall.Signal) {
	for _, p := range procs {
		// ESRCH (already gone) is the outcome we want anyway.
		_ = syscall.Kill(p.PID, sig)
	}
}

func waitGone(ctx context.Context, s string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		procs, err := ProcessesMentioning(s)
		if err != nil {
			return false, err
		}
		return len(procs) == 0, nil
	})
}
