package suitekit

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// StartOwner runs this test binary again as a child with env added — a
// program that owns a cluster (or a lab) until it is signalled, as the
// clean-up specs need — and returns it with the first line it prints (its
// report, once ready) and its exit. Should the test die, the child gets
// SIGTERM and still cleans up; the rest of its output is drained so it never
// blocks on a full pipe, and Wait runs only after EOF.
func StartOwner(ctx context.Context, env []string, readyWithin time.Duration) (*exec.Cmd, string, <-chan error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stderr = ginkgo.GinkgoWriter
	stdout, err := cmd.StdoutPipe()
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	gomega.Expect(cmd.Start()).To(gomega.Succeed())
	lines, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for first := true; sc.Scan(); first = false {
			if first {
				lines <- sc.Text()
			}
		}
		exited <- cmd.Wait()
	}()
	var line string
	gomega.Eventually(ctx, lines).WithTimeout(readyWithin).Should(gomega.Receive(&line), "the child never reported ready")
	return cmd, line, exited
}
