package svcdial

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
)

// world is one state of the cluster's routes: Routes over client-go's
// stores.
type world struct{ svcs, slices, pods, rules cache.Indexer }

func newWorld() *world {
	byService := func(obj any) ([]string, error) {
		s := obj.(*discoveryv1.EndpointSlice)
		return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
	}
	return &world{
		svcs:   cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
		slices: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{"service": byService}),
		pods:   cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
		rules:  cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
	}
}

func get[T any](store cache.Indexer, key string) (T, error) {
	var zero T
	obj, ok, err := store.GetByKey(key)
	if err != nil || !ok {
		return zero, apierrors.NewNotFound(schema.GroupResource{}, key)
	}
	return obj.(T), nil
}

func (w *world) Service(_ context.Context, ns, name string) (*corev1.Service, error) {
	return get[*corev1.Service](w.svcs, ns+"/"+name)
}

func (w *world) Services(context.Context) ([]*corev1.Service, error) {
	var out []*corev1.Service
	for _, obj := range w.svcs.List() {
		out = append(out, obj.(*corev1.Service))
	}
	return out, nil
}

func (w *world) EndpointSlices(_ context.Context, ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := w.slices.ByIndex("service", ns+"/"+svc)
	var out []*discoveryv1.EndpointSlice
	for _, obj := range objs {
		out = append(out, obj.(*discoveryv1.EndpointSlice))
	}
	return out, err
}

func (w *world) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	return get[*corev1.Pod](w.pods, ns+"/"+name)
}

func (w *world) Rule(_ context.Context, uid types.UID) ([]byte, error) {
	u, err := get[*unstructured.Unstructured](w.rules, kwokrule.Name(uid))
	if err != nil {
		return nil, err
	}
	return u.MarshalJSON()
}

// serving adds Service ns/name on port 80, its pod (ready or not) on 3000,
// and the lab's rule forwarding that port to target.
func (w *world) serving(t *testing.T, ns, name string, ready bool, target string) {
	t.Helper()
	uid := types.UID(ns + "-" + name + "-pod")
	must(t, w.svcs.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}))
	port, portName := int32(3000), "http"
	must(t, w.slices.Add(&discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		Ports:      []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name + "-pod", UID: uid}}},
	}))
	must(t, w.pods.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-pod", UID: uid},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.9"}}))
	_, p, _ := net.SplitHostPort(target)
	rule, err := kwokrule.New(ns, name+"-pod", uid, map[int32]string{3000: "127.0.0.1:" + p})
	must(t, err)
	must(t, w.rules.Add(rule))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counted is the API server's side: its answers, and how many were asked.
type counted struct {
	*world
	asked atomic.Int32
}

func (c *counted) Service(ctx context.Context, ns, name string) (*corev1.Service, error) {
	c.asked.Add(1)
	return c.world.Service(ctx, ns, name)
}
func (c *counted) Services(ctx context.Context) ([]*corev1.Service, error) {
	c.asked.Add(1)
	return c.world.Services(ctx)
}
func (c *counted) EndpointSlices(ctx context.Context, ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
	c.asked.Add(1)
	return c.world.EndpointSlices(ctx, ns, svc)
}
func (c *counted) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	c.asked.Add(1)
	return c.world.Pod(ctx, ns, name)
}
func (c *counted) Rule(ctx context.Context, uid types.UID) ([]byte, error) {
	c.asked.Add(1)
	return c.world.Rule(ctx, uid)
}

// viewDialer dials with watched as the watches' stores and api as the API
// server's answers.
func viewDialer(watched, api *world) (*Dialer, *counted) {
	c := &counted{world: api}
	d := newDialer(&rest.Config{Host: "https://127.0.0.1:6443"}, nil, c, "kubeflow")
	d.watched = watched
	return d, c
}

// listener is a pod's program: a port that accepts.
func listener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestWatchedRoutesWithoutAskingTheAPIServer(t *testing.T) {
	addr := listener(t)
	watched, api := newWorld(), newWorld()
	watched.serving(t, "kubeflow", "ml-pipeline-ui", true, addr)
	api.serving(t, "kubeflow", "ml-pipeline-ui", true, addr)
	d, c := viewDialer(watched, api)
	conn, err := d.DialContext(context.Background(), "tcp", "ml-pipeline-ui:80")
	must(t, err)
	defer conn.Close()
	if conn.RemoteAddr().String() != addr {
		t.Errorf("dialled %s, want the rule's target %s", conn.RemoteAddr(), addr)
	}
	if n := c.asked.Load(); n != 0 {
		t.Errorf("the API server was asked %d times for a route the view shows", n)
	}
}

func TestWatchedAsksTheAPIServerWhatItDoesNotShow(t *testing.T) {
	addr := listener(t)
	for _, tc := range []struct {
		name    string
		watched func(*world)
	}{
		{"a Service the view has not seen yet", func(*world) {}},
		{"an endpoint the view does not show ready yet", func(w *world) { w.serving(t, "kubeflow", "ml-pipeline", false, addr) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			watched, api := newWorld(), newWorld()
			tc.watched(watched)
			api.serving(t, "kubeflow", "ml-pipeline", true, addr)
			d, c := viewDialer(watched, api)
			conn, err := d.DialContext(context.Background(), "tcp", "ml-pipeline.kubeflow:80")
			if err != nil {
				t.Fatalf("dial failed where the API server has a ready route: %v", err)
			}
			conn.Close()
			if c.asked.Load() == 0 {
				t.Error("the API server was not asked")
			}
		})
	}
}

func TestWatchedFailsOnlyAsTheAPIServerSays(t *testing.T) {
	watched, api := newWorld(), newWorld()
	d, _ := viewDialer(watched, api)
	_, err := d.DialContext(context.Background(), "tcp", "ml-pipeline.kubeflow:80")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("no such Service anywhere: got %v, want a DNS not-found error", err)
	}
	api.serving(t, "kubeflow", "ml-pipeline", false, listener(t))
	watched.serving(t, "kubeflow", "ml-pipeline", false, listener(t))
	_, err = d.DialContext(context.Background(), "tcp", "ml-pipeline.kubeflow:80")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("no ready endpoint anywhere: got %v, want a refused connection", err)
	}
}

func TestWatchedReadsTheRuleTheAPIServerHasWhenItHasNoneYet(t *testing.T) {
	addr := listener(t)
	watched, api := newWorld(), newWorld()
	watched.serving(t, "kubeflow", "ml-pipeline-ui", true, addr)
	api.serving(t, "kubeflow", "ml-pipeline-ui", true, addr)
	for _, obj := range watched.rules.List() {
		must(t, watched.rules.Delete(obj.(*unstructured.Unstructured)))
	}
	d, c := viewDialer(watched, api)
	conn, err := d.DialContext(context.Background(), "tcp", "ml-pipeline-ui:80")
	must(t, err)
	conn.Close()
	if conn.RemoteAddr().String() != addr || c.asked.Load() != 1 {
		t.Errorf("dialled %s after %d questions, want %s after one (the rule)", conn.RemoteAddr(), c.asked.Load(), addr)
	}
}
