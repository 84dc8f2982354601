// Package poddefault is our PodDefault mutating admission webhook: Kubeflow's
// contract (kubeflow/dashboard components/poddefaults-webhooks, formerly
// kubeflow/kubeflow components/admission-webhook), so the upstream
// admission-webhook manifests run it unchanged. For a pod being created it
// takes the PodDefaults of the pod's namespace whose spec.selector matches the
// pod's labels and merges into the pod their volumes, tolerations,
// imagePullSecrets, labels, annotations, serviceAccountName,
// automountServiceAccountToken, init containers and sidecars, and into each
// container their env, envFrom, volumeMounts, command and args. Like
// upstream it refuses the pod when a merge conflicts (the same name, key or
// mount path with a different value), and marks each PodDefault applied with
// the annotation poddefault.admission.kubeflow.org/poddefault-<name> set to
// its resourceVersion.
package poddefault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// AnnotationPrefix is upstream's: <prefix>/poddefault-<name> records an
// applied PodDefault, <prefix>/exclude: "true" opts a pod out.
const AnnotationPrefix = "poddefault.admission.kubeflow.org"

// istioProxy is the sidecar whose command and args a PodDefault never sets.
const istioProxy = "istio-proxy"

// PodDefault is kubeflow.org/v1alpha1 PodDefault, the fields the webhook reads.
type PodDefault struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              Spec `json:"spec,omitempty"`
}

