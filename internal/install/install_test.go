package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kfp-connect/kfp-connect/fixtures"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

func find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustFixtures(t *testing.T, mode kubeflow.Mode) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Fixtures(mode)
	if err != nil {
		t.Fatalf("Fixtures(%s): %v", mode, err)
	}
	return objs
}

func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

// resolveEnv resolves a container's env from the install's own ConfigMaps and Secrets
// with podenv.ContainerEnv, the kubelet's rules, as if the pod ran in namespace.
func resolveEnv(t *testing.T, objs []*unstructured.Unstructured, namespace string, c corev1.Container) map[string]string {
	t.Helper()
	var cms []runtime.Object
	for _, o := range objs {
		if o.GetNamespace() != namespace {
			continue
		}
		switch o.GetKind() {
		case "ConfigMap":
			cms = append(cms, typed[corev1.ConfigMap](t, o))
		case "Secret":
			s := typed[corev1.Secret](t, o)
			for k, v := range s.StringData { // the apiserver would merge these
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[k] = []byte(v)
			}
			cms = append(cms, s)
		}
	}
	noLinks := false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "resolve", Namespace: namespace},
		Spec: corev1.PodSpec{EnableServiceLinks: &noLinks, Containers: []corev1.Container{c}}}
	env, err := podenv.ContainerEnv(context.Background(), fromclientset.Wrap(fake.NewClientset(cms...)), pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatalf("resolving the env of %s: %v", c.Name, err)
	}
	return env
}

func TestFixturesShape(t *testing.T) {
	for _, tc := range []struct {
		mode      kubeflow.Mode
		multiUser string
	}{{kubeflow.Standalone, "false"}, {kubeflow.MultiUser, "true"}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			objs := mustFixtures(t, tc.mode)
			for _, d := range []struct{ name, image string }{
				{"ml-pipeline", "ghcr.io/kubeflow/kfp-api-server:2.17.0"},
				{"ml-pipeline-ui", "ghcr.io/kubeflow/kfp-frontend:2.17.0"},
			} {
				o := find(objs, "Deployment", "kubeflow", d.name)
				if o == nil {
					t.Fatalf("no Deployment kubeflow/%s", d.name)
				}
				dep := typed[appsv1.Deployment](t, o)
				if got := dep.Spec.Template.Spec.Containers[0].Image; got != d.image {
					t.Errorf("%s image = %q, want %q", d.name, got, d.image)
				}
				if sa := dep.Spec.Template.Spec.ServiceAccountName; find(objs, "ServiceAccount", "kubeflow", sa) == nil {
					t.Errorf("%s runs as ServiceAccount %q, which the install lacks", d.name, sa)
				}
			}

			api := typed[appsv1.Deployment](t, find(objs, "Deployment", "kubeflow", "ml-pipeline")).Spec.Template.Spec.Containers[0]
			env := resolveEnv(t, objs, "kubeflow", api)
			want := map[string]string{
				"MULTIUSER": tc.multiUser, "KUBEFLOW_USERID_HEADER": "kubeflow-userid",
				"KUBEFLOW_USERID_PREFIX": "", "POD_NAMESPACE": "kubeflow",
			}
			for k, v := range want {
				if got, ok := env[k]; !ok || got != v {
					t.Errorf("API server env %s = %q (set: %v), want %q", k, got, ok, v)
				}
			}
			if v, ok := env["TOKEN_REVIEW_AUDIENCE"]; ok {
				t.Errorf("TOKEN_REVIEW_AUDIENCE = %q: no manifest sets it, scenarios patch it in", v)
			}
			if tc.mode == kubeflow.MultiUser && api.Env[0].ValueFrom == nil {
				t.Error("multi-user MULTIUSER is a literal; the real install reads it from a config map")
			}

			ports := func(name string) map[string][2]int {
				svc := typed[corev1.Service](t, find(objs, "Service", "kubeflow", name))
				m := map[string][2]int{}
				for _, p := range svc.Spec.Ports {
					m[p.Name] = [2]int{int(p.Port), p.TargetPort.IntValue()}
				}
				return m
			}
			if got, want := ports("ml-pipeline"), map[string][2]int{"http": {8888, 8888}, "grpc": {8887, 8887}}; !reflect.DeepEqual(got, want) {
				t.Errorf("Service ml-pipeline ports %v, want %v", got, want)
			}
			if got, want := ports("ml-pipeline-ui"), map[string][2]int{"http": {80, 3000}}; !reflect.DeepEqual(got, want) {
				t.Errorf("Service ml-pipeline-ui ports %v, want %v", got, want)
			}

			for _, name := range []string{"ml-pipeline", "kubeflow-edit", "kubeflow-view", "kubeflow-pipelines-edit",
				"kubeflow-pipelines-view", "aggregate-to-kubeflow-pipelines-edit", "aggregate-to-kubeflow-pipelines-view"} {
				if find(objs, "ClusterRole", "", name) == nil {
					t.Errorf("no ClusterRole %s", name)
				}
			}
			crb := find(objs, "ClusterRoleBinding", "", "ml-pipeline")
			if crb == nil {
				t.Fatal("no ClusterRoleBinding ml-pipeline")
			}
		})
	}
}

