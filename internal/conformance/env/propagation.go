package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// hasRealPods reports whether the cluster's pods really run: it has nodes,
// and none of them is kwok's. Then the install runs from its images and no
// lab runtime is started.
func hasRealPods(ctx context.Context, cs kubernetes.Interface) (bool, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("listing nodes to tell kwok's from real ones: %w", err)
	}
	return discover.RealPods(nodes.Items), nil
}

// waitThroughProxy waits, on real pods, until the UI server sees the API
// server as ml-pipeline's state says: kube-proxy programs a Service's
// ClusterIP a moment after its endpoints change, and the UI reaches the API
// server through it (ML_PIPELINE_SERVICE_HOST), as a client pod does. One
// node, one kube-proxy: once the UI's view is right, every pod's is. A lab
// another process runs (an existing kwok lab) is waited for the same way:
// its programs' view of the endpoints is watch-fed too; the suite's own
// lab is waited for at once (labSynced).
func (e *Env) waitThroughProxy(ctx context.Context, ns, name string) error {
	if (!e.RealPods && e.Runtime != nil) || ns != kubeflow.Namespace || (name != "ml-pipeline" && name != "ml-pipeline-ui") {
		return nil
	}
	deps := e.Client.AppsV1().Deployments(kubeflow.Namespace)
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
	dialer, err := svcdial.New(e.Config, kubeflow.Namespace)
	if err != nil {
		return err
	}
	defer dialer.Close()
	client := &http.Client{Transport: dialer.Transport(), Timeout: 3 * time.Second}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://ml-pipeline-ui."+kubeflow.Namespace+":80/apis/v1beta1/healthz", nil)
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
