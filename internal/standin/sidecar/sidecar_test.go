package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// staticControl is a control plane with a fixed snapshot and a table of
// addresses.
type staticControl struct {
	cfg   *mesh.Config
	peers map[netip.Addr]Peer
}

func (s staticControl) Config() *mesh.Config { return s.cfg }
func (s staticControl) Identify(_ context.Context, ip netip.Addr) (Peer, error) {
	if p, ok := s.peers[ip]; ok {
		return p, nil
	}
	return Peer{}, errors.New("unknown")
}

func parse(t testing.TB, docs ...string) *mesh.Config {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, d := range docs {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	c := mesh.FromObjects(objs)
	if len(c.Invalid) > 0 {
		t.Fatal(c.Invalid)
	}
	return c
}

const (
	globalDenyAll = `{apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: global-deny-all, namespace: istio-system}, spec: {}}`
	uiPolicy      = `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ml-pipeline-ui, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: ml-pipeline-ui}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account]}}]
  - when:
    - {key: "request.headers[authorization]", values: ["*"]}
    - {key: "request.headers[kubeflow-userid]", notValues: ["*"]}`
	strict = `{apiVersion: security.istio.io/v1beta1, kind: PeerAuthentication, metadata: {name: strict, namespace: kubeflow}, spec: {mtls: {mode: STRICT}}}`
)

var (
	podIP      = netip.MustParseAddr("10.244.0.7")
	notebookIP = netip.MustParseAddr("10.244.0.9")
	outsideIP  = netip.MustParseAddr("10.244.0.11")
)

type fixture struct {
	addr  string
	calls *atomic.Int32
}

// start runs a program behind a sidecar for ml-pipeline-ui, as on kwok:
// connections come with a PROXY header.
func start(t testing.TB, cfg *mesh.Config) fixture {
	t.Helper()
	var calls atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(app.Close)
	ctl := staticControl{cfg: cfg, peers: map[netip.Addr]Peer{
		notebookIP: {Principal: "cluster.local/ns/kubeflow-user-example-com/sa/default-editor", Pod: "kubeflow-user-example-com/notebook-0"},
		outsideIP:  {Pod: "namespace-3/client-0"},
	}}
	s, err := New(Options{
		Workload: mesh.Workload{Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline-ui"}},
		Upstream: func(port int) (string, bool) { return app.Listener.Addr().String(), port == 3000 },
		Origin:   ProxyProtocol, Control: ctl,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return fixture{addr: ln.Addr().String(), calls: &calls}
}

// call dials the sidecar as a client at from would reach the pod's port.
func call(t testing.TB, f fixture, from netip.Addr, port uint16, header http.Header) (*http.Response, string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", f.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteProxyHeader(c, netip.AddrPortFrom(from, 40000), netip.AddrPortFrom(podIP, port)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://ml-pipeline-ui.kubeflow/apis/v2beta1/healthz", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if err := req.Write(c); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestSidecar(t *testing.T) {
	kubeflow := parse(t, globalDenyAll, uiPolicy)
	f := start(t, kubeflow)

	// A notebook that sends no token: the UI's policy refuses it, with
	// Envoy's answer, and the program never sees it.
	resp, body, err := call(t, f, notebookIP, 3000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || body != mesh.RBACDenied || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Server") != "istio-envoy" {
		t.Fatalf("refusal: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if f.calls.Load() != 0 {
		t.Fatal("the program saw a refused request")
	}
	// With the token it passes, to the program, its answer unchanged.
	resp, body, err = call(t, f, notebookIP, 3000, http.Header{"Authorization": {"Bearer t"}})
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, "healthz") || f.calls.Load() != 1 {
		t.Fatalf("with a token: %v %v %q", err, resp, body)
	}
	// A port nothing listens on: reset.
	if _, _, err := call(t, f, notebookIP, 9999, nil); err == nil {
		t.Fatal("a connection to a port without a program was answered")
	}
}

func TestSidecarStrict(t *testing.T) {
	f := start(t, parse(t, uiPolicy, strict))
	// From outside the mesh: Envoy resets the plaintext connection.
	_, _, err := call(t, f, outsideIP, 3000, http.Header{"Authorization": {"Bearer t"}})
	if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Fatalf("STRICT and plaintext: %v, want a reset", err)
	}
	// A mesh client's mTLS passes.
	resp, _, err := call(t, f, notebookIP, 3000, http.Header{"Authorization": {"Bearer t"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("STRICT and mTLS: %v %v", err, resp)
	}
}

// The added latency of the layer on loopback, for make bench: the median of
// many requests through the sidecar against the same requests straight to
// the program.
func BenchmarkSidecar(b *testing.B) {
	f := start(b, parse(b, globalDenyAll, uiPolicy))
	h := http.Header{"Authorization": {"Bearer t"}}
	b.ResetTimer()
	for b.Loop() {
		resp, _, err := call(b, f, notebookIP, 3000, h)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
	}
}
