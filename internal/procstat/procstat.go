// Package procstat reads a process's state from /proc/<pid>/stat, once for
// every caller: the lab daemon's liveness check and the cluster's wait for
// its processes to be gone parsed it each their own way.
package procstat

import (
	"fmt"
	"os"
	"strings"
)

// State extracts the state letter of a /proc/<pid>/stat line ("R", "S",
// "Z"…). The command name before it is in parentheses and may itself
// contain ") ", so the last ')' is the one that ends it.
func State(stat string) (byte, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0, false
	}
	return stat[i+2], true
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
