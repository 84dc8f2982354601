package suitekit

import (
	"errors"
	"os"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
)

// NodeImages builds the images a suite's node clusters load into dir, from
// this module (the suites run inside it) and the tools cache.
func NodeImages(dir string) *nodeimages.Builder {
	tools, err := cluster.ToolsBinDir(os.Getenv)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return &nodeimages.Builder{ModuleDir: ".", ToolsBin: tools, Dir: dir}
}

// CreateOrSkip creates p, skipping the spec with the reason when p is a node
// cluster this machine cannot run (not root, no namespaces).
func CreateOrSkip(ctx ginkgo.SpecContext, p cluster.Provider) {
	err := p.Create(ctx)
	if errors.Is(err, node.ErrUnsupported) {
		ginkgo.Skip(err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
}
