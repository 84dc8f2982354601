package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/labd"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

// labChildEnv makes this test binary act as `kfp-connect lab serve`: a
// multi-user lab with its real programs (Dex, oauth2-proxy, slapd) until it
// is interrupted.
const labChildEnv = "KFP_CONNECT_LAB_CHILD"

func labChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := labd.Options{Name: fmt.Sprintf("lab-cleanup-%d", os.Getpid()), Mode: kubeflow.MultiUser, Source: install.FromFixtures}
	err := labd.Serve(ctx, opts, slog.New(slog.NewTextHandler(os.Stderr, nil)), func(s labd.State) error {
		line, err := json.Marshal(s)
		if err == nil {
			fmt.Println(string(line))
		}
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	return 0
}

var _ = Describe("Lab clean-up", Label("cleanup"), func() {
	DescribeTable("leaves no program process and no program file behind when the lab is stopped", func(ctx SpecContext, sig syscall.Signal) {
		tools, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...)
		Expect(err).NotTo(HaveOccurred())
		cmd, line, exited := suitekit.StartOwner(ctx, []string{labChildEnv + "=1", "HOME=" + GinkgoT().TempDir(), "KUBECONFIG=", cluster.ToolsBinEnv + "=" + tools}, 3*time.Minute)
		var s labd.State
		Expect(json.Unmarshal([]byte(line), &s)).To(Succeed(), "child said %q", line)
		DeferCleanup(func() {
			_ = cmd.Process.Kill()
			cctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			for _, mark := range []string{s.ProgramsDir, s.Workdir} {
				_ = procs.KillMentioning(cctx, mark, time.Second)
				_ = os.RemoveAll(mark)
			}
		})

		By("checking the real programs run in sandboxes under the lab's directory")
		Expect(s.ProgramsDir).To(BeADirectory())
		helpers, err := procs.Mentioning(s.ProgramsDir)
		Expect(err).NotTo(HaveOccurred())
		// Dex's, oauth2-proxy's and slapd's sandboxes name their
		// directories under it; each holds its program.
		Expect(len(helpers)).To(BeNumerically(">=", 3), "sandboxes mentioning %s: %v", s.ProgramsDir, helpers)
		programs := childrenOf(helpers)
		Expect(len(programs)).To(BeNumerically(">=", 3), "the sandboxes' programs")

		By("signalling the lab: " + sig.String())
		Expect(cmd.Process.Signal(sig)).To(Succeed())
		var exitErr error
		Eventually(ctx, exited).WithTimeout(time.Minute).Should(Receive(&exitErr))
		Expect(exitErr).NotTo(HaveOccurred(), "the lab failed to clean up")

		By("finding nothing left")
		for _, pid := range programs {
			Expect(running(pid)).To(BeFalse(), "program %d survives", pid)
		}
		for _, mark := range []string{s.ProgramsDir, s.Workdir} {
			Expect(procs.Mentioning(mark)).To(BeEmpty(), "processes mentioning %s survive", mark)
			_, err := os.Stat(mark)
			Expect(errors.Is(err, fs.ErrNotExist)).To(BeTrue(), "%s still exists (stat: %v)", mark, err)
		}
	},
		Entry("Ctrl-C", syscall.SIGINT, SpecTimeout(5*time.Minute)),
		Entry("SIGTERM", syscall.SIGTERM, SpecTimeout(5*time.Minute)),
	)
})

// childrenOf lists the live processes whose parent is one of procs.
func childrenOf(list []procs.Process) []int {
	parents := map[string]bool{}
	for _, p := range list {
		parents[strconv.Itoa(p.PID)] = true
	}
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		if fields := statFields(f); len(fields) > 1 && fields[0] != "Z" && parents[fields[1]] {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, pid)
		}
	}
	return out
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	fields := statFields(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return len(fields) > 0 && fields[0] != "Z"
}

// statFields are a /proc stat's fields after pid and (comm): state, ppid, ….
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}
