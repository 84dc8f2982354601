// Package lab is the kwok pod runner: for every Running pod of an image
// the program catalogue knows (internal/programs) in a kwok cluster, where
// nothing runs pods, it runs that pod's program — a stand-in served in this
// process, or a real program as a local process — configured from the pod's
// environment, volumes and identity, and points a kwok ClusterPortForward
// rule at it, so that a port-forward to the pod (kubectl's, client-go's, or
// svcdial's for in-cluster names) reaches it. When the pod goes away its
// program stops; a changed Deployment makes new pods, which get new
// programs. Everything around the programs — objects, Services, endpoints,
// tokens, RBAC decisions — is the real cluster's.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial/view"
	"github.com/kfp-connect/kfp-connect/internal/programs"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
)

// Program is a program the lab can run in place of a container: a stand-in
// served in the lab's process (Handler), or an image run as the pod's
// process (process.go).
type Program struct {
	Name  string
	Match func(image string) bool
	// Handler builds the program's server from what the container would get.
	Handler func(ctx context.Context, in Inputs) (http.Handler, error)
	// Image is the catalogue's program whose image runs as the pod's
	// process when Handler is nil; nil for an image the catalogue lacks,
	// which is Binary alone.
	Image *programs.Program
	// Binary is the user's --program binary, in place of the image's
	// program proper.
	Binary string
	// Tools is the tools cache, where the image's real programs are.
	Tools string
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
	// Mesh is the lab's istiod: the mesh's objects, as Istio's proxies
	// read them.
	Mesh *istiod.Control
}

// Lookup reads Env like os.LookupEnv.
func (in Inputs) Lookup(k string) (string, bool) {
	v, ok := in.Env[k]
	return v, ok
}

// Instance is a running program.
type Instance struct {
	Program   string
	Namespace string
	Pod       string
	UID       types.UID
	Addr      string // where its first port is reached on this machine

	server  *http.Server // a stand-in's
	proc    *proc        // a pod process's
	egress  *egress      // how that process reaches the cluster
	dialer  *svcdial.Dialer
	inbound []net.Listener // the lab's listener of each container port
	pod     *corev1.Pod
	sidecar func() // stops the pod's inbound sidecar, when it has one
}

// Inbound is the one hop every connection to a pod's program takes: kwok's
// port-forward for a pod port reaches the lab's listener of that port,
// which hands the connection to Inbound with dial, the way to the program
// (into the pod's network for a pod process, to the server of a stand-in).
// The default joins the two; a layer in front of the program, such as a
// mesh sidecar's inbound policy, wraps or replaces it (WithInbound).
type Inbound func(ctx context.Context, pod *corev1.Pod, port int32, client net.Conn, dial func(context.Context) (net.Conn, error))

// Option changes how Start runs programs.
type Option func(*Runtime)

// WithInbound puts in in front of every program's ports.
func WithInbound(in Inbound) Option { return func(r *Runtime) { r.inbound = in } }

// join is the default Inbound: the client straight to the program.
func join(ctx context.Context, _ *corev1.Pod, _ int32, client net.Conn, dial func(context.Context) (net.Conn, error)) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	upstream, err := dial(dctx)
	cancel()
	if err != nil {
		return // the client sees the connection close, as a refused port-forward
	}
	defer upstream.Close()
	splice(ctx, client, upstream)
}

// Runtime watches pods and runs stand-ins.
type Runtime struct {
	config   *rest.Config
	client   kubernetes.Interface
	dyn      dynamic.Interface
	programs []Program
	log      *slog.Logger
	mesh     *istiod.Control

	queue    workqueue.TypedRateLimitingInterface[string]
	factory  informers.SharedInformerFactory
	pods     cache.Indexer
	services cache.Indexer
	view     *view.View // the pods' kube-proxy and DNS
	inbound  Inbound
	cancel   context.CancelFunc
	done     chan struct{}

	// conns are pods' processes' connections to other pods, by the UID of
	// the pod they reach (see track).
	connMu sync.Mutex
	conns  map[types.UID]map[net.Conn]bool

	mu        sync.Mutex
	instances map[string]*Instance   // by namespace/name
	exited    map[string]*tailBuffer // logs of stopped processes, by pod
	root      string                 // the processes' directories
	changed   chan struct{}          // closed and replaced on every change
	onClose   []func()               // what Close stops last (the lab's injector)
}

