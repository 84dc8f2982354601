// Command pause is the sandbox ("pause") container of the node provider's
// pods: it holds the pod's namespaces, reaps the zombies re-parented to it and
// exits on SIGTERM or SIGINT. It is built static (CGO_ENABLED=0) and is the
// only file of its image, so no registry is needed for a pod sandbox.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return
		}
		// As PID 1 of the pod's PID namespace (when shared) orphans become
		// ours: reap every one that has exited.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
