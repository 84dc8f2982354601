package probes

import (
	"context"
	"fmt"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// podDefaultWebhookProbe checks that the apiserver can call Kubeflow's
// PodDefault webhook. With its failurePolicy Fail (Kubeflow's), a webhook
// whose Service is gone or has no ready endpoint refuses every pod in a
// profile namespace: the notebook never starts, which no probe of the
// client itself could see.
func podDefaultWebhookProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:        "poddefault-webhook",
		Title:     "the PodDefault webhook can be called (pods in profile namespaces are admitted)",
		DependsOn: []string{"install"},
		Run: func(_ context.Context, t *Target) probe.Result {
			c := t.Cluster
			if ok, why := c.multiUser(); !ok {
				return probe.Skipped(why)
			}
			in := c.Install
			switch {
			case in.PodDefaultKnown && !in.PodDefaultCRD:
				return probe.Skipped("the cluster serves no PodDefaults")
			case !in.WebhookKnown && in.WebhookProblem != "":
				return probe.Skipped(in.WebhookProblem)
			case in.PodDefaultWebhook == nil:
				if !in.WebhookKnown {
					return probe.Skipped("the webhook configurations were not looked at")
				}
				return probe.Skipped("no PodDefault webhook is configured: PodDefaults are not applied to new pods")
			}
			w := in.PodDefaultWebhook
			where := w.Namespace + "/" + w.Service.Name
			refused := SayWebhookRefuses
			if w.FailurePolicy != "Fail" {
				refused = "new pods in profile namespaces start without their PodDefaults (no KFP token: KFD004)"
			}
			bad := func(format string, args ...any) probe.Result {
				msg := fmt.Sprintf("webhook %s (failurePolicy %s): ", w.Name, w.FailurePolicy) + fmt.Sprintf(format, args...) + ": " + refused
				if w.FailurePolicy != "Fail" {
					return probe.Warned(kfd.NoTokenFile, msg)
				}
				return probe.Failed(kfd.PodDefaultWebhookDown, msg)
			}
			switch {
			case w.Service.Missing:
				return bad("its Service %s does not exist", where)
			case !w.Service.Exists || !w.Service.EndpointsKnown:
				return probe.Skipped("cannot see the webhook's Service " + where + ": " + w.Problem)
			case w.Service.Ready == 0:
				return bad("its Service %s has no ready endpoint (%d not ready)", where, w.Service.NotReady)
			}
			return probe.Passf(fmt.Sprintf("webhook %s → service %s, %d ready", w.Name, where, w.Service.Ready))
		},
	}
}
