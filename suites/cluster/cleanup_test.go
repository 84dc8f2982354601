package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

// cleanupChildEnv makes this test binary act as a program that owns a kwok
// cluster until it is interrupted (see TestMain).
const cleanupChildEnv = "KFP_CONNECT_CLEANUP_CHILD"

// childCluster is what the child prints on one line once its cluster is ready.
type childCluster struct {
	Name, Workdir, APIServer, Kubeconfig string
}

// cleanupChild creates a cluster, reports it, and destroys it on SIGINT or
// SIGTERM: the same pattern hack/bench-cluster and any command use.
func cleanupChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k, err := kwok.New(kwok.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The signal cancels ctx; clean-up needs a context of its own.
	destroy := func() int {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := k.Destroy(dctx); err != nil {
			fmt.Fprintln(os.Stderr, "destroy:", err)
			return 1
		}
		return 0
	}
	if err := k.Create(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		destroy()
		return 1
	}
	addr, err := k.APIServerAddress()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return destroy() | 1
	}
	line, _ := json.Marshal(childCluster{Name: k.Name(), Workdir: k.Workdir(), APIServer: addr, Kubeconfig: k.KubeconfigPath()})
	fmt.Println(string(line))
	<-ctx.Done()
	return destroy()
}

var _ = Describe("Clean-up", Label("cleanup"), func() {
	DescribeTable("leaves no process, port or directory behind when the owner is stopped", func(ctx SpecContext, sig syscall.Signal) {
		// A HOME of its own shows the cluster writes nothing to the user's
		// home either (kwokctl would add a kubeconfig context and a cache).
		tools, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...)
		Expect(err).NotTo(HaveOccurred())
		home := GinkgoT().TempDir()
		cmd, line, exited := suitekit.StartOwner(ctx, []string{cleanupChildEnv + "=1", "HOME=" + home, "KUBECONFIG=", cluster.ToolsBinEnv + "=" + tools}, 2*time.Minute)
		var c childCluster
		Expect(json.Unmarshal([]byte(line), &c)).To(Succeed(), "child said %q", line)
		DeferCleanup(func() {
			// Only if the assertions below failed: leave nothing behind.
			_ = cmd.Process.Kill()
			cctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			_ = procs.KillMentioning(cctx, c.Workdir, time.Second)
			_ = os.RemoveAll(c.Workdir)
		})

		By("checking the cluster runs: processes, port, directory")
		running, err := procs.Mentioning(c.Workdir)
		Expect(err).NotTo(HaveOccurred())
		Expect(running).NotTo(BeEmpty(), "no process mentions %s: the check below would prove nothing", c.Workdir)
		Expect(cluster.PortOpen(ctx, c.APIServer)).To(BeTrue())
		Expect(c.Workdir).To(BeADirectory())

		By("signalling the owner: " + sig.String())
		Expect(cmd.Process.Signal(sig)).To(Succeed())
		var exitErr error
		Eventually(ctx, exited).WithTimeout(time.Minute).Should(Receive(&exitErr))
		Expect(exitErr).NotTo(HaveOccurred(), "the child failed to clean up")

		By("finding nothing left")
		for _, mark := range []string{c.Workdir, c.Name} {
			Expect(procs.Mentioning(mark)).To(BeEmpty(), "processes mentioning %s survive", mark)
		}
		Expect(cluster.PortOpen(ctx, c.APIServer)).To(BeFalse(), "apiserver port %s still open", c.APIServer)
		Expect(os.ReadDir(home)).To(BeEmpty(), "the cluster wrote to the user's home")
		for _, p := range []string{c.Workdir, c.Kubeconfig} {
			_, err := os.Stat(p)
			Expect(errors.Is(err, fs.ErrNotExist)).To(BeTrue(), "%s still exists (stat: %v)", p, err)
		}
	},
		Entry("Ctrl-C", syscall.SIGINT, SpecTimeout(4*time.Minute)),
		Entry("SIGTERM", syscall.SIGTERM, SpecTimeout(4*time.Minute)),
	)

	It("destroys even through an already-cancelled context, as after Ctrl-C", func(ctx SpecContext) {
		k, err := kwok.New(kwok.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = k.Destroy(context.Background()) })
		Expect(k.Create(ctx)).To(Succeed())
		addr, err := k.APIServerAddress()
		Expect(err).NotTo(HaveOccurred())

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		Expect(k.Destroy(cancelled)).To(Succeed())
		Expect(procs.Mentioning(k.Workdir())).To(BeEmpty())
		// Destroy returning means the ports are free, not merely closing.
		Expect(cluster.PortOpen(ctx, addr)).To(BeFalse())
		Expect(k.Workdir()).NotTo(BeAnExistingFile())
		Expect(k.KubeconfigPath()).NotTo(BeAnExistingFile())
	}, SpecTimeout(3*time.Minute))
})
