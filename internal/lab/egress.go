package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/lab/sandbox"
)

// egress is how a pod's process reaches the cluster as a pod would,
// without leaving this machine: what a pod has from CoreDNS and kube-proxy.
// Every address the process dials but its own pod's reaches the sandbox's
// side of its network, where the lab listens on every Service port: a
// connection to a Service's cluster IP and port goes, through svcdial, to a
// ready endpoint pod of that Service (the kubernetes Service's, to the API
// server); any other is dropped. Its resolv.conf names a DNS server the lab
// answers from the cluster's Services; no other name resolves.
type egress struct {
	r      *Runtime
	dialer *svcdial.Dialer
	pod    *corev1.Pod
	dnsIP  string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	sb    *sandbox.Sandbox
	ports map[int32]bool // TCP ports listened on
	socks []io.Closer
}

// fallbackDNS is the pods' DNS server where the cluster has no kube-dns
// Service: link-local, as NodeLocal DNSCache's is, so it is no Service's.
const fallbackDNS = "169.254.20.10"

func newEgress(r *Runtime, dialer *svcdial.Dialer, pod *corev1.Pod) (*egress, error) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &egress{r: r, dialer: dialer, pod: pod, dnsIP: fallbackDNS, ctx: ctx, cancel: cancel, ports: map[int32]bool{}}
	if svc := r.service("kube-system", "kube-dns"); svc != nil && net.ParseIP(svc.Spec.ClusterIP) != nil {
		e.dnsIP = svc.Spec.ClusterIP
	}
	return e, nil
}

// files are what the kubelet writes for a pod with dnsPolicy ClusterFirst:
// resolv.conf, hosts and hostname.
func (e *egress) files() []sandbox.File {
	ns := e.pod.Namespace
	resolv := fmt.Sprintf("search %s.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n", ns, clusterDomain, clusterDomain, clusterDomain, e.dnsIP)
	hosts := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		e.pod.Status.PodIP + "\t" + e.pod.Name + "\n"
	return []sandbox.File{
		{Path: "/etc/resolv.conf", Data: []byte(resolv)},
		{Path: "/etc/hosts", Data: []byte(hosts)},
		{Path: "/etc/hostname", Data: []byte(e.pod.Name + "\n")},
	}
}

const clusterDomain = "cluster.local"

// listen is what the sandbox opens at its start: the DNS server, and
// every Service port of the cluster now.
func (e *egress) listen() []sandbox.Listen {
	out := []sandbox.Listen{{Network: "udp", Addr: net.JoinHostPort(e.dnsIP, "53")}}
	for _, p := range e.r.servicePorts() {
		e.ports[p] = true
		out = append(out, sandbox.Listen{Network: "tcp", Addr: ":" + strconv.Itoa(int(p))})
	}
	return out
}

// serve serves the sandbox's sockets, in the order of listen.
func (e *egress) serve(sb *sandbox.Sandbox) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sb = sb
	for _, s := range sb.Sockets {
		e.serveSocket(s)
	}
}

func (e *egress) serveSocket(s any) {
	if c, ok := s.(io.Closer); ok {
		e.socks = append(e.socks, c)
	}
	e.wg.Add(1)
	switch s := s.(type) {
	case net.PacketConn:
		go func() { defer e.wg.Done(); e.serveDNS(s) }()
	case net.Listener:
		go func() { defer e.wg.Done(); e.accept(s) }()
	default:
		e.wg.Done()
	}
}

// addPorts listens on Service ports that appeared since the pod started.
func (e *egress) addPorts(ports []int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sb == nil || e.ctx.Err() != nil {
		return
	}
	for _, p := range ports {
		if e.ports[p] {
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		s, err := e.sb.Listen(ctx, sandbox.Listen{Network: "tcp", Addr: ":" + strconv.Itoa(int(p))})
		cancel()
		if err != nil {
			e.r.log.Warn("listening for a new Service port in a pod's network", "pod", e.pod.Namespace+"/"+e.pod.Name, "port", p, "err", err)
			continue
		}
		e.ports[p] = true
		e.serveSocket(s)
	}
}

func (e *egress) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.forward(c) }()
	}
}

