package fidelity_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
)

// The second recordings' multi-user server (kfp-recorded-replies-2.md).
var recorded2Config = apiserver.Config{
	MultiUser: true, UserIDHeader: "kubeflow-userid", UserIDPrefix: "",
	TokenReviewAudience: kfpAudience, Namespace: "kubeflow",
}

const userNS = "kubeflow-user-example-com"

// get sends one GET with headers and returns the status.
func get(ctx context.Context, base, target string, header ...string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+target, nil)
	if err != nil {
		return 0, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// grantWorkflows lets the stand-in's ServiceAccount create Argo Workflows,
// as the recording did before its last run create, and waits until the
// kube-apiserver's authorizer says so.
func grantWorkflows(ctx context.Context) error {
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-workflows"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}, Verbs: []string{"create"}}},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-workflows"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "ml-pipeline", Namespace: "kubeflow"}},
	}
	if _, err := clientset.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := clientset.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	DeferCleanup(func(ctx SpecContext) {
		_ = clientset.RbacV1().ClusterRoleBindings().Delete(ctx, crb.Name, metav1.DeleteOptions{})
		_ = clientset.RbacV1().ClusterRoles().Delete(ctx, cr.Name, metav1.DeleteOptions{})
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		sar, err := clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:kubeflow:ml-pipeline",
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: userNS, Verb: "create", Group: "argoproj.io", Resource: "workflows"},
		}}, metav1.CreateOptions{})
		if err == nil && sar.Status.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the workflows grant never took effect (last error %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var _ = Describe("The API server stand-in against the second recordings", Label("multi-user", "standalone"), func() {
	var editorToken string
	BeforeEach(func(ctx SpecContext) {
		editorToken = mintToken(ctx, userNS, "default-editor", kfpAudience)
	})

	It("replays every exchange in order with the recorded answers", func(ctx SpecContext) {
		rp := kfptest.Replay{
			Bearer: editorToken,
			Before: map[string]func(context.Context) error{
				"6/run create after granting kubeflow/ml-pipeline argoproj.io workflows (the Workflow CRD is not installed)": grantWorkflows,
			},
			Start: func(multi bool, now func() time.Time, newID func() string) string {
				cfg := apiserver.Config{Namespace: "kubeflow"}
				if multi {
					cfg = recorded2Config
				}
				s := httptest.NewServer(apiserver.New(cfg, standinKube, apiserver.WithClock(now), apiserver.WithIDs(newID)))
				DeferCleanup(s.Close)
				if multi {
					// The replay is a sequence and cannot retry: wait until the
					// fixtures' RoleBindings are in the authorizer's cache.
					Eventually(ctx, func(ctx context.Context) ([]int, error) {
						a, err := get(ctx, s.URL, "/apis/v2beta1/experiments?namespace="+userNS, "Authorization", "Bearer "+editorToken)
						if err != nil {
							return nil, err
						}
						b, err := get(ctx, s.URL, "/apis/v2beta1/experiments?namespace=namespace-1", "kubeflow-userid", "user@example.com")
						return []int{a, b}, err
					}).Should(Equal([]int{http.StatusOK, http.StatusOK}))
				}
				return s.URL
			},
		}
		var failures []string
		replayed := 0
		for _, o := range rp.Run(ctx) {
			switch {
			case o.Skipped != "":
				GinkgoWriter.Printf("skipped %s: %s\n", o.Key(), o.Skipped)
			case o.Err != nil:
				failures = append(failures, fmt.Sprintf("%s (%s %s): %v", o.Key(), o.Method, o.Target, o.Err))
			default:
				replayed++
			}
		}
		Expect(failures).To(BeEmpty(), "%d exchanges differ from the recordings:\n%s", len(failures), strings.Join(failures, "\n"))
		Expect(replayed).To(BeNumerically(">", 150))
	}, NodeTimeout(3*time.Minute))

	It("lets kubeflow-view list experiments and pipelines but not create them", func(ctx SpecContext) {
		viewer := []string{"Authorization", "Bearer " + mintToken(ctx, userNS, "default-viewer", kfpAudience)}
		base := serve(apiserver.New(recorded2Config, standinKube))
		Eventually(ctx, func(ctx context.Context) (int, error) {
			return get(ctx, base, "/apis/v2beta1/experiments?namespace="+userNS, viewer...)
		}).Should(Equal(http.StatusOK))
		Expect(get(ctx, base, "/apis/v2beta1/pipelines?namespace="+userNS, viewer...)).To(Equal(http.StatusOK))

		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/apis/v2beta1/experiments",
			strings.NewReader(`{"display_name":"x","namespace":"`+userNS+`"}`))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set(viewer[0], viewer[1])
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
	})
})
