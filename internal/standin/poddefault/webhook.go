package poddefault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kfp-connect/kfp-connect/internal/kube/admission"
)

// Path is where upstream's MutatingWebhookConfiguration sends pods.
const Path = "/apply-poddefault"

// GVR is the PodDefault resource.
var GVR = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"}

var podsGVR = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Handler serves AdmissionReviews at Path. Upstream's configuration lists
// admissionReviewVersions [v1beta1, v1], so the apiserver may send either;
// both have the same JSON shape and the reply echoes the request's version.
type Handler struct {
	PodDefaults Lister
	// Log receives one line per decision (names only, never env values,
	// which may be secrets); nil logs nothing.
	Log *log.Logger
	// Timeout bounds listing PodDefaults; zero is 10 s, within the
	// apiserver's default webhook timeout.
	Timeout time.Duration
}

func (h *Handler) logf(format string, args ...any) {
	if h.Log != nil {
		h.Log.Printf(format, args...)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	review, ok := admission.Read(w, r)
	if !ok {
		return
	}
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// Which version the apiserver chose from the configuration's list.
	h.logf("%s %s %s", review.APIVersion, review.Request.Operation, review.Request.Resource.Resource)
	admission.Answer(w, review, h.Review(ctx, review.Request))
}

// deny is upstream's refusal: not allowed, the reason as the message.
func deny(err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: err.Error()}}
}

// Review decides one request: allowed unchanged, allowed with a JSON patch,
// or refused (a conflict, an unreadable pod, PodDefaults that cannot be
// listed), as upstream does.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allowed := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Resource != podsGVR {
		// Upstream answers nothing here; the configuration only sends pods.
		return allowed
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(fmt.Errorf("decoding the pod: %w", err))
	}
	if pod.Namespace == "" {
		// A pod created without metadata.namespace: the request has it.
		pod.Namespace = req.Namespace
	}
	if Excluded(&pod) {
		h.logf("pod %s/%s: excluded", pod.Namespace, podName(&pod))
		return allowed
	}
	list, err := h.PodDefaults.List(ctx, pod.Namespace)
	if err != nil {
		h.logf("pod %s/%s: listing PodDefaults: %v", pod.Namespace, podName(&pod), err)
		return deny(err)
	}
	pds, err := Matching(list, &pod)
	if err != nil {
		return deny(err)
	}
	if len(pds) == 0 {
		h.logf("pod %s/%s: no matching PodDefault among %d", pod.Namespace, podName(&pod), len(list))
		return allowed
	}
	orig := pod.DeepCopy()
	if err := Apply(&pod, pds); err != nil {
		h.logf("pod %s/%s: refused: %v", pod.Namespace, podName(&pod), err)
		return deny(err)
	}
	patch, err := Patch(orig, &pod)
	if err != nil {
		return deny(err)
	}
	names := make([]string, len(pds))
	for i, pd := range pds {
		names[i] = pd.Name
	}
	h.logf("pod %s/%s: applied %v", pod.Namespace, podName(&pod), names)
	pt := admissionv1.PatchTypeJSONPatch
	allowed.Patch, allowed.PatchType = patch, &pt
	return allowed
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch is a JSON patch turning orig into mutated, one "add" per field
// Apply may change (add replaces a member that exists). Only those fields
// are compared: Apply touches nothing else.
func Patch(orig, mutated *corev1.Pod) ([]byte, error) {
	type field struct {
		path     string
		from, to any
	}
	fields := []field{
		{"/metadata/labels", orig.Labels, mutated.Labels},
		{"/metadata/annotations", orig.Annotations, mutated.Annotations},
		{"/spec/volumes", orig.Spec.Volumes, mutated.Spec.Volumes},
		{"/spec/tolerations", orig.Spec.Tolerations, mutated.Spec.Tolerations},
		{"/spec/imagePullSecrets", orig.Spec.ImagePullSecrets, mutated.Spec.ImagePullSecrets},
		{"/spec/serviceAccountName", orig.Spec.ServiceAccountName, mutated.Spec.ServiceAccountName},
		{"/spec/automountServiceAccountToken", orig.Spec.AutomountServiceAccountToken, mutated.Spec.AutomountServiceAccountToken},
		{"/spec/initContainers", orig.Spec.InitContainers, mutated.Spec.InitContainers},
		{"/spec/containers", orig.Spec.Containers, mutated.Spec.Containers},
	}
	ops := []patchOp{}
	for _, f := range fields {
		a, err := json.Marshal(f.from)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(f.to)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(a, b) {
			continue
		}
		// Apply only adds, so a field never goes from set to unset.
		ops = append(ops, patchOp{Op: "add", Path: f.path, Value: json.RawMessage(b)})
	}
	return json.Marshal(ops)
}

// DynamicLister lists PodDefaults through the apiserver.
type DynamicLister struct{ Client dynamic.Interface }

// List implements Lister.
func (l DynamicLister) List(ctx context.Context, namespace string) ([]PodDefault, error) {
	ul, err := l.Client.Resource(GVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %v", ErrNoCRD, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listing PodDefaults in %s: %w", namespace, err)
	}
	out := make([]PodDefault, 0, len(ul.Items))
	for _, u := range ul.Items {
		var pd PodDefault
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pd); err != nil {
			return nil, fmt.Errorf("PodDefault %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		out = append(out, pd)
	}
	return out, nil
}

// ListerFunc adapts a function to Lister.
type ListerFunc func(ctx context.Context, namespace string) ([]PodDefault, error)

// List implements Lister.
func (f ListerFunc) List(ctx context.Context, namespace string) ([]PodDefault, error) {
	return f(ctx, namespace)
}
