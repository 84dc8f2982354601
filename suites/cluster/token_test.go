package cluster_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const kfpAudience = "pipelines.kubeflow.org"

var _ = Describe("A pod-bound ServiceAccount token", Label("authn", "token"), func() {
	It("authenticates for its audience only, and only while its pod exists", func(ctx SpecContext) {
		// The bound object must live in the ServiceAccount's namespace, so
		// this spec's pod goes to namespace-2 under a generated name.
		pod, err := clientset.CoreV1().Pods("namespace-2").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "token-holder-"},
			Spec: corev1.PodSpec{
				ServiceAccountName: "default-editor",
				Containers:         []corev1.Container{{Name: "notebook", Image: "example.invalid/notebook:1"}},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			cctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			err := clientset.CoreV1().Pods(pod.Namespace).Delete(cctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			if !apierrors.IsNotFound(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		})

		// There is no kubelet to write the projected token: mint it the way
		// the kubelet would.
		tr, err := clientset.CoreV1().ServiceAccounts("namespace-2").CreateToken(ctx, "default-editor", &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{
				Audiences:         []string{kfpAudience},
				ExpirationSeconds: ptr.To[int64](7200),
				BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		token := tr.Status.Token
		Expect(token).NotTo(BeEmpty())

		review := func(audiences ...string) func(SpecContext) (authnv1.TokenReviewStatus, error) {
			return func(ctx SpecContext) (authnv1.TokenReviewStatus, error) {
				res, err := clientset.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
					Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences},
				}, metav1.CreateOptions{})
				if err != nil {
					return authnv1.TokenReviewStatus{}, err
				}
				return res.Status, nil
			}
		}

		By("reviewing it with the audience KFP's server uses")
		Eventually(ctx, review(kfpAudience)).Should(And(
			HaveField("Authenticated", BeTrue()),
			HaveField("User.Username", Equal(editorUser)),
			HaveField("Audiences", ConsistOf(kfpAudience)),
		))

		By("reviewing it with an audience it was not minted for")
		Expect(review("wrong.example.com")(ctx)).To(HaveField("Authenticated", BeFalse()))

		By("deleting the pod it is bound to")
		Expect(clientset.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name,
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})).To(Succeed())
		Eventually(ctx, func(ctx SpecContext) error {
			_, err := clientset.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			return err
		}).Should(Satisfy(apierrors.IsNotFound), "pod %s/%s never went away", pod.Namespace, pod.Name)
		// kube-apiserver caches successful token authentications for 10 s
		// (TokenSuccessCacheTTL), so a deleted pod's token keeps passing for
		// up to that long (measured ~10 s here): poll.
		Eventually(ctx, review(kfpAudience)).Should(HaveField("Authenticated", BeFalse()))
	}, SpecTimeout(2*time.Minute))
})
