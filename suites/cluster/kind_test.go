package cluster_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster/kind"
)

var _ = Describe("The kind provider", Label("kind"), func() {
	DescribeTable("creates a ready cluster from kindconfigs/",
		func(ctx SpecContext, config string) {
			if ok, reason := kind.DockerAvailable(ctx); !ok {
				Skip(kind.SkipNoContainerRuntime + " (" + reason + ")")
			}
			k, err := kind.New("", config)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				Expect(k.Destroy(ctx)).To(Succeed())
			}, NodeTimeout(2*time.Minute))
			Expect(k.Create(ctx)).To(Succeed())
			Expect(k.RESTConfig()).NotTo(BeNil())
		},
		Entry(nil, "standalone.yaml", SpecTimeout(10*time.Minute)),
		Entry(nil, "multi-user.yaml", SpecTimeout(10*time.Minute)),
	)
})
