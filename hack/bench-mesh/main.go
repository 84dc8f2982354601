// Command bench-mesh measures what the mesh's policy layer adds to a
// request: the inbound sidecar (internal/standin/sidecar) in front of a
// program, judging each request by the multi-user fixtures' own mesh
// objects (global-deny-all, KFP's policies, the RequestAuthentications),
// against the same request sent to the program directly. Both run on
// loopback, one new connection per request as the lab's in-cluster dialers
// make them (through the sidecar: its PROXY header first), interleaved so
// that drift on a shared machine falls on both. It prints the median and
// 90th percentile of -n requests each, and the median's difference.
//
//	go run ./hack/bench-mesh [-n 1000]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/benchline"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

func main() {
	n := flag.Int("n", 1000, "requests per way")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench-mesh:", err)
		os.Exit(1)
	}
}

// control is istiod for one caller: a notebook's pod with its sidecar.
type control struct{ cfg *mesh.Config }

var (
	podIP    = netip.MustParseAddr("10.244.0.7")
	callerIP = netip.MustParseAddr("10.244.0.9")
)

func (c control) Config() *mesh.Config { return c.cfg }
func (c control) Identify(_ context.Context, ip netip.Addr) (sidecar.Peer, error) {
	if ip == callerIP {
		return sidecar.Peer{Principal: c.cfg.Principal("kubeflow-user-example-com", "default-editor"), Pod: "kubeflow-user-example-com/notebook-0"}, nil
	}
	return sidecar.Peer{}, errors.New("unknown address")
}

func run(n int) error {
	objs, err := install.Fixtures(kubeflow.MultiUser)
	if err != nil {
		return err
	}
	cfg := mesh.FromObjects(objs)
	if len(cfg.Invalid) > 0 {
		return fmt.Errorf("fixtures' mesh objects: %v", cfg.Invalid)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"experiments":[],"total_size":0}`)
	}))
	defer app.Close()
	// KFP's API server: its policy admits a token-bearing call without
	// kubeflow-userid, after global-deny-all and the
	// RequestAuthentications had their say.
	w := mesh.Workload{Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline"}}
	s, err := sidecar.New(sidecar.Options{
		Workload: w,
		Upstream: func(port int) (string, bool) { return app.Listener.Addr().String(), port == 8888 },
		Origin:   sidecar.ProxyProtocol,
		Control:  control{cfg: cfg},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()

	direct := func() (time.Duration, error) { return request(app.Listener.Addr().String(), false) }
	through := func() (time.Duration, error) { return request(ln.Addr().String(), true) }
	// Warm both ways (the sidecar's pool to the program, the runtime).
	for range 50 {
		if _, err := direct(); err != nil {
			return err
		}
		if _, err := through(); err != nil {
			return err
		}
	}
	var d, t []time.Duration
	for range n {
		x, err := direct()
		if err != nil {
			return err
		}
		y, err := through()
		if err != nil {
			return err
		}
		d, t = append(d, x), append(t, y)
	}
	slices.Sort(d)
	slices.Sort(t)
	pct := func(v []time.Duration, p int) time.Duration { return v[(len(v)-1)*p/100] }
	fmt.Printf("%d requests each, GET /apis/v2beta1/experiments with a token, a new connection each, on loopback\n", n)
	fmt.Printf("  to the program directly:        median %v, p90 %v\n", pct(d, 50), pct(d, 90))
	fmt.Printf("  through the mesh's policy layer: median %v, p90 %v\n", pct(t, 50), pct(t, 90))
	fmt.Printf("added by the policy layer: %v per request (median)\n", pct(t, 50)-pct(d, 50))
	benchline.Print(benchline.Figure{Name: "mesh.added", Title: "the mesh's policy layer, added per request",
		Value: benchline.Ms(pct(t, 50) - pct(d, 50)), Unit: "ms",
		Detail: fmt.Sprintf("median of %d on loopback, a new connection each: %v through the sidecar, %v to the program directly; %s", n, pct(t, 50), pct(d, 50), benchline.Load())})
	return nil
}

// request sends one call on a new connection and reads the whole answer,
// which must be the program's 200.
func request(addr string, viaSidecar bool) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if viaSidecar {
		if err := sidecar.WriteProxyHeader(c, netip.AddrPortFrom(callerIP, 40000), netip.AddrPortFrom(podIP, 8888)); err != nil {
			return 0, err
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://ml-pipeline.kubeflow:8888/apis/v2beta1/experiments?namespace=kubeflow-user-example-com", nil)
	req.Header.Set("Authorization", "Bearer not-a-jwt")
	if err := req.Write(c); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("through %s: %s (the fixtures' policies should admit this call)", addr, resp.Status)
	}
	return time.Since(start), nil
}
