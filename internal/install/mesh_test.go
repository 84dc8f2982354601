package install

import (
	"testing"

	"google.golang.org/protobuf/proto"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/programs"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
)

// The fixtures' mesh objects are Kubeflow's: every one is in the upstream
// install too, with the same spec as Istio's types read it; global-deny-all,
// the gateway's login policies and KFP's policies are there; the profile
// namespaces are in the mesh.
func TestMeshObjects(t *testing.T) {
	fix := mesh.FromObjects(mustFixtures(t, kubeflow.MultiUser))
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
	objs := mustFixtures(t, kubeflow.MultiUser)
	for _, ns := range []string{"kubeflow", "kubeflow-user-example-com", "namespace-1", "namespace-2"} {
		if n := find(objs, "Namespace", "", ns); n == nil || n.GetLabels()["istio-injection"] != "enabled" {
			t.Errorf("namespace %s is not labelled istio-injection: enabled", ns)
		}
	}
	for _, o := range objs {
		if k := o.GetKind(); (k == "MutatingWebhookConfiguration" && o.GetName() != "istio-sidecar-injector") || k == "ValidatingWebhookConfiguration" {
			t.Errorf("the fixtures hold a webhook (%s) besides Istio's injector", o.GetName())
		}
		if hooks, _ := injectorHooks([]*unstructured.Unstructured{o}); o.GetKind() == "MutatingWebhookConfiguration" && len(hooks) == 0 {
			t.Error("OnRealPods would apply the injector's webhooks before istiod serves")
		}
	}

	root := sharedOrSkip(t)
	upObjs, err := Upstream(root, kubeflow.MultiUser)
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
	for _, want := range [][3]string{{"Deployment", "istio-system", "istiod"}, {"Service", "istio-system", "istiod"},
		{"ConfigMap", "istio-system", "istio-sidecar-injector"}, {"MutatingWebhookConfiguration", "", "istio-sidecar-injector"}} {
		if find(objs, want[0], want[1], want[2]) == nil || find(upObjs, want[0], want[1], want[2]) == nil {
			t.Errorf("%s %s/%s: want it in both installs", want[0], want[1], want[2])
		}
	}
	if find(upObjs, "DaemonSet", "kube-system", "istio-cni-node") != nil || find(upObjs, "ValidatingWebhookConfiguration", "", "istio-validator-istio-system") != nil {
		t.Error("the upstream install keeps Istio's CNI agent or validating webhook")
	}
	// Each install's injector names a proxy image, and it and istiod's are
	// images the node cluster can build.
	for name, inst := range map[string][]*unstructured.Unstructured{"fixtures": objs, "upstream": upObjs} {
		cm := find(inst, "ConfigMap", "istio-system", "istio-sidecar-injector")
		values, _, _ := unstructured.NestedString(cm.Object, "data", "values")
		refs := []string{istiod.ProxyImageOf(values)}
		d := find(inst, "Deployment", "istio-system", "istiod")
		cs, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "template", "spec", "containers")
		for _, c := range cs.([]any) {
			img, _ := c.(map[string]any)["image"].(string)
			refs = append(refs, img)
		}
		for _, r := range refs {
			if _, _, ok := programs.Find(r); !ok {
				t.Errorf("%s: image %s is not in internal/programs' catalogue", name, r)
			}
		}
	}
	// The injector selects pods as upstream's does: the same webhooks, the
	// same selectors, calling istiod's Service.
	fixHooks, upHooks := webhooksOf(t, find(objs, "MutatingWebhookConfiguration", "", "istio-sidecar-injector")),
		webhooksOf(t, find(upObjs, "MutatingWebhookConfiguration", "", "istio-sidecar-injector"))
	if len(fixHooks) != 4 || len(fixHooks) != len(upHooks) {
		t.Fatalf("injector webhooks: fixtures %d, upstream %d", len(fixHooks), len(upHooks))
	}
	for i, f := range fixHooks {
		u := upHooks[i]
		if f.Name != u.Name || !equality.Semantic.DeepEqual(f.NamespaceSelector, u.NamespaceSelector) ||
			!equality.Semantic.DeepEqual(f.ObjectSelector, u.ObjectSelector) || !equality.Semantic.DeepEqual(f.Rules, u.Rules) ||
			f.ClientConfig.Service == nil || u.ClientConfig.Service == nil || *f.ClientConfig.Service.Path != *u.ClientConfig.Service.Path ||
			f.ClientConfig.Service.Name != u.ClientConfig.Service.Name {
			t.Errorf("webhook %d differs:\n fixtures %+v\n upstream %+v", i, f, u)
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

func webhooksOf(t *testing.T, o *unstructured.Unstructured) []admissionregistrationv1.MutatingWebhook {
	t.Helper()
	if o == nil {
		return nil
	}
	var c admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &c); err != nil {
		t.Fatal(err)
	}
	return c.Webhooks
}