// Start begins watching the cluster of cfg. Close stops every stand-in and
// removes their rules.
func Start(ctx context.Context, cfg *rest.Config, programs []Program, log *slog.Logger, opts ...Option) (*Runtime, error) {
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
	root, err := os.MkdirTemp("", "kfp-lab-programs-")
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{
		root:   root,
		config: cfg, client: client, dyn: dyn, programs: programs, log: log,
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		factory:   informers.NewSharedInformerFactory(client, 0),
		cancel:    cancel,
		done:      make(chan struct{}),
		instances: map[string]*Instance{},
		exited:    map[string]*tailBuffer{},
		changed:   make(chan struct{}),
		inbound:   join,
	}
	for _, o := range opts {
		o(r)
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
		_ = os.RemoveAll(root)
		return nil, err
	}
	r.pods = podInformer.GetIndexer()
	// Pods' processes reach Services by their cluster IPs and names: a new
	// Service's port is listened on in each pod's network.
	svcInformer := r.factory.Core().V1().Services().Informer()
	if _, err := svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { r.servicesChanged() }, UpdateFunc: func(_, _ any) { r.servicesChanged() },
	}); err != nil {
		cancel()
		_ = os.RemoveAll(root)
		return nil, err
	}
	r.services = svcInformer.GetIndexer()
	if r.view, err = view.New(rctx, cfg, r.factory); err != nil {
		cancel()
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("watching the cluster's Services and endpoints: %w", err)
	}
	if r.mesh, err = istiod.Start(rctx, client, dyn); err != nil {
		cancel()
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("reading the mesh's objects: %w", err)
	}
	r.factory.Start(rctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced, svcInformer.HasSynced, r.view.HasSynced) {
		cancel()
		r.factory.Shutdown()
		_ = os.RemoveAll(root)
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
		if isInjectedProxy(&pod.Spec.Containers[i]) {
			continue // the sidecar is the mesh's, in front of the program (mesh.go)
		}
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
	exited := false
	if inst != nil && inst.proc != nil {
		exited, _ = inst.proc.Exited()
	}
	if inst != nil && (!wanted || inst.UID != pod.UID || exited) {
		r.stop(ctx, key, inst)
		inst = nil
	}
	if !wanted || inst != nil {
		return nil
	}
	return r.start(ctx, key, pod, prog, container)
}

