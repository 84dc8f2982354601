// Package lab is the Docker-free runtime of the KFP lab: for every Running pod
// of a known KFP image in a kwok cluster it starts the matching stand-in as a
// local HTTP server configured from that pod's environment and identity, and
// points a kwok ClusterPortForward rule at it, so that a port-forward to the
// pod (kubectl's, client-go's, or svcdial's for in-cluster names) reaches it.
// When the pod goes away the stand-in stops; a changed Deployment makes new
// pods, which get new stand-ins. Everything around the stand-ins — objects,
// Services, endpoints, tokens, RBAC decisions — is the real cluster's.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
)

// Program is a KFP program the lab can run in place of a container.
type Program struct {
	Name  string
	Match func(image string) bool
	// Handler builds the program's server from what the container would get.
	Handler func(ctx context.Context, in Inputs) (http.Handler, error)
}

// Inputs is what a container would see.
type Inputs struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	Env       map[string]string
	// Identity is a client config acting as the pod's ServiceAccount, with a
	// token bound to the pod (as the kubelet would mount it).
	Identity *rest.Config
	// Dialer reaches cluster Services from the pod's namespace.
	Dialer *svcdial.Dialer
}

// Lookup reads Env like os.LookupEnv.
func (in Inputs) Lookup(k string) (string, bool) {
	v, ok := in.Env[k]
	return v, ok
}

// ClusterPortForwards is kwok's cluster-scoped port-forward rule resource.
var ClusterPortForwards = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

// Instance is a running stand-in.
type Instance struct {
	Program   string
	Namespace string
	Pod       string
	UID       types.UID
	Addr      string // local listen address
	Rule      string // ClusterPortForward name

	server *http.Server
	dialer *svcdial.Dialer
}

// Runtime watches pods and runs stand-ins.
type Runtime struct {
	config   *rest.Config
	client   kubernetes.Interface
	dyn      dynamic.Interface
	programs []Program
	log      *slog.Logger

	queue   workqueue.TypedRateLimitingInterface[string]
	factory informers.SharedInformerFactory
	pods    cache.Indexer
	cancel  context.CancelFunc
	done    chan struct{}

	mu        sync.Mutex
	instances map[string]*Instance // by namespace/name
	changed   chan struct{}        // closed and replaced on every change
}

// Start begins watching the cluster of cfg. Close stops every stand-in and
// removes their rules.
func Start(ctx context.Context, cfg *rest.Config, programs []Program, log *slog.Logger) (*Runtime, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{
		config: cfg, client: client, dyn: dyn, programs: programs, log: log,
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		factory:   informers.NewSharedInformerFactory(client, 0),
		cancel:    cancel,
		done:      make(chan struct{}),
		instances: map[string]*Instance{},
		changed:   make(chan struct{}),
	}
	podInformer := r.factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(key)
		}
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		cancel()
		return nil, err
	}
	r.pods = podInformer.GetIndexer()
	r.factory.Start(rctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		cancel()
		r.factory.Shutdown()
		return nil, fmt.Errorf("watching pods of %s: %w", cfg.Host, errors.Join(ctx.Err(), errors.New("cache did not sync")))
	}
	go r.work(rctx)
	return r, nil
}

func (r *Runtime) work(ctx context.Context) {
	defer close(r.done)
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		if err := r.reconcile(ctx, key); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile failed; retrying", "pod", key, "err", err)
			r.queue.AddRateLimited(key)
		} else {
			r.queue.Forget(key)
		}
		r.queue.Done(key)
	}
}

// program returns the program and container a pod runs, if any.
func (r *Runtime) program(pod *corev1.Pod) (*Program, *corev1.Container) {
	for i := range pod.Spec.Containers {
		for j := range r.programs {
			if r.programs[j].Match(pod.Spec.Containers[i].Image) {
				return &r.programs[j], &pod.Spec.Containers[i]
			}
		}
	}
	return nil, nil
}

func (r *Runtime) reconcile(ctx context.Context, key string) error {
	obj, exists, err := r.pods.GetByKey(key)
	if err != nil {
		return err
	}
	var pod *corev1.Pod
	if exists {
		pod = obj.(*corev1.Pod)
	}
	r.mu.Lock()
	inst := r.instances[key]
	r.mu.Unlock()

	wanted := pod != nil && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning
	var prog *Program
	var container *corev1.Container
	if wanted {
		prog, container = r.program(pod)
		wanted = prog != nil
	}
	if inst != nil && (!wanted || inst.UID != pod.UID) {
		r.stop(ctx, key, inst)
		inst = nil
	}
	if !wanted || inst != nil {
		return nil
	}
	return r.start(ctx, key, pod, prog, container)
}

