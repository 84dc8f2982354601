package sidecar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// RedirectTable is the nftables table the init container makes in the
// pod's own network namespace (never the host's): Istio's ISTIO_INBOUND
// and ISTIO_IN_REDIRECT chains (istio-iptables -z 15006 -d …), in nft.
const RedirectTable = "istio"

// RedirectInbound makes every TCP connection arriving at the pod (not on
// its loopback) go to the sidecar's inbound port, except the excluded
// ports — what istio-init does with iptables, here with nftables, in the
// network namespace this process is in. Locally made connections (the
// sidecar's own to the program, a kubectl port-forward entering on the
// pod's loopback) are not redirected: nat decides them on the way out.
func RedirectInbound(inbound int, exclude []int) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: RedirectTable})
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	tcp := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
	lo := make([]byte, 16)
	copy(lo, "lo")
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}})
	for _, p := range exclude {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(append([]expr.Any{}, tcp...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port16(p)},
			&expr.Verdict{Kind: expr.VerdictReturn},
		)})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(append([]expr.Any{}, tcp...),
		&expr.Immediate{Register: 1, Data: port16(inbound)},
		&expr.Redir{RegisterProtoMin: 1},
	)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: adding table %s in the pod's network namespace: %w", RedirectTable, err)
	}
	return nil
}

func port16(p int) []byte {
	b := make([]byte, 2)
	binary.BigEndian.PutUint16(b, uint16(p))
	return b
}

// OriginalDestination is the Origin of a connection the pod's netfilter
// redirected to the sidecar: the peer's address, and the address it was
// going to before the redirect (SO_ORIGINAL_DST).
func OriginalDestination(c net.Conn) (src, dst netip.AddrPort, rest net.Conn, err error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return src, dst, nil, errors.New("not a TCP connection")
	}
	src = tc.RemoteAddr().(*net.TCPAddr).AddrPort()
	raw, err := tc.SyscallConn()
	if err != nil {
		return src, dst, nil, err
	}
	var opErr error
	err = raw.Control(func(fd uintptr) {
		// sockaddr_in comes back in the 16 bytes of an IPv6Mreq.
		m, e := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if e != nil {
			opErr = e
			return
		}
		port := binary.BigEndian.Uint16(m.Multiaddr[2:4])
		ip := netip.AddrFrom4([4]byte{m.Multiaddr[4], m.Multiaddr[5], m.Multiaddr[6], m.Multiaddr[7]})
		dst = netip.AddrPortFrom(ip, port)
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return src, dst, nil, fmt.Errorf("the connection's original destination (SO_ORIGINAL_DST): %w", err)
	}
	return src, dst, c, nil
}
