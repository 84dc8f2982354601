package discover

import (
	"context"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodDefaultPath is the path Kubeflow's PodDefault webhook serves
// (applications/admission-webhook in kubeflow/manifests).
const PodDefaultPath = "/apply-poddefault"

// Webhook is the PodDefault mutating webhook as the apiserver will call it.
type Webhook struct {
	// Configuration and Name are the MutatingWebhookConfiguration and the
	// webhook in it, e.g. admission-webhook-mutating-webhook-configuration
	// and admission-webhook-deployment.kubeflow.org.
	Configuration, Name string
	// FailurePolicy is Fail (Kubeflow's) or Ignore.
	FailurePolicy string
	// Namespace is the Service's namespace; Service its name and endpoints.
	Namespace string
	Service   Service
	// Problem says what of the Service could not be seen ("" when all was).
	Problem string
}

// isPodDefaultWebhook matches Kubeflow's webhook by the path it serves, or
// by its name where a distribution serves it elsewhere.
func isPodDefaultWebhook(w *admissionv1.MutatingWebhook) bool {
	svc := w.ClientConfig.Service
	if svc == nil {
		return false
	}
	if svc.Path != nil && *svc.Path == PodDefaultPath {
		return true
	}
	return strings.HasSuffix(w.Name, ".kubeflow.org") && (strings.Contains(w.Name, "poddefault") || strings.Contains(w.Name, "admission-webhook"))
}

// podDefaultWebhook finds the PodDefault webhook and its Service's
// endpoints: with failurePolicy Fail and the Service gone, no pod starts in
// a profile namespace (KFD055). Three calls, whatever the number of
// profiles.
func (d *finder) podDefaultWebhook(ctx context.Context) {
	cctx, cancel := d.call(ctx)
	list, err := d.client.MutatingWebhookConfigurations().List(cctx, metav1.ListOptions{})
	cancel()
	if err != nil {
		d.in.WebhookProblem = "cannot list mutatingwebhookconfigurations: " + reason(err)
		d.in.problem("%s", d.in.WebhookProblem)
		return
	}
	d.in.WebhookKnown = true
	for _, cfg := range list.Items {
		for i := range cfg.Webhooks {
			w := &cfg.Webhooks[i]
			if !isPodDefaultWebhook(w) {
				continue
			}
			policy := string(admissionv1.Fail) // the API's default
			if w.FailurePolicy != nil {
				policy = string(*w.FailurePolicy)
			}
			svc := w.ClientConfig.Service
			wh := &Webhook{Configuration: cfg.Name, Name: w.Name, FailurePolicy: policy, Namespace: svc.Namespace, Service: Service{Name: svc.Name}}
			wh.Problem = d.lookupService(ctx, svc.Namespace, &wh.Service)
			d.in.PodDefaultWebhook = wh
			return
		}
	}
}
