//go:build !linux

package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

// nodeState is empty where a node cluster cannot run.
type nodeState struct{}

// Create implements Provider: network and mount namespaces and cgroups are
// Linux's.
func (n *Node) Create(context.Context) error {
	return fmt.Errorf("%w: it needs Linux, this is %s", ErrNodeUnsupported, runtime.GOOS)
}

// Destroy implements Provider.
func (n *Node) Destroy(context.Context) error { return os.RemoveAll(n.dir) }

// Processes lists the cluster's processes: none here.
func (n *Node) Processes() ([]Process, error) { return nil, nil }

// LoadImages imports image archives: no node runs here.
func (n *Node) LoadImages(context.Context, ...string) error {
	return fmt.Errorf("%w: it needs Linux, this is %s", ErrNodeUnsupported, runtime.GOOS)
}
