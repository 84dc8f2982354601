package doctorpod

import (
	"os"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/yaml"
)

// shipped is the spec of deploy/doctor/job.yaml: the Job a user applies
// is the one this package builds, so what the suites prove about doctor
// pods holds for it.
var shipped = Spec{
	Name:           "kfp-doctor",
	Namespace:      "kubeflow-user-example-com",
	Image:          "ghcr.io/kfp-connect/kfp-doctor:latest",
	ServiceAccount: "kfp-doctor",
	Labels:         map[string]string{"access-ml-pipeline": "true"},
	Args:           []string{"-o", "json"},
}

func TestShippedJobIsJob(t *testing.T) {
	b, err := os.ReadFile("../../deploy/doctor/job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got batchv1.Job
	if err := yaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatalf("deploy/doctor/job.yaml: %v", err)
	}
	want, err := Job(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(want, &got) {
		t.Errorf("deploy/doctor/job.yaml differs from doctorpod.Job (-Job +file):\n%s", diff.Diff(want, &got))
	}
}
