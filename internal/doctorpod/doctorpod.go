// Package doctorpod runs kfp-doctor the way a user's workload runs: as a Pod
// (or a Job) of the doctor's image in a namespace, with a ServiceAccount,
// labels (a PodDefault selects on them), env and volumes, and reads its
// -o json report back from the pod's log. The in-cluster paths are then
// checked by a real kubelet, real DNS and kube-proxy, not an emulation.
package doctorpod

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/images"
)

// Container is the name of the doctor's container in the Pod and the Job.
const Container = "doctor"

// Labels every doctor pod carries besides the caller's, so a clean-up or a
// leak check can find what a run made.
const (
	NameLabel      = "app.kubernetes.io/name"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	NameValue      = "kfp-doctor"
	ManagedByValue = "kfp-connect"
)

// The doctor runs as this user and group: an image of one file has no
// /etc/passwd, so a number, the same as distroless's "nonroot".
const nonRootID = 65532

// Spec is one doctor pod.
type Spec struct {
	// Name of the Pod or Job; empty is kfp-doctor-<random>.
	Name string
	// Namespace the doctor runs in (the client's, e.g. a profile
	// namespace); required.
	Namespace string
	// Image is the doctor's image; empty is images.Doctor("") (…:dev, what
	// the node provider and `make images` load).
	Image string
	// PullPolicy: empty is IfNotPresent; Never for images loaded onto the
	// node (ctr import, kind load image-archive), so no registry is asked.
	PullPolicy corev1.PullPolicy
	// ServiceAccount the pod runs as; empty is the namespace's default.
	ServiceAccount string
	// Labels are added to the pod's (and the Job template's), e.g.
	// access-ml-pipeline: "true" for the KFP PodDefault.
	Labels map[string]string
	// Env, Volumes and VolumeMounts of the doctor's container.
	Env          []corev1.EnvVar
	Volumes      []corev1.Volume
	VolumeMounts []corev1.VolumeMount
	// Args are the doctor's flags, e.g. --host http://ml-pipeline-ui.kubeflow.
	// The report is read as JSON: without an -o flag, -o json is added; any
	// other -o is refused.
	Args []string
	// NoServiceAccountToken turns off the ServiceAccount token mount: the
	// doctor then has no cluster credentials, as in a pod with
	// automountServiceAccountToken: false.
	NoServiceAccountToken bool
}

// Pod is the Pod of spec: restartPolicy Never, one container running the
// doctor as a non-root user on a read-only root file system with no
// capabilities, so it is admitted under the "restricted" Pod Security
// Standard that Kubeflow profile namespaces may enforce.
func Pod(spec Spec) (*corev1.Pod, error) {
	s, err := spec.defaults()
	if err != nil {
		return nil, err
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: s.labels()},
		Spec:       s.podSpec(),
	}, nil
}

// Job is a Job of spec's pod, for running the doctor where a user would
// (kubectl apply, then kubectl logs job/…): no retries (a failed diagnosis
// is an answer, not a crash), a deadline, and removed a day after it ends.
func Job(spec Spec) (*batchv1.Job, error) {
	s, err := spec.defaults()
	if err != nil {
		return nil, err
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: s.labels()},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To[int64](300),
			TTLSecondsAfterFinished: ptr.To[int32](86400),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: s.labels()},
				Spec:       s.podSpec(),
			},
		},
	}, nil
}

func (s Spec) defaults() (Spec, error) {
	if s.Namespace == "" {
		return s, errors.New("doctor pod: no namespace given")
	}
	if s.Name == "" {
		var b [3]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		s.Name = "kfp-doctor-" + hex.EncodeToString(b[:])
	}
	if errs := validation.IsDNS1123Subdomain(s.Name); len(errs) > 0 {
		return s, fmt.Errorf("doctor pod name %q: %s", s.Name, strings.Join(errs, "; "))
	}
	if s.Image == "" {
		s.Image = images.Doctor("").Ref
	}
	if s.PullPolicy == "" {
		s.PullPolicy = corev1.PullIfNotPresent
	}
	out, found := outputFlag(s.Args)
	switch {
	case !found:
		s.Args = append(slices.Clip(s.Args), "-o", "json")
	case out != "json":
		return s, fmt.Errorf("doctor pod: args ask for -o %q: the report is read back from the log as JSON, drop the flag or use -o json", out)
	}
	return s, nil
}

func (s Spec) labels() map[string]string {
	l := map[string]string{NameLabel: NameValue, ManagedByLabel: ManagedByValue}
	maps.Copy(l, s.Labels)
	return l
}

func (s Spec) podSpec() corev1.PodSpec {
	ps := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: s.ServiceAccount,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](nonRootID),
			RunAsGroup:     ptr.To[int64](nonRootID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Volumes: slices.Clone(s.Volumes),
		Containers: []corev1.Container{{
			Name:            Container,
			Image:           s.Image,
			ImagePullPolicy: s.PullPolicy,
			Args:            slices.Clone(s.Args),
			Env:             slices.Clone(s.Env),
			VolumeMounts:    slices.Clone(s.VolumeMounts),
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			// A diagnosis is small: bounded so a run cannot starve the node.
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}
	if s.NoServiceAccountToken {
		ps.AutomountServiceAccountToken = ptr.To(false)
	}
	return ps
}

// outputFlag finds the doctor's -o/--output value in args, in the forms
// cobra accepts (-o json, -ojson, -o=json, --output json, --output=json); the
// last one wins, as in cobra.
func outputFlag(args []string) (value string, found bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case a == "-o" || a == "--output":
			if i+1 < len(args) {
				value, found = args[i+1], true
				i++
			}
		case strings.HasPrefix(a, "--output="):
			value, found = strings.TrimPrefix(a, "--output="), true
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			value, found = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "="), true
		}
	}
	return value, found
}