func (r *Runtime) start(ctx context.Context, key string, pod *corev1.Pod, prog *Program, c *corev1.Container) error {
	env, err := podenv.ContainerEnv(ctx, r.client, pod, c)
	if err != nil {
		return err
	}
	identity, err := r.podIdentity(ctx, pod)
	if err != nil {
		return err
	}
	dialer, err := svcdial.New(r.config, pod.Namespace)
	if err != nil {
		return err
	}
	handler, err := prog.Handler(ctx, Inputs{Pod: pod, Container: c, Env: env, Identity: identity, Dialer: dialer})
	if err != nil {
		dialer.Close()
		return fmt.Errorf("configuring %s for %s: %w", prog.Name, key, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dialer.Close()
		return err
	}
	inst := &Instance{
		Program: prog.Name, Namespace: pod.Namespace, Pod: pod.Name, UID: pod.UID, Addr: ln.Addr().String(),
		Rule:   "kfp-lab-" + string(pod.UID),
		server: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		dialer: dialer,
	}
	go func() { _ = inst.server.Serve(ln) }()
	if err := r.applyRule(ctx, inst, c); err != nil {
		_ = inst.server.Close()
		dialer.Close()
		return err
	}
	// Only a stand-in reachable through a port-forward counts as running:
	// kwok picks up a new rule a moment after it is created.
	if err := waitReachable(ctx, dialer, pod, int(c.Ports[0].ContainerPort)); err != nil {
		r.stop(ctx, key, inst)
		return fmt.Errorf("stand-in for %s not reachable through a port-forward: %w", key, err)
	}
	r.mu.Lock()
	r.instances[key] = inst
	r.notifyLocked()
	r.mu.Unlock()
	r.log.Info("started stand-in", "program", prog.Name, "pod", key, "addr", inst.Addr)
	return nil
}

func (r *Runtime) stop(ctx context.Context, key string, inst *Instance) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.dyn.Resource(ClusterPortForwards).Delete(sctx, inst.Rule, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.log.Warn("removing port-forward rule", "rule", inst.Rule, "err", err)
	}
	_ = inst.server.Shutdown(sctx)
	inst.dialer.Close()
	r.mu.Lock()
	if r.instances[key] == inst {
		delete(r.instances, key)
	}
	r.notifyLocked()
	r.mu.Unlock()
	r.log.Info("stopped stand-in", "program", inst.Program, "pod", key)
}

// applyRule forwards every container port of the pod to the stand-in.
func (r *Runtime) applyRule(ctx context.Context, inst *Instance, c *corev1.Container) error {
	_, portStr, _ := net.SplitHostPort(inst.Addr)
	var local int64
	_, _ = fmt.Sscan(portStr, &local)
	var ports []any
	for _, p := range c.Ports {
		ports = append(ports, int64(p.ContainerPort))
	}
	if len(ports) == 0 {
		return fmt.Errorf("container %s of %s/%s declares no port to forward", c.Name, inst.Namespace, inst.Pod)
	}
	rule := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterPortForward",
		"metadata":   map[string]any{"name": inst.Rule, "labels": map[string]any{"app.kubernetes.io/managed-by": "kfp-connect-lab"}},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{inst.Namespace}, "matchNames": []any{inst.Pod}},
			"forwards": []any{map[string]any{"ports": ports, "target": map[string]any{"address": "127.0.0.1", "port": local}}},
		},
	}}
	_, err := r.dyn.Resource(ClusterPortForwards).Create(ctx, rule, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = r.dyn.Resource(ClusterPortForwards).Delete(ctx, inst.Rule, metav1.DeleteOptions{})
		if err == nil {
			_, err = r.dyn.Resource(ClusterPortForwards).Create(ctx, rule, metav1.CreateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("creating port-forward rule for %s/%s: %w", inst.Namespace, inst.Pod, err)
	}
	return nil
}

// podIdentity mints what the kubelet would mount for the pod's
// ServiceAccount: a token bound to the pod, so it dies with it.
func (r *Runtime) podIdentity(ctx context.Context, pod *corev1.Pod) (*rest.Config, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	expiry := int64(24 * 3600)
	tr, err := r.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("minting a token for %s/%s (pod %s): %w", pod.Namespace, sa, pod.Name, err)
	}
	cfg := rest.AnonymousClientConfig(r.config)
	cfg.BearerToken = tr.Status.Token
	cfg.Timeout = 10 * time.Second
	return cfg, nil
}

// waitReachable polls an HTTP request through a port-forward to the pod until
// the stand-in answers (any status will do).
func waitReachable(ctx context.Context, d *svcdial.Dialer, pod *corev1.Pod, port int) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialPod(ctx, pod, port) },
	}}
	defer client.CloseIdleConnections()
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://stand-in/apis/v1beta1/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
}

func (r *Runtime) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Instances lists the running stand-ins, sorted by namespace and pod.
func (r *Runtime) Instances() []Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Instance, 0, len(r.instances))
	for _, i := range r.instances {
		out = append(out, Instance{Program: i.Program, Namespace: i.Namespace, Pod: i.Pod, UID: i.UID, Addr: i.Addr, Rule: i.Rule})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Namespace+"/"+out[a].Pod < out[b].Namespace+"/"+out[b].Pod })
	return out
}

// WaitFor blocks until cond holds for the running instances, or ctx ends.
func (r *Runtime) WaitFor(ctx context.Context, cond func([]Instance) bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond(r.Instances()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lab's stand-ins: %w", ctx.Err())
		}
	}
}

// Close stops watching, stops every stand-in and removes its rule.
func (r *Runtime) Close() {
	r.cancel()
	r.queue.ShutDown()
	<-r.done
	r.factory.Shutdown()
	r.mu.Lock()
	all := make(map[string]*Instance, len(r.instances))
	for k, v := range r.instances {
		all[k] = v
	}
	r.mu.Unlock()
	for k, inst := range all {
		r.stop(context.Background(), k, inst)
	}
}