// forward joins a connection the pod made to where its address leads.
func (e *egress) forward(c net.Conn) {
	defer c.Close()
	to, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	upstream, pod, err := e.dial(ctx, to)
	cancel()
	if err != nil {
		// kube-proxy would refuse; the connection is accepted already, so
		// it is reset instead.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	defer upstream.Close()
	// A pod that stops closes its connections, as a program shutting down
	// does: the client's pooled connection must not outlive it.
	defer e.r.track(pod, c)()
	splice(e.ctx, c, upstream)
}

// dial reaches a Service's cluster IP and port: a ready endpoint pod, whose
// UID it returns, or the API server for the kubernetes Service.
func (e *egress) dial(ctx context.Context, to *net.TCPAddr) (net.Conn, types.UID, error) {
	svc := e.r.serviceByIP(to.IP.String())
	if svc == nil {
		return nil, "", fmt.Errorf("no Service has cluster IP %s", to.IP)
	}
	if svc.Namespace == "default" && svc.Name == "kubernetes" {
		u, err := url.Parse(e.r.config.Host)
		if err != nil {
			return nil, "", err
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		return c, "", err
	}
	t, err := e.dialer.Resolve(ctx, net.JoinHostPort(svc.Name+"."+svc.Namespace, strconv.Itoa(to.Port)))
	if err != nil {
		return nil, "", err
	}
	// As the pod's own netfilter and kube-proxy would: to the endpoint's
	// sidecar when it has one, from this pod's address.
	c, err := e.dialer.DialTarget(ctx, "tcp", t)
	return c, t.Pod.UID, err
}

// splice copies both ways until either side ends or ctx does; the caller
// then closes both. An end on one side ends the other, as a connection
// through kube-proxy or a port-forward ends when either peer goes: waiting
// for both halves would hold a pooled connection to a pod that left.
func splice(ctx context.Context, a, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(a, b); done <- struct{}{} }()
	go func() { _, _ = io.Copy(b, a); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// serveDNS answers the pod's queries for cluster names, as CoreDNS's
// kubernetes plugin does for Services: <svc>.<ns>.svc.cluster.local is the
// Service's cluster IP. There is no upstream: every other name does not
// exist.
func (e *egress) serveDNS(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, err := e.r.answerDNS(buf[:n]); err == nil {
			_, _ = pc.WriteTo(resp, addr)
		}
	}
}

func (r *Runtime) answerDNS(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	var ip net.IP
	svc, found := r.serviceByName(q.Name.String())
	if found && svc != nil {
		ip = net.ParseIP(svc.Spec.ClusterIP)
	}
	if !found {
		resp.RCode = dnsmessage.RCodeNameError
		b = dnsmessage.NewBuilder(nil, resp)
	}
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if v4 := ip.To4(); v4 != nil && q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte(v4)}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// serviceByName is the Service a DNS name names (nil for a headless one),
// and whether the name exists.
func (r *Runtime) serviceByName(name string) (*corev1.Service, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	rest, ok := strings.CutSuffix(name, ".svc."+clusterDomain)
	if !ok {
		return nil, false
	}
	svcName, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") {
		return nil, false
	}
	svc := r.service(ns, svcName)
	if svc == nil {
		return nil, false
	}
	if net.ParseIP(svc.Spec.ClusterIP) == nil {
		return nil, true
	}
	return svc, true
}

// close stops serving; the sockets go with the sandbox.
func (e *egress) close() {
	e.cancel()
	e.mu.Lock()
	for _, c := range e.socks {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// servicePorts are the TCP ports of every Service of the cluster, sorted.
func (r *Runtime) servicePorts() []int32 {
	seen := map[int32]bool{}
	for _, obj := range r.services.List() {
		svc := obj.(*corev1.Service)
		for _, p := range svc.Spec.Ports {
			if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
				seen[p.Port] = true
			}
		}
	}
	out := make([]int32, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *Runtime) service(namespace, name string) *corev1.Service {
	obj, ok, err := r.services.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Service)
}

func (r *Runtime) serviceByIP(ip string) *corev1.Service {
	for _, obj := range r.services.List() {
		svc := obj.(*corev1.Service)
		for _, cip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
			if cip == ip {
				return svc
			}
		}
	}
	return nil
}

// track records c as a connection to the pod uid (none: "") until the
// returned func is called; closePod closes them all when the pod stops.
func (r *Runtime) track(uid types.UID, c net.Conn) func() {
	if uid == "" {
		return func() {}
	}
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.conns == nil {
		r.conns = map[types.UID]map[net.Conn]bool{}
	}
	if r.conns[uid] == nil {
		r.conns[uid] = map[net.Conn]bool{}
	}
	r.conns[uid][c] = true
	return func() {
		r.connMu.Lock()
		defer r.connMu.Unlock()
		delete(r.conns[uid], c)
		if len(r.conns[uid]) == 0 {
			delete(r.conns, uid)
		}
	}
}

// closePod closes the pods' connections to the pod uid.
func (r *Runtime) closePod(uid types.UID) {
	r.connMu.Lock()
	conns := r.conns[uid]
	delete(r.conns, uid)
	r.connMu.Unlock()
	for c := range conns {
		c.Close()
	}
}
