package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
)

func service(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "grpc", Port: 8887}, {Name: "http", Port: 80}}},
	}
}

func slice(ns, svc string, ready ...bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.1.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &r}})
	}
	return s
}

// apiServer is the ml-pipeline Deployment as the manifests write it:
// MULTIUSER through a configMapKeyRef, the audience as a literal.
func apiServer(ns string, env ...corev1.EnvVar) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: APIDeployment},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "sidecar", Env: []corev1.EnvVar{{Name: "MULTIUSER", Value: "false"}}},
			{Name: APIContainer, Env: env},
		}}}},
	}
}

var multiUserEnv = []corev1.EnvVar{
	{Name: "MULTIUSER", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "pipeline-api-server-config"}, Key: "MULTIUSER"}}},
	{Name: "TOKEN_REVIEW_AUDIENCE", Value: "example.org/kfp"},
}

func configMap(ns string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pipeline-api-server-config"}, Data: map[string]string{"MULTIUSER": "true"}}
}

func withPodDefaults(c *fake.Clientset) {
	c.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{
		{GroupVersion: PodDefaultGroupVersion, APIResources: []metav1.APIResource{{Name: "poddefaults", Namespaced: true, Kind: "PodDefault"}}},
	}
}

func forbid(c *fake.Clientset, verb, resource string) {
	c.PrependReactor(verb, resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC"))
	})
}

func find(t *testing.T, c *fake.Clientset, opts Options) *Install {
	t.Helper()
	in, err := Find(context.Background(), fromclientset.Wrap(c), opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// hasProblem: a problem that starts with prefix (a refusal's reason adds
// the apiserver's words after "forbidden").
func hasProblem(in *Install, prefix string) bool {
	return slices.ContainsFunc(in.Problems, func(p string) bool { return strings.HasPrefix(p, prefix) })
}

func TestFindMultiUser(t *testing.T) {
	c := fake.NewClientset(
		service("kubeflow", UIService), service("kubeflow", APIService), service("other", "unrelated"),
		slice("kubeflow", UIService, true), slice("kubeflow", APIService, true, false),
		apiServer("kubeflow", multiUserEnv...), configMap("kubeflow"),
	)
	withPodDefaults(c)
	in := find(t, c, Options{})
	if !in.Found || in.Namespace != "kubeflow" || !strings.Contains(in.HowFound, "holding service ml-pipeline-ui") {
		t.Fatalf("found %v in %q (%s)", in.Found, in.Namespace, in.HowFound)
	}
	if !in.ModeKnown || !in.MultiUser || in.Audience != "example.org/kfp" {
		t.Fatalf("mode known %v multi %v audience %q: the configMapKeyRef must resolve", in.ModeKnown, in.MultiUser, in.Audience)
	}
	if in.UI.Port != 80 || in.UI.Ready != 1 || in.API.Ready != 1 || in.API.NotReady != 1 || !in.API.EndpointsKnown {
		t.Fatalf("services: %+v %+v", in.UI, in.API)
	}
	if !in.PodDefaultKnown || !in.PodDefaultCRD {
		t.Fatalf("PodDefault CRD not seen")
	}
	if len(in.Problems) != 0 {
		t.Fatalf("problems: %v", in.Problems)
	}
}

func TestFindStandaloneElsewhere(t *testing.T) {
	c := fake.NewClientset(
		service("kfp", UIService), service("kfp", APIService),
		apiServer("kfp"), // no MULTIUSER: KFP's default, standalone
	)
	in := find(t, c, Options{})
	if !in.Found || in.Namespace != "kfp" || !in.ModeKnown || in.MultiUser || in.Audience != "" {
		t.Fatalf("%+v", in)
	}
	// No EndpointSlices at all: known, and zero.
	if !in.UI.EndpointsKnown || in.UI.Ready != 0 {
		t.Fatalf("UI endpoints %+v", in.UI)
	}
	if !in.PodDefaultKnown || in.PodDefaultCRD {
		t.Fatalf("no PodDefault CRD in this cluster, got known %v crd %v", in.PodDefaultKnown, in.PodDefaultCRD)
	}
}

func TestFindPrefersKubeflowAmongSeveral(t *testing.T) {
	c := fake.NewClientset(service("a-kfp", UIService), service("kubeflow", UIService), service("z-kfp", UIService))
	in := find(t, c, Options{})
	if in.Namespace != "kubeflow" || !strings.Contains(in.HowFound, "a-kfp, z-kfp") {
		t.Fatalf("%q: %s", in.Namespace, in.HowFound)
	}
	c = fake.NewClientset(service("b-kfp", UIService), service("a-kfp", UIService))
	if in := find(t, c, Options{}); in.Namespace != "a-kfp" || !strings.Contains(in.HowFound, "also in b-kfp") {
		t.Fatalf("%q: %s", in.Namespace, in.HowFound)
	}
}

func TestFindNamespaceFlag(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService), service("mine", UIService))
	if in := find(t, c, Options{Namespace: "mine"}); !in.Found || in.Namespace != "mine" || in.HowFound != "from --kfp-namespace" {
		t.Fatalf("%+v", in)
	}
	in := find(t, c, Options{Namespace: "absent"})
	if in.Found || !slices.Contains(in.Problems, "no Service ml-pipeline-ui in namespace absent") {
		t.Fatalf("%+v", in)
	}
}

