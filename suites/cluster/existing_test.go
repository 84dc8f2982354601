package cluster_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/cluster/existing"
)

var _ = Describe("The existing-cluster provider", Label("existing"), func() {
	// The suite's kwok cluster stands in for a cluster the user already runs.
	kubeconfig := func() string {
		GinkgoHelper()
		path := restConfigSource
		Expect(path).NotTo(BeEmpty())
		return path
	}

	It("connects through the given kubeconfig and context, and never destroys the cluster", func(ctx SpecContext) {
		cfg, err := clientcmd.LoadFromFile(kubeconfig())
		Expect(err).NotTo(HaveOccurred())
		e := existing.New(kubeconfig(), cfg.CurrentContext)
		Expect(e.Create(ctx)).To(Succeed())
		Expect(e.RESTConfig().Host).To(Equal(restConfig.Host))
		Expect(e.Destroy(ctx)).To(Succeed())

		dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())
		_, err = dc.ServerVersion()
		Expect(err).NotTo(HaveOccurred(), "the cluster must outlive Destroy")
	}, SpecTimeout(time.Minute))

	It("names the context it could not find", func(ctx SpecContext) {
		e := existing.New(kubeconfig(), "no-such-context")
		err := e.Create(ctx)
		Expect(err).To(MatchError(ContainSubstring("no-such-context")))
	}, SpecTimeout(time.Minute))
})
