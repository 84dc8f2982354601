package probes

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// meshObjects are the fixtures' mesh objects: Kubeflow's own.
func meshObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	out, err := install.FixtureFile(kubeflow.MultiUser, "90-mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pod(ns, name, sa string, labels map[string]string, sidecar bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "main"}}}}
	if sidecar {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
	}
	return p
}

func service(ns, name string, port, target int, podName string) []runtime.Object {
	ready := true
	return []runtime.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Port: int32(port), TargetPort: intstr.FromInt32(int32(target))}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName}}}},
	}
}

// userIDHeader is a client that sets kubeflow-userid itself (context.json's
// client_authentication_header_name, or a hand-made request).
type userIDHeader struct{ inner kfp.Credentials }

func (u userIDHeader) Apply(r *http.Request) error {
	r.Header.Set(kfp.UserIDHeader, "admin@example.com")
	if u.inner != nil {
		return u.inner.Apply(r)
	}
	return nil
}

type meshCase struct {
	host        string
	creds       kfp.Credentials
	clientPod   *corev1.Pod // nil: outside the cluster
	edit        func([]*unstructured.Unstructured) []*unstructured.Unstructured
	destSidecar bool
	listErr     error
}

func meshTarget(t *testing.T, c meshCase) *Target {
	t.Helper()
	objs := []runtime.Object{
		pod("kubeflow", "ml-pipeline-ui-0", "ml-pipeline-ui", map[string]string{"app": "ml-pipeline-ui"}, c.destSidecar),
		pod("kubeflow", "ml-pipeline-0", "ml-pipeline", map[string]string{"app": "ml-pipeline"}, c.destSidecar),
		pod("istio-system", "istio-ingressgateway-0", "istio-ingressgateway-service-account", map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}, false),
	}
	objs = append(objs, service("kubeflow", "ml-pipeline-ui", 80, 3000, "ml-pipeline-ui-0")...)
	objs = append(objs, service("kubeflow", "ml-pipeline", 8888, 8888, "ml-pipeline-0")...)
	objs = append(objs, service("istio-system", "istio-ingressgateway", 80, 8080, "istio-ingressgateway-0")...)
	var inPod *discover.Pod
	if c.clientPod != nil {
		objs = append(objs, c.clientPod)
		inPod = &discover.Pod{Namespace: c.clientPod.Namespace, Name: c.clientPod.Name}
	}
	kube := fake.NewClientset(objs...)
	mo := meshObjects(t)
	if c.edit != nil {
		mo = c.edit(mo)
	}
	var dynObjs []runtime.Object
	for _, o := range mo {
		dynObjs = append(dynObjs, o)
	}
	lists := map[schema.GroupVersionResource]string{
		{Group: "security.istio.io", Version: "v1beta1", Resource: "authorizationpolicies"}:  "AuthorizationPolicyList",
		{Group: "security.istio.io", Version: "v1beta1", Resource: "peerauthentications"}:    "PeerAuthenticationList",
		{Group: "security.istio.io", Version: "v1beta1", Resource: "requestauthentications"}: "RequestAuthenticationList",
		{Version: "v1", Resource: "configmaps"}:                                              "ConfigMapList",
	}
	for gvr, kind := range lists {
		if gvr.Version == "v1beta1" {
			gvr.Version = "v1"
			lists[gvr] = kind
		}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, dynObjs...)
	if c.listErr != nil {
		dyn.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.listErr })
	}
	base, err := kfp.ParseHost(c.host)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kfp.NewClient(base, c.creds, kfp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &Target{Client: client, Namespace: "kubeflow-user-example-com", InPod: inPod != nil,
		Cluster: &Cluster{Install: multiUserInstall(), Kube: fromclientset.Wrap(kube), Dynamic: dyn, MultiUser: true, ModeKnown: true, Pod: inPod}}
}

