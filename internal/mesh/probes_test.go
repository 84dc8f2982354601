package mesh

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The rewrite as Istio documents it ("Health Checking of Istio Services",
// istio.io/latest/docs/ops/configuration/mesh/app-health-check/: the
// liveness probe of container liveness-http becomes a GET of
// /app-health/liveness-http/livez on port 15020, the original in the
// proxy's ISTIO_KUBE_APP_PROBERS).
func TestRewriteProbes(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name:  "liveness-http",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8001}, {Name: "ldap", ContainerPort: 389}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/foo", Port: intstr.FromString("http")}},
			TimeoutSeconds: 3},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("ldap")}}},
		StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
	}}}}
	got := RewriteProbes(pod)
	c := pod.Spec.Containers[0]
	if h := c.LivenessProbe.HTTPGet; h.Path != "/app-health/liveness-http/livez" || h.Port.IntValue() != 15020 || h.Scheme != corev1.URISchemeHTTP {
		t.Errorf("liveness rewritten to %+v", h)
	}
	if r := c.ReadinessProbe; r.TCPSocket != nil || r.HTTPGet.Path != "/app-health/liveness-http/readyz" {
		t.Errorf("TCP readiness rewritten to %+v", r.ProbeHandler)
	}
	if c.StartupProbe.Exec == nil || c.StartupProbe.HTTPGet != nil {
		t.Errorf("an exec probe must stay as written: %+v", c.StartupProbe)
	}
	back, err := ParseAppProbers(got.Env())
	if err != nil {
		t.Fatal(err)
	}
	live := back["/app-health/liveness-http/livez"]
	if live.HTTPGet == nil || live.HTTPGet.Path != "/foo" || live.HTTPGet.Port.IntValue() != 8001 || live.TimeoutSeconds != 3 {
		t.Errorf("original liveness (named port resolved): %+v", live)
	}
	if ready := back["/app-health/liveness-http/readyz"]; ready.TCPSocket == nil || ready.TCPSocket.Port.IntValue() != 389 {
		t.Errorf("original readiness: %+v", ready)
	}
	if len(back) != 2 {
		t.Errorf("probers: %v", back)
	}

	optOut := &corev1.Pod{Spec: *pod.Spec.DeepCopy()}
	optOut.Annotations = map[string]string{RewriteProbesAnnotation: "false"}
	optOut.Spec.Containers[0].LivenessProbe.HTTPGet = &corev1.HTTPGetAction{Path: "/foo", Port: intstr.FromInt(8001)}
	if RewriteProbes(optOut) != nil || optOut.Spec.Containers[0].LivenessProbe.HTTPGet.Path != "/foo" {
		t.Error("a pod annotated rewriteAppHTTPProbers: \"false\" keeps its probes")
	}
	if _, err := ParseAppProbers(`{"/elsewhere":{}}`); err == nil {
		t.Error("a path outside /app-health/ must be refused")
	}
}
