// Package kfpauthz is KFP's authorization question, written once: the
// SubjectAccessReview multi-user KFP's ResourceManager.IsAuthorized sends to
// the kube-apiserver for a request (kfp-facts.md). The doctor replays it,
// the conformance runner waits on it, and the API server stand-in asks it.
package kfpauthz

import (
	"context"
	"fmt"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
)

// KFP's resources for authorization: group, version and the resource a
// list of experiments is checked as.
const (
	Group       = kubeflow.APIGroup
	Version     = "v1beta1"
	Experiments = "experiments"
	VerbList    = "list"
)

// Attributes are the resource attributes KFP fills in: its group and
// version, the namespace, verb, resource and (for one object) the name.
func Attributes(namespace, verb, resource, name string) *authorizationv1.ResourceAttributes {
	return &authorizationv1.ResourceAttributes{
		Namespace: namespace, Verb: verb, Group: Group, Version: Version, Resource: resource, Name: name,
	}
}

// ListExperiments is what KFP asks before listing experiments in namespace.
func ListExperiments(namespace string) *authorizationv1.ResourceAttributes {
	return Attributes(namespace, VerbList, Experiments, "")
}

// Review is the SubjectAccessReview exactly as KFP sends it: the user and the
// resource attributes, never groups, so RoleBindings to groups do not apply.
func Review(user string, attrs *authorizationv1.ResourceAttributes) *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}}
}

// Ask creates the review and returns the kube-apiserver's answer. reviews is
// a client of SubjectAccessReviews: kubeapi's, or a clientset's
// AuthorizationV1().SubjectAccessReviews().
func Ask(ctx context.Context, reviews kubeapi.Creator[*authorizationv1.SubjectAccessReview], user string, attrs *authorizationv1.ResourceAttributes) (*authorizationv1.SubjectAccessReview, error) {
	return reviews.Create(ctx, Review(user, attrs), metav1.CreateOptions{})
}

// Describe names the question for messages: "list
// experiments.pipelines.kubeflow.org/v1beta1 in namespace ns for user".
func Describe(user string, attrs *authorizationv1.ResourceAttributes) string {
	return fmt.Sprintf("%s %s.%s/%s in namespace %s for %s", attrs.Verb, attrs.Resource, attrs.Group, attrs.Version, attrs.Namespace, user)
}
