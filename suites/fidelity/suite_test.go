// Package fidelity_test replays every request of kfp-recorded-replies.md
// against the API server stand-in, on a kwok cluster set up like the one the
// replies were recorded on, and demands the same answers: status, code,
// message chain and details, only the rendering of k8s.io/api's
// ResourceAttributes allowed to differ. Every authentication and
// authorization decision is the real kube-apiserver's.
package fidelity_test

import (
	"context"
	"embed"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/suites/suitekit"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

//go:embed testdata/*.yaml
var testdata embed.FS

const (
	kfpAudience   = "pipelines.kubeflow.org"
	wrongAudience = "wrong.example.com"
	alice         = "system:serviceaccount:ns-1:alice"
)

// What the specs share; set once by BeforeSuite.
var (
	admin     *rest.Config
	clientset kubernetes.Interface
	// standinKube acts as the stand-in's own ServiceAccount, kubeflow/ml-pipeline.
	standinKube kubernetes.Interface
	// Tokens for alice, minted for KFP's audience and for another.
	aliceToken, aliceWrongAudience string
)

func TestFidelitySuite(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "KFP stand-in fidelity suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	k := suitekit.Kwok(ctx)
	admin = k.RESTConfig()
	Expect(manifests.ApplyFS(ctx, admin, testdata)).To(Succeed())
	clientset = kubernetes.NewForConfigOrDie(admin)

	aliceToken = mintToken(ctx, "ns-1", "alice", kfpAudience)
	aliceWrongAudience = mintToken(ctx, "ns-1", "alice", wrongAudience)

	// The stand-in talks to the kube-apiserver as KFP's API server does: with
	// a token of its own ServiceAccount, trusting the cluster's CA, nothing
	// of the admin's credentials.
	sa := rest.AnonymousClientConfig(admin)
	sa.BearerToken = mintToken(ctx, "kubeflow", "ml-pipeline")
	sa.Timeout = 15 * time.Second
	standinKube = kubernetes.NewForConfigOrDie(sa)
}, NodeTimeout(3*time.Minute))

// mintToken asks for a ServiceAccount token as the kubelet would for a
// projected volume; no audience means the kube-apiserver's own.
func mintToken(ctx context.Context, namespace, sa string, audiences ...string) string {
	GinkgoHelper()
	var token string
	// The ServiceAccount was applied a moment ago: the token endpoint may
	// not see it yet.
	Eventually(ctx, func(ctx context.Context) error {
		tr, err := clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To[int64](3600)},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		token = tr.Status.Token
		return nil
	}).Should(Succeed(), "minting a token for %s/%s", namespace, sa)
	return token
}

var _ = ReportAfterSuite("reports", suitekit.Reports("fidelity-suite"))
