package kfpauthz

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Ask sends what KFP sends — the user and KFP's attributes, no groups, no
// UID, no extra — and returns the server's answer.
func TestAskSendsKFPsReview(t *testing.T) {
	kube := fake.NewClientset()
	var sent *authorizationv1.SubjectAccessReview
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sent = a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		answer := sent.DeepCopy()
		answer.Status.Allowed = sent.Spec.User == "system:serviceaccount:ns-1:default-editor"
		return true, answer, nil
	})
	got, err := Ask(context.Background(), kube.AuthorizationV1().SubjectAccessReviews(), "system:serviceaccount:ns-1:default-editor", ListExperiments("ns-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Status.Allowed {
		t.Fatal("the server's answer was not returned")
	}
	want := authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:ns-1:default-editor",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "ns-1", Verb: "list", Group: "pipelines.kubeflow.org", Version: "v1beta1", Resource: "experiments"}}
	if sent == nil || sent.Spec.User != want.User || len(sent.Spec.Groups) != 0 || sent.Spec.UID != "" || len(sent.Spec.Extra) != 0 ||
		*sent.Spec.ResourceAttributes != *want.ResourceAttributes {
		t.Fatalf("sent %+v", sent)
	}
	if d := Describe("u", ListExperiments("ns-1")); d != "list experiments.pipelines.kubeflow.org/v1beta1 in namespace ns-1 for u" {
		t.Fatalf("Describe: %q", d)
	}
}
