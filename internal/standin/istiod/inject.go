package istiod

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/standin/poddefault"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// Sidecar injection, as istiod's injector does it: which pods get Istio's
// proxy, and the pod they become. The proxy image is Istio's proxyv2 (the
// lab runs its stand-in for it), started the way the injector starts it:
// `istio-iptables …` in the init container that redirects the pod's inbound
// traffic to port 15006 inside the pod's own network namespace, and
// `proxy sidecar …` beside the pod's containers.

// Istio's names for injection.
const (
	InjectLabel      = "istio-injection"         // on a namespace: enabled or disabled
	InjectOverride   = "sidecar.istio.io/inject" // on a pod, label (or legacy annotation): "true" or "false"
	StatusAnnotation = "sidecar.istio.io/status"
	ProxyContainer   = "istio-proxy"
	InitContainer    = "istio-init"
	ProxyImage       = "docker.io/istio/proxyv2:1.26.0"
	// InjectPath is where istiod serves its injection webhook.
	InjectPath = "/inject"
)

// Wants reports whether Istio's injector puts its proxy in pod, created in
// namespace ns (Istio's two webhooks, namespace.sidecar-injector.istio.io
// and object.sidecar-injector.istio.io): in a namespace labelled
// istio-injection=enabled unless the pod opts out with
// sidecar.istio.io/inject "false"; elsewhere (no such label on the
// namespace) only a pod that opts in with "true"; never in a namespace
// labelled disabled, a host-network pod, or a pod already injected.
func Wants(ns *corev1.Namespace, pod *corev1.Pod) bool {
	if pod.Spec.HostNetwork || pod.Annotations[StatusAnnotation] != "" {
		return false
	}
	opt := pod.Labels[InjectOverride]
	if opt == "" {
		opt = pod.Annotations[InjectOverride]
	}
	if opt == "false" {
		return false
	}
	switch ns.Labels[InjectLabel] {
	case "enabled":
		return true
	case "disabled":
		return false
	}
	return opt == "true"
}

// Inject turns pod into the pod the injector makes of it.
func Inject(pod *corev1.Pod) {
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	uid, root := int64(1337), int64(0)
	no, yes := false, true
	excluded := make([]string, 0, len(sidecar.ExcludedPorts))
	for _, p := range sidecar.ExcludedPorts {
		excluded = append(excluded, fmt.Sprint(p))
	}
	initC := corev1.Container{
		Name: InitContainer, Image: ProxyImage,
		Args: []string{"istio-iptables", "-p", "15001", "-z", fmt.Sprint(sidecar.InboundPort), "-u", "1337", "-m", "REDIRECT",
			"-i", "*", "-x", "", "-b", "*", "-d", strings.Join(excluded, ",")},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &root, RunAsNonRoot: &no, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}}},
	}
	proxy := corev1.Container{
		Name: ProxyContainer, Image: ProxyImage,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"},
		Env: []corev1.EnvVar{fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("INSTANCE_IP", "status.podIP"), fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName")},
		Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(sidecar.HealthPort)}},
			PeriodSeconds: 2, FailureThreshold: 30},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	pod.Spec.InitContainers = append([]corev1.Container{initC}, pod.Spec.InitContainers...)
	pod.Spec.Containers = append(pod.Spec.Containers, proxy)
	status, _ := json.Marshal(map[string]any{"initContainers": []string{InitContainer}, "containers": []string{ProxyContainer}, "revision": "default"})
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[StatusAnnotation] = string(status)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels["security.istio.io/tlsMode"] = "istio"
}

// Injector serves istiod's injection webhook: pods in, JSON patches out.
type Injector struct {
	// Kube reads the pod's namespace (its istio-injection label).
	Kube kubernetes.Interface
}

const maxReview = 4 << 20

func (in *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method != http.MethodPost || ct != "application/json" {
		http.Error(w, "POST an AdmissionReview as application/json", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReview))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	resp := in.review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// review never refuses a pod: like istiod's, a pod it cannot read goes on
// as it is (the webhook's failurePolicy decides only when it cannot be
// called at all).
func (in *Injector) review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allowed := &admissionv1.AdmissionResponse{Allowed: true}
	var pod corev1.Pod
	if req.Kind.Kind != "Pod" || json.Unmarshal(req.Object.Raw, &pod) != nil {
		return allowed
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	ns, err := in.Kube.CoreV1().Namespaces().Get(ctx, pod.Namespace, metav1.GetOptions{})
	if err != nil || !Wants(ns, &pod) {
		return allowed
	}
	orig := pod.DeepCopy()
	Inject(&pod)
	patch, err := poddefault.Patch(orig, &pod)
	if err != nil {
		return allowed
	}
	pt := admissionv1.PatchTypeJSONPatch
	allowed.Patch, allowed.PatchType = patch, &pt
	return allowed
}
