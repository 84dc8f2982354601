package kwokrule

import (
	"encoding/json"
	"testing"
)

// A rule the lab writes is read back to the address kwok connects to, for
// that pod's forwarded ports only.
func TestTargetReadsWhatNewWrites(t *testing.T) {
	rule, err := New("kubeflow", "ml-pipeline-abc", "uid-1", map[int32]string{8888: "127.0.0.1:40001", 8887: "127.0.0.1:40001", 15006: "127.0.0.1:40002"})
	if err != nil {
		t.Fatal(err)
	}
	if rule.GetName() != Name("uid-1") {
		t.Errorf("name %q", rule.GetName())
	}
	data, err := json.Marshal(rule.Object)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns, pod string
		port    int
		want    string
	}{
		{"kubeflow", "ml-pipeline-abc", 8888, "127.0.0.1:40001"},
		{"kubeflow", "ml-pipeline-abc", 8887, "127.0.0.1:40001"},
		{"kubeflow", "ml-pipeline-abc", 15006, "127.0.0.1:40002"},
		{"kubeflow", "ml-pipeline-abc", 9999, ""},   // a port the pod does not forward
		{"kubeflow", "ml-pipeline-other", 8888, ""}, // another pod
		{"default", "ml-pipeline-abc", 8888, ""},    // another namespace
	} {
		got, ok, err := Target(data, c.ns, c.pod, c.port)
		if err != nil || ok != (c.want != "") || got != c.want {
			t.Errorf("%s/%s:%d: %q %v %v, want %q", c.ns, c.pod, c.port, got, ok, err, c.want)
		}
	}
}

// Someone else's rule is kwok's business, not the dialer's.
func TestTargetIgnoresRulesNotTheLabs(t *testing.T) {
	rule, err := New("kubeflow", "p", "u", map[int32]string{80: "127.0.0.1:40001"})
	if err != nil {
		t.Fatal(err)
	}
	rule.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "someone"})
	data, _ := json.Marshal(rule.Object)
	if addr, ok, err := Target(data, "kubeflow", "p", 80); ok || err != nil {
		t.Errorf("read %q %v from a rule not the lab's", addr, err)
	}
	if _, _, err := Target([]byte("{"), "kubeflow", "p", 80); err == nil {
		t.Error("no error for a rule that is not JSON")
	}
	if _, err := New("kubeflow", "p", "u", map[int32]string{80: "no-port"}); err == nil {
		t.Error("no error for a target without a port")
	}
}
