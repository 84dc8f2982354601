//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"
)

// Sandbox is a running pod process; only Linux has them.
type Sandbox struct {
	Sockets []any
	Pid     int
}

// Start fails: pod processes need Linux namespaces.
func Start(context.Context, Spec, io.Writer) (*Sandbox, error) {
	return nil, fmt.Errorf("%w: %s has no Linux namespaces", ErrUnsupported, runtime.GOOS)
}

// RunIfChild does nothing here.
func RunIfChild() {}

func (*Sandbox) Dial(context.Context, int) (net.Conn, error) { return nil, ErrUnsupported }
func (*Sandbox) Listen(context.Context, Listen) (any, error) { return nil, ErrUnsupported }
func (*Sandbox) Done() <-chan struct{}                       { return nil }
func (*Sandbox) Exited() string                              { return "" }
func (*Sandbox) Stop(time.Duration)                          {}
func (*Sandbox) Kill()                                       {}
