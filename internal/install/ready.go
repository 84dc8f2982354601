package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// WaitReady polls until every named Deployment in namespace has as many
// Running pods as it asks replicas (at least one). On kwok pods become
// fake-Running once scheduled, so this proves the install's objects let the
// controllers create them: service accounts exist, admission let them in.
// The error says, per Deployment, what was last seen.
func WaitReady(ctx context.Context, cfg *rest.Config, namespace string, deployments ...string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	for _, name := range deployments {
		var last string
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			ok, state, err := deploymentRunning(ctx, cs, namespace, name)
			last = state
			if err != nil {
				last = err.Error()
			}
			return ok, nil
		})
		if err != nil {
			return fmt.Errorf("deployment %s/%s has no Running pods (last seen: %s): %w", namespace, name, last, err)
		}
	}
	return nil
}

// deploymentRunning reports whether the Deployment's Running pods reach its
// replicas, and a one-line state for the error message.
func deploymentRunning(ctx context.Context, cs kubernetes.Interface, namespace, name string) (bool, string, error) {
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", err
	}
	want := int32(1)
	if d.Spec.Replicas != nil && *d.Spec.Replicas > 0 {
		want = *d.Spec.Replicas
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false, "", fmt.Errorf("selector of deployment %s/%s: %w", namespace, name, err)
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return false, "", err
	}
	var running int32
	var states []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
		states = append(states, p.Name+"="+string(p.Status.Phase))
	}
	state := fmt.Sprintf("%d/%d Running, pods [%s]", running, want, strings.Join(states, " "))
	if len(pods.Items) == 0 {
		// No pod at all usually means the ReplicaSet controller was refused:
		// this condition carries the apiserver's reason.
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				state += "; " + c.Message
			}
		}
	}
	return running >= want, state, nil
}

// Unhonoured lists what in namespace did not come up after an install:
// Deployments and StatefulSets short of Running pods, with the reason the
// controllers or the scheduler give, and PersistentVolumeClaims not Bound.
// It polls until every such workload has a stated reason, so a slow
// controller is not reported as a failure; when ctx ends first, what is left
// is reported as "no reason given". On kwok this is what the lab cannot honour
// beyond Apply's Result (volumes with no provisioner, for one): a report, not
// a failure.
func Unhonoured(ctx context.Context, cfg *rest.Config, namespace string) ([]manifests.Note, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	var notes []manifests.Note
	var lastErr error
	_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var settled bool
		notes, settled, lastErr = unhonoured(ctx, cs, namespace)
		return lastErr == nil && settled, nil
	})
	if lastErr != nil {
		return nil, lastErr
	}
	return notes, nil
}

// unhonoured is one look; settled is false while a short workload has no
// reason yet.
func unhonoured(ctx context.Context, cs kubernetes.Interface, namespace string) ([]manifests.Note, bool, error) {
	var notes []manifests.Note
	settled := true
	add := func(ref manifests.Ref, state, reasons string) {
		if reasons == "" {
			settled = false
			reasons = "; no reason given"
		}
		notes = append(notes, manifests.Note{Ref: ref, Reason: state + reasons})
	}
	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("listing deployments in %s: %w", namespace, err)
	}
	for _, d := range deps.Items {
		ok, state, err := deploymentRunning(ctx, cs, namespace, d.Name)
		if err != nil {
			return nil, false, fmt.Errorf("deployment %s/%s: %w", namespace, d.Name, err)
		}
		if !ok {
			reasons := podReasons(ctx, cs, namespace, d.Spec.Selector)
			for _, c := range d.Status.Conditions {
				// Pods the apiserver refused (admission, quota) exist
				// nowhere but in this condition.
				if reasons == "" && c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
					reasons = "; " + c.Message
				}
			}
			add(manifests.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: namespace, Name: d.Name}, state, reasons)
		}
	}
	sts, err := cs.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("listing statefulsets in %s: %w", namespace, err)
	}
	for _, s := range sts.Items {
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		if s.Status.ReadyReplicas < want {
			add(manifests.Ref{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: namespace, Name: s.Name}, fmt.Sprintf("%d/%d ready", s.Status.ReadyReplicas, want),
				podReasons(ctx, cs, namespace, s.Spec.Selector))
		}
	}
	pvcs, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("listing persistent volume claims in %s: %w", namespace, err)
	}
	for _, p := range pvcs.Items {
		if p.Status.Phase != corev1.ClaimBound {
			notes = append(notes, manifests.Note{Ref: manifests.Ref{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: namespace, Name: p.Name},
				Reason: fmt.Sprintf("%s: no volume provisioner or default storage class serves it here", p.Status.Phase)})
		}
	}
	return notes, settled, nil
}

// podReasons is the scheduler's or kubelet's word on pods that do not run.
func podReasons(ctx context.Context, cs kubernetes.Interface, namespace string, selector *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return ""
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return ""
	}
	var reasons []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Status == corev1.ConditionFalse && c.Message != "" {
				reasons = append(reasons, fmt.Sprintf("%s %s: %s", p.Name, c.Type, c.Message))
			}
		}
	}
	if len(reasons) == 0 {
		return ""
	}
	return "; " + strings.Join(reasons, "; ")
}
