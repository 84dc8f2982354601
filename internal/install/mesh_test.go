package install

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// The fixtures' mesh objects are Kubeflow's: every one is in the upstream
// install too, with the same spec as Istio's types read it; global-deny-all,
// the gateway's login policies and KFP's policies are there; the profile
// namespaces are in the mesh.
func TestMeshObjects(t *testing.T) {
	fix := mesh.FromObjects(mustFixtures(t, MultiUser))
	for _, name := range []string{"istio-system/global-deny-all", "istio-system/istio-ingressgateway",
		"istio-system/istio-ingressgateway-oauth2-proxy", "istio-system/istio-ingressgateway-require-jwt",
		"kubeflow/ml-pipeline-ui", "kubeflow/ml-pipeline"} {
		if apOf(fix, name) == nil {
			t.Errorf("the fixtures lack AuthorizationPolicy %s", name)
		}
	}
	if len(fix.RequestAuthentications) != 2 || len(fix.Invalid) > 0 {
		t.Errorf("fixtures: %d RequestAuthentications (want dex-jwt and m2m-token-issuer), invalid: %v", len(fix.RequestAuthentications), fix.Invalid)
	}
	if fix.Providers["oauth2-proxy"].ExtAuthzHTTP == nil {
		t.Error("the fixtures' mesh config has no oauth2-proxy extension provider")
	}
	objs := mustFixtures(t, MultiUser)
	for _, ns := range []string{"kubeflow", "kubeflow-user-example-com", "namespace-1", "namespace-2"} {
		if n := find(objs, "Namespace", "", ns); n == nil || n.GetLabels()["istio-injection"] != "enabled" {
			t.Errorf("namespace %s is not labelled istio-injection: enabled", ns)
		}
	}
	for _, o := range objs {
		if k := o.GetKind(); k == "MutatingWebhookConfiguration" || k == "ValidatingWebhookConfiguration" {
			t.Errorf("the fixtures hold a webhook (%s): nothing may make the apiserver dial a fake pod", o.GetName())
		}
	}

	root := sharedOrSkip(t)
	upObjs, err := Upstream(root, MultiUser)
	if err != nil {
		t.Fatal(err)
	}
	up := mesh.FromObjects(upObjs)
	if len(up.Invalid) > 0 {
		t.Fatalf("upstream objects Istio's types refuse: %v", up.Invalid)
	}
	for _, p := range fix.AuthorizationPolicies {
		u := apOf(up, p.String())
		if u == nil {
			t.Errorf("AuthorizationPolicy %s is in the fixtures, not upstream", p)
		} else if !proto.Equal(u.Spec, p.Spec) {
			t.Errorf("AuthorizationPolicy %s differs from upstream:\n fixtures %v\n upstream %v", p, p.Spec, u.Spec)
		}
	}
	for _, r := range fix.RequestAuthentications {
		found := false
		for _, u := range up.RequestAuthentications {
			if u.String() == r.String() {
				found = true
				if !proto.Equal(u.Spec, r.Spec) {
					t.Errorf("RequestAuthentication %s differs from upstream:\n fixtures %v\n upstream %v", r, r.Spec, u.Spec)
				}
			}
		}
		if !found {
			t.Errorf("RequestAuthentication %s is in the fixtures, not upstream", r)
		}
	}
	if up.Root() != fix.Root() || up.Domain() != fix.Domain() {
		t.Errorf("mesh config: upstream %s/%s, fixtures %s/%s", up.Root(), up.Domain(), fix.Root(), fix.Domain())
	}
	if pu, pf := up.Providers["oauth2-proxy"].ExtAuthzHTTP, fix.Providers["oauth2-proxy"].ExtAuthzHTTP; pu == nil || pf == nil || pu.Service != pf.Service || pu.Port != pf.Port {
		t.Errorf("oauth2-proxy provider: upstream %+v, fixtures %+v", pu, pf)
	}
	for _, o := range upObjs {
		if o.GetKind() == "Deployment" && o.GetNamespace() == "istio-system" && o.GetName() == "istiod" {
			t.Error("the upstream install applies istiod")
		}
	}
	if find(upObjs, "Deployment", "istio-system", "cluster-jwks-proxy") == nil {
		t.Error("the upstream install lacks the cluster-jwks-proxy its m2m rule fetches keys from")
	}
}

func apOf(c *mesh.Config, name string) *mesh.AuthorizationPolicy {
	for i := range c.AuthorizationPolicies {
		if c.AuthorizationPolicies[i].String() == name {
			return &c.AuthorizationPolicies[i]
		}
	}
	return nil
}