// editAP replaces the spec of an AuthorizationPolicy, or drops it (nil).
func editAP(ns, name string, spec map[string]any) func([]*unstructured.Unstructured) []*unstructured.Unstructured {
	return func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == "AuthorizationPolicy" && o.GetNamespace() == ns && (o.GetName() == name || name == "*") {
				if spec == nil {
					continue
				}
				o = o.DeepCopy()
				o.Object["spec"] = spec
			}
			out = append(out, o)
		}
		return out
	}
}

func addObject(u map[string]any) func([]*unstructured.Unstructured) []*unstructured.Unstructured {
	return func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
		return append(objs, &unstructured.Unstructured{Object: u})
	}
}

func TestMeshProbe(t *testing.T) {
	notebook := pod("kubeflow-user-example-com", "notebook-0", "default-editor", map[string]string{"notebook-name": "nb"}, true)
	outside := pod("namespace-3", "client-0", "default", nil, false)
	token := bearer(t, "kubeflow-user-example-com", "default-editor", "pipelines.kubeflow.org")
	rows := []struct {
		name   string
		c      meshCase
		status probe.Status
		id     kfd.ID
		words  []string
		hint   string
	}{
		{name: "ui host without credentials from a notebook", c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, destSidecar: true},
			status: probe.Fail, id: kfd.IstioDenied, words: []string{"kubeflow/ml-pipeline-ui", "no Authorization", "cluster.local/ns/kubeflow-user-example-com/sa/default-editor", "403"},
			hint: "send the ServiceAccount token"},
		{name: "ui host with the token", c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, creds: token, destSidecar: true},
			status: probe.Pass, words: []string{"kubeflow/ml-pipeline-ui rule 2 admits"}},
		{name: "the API server with the token", c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: notebook, creds: token, destSidecar: true},
			status: probe.Pass, words: []string{"kubeflow/ml-pipeline rule 2 admits", "port 8888"}},
		{name: "a pod setting kubeflow-userid itself", c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: notebook, creds: userIDHeader{token}, destSidecar: true},
			status: probe.Fail, id: kfd.SelfSetUserID, words: []string{"kubeflow/ml-pipeline", "with kubeflow-userid"}, hint: "do not set kubeflow-userid"},
		{name: "a step's principal missing from a principals-only ml-pipeline policy",
			c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: notebook, creds: token, destSidecar: true,
				edit: editAP("kubeflow", "ml-pipeline", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "ml-pipeline"}},
					"rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/kubeflow/sa/ml-pipeline-ui"}}}}}}})},
			status: probe.Fail, id: kfd.PipelinePodDenied, words: []string{"kubeflow/ml-pipeline rule 1"},
			hint: "add principal cluster.local/ns/kubeflow-user-example-com/sa/default-editor to rule 1 of AuthorizationPolicy kubeflow/ml-pipeline"},
		{name: "a distribution's ui policy without the authorization rule",
			c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, creds: token, destSidecar: true,
				edit: editAP("kubeflow", "ml-pipeline-ui", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "ml-pipeline-ui"}},
					"rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"}}}}}}})},
			status: probe.Fail, id: kfd.IstioDenied, words: []string{"kubeflow/ml-pipeline-ui"}, hint: "call the API server instead"},
		{name: "global-deny-all and no KFP policies", c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: notebook, creds: token, destSidecar: true,
			edit: editAP("kubeflow", "*", nil)},
			status: probe.Fail, id: kfd.IstioDenied, words: []string{"istio-system/global-deny-all has no rules"}, hint: "KFP's own AuthorizationPolicies are missing"},
		{name: "STRICT mTLS and a pod outside the mesh", c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: outside, creds: token, destSidecar: true,
			edit: addObject(map[string]any{"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
				"metadata": map[string]any{"name": "strict", "namespace": "kubeflow"}, "spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}}})},
			status: probe.Fail, id: kfd.StrictMTLS, words: []string{"PeerAuthentication kubeflow/strict", "reset"}, hint: "label its namespace istio-injection=enabled"},
		{name: "PERMISSIVE: a pod outside the mesh with a token passes", c: meshCase{host: "http://ml-pipeline.kubeflow:8888", clientPod: outside, creds: token, destSidecar: true},
			status: probe.Pass, words: []string{"rule 2 admits", "no Istio sidecar"}},
		{name: "a destination without a sidecar", c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook},
			status: probe.Pass, words: []string{"has no Istio sidecar: no mesh policy applies"}},
		{name: "a port-forward goes past the sidecar", c: meshCase{host: "http://localhost:3000", destSidecar: true},
			status: probe.Skip, words: []string{"past Istio's sidecar", "istio/istio#1413"}},
		{name: "a foreign issuer through the gateway", c: meshCase{host: "http://localhost:8080/pipeline", destSidecar: true,
			creds: staticBearer(t, mustMint(t, map[string]any{"iss": "https://issuer.example.com"}))},
			status: probe.Fail, id: kfd.JWTIssuer, words: []string{"istio-system/dex-jwt, istio-system/m2m-token-issuer", "Jwt issuer is not configured"},
			hint: `issuer "https://issuer.example.com"`},
		{name: "the gateway's login decides for a browser call", c: meshCase{host: "http://localhost:8080/pipeline", destSidecar: true},
			status: probe.Pass, words: []string{"CUSTOM policy istio-system/istio-ingressgateway-oauth2-proxy", "oauth2-proxy"}},
		{name: "no RBAC to read the policies", c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, destSidecar: true,
			listErr: apierrors.NewForbidden(schema.GroupResource{Group: "security.istio.io", Resource: "authorizationpolicies"}, "", nil)},
			status: probe.Skip, words: []string{"cannot read Istio's policies", "forbidden"}},
		{name: "no Istio", c: meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, destSidecar: true,
			listErr: apierrors.NewNotFound(schema.GroupResource{Group: "security.istio.io"}, "")},
			status: probe.Skip, words: []string{"Istio is not installed"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			res := runProbe(t, meshProbe(), meshTarget(t, row.c))
			expect(t, res, row.status, row.id, row.words...)
			if !strings.Contains(res.Hint, row.hint) {
				t.Errorf("hint %q lacks %q", res.Hint, row.hint)
			}
		})
	}
}

