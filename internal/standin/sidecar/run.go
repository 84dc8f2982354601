package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// What the proxy image's entrypoint (Istio's pilot-agent) does in a real
// pod, for the two commands Istio's injector gives it: `istio-iptables …`
// in the init container, `proxy sidecar …` in the sidecar. The gateway's
// `proxy router` is internal/standin/gateway's.

// Init is istio-iptables: it redirects the pod's inbound TCP to the port
// after -z, but for the ports listed after -d, in the pod's own network
// namespace (the init container's, which is the pod's), then exits.
func Init(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("istio-iptables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	inbound := fs.Int("z", InboundPort, "the sidecar's inbound port")
	exclude := fs.String("d", "", "inbound ports left alone, comma-separated")
	// The rest of istio-iptables' flags: outbound capture (-p, -i, -x, -u,
	// -m, -b), which the stand-in does not do, and logging.
	for _, f := range []string{"p", "u", "m", "i", "x", "b", "log_output_level"} {
		fs.String(f, "", "accepted as istio-iptables takes it")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ports []int
	for _, p := range strings.Split(*exclude, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("-d %q: not a port list", *exclude)
		}
		ports = append(ports, n)
	}
	if err := RedirectInbound(*inbound, ports); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "inbound TCP redirected to %d in the pod's network namespace, but ports %v\n", *inbound, ports)
	return nil
}

// PodControl is the control plane as a sidecar in a real pod has it
// (istiod.Remote): the snapshot, identities, and its own workload.
type PodControl interface {
	Control
	Workload(ctx context.Context, ip netip.Addr) (mesh.Workload, error)
}

// RunPod is `proxy sidecar` in a real pod: it follows the control plane,
// learns its workload from its pod's address ($INSTANCE_IP), serves the
// inbound listener on 15006 (connections the pod's netfilter redirected,
// their original destination from the socket) in front of the program on
// the pod's address, answers Istio's readiness at 15021/healthz/ready, and
// the kubelet's rewritten probes of the pod's containers at
// 15020/app-health/… ($ISTIO_KUBE_APP_PROBERS).
func RunPod(ctx context.Context, lookup func(string) (string, bool), control func(context.Context) (PodControl, error), transport http.RoundTripper, stderr io.Writer) error {
	ipText, _ := lookup("INSTANCE_IP")
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return fmt.Errorf("$INSTANCE_IP %q: the sidecar needs its pod's address", ipText)
	}
	probersText, _ := lookup(mesh.AppProbersEnv)
	probers, err := mesh.ParseAppProbers(probersText)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ready := make(chan struct{})
	isReady := func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	}
	stopHealth, err := listenAndServe(fmt.Sprintf(":%d", HealthPort), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !isReady() {
			http.Error(w, "no config from istiod yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil {
		return err
	}
	defer stopHealth()
	stopAgent, err := listenAndServe(fmt.Sprintf(":%d", mesh.AgentPort), &AppHealth{Probers: probers, Addr: func(port int) string {
		return net.JoinHostPort(ip.String(), strconv.Itoa(port))
	}})
	if err != nil {
		return err
	}
	defer stopAgent()

	// Like the agent, the sidecar waits for istiod as long as it takes;
	// until then its readiness says why.
	ctl, err := control(ctx)
	if err != nil {
		return err
	}
	w, err := ctl.Workload(ctx, ip)
	if err != nil {
		return fmt.Errorf("istiod does not know this pod (%s): %w", ip, err)
	}
	s, err := New(Options{
		Workload: w,
		Upstream: func(port int) (string, bool) {
			return net.JoinHostPort(ip.String(), strconv.Itoa(port)), mesh.Redirected(port)
		},
		Origin:        OriginalDestination,
		Control:       ctl,
		Authenticator: &mesh.Authenticator{Client: &http.Client{Transport: transport}},
		ExtAuthz:      transport,
		Log:           log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", InboundPort))
	if err != nil {
		return err
	}
	close(ready)
	fmt.Fprintf(stderr, "sidecar of %s/%v on :%d\n", w.Namespace, w.Labels, InboundPort)
	if err := s.Serve(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func listenAndServe(addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// AppHealth is the agent's answer to a rewritten probe: it probes the
// program as the original probe says, from inside the pod (so the redirect
// does not apply), and returns the status code alone; a TCP probe is a
// connection that opens.
type AppHealth struct {
	Probers mesh.AppProbers
	// Addr is where the program's port is reached from the agent: the
	// pod's address in a real pod, the process's on kwok.
	Addr func(port int) string
	// Client makes HTTP probes; nil is a client that follows no redirect.
	Client *http.Client
}

// appProbeTimeout is the kubelet's default probe timeout (1 s), used when
// the probe sets none.
const appProbeTimeout = time.Second

func (a *AppHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := a.Probers[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	timeout := appProbeTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		w.WriteHeader(a.probeHTTP(ctx, p))
	case p.TCPSocket != nil:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", a.Addr(p.TCPSocket.Port.IntValue()))
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		c.Close()
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

func (a *AppHealth) probeHTTP(ctx context.Context, p mesh.AppProbe) int {
	h := p.HTTPGet
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	addr := a.Addr(h.Port.IntValue())
	if h.Host != "" {
		addr = net.JoinHostPort(h.Host, h.Port.String())
	}
	u := scheme + "://" + addr + h.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return http.StatusInternalServerError
	}
	for _, hd := range h.HTTPHeaders {
		req.Header.Add(hd.Name, hd.Value)
	}
	c := a.Client
	if c == nil {
		// As the kubelet probes: an HTTPS probe's certificate is not
		// checked, and a redirect is an answer.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the kubelet does not verify probe certificates
		c = &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return http.StatusInternalServerError
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode
}
