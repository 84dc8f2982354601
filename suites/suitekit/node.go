package suitekit

import (
	"errors"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/images"
)

// NewNode prepares a node cluster (a real kubelet, containerd and runc) with
// kube-dns and the images of KFP, its login stack and the doctor imported,
// so the install runs as real pods and in-cluster clients are doctor pods.
// kube-proxy runs in iptables mode, the default of most clusters (kind's
// too): a port a ClusterIP does not serve goes unanswered there, while the
// nftables mode refuses it, which the doctor cannot tell from a Service
// without endpoints. As with NewKwok, a missing binary or Debian package fails: CI installs them.
// Create still skips where the machine refuses namespaces
// (cluster.ErrNodeUnsupported); see CreateOrSkip.
func NewNode() *cluster.Node {
	n, err := cluster.NewNode(cluster.NodeOptions{DNS: true, CatalogImages: NodeImages()})
	if errors.Is(err, cluster.ErrToolsMissing) {
		ginkgo.Fail("the node cluster cannot start: " + err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return n
}

// CreateOrSkip creates p, skipping the spec with the reason when p is a node
// cluster this machine cannot run (not root, no namespaces).
func CreateOrSkip(ctx ginkgo.SpecContext, p cluster.Provider) {
	err := p.Create(ctx)
	if errors.Is(err, cluster.ErrNodeUnsupported) {
		ginkgo.Skip(err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
}

// NodeImages are the catalogue refs a conformance node cluster imports.
func NodeImages() []string {
	return append(append(append(images.KFPRefs(), images.LoginRefs()...), images.MeshRefs()...), images.Doctor("").Ref, images.PodDefaultWebhookRef)
}
