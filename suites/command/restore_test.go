package command_test

import (
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

// A standalone --disruptive run against a lab deletes and restores the
// ml-pipeline Service (standalone/in-cluster's api-service-missing) before
// the out-of-cluster cases go through the UI, on the same cluster: the UI's
// pod reaches the API server by the service link it started with, and a
// Service restored with a new cluster IP was out of its reach, so
// port-forward failed with KFD019.
var _ = Describe("kfp-connect conformance --disruptive after the ml-pipeline Service is restored", func() {
	It("still reaches the API server through the UI", func(ctx SpecContext) {
		tools, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...)
		Expect(err).NotTo(HaveOccurred(), "the lab needs the pinned binaries: run `make tools`")
		GinkgoT().Setenv(cluster.ToolsBinEnv, tools)
		bin := buildConnect(ctx)
		ownLabState(ctx)
		name := fmt.Sprintf("restored-%d", os.Getpid())
		DeferCleanup(func(ctx SpecContext) {
			code, _, _ := kfpConnect(ctx, bin, time.Minute, "lab", "down", "--name", name)
			Expect(code).To(Equal(0))
		}, NodeTimeout(2*time.Minute))
		code, _, stderr := kfpConnect(ctx, bin, 4*time.Minute, "lab", "up", "--name", name, "--mode", "standalone")
		Expect(code).To(Equal(0), stderr)
		state, err := labd.Running(name)
		Expect(err).NotTo(HaveOccurred())

		reports := GinkgoT().TempDir()
		code, _, stderr = kfpConnect(ctx, bin, 10*time.Minute, "conformance", "--provider", "existing", "--kubeconfig", state.Kubeconfig, "--disruptive",
			"--scenario", "standalone/in-cluster", "--scenario", "standalone/out-of-cluster",
			"--test", `^standalone/in-cluster: sdk-default × api-service-missing$|^standalone/out-of-cluster: port-forward(-pipeline-prefix)?$`,
			"--report-dir", reports)
		res, _, _ := readResults(reports)
		var names []string
		for _, c := range res.Cases {
			if c.Status != results.Skipped {
				names = append(names, c.FullName()+" "+string(c.Status)+" "+c.Reason)
			}
		}
		Expect(names).To(Equal([]string{
			"standalone/in-cluster: sdk-default × api-service-missing passed ",
			"standalone/out-of-cluster: port-forward passed ",
			"standalone/out-of-cluster: port-forward-pipeline-prefix passed ",
		}))
		Expect(code).To(Equal(0), stderr)
	}, NodeTimeout(12*time.Minute))
})
