// Package sidecar is a stand-in for the inbound half of Istio's sidecar
// (Envoy's virtualInbound listener on port 15006), which cannot run here:
// every connection redirected to it from the pod's own ports meets the
// workload's PeerAuthentication, and every request on it the
// RequestAuthentications and AuthorizationPolicies that select the workload
// — Istio's semantics from internal/mesh, the objects as the cluster holds
// them now — before it goes on to the program on the pod's loopback, as
// Envoy forwards it. A refused request gets Envoy's own answer; a plaintext
// connection to a STRICT port is reset.
//
// Where a connection came from and where it was going is the one thing that
// differs by cluster: on a real node the pod's own netfilter redirected it
// and the original destination is the socket's (SO_ORIGINAL_DST); on kwok,
// whose pods are processes on this machine, the lab's in-cluster dialer
// says it in a PROXY protocol header. Origin abstracts that, and the caller
// picks.
package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// The sidecar's ports, as internal/mesh names them.
const (
	InboundPort = mesh.InboundPort
	HealthPort  = mesh.HealthPort
)

// ExcludedPorts are the ports never redirected to the sidecar.
var ExcludedPorts = mesh.ExcludedInboundPorts

// Peer is what the mesh knows of a client: its principal when it runs with
// a sidecar (which then speaks mTLS for it), nothing otherwise.
type Peer struct {
	Principal string // <trust domain>/ns/<ns>/sa/<sa>; "" outside the mesh
	Pod       string // namespace/name, for the log
}

// Control is what istiod gives a sidecar: the mesh's configuration and,
// for a client address, who it is.
type Control interface {
	// Config is the current snapshot; nil while none has been read (the
	// sidecar then refuses, as Envoy without its config does not listen).
	Config() *mesh.Config
	// Identify says who calls from ip.
	Identify(ctx context.Context, ip netip.Addr) (Peer, error)
}

// Origin says where an accepted connection came from and was going, and
// returns the connection to read the request from.
type Origin func(c net.Conn) (src, dst netip.AddrPort, rest net.Conn, err error)

// ProxyProtocol reads a PROXY protocol (v1 or v2) header, as the lab's
// in-cluster dialer writes it on kwok.
func ProxyProtocol(c net.Conn) (src, dst netip.AddrPort, rest net.Conn, err error) {
	br := bufio.NewReader(c)
	h, err := proxyproto.Read(br)
	if err != nil {
		return src, dst, nil, fmt.Errorf("reading the PROXY header: %w", err)
	}
	s, ok1 := h.SourceAddr.(*net.TCPAddr)
	d, ok2 := h.DestinationAddr.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return src, dst, nil, errors.New("PROXY header without TCP addresses")
	}
	return s.AddrPort(), d.AddrPort(), bufferedConn{Conn: c, r: br}, nil
}

// WriteProxyHeader is what a dialer in front of the sidecar writes first: a
// PROXY protocol v2 header naming the client and the original destination.
func WriteProxyHeader(w io.Writer, src, dst netip.AddrPort) error {
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
	_, err := h.WriteTo(w)
	return err
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Options configure one workload's sidecar.
type Options struct {
	// Workload is the pod the sidecar sits in.
	Workload mesh.Workload
	// Upstream is where the program listens for a destination port:
	// 127.0.0.1:<port> in the pod's own network namespace, or the port the
	// lab gave a local process on kwok. false: nothing listens there.
	Upstream func(port int) (string, bool)
	Origin   Origin
	Control  Control
	// Authenticator fetches JWKS for RequestAuthentication; its client is
	// the sidecar's view of the network.
	Authenticator *mesh.Authenticator
	// ExtAuthz is the network a CUSTOM policy's provider is reached on; nil
	// is http.DefaultTransport.
	ExtAuthz http.RoundTripper
	Log      *slog.Logger
}

// Server is one workload's inbound sidecar.
type Server struct {
	opts Options

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy
}

// New returns the sidecar of opts.Workload.
func New(opts Options) (*Server, error) {
	if opts.Upstream == nil || opts.Origin == nil || opts.Control == nil {
		return nil, errors.New("sidecar: Upstream, Origin and Control are required")
	}
	if opts.Authenticator == nil {
		opts.Authenticator = &mesh.Authenticator{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, proxies: map[string]*httputil.ReverseProxy{}}, nil
}

// Serve accepts connections on ln until ctx ends or ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.handle(ctx, c)
	}
}

