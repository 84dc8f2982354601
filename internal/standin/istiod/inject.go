package istiod

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/kube/admission"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/poddefault"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// Sidecar injection, as istiod's injector does it: which pods get Istio's
// proxy, and the pod they become. The proxy image is Istio's proxyv2 (the
// lab runs its stand-in for it), started the way the injector starts it:
// `istio-iptables …` in the init container that redirects the pod's inbound
// traffic to port 15006 inside the pod's own network namespace, and
// `proxy sidecar …` as a native sidecar beside the pod's containers.

// Istio's names for injection.
const (
	InjectLabel      = "istio-injection"         // on a namespace: enabled or disabled
	InjectOverride   = "sidecar.istio.io/inject" // on a pod, label (or legacy annotation): "true" or "false"
	StatusAnnotation = "sidecar.istio.io/status"
	RevLabel         = "istio.io/rev" // on a namespace or pod: the control plane revision to inject
	Revision         = "default"      // the one revision installed
	ProxyContainer   = "istio-proxy"
	InitContainer    = "istio-init"
	ProxyImage       = "docker.io/istio/proxyv2:1.26.0"
	// InjectPath is where istiod serves its injection webhook.
	InjectPath = "/inject"
)

// Wants reports whether Istio's injector puts its proxy in pod, created in
// namespace ns (Istio's webhooks, namespace.sidecar-injector.istio.io,
// object.sidecar-injector.istio.io and their rev. forms): in a namespace
// labelled istio-injection=enabled, or (without that label) istio.io/rev
// naming the default revision, unless the pod opts out with
// sidecar.istio.io/inject "false"; in a namespace with neither label only a
// pod that opts in with "true" or istio.io/rev=default; never in a
// namespace labelled disabled, a host-network pod, or a pod already
// injected.
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
	injection, labelled := ns.Labels[InjectLabel]
	switch {
	case labelled:
		return injection == "enabled"
	case ns.Labels[RevLabel] != "":
		return ns.Labels[RevLabel] == Revision
	}
	return opt == "true" || pod.Labels[RevLabel] == Revision
}

// Inject turns pod into the pod the injector makes of it, its proxy
// running image ("" is ProxyImage).
func Inject(pod *corev1.Pod, image string) {
	if image == "" {
		image = ProxyImage
	}
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
		Name: InitContainer, Image: image,
		Args: []string{"istio-iptables", "-p", "15001", "-z", fmt.Sprint(sidecar.InboundPort), "-u", "1337", "-m", "REDIRECT",
			"-i", "*", "-x", "", "-b", "*", "-d", strings.Join(excluded, ",")},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &root, RunAsNonRoot: &no, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}}},
	}
	proxy := corev1.Container{
		Name: ProxyContainer, Image: image,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"},
		Env: []corev1.EnvVar{fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("INSTANCE_IP", "status.podIP"), fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName")},
		Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(sidecar.HealthPort)}},
			PeriodSeconds: 2, FailureThreshold: 30},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	// The kubelet's probes go to the agent, which probes the program past
	// the redirect (mesh.RewriteProbes).
	if probers := mesh.RewriteProbes(pod); probers != nil {
		proxy.Env = append(proxy.Env, corev1.EnvVar{Name: mesh.AppProbersEnv, Value: probers.Env()})
	}
	// The proxy is a native sidecar (an init container that keeps running,
	// Istio's ENABLE_NATIVE_SIDECARS): it starts before the pod's
	// containers and does not keep a Job's pod from completing.
	always := corev1.ContainerRestartPolicyAlways
	proxy.RestartPolicy = &always
	pod.Spec.InitContainers = append([]corev1.Container{initC, proxy}, pod.Spec.InitContainers...)
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
	// ProxyImage is the proxy's image; nil is ProxyImage.
	ProxyImage func(context.Context) string
}

func (in *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	review, ok := admission.Read(w, r)
	if !ok {
		return
	}
	admission.Answer(w, review, in.review(r.Context(), review.Request))
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
	image := ""
	if in.ProxyImage != nil {
		image = in.ProxyImage(ctx)
	}
	Inject(&pod, image)
	patch, err := poddefault.Patch(orig, &pod)
	if err != nil {
		return allowed
	}
	pt := admissionv1.PatchTypeJSONPatch
	allowed.Patch, allowed.PatchType = patch, &pt
	return allowed
}

// proxyImage is the proxy image the install's injector configuration
// names: the ConfigMap istio-sidecar-injector's values, global.hub,
// global.proxy.image and global.tag, as its template composes them
// ("{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}").
// Without it, ProxyImage.
func proxyImage(ctx context.Context, kube kubernetes.Interface, namespace string) string {
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "istio-sidecar-injector", metav1.GetOptions{})
	if err != nil {
		return ProxyImage
	}
	return ProxyImageOf(cm.Data["values"])
}

// ProxyImageOf reads the proxy image from the injector's values.
func ProxyImageOf(values string) string {
	var v struct {
		Global struct {
			Hub   string `json:"hub"`
			Tag   any    `json:"tag"`
			Proxy struct {
				Image string `json:"image"`
			} `json:"proxy"`
		} `json:"global"`
	}
	if json.Unmarshal([]byte(values), &v) != nil {
		return ProxyImage
	}
	g := v.Global
	tag := fmt.Sprint(g.Tag)
	if g.Hub == "" || g.Proxy.Image == "" || g.Tag == nil || tag == "" {
		return ProxyImage
	}
	if strings.Contains(g.Proxy.Image, "/") {
		return g.Proxy.Image // a full reference, as the template allows
	}
	return g.Hub + "/" + g.Proxy.Image + ":" + tag
}
