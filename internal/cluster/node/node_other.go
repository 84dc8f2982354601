//go:build !linux

package node

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
)

// nodeState is empty where a node cluster cannot run.
type nodeState struct{}

// Create implements cluster.Provider: network and mount namespaces and cgroups are
// Linux's.
func (n *Node) Create(context.Context) error {
	return fmt.Errorf("%w: it needs Linux, this is %s", ErrUnsupported, runtime.GOOS)
}

// Destroy implements cluster.Provider.
func (n *Node) Destroy(context.Context) error { return os.RemoveAll(n.dir) }

// Processes lists the cluster's processes: none here.
func (n *Node) Processes() ([]procs.Process, error) { return nil, nil }

// ReapOrphans has nothing to remove where no node cluster can run.
func ReapOrphans(context.Context, string) ([]string, error) { return nil, nil }

func writeOwner(string, string) error { return nil }

// LoadImages imports image archives: no node runs here.
func (n *Node) LoadImages(context.Context, ...string) error {
	return fmt.Errorf("%w: it needs Linux, this is %s", ErrUnsupported, runtime.GOOS)
}

// LoadArchives imports image archives: no node runs here.
func LoadArchives(context.Context, string, ...string) error {
	return fmt.Errorf("%w: it needs Linux, this is %s", ErrUnsupported, runtime.GOOS)
}
