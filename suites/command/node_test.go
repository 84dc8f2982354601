package command_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

// A platform team's cluster whose pods really run: a node lab (real
// kubelet, containerd, runc) brought up by the command, the doctor's image
// built by `kfp-connect images` and loaded with `lab load-image`, then the
// in-cluster cases of `kfp-connect conformance --provider existing --image`
// as real Pods of it — green, non-destructive, nothing left behind.
var _ = Describe("kfp-connect conformance against a node lab, in-cluster cases as Pods", Ordered, Label("node"), func() {
	var (
		bin, kubeconfig, image string
		client                 kubernetes.Interface
		dyn                    dynamic.Interface
	)

	BeforeAll(func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("a node lab needs root (network and mount namespaces, cgroups)")
		}
		tools, err := cluster.ToolsBin(os.Getenv, append(cluster.NodeBinaries, "coredns")...)
		Expect(err).NotTo(HaveOccurred(), "a node lab needs the pinned binaries: run `make tools`")
		GinkgoT().Setenv(cluster.ToolsBinEnv, tools)
		bin = buildConnect(ctx)

		By("building the doctor's image as `make images` does")
		images := GinkgoT().TempDir()
		code, stdout, stderr := kfpConnect(ctx, bin, 10*time.Minute, "images", "--dir", images, "--module-dir", filepath.Join("..", ".."), "--version", "v0.0.0-conformance")
		Expect(code).To(Equal(0), stderr)
		archive := filepath.Join(images, "kfp-doctor.tar")
		Expect(archive).To(BeARegularFile())
		// "<archive>\t<ref> (and :latest)"
		image = strings.Fields(stdout)[1]

		ownLabState(ctx)
		name := fmt.Sprintf("command-node-%d", os.Getpid())
		DeferCleanup(func(ctx SpecContext) {
			code, _, _ := kfpConnect(ctx, bin, 2*time.Minute, "lab", "down", "--name", name)
			Expect(code).To(Equal(0))
		}, NodeTimeout(3*time.Minute))
		By("bringing up a multi-user lab on a node cluster")
		// The lab builds the install's images from this module: it runs in the
		// repository, as a developer's lab up does.
		code, _, stderr = kfpConnectIn(ctx, filepath.Join("..", ".."), bin, 15*time.Minute, "lab", "up", "--provider", "node", "--name", name)
		Expect(code).To(Equal(0), stderr)
		s, err := labd.Running(name)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Provider).To(Equal(labd.ProviderNode))
		kubeconfig = s.Kubeconfig

		By("loading the doctor's image into the running lab")
		code, _, stderr = kfpConnect(ctx, bin, 5*time.Minute, "lab", "load-image", "--name", name, archive)
		Expect(code).To(Equal(0), stderr)
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		client = kubernetes.NewForConfigOrDie(cfg)
		dyn = dynamic.NewForConfigOrDie(cfg)
	}, NodeTimeout(30*time.Minute))

	It("runs the in-cluster cases as Pods of the loaded image, green, and leaves nothing behind", func(ctx SpecContext) {
		before := snapshot(ctx, client, dyn)
		Expect(before).NotTo(ContainElement(HavePrefix("owned ")))
		reports := GinkgoT().TempDir()
		code, stdout, stderr := kfpConnect(ctx, bin, 20*time.Minute, "conformance", "--provider", "existing", "--kubeconfig", kubeconfig,
			"--image", image, "--scenario", "multi-user/in-cluster", "--report-dir", reports)
		Expect(code).To(Equal(0), stderr)
		AddReportEntry("kfp-connect conformance --provider existing --image "+image, stdout)
		Expect(stdout).To(MatchRegexp(`\d+ passed, 0 failed, \d+ skipped`))
		Expect(stderr).To(ContainSubstring("in-cluster cases run as Pods of " + image))
		res, _, _ := readResults(reports)
		passed := count(res, func(c results.CaseResult) bool { return c.Status == results.Passed })
		Expect(passed).To(BeNumerically(">", 15), "the client-side cases of multi-user/in-cluster run")
		for _, c := range res.Cases {
			if c.Status == results.Passed {
				// A real Pod ran the doctor: its report came back from its log.
				Expect(strings.Join(c.Steps, "\n")).To(MatchRegexp(`doctor pod kfp-doctor-\w+ exited \d|the apiserver refused the doctor pod`), c.FullName())
			}
			if c.Disruptive {
				Expect(c.Status).To(Equal(results.Skipped), c.FullName())
			}
		}
		Expect(res.CleanupError).To(BeEmpty())
		Expect(changes(before, snapshot(ctx, client, dyn))).To(BeEmpty())
	}, NodeTimeout(25*time.Minute))
})
