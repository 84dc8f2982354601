package install

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// OptionalDeployments are the multi-user install's gateway and login
// stack: a cluster that cannot run one (its image is not there) still runs
// KFP, and what goes through the gateway is unavailable there.
var OptionalDeployments = [][2]string{
	{kubeflow.GatewayNamespace, kubeflow.Gateway}, {kubeflow.AuthNamespace, "openldap"},
	{kubeflow.AuthNamespace, kubeflow.Dex}, {kubeflow.OAuth2ProxyNamespace, kubeflow.OAuth2Proxy},
	{kubeflow.GatewayNamespace, "cluster-jwks-proxy"},
}

// OnRealPods applies objs to a cluster whose pods really run (a node
// cluster, kind) and waits until KFP's Deployments are Available with their
// current spec; the optional ones (OptionalDeployments) too, unless their
// pods cannot get their image, which leaves them in unavailable (namespace/
// name → why) instead of failing the install. Images the nodes carry are
// used as loaded (loadedImages).
func OnRealPods(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) (unavailable map[string]string, err error) {
	objs = loadedImages(objs)
	// Istio's injector calls istiod, which must serve first.
	hooks, first := injectorHooks(objs)
	if _, err := manifests.Apply(ctx, cfg, first, manifests.Options{}); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := injectOnNodes(ctx, cfg, cs, hooks, objs); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, d := range []string{kubeflow.APIServer, kubeflow.UIServer} {
		if err := WaitAvailable(ctx, cs, kubeflow.Namespace, d, false); err != nil {
			return nil, err
		}
	}
	unavailable = map[string]string{}
	for _, d := range OptionalDeployments {
		if !Declares(objs, d[0], d[1]) {
			continue
		}
		if err := WaitAvailable(ctx, cs, d[0], d[1], true); err != nil {
			var miss ImageMissing
			if !errors.As(err, &miss) {
				return nil, err
			}
			unavailable[d[0]+"/"+d[1]] = miss.Error()
		}
	}
	if err := waitSettled(ctx, cs); err != nil {
		return nil, err
	}
	return unavailable, nil
}

// waitSettled waits until the rollouts are over: no Available Deployment
// still has a pod of an older ReplicaSet, and no pod is terminating. A
// Deployment restarted into the mesh (injectOnNodes) is Available as soon
// as its new pods are, while its old ones are still scaled down and shut
// down; a lab called ready then would lose pods under its user's feet (a
// conformance run's before-and-after of the cluster saw them go).
func waitSettled(ctx context.Context, cs kubernetes.Interface) error {
	var last []string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = nil
		deps, err := cs.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = []string{err.Error()}
			return false, nil
		}
		for _, d := range deps.Items {
			if Available(&d) && d.Status.Replicas > d.Status.UpdatedReplicas {
				last = append(last, fmt.Sprintf("deployment %s/%s has %d old pod(s)", d.Namespace, d.Name, d.Status.Replicas-d.Status.UpdatedReplicas))
			}
		}
		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = append(last, err.Error())
			return false, nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				last = append(last, fmt.Sprintf("pod %s/%s terminating", p.Namespace, p.Name))
			}
		}
		return len(last) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the rollouts to finish: %w (still: %s)", err, strings.Join(last, ", "))
	}
	return nil
}

// Declares reports whether objs hold the Deployment namespace/name.
func Declares(objs []*unstructured.Unstructured, namespace, name string) bool {
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetNamespace() == namespace && o.GetName() == name {
			return true
		}
	}
	return false
}

// ImageMissing is a Deployment whose pod waits for an image no registry
// here can give.
type ImageMissing struct{ Deployment, Image, Why string }

func (m ImageMissing) Error() string {
	return fmt.Sprintf("deployment %s cannot run here: its image %s is not on the node and cannot be pulled (%s); build it into the node's images (internal/images' catalogue)", m.Deployment, m.Image, m.Why)
}

