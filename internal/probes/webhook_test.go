package probes

import (
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

func TestPodDefaultWebhookProbe(t *testing.T) {
	webhook := func(policy string, svc discover.Service, problem string) *discover.Install {
		in := multiUserInstall()
		in.WebhookKnown = true
		svc.Name = "admission-webhook-service"
		in.PodDefaultWebhook = &discover.Webhook{Configuration: "admission-webhook-mutating-webhook-configuration",
			Name: "admission-webhook-deployment.kubeflow.org", FailurePolicy: policy, Namespace: "kubeflow", Service: svc, Problem: problem}
		return in
	}
	run := func(in *discover.Install) probe.Result {
		return runProbe(t, podDefaultWebhookProbe(), &Target{Cluster: &Cluster{Install: in, MultiUser: in.MultiUser, ModeKnown: in.ModeKnown}})
	}
	ready := discover.Service{Exists: true, EndpointsKnown: true, Ready: 1}
	expect(t, run(webhook("Fail", ready, "")), probe.Pass, "", "admission-webhook-service, 1 ready")
	expect(t, run(webhook("Fail", discover.Service{Missing: true}, "no Service admission-webhook-service in namespace kubeflow")),
		probe.Fail, kfd.PodDefaultWebhookDown, "Service kubeflow/admission-webhook-service does not exist", "every new pod in a profile namespace is refused")
	expect(t, run(webhook("Fail", discover.Service{Exists: true, EndpointsKnown: true, NotReady: 1}, "")),
		probe.Fail, kfd.PodDefaultWebhookDown, "no ready endpoint (1 not ready)")
	// failurePolicy Ignore admits the pod without its PodDefaults: no token.
	expect(t, run(webhook("Ignore", discover.Service{Missing: true}, "")), probe.Warn, kfd.NoTokenFile, "start without their PodDefaults")
	expect(t, run(webhook("Fail", discover.Service{}, "cannot get service kubeflow/admission-webhook-service: forbidden")),
		probe.Skip, "", "cannot get service kubeflow/admission-webhook-service: forbidden")

	none := multiUserInstall()
	none.WebhookKnown = true
	expect(t, run(none), probe.Skip, "", "no PodDefault webhook is configured")
	refused := multiUserInstall()
	refused.WebhookProblem = "cannot list mutatingwebhookconfigurations: forbidden"
	expect(t, run(refused), probe.Skip, "", "cannot list mutatingwebhookconfigurations: forbidden")
	standalone := multiUserInstall()
	standalone.MultiUser = false
	expect(t, run(standalone), probe.Skip, "", "standalone")
}
