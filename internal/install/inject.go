package install

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
)

// injectOnNodes turns on Istio's sidecar injection where pods really run:
// once istiod serves, it applies the install's injector configuration
// (which install.Apply leaves out, as its caBundle is istiod's to fill),
// waits until the apiserver injects a pod through it, and restarts the
// Deployments created before, as Istio's docs ask of workloads in a
// namespace whose injection was just enabled ("kubectl rollout restart").
// An install without istiod changes nothing.
func injectOnNodes(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, hooks []*unstructured.Unstructured, objs []*unstructured.Unstructured) error {
	if len(hooks) == 0 || !Declares(objs, kubeflow.GatewayNamespace, "istiod") {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := WaitAvailable(wctx, cs, kubeflow.GatewayNamespace, "istiod", false); err != nil {
		return err
	}
	if err := applyAll(wctx, cfg, hooks); err != nil {
		return fmt.Errorf("applying Istio's sidecar injector: %w", err)
	}
	if err := waitInjection(wctx, cs); err != nil {
		return err
	}
	return restartInjected(wctx, cs)
}

// waitInjection waits until a pod of the kubeflow namespace, created as a
// server-side dry run, comes back injected: the apiserver reaches istiod
// through its Service with the caBundle istiod wrote.
func waitInjection(ctx context.Context, cs kubernetes.Interface) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "injection-check-", Namespace: kubeflow.Namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kfpc.local/none"}}},
	}
	var last error
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err
			return false, nil
		}
		if got.Annotations[istiod.StatusAnnotation] == "" {
			last = fmt.Errorf("the pod was admitted without the sidecar")
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for istiod's injection webhook to be called by the apiserver: %w (last: %v)", err, last)
	}
	return nil
}

// restartInjected restarts every Deployment whose pods the injector now
// wants and that run without the proxy.
func restartInjected(ctx context.Context, cs kubernetes.Interface) error {
	deps, err := cs.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	nss := map[string]*corev1.Namespace{}
	for _, d := range deps.Items {
		ns, ok := nss[d.Namespace]
		if !ok {
			if ns, err = cs.CoreV1().Namespaces().Get(ctx, d.Namespace, metav1.GetOptions{}); err != nil {
				return err
			}
			nss[d.Namespace] = ns
		}
		tmpl := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
		if !istiod.Wants(ns, tmpl) {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}}}}})
		if _, err := cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("restarting deployment %s/%s into the mesh: %w", d.Namespace, d.Name, err)
		}
	}
	return nil
}

// injectorHooks splits objs into Istio's injector webhooks and the rest:
// the webhooks are applied once istiod serves (injectOnNodes).
func injectorHooks(objs []*unstructured.Unstructured) (hooks, rest []*unstructured.Unstructured) {
	sel, _ := labels.Parse(istiod.InjectorSelector)
	for _, o := range objs {
		if o.GetKind() == "MutatingWebhookConfiguration" && sel.Matches(labels.Set(o.GetLabels())) {
			hooks = append(hooks, o)
		} else {
			rest = append(rest, o)
		}
	}
	return hooks, rest
}
