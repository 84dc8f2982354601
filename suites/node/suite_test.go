// Package node_test proves the node provider is a real one-node cluster: a
// pod of a locally built image finds another by DNS (kube-dns), reaches it
// through a ClusterIP Service and gets a projected ServiceAccount token for
// KFP's audience; and that
// nothing of the cluster survives its owner being stopped. The specs skip
// (with the reason) where the machine cannot run one: not root, no
// namespaces. Missing tools or Debian packages fail them.
package node_test

import (
	"errors"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

func TestMain(m *testing.M) {
	// The clean-up spec re-executes this binary as the process it stops.
	if os.Getenv(cleanupChildEnv) != "" {
		os.Exit(cleanupChild())
	}
	os.Exit(m.Run())
}

func TestNodeSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	suitekit.QuietClientGo()
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "node cluster suite")
}

var _ = ReportAfterSuite("reports", suitekit.Reports("node-suite"))

// imgs builds the images the specs' clusters load, each once per run,
// before any cluster exists.
var imgs *nodeimages.Builder

var _ = BeforeSuite(func() {
	imgs = suitekit.NodeImages(GinkgoT().TempDir())
})

// createNode creates a node cluster that is destroyed after the container
// it is created in (also on failure and interrupt), loaded with the node's
// own images, the probe and the archives of more; it skips when the
// machine refuses namespaces or cgroups.
func createNode(ctx SpecContext, opts node.Options, more ...[]string) (*node.Node, kubernetes.Interface) {
	base, err := imgs.Node(ctx, opts.DNS)
	Expect(err).NotTo(HaveOccurred())
	probe, err := imgs.Probe(ctx)
	Expect(err).NotTo(HaveOccurred())
	opts.ImageArchives = append(append(opts.ImageArchives, base...), probe)
	for _, m := range more {
		opts.ImageArchives = append(opts.ImageArchives, m...)
	}
	n, err := node.New(opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		Expect(n.Destroy(ctx)).To(Succeed())
	}, NodeTimeout(2*time.Minute))
	if err := n.Create(ctx); errors.Is(err, node.ErrUnsupported) {
		Skip(err.Error())
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	GinkgoWriter.Printf("node cluster %s ready (node IP %s), kubeconfig %s\n", n.Name(), n.NodeIP(), n.KubeconfigPath())
	return n, kubernetes.NewForConfigOrDie(n.RESTConfig())
}
