// Package svcdial reaches Kubernetes Services the way a pod would, without
// being in one: a name such as ml-pipeline-ui, ml-pipeline-ui.kubeflow or
// ml-pipeline.kubeflow.svc.cluster.local (or a ClusterIP) is resolved through
// the cluster's own Service and EndpointSlice objects to a ready pod, which is
// then reached by a client-go port-forward. So a missing Service fails like a
// DNS miss, a Service without ready endpoints like a refused connection, and
// the answer comes from whatever serves that pod's port. A pod the lab runs
// on a kwok cluster of this machine is reached where kwok would connect for
// it (internal/kube/kwokrule), so a reset reaches the caller as it would
// across a pod network.
package svcdial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// Dialer resolves Service addresses through the API and dials ready pods.
type Dialer struct {
	client *kubeapi.Client
	config *rest.Config
	// Namespace is the namespace of the pod we stand in for: a bare service
	// name resolves there, as through the pod's DNS search path.
	Namespace string
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain string
	// ThroughSidecars makes DialContext a pod's network: a pod carrying
	// Istio's proxy is reached through it, as the pod's netfilter would
	// redirect the connection (to its port 15006, saying in a PROXY header
	// where it came from and was going). Unset, dials are kubectl
	// port-forwards, which enter the pod on its loopback, past the sidecar.
	ThroughSidecars bool
	// Source is the address of the pod the dialer stands for, which the
	// destination's sidecar reads its caller's identity from; unset, the
	// caller is nobody the mesh knows.
	Source netip.Addr

	// local is whether the API server is on this machine, so a lab's
	// kwok rules name addresses the dialer can reach itself.
	local bool
	// api reads a route's objects from the API server; watched, when
	// set, from watches first (NewWatched).
	api     Routes
	watched Routes

	mu       sync.Mutex
	forwards map[string]*forward // pod namespace/name/uid:port → running forward
	closed   bool
}

type forward struct {
	local string
	stop  chan struct{}
	done  chan struct{}
}

// New returns a dialer for the cluster of cfg.
func New(cfg *rest.Config, namespace string) (*Dialer, error) {
	client, err := kubeapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	return newDialer(cfg, client, newAPIRoutes(client), namespace), nil
}

// NewWatched returns a dialer for the cluster of cfg that reads routes from
// watched first (see Resolve): package view keeps them from informers.
func NewWatched(cfg *rest.Config, namespace string, watched Routes) (*Dialer, error) {
	d, err := New(cfg, namespace)
	if err != nil {
		return nil, err
	}
	d.watched = watched
	return d, nil
}

func newDialer(cfg *rest.Config, client *kubeapi.Client, api Routes, namespace string) *Dialer {
	if namespace == "" {
		namespace = "default"
	}
	return &Dialer{client: client, config: cfg, Namespace: namespace, ClusterDomain: "cluster.local", local: OnThisMachine(cfg.Host), api: api, forwards: map[string]*forward{}}
}

// OnThisMachine says whether an API server URL names a loopback host: then
// a lab's kwok rules name addresses this machine can reach itself.
func OnThisMachine(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Transport is an HTTP transport that dials through the dialer. It keeps no
// idle connection: each request resolves the Service again, as a new
// connection through kube-proxy would, so a replaced pod is never reached
// through a forward to its predecessor.
func (d *Dialer) Transport() *http.Transport {
	return &http.Transport{
		DialContext:           d.DialContext,
		Proxy:                 func(*http.Request) (*url.URL, error) { return nil, nil },
		ResponseHeaderTimeout: 30 * time.Second,
		DisableKeepAlives:     true,
	}
}

// Target is where an address resolved to.
type Target struct {
	Service *corev1.Service
	Pod     *corev1.Pod
	Port    int // the pod's port
}

// DialContext dials addr ("host:port") as a pod in Namespace would.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t, err := d.Resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	return d.DialTarget(ctx, network, t)
}

