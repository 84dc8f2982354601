package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// kwokNodeAnnotation marks the nodes kwok fakes (as the doctor checks it):
// their pods never run, so the lab's runtime serves them.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// ErrUnavailable is wrapped when a case needs a part of the install that
// cannot run on this cluster (its image is not there and cannot be pulled);
// the suite skips such a case with the error as its reason.
var ErrUnavailable = errors.New("not available on this cluster")

// hasRealPods reports whether the cluster's pods really run: it has nodes,
// and none of them is kwok's. Then the install runs from its images and no
// lab runtime is started.
func hasRealPods(ctx context.Context, e *Env) (bool, error) {
	nodes, err := e.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("listing nodes to tell kwok's from real ones: %w", err)
	}
	if len(nodes.Items) == 0 {
		return false, nil
	}
	for _, n := range nodes.Items {
		if _, fake := n.Annotations[kwokNodeAnnotation]; fake {
			return false, nil
		}
	}
	return true, nil
}

// installOnNodes applies the install, in the lab's order, and waits until
// KFP's Deployments are Available; the others (the gateway and the login
// stack) too, unless their pods cannot get their image, which leaves them
// unavailable, with the reason, to the cases that need them.
func (e *Env) installOnNodes(ctx context.Context, objs []*unstructured.Unstructured) error {
	if _, err := install.Apply(ctx, e.Config, objs); err != nil {
		return err
	}
	if err := e.injectOnNodes(ctx, objs); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, d := range [][2]string{{KFPNamespace, "ml-pipeline"}, {KFPNamespace, "ml-pipeline-ui"}} {
		if err := e.waitAvailable(ctx, d[0], d[1], false); err != nil {
			return err
		}
	}
	for _, d := range optionalDeployments {
		if !declaresDeployment(objs, d[0], d[1]) {
			continue
		}
		if err := e.waitAvailable(ctx, d[0], d[1], true); err != nil {
			var miss imageMissing
			if !errors.As(err, &miss) {
				return err
			}
			if e.unavailable == nil {
				e.unavailable = map[string]string{}
			}
			e.unavailable[d[0]+"/"+d[1]] = miss.Error()
		}
	}
	return nil
}

func declaresDeployment(objs []*unstructured.Unstructured, ns, name string) bool {
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetNamespace() == ns && o.GetName() == name {
			return true
		}
	}
	return false
}

// imageMissing is a Deployment whose pod waits for an image no registry
// here can give.
type imageMissing struct{ deployment, image, why string }

func (m imageMissing) Error() string {
	return fmt.Sprintf("deployment %s cannot run here: its image %s is not on the node and cannot be pulled (%s); build it into the node's images (internal/images' catalogue)", m.deployment, m.image, m.why)
}

// waitAvailable waits for the Deployment's Available condition with its
// current spec rolled out. With tolerateImage, a pod stuck pulling its
// image ends the wait with an imageMissing instead of a timeout.
func (e *Env) waitAvailable(ctx context.Context, ns, name string, tolerateImage bool) error {
	var last string
	var miss *imageMissing
	err := wait.PollUntilContextCancel(ctx, poll, true, func(ctx context.Context) (bool, error) {
		d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if available(d) {
			return true, nil
		}
		last = "not Available yet"
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return false, err
		}
		pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, nil
		}
		var states []string
		for _, p := range pods.Items {
			for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				w := cs.State.Waiting
				switch {
				case w != nil && tolerateImage && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "ErrImageNeverPull"):
					miss = &imageMissing{deployment: ns + "/" + name, image: cs.Image, why: w.Reason}
					return false, miss
				case w != nil:
					states = append(states, fmt.Sprintf("%s/%s waiting: %s %s", p.Name, cs.Name, w.Reason, w.Message))
				case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
					// an init container that did its work
				case cs.State.Terminated != nil:
					t := cs.State.Terminated
					states = append(states, fmt.Sprintf("%s/%s exited %d: %s %s", p.Name, cs.Name, t.ExitCode, t.Reason, t.Message))
				case !cs.Ready:
					states = append(states, fmt.Sprintf("%s/%s running, not ready (restarts %d)", p.Name, cs.Name, cs.RestartCount))
				}
			}
		}
		if len(states) > 0 {
			sort.Strings(states)
			last = strings.Join(states, "; ")
		}
		return false, nil
	})
	if miss != nil {
		return *miss
	}
	if err != nil {
		return fmt.Errorf("deployment %s/%s did not become Available (last: %s): %w", ns, name, last, err)
	}
	return nil
}