func TestFindNothing(t *testing.T) {
	in := find(t, fake.NewClientset(service("default", "kubernetes")), Options{})
	if in.Found || !slices.Contains(in.Problems, "no Service ml-pipeline-ui in any namespace") {
		t.Fatalf("%+v", in)
	}
}

// A profile user may not list services cluster-wide nor read the
// Deployment: each refusal is reported, none stops discovery.
func TestFindForbidden(t *testing.T) {
	c := fake.NewClientset(
		service("kubeflow", UIService), service("kubeflow", APIService),
		apiServer("kubeflow", multiUserEnv...), configMap("kubeflow"),
	)
	c.PrependReactor("list", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("RBAC"))
		}
		return false, nil, nil
	})
	forbid(c, "get", "deployments")
	forbid(c, "list", "endpointslices")
	in := find(t, c, Options{})
	if in.Hidden {
		t.Fatal("found, yet marked hidden")
	}
	if !in.Found || in.Namespace != "kubeflow" || !strings.Contains(in.HowFound, "the default") {
		t.Fatalf("%+v", in)
	}
	if in.ModeKnown || in.UI.EndpointsKnown {
		t.Fatalf("mode or endpoints claimed known: %+v", in)
	}
	for _, want := range []string{
		"cannot list services in all namespaces: forbidden",
		"cannot get deployment kubeflow/ml-pipeline: forbidden",
		"cannot list endpointslices in kubeflow: forbidden",
	} {
		if !hasProblem(in, want) {
			t.Errorf("problems %q lack %q", in.Problems, want)
		}
	}
}

// A user who may read nothing in kubeflow: not found, but hidden rather
// than absent, so a pod can still try the Service's name.
func TestFindHidden(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService))
	forbid(c, "list", "services")
	forbid(c, "get", "services")
	in := find(t, c, Options{})
	if in.Found || !in.Hidden || in.Namespace != "kubeflow" {
		t.Fatalf("%+v", in)
	}
	if !hasProblem(in, "cannot get service kubeflow/ml-pipeline-ui: forbidden") {
		t.Fatalf("problems %q", in.Problems)
	}
	// Absent is not hidden.
	if in := find(t, fake.NewClientset(), Options{Namespace: "kubeflow"}); in.Hidden {
		t.Fatalf("absent reported hidden: %+v", in)
	}
}

// A config map the Deployment needs but the user may not read leaves the
// mode unknown, with the reason.
func TestFindConfigMapForbidden(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService), apiServer("kubeflow", multiUserEnv...), configMap("kubeflow"))
	forbid(c, "get", "configmaps")
	in := find(t, c, Options{})
	if in.ModeKnown {
		t.Fatalf("mode known without the config map: %+v", in)
	}
	if len(in.Problems) == 0 || !strings.Contains(strings.Join(in.Problems, ";"), "forbidden") {
		t.Fatalf("problems %q", in.Problems)
	}
}

// The API server's Deployment as the manifests ship it takes its database
// and object store credentials from Secrets: reading the mode and audience
// must not read them, so the doctor's ClusterRole needs no secrets. A
// $(VAR) the needed values reference is still resolved.
func TestFindReadsNoSecrets(t *testing.T) {
	secretEnv := func(name, secret string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "k"}}}
	}
	env := append([]corev1.EnvVar{
		secretEnv("DBCONFIG_USER", "mysql-secret"),
		{Name: "AUD_BASE", Value: "example.org"},
		secretEnv("OBJECTSTORECONFIG_ACCESSKEY", "mlpipeline-minio-artifact"),
	}, multiUserEnv[0], corev1.EnvVar{Name: "TOKEN_REVIEW_AUDIENCE", Value: "$(AUD_BASE)/kfp"})
	c := fake.NewClientset(service("kubeflow", UIService), apiServer("kubeflow", env...), configMap("kubeflow"))
	c.PrependReactor("get", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		t.Errorf("read secret %s/%s", a.GetNamespace(), a.(k8stesting.GetAction).GetName())
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC"))
	})
	in := find(t, c, Options{})
	if !in.ModeKnown || !in.MultiUser || in.Audience != "example.org/kfp" {
		t.Fatalf("mode known %v multi %v audience %q, problems %q", in.ModeKnown, in.MultiUser, in.Audience, in.Problems)
	}
}

// A refusal says who was refused what, in the apiserver's words: the
// permission to grant.
func TestForbiddenNamesThePermission(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService), apiServer("kubeflow", multiUserEnv...))
	c.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, APIDeployment,
			errors.New(`User "system:serviceaccount:team-a:kfp-doctor" cannot get resource "deployments" in API group "apps" in the namespace "kubeflow"`))
	})
	in := find(t, c, Options{})
	want := `cannot get deployment kubeflow/ml-pipeline: forbidden (User "system:serviceaccount:team-a:kfp-doctor" cannot get resource "deployments" in API group "apps" in the namespace "kubeflow")`
	if !slices.Contains(in.Problems, want) {
		t.Errorf("problems %q lack %q", in.Problems, want)
	}
}

