package env

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
)

const poll = 100 * time.Millisecond

// waitDeployment waits until the Deployment's world is settled: with up, one
// Running pod of its current spec, a stand-in serving it, and a ready
// endpoint in its Service; without, no pod, no stand-in, no ready endpoint.
// A case must never see the previous case's transition.
func (e *Env) waitDeployment(ctx context.Context, ns, name string, up bool) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, poll, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if d.Status.ObservedGeneration < d.Generation {
			last = "rollout not observed yet"
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return false, err
		}
		pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		hash, err := e.currentHash(ctx, d)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		serving := e.serving(ctx, ns, pods.Items)
		want := 0
		if up {
			want = 1
		}
		// Every pod present must be current and served; stale pods must be gone.
		current := 0
		for _, p := range pods.Items {
			if !up || p.DeletionTimestamp != nil || p.Labels["pod-template-hash"] != hash {
				last = fmt.Sprintf("pod %s still present", p.Name)
				return false, nil
			}
			if p.Status.Phase != corev1.PodRunning || !serving[p.Name] {
				last = fmt.Sprintf("pod %s not running or not served yet", p.Name)
				return false, nil
			}
			current++
		}
		if current != want {
			last = fmt.Sprintf("%d current pods, want %d", current, want)
			return false, nil
		}
		// A Service left out of the install (or deleted by a fault) has
		// no endpoints to wait for.
		if _, err := e.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return true, nil
		}
		live, err := e.livePods(ctx, ns)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready, stale, err := e.readyEndpoints(ctx, ns, name, live)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		// The endpoints controller drops a deleted pod's endpoint a moment
		// after the pod is gone: a client dialing the Service then (through
		// svcdial, as the lab's pods do) reaches the dead pod.
		if (ready > 0) != up || stale > 0 {
			last = fmt.Sprintf("service %s has %d ready endpoints, and %d of pods gone or terminating", name, ready, stale)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s did not settle (up=%t): %s: %w", ns, name, up, last, err)
	}
	// The pods' changes, stamped on the Service's endpoint slices, are
	// what kube-proxy must have synced.
	if err := e.waitKubeProxy(ctx, time.Time{}, ns, name); err != nil {
		return err
	}
	return e.waitThroughProxy(ctx, ns, name)
}

// livePods are the names of ns's pods that are not being deleted.
func (e *Env) livePods(ctx context.Context, ns string) (map[string]bool, error) {
	pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live[p.Name] = true
		}
	}
	return live, nil
}

// readyEndpoints counts the Service's ready endpoints: ready, those of a
// pod in live or of no pod; stale, those of a pod not in live (gone, or
// being deleted).
func (e *Env) readyEndpoints(ctx context.Context, ns, service string, live map[string]bool) (ready, stale int, err error) {
	slices, err := e.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: service}.String(),
	})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && !live[ep.TargetRef.Name] {
				stale++
			} else {
				ready++
			}
		}
	}
	return ready, stale, nil
}

// currentHash is the pod-template-hash of the Deployment's current
// ReplicaSet: the one whose revision is the Deployment's, as kubectl finds it.
func (e *Env) currentHash(ctx context.Context, d *appsv1.Deployment) (string, error) {
	const revision = "deployment.kubernetes.io/revision"
	rev, ok := d.Annotations[revision]
	if !ok {
		return "", fmt.Errorf("deployment %s has no revision yet", d.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", err
	}
	rss, err := e.Client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", err
	}
	for _, rs := range rss.Items {
		if rs.Annotations[revision] == rev && metav1.IsControlledBy(&rs, d) {
			return rs.Labels["pod-template-hash"], nil
		}
	}
	return "", fmt.Errorf("no ReplicaSet of revision %s for deployment %s", rev, d.Name)
}

// serving says which pods serve: those the lab runtime runs a stand-in
// for; on real pods, those the kubelet found Ready by their own readiness
// probe; else (a cluster whose runtime is not ours, Attach) those that are
// Ready and answer an HTTP request through a port-forward to their first
// port (every Deployment a fault touches serves HTTP there).
func (e *Env) serving(ctx context.Context, ns string, pods []corev1.Pod) map[string]bool {
	serving := map[string]bool{}
	if e.Runtime != nil {
		for _, i := range e.Runtime.Instances() {
			if i.Namespace == ns {
				serving[i.Pod] = true
			}
		}
		return serving
	}
	d, err := svcdial.New(e.Config, ns)
	if err != nil {
		return serving
	}
	defer d.Close()
	for i := range pods {
		p := &pods[i]
		if !podReady(p) || len(p.Spec.Containers) == 0 || len(p.Spec.Containers[0].Ports) == 0 {
			continue
		}
		if e.RealPods && p.Spec.Containers[0].ReadinessProbe != nil {
			// A real kubelet ran the container's own readiness probe
			// (slapd's is a TCP check: it answers no HTTP request).
			serving[p.Name] = true
			continue
		}
		if answers(ctx, d, p, int(p.Spec.Containers[0].Ports[0].ContainerPort)) {
			serving[p.Name] = true
		}
	}
	return serving
}

// answers reports whether the pod's port answers an HTTP request through a
// port-forward. A connection alone proves nothing: the forward's local end
// accepts before the remote one is known to be there.
func answers(ctx context.Context, d *svcdial.Dialer, p *corev1.Pod, port int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialPod(ctx, p, port)
	if err != nil {
		return false
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("GET / HTTP/1.0\r\nHost: readiness\r\n\r\n")); err != nil {
		return false
	}
	n, _ := conn.Read(make([]byte, 1))
	return n > 0
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
