package fix

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// KFD005 and KFD006: the AuthorizationPolicy change that admits a client's
// call to KFP, judged with Istio's semantics (internal/mesh) against the
// policies read from the cluster.

// MeshCall is the call to admit: the documented one, a client sending its
// ServiceAccount token and no kubeflow-userid, from principal, to the pods
// of Workload on Port.
type MeshCall struct {
	Workload  mesh.Workload
	Service   string // the Service the client calls, for the names and comments
	Port      int
	Principal string // "" for a client outside the mesh
}

// MeshPlan is what AdmitCall decided: the objects to apply, and what the
// comment at the top says when there is nothing to apply.
type MeshPlan struct {
	Manifests []Manifest
	Notes     []string
}

// AdmitCall decides the smallest policy change that admits call, given the
// mesh's objects: nothing when it is already admitted; nothing but a note
// when a DENY policy refuses it (no ALLOW can override a DENY, and changing
// someone's DENY is theirs to decide); KFP's own policies when only rule-less
// ALLOW policies (global-deny-all) select the workload; otherwise a new ALLOW
// policy for the client's principal beside the distribution's own, which a
// GitOps sync of theirs leaves alone.
func AdmitCall(cfg *mesh.Config, call MeshCall, kfpNamespace string) (MeshPlan, error) {
	req := mesh.Request{Method: http.MethodGet, Path: "/apis/v2beta1/experiments", Port: call.Port, Peer: call.Principal,
		Header: http.Header{"Authorization": {"Bearer <token>"}}}
	v := cfg.Authorize(call.Workload, &req)
	switch {
	case v.Allowed && v.Policy != nil:
		return MeshPlan{Notes: []string{fmt.Sprintf("nothing to change: %s rule %d already admits a call with the token from %s", v.Policy, v.Rule+1, orNone(call.Principal))}}, nil
	case v.Allowed:
		return MeshPlan{Notes: []string{"nothing to change: no ALLOW policy selects " + call.Service + ", so the call passes the mesh"}}, nil
	case v.Policy != nil:
		return MeshPlan{Notes: []string{fmt.Sprintf("DENY policy %s rule %d refuses the call, and no ALLOW policy can override a DENY: change %s itself", v.Policy, v.Rule+1, v.Policy)}}, nil
	}
	ruleless := true
	for _, m := range v.Misses {
		ruleless = ruleless && len(m.Rules) == 0
	}
	if ruleless {
		ms, err := KFPPolicies(kfpNamespace)
		return MeshPlan{Manifests: ms}, err
	}
	if call.Principal == "" {
		return MeshPlan{Notes: []string{"the policies admit principals, and a client outside the mesh has none: run it with Istio's sidecar (label its namespace istio-injection=enabled) and ask again with its ServiceAccount"}}, nil
	}
	m, err := AllowPrincipal(call.Workload, call.Service, call.Principal, v.String())
	return MeshPlan{Manifests: []Manifest{m}}, err
}

func orNone(p string) string {
	if p == "" {
		return "a client outside the mesh"
	}
	return p
}

