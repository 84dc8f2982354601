package probes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

func multiUserInstall() *discover.Install {
	return &discover.Install{
		Found: true, Namespace: "kubeflow", HowFound: "the namespace holding service ml-pipeline-ui",
		ModeKnown: true, MultiUser: true, PodDefaultKnown: true, PodDefaultCRD: true,
		UI:  discover.Service{Name: discover.UIService, Exists: true, Port: 80, Ready: 1, EndpointsKnown: true},
		API: discover.Service{Name: discover.APIService, Exists: true, Port: 8888, Ready: 1, EndpointsKnown: true},
	}
}

func bearer(t *testing.T, ns, sa string, aud ...string) *credentials.Bearer {
	t.Helper()
	tok, err := jwttest.Mint(jwttest.Token{Namespace: ns, ServiceAccount: sa, Audience: aud, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return staticBearer(t, tok)
}

func staticBearer(t *testing.T, tok string) *credentials.Bearer {
	t.Helper()
	b, ok, err := credentials.BearerFromEnv("T", func(string) string { return tok }, nil)
	if err != nil || !ok {
		t.Fatal(err)
	}
	return b
}

func runProbe(t *testing.T, p probe.Probe[*Target], target *Target) probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Run(ctx, target)
}

func expect(t *testing.T, r probe.Result, status probe.Status, id kfd.ID, words ...string) {
	t.Helper()
	if r.Status != status || r.KFD != id {
		t.Fatalf("got %s %s %q, want %s %s", r.Status, r.KFD, r.Message, status, id)
	}
	for _, w := range words {
		if !strings.Contains(r.Message, w) {
			t.Errorf("message %q lacks %q", r.Message, w)
		}
	}
}

func TestInstallProbe(t *testing.T) {
	in := multiUserInstall()
	in.Audience = "example.org/kfp"
	expect(t, runProbe(t, installProbe(), &Target{Cluster: &Cluster{Install: in}}), probe.Pass, "",
		"namespace kubeflow", "multi-user", "TOKEN_REVIEW_AUDIENCE example.org/kfp", "PodDefaults served")

	missing := &discover.Install{Problems: []string{"cannot list services in all namespaces: forbidden", "no Service ml-pipeline-ui in namespace kubeflow"}}
	expect(t, runProbe(t, installProbe(), &Target{Cluster: &Cluster{Install: missing}}), probe.Fail, kfd.APIServerProxy,
		"no KFP install found", "forbidden", "--kfp-namespace")
	// In a pod the SDK's default host is a DNS name that will not resolve.
	expect(t, runProbe(t, installProbe(), &Target{Cluster: &Cluster{Install: missing, Pod: &discover.Pod{Namespace: "ns-1"}}}), probe.Fail, kfd.DNS)

	// Refused, not absent: a pod goes on with the Service's name, warned;
	// outside there is nothing to port-forward to.
	hidden := &discover.Install{Hidden: true, Namespace: "kubeflow", Problems: []string{"cannot get service kubeflow/ml-pipeline-ui: forbidden"}}
	expect(t, runProbe(t, installProbe(), &Target{Cluster: &Cluster{Install: hidden, Pod: &discover.Pod{Namespace: "ns-1"}}}), probe.Warn, kfd.DNS,
		"assuming namespace kubeflow", "http://ml-pipeline-ui.kubeflow", "forbidden")
	expect(t, runProbe(t, installProbe(), &Target{Cluster: &Cluster{Install: hidden}}), probe.Fail, kfd.APIServerProxy)
	expect(t, runProbe(t, endpointsProbe(), &Target{Cluster: &Cluster{Install: hidden}}), probe.Skip, "")
}

func TestEndpointsProbe(t *testing.T) {
	in := multiUserInstall()
	expect(t, runProbe(t, endpointsProbe(), &Target{Cluster: &Cluster{Install: in}}), probe.Pass, "", "ml-pipeline-ui 1 ready", "ml-pipeline 1 ready")
	in.API.Ready, in.API.NotReady = 0, 2
	expect(t, runProbe(t, endpointsProbe(), &Target{Cluster: &Cluster{Install: in}}), probe.Fail, kfd.BackendNotReady, "kubeflow/ml-pipeline", "2 not ready")
	in.API.Exists = false
	expect(t, runProbe(t, endpointsProbe(), &Target{Cluster: &Cluster{Install: in}}), probe.Fail, kfd.DNS, "no Service kubeflow/ml-pipeline")
	in = multiUserInstall()
	in.UI.EndpointsKnown = false
	in.Problems = []string{"cannot list endpointslices in kubeflow: forbidden"}
	expect(t, runProbe(t, endpointsProbe(), &Target{Cluster: &Cluster{Install: in}}), probe.Skip, "", "forbidden")
}

func TestAudienceProbe(t *testing.T) {
	cases := []struct {
		name       string
		deployment string // TOKEN_REVIEW_AUDIENCE on the Deployment
		token      []string
		multi      bool
		status     probe.Status
		id         kfd.ID
		words      []string
	}{
		{"default audience", "", []string{DefaultAudience}, true, probe.Pass, "", []string{"KFP's default"}},
		{"wrong audience", "", []string{"wrong.example.com"}, true, probe.Fail, kfd.TokenAudience, []string{"[wrong.example.com]", `"pipelines.kubeflow.org"`}},
		{"deployment differs", "example.org/kfp", []string{DefaultAudience}, true, probe.Fail, kfd.TokenAudience, []string{"TOKEN_REVIEW_AUDIENCE on kubeflow/ml-pipeline", "example.org/kfp"}},
		{"deployment matches", "example.org/kfp", []string{"x", "example.org/kfp"}, true, probe.Pass, "", nil},
		{"standalone", "", []string{"wrong"}, false, probe.Skip, "", []string{"standalone"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := multiUserInstall()
			in.Audience = c.deployment
			target := &Target{Bearer: bearer(t, "ns-1", "default-editor", c.token...), Cluster: &Cluster{Install: in, MultiUser: c.multi, ModeKnown: true}}
			expect(t, runProbe(t, audienceProbe(), target), c.status, c.id, c.words...)
		})
	}
	target := &Target{Cluster: &Cluster{Install: multiUserInstall(), MultiUser: true, ModeKnown: true}}
	expect(t, runProbe(t, audienceProbe(), target), probe.Skip, "", "no token")
}

// The rbac probe must ask exactly what KFP asks: the user, no groups, and
// list experiments.pipelines.kubeflow.org/v1beta1 in the namespace.
func TestRBACProbe(t *testing.T) {
	cases := []struct {
		name   string
		answer func(*authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error)
		status probe.Status
		id     kfd.ID
		words  []string
	}{
		{"allowed", func(s *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
			s.Status.Allowed = true
			return s, nil
		}, probe.Pass, "", []string{"allows list experiments.pipelines.kubeflow.org/v1beta1 in namespace ns-2"}},
		{"denied", func(s *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
			s.Status.Reason = "no RBAC policy matched"
			return s, nil
		}, probe.Fail, kfd.RBACDenied, []string{"denies", "system:serviceaccount:ns-1:default-editor", "no RBAC policy matched"}},
		{"forbidden to ask", func(*authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
			return nil, apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, "", errors.New("RBAC"))
		}, probe.Skip, "", []string{"may not create subjectaccessreviews"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kube := fake.NewClientset()
			var asked *authorizationv1.SubjectAccessReview
			kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				asked = a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
				got, err := c.answer(asked.DeepCopy())
				if err != nil {
					return true, nil, err
				}
				return true, got, nil
			})
			target := &Target{Namespace: "ns-2", Bearer: bearer(t, "ns-1", "default-editor", DefaultAudience),
				Cluster: &Cluster{Install: multiUserInstall(), Kube: fromclientset.Wrap(kube), MultiUser: true, ModeKnown: true}}
			expect(t, runProbe(t, rbacProbe(), target), c.status, c.id, c.words...)
			want := authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:ns-1:default-editor", ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: "ns-2", Verb: "list", Group: "pipelines.kubeflow.org", Version: "v1beta1", Resource: "experiments"}}
			if asked == nil || asked.Spec.User != want.User || len(asked.Spec.Groups) != 0 || *asked.Spec.ResourceAttributes != *want.ResourceAttributes || asked.Spec.Extra != nil || asked.Spec.UID != "" {
				t.Fatalf("asked %+v, want %+v", asked, want)
			}
		})
	}
	// No identity, no namespace, standalone: nothing to replay.
	base := func() *Target {
		return &Target{Namespace: "ns-2", Bearer: bearer(t, "ns-1", "default-editor", DefaultAudience),
			Cluster: &Cluster{Install: multiUserInstall(), Kube: fromclientset.Wrap(fake.NewClientset()), MultiUser: true, ModeKnown: true}}
	}
	tg := base()
	tg.Namespace = ""
	expect(t, runProbe(t, rbacProbe(), tg), probe.Skip, "", "no --namespace")
	tg = base()
	tg.Bearer = staticBearer(t, "opaque")
	expect(t, runProbe(t, rbacProbe(), tg), probe.Skip, "", "not a JWT")
	tg = base()
	tg.Cluster.MultiUser = false
	expect(t, runProbe(t, rbacProbe(), tg), probe.Skip, "", "standalone")
}

