package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// Istio's mesh on kwok: the one hook between the pod runner and the mesh.
// The lab serves istiod's injection webhook itself, on this machine's
// loopback (a URL the kube-apiserver, also a local process, dials; never a
// pod's fake IP), so pods are injected as Istio injects them; and for a
// pod carrying the injected proxy it runs the inbound sidecar in front of
// the pod's program, on the pod's port 15006, where the in-cluster dialers
// (svcdial, ThroughSidecars) send what the pod's netfilter would redirect.
// A kubectl port-forward to the pod's own ports still reaches the program
// directly, past the sidecar, as on a real cluster.

// InjectorName is the lab's MutatingWebhookConfiguration.
const InjectorName = "kfp-lab-sidecar-injector"

// isInjectedProxy is the container Istio's injector adds: the proxy image
// run as `proxy sidecar` (the gateway's is `proxy router`, or none).
func isInjectedProxy(c *corev1.Container) bool {
	return c.Name == istiod.ProxyContainer && len(c.Args) > 1 && c.Args[0] == "proxy" && c.Args[1] == "sidecar"
}

// StartInjector serves istiod's injection webhook for the cluster of cfg
// and registers the install's own sidecar injector configuration (objs'
// MutatingWebhookConfiguration labelled app=sidecar-injector, which
// install.Apply leaves out here: its Service's pod is fake) with each
// webhook calling the lab's server instead, so pods are selected as the
// install's webhooks select them. An install without one injects nothing.
// It must run before the pods to inject are created; stop removes the
// registration and the server.
func StartInjector(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) (stop func(), err error) {
	var hooksOf *admissionregistrationv1.MutatingWebhookConfiguration
	sel, _ := labels.Parse(istiod.InjectorSelector)
	for _, o := range objs {
		if o.GetKind() == "MutatingWebhookConfiguration" && sel.Matches(labels.Set(o.GetLabels())) {
			hooksOf = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, hooksOf); err != nil {
				return nil, fmt.Errorf("the install's sidecar injector %s: %w", o.GetName(), err)
			}
			break
		}
	}
	if hooksOf == nil {
		return func() {}, nil
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	certPEM, cert, err := istiod.SelfSigned(InjectorName, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(istiod.InjectPath, &istiod.Injector{Kube: kube})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	url := fmt.Sprintf("https://%s%s", ln.Addr(), istiod.InjectPath)
	conf := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: InjectorName, Labels: map[string]string{"app.kubernetes.io/managed-by": "kfp-connect-lab"},
			Annotations: map[string]string{"kfp-connect.dev/webhooks-of": hooksOf.Name}},
		Webhooks: hooksOf.Webhooks,
	}
	for i := range conf.Webhooks {
		conf.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: certPEM}
	}
	hooks := kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if err := hooks.Delete(ctx, InjectorName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		srv.Close()
		return nil, err
	}
	if _, err := hooks.Create(ctx, conf, metav1.CreateOptions{}); err != nil {
		srv.Close()
		return nil, fmt.Errorf("registering the lab's sidecar injector: %w", err)
	}
	return func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hooks.Delete(dctx, InjectorName, metav1.DeleteOptions{})
		srv.Close()
	}, nil
}

// startSidecar runs the inbound sidecar of an injected pod in front of its
// program (addrs: container port → where the program listens here) and
// adds its own address for the pod's port 15006. stop is nil for a pod
// without the injected proxy.
func (r *Runtime) startSidecar(pod *corev1.Pod, addrs map[int32]string, dialer *svcdial.Dialer) (stop func(), err error) {
	injected := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			injected = injected || isInjectedProxy(&cs[i])
		}
	}
	if !injected {
		return nil, nil
	}
	byPort := map[int]string{}
	for p, a := range addrs {
		byPort[int(p)] = a
	}
	s, err := sidecar.New(sidecar.Options{
		Workload: mesh.Workload{Namespace: pod.Namespace, Labels: pod.Labels},
		Upstream: func(port int) (string, bool) { a, ok := byPort[port]; return a, ok },
		Origin:   sidecar.ProxyProtocol,
		Control:  r.mesh,
		// The proxy reaches JWKS and providers as its pod would.
		Authenticator: &mesh.Authenticator{Client: &http.Client{Transport: dialer.Transport()}},
		ExtAuthz:      dialer.Transport(),
		Log:           r.log.With("sidecar", pod.Namespace+"/"+pod.Name),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx, ln); close(done) }()
	addrs[mesh.InboundPort] = ln.Addr().String()
	// The agent, for the probes the injector rewrote.
	stopAgent := func() {}
	if probers, err := mesh.ParseAppProbers(proxyEnv(pod, mesh.AppProbersEnv)); err == nil && probers != nil {
		agent := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: &sidecar.AppHealth{Probers: probers, Addr: func(port int) string { return byPort[port] }}}
		aln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			<-done
			return nil, err
		}
		go func() { _ = agent.Serve(aln) }()
		addrs[mesh.AgentPort] = aln.Addr().String()
		stopAgent = func() { _ = agent.Close() }
	}
	return func() { cancel(); <-done; stopAgent() }, nil
}

// Mesh is the lab's istiod: what its proxies hold now.
func (r *Runtime) Mesh() *istiod.Control { return r.mesh }

// proxyEnv is the value of the injected proxy's variable name.
func proxyEnv(pod *corev1.Pod, name string) string {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !isInjectedProxy(&cs[i]) {
				continue
			}
			for _, e := range cs[i].Env {
				if e.Name == name {
					return e.Value
				}
			}
		}
	}
	return ""
}
