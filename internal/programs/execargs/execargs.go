// Package execargs is the entrypoint of our images whose upstream
// entrypoint is a wrapper that ends by running its arguments (Dex's
// docker-entrypoint): it execs them, looked up on PATH, so a pod that
// gives only args (`dex serve config.yaml`) runs as it would upstream.
// Upstream's wrapper also renders config templates; this one does not.
package execargs

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Main execs argv[1:] and returns only when it cannot: 2 for no command,
// 127 for one not found, 126 for one that would not start.
func Main(argv []string) int {
	if len(argv) < 2 {
		fmt.Fprintln(os.Stderr, "execargs: no command to run: give it as the container's args, e.g. dex serve /etc/dex/config.yaml")
		return 2
	}
	bin, err := exec.LookPath(argv[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "execargs: %v (PATH=%s)\n", err, os.Getenv("PATH"))
		return 127
	}
	err = syscall.Exec(bin, argv[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "execargs: exec %s: %v\n", bin, err)
	return 126
}