// AllowPrincipal is an ALLOW AuthorizationPolicy admitting principal to the
// workload, with KFP's own guard: no kubeflow-userid set by the caller (only
// KFP's UI, behind the gateway, may pass one).
func AllowPrincipal(w mesh.Workload, service, principal, why string) (Manifest, error) {
	if err := ValidNamespace(w.Namespace); err != nil {
		return Manifest{}, err
	}
	if len(w.Labels) == 0 {
		return Manifest{}, fmt.Errorf("no labels to select the pods of %s/%s by", w.Namespace, service)
	}
	ns, sa, ok := principalParts(principal)
	if !ok {
		return Manifest{}, fmt.Errorf("principal %q is not <trust domain>/ns/<namespace>/sa/<serviceaccount>", principal)
	}
	name := dnsName(fmt.Sprintf("%s-allow-%s-%s", service, ns, sa))
	labels := map[string]any{}
	keys := make([]string, 0, len(w.Labels))
	for k := range w.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The fewest labels that still pick the workload: KFP's own policies
	// select by app alone.
	if app, ok := w.Labels["app"]; ok {
		labels["app"] = app
	} else {
		for _, k := range keys {
			labels[k] = w.Labels[k]
		}
	}
	obj := map[string]any{
		"apiVersion": "security.istio.io/v1beta1",
		"kind":       "AuthorizationPolicy",
		"metadata":   map[string]any{"name": name, "namespace": w.Namespace, "labels": map[string]any{"app.kubernetes.io/managed-by": FieldManager}},
		"spec": map[string]any{
			"action":   "ALLOW",
			"selector": map[string]any{"matchLabels": labels},
			"rules": []any{map[string]any{
				"from": []any{map[string]any{"source": map[string]any{"principals": []any{principal}}}},
				"when": []any{map[string]any{"key": "request.headers[kubeflow-userid]", "notValues": []any{"*"}}},
			}},
		},
	}
	return Manifest{ID: kfd.PipelinePodDenied, Object: &unstructured.Unstructured{Object: obj}, Comment: []string{
		fmt.Sprintf("%s: admit %s to %s/%s, beside the policies already there (ALLOW policies add up).", kfd.PipelinePodDenied, principal, w.Namespace, service),
		"Today: " + why,
		"It admits only this ServiceAccount. KFP's own ml-pipeline policy (istio-authorization-config.yaml) admits",
		"every caller that sends no kubeflow-userid; a distribution that dropped that rule refuses pipeline steps.",
	}}, nil
}

func principalParts(p string) (ns, sa string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" || parts[2] == "" || parts[4] == "" {
		return "", "", false
	}
	return parts[2], parts[4], true
}

// KFPPolicies are KFP's own AuthorizationPolicies for its UI and API
// server, as kubeflow/pipelines ships them
// (manifests/kustomize/base/installs/multi-user/istio-authorization-config.yaml):
// under global-deny-all, without them nothing reaches KFP.
func KFPPolicies(kfpNamespace string) ([]Manifest, error) {
	if err := ValidNamespace(kfpNamespace); err != nil {
		return nil, err
	}
	sa := func(name string) string { return "cluster.local/ns/" + kfpNamespace + "/sa/" + name }
	ui := map[string]any{
		"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "ml-pipeline-ui", "namespace": kfpNamespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "ml-pipeline-ui"}},
			"rules": []any{
				map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"}}}}},
				map[string]any{"when": []any{
					map[string]any{"key": "request.headers[authorization]", "values": []any{"*"}},
					map[string]any{"key": "request.headers[kubeflow-userid]", "notValues": []any{"*"}},
				}},
			},
		},
	}
	var own []any
	for _, n := range []string{"ml-pipeline", "ml-pipeline-ui", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow", "ml-pipeline-viewer-crd-service-account", "kubeflow-pipelines-cache"} {
		own = append(own, sa(n))
	}
	api := map[string]any{
		"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "ml-pipeline", "namespace": kfpNamespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "ml-pipeline"}},
			"rules": []any{
				map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": own}}}},
				map[string]any{"when": []any{map[string]any{"key": "request.headers[kubeflow-userid]", "notValues": []any{"*"}}}},
			},
		},
	}
	comment := func(what string) []string {
		return []string{fmt.Sprintf("%s: KFP's own policy for %s, as kubeflow/pipelines ships it (istio-authorization-config.yaml):", kfd.IstioDenied, what),
			"only global-deny-all selects it now, and that admits nothing."}
	}
	return []Manifest{
		{ID: kfd.IstioDenied, Comment: comment("its UI"), Object: &unstructured.Unstructured{Object: ui}},
		{ID: kfd.IstioDenied, Comment: comment("its API server"), Object: &unstructured.Unstructured{Object: api}},
	}, nil
}
