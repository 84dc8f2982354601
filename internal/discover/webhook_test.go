package discover

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// poddefaultWebhook is upstream's configuration (applications/admission-webhook):
// admission-webhook-deployment.kubeflow.org → kubeflow/admission-webhook-service
// /apply-poddefault, failurePolicy Fail. An unrelated webhook comes first.
func poddefaultWebhook(policy admissionv1.FailurePolicyType) *admissionv1.MutatingWebhookConfiguration {
	path, other := PodDefaultPath, "/mutate-pods"
	return &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "admission-webhook-mutating-webhook-configuration"},
		Webhooks: []admissionv1.MutatingWebhook{
			{Name: "inferenceservice.serving.kserve.io", ClientConfig: admissionv1.WebhookClientConfig{
				Service: &admissionv1.ServiceReference{Namespace: "kserve", Name: "kserve-webhook-server-service", Path: &other}}},
			{Name: "admission-webhook-deployment.kubeflow.org", FailurePolicy: &policy, ClientConfig: admissionv1.WebhookClientConfig{
				Service: &admissionv1.ServiceReference{Namespace: "kubeflow", Name: "admission-webhook-service", Path: &path}}},
		},
	}
}

func multiUserWith(objs ...runtime.Object) *fake.Clientset {
	base := []runtime.Object{
		service("kubeflow", UIService), service("kubeflow", APIService),
		slice("kubeflow", UIService, true), slice("kubeflow", APIService, true),
		apiServer("kubeflow", multiUserEnv...), configMap("kubeflow"),
	}
	c := fake.NewClientset(append(base, objs...)...)
	withPodDefaults(c)
	return c
}

func TestFindPodDefaultWebhook(t *testing.T) {
	in := find(t, multiUserWith(poddefaultWebhook(admissionv1.Fail), service("kubeflow", "admission-webhook-service"), slice("kubeflow", "admission-webhook-service", true)), Options{})
	w := in.PodDefaultWebhook
	if !in.WebhookKnown || w == nil {
		t.Fatalf("webhook not found: known %v", in.WebhookKnown)
	}
	if w.Name != "admission-webhook-deployment.kubeflow.org" || w.FailurePolicy != "Fail" || w.Namespace != "kubeflow" ||
		!w.Service.Exists || w.Service.Ready != 1 || w.Problem != "" {
		t.Fatalf("webhook %+v", w)
	}
	if len(in.Problems) != 0 {
		t.Fatalf("problems: %v", in.Problems)
	}
}

func TestFindPodDefaultWebhookWithoutItsService(t *testing.T) {
	in := find(t, multiUserWith(poddefaultWebhook(admissionv1.Fail)), Options{})
	w := in.PodDefaultWebhook
	if w == nil || !w.Service.Missing || w.Service.Exists || !strings.Contains(w.Problem, "no Service admission-webhook-service") {
		t.Fatalf("webhook %+v", w)
	}
	// The webhook's Service is not KFP's: its absence is the probe's to
	// judge, not a problem of the install's discovery.
	if len(in.Problems) != 0 {
		t.Fatalf("problems: %v", in.Problems)
	}
}

func TestFindPodDefaultWebhookRefused(t *testing.T) {
	c := multiUserWith(poddefaultWebhook(admissionv1.Fail))
	forbid(c, "list", "mutatingwebhookconfigurations")
	in := find(t, c, Options{})
	if in.WebhookKnown || in.PodDefaultWebhook != nil || !strings.HasPrefix(in.WebhookProblem, "cannot list mutatingwebhookconfigurations: forbidden") ||
		!hasProblem(in, "cannot list mutatingwebhookconfigurations: forbidden") {
		t.Fatalf("known %v webhook %+v problem %q", in.WebhookKnown, in.PodDefaultWebhook, in.WebhookProblem)
	}
}

func TestStandaloneLooksForNoWebhook(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService), service("kubeflow", APIService), apiServer("kubeflow"), poddefaultWebhook(admissionv1.Fail))
	withPodDefaults(c)
	in := find(t, c, Options{})
	if in.WebhookKnown || in.PodDefaultWebhook != nil {
		t.Fatalf("standalone KFP: the webhook was looked at")
	}
}