// The suites may load fixtures/rbac next to an install: objects in both are
// applied by one field manager, so they must be identical or the second
// apply would silently strip what the first set.
func TestFixturesAgreeWithRBAC(t *testing.T) {
	rbac, err := manifests.Read(fixtures.RBAC)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range kubeflow.Modes {
		shared := 0
		for _, o := range mustFixtures(t, mode) {
			r := find(rbac, o.GetKind(), o.GetNamespace(), o.GetName())
			if r == nil {
				continue
			}
			shared++
			if !reflect.DeepEqual(r.Object, o.Object) {
				t.Errorf("%s: %s %s/%s differs from fixtures/rbac:\n ours %v\n rbac %v", mode, o.GetKind(), o.GetNamespace(), o.GetName(), o.Object, r.Object)
			}
		}
		if shared == 0 {
			t.Errorf("%s shares nothing with fixtures/rbac: the check proves nothing", mode)
		}
	}
}

// podDefaultSpec is the part of PodDefault's spec the documentation uses,
// typed with the core/v1 types the admission webhook copies into pods.
type podDefaultSpec struct {
	Desc         string               `json:"desc"`
	Selector     metav1.LabelSelector `json:"selector"`
	Env          []corev1.EnvVar      `json:"env"`
	Volumes      []corev1.Volume      `json:"volumes"`
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
}

func TestFixturesMultiUserProfiles(t *testing.T) {
	objs := mustFixtures(t, kubeflow.MultiUser)
	if crd := find(objs, "CustomResourceDefinition", "", "poddefaults.kubeflow.org"); crd == nil {
		t.Fatal("no PodDefault CRD")
	} else {
		spec, _, _ := unstructured.NestedMap(crd.Object, "spec")
		if spec["group"] != "kubeflow.org" || spec["scope"] != "Namespaced" {
			t.Errorf("PodDefault CRD group/scope = %v/%v", spec["group"], spec["scope"])
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		if len(versions) != 1 || versions[0].(map[string]any)["name"] != "v1alpha1" {
			t.Errorf("PodDefault CRD versions = %v, want v1alpha1 only", versions)
		}
	}

	// The documented PodDefault, as Kubeflow's docs and its own CI write it.
	expiry := int64(7200)
	want := podDefaultSpec{
		Desc:     "Allow access to Kubeflow Pipelines",
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{"access-ml-pipeline": "true"}},
		Env:      []corev1.EnvVar{{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/var/run/secrets/kubeflow/pipelines/token"}},
		Volumes: []corev1.Volume{{Name: "volume-kf-pipeline-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path: "token", ExpirationSeconds: &expiry, Audience: "pipelines.kubeflow.org",
			}}},
		}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "volume-kf-pipeline-token", MountPath: "/var/run/secrets/kubeflow/pipelines", ReadOnly: true}},
	}
	for _, ns := range []string{"kubeflow-user-example-com", "namespace-1", "namespace-2"} {
		if find(objs, "Namespace", "", ns) == nil {
			t.Errorf("no profile Namespace %s", ns)
		}
		if find(objs, "ServiceAccount", ns, "default-editor") == nil {
			t.Errorf("no ServiceAccount %s/default-editor", ns)
		}
		rb := find(objs, "RoleBinding", ns, "default-editor")
		if rb == nil {
			t.Errorf("no RoleBinding %s/default-editor", ns)
		} else if name, _, _ := unstructured.NestedString(rb.Object, "roleRef", "name"); name != "kubeflow-edit" {
			t.Errorf("RoleBinding %s/default-editor binds %q, want kubeflow-edit", ns, name)
		}
		pd := find(objs, "PodDefault", ns, "access-ml-pipeline")
		if pd == nil {
			t.Errorf("no PodDefault %s/access-ml-pipeline", ns)
			continue
		}
		if pd.GetAPIVersion() != "kubeflow.org/v1alpha1" {
			t.Errorf("PodDefault apiVersion %s", pd.GetAPIVersion())
		}
		spec, _, _ := unstructured.NestedMap(pd.Object, "spec")
		var got podDefaultSpec
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(spec, &got, true); err != nil {
			t.Errorf("PodDefault %s spec has fields outside the documented shape: %v", ns, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("PodDefault %s spec:\n got  %+v\n want %+v", ns, got, want)
		}
	}
}

func TestFixturesApplyOrder(t *testing.T) {
	for _, mode := range kubeflow.Modes {
		objs := mustFixtures(t, mode)
		seenOther := false
		for _, o := range objs {
			first := o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition"
			if first && seenOther {
				t.Errorf("%s: %s %s comes after other kinds: files must sort CRDs and namespaces first", mode, o.GetKind(), o.GetName())
			}
			seenOther = seenOther || !first
		}
	}
}

