package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"

	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
)

// An e2e-framework user takes the node provider as it takes kind's or
// kwok's: envfuncs.CreateCluster, the env's client, envfuncs.DestroyCluster.
var _ = Describe("The node provider in sigs.k8s.io/e2e-framework", Label("node", "e2e-framework"), func() {
	It("creates a cluster through envfuncs, serves the env's client, exports logs and is destroyed", func(ctx SpecContext) {
		base, err := imgs.Node(ctx, false)
		Expect(err).NotTo(HaveOccurred())
		p := node.NewE2E(node.Options{ImageArchives: base})
		cfg := envconf.New()
		DeferCleanup(func(ctx SpecContext) { Expect(p.Destroy(ctx)).To(Succeed()) }, NodeTimeout(2*time.Minute))
		withCluster, err := envfuncs.CreateCluster(p, "kfpc-e2e")(ctx, cfg)
		if errors.Is(err, node.ErrUnsupported) {
			Skip(err.Error())
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.KubeconfigFile()).To(Equal(p.GetKubeconfig()))
		Expect(p.GetKubectlContext()).NotTo(BeEmpty())

		var nodes corev1.NodeList
		Expect(cfg.Client().Resources().List(ctx, &nodes)).To(Succeed())
		Expect(nodes.Items).To(HaveLen(1))
		Expect(nodes.Items[0].Name).To(Equal(p.Node().Name()))

		logs := GinkgoT().TempDir()
		Expect(p.ExportLogs(ctx, logs)).To(Succeed())
		Expect(filepath.Join(logs, "kubelet.log")).To(BeAnExistingFile())

		dir, name := p.Node().Workdir(), p.Node().Name()
		_, err = envfuncs.DestroyCluster("kfpc-e2e")(withCluster, cfg)
		Expect(err).NotTo(HaveOccurred())
		_, err = os.Stat(dir)
		Expect(os.IsNotExist(err)).To(BeTrue(), "the work directory %s survives", dir)
		Expect(command(ctx, "ip", "netns", "list")).NotTo(ContainSubstring(name))
	}, SpecTimeout(5*time.Minute))
})
