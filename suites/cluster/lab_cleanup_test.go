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
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

// labChildEnv makes this test binary act as `kfp-connect lab serve`: a
// multi-user lab with its real programs (Dex, oauth2-proxy, slapd) until it
// is interrupted.
const labChildEnv = "KFP_CONNECT_LAB_CHILD"

func labChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := lab.Options{Name: fmt.Sprintf("lab-cleanup-%d", os.Getpid()), Mode: kubeflow.MultiUser, Source: install.FromFixtures}
	err := lab.Serve(ctx, opts, slog.New(slog.NewTextHandler(os.Stderr, nil)), func(s lab.State) error {
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
		var s lab.State
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

		By("checking the real programs run from the lab's directory")
		Expect(s.ProgramsDir).To(BeADirectory())
		programs, err := procs.Mentioning(s.ProgramsDir)
		Expect(err).NotTo(HaveOccurred())
		// Dex (its config path), oauth2-proxy (--config) and slapd (-f)
		// name files under it.
		Expect(len(programs)).To(BeNumerically(">=", 3), "programs mentioning %s: %v", s.ProgramsDir, programs)

		By("signalling the lab: " + sig.String())
		Expect(cmd.Process.Signal(sig)).To(Succeed())
		var exitErr error
		Eventually(ctx, exited).WithTimeout(time.Minute).Should(Receive(&exitErr))
		Expect(exitErr).NotTo(HaveOccurred(), "the lab failed to clean up")

		By("finding nothing left")
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