func (r *Runtime) start(ctx context.Context, key string, pod *corev1.Pod, prog *Program, c *corev1.Container) error {
	if len(c.Ports) == 0 {
		return fmt.Errorf("container %s of %s declares no port to forward", c.Name, key)
	}
	dialer, err := r.view.Dialer(pod.Namespace)
	if err != nil {
		return err
	}
	// The program's calls are its pod's: through other pods' sidecars, from
	// its address.
	dialer.ThroughSidecars = true
	dialer.Source, _ = netip.ParseAddr(pod.Status.PodIP)
	inst := &Instance{
		Program: prog.Name, Namespace: pod.Namespace, Pod: pod.Name, UID: pod.UID,
		dialer: dialer, pod: pod,
	}
	var dial func(ctx context.Context, port int32) (net.Conn, error)
	if prog.Handler == nil {
		if err := r.startProcess(ctx, inst, pod, prog, c); err != nil {
			dialer.Close()
			return fmt.Errorf("running %s for %s: %w", prog.Name, key, err)
		}
		dial = func(ctx context.Context, port int32) (net.Conn, error) { return inst.proc.sb.Dial(ctx, int(port)) }
	} else {
		addr, err := r.serveStandin(ctx, inst, pod, prog, c)
		if err != nil {
			dialer.Close()
			return err
		}
		// A stand-in serves every port of its container.
		dial = func(ctx context.Context, _ int32) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	addrs, err := r.listenInbound(inst, c, dial)
	if err != nil {
		r.release(inst)
		return err
	}
	inst.Addr = addrs[c.Ports[0].ContainerPort]
	if inst.sidecar, err = r.startSidecar(pod, addrs, dialer); err != nil {
		r.release(inst)
		return fmt.Errorf("the inbound sidecar of %s: %w", key, err)
	}
	if err := r.applyRule(ctx, inst, addrs); err != nil {
		r.release(inst)
		return err
	}
	// Only a program reachable through a port-forward counts as running:
	// kwok picks up a new rule a moment after it is created.
	if err := waitReady(ctx, dialer, pod, c, inst.proc); err != nil {
		r.stop(ctx, key, inst)
		return fmt.Errorf("%s for %s not ready through a port-forward: %w%s", prog.Name, key, err, logNote(inst.proc))
	}
	if inst.proc != nil {
		go r.watchExit(key, inst)
	}
	r.mu.Lock()
	r.instances[key] = inst
	r.notifyLocked()
	r.mu.Unlock()
	r.log.Info("started program", "program", prog.Name, "pod", key, "addr", inst.Addr)
	return nil
}

// serveStandin serves a stand-in in this process, on a loopback port, and
// returns its address.
func (r *Runtime) serveStandin(ctx context.Context, inst *Instance, pod *corev1.Pod, prog *Program, c *corev1.Container) (string, error) {
	key := pod.Namespace + "/" + pod.Name
	identity, err := r.podIdentity(ctx, pod, "", 24*3600)
	if err != nil {
		return "", err
	}
	env, err := podenv.ContainerEnv(ctx, fromclientset.Wrap(r.client), pod, c)
	if err != nil {
		return "", err
	}
	handler, err := prog.Handler(ctx, Inputs{Pod: pod, Container: c, Env: env, Identity: bearerConfig(r.config, identity), Dialer: inst.dialer, Mesh: r.mesh})
	if err != nil {
		return "", fmt.Errorf("configuring %s for %s: %w", prog.Name, key, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	inst.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.server.Serve(ln) }()
	return ln.Addr().String(), nil
}

// listenInbound opens the lab's listener of each container port, on
// loopback, each connection passed to the program through r.inbound, and
// returns their addresses by container port.
func (r *Runtime) listenInbound(inst *Instance, c *corev1.Container, dial func(context.Context, int32) (net.Conn, error)) (map[int32]string, error) {
	addrs := map[int32]string{}
	for _, p := range c.Ports {
		if _, dup := addrs[p.ContainerPort]; dup {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		inst.inbound = append(inst.inbound, ln)
		addrs[p.ContainerPort] = ln.Addr().String()
		port := p.ContainerPort
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer conn.Close()
					r.inbound(context.Background(), inst.pod, port, conn, func(ctx context.Context) (net.Conn, error) { return dial(ctx, port) })
				}()
			}
		}()
	}
	return addrs, nil
}

// watchExit requeues the pod when its process ends on its own, so it is
// started again with the queue's backoff (the kubelet restarts a container
// that exits, with CrashLoopBackOff).
func (r *Runtime) watchExit(key string, inst *Instance) {
	<-inst.proc.sb.Done()
	r.mu.Lock()
	current := r.instances[key] == inst
	r.mu.Unlock()
	if current {
		r.log.Warn("program exited; restarting", "program", inst.Program, "pod", key, "exit", inst.proc.sb.Exited(), "log", inst.proc.log.Tail(10))
		r.queue.AddRateLimited(key)
	}
}

