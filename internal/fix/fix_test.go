package fix

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in      string
		want    Subject
		wantErr string
	}{
		{"system:serviceaccount:team-a:default-editor", Subject{User: "system:serviceaccount:team-a:default-editor", SANamespace: "team-a", SAName: "default-editor"}, ""},
		{"user@example.com", Subject{User: "user@example.com"}, ""},
		{"", Subject{}, "no subject"},
		{"system:serviceaccount:team-a", Subject{}, "system:serviceaccount:NAMESPACE:NAME"},
		{"system:serviceaccount:Team:x", Subject{}, "system:serviceaccount:NAMESPACE:NAME"},
		{"system:anonymous", Subject{}, "not a ServiceAccount"},
	}
	for _, tc := range tests {
		got, err := ParseSubject(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}

func TestRoleBinding(t *testing.T) {
	tests := []struct {
		subject  string
		ns       string
		name     string
		subjects []rbacv1.Subject
		annot    map[string]string
	}{
		{"system:serviceaccount:team-a:default-editor", "team-b", "kfp-edit-team-a-default-editor",
			[]rbacv1.Subject{{Kind: "ServiceAccount", Name: "default-editor", Namespace: "team-a"}}, nil},
		{"User@Example.com", "team-b", "user-user-example-com-clusterrole-edit",
			[]rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "User@Example.com"}},
			map[string]string{"role": "edit", "user": "User@Example.com"}},
	}
	for _, tc := range tests {
		s, err := ParseSubject(tc.subject)
		if err != nil {
			t.Fatal(err)
		}
		m, err := RoleBinding(s, tc.ns)
		if err != nil {
			t.Fatal(err)
		}
		body, err := m.Body()
		if err != nil {
			t.Fatal(err)
		}
		var rb rbacv1.RoleBinding
		if err := yaml.UnmarshalStrict(body, &rb); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if rb.Name != tc.name || rb.Namespace != tc.ns || !reflect.DeepEqual(rb.Subjects, tc.subjects) || !reflect.DeepEqual(rb.Annotations, tc.annot) {
			t.Errorf("%s: %+v", tc.subject, rb)
		}
		if rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "kubeflow-edit"}) {
			t.Errorf("roleRef %+v", rb.RoleRef)
		}
		if m.ID != kfd.RBACDenied {
			t.Errorf("id %s", m.ID)
		}
	}
	if _, err := RoleBinding(Subject{User: "u"}, "Bad_NS"); err == nil {
		t.Error("a bad namespace was accepted")
	}
	if _, err := RoleBinding(Subject{User: "u"}, ""); err == nil || !strings.Contains(err.Error(), "-n") {
		t.Errorf("no namespace: %v", err)
	}
}

// The PodDefault is the one Kubeflow's documentation gives (our fixture
// holds it as the docs print it), for any profile namespace.
func TestPodDefaultIsKubeflows(t *testing.T) {
	b, err := os.ReadFile("../../fixtures/kfp/multi-user/60-poddefaults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		if md, _ := obj["metadata"].(map[string]any); md["namespace"] == "namespace-1" {
			want = obj
		}
	}
	if want == nil {
		t.Fatal("fixture lacks namespace-1's PodDefault")
	}
	m, err := PodDefault("namespace-1", "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := m.Body()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant the fixture's", body)
	}
}

func TestPodWithToken(t *testing.T) {
	m, err := PodWithToken(PodSpec{Name: "nb-0", Namespace: "team-a", ServiceAccount: "default-editor",
		Containers: []Container{{Name: "nb", Image: "jupyter:1"}, {Name: "side", Image: "proxy:2"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := m.Body()
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(body, &pod); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].Projected == nil {
		t.Fatalf("volumes %+v", pod.Spec.Volumes)
	}
	sat := pod.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken
	if sat.Audience != DefaultAudience || *sat.ExpirationSeconds != 7200 || sat.Path != "token" {
		t.Errorf("token source %+v", sat)
	}
	for _, c := range pod.Spec.Containers {
		if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != TokenDir || len(c.Env) != 1 || c.Env[0].Value != TokenPath {
			t.Errorf("container %s: %+v %+v", c.Name, c.VolumeMounts, c.Env)
		}
	}
	if pod.Spec.ServiceAccountName != "default-editor" {
		t.Errorf("sa %q", pod.Spec.ServiceAccountName)
	}
	if _, err := PodWithToken(PodSpec{Name: "x", Namespace: "ns"}, ""); err == nil {
		t.Error("a pod without containers was accepted")
	}
}

func TestAudience(t *testing.T) {
	m, err := Audience("kubeflow", "", "https://kubernetes.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	out, err := YAML([]Manifest{m})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"name: TOKEN_REVIEW_AUDIENCE", "value: https://kubernetes.default.svc.cluster.local", "name: ml-pipeline-api-server", "# Warning: that is the kube-apiserver's own audience", "--audience pipelines.kubeflow.org"} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %q:\n%s", want, s)
		}
	}
	if _, err := Audience("kubeflow", "", ""); err == nil {
		t.Error("no audience accepted")
	}
}

func TestYAMLJoinsDocuments(t *testing.T) {
	a, _ := PodDefault("ns-a", "")
	b, _ := RoleBinding(Subject{User: "u@x.org"}, "ns-a")
	out, err := YAML([]Manifest{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "\n---\n") != 1 || !strings.HasPrefix(string(out), "# KFD004") {
		t.Errorf("%s", out)
	}
}