// DialTarget dials a resolved address as a pod in Namespace would: through
// the destination pod's sidecar when ThroughSidecars says so, else the
// pod's port itself.
func (d *Dialer) DialTarget(ctx context.Context, network string, t *Target) (net.Conn, error) {
	port := t.Port
	viaSidecar := d.ThroughSidecars && discover.HasSidecar(t.Pod) && mesh.Redirected(t.Port)
	if viaSidecar {
		port = mesh.InboundPort
	}
	local, err := d.podAddr(ctx, t.Pod, port)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("port-forward to pod %s/%s:%d: %w", t.Pod.Namespace, t.Pod.Name, port, err)}
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", local)
	if err != nil || !viaSidecar {
		return c, err
	}
	src := d.Source
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	dst, _ := netip.ParseAddr(t.Pod.Status.PodIP)
	if !dst.IsValid() {
		dst = netip.IPv4Unspecified()
	}
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(t.Port))))
	if _, err := h.WriteTo(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialPod connects to a pod's port through a port-forward, as
// `kubectl port-forward pod/NAME` would.
func (d *Dialer) DialPod(ctx context.Context, pod *corev1.Pod, port int) (net.Conn, error) {
	local, err := d.podAddr(ctx, pod, port)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", local)
}

// Resolve maps addr to a ready pod and port. A Service that does not exist
// is a *net.DNSError (not found); one with no ready endpoint for the port is
// a refused connection, as kube-proxy rejects it.
//
// A watched dialer (NewWatched) takes the route its watches show, as
// kube-proxy and CoreDNS do, and asks the API server only when they show
// none: so a Service or pod made a moment ago is reached at once, and a
// failure is always the API server's present answer, never the watch's lag.
func (d *Dialer) Resolve(ctx context.Context, addr string) (*Target, error) {
	if d.watched != nil {
		if t, err := d.resolve(ctx, addr, d.watched); err == nil {
			return t, nil
		}
	}
	return d.resolve(ctx, addr, d.api)
}

func (d *Dialer) resolve(ctx context.Context, addr string, from Routes) (*Target, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("address %q: port is not a number", addr)
	}
	svc, err := d.service(ctx, from, host)
	if err != nil {
		return nil, err
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if int(svc.Spec.Ports[i].Port) == port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		// No rule matches a cluster IP on a port its Service does not
		// serve: the SYN goes nowhere and the connect times out. Say so at
		// once instead of waiting for the timeout.
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr(addr), Err: timeoutError(fmt.Sprintf("service %s/%s serves no port %d: connect timed out", svc.Namespace, svc.Name, port))}
	}
	pod, podPort, err := readyEndpoint(ctx, from, svc, sp)
	if err != nil {
		return nil, err
	}
	if pod == nil {
		return nil, refused(addr, fmt.Sprintf("service %s/%s has no ready endpoint for port %d", svc.Namespace, svc.Name, port))
	}
	return &Target{Service: svc, Pod: pod, Port: podPort}, nil
}

func refused(addr, why string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr(addr), Err: &os.SyscallError{Syscall: "connect (" + why + ")", Err: syscall.ECONNREFUSED}}
}

type timeoutError string

func (e timeoutError) Error() string   { return string(e) }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// service finds the Service a host names: name, name.ns, name.ns.svc,
// name.ns.svc.<domain>, or a ClusterIP.
func (d *Dialer) service(ctx context.Context, from Routes, host string) (*corev1.Service, error) {
	notFound := &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	if ip := net.ParseIP(host); ip != nil {
		list, err := from.Services(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing services: %w", err)
		}
		for _, svc := range list {
			if svc.Spec.ClusterIP == host {
				return svc, nil
			}
		}
		return nil, refused(host, "no service has cluster IP "+host)
	}
	name, ns := host, d.Namespace
	trimmed := strings.TrimSuffix(strings.TrimSuffix(host, "."), ".svc."+d.ClusterDomain)
	trimmed = strings.TrimSuffix(trimmed, ".svc")
	parts := strings.Split(trimmed, ".")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		name, ns = parts[0], parts[1]
	default:
		return nil, notFound
	}
	svc, err := from.Service(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("looking up service %s/%s: %w", ns, name, err)
	}
	return svc, nil
}

