package probes

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

func healthzProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    "healthz",
		Title: "reach KFP: GET /apis/v2beta1/healthz, as kfp.Client() does first",
		Run: func(ctx context.Context, t *Target) probe.Result {
			h, reply, err := t.Client.Healthz(ctx, kfp.V2beta1)
			if h == nil {
				return healthzFailure(ctx, t, reply, err)
			}
			t.setHealth(h)
			res := describeHealth(h)
			res.Evidence = evidence(reply)
			return res
		},
	}
}

func healthzFailure(ctx context.Context, t *Target, reply *kfp.Reply, err error) probe.Result {
	d, hint := t.attributeMesh(ctx, kfp.Classify(reply, err), reply, err)
	// A 404 on v2beta1 may be a KFP 1.x backend: ask v1beta1 before calling
	// it a wrong path.
	if err == nil && reply != nil && reply.StatusCode == http.StatusNotFound {
		if h1, _, err1 := t.Client.Healthz(ctx, kfp.V1beta1); err1 == nil && h1 != nil {
			res := probe.Failed(kfd.VersionMismatch, fmt.Sprintf("v1beta1 healthz answers (%s %s) but v2beta1 does not: a KFP 1.x backend, which the v2 SDK cannot use", h1.Kind, h1.Version()))
			res.Evidence = evidence(reply)
			return res
		}
	}
	id := d.KFD
	msg := d.Summary
	// Inside a cluster nobody runs a port-forward: a Service name that
	// refuses connections is a Service with no ready endpoint.
	if id == kfd.NothingListening && t.InPod && strings.Contains(msg, "refused") {
		id = kfd.BackendNotReady
		msg += ": from inside the cluster this means the Service has no ready endpoint (no running, ready pod behind it)"
	}
	// On healthz, an HTTP error (a server error included) keeps its own id:
	// what matters there is that kfp.Client() retries it and hides it.
	if (id == "" || id == kfd.ServerError) && reply != nil && reply.StatusCode >= 400 {
		id = kfd.HealthzHTTPError
	}
	if reply != nil && reply.StatusCode >= 400 && (id == kfd.HealthzHTTPError || id == kfd.BackendNotReady) {
		msg += " (" + t.sdkCall().HealthzOnHTTPError() + ")"
	}
	if id == kfd.LoginPage && t.Cookies != nil {
		// The client sent a gateway session and the gateway wants a login
		// all the same: the session is over.
		for _, n := range t.Cookies.Names() {
			if g := login.SessionCookieOf(n); g != "" {
				id = kfd.Expired
				msg = fmt.Sprintf("%s; the client sent the session cookie %s (%s) and the gateway refused it: the session expired (Kubeflow's oauth2-proxy keeps it 24 h, cookie_expire) or was made by another login or cookie secret", msg, n, g.Describe())
				break
			}
		}
	}
	// Google's inverse proxy answers an unauthenticated call with its own
	// 401 page or a sign-in: on its hosts that is the missing Google token.
	if d, ok := distro.ByHost(t.Client.Base()); ok && d.KFD != "" && reply != nil &&
		(id == kfd.LoginPage || reply.StatusCode == http.StatusUnauthorized || reply.StatusCode == http.StatusForbidden) {
		id = d.KFD
		msg += "; " + t.Client.Base().Host + " is " + d.Name + ": it admits only a Google access token"
	}
	if id == kfd.NoAnswer {
		msg = fmt.Sprintf("%s accepted the connection but sent no answer; kfp.Client() would hang here forever", t.Client.Base().Host)
	}
	res := probe.Failed(id, msg)
	res.Hint = hint
	res.Evidence = evidence(reply)
	res.Hint = healthzHint(t, id)
	return res
}

// healthzHint is the fix for what the client in hand does, where the
// catalogue's general one would mislead: the SDK's in-cluster default
// host, a session cookie that expired. "" keeps the catalogue's.
func healthzHint(t *Target, id kfd.ID) string {
	c := t.sdkCall()
	switch {
	case id == kfd.DNS && c != nil && c.HostKind == sdkmodel.HostInCluster:
		return fmt.Sprintf("kfp.Client() with no host calls the API server's Service, %s (namespace=%q names its namespace), not ml-pipeline-ui: check `kubectl -n %s get svc ml-pipeline`, or pass host=", c.Host.Value, c.ServiceNamespace, c.ServiceNamespace)
	case id == kfd.Expired && t.Cookies != nil && t.TokenFile == nil && t.Bearer == nil:
		return "log in again for a new session cookie (Kubeflow's oauth2-proxy keeps a session 24 h); a script should log in again when the gateway answers with its login page"
	}
	return ""
}

func describeHealth(h *kfp.Health) probe.Result {
	mode := "mode not reported"
	if multi, known := h.IsMultiUser(); known {
		mode = "standalone (single-user)"
		if multi {
			mode = "multi-user"
		}
	}
	switch h.Kind {
	case kfp.UIServer:
		if h.APIServerReady != nil && !*h.APIServerReady {
			return probe.Failed(kfd.BackendNotReady, "reached the KFP UI server (ml-pipeline-ui), but it says the API server is not ready (apiServerReady: false): ml-pipeline is down or has no ready pod")
		}
		return probe.Passf(fmt.Sprintf("reached the KFP UI server (ml-pipeline-ui, version %s); its API server is ready (version %s); %s", orUnknown(h.FrontendTagName), orUnknown(h.APIServerTagName), mode))
	default:
		return probe.Passf(fmt.Sprintf("reached the KFP API server (ml-pipeline, version %s, store %s); %s", orUnknown(h.TagName), orUnknown(h.PipelineStore), mode))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