func TestReferences(t *testing.T) {
	for v, want := range map[string]string{"": "", "plain": "", "$(A)": "A", "x$(A)y$(B)": "A,B", "$$(A)": "", "$(A": "", "$": ""} {
		if got := strings.Join(references(v), ","); got != want {
			t.Errorf("references(%q) = %q, want %q", v, got, want)
		}
	}
}

// An ended context is checked before discovery's call (which a fake
// discovery client would answer regardless), and reported.
func TestFindEndedContext(t *testing.T) {
	c := fake.NewClientset(service("kubeflow", UIService))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in, err := Find(ctx, fromclientset.Wrap(c), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(in.Problems, "cannot tell whether PodDefaults are served: context canceled") {
		t.Fatalf("problems %q", in.Problems)
	}
}

func TestInPod(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "nb-0"}
	getenv := func(k string) string { return env[k] }
	if _, ok := InPod(getenv, os.ReadFile, dir); ok {
		t.Fatal("in a pod without the ServiceAccount mount")
	}
	for name, v := range map[string]string{"token": "t", "namespace": "ns-1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, ok := InPod(getenv, os.ReadFile, dir)
	if !ok || p.Namespace != "ns-1" || p.Name != "nb-0" {
		t.Fatalf("%v %+v", ok, p)
	}
	env["KUBERNETES_SERVICE_HOST"] = ""
	if _, ok := InPod(getenv, os.ReadFile, dir); ok {
		t.Fatal("in a pod without KUBERNETES_SERVICE_HOST")
	}
}

func TestKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	const kc = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
- name: b
  cluster: {server: "https://127.0.0.2:6443"}
users:
- name: u
  user: {}
contexts:
- name: ca
  context: {cluster: a, user: u, namespace: ns-a}
- name: cb
  context: {cluster: b, user: u}
current-context: ca
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ns, err := Kubeconfig(context.Background(), path, "", 2*time.Second)
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || ns != "ns-a" || cfg.Timeout != 2*time.Second {
		t.Fatalf("%v %v %q", err, cfg, ns)
	}
	cfg, _, err = Kubeconfig(context.Background(), path, "cb", time.Second)
	if err != nil || cfg.Host != "https://127.0.0.2:6443" {
		t.Fatalf("--context: %v %v", err, cfg)
	}
	if _, _, err := Kubeconfig(context.Background(), path, "nope", time.Second); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown context: %v", err)
	}
	// $KUBECONFIG is honoured when no path is given.
	t.Setenv("KUBECONFIG", path)
	if cfg, _, err := Kubeconfig(context.Background(), "", "", time.Second); err != nil || cfg.Host != "https://127.0.0.1:6443" {
		t.Fatalf("$KUBECONFIG: %v %v", err, cfg)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", empty)
	if _, _, err := Kubeconfig(context.Background(), "", "", time.Second); !errors.Is(err, ErrNoKubeconfig) {
		t.Fatalf("empty config: %v", err)
	}
	if _, _, err := Kubeconfig(context.Background(), filepath.Join(dir, "missing"), "", time.Second); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing explicit file: %v", err)
	}
}

// $KUBECONFIG as a list, read by the doctor itself: the first file to name a
// cluster or the current context wins, missing entries are skipped, relative
// paths are relative to their own file, and a FIFO in the list is refused
// rather than blocking the run.
func TestKubeconfigListIsMergedAsKubectlDoes(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "sub", "second")
	if err := os.MkdirAll(filepath.Dir(second), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(first, `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: ca
  context: {cluster: a, user: u}
current-context: ca
`)
	write(second, `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://10.0.0.1:6443"}
- name: b
  cluster: {server: "https://127.0.0.2:6443", certificate-authority: ca.crt}
users:
- name: u
  user: {}
contexts:
- name: cb
  context: {cluster: b, user: u}
current-context: cb
`)
	write(filepath.Join(dir, "sub", "ca.crt"), "not checked here")
	list := strings.Join([]string{filepath.Join(dir, "missing"), first, second}, string(filepath.ListSeparator))
	t.Setenv("KUBECONFIG", list)
	cfg, _, err := Kubeconfig(context.Background(), "", "", time.Second)
	if err != nil || cfg.Host != "https://127.0.0.1:6443" {
		t.Fatalf("first file's current context and cluster must win: %v %v", err, cfg)
	}
	cfg, _, err = Kubeconfig(context.Background(), "", "cb", time.Second)
	if err != nil || cfg.Host != "https://127.0.0.2:6443" || cfg.TLSClientConfig.CAFile != filepath.Join(dir, "sub", "ca.crt") {
		t.Fatalf("context from the second file, CA relative to it: %v %+v", err, cfg)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", fifo+string(filepath.ListSeparator)+first)
	if _, _, err := Kubeconfig(context.Background(), "", "", time.Second); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("a FIFO in $KUBECONFIG: %v", err)
	}
}
