package cluster_test

import (
	"fmt"

	"github.com/kfp-connect/kfp-connect/suites/suitekit"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const editorUser = "system:serviceaccount:namespace-2:default-editor"

var _ = Describe("Kubeflow RBAC", Label("rbac"), func() {
	It("aggregates the pipelines rules into kubeflow-edit (the controller-manager's work)", Label("aggregation"), func(ctx SpecContext) {
		// kubeflow-edit ← kubeflow-pipelines-edit ← {aggregate-to-…-edit,
		// kubeflow-pipelines-view ← aggregate-to-…-view}: two levels deep.
		want := []struct{ group, resource, verb string }{
			{"pipelines.kubeflow.org", "experiments", "list"},
			{"pipelines.kubeflow.org", "experiments", "create"},
			{"pipelines.kubeflow.org", "runs", "readArtifact"},
			{"pipelines.kubeflow.org", "pipelineversions", "update"},
			{"argoproj.io", "workflows", "delete"},
			{"kubeflow.org", "viewers", "get"},
		}
		Eventually(ctx, func(g Gomega) {
			role, err := clientset.RbacV1().ClusterRoles().Get(ctx, "kubeflow-edit", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			for _, w := range want {
				g.Expect(suitekit.Grants(role.Rules, w.group, w.resource, w.verb)).To(BeTrue(),
					"kubeflow-edit lacks %s %s/%s; rules: %v", w.verb, w.group, w.resource, role.Rules)
			}
		}).Should(Succeed())
	})

	DescribeTable("SubjectAccessReview as KFP sends it (user only, no groups) for list experiments",
		Label("sar"),
		func(ctx SpecContext, namespace string, allowed bool) {
			// The authorizer's caches lag RBAC writes and the aggregation, so
			// first wait for the grant to take effect: a denial seen before
			// then would prove nothing.
			Eventually(ctx, listExperimentsAllowed).WithArguments("namespace-1").Should(BeTrue(), "RBAC never settled")
			Eventually(ctx, listExperimentsAllowed).WithArguments(namespace).Should(Equal(allowed))
		},
		Entry("allowed in namespace-1 through allow-namespace-2-kubeflow-edit", "namespace-1", true),
		Entry("denied in namespace-3, where nothing binds it", "namespace-3", false),
	)
})

// listExperimentsAllowed asks the apiserver what KFP's server asks it before
// listing experiments in namespace on behalf of the editor.
func listExperimentsAllowed(ctx SpecContext, namespace string) (bool, error) {
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: editorUser,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: namespace, Group: "pipelines.kubeflow.org", Version: "v1beta1",
			Resource: "experiments", Verb: "list",
		},
	}}
	res, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	if res.Status.EvaluationError != "" {
		return false, fmt.Errorf("evaluation error: %s", res.Status.EvaluationError)
	}
	return res.Status.Allowed, nil
}
