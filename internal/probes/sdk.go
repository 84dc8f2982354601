package probes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// SDK is what kfp.Client(...) chooses for this run (internal/sdkmodel), and
// what the doctor found around it.
type SDK struct {
	Call *sdkmodel.Call
	// Unsent is a token mounted where the PodDefault puts it that the call
	// does not send (a host without credentials); UnsentClient is the same
	// endpoint with that token, to say whether it would have worked.
	Unsent       *credentials.TokenFile
	UnsentClient *kfp.Client
	// KFPNamespace is where the cluster says KFP is installed ("" unknown).
	KFPNamespace string
}

// WithSDK puts the sdk probe first and, when a mounted token goes unsent,
// the unsent-token probe after list-experiments.
func WithSDK(t *Target, set []probe.Probe[*Target]) []probe.Probe[*Target] {
	if t.SDK == nil || t.SDK.Call == nil {
		return set
	}
	out := append([]probe.Probe[*Target]{sdkProbe()}, set...)
	// A constructor that raises (a broken context.json: KFD037) sends
	// nothing: what the namespace would be is moot, and the mode probe
	// would only add a KFD010 the call never gets to.
	for i := range out {
		if out[i].ID == "mode" {
			out[i].DependsOn = append(slices.Clone(out[i].DependsOn), "sdk")
		}
	}
	if t.SDK.Unsent != nil && t.SDK.UnsentClient != nil {
		out = append(out, unsentTokenProbe())
	}
	return out
}

func sdkProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    "sdk",
		Title: "what kfp.Client(...) chooses: host, credentials, namespace (" + sdkmodel.Version + ")",
		Local: true, // the SDK's choices, computed here: no verdict on the connection
		Run: func(_ context.Context, t *Target) probe.Result {
			res := sdkVerdict(t)
			res.Facts = SDKFacts(t)
			return res
		},
	}
}

// SDKFacts are the call's choices as data (-o json "facts"), each with
// where it came from: the display line of the sdk probe, structured. No
// secret values: credentials are named by kind and source only.
func SDKFacts(t *Target) map[string]string {
	c := t.SDK.Call
	f := map[string]string{
		"sdk_version":            c.Version,
		"host":                   c.URL,
		"host_source":            string(c.Host.Source),
		"host_kind":              string(c.HostKind),
		"credentials":            string(c.AuthKind),
		"healthz_in_constructor": fmt.Sprint(c.HealthzInConstructor),
	}
	if t.Client != nil {
		// The client's base is the URL as sent, without user info.
		f["host"] = t.Client.Base().Redacted()
	}
	if c.AuthKind != sdkmodel.AuthNone {
		f["credentials_source"] = string(c.Auth.Source)
	}
	if c.TokenPath != "" {
		f["token_path"] = c.TokenPath
	}
	if c.Cookie.Value != "" {
		f["cookie_source"] = string(c.Cookie.Source)
	}
	if c.HeaderName.Value != "" {
		f["header_name"], f["header_source"] = c.HeaderName.Value, string(c.HeaderName.Source)
	}
	f["namespace_kind"] = string(c.NamespaceKind)
	if c.NamespaceKind != sdkmodel.NamespaceNone {
		f["namespace"], f["namespace_source"] = c.Namespace.Value, string(c.Namespace.Source)
	}
	if t.InPod {
		f["in_pod"] = "true"
	} else {
		f["in_pod"] = "false"
	}
	return f
}

func sdkVerdict(t *Target) probe.Result {
	s := t.SDK
	c := s.Call
	if c.Err != nil {
		return probe.Failed(kfd.ContextFile, c.Err.Error()+": the SDK sends nothing")
	}
	msg := Describe(c)
	switch {
	case c.NamespaceKind == sdkmodel.NamespaceContext && hasNote(c, "wins over the pod's"):
		// Outside a pod a stored namespace is what the user set;
		// in one it silently beats the pod's own.
		return probe.Warned(kfd.ContextFile, msg+"; "+note(c, "wins over the pod's"))
	case c.NamespaceKind == sdkmodel.NamespaceExplicit && hasNote(c, "wins over"):
		return probe.Warned(kfd.ContextFile, msg+"; "+note(c, "wins over")+": kfp.Client() without namespace= would use the stored one")
	}
	if c.HostKind == sdkmodel.HostInCluster && c.ServiceNamespace != sdkmodel.DefaultNamespace && c.ServiceNamespace != s.KFPNamespace {
		return probe.Warned(kfd.NamespaceNamesService, fmt.Sprintf("%s; with no host, namespace=%q also names the API server's Service: %s, not KFP's ml-pipeline.kubeflow", msg, c.ServiceNamespace, c.Host.Value))
	}
	if c.AuthKind == sdkmodel.AuthIAP || c.AuthKind == sdkmodel.AuthGCP {
		return probe.Warned(kfd.SDKTokenNotReproduced, msg+"; "+SayNoSuchToken+": the probes below check the endpoint without it")
	}
	return probe.Passf(msg)
}

