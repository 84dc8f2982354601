package sandbox

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few rtnetlink requests a pod's network needs (what `ip link add …
// type veth`, `ip addr add` and `ip route add` send), on a socket of the
// calling thread's network namespace. No library of the module speaks
// rtnetlink, and iproute2 may be absent.

// Not in x/sys: the veth driver's peer attribute.
const vethInfoPeer = 1

type nlRequest struct {
	typ   uint16
	flags uint16
	body  []byte
}

// attr is one rtattr: its type and payload, padded.
func attr(typ uint16, payload []byte) []byte {
	n := unix.SizeofRtAttr + len(payload)
	b := make([]byte, rtaAlign(n))
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], payload)
	return b
}

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

func cstring(s string) []byte { return append([]byte(s), 0) }

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func structBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// netlinkDo sends one request and waits for its acknowledgement.
func netlinkDo(req nlRequest) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return os.NewSyscallError("socket(netlink)", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("bind(netlink)", err)
	}
	hdr := unix.NlMsghdr{
		Len:   uint32(unix.SizeofNlMsghdr + len(req.body)),
		Type:  req.typ,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | req.flags,
		Seq:   1,
	}
	msg := append(structBytes(&hdr), req.body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto(netlink)", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom(netlink)", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

// addVeth makes a veth pair: name here, peer in the network namespace of
// the open file peerNS.
func addVeth(name, peer string, peerNS int) error {
	peerInfo := unix.IfInfomsg{Family: unix.AF_UNSPEC}
	peerBody := append(structBytes(&peerInfo), attr(unix.IFLA_IFNAME, cstring(peer))...)
	peerBody = append(peerBody, attr(unix.IFLA_NET_NS_FD, u32(uint32(peerNS)))...)
	linkInfo := append(attr(unix.IFLA_INFO_KIND, cstring("veth")), attr(unix.IFLA_INFO_DATA, attr(vethInfoPeer, peerBody))...)
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC}
	body := append(structBytes(&info), attr(unix.IFLA_IFNAME, cstring(name))...)
	body = append(body, attr(unix.IFLA_LINKINFO, linkInfo)...)
	if err := netlinkDo(nlRequest{typ: unix.RTM_NEWLINK, flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, body: body}); err != nil {
		return fmt.Errorf("adding veth %s/%s: %w", name, peer, err)
	}
	return nil
}

// linkUp sets an interface up.
func linkUp(name string) error {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	info := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(ifc.Index), Flags: unix.IFF_UP, Change: unix.IFF_UP}
	if err := netlinkDo(nlRequest{typ: unix.RTM_NEWLINK, body: structBytes(&info)}); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

// addAddr gives an interface an address (a /32 or /128).
func addAddr(name string, ip net.IP) error {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	fam, raw, bits := family(ip)
	msg := unix.IfAddrmsg{Family: fam, Prefixlen: bits, Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(ifc.Index)}
	body := append(structBytes(&msg), attr(unix.IFA_LOCAL, raw)...)
	body = append(body, attr(unix.IFA_ADDRESS, raw)...)
	if err := netlinkDo(nlRequest{typ: unix.RTM_NEWADDR, flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, body: body}); err != nil {
		return fmt.Errorf("adding %s to %s: %w", ip, name, err)
	}
	return nil
}

// route is one route: dst/bits (bits 0: the default route) through dev,
// via a gateway when set, in a table with a type and scope.
type route struct {
	dst     net.IP
	bits    uint8
	dev     string
	gateway net.IP
	table   uint8
	typ     uint8
	scope   uint8
}

func addRoute(r route) error {
	ifc, err := net.InterfaceByName(r.dev)
	if err != nil {
		return err
	}
	fam, dst, _ := family(r.dst)
	if r.table == 0 {
		r.table = unix.RT_TABLE_MAIN
	}
	if r.typ == 0 {
		r.typ = unix.RTN_UNICAST
	}
	msg := unix.RtMsg{Family: fam, Dst_len: r.bits, Table: r.table, Protocol: unix.RTPROT_STATIC, Scope: r.scope, Type: r.typ}
	body := structBytes(&msg)
	if r.bits > 0 {
		body = append(body, attr(unix.RTA_DST, dst)...)
	}
	if r.gateway != nil {
		_, gw, _ := family(r.gateway)
		body = append(body, attr(unix.RTA_GATEWAY, gw)...)
	}
	body = append(body, attr(unix.RTA_OIF, u32(uint32(ifc.Index)))...)
	if err := netlinkDo(nlRequest{typ: unix.RTM_NEWROUTE, flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, body: body}); err != nil {
		return fmt.Errorf("adding route to %s/%d via %s: %w", r.dst, r.bits, r.dev, err)
	}
	return nil
}

func family(ip net.IP) (uint8, []byte, uint8) {
	if v4 := ip.To4(); v4 != nil {
		return unix.AF_INET, v4, 32
	}
	return unix.AF_INET6, ip.To16(), 128
}