// headerTimeout bounds reading a connection's preamble and request
// headers, as Envoy's listener and HCM do.
const headerTimeout = 30 * time.Second

func (s *Server) handle(ctx context.Context, c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(headerTimeout))
	src, dst, conn, err := s.opts.Origin(c)
	if err != nil {
		s.opts.Log.Warn("sidecar: connection without its origin", "error", err)
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	cfg := s.opts.Control.Config()
	if cfg == nil {
		reset(c)
		return
	}
	peer, err := s.opts.Control.Identify(ctx, src.Addr())
	if err != nil {
		s.opts.Log.Warn("sidecar: cannot tell who calls", "source", src, "error", err)
	}
	w := s.opts.Workload
	port := int(dst.Port())
	conn2 := cfg.Connect(w, port, peer.Principal)
	if conn2.Reset {
		s.opts.Log.Info("sidecar: plaintext to a STRICT port, reset", "source", src, "pod", peer.Pod, "port", port, "by", conn2.By)
		reset(c)
		return
	}
	up, ok := s.opts.Upstream(port)
	if !ok {
		reset(c)
		return
	}
	base := mesh.Request{Port: port, SourceIP: src.Addr(), DestinationIP: dst.Addr(), Peer: conn2.Peer}
	srv := &http.Server{
		Handler:           s.handler(cfg, base, up, peer),
		ReadHeaderTimeout: headerTimeout,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelDebug),
	}
	_ = srv.Serve(&oneConn{c: conn})
}

// handler is the HTTP filter chain in Istio's order — CUSTOM (ext_authz),
// then jwt_authn, then rbac — and the router to the program.
func (s *Server) handler(cfg *mesh.Config, base mesh.Request, upstream string, peer Peer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := base
		req.Method, req.Host, req.Path, req.Header = r.Method, r.Host, r.URL.RequestURI(), r.Header
		if provider, pol, ok := cfg.Custom(s.opts.Workload, &req); ok {
			allowed := mesh.ExtAuthzCheck(r.Context(), cfg, provider, s.opts.ExtAuthz, w, r)
			if !allowed {
				s.opts.Log.Info("sidecar: refused by the CUSTOM provider", "policy", pol, "provider", provider)
				return
			}
		}
		out := cfg.Filter(r.Context(), s.opts.Authenticator, s.opts.Workload, req, w, r)
		if !out.Allowed() {
			s.opts.Log.Info("sidecar: refused", "pod", peer.Pod, "principal", base.Peer, "path", r.URL.Path,
				"jwt", out.Authn.Failure, "verdict", out.Verdict.String())
			return
		}
		s.proxy(upstream).ServeHTTP(w, r)
	})
}

func (s *Server) proxy(upstream string) *httputil.ReverseProxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.proxies[upstream]; ok {
		return p
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", upstream
			pr.Out.Host = pr.In.Host
			// Envoy keeps the client's X-Forwarded-For as it came on an
			// inbound sidecar, and adds no hop of its own.
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		},
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext, MaxIdleConnsPerHost: 16},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			// Envoy's answer when the program does not take the connection.
			mesh.WriteLocal(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
		},
	}
	s.proxies[upstream] = p
	return p
}

// reset closes c with a TCP reset, as Envoy closes a connection no filter
// chain takes (plaintext on a STRICT port).
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// oneConn is a listener of one connection, so that net/http serves it with
// keep-alive and then stops.
type oneConn struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

func (o *oneConn) Accept() (net.Conn, error) {
	var c net.Conn
	o.once.Do(func() {
		o.mu.Lock()
		o.done = make(chan struct{})
		o.mu.Unlock()
		c = &closeNotify{Conn: o.c, done: o.done}
	})
	if c != nil {
		return c, nil
	}
	o.mu.Lock()
	done := o.done
	o.mu.Unlock()
	<-done
	return nil, net.ErrClosed
}

func (o *oneConn) Close() error   { return nil }
func (o *oneConn) Addr() net.Addr { return o.c.LocalAddr() }

type closeNotify struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (c *closeNotify) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// PortOf is the port of an address "host:port", 0 when it has none.
func PortOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