// available is the Deployment controller's verdict on the current spec.
func available(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Unavailable says why case c cannot run on this cluster, or "": a path
// through the gateway or a Dex login needs the gateway and the login stack.
func (e *Env) Unavailable(c scenarios.Case) string {
	if f, ok := e.Scenario.Fault(c.Fault); ok && f.Admission && !e.Admission {
		return "fault " + f.Name + " is in the PodDefault webhook, which runs only where the kube-apiserver calls it (PROVIDER=node); here PodDefaults are applied by the suite, so the fault would change nothing"
	}
	if len(e.unavailable) == 0 {
		return ""
	}
	p, ok := e.Scenario.Path(c.Path)
	if !ok {
		return ""
	}
	throughGateway := p.Login != nil || p.Session != nil ||
		(p.PortForward != nil && p.PortForward.Service == "istio-ingressgateway") ||
		strings.Contains(p.Host, "istio-ingressgateway")
	if !throughGateway {
		return ""
	}
	var why []string
	for _, d := range optionalDeployments {
		if w, ok := e.unavailable[d[0]+"/"+d[1]]; ok {
			why = append(why, w)
		}
	}
	return fmt.Sprintf("path %s goes through the gateway and its login stack: %s", p.Name, strings.Join(why, "; "))
}

// serviceProxy builds the client of kfp.Client() with no host outside a
// pod: the kubeconfig's server and credentials, and the kube-apiserver's
// service proxy to ml-pipeline (the doctor's --sdk-default-host). Only
// where pods are real: on kwok the apiserver would dial a pod IP that is on
// no machine, so the case is refused rather than sent off the machine.
func (e *Env) serviceProxy(p scenarios.Path, cf scenarios.ClientFault, workdir string, cfg *doctorCall, step func(string, ...any)) (func(), error) {
	noop := func() {}
	if !e.RealPods {
		return noop, fmt.Errorf("path %s goes through the kube-apiserver's service proxy, which dials a pod IP: it needs a provider with real pod networking (PROVIDER=node), not kwok", p.Name)
	}
	if cf.ContextNamespace != "" || cf.ContextHeader[0] != "" || cf.Port != 0 || cf.Suffix != "" || cf.NoPrefix {
		return noop, fmt.Errorf("path %s: the client faults that change a host or the SDK's context file do not apply to kfp.Client() with no host", p.Name)
	}
	file := filepath.Join(workdir, "kubeconfig")
	if err := writeKubeconfig(e.Config, file); err != nil {
		return noop, err
	}
	cfg.Kubeconfig, cfg.SDKDefaultHost = file, true
	step("kfp.Client() with no host: the kubeconfig's server + the service proxy to %s/ml-pipeline", KFPNamespace)
	return noop, nil
}

// writeKubeconfig writes cfg as a kubeconfig file (mode 0600: it holds
// credentials), as a user's ~/.kube/config would hold them.
func writeKubeconfig(cfg *rest.Config, file string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify: cfg.Insecure, TLSServerName: cfg.ServerName}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificate: cfg.CertFile, ClientCertificateData: cfg.CertData,
		ClientKey: cfg.KeyFile, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, TokenFile: cfg.BearerTokenFile}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		return fmt.Errorf("writing the client's kubeconfig: %w", err)
	}
	return os.Chmod(file, 0o600)
}

