package fix

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

func kubeflowMesh(t *testing.T, drop func(*unstructured.Unstructured) bool, extra ...*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	all, err := install.FixtureFile(kubeflow.MultiUser, "90-mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, u := range all {
		if drop == nil || !drop(u) {
			out = append(out, u)
		}
	}
	return append(out, extra...)
}

const stepPrincipal = "cluster.local/ns/team-a/sa/default-editor"

var apiServer = mesh.Workload{Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline", "application-crd-id": "kubeflow-pipelines"}}

func admitted(t *testing.T, objs []*unstructured.Unstructured) bool {
	t.Helper()
	c := mesh.FromObjects(objs)
	if len(c.Invalid) > 0 {
		t.Fatalf("invalid: %v", c.Invalid)
	}
	req := mesh.Request{Method: "GET", Path: "/apis/v2beta1/experiments", Port: 8888, Peer: stepPrincipal}
	req.Header = map[string][]string{"Authorization": {"Bearer x"}}
	return c.Authorize(apiServer, &req).Allowed
}

func TestAdmitCall(t *testing.T) {
	call := MeshCall{Workload: apiServer, Service: "ml-pipeline", Port: 8888, Principal: stepPrincipal}
	isAPIPolicy := func(u *unstructured.Unstructured) bool {
		return u.GetKind() == "AuthorizationPolicy" && u.GetNamespace() == "kubeflow" && u.GetName() == "ml-pipeline"
	}
	principalsOnly := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "ml-pipeline", "namespace": "kubeflow"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "ml-pipeline"}},
			"rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/kubeflow/sa/ml-pipeline-ui"}}}}}}}}}
	denyAll := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "no-steps", "namespace": "kubeflow"},
		"spec":     map[string]any{"action": "DENY", "rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{"namespaces": []any{"team-a"}}}}}}}}}
	for _, row := range []struct {
		name  string
		objs  []*unstructured.Unstructured
		kinds int
		note  string
	}{
		{"Kubeflow's policies already admit a call with the token", kubeflowMesh(t, nil), 0, "nothing to change: kubeflow/ml-pipeline rule 2"},
		{"a principals-only ml-pipeline policy: a policy for the step's principal", kubeflowMesh(t, isAPIPolicy, principalsOnly), 1, ""},
		{"only global-deny-all: KFP's own policies", kubeflowMesh(t, func(u *unstructured.Unstructured) bool {
			return u.GetKind() == "AuthorizationPolicy" && u.GetNamespace() == "kubeflow"
		}), 2, ""},
		{"a DENY: no object, a note", kubeflowMesh(t, nil, denyAll), 0, "DENY policy kubeflow/no-steps rule 1"},
	} {
		t.Run(row.name, func(t *testing.T) {
			plan, err := AdmitCall(mesh.FromObjects(row.objs), call, "kubeflow")
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Manifests) != row.kinds || !strings.Contains(strings.Join(plan.Notes, "\n"), row.note) {
				t.Fatalf("%d manifests, notes %q", len(plan.Manifests), plan.Notes)
			}
			if len(plan.Manifests) == 0 {
				return
			}
			// What it prints admits the call, judged by the same semantics.
			if admitted(t, row.objs) {
				t.Fatal("the call was admitted before the fix")
			}
			after := row.objs
			for _, m := range plan.Manifests {
				if _, err := m.GVR(); err != nil {
					t.Fatal(err)
				}
				after = append(after, m.Object)
			}
			if !admitted(t, after) {
				y, _ := YAML(plan.Manifests)
				t.Fatalf("the printed change does not admit the call:\n%s", y)
			}
		})
	}
}