func podDefault(ns, name string, match map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubeflow.org/v1alpha1", "kind": "PodDefault",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": match}},
	}}
}

func TestPodDefaultProbe(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns-1", Name: "nb-0", Labels: map[string]string{"app": "nb"}}}
	labelled := pod.DeepCopy()
	labelled.Labels["access-ml-pipeline"] = "true"
	scheme := runtime.NewScheme()
	gvrs := map[schema.GroupVersionResource]string{PodDefaultGVR: "PodDefaultList"}
	pd := podDefault("ns-1", "access-ml-pipeline", map[string]any{"access-ml-pipeline": "true"})
	cases := []struct {
		name  string
		pod   *corev1.Pod
		pds   []runtime.Object
		words []string
	}{
		{"label missing", pod, []runtime.Object{pd}, []string{`PodDefault access-ml-pipeline needs label access-ml-pipeline: "true"`, "nb-0 lacks"}},
		{"no poddefault", pod, nil, []string{"namespace ns-1 has no PodDefault"}},
		{"selected but not applied", labelled, []runtime.Object{pd}, []string{"selects this pod", "recreate the pod"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := &Target{Cluster: &Cluster{
				Install: multiUserInstall(), MultiUser: true, ModeKnown: true,
				Kube:    fromclientset.Wrap(fake.NewClientset(c.pod)),
				Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, gvrs, c.pds...),
				Pod:     &discover.Pod{Namespace: "ns-1", Name: "nb-0"},
			}}
			expect(t, runProbe(t, podDefaultProbe(), target), probe.Fail, kfd.NoTokenFile, c.words...)
		})
	}
	// kfp.Client() in a pipeline step: Argo's pod, which no PodDefault is
	// for (KFD058, not KFD004's advice to label it).
	t.Run("a pipeline step", func(t *testing.T) {
		step := pod.DeepCopy()
		step.Labels[workflowLabel] = "my-run-x7k2p"
		target := &Target{Cluster: &Cluster{
			Install: multiUserInstall(), MultiUser: true, ModeKnown: true,
			Kube:    fromclientset.Wrap(fake.NewClientset(step)),
			Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, gvrs, pd),
			Pod:     &discover.Pod{Namespace: "ns-1", Name: "nb-0"},
		}}
		expect(t, runProbe(t, podDefaultProbe(), target), probe.Fail, kfd.PipelineStep, SayPipelineStep, "my-run-x7k2p", "kubeflow-edit")
	})
	t.Run("no CRD", func(t *testing.T) {
		in := multiUserInstall()
		in.PodDefaultCRD = false
		target := &Target{Cluster: &Cluster{Install: in, MultiUser: true, ModeKnown: true, Pod: &discover.Pod{Namespace: "ns-1", Name: "nb-0"}}}
		expect(t, runProbe(t, podDefaultProbe(), target), probe.Fail, kfd.NoTokenFile, "serves no PodDefaults")
	})
	t.Run("token present", func(t *testing.T) {
		target := &Target{Bearer: bearer(t, "ns-1", "default-editor", DefaultAudience), Cluster: &Cluster{Install: multiUserInstall(), MultiUser: true, ModeKnown: true, Pod: &discover.Pod{}}}
		expect(t, runProbe(t, podDefaultProbe(), target), probe.Skip, "", "static token")
	})
}