func (r *Runtime) stop(ctx context.Context, key string, inst *Instance) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rule := kwokrule.Name(inst.UID)
	if err := r.dyn.Resource(kwokrule.Resource).Delete(sctx, rule, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.log.Warn("removing port-forward rule", "rule", rule, "err", err)
	}
	// Out of the table first: a process that exits because it is being
	// stopped is not one to restart.
	r.mu.Lock()
	if r.instances[key] == inst {
		delete(r.instances, key)
	}
	r.mu.Unlock()
	r.release(inst)
	r.closePod(inst.UID)
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
	r.log.Info("stopped program", "program", inst.Program, "pod", key)
}

// release stops what an instance runs: its server or process, then the
// forwards that served it.
func (r *Runtime) release(inst *Instance) {
	if inst.sidecar != nil {
		inst.sidecar()
	}
	if inst.server != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = inst.server.Shutdown(sctx)
		cancel()
	}
	for _, ln := range inst.inbound {
		ln.Close()
	}
	if inst.proc != nil {
		inst.proc.stop()
		r.mu.Lock()
		r.exited[inst.Namespace+"/"+inst.Pod] = inst.proc.log
		r.mu.Unlock()
	}
	if inst.egress != nil {
		inst.egress.close()
	}
	inst.dialer.Close()
}

// applyRule forwards each container port of the pod to its local address.
func (r *Runtime) applyRule(ctx context.Context, inst *Instance, addrs map[int32]string) error {
	rule, err := kwokrule.New(inst.Namespace, inst.Pod, inst.UID, addrs)
	if err != nil {
		return err
	}
	_, err = r.dyn.Resource(kwokrule.Resource).Create(ctx, rule, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = r.dyn.Resource(kwokrule.Resource).Delete(ctx, rule.GetName(), metav1.DeleteOptions{})
		if err == nil {
			_, err = r.dyn.Resource(kwokrule.Resource).Create(ctx, rule, metav1.CreateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("creating port-forward rule for %s/%s: %w", inst.Namespace, inst.Pod, err)
	}
	return nil
}

// podIdentity mints what the kubelet would mount for the pod's
// ServiceAccount: a token bound to the pod, so it dies with it, for the
// audience given ("" is the API server's own).
func (r *Runtime) podIdentity(ctx context.Context, pod *corev1.Pod, audience string, seconds int64) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	spec := authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}
	if audience != "" {
		spec.Audiences = []string{audience}
	}
	tr, err := r.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting a token for %s/%s (pod %s): %w", pod.Namespace, sa, pod.Name, err)
	}
	return tr.Status.Token, nil
}

// bearerConfig is a client config acting with token alone.
func bearerConfig(base *rest.Config, token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(base)
	cfg.BearerToken = token
	cfg.Timeout = 10 * time.Second
	return cfg
}