// readyEndpoint picks a ready pod behind the service port, and the pod port.
func readyEndpoint(ctx context.Context, from Routes, svc *corev1.Service, sp *corev1.ServicePort) (*corev1.Pod, int, error) {
	slices, err := from.EndpointSlices(ctx, svc.Namespace, svc.Name)
	if err != nil {
		return nil, 0, fmt.Errorf("listing endpoints of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	for _, s := range slices {
		slicePort := 0
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				slicePort = int(*p.Port)
			}
		}
		if slicePort == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			pod, err := from.Pod(ctx, svc.Namespace, ep.TargetRef.Name)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, 0, fmt.Errorf("looking up endpoint pod %s: %w", ep.TargetRef.Name, err)
			}
			if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
				continue
			}
			return pod, slicePort, nil
		}
	}
	return nil, 0, nil
}

// podAddr is where this machine connects to the pod's port: the address a
// lab's kwok rule forwards it to, as kwok reads it (from the watches first
// on a watched dialer, else the API server), or else a port-forward's
// local end.
func (d *Dialer) podAddr(ctx context.Context, pod *corev1.Pod, port int) (string, error) {
	if d.local && pod.UID != "" {
		// No rule (not kwok, not the lab's pod), or no answer: the
		// port-forward decides, as it did before rules were read.
		sources := []Routes{d.api}
		if d.watched != nil {
			sources = []Routes{d.watched, d.api}
		}
		for _, from := range sources {
			raw, err := from.Rule(ctx, pod.UID)
			if err != nil {
				continue
			}
			if addr, ok, err := kwokrule.Target(raw, pod.Namespace, pod.Name, port); err == nil && ok {
				return addr, nil
			}
		}
	}
	return d.forwardTo(ctx, pod, port)
}

// forwardTo returns a local address forwarded to the pod's port, starting a
// port-forward the first time, as `kubectl port-forward pod/x 0:port` does.
func (d *Dialer) forwardTo(ctx context.Context, pod *corev1.Pod, port int) (string, error) {
	key := fmt.Sprintf("%s/%s/%s:%d", pod.Namespace, pod.Name, pod.UID, port)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return "", errors.New("dialer closed")
	}
	if f, ok := d.forwards[key]; ok {
		select {
		case <-f.done:
			delete(d.forwards, key)
		default:
			d.mu.Unlock()
			return f.local, nil
		}
	}
	d.mu.Unlock()

	f, err := d.startForward(ctx, pod, port)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.forwards[key]; ok && !isDone(old.done) {
		close(f.stop) // another dial won the race; keep one forward per pod port
		return old.local, nil
	}
	if d.closed {
		close(f.stop)
		return "", errors.New("dialer closed")
	}
	d.forwards[key] = f
	return f.local, nil
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (d *Dialer) startForward(ctx context.Context, pod *corev1.Pod, port int) (*forward, error) {
	tr, upgrader, err := spdy.RoundTripperFor(d.config)
	if err != nil {
		return nil, err
	}
	u := d.client.CoreREST().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: tr}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, nopWriter{}, nopWriter{})
	if err != nil {
		return nil, err
	}
	f := &forward{stop: stop, done: make(chan struct{})}
	errCh := make(chan error, 1)
	go func() {
		defer close(f.done)
		errCh <- pf.ForwardPorts()
	}()
	select {
	case <-ready:
	case err := <-errCh:
		return nil, err
	case <-ctx.Done():
		close(stop)
		return nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		close(stop)
		return nil, fmt.Errorf("port-forward reported no local port: %v", err)
	}
	f.local = fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	return f, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Close stops every port-forward.
func (d *Dialer) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for k, f := range d.forwards {
		close(f.stop)
		<-f.done
		delete(d.forwards, k)
	}
}

// Forward accepts connections on ln and joins each to addr through the
// dialer, as `kubectl port-forward svc/NAME LOCAL:PORT` does. It returns when
// ctx ends or ln is closed.
func (d *Dialer) Forward(ctx context.Context, ln net.Listener, addr string) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.join(ctx, conn, addr)
		}()
	}
}

func (d *Dialer) join(ctx context.Context, conn net.Conn, addr string) {
	defer conn.Close()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	upstream, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return // the client sees the connection close, as with kubectl
	}
	defer upstream.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