// Spec is PodDefault's spec as the upstream CRD (v1.10) declares it.
type Spec struct {
	Selector                     metav1.LabelSelector          `json:"selector"`
	Desc                         string                        `json:"desc,omitempty"`
	ServiceAccountName           string                        `json:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken *bool                         `json:"automountServiceAccountToken,omitempty"`
	Env                          []corev1.EnvVar               `json:"env,omitempty"`
	EnvFrom                      []corev1.EnvFromSource        `json:"envFrom,omitempty"`
	Volumes                      []corev1.Volume               `json:"volumes,omitempty"`
	VolumeMounts                 []corev1.VolumeMount          `json:"volumeMounts,omitempty"`
	Annotations                  map[string]string             `json:"annotations,omitempty"`
	Labels                       map[string]string             `json:"labels,omitempty"`
	Tolerations                  []corev1.Toleration           `json:"tolerations,omitempty"`
	ImagePullSecrets             []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	InitContainers               []corev1.Container            `json:"initContainers,omitempty"`
	Sidecars                     []corev1.Container            `json:"sidecars,omitempty"`
	Command                      []string                      `json:"command,omitempty"`
	Args                         []string                      `json:"args,omitempty"`
}

// Excluded says whether upstream leaves pod alone whatever PodDefaults
// exist: the exclude annotation, or a mirror pod (the kubelet's static pods).
func Excluded(pod *corev1.Pod) bool {
	if pod.Annotations[AnnotationPrefix+"/exclude"] == "true" {
		return true
	}
	_, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return mirror
}

// Matching returns the PodDefaults of list that apply to pod: in its
// namespace, with a selector matching its labels. An invalid selector is an
// error, as upstream makes it (the pod is refused).
func Matching(list []PodDefault, pod *corev1.Pod) ([]PodDefault, error) {
	var out []PodDefault
	for _, pd := range list {
		sel, err := metav1.LabelSelectorAsSelector(&pd.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("PodDefault %s/%s: invalid selector: %w", pd.Namespace, pd.Name, err)
		}
		if pd.Namespace != pod.Namespace || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pd)
	}
	return out, nil
}

// ConflictError is a merge conflict: upstream refuses the pod with it.
type ConflictError struct {
	PodDefaults []string // the matching PodDefaults' names
	Pod         string
	Conflicts   []string // one line per conflict
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict occurred while applying poddefaults: %s on pod: %s err: %s",
		strings.Join(e.PodDefaults, ","), e.Pod, strings.Join(e.Conflicts, "; "))
}

// Apply merges pds into pod in place, or, on any conflict, leaves pod
// unchanged and returns a *ConflictError listing every conflict.
// Containers get env, envFrom, volumeMounts, command and args; init
// containers and the sidecars a PodDefault adds get none of them, as upstream.
func Apply(pod *corev1.Pod, pds []PodDefault) error {
	if len(pds) == 0 {
		return nil
	}
	m := merger{}
	out := pod.DeepCopy()
	out.Spec.Volumes = mergeByKey(&m, "volume", out.Spec.Volumes, pds,
		func(s *Spec) []corev1.Volume { return s.Volumes }, func(v corev1.Volume) string { return v.Name })
	out.Spec.Tolerations = mergeByKey(&m, "toleration", out.Spec.Tolerations, pds,
		func(s *Spec) []corev1.Toleration { return s.Tolerations }, func(t corev1.Toleration) string { return t.Key })
	out.Spec.ImagePullSecrets = mergeByKey(&m, "imagePullSecret", out.Spec.ImagePullSecrets, pds,
		func(s *Spec) []corev1.LocalObjectReference { return s.ImagePullSecrets },
		func(r corev1.LocalObjectReference) string { return r.Name })
	out.Annotations = mergeMap(&m, "annotation", out.Annotations, pds, func(s *Spec) map[string]string { return s.Annotations })
	out.Labels = mergeMap(&m, "label", out.Labels, pds, func(s *Spec) map[string]string { return s.Labels })
	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		m.where = "container " + c.Name + ": "
		c.Env = mergeByKey(&m, "env", c.Env, pds, func(s *Spec) []corev1.EnvVar { return s.Env }, func(e corev1.EnvVar) string { return e.Name })
		c.VolumeMounts = mergeMounts(&m, c.VolumeMounts, pds)
		for _, pd := range pds {
			c.EnvFrom = append(c.EnvFrom, pd.Spec.EnvFrom...)
			if c.Name == istioProxy {
				continue
			}
			// The first PodDefault with one wins; a container's own is kept.
			if c.Command == nil && pd.Spec.Command != nil {
				c.Command = slices.Clone(pd.Spec.Command)
			}
			if c.Args == nil && pd.Spec.Args != nil {
				c.Args = slices.Clone(pd.Spec.Args)
			}
		}
	}
	m.where = ""
	out.Spec.InitContainers = mergeByKey(&m, "init container", out.Spec.InitContainers, pds,
		func(s *Spec) []corev1.Container { return s.InitContainers }, func(c corev1.Container) string { return c.Name })
	// Sidecars are checked against the pod's own containers and join after
	// those were merged into, so they get no env; comparing them with the
	// merged containers would call an identical one a conflict.
	withSidecars := mergeByKey(&m, "container", pod.Spec.Containers, pds,
		func(s *Spec) []corev1.Container { return s.Sidecars }, func(c corev1.Container) string { return c.Name })
	out.Spec.Containers = append(out.Spec.Containers, withSidecars[len(pod.Spec.Containers):]...)
	if len(m.conflicts) > 0 {
		names := make([]string, len(pds))
		for i, pd := range pds {
			names[i] = pd.Name
		}
		return &ConflictError{PodDefaults: names, Pod: podName(pod), Conflicts: m.conflicts}
	}
	for _, pd := range pds {
		// Later PodDefaults win, as upstream's loop lets them.
		if pd.Spec.AutomountServiceAccountToken != nil {
			v := *pd.Spec.AutomountServiceAccountToken
			out.Spec.AutomountServiceAccountToken = &v
		}
		if pd.Spec.ServiceAccountName != "" {
			out.Spec.ServiceAccountName = pd.Spec.ServiceAccountName
		}
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	for _, pd := range pds {
		out.Annotations[AnnotationPrefix+"/poddefault-"+pd.Name] = pd.ResourceVersion
	}
	*pod = *out
	return nil
}

// podName is the pod's name, or its generateName prefix before the
// apiserver has named it (pods of a Deployment).
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}

// merger collects conflicts across every field, so the refusal names all.
type merger struct {
	where     string
	conflicts []string
}

func (m *merger) conflict(pd, what, key string) {
	m.conflicts = append(m.conflicts, fmt.Sprintf("%sPodDefault %s: %s %q differs from the one already set", m.where, pd, what, key))
}

// mergeByKey appends each PodDefault's items whose key is new; an item
// whose key is already there must be equal (semantically, as the apiserver
// compares quantities), else it is a conflict.
func mergeByKey[T any](m *merger, what string, have []T, pds []PodDefault, items func(*Spec) []T, key func(T) string) []T {
	seen := map[string]T{}
	for _, x := range have {
		seen[key(x)] = x
	}
	out := slices.Clone(have)
	for i := range pds {
		for _, x := range items(&pds[i].Spec) {
			k := key(x)
			if prev, ok := seen[k]; ok {
				if !equality.Semantic.DeepEqual(prev, x) {
					m.conflict(pds[i].Name, what, k)
				}
				continue
			}
			seen[k] = x
			out = append(out, x)
		}
	}
	return out
}

// mergeMounts is mergeByKey on the mount's name and, separately, on its
// path: two different mounts at one path conflict too.
func mergeMounts(m *merger, have []corev1.VolumeMount, pds []PodDefault) []corev1.VolumeMount {
	byName, byPath := map[string]corev1.VolumeMount{}, map[string]corev1.VolumeMount{}
	for _, v := range have {
		byName[v.Name], byPath[v.MountPath] = v, v
	}
	out := slices.Clone(have)
	for _, pd := range pds {
		for _, v := range pd.Spec.VolumeMounts {
			prev, named := byName[v.Name]
			if named && !equality.Semantic.DeepEqual(prev, v) {
				m.conflict(pd.Name, "volumeMount", v.Name)
			}
			if prev, ok := byPath[v.MountPath]; ok && !equality.Semantic.DeepEqual(prev, v) {
				m.conflict(pd.Name, "volumeMount path", v.MountPath)
			}
			if !named {
				byName[v.Name] = v
				out = append(out, v)
			}
			if _, ok := byPath[v.MountPath]; !ok {
				byPath[v.MountPath] = v
			}
		}
	}
	return out
}

func mergeMap(m *merger, what string, have map[string]string, pds []PodDefault, items func(*Spec) map[string]string) map[string]string {
	var out map[string]string
	if have != nil {
		out = maps.Clone(have)
	}
	for i := range pds {
		add := items(&pds[i].Spec)
		for _, k := range slices.Sorted(maps.Keys(add)) {
			v := add[k]
			if prev, ok := out[k]; ok {
				if prev != v {
					m.conflict(pds[i].Name, what, k)
				}
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// Lister lists the PodDefaults of a namespace.
type Lister interface {
	List(ctx context.Context, namespace string) ([]PodDefault, error)
}

// ErrNoCRD is wrapped when the cluster does not serve PodDefaults.
var ErrNoCRD = errors.New("the cluster does not serve kubeflow.org/v1alpha1 poddefaults (has the PodDefault CRD been applied?)")