// The probe set on a cluster keeps the four probes as they are and makes
// reaching a discovered host depend on the install.
func TestOnClusterSet(t *testing.T) {
	ids := func(set []probe.Probe[*Target]) (out []string) {
		for _, p := range set {
			out = append(out, p.ID)
		}
		return out
	}
	set := OnCluster(true, false)
	if got := strings.Join(ids(set), ","); got != "install,endpoints,poddefault-webhook,mesh,token,audience,healthz,mode,rbac,list-experiments" {
		t.Fatalf("set %s", got)
	}
	if _, err := probe.NewRunner(set); err != nil {
		t.Fatal(err)
	}
	for _, p := range set {
		if p.ID == "healthz" && strings.Join(p.DependsOn, ",") != "install" {
			t.Fatalf("healthz depends on %v", p.DependsOn)
		}
	}
	for _, p := range OnCluster(false, true) {
		if p.ID == "healthz" && len(p.DependsOn) != 0 {
			t.Fatalf("with a given host healthz depends on %v", p.DependsOn)
		}
	}
	if got := strings.Join(ids(OnCluster(false, true)), ","); !strings.Contains(got, "poddefault") {
		t.Fatalf("in a pod: %s", got)
	}
	// Doctor itself is untouched.
	if got := strings.Join(ids(Doctor()), ","); got != "token,healthz,mode,list-experiments" {
		t.Fatalf("Doctor() %s", got)
	}
	for _, p := range Doctor() {
		if p.ID == "healthz" && len(p.DependsOn) != 0 {
			t.Fatalf("Doctor()'s healthz changed: %v", p.DependsOn)
		}
	}
}