func TestFixturesUnknownMode(t *testing.T) {
	if _, err := Fixtures("single"); err == nil {
		t.Fatal("Fixtures(single) succeeded")
	}
}

// sharedOrSkip returns the upstream folder or skips, saying how to provide it.
func sharedOrSkip(t *testing.T) string {
	t.Helper()
	root, ok := FindShared()
	if !ok {
		t.Skipf("skipping: %v", ErrNoUpstream)
	}
	return root
}

func TestKustomizeUpstream(t *testing.T) {
	root := sharedOrSkip(t)
	// Counts from the shared folder's README, checked when it was copied.
	for mode, want := range map[kubeflow.Mode]int{kubeflow.Standalone: 72, kubeflow.MultiUser: 136} {
		t.Run(string(mode), func(t *testing.T) {
			objs, err := Kustomize(UpstreamDir(root, mode))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != want {
				t.Errorf("%d objects, want %d", len(objs), want)
			}
			dep := find(objs, "Deployment", "kubeflow", "ml-pipeline")
			if dep == nil {
				t.Fatal("no Deployment kubeflow/ml-pipeline")
			}
			api := typed[appsv1.Deployment](t, dep).Spec.Template.Spec.Containers[0]
			if api.Image != "ghcr.io/kubeflow/kfp-api-server:2.17.0" {
				t.Errorf("API image %q", api.Image)
			}
		})
	}
}

func TestUpstreamMultiUserResolvesMultiuser(t *testing.T) {
	root := sharedOrSkip(t)
	objs, err := Upstream(root, kubeflow.MultiUser)
	if err != nil {
		t.Fatal(err)
	}
	api := typed[appsv1.Deployment](t, find(objs, "Deployment", "kubeflow", "ml-pipeline")).Spec.Template.Spec.Containers[0]
	env := resolveEnv(t, objs, "kubeflow", api)
	if env["MULTIUSER"] != "true" || env["KUBEFLOW_USERID_HEADER"] != "kubeflow-userid" {
		t.Errorf("upstream multi-user API env: MULTIUSER=%q KUBEFLOW_USERID_HEADER=%q", env["MULTIUSER"], env["KUBEFLOW_USERID_HEADER"])
	}
	if find(objs, "Namespace", "", "kubeflow") == nil || find(objs, "ClusterRole", "", "kubeflow-edit") == nil ||
		find(objs, "CustomResourceDefinition", "", "poddefaults.kubeflow.org") == nil {
		t.Error("the multi-user upstream install lacks Kubeflow's namespace, kubeflow-edit or the PodDefault CRD")
	}
}

// Every object of the upstream installs takes unstructured's deep copy and
// Nested helpers, as objects read from files do: kustomize's own maps hold
// Go ints, on which they panic ("cannot deep copy int").
func TestUpstreamObjectsDeepCopy(t *testing.T) {
	root := sharedOrSkip(t)
	for _, mode := range kubeflow.Modes {
		objs, err := Upstream(root, mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), r)
					}
				}()
				_ = o.DeepCopy()
			}()
		}
	}
}

func TestUpstreamStandaloneHasNamespace(t *testing.T) {
	root := sharedOrSkip(t)
	objs, err := Upstream(root, kubeflow.Standalone)
	if err != nil {
		t.Fatal(err)
	}
	if find(objs, "Namespace", "", "kubeflow") == nil {
		t.Error("the standalone upstream install lacks namespace kubeflow (cluster-scoped-resources)")
	}
}

func TestKustomizeMissingDir(t *testing.T) {
	if _, err := Kustomize(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("Kustomize of a missing directory succeeded")
	}
}

func TestFindSharedEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(UpstreamEnv, dir)
	if got, ok := FindShared(); ok || got != dir {
		t.Errorf("FindShared() = %q, %v for an empty folder; want %q, false", got, ok, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "kubeflow-pipelines", "manifests", "kustomize"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, ok := FindShared(); !ok || got != dir {
		t.Errorf("FindShared() = %q, %v; want %q, true", got, ok, dir)
	}
}

func TestUpstreamDir(t *testing.T) {
	for mode, want := range map[kubeflow.Mode]string{
		kubeflow.Standalone: "/s/kubeflow-pipelines/manifests/kustomize/env/platform-agnostic",
		kubeflow.MultiUser:  "/s/kubeflow-pipelines/manifests/kustomize/env/platform-agnostic-multi-user",
	} {
		if got := UpstreamDir("/s", mode); got != want {
			t.Errorf("UpstreamDir(%s) = %s, want %s", mode, got, want)
		}
	}
}

func TestObjectsUnknownSource(t *testing.T) {
	if _, err := Objects("helm", kubeflow.Standalone); err == nil {
		t.Fatal("Objects(helm) succeeded")
	}
	t.Setenv(UpstreamEnv, t.TempDir())
	if _, err := Objects(FromUpstream, kubeflow.Standalone); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("Objects(upstream) without manifests: %v, want ErrNoUpstream", err)
	}
}
