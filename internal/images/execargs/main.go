// Command execargs is the entrypoint of our images whose upstream
// entrypoint is a wrapper that ends by running its arguments (Dex's
// docker-entrypoint): it execs them, looked up on PATH, so a pod that
// gives only args (`dex serve config.yaml`) runs as it would upstream.
// Upstream's wrapper also renders config templates; this one does not.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "execargs: no command to run: give it as the container's args, e.g. dex serve /etc/dex/config.yaml")
		os.Exit(2)
	}
	bin, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "execargs: %v (PATH=%s)\n", err, os.Getenv("PATH"))
		os.Exit(127)
	}
	err = syscall.Exec(bin, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "execargs: exec %s: %v\n", bin, err)
	os.Exit(126)
}
