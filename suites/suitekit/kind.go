package suitekit

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// NewKind prepares a kind cluster of mode's configuration (kindconfigs/)
// that loads, at Create, the same image archives a node cluster imports —
// KFP's stand-ins, the login stack, the PodDefault webhook and the doctor,
// under the tags the fixtures use — so the fixtures run unchanged as pods
// and in-cluster clients are doctor pods, as on the node provider.
func NewKind(mode install.Mode) (*cluster.Kind, error) {
	tools, err := cluster.ToolsBin(os.Getenv, "dex", "oauth2-proxy")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b := &programs.Builder{ModuleDir: ".", ToolsBin: tools, Dir: ginkgo.GinkgoT().TempDir()}
	archives, err := b.Archives(ctx, NodeImages())
	if err != nil {
		return nil, fmt.Errorf("building the images a kind cluster loads: %w", err)
	}
	k, err := cluster.NewKind("", string(mode)+".yaml")
	if err != nil {
		return nil, err
	}
	return k.WithImageArchives(archives...), nil
}
