package suitekit

import (
	"context"
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/kfp-connect/kfp-connect/internal/cluster/kind"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// NewKind prepares a kind cluster of mode's configuration (kindconfigs/)
// that loads, at Create, the same image archives a node cluster imports —
// KFP's stand-ins, the login stack, the PodDefault webhook and the doctor,
// under the tags the fixtures use — so the fixtures run unchanged as pods
// and in-cluster clients are doctor pods, as on the node provider.
func NewKind(mode kubeflow.Mode) (*kind.Kind, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b := NodeImages(ginkgo.GinkgoT().TempDir())
	archives, err := b.Catalog(ctx, ConformanceImages()...)
	if err != nil {
		return nil, fmt.Errorf("building the images a kind cluster loads: %w", err)
	}
	k, err := kind.New("", string(mode)+".yaml")
	if err != nil {
		return nil, err
	}
	return k.WithImageArchives(archives...), nil
}

// ConformanceImages are the catalogue refs a conformance cluster loads.
func ConformanceImages() []string {
	return append(append(images.KFPRefs(), images.LoginRefs()...), images.Doctor("").Ref, images.PodDefaultWebhookRef)
}
