package suitekit

import (
	"os"

	"github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
)

// NodeImages builds the images a suite's node clusters load into dir, from
// this module (the suites run inside it) and the tools cache.
func NodeImages(dir string) *nodeimages.Builder {
	tools, err := cluster.ToolsBinDir(os.Getenv)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return &nodeimages.Builder{ModuleDir: ".", ToolsBin: tools, Dir: dir}
}