// Describe is the call's choices on one line, each with its source; no
// secret values, only where they come from.
func Describe(c *sdkmodel.Call) string {
	parts := []string{"host " + c.URL + " (" + string(c.Host.Source) + ")"}
	// context.json's header goes on every request as a default header: an
	// Authorization one is the Authorization the call sends.
	headerIsAuth := strings.EqualFold(c.HeaderName.Value, "Authorization")
	auth := "no Authorization header"
	switch {
	case c.AuthKind != sdkmodel.AuthNone:
		auth = "Authorization: " + c.Auth.String()
	case headerIsAuth:
		auth = "Authorization from " + string(c.HeaderName.Source)
	}
	if c.ReplacedCredentials {
		auth += ", in place of credentials= (_get_config_with_default_credentials)"
	}
	parts = append(parts, auth)
	if c.Cookie.Value != "" {
		parts = append(parts, "Cookie from "+string(c.Cookie.Source))
	}
	if c.HeaderName.Value != "" && !(headerIsAuth && c.AuthKind == sdkmodel.AuthNone) {
		parts = append(parts, "header "+c.HeaderName.Value+" from "+string(c.HeaderName.Source))
	}
	switch c.NamespaceKind {
	case sdkmodel.NamespacePod:
		parts = append(parts, fmt.Sprintf("namespace %q from %s", c.Namespace.Value, c.Namespace.Source))
	case sdkmodel.NamespaceNone:
		if hasNote(c, sdkmodel.DefaultNamespaceNote) {
			parts = append(parts, "no namespace (namespace=\"kubeflow\" is kfp.Client's default, which sends none)")
		} else {
			parts = append(parts, "no namespace")
		}
	default:
		parts = append(parts, "namespace "+c.Namespace.String())
	}
	if c.HealthzInConstructor {
		parts = append(parts, "the constructor calls healthz")
	} else {
		parts = append(parts, "the constructor skips healthz (a namespace is set)")
	}
	return strings.Join(parts, " · ")
}

func hasNote(c *sdkmodel.Call, sub string) bool { return note(c, sub) != "" }

func note(c *sdkmodel.Call, sub string) string {
	for _, n := range c.Notes {
		if strings.Contains(n, sub) {
			return n
		}
	}
	return ""
}

// unsentTokenProbe names the token kfp.Client(host=…) leaves behind, and
// asks KFP with it: the user learns whether credentials= is the whole fix.
// It does not wait on healthz: a call refused for want of the token (the
// mesh's 403) is exactly when it matters, and with the token the client
// makes its own healthz, as the SDK's constructor would.
func unsentTokenProbe() probe.Probe[*Target] {
	return probe.Probe[*Target]{
		ID:    "unsent-token",
		Title: "a mounted KFP token the call does not send",
		Run: func(ctx context.Context, t *Target) probe.Result {
			s := t.SDK
			msg := fmt.Sprintf("kfp.Client(host=…) %s %s; pass credentials=kfp.client.ServiceAccountTokenVolumeCredentials() or omit host", SayUnsentToken, s.Unsent.Path)
			if _, err := s.Unsent.Read(ctx); err != nil {
				return probe.Warned(kfd.HostWithoutCredentials, msg+" (and the token cannot be read now: "+err.Error()+")")
			}
			ns := t.Namespace
			if ns == "" && t.FillNamespace != "" {
				// kfp.Client() fills in the pod's namespace when its own
				// healthz says multi-user: ask healthz with the token.
				if h, _, err := s.UnsentClient.Healthz(ctx, kfp.V2beta1); err == nil && h != nil {
					if multi, known := h.IsMultiUser(); known && multi {
						ns = t.FillNamespace
					}
				}
			}
			list, reply, err := s.UnsentClient.ListExperiments(ctx, kfp.V2beta1, ns)
			where := "with no namespace"
			if ns != "" {
				where = "in namespace " + ns
			}
			if list != nil {
				return probe.Warned(kfd.HostWithoutCredentials, fmt.Sprintf("%s: with that token KFP lists experiments %s — it would have worked", msg, where))
			}
			d := kfp.Classify(reply, err)
			id := string(d.KFD)
			if id == "" {
				id = "an unclassified answer"
			}
			res := probe.Warned(kfd.HostWithoutCredentials, fmt.Sprintf("%s; but with that token KFP answers %s too (%s: %s), so fix that as well", msg, where, id, d.Summary))
			res.Evidence = evidence(reply)
			return res
		},
	}
}
