// Package procstat reads a process's state from /proc/<pid>/stat, once for
// every caller: the lab daemon's liveness check, the cluster's wait for its
// processes to be gone and the node provider's owner record parsed it each
// their own way.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// State extracts the state letter of a /proc/<pid>/stat line ("R", "S",
// "Z"…). The command name before it is in parentheses and may itself
// contain ") ", so the last ')' is the one that ends it.
func State(stat string) (byte, bool) {
	f, ok := after(stat)
	if !ok || len(f) == 0 || len(f[0]) != 1 {
		return 0, false
	}
	return f[0][0], true
}

// Read returns the state of pid (or of one thread, with a task path such as
// "1234/task/1235"); ok is false when the file is gone or holds no state.
func Read(pid string) (state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%s/stat", pid))
	if err != nil {
		return 0, false
	}
	return State(string(b))
}

// Exited reports a state of a process that no longer runs: a zombie ("Z")
// or dead ("X").
func Exited(state byte) bool { return state == 'Z' || state == 'X' }

// StartTime returns field 22 of /proc/<pid>/stat, the process's start time
// in clock ticks since boot: with the pid, it names one process across pid
// reuse.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)) // the kernel's, one line
	if err != nil {
		return 0, err
	}
	f, ok := after(string(b))
	// After the command name: the state is field 3, the start time 22.
	if !ok || len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: no start time in %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// after is the fields after the command name (field 3 onwards).
func after(stat string) ([]string, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(stat[i+1:]), true
}