// waitThroughProxy waits, on real pods, until the UI server sees the API
// server as ml-pipeline's state says: kube-proxy programs a Service's
// ClusterIP a moment after its endpoints change, and the UI reaches the API
// server through it (ML_PIPELINE_SERVICE_HOST), as a client pod does. One
// node, one kube-proxy: once the UI's view is right, every pod's is.
func (e *Env) waitThroughProxy(ctx context.Context, ns, name string) error {
	if !e.RealPods || ns != KFPNamespace || (name != "ml-pipeline" && name != "ml-pipeline-ui") {
		return nil
	}
	deps := e.Client.AppsV1().Deployments(KFPNamespace)
	replicas := func(n string) (int32, error) {
		d, err := deps.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		if d.Spec.Replicas == nil {
			return 1, nil
		}
		return *d.Spec.Replicas, nil
	}
	ui, err := replicas("ml-pipeline-ui")
	if apierrors.IsNotFound(err) || (err == nil && ui == 0) {
		return nil // no UI to look through
	}
	if err != nil {
		return err
	}
	api, err := replicas("ml-pipeline")
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := api > 0
	dialer, err := svcdial.New(e.Config, KFPNamespace)
	if err != nil {
		return err
	}
	defer dialer.Close()
	client := &http.Client{Transport: dialer.Transport(), Timeout: 3 * time.Second}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://ml-pipeline-ui."+KFPNamespace+":80/apis/v1beta1/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		var h struct {
			Ready *bool `json:"apiServerReady"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil || h.Ready == nil {
			last = fmt.Sprintf("healthz HTTP %d without apiServerReady", resp.StatusCode)
			return false, nil
		}
		last = fmt.Sprintf("apiServerReady %t", *h.Ready)
		return *h.Ready == want, nil
	})
	if err != nil {
		return fmt.Errorf("the UI server never saw the API server as %s through its Service (want apiServerReady %t; last: %s): %w", name, want, last, err)
	}
	return nil
}

// waitDNS waits, on real pods, until cluster DNS answers for the Service as
// the fault left it: no name once deleted, its new ClusterIP once restored.
// CoreDNS learns of a change through a watch and caches answers; a client
// pod asking in between would see the previous case's world. The question
// goes to a kube-dns pod itself, over TCP through a port-forward, so it sees
// what every pod's resolver sees. No kube-dns pod: nothing to wait for.
func (e *Env) waitDNS(ctx context.Context, ns, name string, present bool) error {
	if !e.RealPods {
		return nil
	}
	want := ""
	if present {
		svc, err := e.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want = svc.Spec.ClusterIP
	}
	pods, err := e.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil || len(pods.Items) == 0 {
		return nil
	}
	dialer, err := svcdial.New(e.Config, "kube-system")
	if err != nil {
		return err
	}
	defer dialer.Close()
	fqdn := fmt.Sprintf("%s.%s.svc.cluster.local.", name, ns)
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for i := range pods.Items {
			p := &pods.Items[i]
			if !podReady(p) {
				continue
			}
			// A stream conn makes Go's resolver speak DNS over TCP.
			r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialPod(ctx, p, 53) }}
			qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			addrs, err := r.LookupHost(qctx, fqdn)
			cancel()
			var dnsErr *net.DNSError
			switch {
			case err == nil && present && slices.Contains(addrs, want):
			case errors.As(err, &dnsErr) && dnsErr.IsNotFound && !present:
			default:
				last = fmt.Sprintf("%s answers %v %v", p.Name, addrs, err)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("cluster DNS never answered for %s as the fault left it (present %t; last: %s): %w", fqdn, present, last, err)
	}
	return nil
}

// kubeProxyMetricsPort is where kube-proxy serves its metrics (the node
// provider binds them to the node IP, so the apiserver's node proxy
// reaches them; elsewhere they are usually on the node's loopback only).
const kubeProxyMetricsPort = "10249"

// waitKubeProxy waits, on real pods, until every node's kube-proxy has no
// Service or endpoint change pending and has synced its rules since since
// (the start of the change) and since the last pod change behind the
// Service's endpoints:
// until then a ClusterIP may still lead to a deleted pod, where a
// connection hangs. Where the metrics cannot be read there is nothing to
// wait on (kube-proxy is then not ours to see).
func (e *Env) waitKubeProxy(ctx context.Context, since time.Time, ns, service string) error {
	if !e.RealPods {
		return nil
	}
	// The endpointslice controller stamps when the pod change behind a
	// slice's update happened: a sync after that has it.
	slices, err := e.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err == nil {
		for _, sl := range slices.Items {
			if t, err := time.Parse(time.RFC3339Nano, sl.Annotations[corev1.EndpointsLastChangeTriggerTime]); err == nil && t.After(since) {
				since = t
			}
		}
	}
	nodes, err := e.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		var last string
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			body, err := e.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name+":"+kubeProxyMetricsPort, "proxy", "metrics").DoRaw(qctx)
			if err != nil {
				return false, errNoProxyMetrics
			}
			m := proxyMetrics(body)
			synced, okSync := m["kubeproxy_sync_proxy_rules_last_timestamp_seconds"]
			pending := m["kubeproxy_sync_proxy_rules_endpoint_changes_pending"] + m["kubeproxy_sync_proxy_rules_service_changes_pending"]
			last = fmt.Sprintf("last sync %.3f, %v pending", synced, pending)
			return okSync && pending == 0 && synced >= float64(since.UnixNano())/1e9, nil
		})
		if errors.Is(err, errNoProxyMetrics) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kube-proxy on %s did not sync the change (%s): %w", n.Name, last, err)
		}
	}
	return nil
}

var errNoProxyMetrics = errors.New("kube-proxy's metrics are not reachable")

// proxyMetrics reads the samples of a Prometheus text page by metric name,
// labels dropped: timestamps (…_seconds) by their latest, counts summed
// (kube-proxy labels some per IP family).
func proxyMetrics(body []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, value := line[:i], line[i+1:]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err != nil {
			continue
		}
		if strings.HasSuffix(name, "_seconds") {
			out[name] = max(out[name], v)
		} else {
			out[name] += v
		}
	}
	return out
}
