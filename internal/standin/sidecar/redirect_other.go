//go:build !linux

package sidecar

import (
	"errors"
	"net"
	"net/netip"
)

var errNotLinux = errors.New("redirecting a pod's traffic needs Linux's netfilter")

// RedirectInbound is Linux's.
func RedirectInbound(int, []int) error { return errNotLinux }

// OriginalDestination is Linux's.
func OriginalDestination(net.Conn) (netip.AddrPort, netip.AddrPort, net.Conn, error) {
	return netip.AddrPort{}, netip.AddrPort{}, nil, errNotLinux
}
