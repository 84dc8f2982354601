package istiod

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// What istiod gives the proxies of a real node, over plain HTTP on Istio's
// plaintext discovery port (15010) in place of xDS: the snapshot of the
// mesh's objects, pushed by long poll, and who is behind an address.

// DiscoveryPort is istiod's plaintext discovery port, which the proxies
// of the node's pods reach at istiod.istio-system.svc.
const DiscoveryPort = 15010

// DefaultAddress is where a proxy finds istiod.
const DefaultAddress = "http://istiod.istio-system.svc:15010"

// snapshot is the wire form of a Config: the objects it was built from.
type snapshot struct {
	Generation int64                        `json:"generation"`
	Objects    []*unstructured.Unstructured `json:"objects"`
}

// identity is the wire form of Identify's answer.
type identity struct {
	Principal string            `json:"principal"`
	Pod       string            `json:"pod"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

// Handler serves the discovery endpoints of c.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		_ = c.WaitFor(ctx, func(*mesh.Config) bool { return c.Generation() > after })
		c.mu.Lock()
		snap := snapshot{Generation: c.Generation(), Objects: c.objects}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(snap)
	})
	mux.HandleFunc("GET /identify", func(w http.ResponseWriter, r *http.Request) {
		ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
		if err != nil {
			http.Error(w, "ip: "+err.Error(), http.StatusBadRequest)
			return
		}
		p, pod, err := c.identify(ip)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		id := identity{Principal: p.Principal, Pod: p.Pod}
		if pod != nil {
			id.Namespace, id.Labels = pod.Namespace, pod.Labels
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(id)
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// Remote is a proxy's view of istiod on a real node: the latest snapshot,
// kept by long poll, and identities asked for (and remembered a while).
type Remote struct {
	base   string
	client *http.Client
	log    *slog.Logger
	cfg    atomic.Pointer[mesh.Config]
	ready  chan struct{}
	once   sync.Once

	mu    sync.Mutex
	known map[netip.Addr]cached
}

type cached struct {
	peer sidecar.Peer
	w    mesh.Workload
	at   time.Time
}

// identityTTL bounds how long an address's identity is trusted: a pod
// deleted and its address reused by another must not keep the first's.
const identityTTL = 5 * time.Second

// Dial starts following istiod at base (DefaultAddress in a pod) until
// ctx ends and returns once the first snapshot arrived; an error when none
// did within wait (0: as long as ctx lasts).
func Dial(ctx context.Context, wait time.Duration, base string, client *http.Client, log *slog.Logger) (*Remote, error) {
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Remote{base: base, client: client, log: log, ready: make(chan struct{}), known: map[netip.Addr]cached{}}
	go r.follow(ctx)
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-r.ready:
		return r, nil
	case <-timeout:
		return nil, fmt.Errorf("no snapshot from istiod at %s in %s", base, wait)
	case <-ctx.Done():
		return nil, fmt.Errorf("no snapshot from istiod at %s: %w", base, context.Cause(ctx))
	}
}

func (r *Remote) follow(ctx context.Context) {
	var gen int64
	for ctx.Err() == nil {
		snap, err := r.poll(ctx, gen)
		if err != nil {
			r.log.Warn("istiod: no snapshot", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if snap.Generation != gen || r.cfg.Load() == nil {
			gen = snap.Generation
			r.cfg.Store(mesh.FromObjects(snap.Objects))
			r.once.Do(func() { close(r.ready) })
		}
	}
}

func (r *Remote) poll(ctx context.Context, after int64) (*snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	var snap snapshot
	if err := r.get(ctx, "/snapshot?after="+strconv.FormatInt(after, 10), &snap); err != nil {
		return nil, err
	}
	return &snap, nil
}

func (r *Remote) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d %s", path, resp.StatusCode, body)
	}
	return json.Unmarshal(body, into)
}

// Config is the latest snapshot.
func (r *Remote) Config() *mesh.Config { return r.cfg.Load() }

// Identify asks istiod who is at ip.
func (r *Remote) Identify(ctx context.Context, ip netip.Addr) (sidecar.Peer, error) {
	p, _, err := r.lookup(ctx, ip)
	return p, err
}

// Workload is the pod at ip as policies select it: a proxy asks it of its
// own address.
func (r *Remote) Workload(ctx context.Context, ip netip.Addr) (mesh.Workload, error) {
	_, w, err := r.lookup(ctx, ip)
	return w, err
}

func (r *Remote) lookup(ctx context.Context, ip netip.Addr) (sidecar.Peer, mesh.Workload, error) {
	r.mu.Lock()
	c, ok := r.known[ip]
	r.mu.Unlock()
	if ok && time.Since(c.at) < identityTTL {
		return c.peer, c.w, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var id identity
	if err := r.get(ctx, "/identify?ip="+url.QueryEscape(ip.String()), &id); err != nil {
		return sidecar.Peer{}, mesh.Workload{}, err
	}
	c = cached{peer: sidecar.Peer{Principal: id.Principal, Pod: id.Pod}, w: mesh.Workload{Namespace: id.Namespace, Labels: id.Labels}, at: time.Now()}
	r.mu.Lock()
	r.known[ip] = c
	r.mu.Unlock()
	return c.peer, c.w, nil
}