// WaitAvailable waits for the Deployment's Available condition with its
// current spec rolled out. With tolerateImage, a pod stuck pulling its
// image ends the wait with an ImageMissing instead of a timeout.
func WaitAvailable(ctx context.Context, cs kubernetes.Interface, ns, name string, tolerateImage bool) error {
	var last string
	var miss *ImageMissing
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if Available(d) {
			return true, nil
		}
		last = "not Available yet"
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return false, err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, nil
		}
		var states []string
		for _, p := range pods.Items {
			for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				w := c.State.Waiting
				switch {
				case w != nil && tolerateImage && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "ErrImageNeverPull"):
					miss = &ImageMissing{Deployment: ns + "/" + name, Image: c.Image, Why: w.Reason}
					return false, miss
				case w != nil:
					states = append(states, fmt.Sprintf("%s/%s waiting: %s %s", p.Name, c.Name, w.Reason, w.Message))
				case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
					// an init container that did its work
				case c.State.Terminated != nil:
					t := c.State.Terminated
					states = append(states, fmt.Sprintf("%s/%s exited %d: %s %s", p.Name, c.Name, t.ExitCode, t.Reason, t.Message))
				case !c.Ready:
					states = append(states, fmt.Sprintf("%s/%s running, not ready (restarts %d)", p.Name, c.Name, c.RestartCount))
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

// Available is the Deployment controller's verdict on the current spec.
func Available(d *appsv1.Deployment) bool {
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

// Issuer stands in for cert-manager where a cluster has none: it turns
// Certificates into the Secrets cert-manager would write and fills the
// caBundles its cainjector would (NewIssuer).
type Issuer func([]*unstructured.Unstructured) ([]*unstructured.Unstructured, error)

// PodDefaultWebhookObjects are Kubeflow's own PodDefault webhook manifests
// (kubeflow/manifests applications/admission-webhook, the cert-manager
// overlay, from ../shared/upstream); ErrNoUpstream when there is no copy.
func PodDefaultWebhookObjects() ([]*unstructured.Unstructured, error) {
	shared, ok := FindShared()
	if !ok {
		return nil, ErrNoUpstream
	}
	return Kustomize(filepath.Join(shared, "kubeflow-manifests", "applications", "admission-webhook", "upstream", "overlays", "cert-manager"))
}

// PodDefaultWebhook installs the PodDefault webhook on a multi-user install
// whose pods really run, with the certificates issue writes, and waits until
// the real kube-apiserver applies PodDefaults through it (WaitPodDefaults).
// Where it cannot — no upstream copy — it says why and changes nothing.
func PodDefaultWebhook(ctx context.Context, cfg *rest.Config, issue Issuer) (why string, err error) {
	objs, err := PodDefaultWebhookObjects()
	if errors.Is(err, ErrNoUpstream) {
		return "the upstream manifests are absent (" + ErrNoUpstream.Error() + ")", nil
	}
	if err != nil {
		return "", err
	}
	if objs, err = issue(objs); err != nil {
		return "", fmt.Errorf("issuing the webhook's certificate: %w", err)
	}
	var workload, hooks []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition": // the install's PodDefault CRD is there
		case "MutatingWebhookConfiguration":
			hooks = append(hooks, o)
		default:
			workload = append(workload, o)
		}
	}
	if err := manifests.ApplyAll(ctx, cfg, workload); err != nil {
		return "", fmt.Errorf("applying the PodDefault webhook: %w", err)
	}
	if err := WaitReady(ctx, cfg, kubeflow.Namespace, kubeflow.PodDefaultWebhookDeployment); err != nil {
		return "", err
	}
	// The configuration last: with failurePolicy Fail it refuses every pod
	// in a profile namespace until its server answers.
	if err := manifests.ApplyAll(ctx, cfg, hooks); err != nil {
		return "", fmt.Errorf("applying the webhook configuration: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	return "", WaitPodDefaults(ctx, cs)
}

// WaitPodDefaults waits until a labelled pod, created as a server-side dry
// run in the example profile (admission runs, nothing is stored), comes
// back with the PodDefault's annotation: the apiserver reaches the webhook
// through its Service.
func WaitPodDefaults(ctx context.Context, cs kubernetes.Interface) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-check-", Namespace: kubeflow.ExampleProfile, Labels: map[string]string{kubeflow.AccessLabel: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kfpc.local/none"}}},
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err
			return false, nil
		}
		for k := range got.Annotations {
			if strings.HasPrefix(k, "poddefault.admission.kubeflow.org/") {
				return true, nil
			}
		}
		last = fmt.Errorf("the pod was admitted without its PodDefault")
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the PodDefault webhook to be called by the apiserver: %w (last: %v)", err, last)
	}
	return nil
}

// applyAll applies objs as they are.
func applyAll(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	_, err := manifests.Apply(ctx, cfg, objs, manifests.Options{})
	return err
}
