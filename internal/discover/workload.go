package discover

import (
	"context"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
)

// ServiceOf reads a cluster DNS name as a pod's resolver would: <svc>,
// <svc>.<ns>, or <svc>.<ns>.svc[.<cluster domain>]; a single label is in
// podNamespace. ok is false for anything else (an IP address, an outside
// host).
func ServiceOf(host, podNamespace string) (svc, ns string, ok bool) {
	if host == "" || net.ParseIP(host) != nil || host == "localhost" {
		return "", "", false
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	switch {
	case len(labels) == 1 && podNamespace != "":
		return labels[0], podNamespace, true
	case len(labels) == 2, len(labels) >= 3 && labels[2] == "svc":
		return labels[0], labels[1], true
	}
	return "", "", false
}

// Workload is the pods behind a Service port, as a sidecar in front of
// them sees a request: their labels (what policies select) and the
// container port the request arrives on.
type Workload struct {
	Namespace, Service string
	// Labels are a ready endpoint pod's labels, or the Service's selector
	// when no pod could be read (a subset of every backing pod's labels).
	Labels map[string]string
	// Port is the target (container) port of the Service port asked for.
	Port int
	// Pod is the endpoint pod read, nil when none could be.
	Pod *corev1.Pod
	// Problems say what could not be seen.
	Problems []string
}

// HasSidecar reports whether Istio's injector put its proxy in the pod:
// the istio-proxy container (or native sidecar init container), or the
// injector's status annotation.
func HasSidecar(p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	if _, ok := p.Annotations["sidecar.istio.io/status"]; ok {
		return true
	}
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == "istio-proxy" {
				return true
			}
		}
	}
	return false
}

// FindWorkload resolves Service ns/svc at port (0: its only or first port)
// to the pods behind it: the Service (get), its EndpointSlices (list) and a
// ready endpoint's pod (get) — reads the doctor's ClusterRole allows.
func FindWorkload(ctx context.Context, kube kubeapi.Interface, ns, svc string, port int) (*Workload, error) {
	w := &Workload{Namespace: ns, Service: svc}
	s, err := kube.Services(ns).Get(ctx, svc, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot get service %s/%s: %s", ns, svc, reason(err))
	}
	w.Labels = s.Spec.Selector
	var sp *corev1.ServicePort
	for i := range s.Spec.Ports {
		if p := &s.Spec.Ports[i]; int(p.Port) == port || sp == nil {
			sp = p
			if int(p.Port) == port {
				break
			}
		}
	}
	if sp == nil {
		return nil, fmt.Errorf("service %s/%s has no ports", ns, svc)
	}
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal != 0 {
		w.Port = int(target.IntVal)
	} else if target.Type == intstr.Int {
		w.Port = int(sp.Port)
	}
	slices, err := kube.EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("cannot list endpointslices in %s: %s", ns, reason(err)))
	}
	var podName string
	if slices != nil {
	pods:
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
					podName = ep.TargetRef.Name
					break pods
				}
			}
		}
	}
	if podName == "" {
		w.Problems = append(w.Problems, fmt.Sprintf("no ready endpoint of %s/%s to read: judging by the Service's selector", ns, svc))
	} else if pod, err := kube.Pods(ns).Get(ctx, podName, metav1.GetOptions{}); err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("cannot get pod %s/%s: %s", ns, podName, reason(err)))
	} else {
		w.Pod, w.Labels = pod, pod.Labels
		if target.Type == intstr.String {
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == target.StrVal {
						w.Port = int(cp.ContainerPort)
					}
				}
			}
		}
	}
	if w.Port == 0 {
		w.Port = int(sp.Port)
		w.Problems = append(w.Problems, fmt.Sprintf("named target port %q of %s/%s not resolved: assuming %d", target.StrVal, ns, svc, w.Port))
	}
	return w, nil
}
