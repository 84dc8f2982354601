package sandbox

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The pod's network: the program's namespace has lo, and eth0 with the
// pod's IP and a default route to gatewayIP; eth0's peer, lab0, is in the
// helper's namespace, where every address is local (so a connection to any
// cluster IP reaches the helper's sockets) except the pod's, routed back
// through lab0.
const (
	gatewayIP = "169.254.1.1" // link-local, as Calico's pods see their gateway
	podLink   = "eth0"
	labLink   = "lab0"
)

// podNet is the program's network namespace, held by one locked thread:
// the program is started from it, so it is born there.
type podNet struct {
	run   chan func()
	ns    *os.File
	podIP net.IP
}

// newPodNet makes the program's network namespace on a thread of its own
// and wires it to this (the helper's) one.
func newPodNet(podIP string) (*podNet, error) {
	ip := net.ParseIP(podIP)
	if ip == nil {
		return nil, fmt.Errorf("pod IP %q is not an address", podIP)
	}
	// This namespace first: lo, and every address local.
	if err := linkUp("lo"); err != nil {
		return nil, err
	}
	if err := addRoute(route{dst: net.IPv4zero, bits: 0, dev: "lo", table: unix.RT_TABLE_LOCAL, typ: unix.RTN_LOCAL, scope: unix.RT_SCOPE_HOST}); err != nil {
		return nil, err
	}
	p := &podNet{run: make(chan func()), podIP: ip}
	ready := make(chan error, 1)
	go p.thread(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	if err := addVeth(labLink, podLink, int(p.ns.Fd())); err != nil {
		return nil, err
	}
	gw := net.ParseIP(gatewayIP)
	if err := addAddr(labLink, gw); err != nil {
		return nil, err
	}
	if err := linkUp(labLink); err != nil {
		return nil, err
	}
	// More specific than the local catch-all, so it goes to the pod.
	_, _, bits := family(ip)
	if err := addRoute(route{dst: ip, bits: bits, dev: labLink, table: unix.RT_TABLE_LOCAL, scope: unix.RT_SCOPE_LINK}); err != nil {
		return nil, err
	}
	err := p.do(func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		if err := addAddr(podLink, ip); err != nil {
			return err
		}
		if err := linkUp(podLink); err != nil {
			return err
		}
		if err := addRoute(route{dst: gw, bits: 32, dev: podLink, scope: unix.RT_SCOPE_LINK}); err != nil {
			return err
		}
		return addRoute(route{dst: net.IPv4zero, bits: 0, dev: podLink, gateway: gw})
	})
	return p, err
}

// thread enters a new network namespace and serves do until the process
// ends. It never unlocks: the thread belongs to that namespace now.
func (p *podNet) thread(ready chan<- error) {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		ready <- os.NewSyscallError("unshare(CLONE_NEWNET)", err)
		return
	}
	ns, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		ready <- err
		return
	}
	p.ns = ns
	ready <- nil
	for f := range p.run {
		f()
	}
}

// do runs f on the pod's network thread.
func (p *podNet) do(f func() error) error {
	errc := make(chan error, 1)
	p.run <- func() { errc <- f() }
	return <-errc
}