// A live 403 is attributed to the policy the reading found; without the
// RBAC to read policies the doctor says so and keeps the text's id.
func TestMeshAttribution(t *testing.T) {
	notebook := pod("kubeflow-user-example-com", "notebook-0", "default-editor", nil, true)
	denied := &kfp.Reply{StatusCode: http.StatusForbidden, Body: []byte("RBAC: access denied"), Header: http.Header{"Server": {"istio-envoy"}}}
	tg := meshTarget(t, meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, destSidecar: true})
	d, hint := tg.attributeMesh(t.Context(), kfp.Classify(denied, nil), denied, nil)
	if d.KFD != kfd.IstioDenied || !strings.Contains(d.Summary, "kubeflow/ml-pipeline-ui") || !strings.Contains(hint, "send the ServiceAccount token") {
		t.Fatalf("attributed %s %q (hint %q)", d.KFD, d.Summary, hint)
	}
	tg = meshTarget(t, meshCase{host: "http://ml-pipeline-ui.kubeflow", clientPod: notebook, destSidecar: true,
		listErr: apierrors.NewForbidden(schema.GroupResource{Group: "security.istio.io", Resource: "authorizationpolicies"}, "", nil)})
	d, _ = tg.attributeMesh(t.Context(), kfp.Classify(denied, nil), denied, nil)
	if d.KFD != kfd.IstioDenied || !strings.Contains(d.Summary, "may not read Istio's policies") {
		t.Fatalf("without RBAC: %s %q", d.KFD, d.Summary)
	}
}

func mustMint(t *testing.T, extra map[string]any) string {
	t.Helper()
	tok, err := jwttest.Mint(jwttest.Token{Namespace: "ns", ServiceAccount: "sa", Audience: []string{"pipelines.kubeflow.org"},
		Expires: time.Now().Add(time.Hour), Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
