package client

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kfp-connect/kfp-connect/scenarios"
)

var podDefaults = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"}

// podDefaultSpec is the part of a PodDefault the admission webhook merges.
type podDefaultSpec struct {
	Selector     metav1.LabelSelector `json:"selector"`
	Env          []corev1.EnvVar      `json:"env"`
	Volumes      []corev1.Volume      `json:"volumes"`
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
}

// applyPodDefaults does what Kubeflow's admission webhook does at pod
// creation, where no webhook runs: merge the env, volumes and mounts of
// every PodDefault of the namespace whose selector matches the pod's labels.
func applyPodDefaults(ctx context.Context, dyn dynamic.Interface, pod *corev1.Pod) ([]string, error) {
	list, err := dyn.Resource(podDefaults).Namespace(pod.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil // no PodDefault CRD: standalone KFP
	}
	if err != nil {
		return nil, fmt.Errorf("listing PodDefaults: %w", err)
	}
	var applied []string
	for _, item := range list.Items {
		var pd struct {
			Spec podDefaultSpec `json:"spec"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &pd); err != nil {
			return nil, fmt.Errorf("PodDefault %s: %w", item.GetName(), err)
		}
		sel, err := metav1.LabelSelectorAsSelector(&pd.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("PodDefault %s: %w", item.GetName(), err)
		}
		if sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c := &pod.Spec.Containers[0]
		c.Env = append(c.Env, pd.Spec.Env...)
		c.VolumeMounts = append(c.VolumeMounts, pd.Spec.VolumeMounts...)
		pod.Spec.Volumes = append(pod.Spec.Volumes, pd.Spec.Volumes...)
		applied = append(applied, item.GetName())
	}
	return applied, nil
}

// podOf is the client's pod as the user wrote it: namespace,
// ServiceAccount, labels, env and the token volume declared on it, its
// container container running image.
func podOf(spec *scenarios.Pod, container, image string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: spec.Namespace, Labels: spec.Labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: spec.ServiceAccount,
			Containers:         []corev1.Container{{Name: container, Image: image}},
		},
	}
	for k, v := range spec.Env {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: k, Value: v})
	}
	if v := spec.Volume; v != nil {
		expiry := v.ExpirationSeconds
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "kfp-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: v.Audience, ExpirationSeconds: &expiry}}},
		}}})
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "kfp-token", MountPath: v.MountDir, ReadOnly: true})
	}
	return pod
}

func volumeNamed(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// tokenProjection is the ServiceAccount token a volume projects, or nil.
func tokenProjection(vol *corev1.Volume) *corev1.ServiceAccountTokenProjection {
	if vol == nil || vol.Projected == nil {
		return nil
	}
	for _, src := range vol.Projected.Sources {
		if src.ServiceAccountToken != nil {
			return src.ServiceAccountToken
		}
	}
	return nil
}
