package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
)

// egress is how a program's process reaches the cluster as its pod would,
// without leaving this machine: a loopback forwarder for each Service port
// the pod's service-link variables name, and an HTTP proxy (given to the
// process as HTTP_PROXY) that resolves cluster names — bare, <svc>.<ns>,
// …svc.cluster.local — from the pod's namespace. Both dial through svcdial,
// which reaches ready endpoint pods by port-forward; an address that is not a
// Service of the cluster is refused, never dialled.
type egress struct {
	dialer *svcdial.Dialer
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	proxy  *http.Server
	// ProxyURL is the HTTP proxy's address for HTTP_PROXY.
	ProxyURL string
}

func newEgress(dialer *svcdial.Dialer) (*egress, error) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &egress{dialer: dialer, ctx: ctx, cancel: cancel}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	e.ProxyURL = "http://" + ln.Addr().String()
	e.proxy = &http.Server{Handler: http.HandlerFunc(e.serveProxy), ReadHeaderTimeout: 10 * time.Second}
	e.wg.Add(1)
	go func() { defer e.wg.Done(); _ = e.proxy.Serve(ln) }()
	return e, nil
}

// link is podenv's service-link mapper: each Service port becomes a
// loopback forwarder to <svc>.<ns>:<port>.
func (e *egress) link(svc *corev1.Service, p corev1.ServicePort) (string, int32, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, fmt.Errorf("forwarder for service %s/%s port %d: %w", svc.Namespace, svc.Name, p.Port, err)
	}
	addr := fmt.Sprintf("%s.%s:%d", svc.Name, svc.Namespace, p.Port)
	e.wg.Add(1)
	go func() { defer e.wg.Done(); _ = e.dialer.Forward(e.ctx, ln, addr) }()
	return "127.0.0.1", int32(ln.Addr().(*net.TCPAddr).Port), nil
}

// serveProxy is a forward proxy: CONNECT tunnels and absolute-form requests
// to cluster names, nothing else.
func (e *egress) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		e.tunnel(w, r)
		return
	}
	if r.URL.Host == "" {
		http.Error(w, "this is the lab's egress proxy: only absolute-form requests to cluster names", http.StatusBadRequest)
		return
	}
	addr := r.URL.Host
	if r.URL.Port() == "" {
		addr = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Connection")
	out.Header.Del("Proxy-Authorization")
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return e.dialer.DialContext(ctx, "tcp", addr)
		},
		Proxy:             func(*http.Request) (*url.URL, error) { return nil, nil },
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(out)
	if err != nil {
		http.Error(w, fmt.Sprintf("lab egress: %s: %v", addr, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (e *egress) tunnel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	upstream, err := e.dialer.DialContext(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		http.Error(w, fmt.Sprintf("lab egress: %s: %v", r.Host, err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "lab egress: cannot tunnel", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer conn.Close()
		defer upstream.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(upstream, buf); done <- struct{}{} }()
		go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
		select {
		case <-done:
		case <-e.ctx.Done():
		}
	}()
}

// env is what the process gets to use the proxy. NO_PROXY stays empty:
// Go's proxy rules already skip loopback, and nothing else may bypass it.
func (e *egress) env() map[string]string {
	return map[string]string{"HTTP_PROXY": e.ProxyURL, "HTTPS_PROXY": e.ProxyURL, "http_proxy": e.ProxyURL, "https_proxy": e.ProxyURL, "NO_PROXY": "", "no_proxy": ""}
}

func (e *egress) close() {
	e.cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = e.proxy.Shutdown(sctx)
	cancel()
	e.wg.Wait()
}