// waitReady polls the pod through a port-forward until its program is
// ready: the container's HTTP readiness probe when it declares one (2xx or
// 3xx, as the kubelet judges it), else any HTTP answer on its first port. A
// process that exits meanwhile ends the wait.
func waitReady(ctx context.Context, d *svcdial.Dialer, pod *corev1.Pod, c *corev1.Container, proc *proc) error {
	port, path, strict := int(c.Ports[0].ContainerPort), "/apis/v1beta1/healthz", false
	if proc != nil && (c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil) {
		// A real program without an HTTP probe (an LDAP server): ready once
		// it accepts connections, as a tcpSocket probe judges it.
		return waitListening(ctx, proc, c.Ports[0].ContainerPort)
	}
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil {
		path, strict = rp.HTTPGet.Path, true
		if p := rp.HTTPGet.Port; p.IntValue() != 0 {
			port = p.IntValue()
		} else {
			for _, cp := range c.Ports {
				if cp.Name == p.String() {
					port = int(cp.ContainerPort)
				}
			}
		}
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialPod(ctx, pod, port) },
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if proc != nil {
			if done, err := proc.Exited(); done {
				return false, fmt.Errorf("%w (%v)", errExited, err)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://pod"+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		resp.Body.Close()
		last = fmt.Sprintf("GET %s: HTTP %d", path, resp.StatusCode)
		return !strict || (resp.StatusCode >= 200 && resp.StatusCode < 400), nil
	})
	if err != nil && last != "" && !errors.Is(err, errExited) {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return err
}

// waitListening polls until the process accepts connections on port.
func waitListening(ctx context.Context, proc *proc, port int32) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if done, err := proc.Exited(); done {
			return false, fmt.Errorf("%w (%v)", errExited, err)
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := proc.sb.Dial(dctx, int(port))
		cancel()
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
}

// logNote is a process's log tail for an error message.
func logNote(p *proc) string {
	if p == nil {
		return ""
	}
	return logNoteOf(p.log.Tail(20))
}

func logNoteOf(tail string) string {
	if tail == "" {
		return ""
	}
	return "\n--- its log, last lines ---\n" + tail
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogTails is the end of every program process's log, running or stopped,
// each under a header: what a failed spec shows next to the cluster's logs.
func (r *Runtime) LogTails(n int) string {
	r.mu.Lock()
	logs := map[string]*tailBuffer{}
	for k, v := range r.exited {
		logs[k+" (stopped)"] = v
	}
	for k, inst := range r.instances {
		if inst.proc != nil {
			logs[k] = inst.proc.log
		}
	}
	r.mu.Unlock()
	keys := make([]string, 0, len(logs))
	for k := range logs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", k, logs[k].Tail(n))
	}
	return b.String()
}

func (r *Runtime) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Dir is where the runtime keeps its processes' files.
func (r *Runtime) Dir() string { return r.root }

// Instances lists the running stand-ins, sorted by namespace and pod.
func (r *Runtime) Instances() []Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Instance, 0, len(r.instances))
	for _, i := range r.instances {
		out = append(out, Instance{Program: i.Program, Namespace: i.Namespace, Pod: i.Pod, UID: i.UID, Addr: i.Addr})
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

// WaitServed blocks until the lab runs the program of every Running pod of
// the Deployment namespace/name whose image it has a program for, and at
// least one such pod is served: a Deployment is ready here once its pods'
// programs answer, whatever those programs are called (a --program binary
// is named after its file).
func (r *Runtime) WaitServed(ctx context.Context, namespace, name string) error {
	d, err := r.client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("waiting for deployment %s/%s: %w", namespace, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("selector of deployment %s/%s: %w", namespace, name, err)
	}
	served := func() bool {
		running := map[types.UID]bool{}
		for _, inst := range r.Instances() {
			running[inst.UID] = true
		}
		pods, err := r.pods.ByIndex(cache.NamespaceIndex, namespace)
		if err != nil {
			return false
		}
		n := 0
		for _, obj := range pods {
			pod := obj.(*corev1.Pod)
			if !sel.Matches(labels.Set(pod.Labels)) || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
				continue
			}
			if prog, _ := r.program(pod); prog == nil {
				continue
			}
			if !running[pod.UID] {
				return false
			}
			n++
		}
		return n > 0
	}
	// Programs starting notify; pods changing do not, so look again now and
	// then too.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if served() {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the programs of deployment %s/%s: %w", namespace, name, ctx.Err())
		}
	}
}

// View is how the lab's pods see the cluster's Services and endpoints, as
// kube-proxy and DNS show them: its dialers reach Services as those pods
// do, and its Synced waits until a change the API server holds is what
// they see (after a fault, before a case dials through it).
func (r *Runtime) View() *view.View { return r.view }

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
	_ = os.RemoveAll(r.root)
	for _, f := range r.onClose {
		f()
	}
}

// servicesChanged listens on new Service ports in every pod's network.
func (r *Runtime) servicesChanged() {
	r.mu.Lock()
	var egs []*egress
	for _, inst := range r.instances {
		if inst.egress != nil {
			egs = append(egs, inst.egress)
		}
	}
	r.mu.Unlock()
	if len(egs) == 0 {
		return
	}
	ports := r.servicePorts()
	for _, e := range egs {
		go e.addPorts(ports)
	}
}

// stopGrace is how long a pod's process has to stop after SIGTERM.
const stopGrace = 5 * time.Second
