// Package cluster_test proves the kwok cluster is a real Kubernetes for what
// the mission needs: RBAC aggregation by the controller-manager,
// SubjectAccessReview, pod-bound TokenRequest and TokenReview, and
// port-forwards to pods redirected to local servers.
package cluster_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/suites/suitekit"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/fixtures"
	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

// What every spec shares, set on every parallel process from the kubeconfig
// process 1 hands over.
var (
	clusterLogs      string // the components' log directory
	restConfigSource string // the kubeconfig file restConfig was built from
	restConfig       *rest.Config
	clientset        kubernetes.Interface
	dyn              dynamic.Interface
)

func TestMain(m *testing.M) {
	// The clean-up spec re-executes this binary as the process it interrupts.
	if os.Getenv(cleanupChildEnv) != "" {
		os.Exit(cleanupChild())
	}
	if os.Getenv(labChildEnv) != "" {
		os.Exit(labChild())
	}
	os.Exit(m.Run())
}

func TestClusterSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	// client-go reports each failed port-forward attempt through klog; the
	// specs retry those on purpose, so keep the noise with the spec's output.
	suitekit.QuietClientGo()
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "kwok cluster suite")
}

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	k := suitekit.Kwok(ctx)
	Expect(manifests.ApplyFS(ctx, k.RESTConfig(), fixtures.RBAC)).To(Succeed())
	shared, err := json.Marshal(sharedCluster{Kubeconfig: k.KubeconfigPath(), LogsDir: k.LogsDir()})
	Expect(err).NotTo(HaveOccurred())
	return shared
}, func(ctx SpecContext, data []byte) {
	var shared sharedCluster
	Expect(json.Unmarshal(data, &shared)).To(Succeed())
	clusterLogs = shared.LogsDir
	restConfigSource = shared.Kubeconfig
	var err error
	restConfig, err = clientcmd.BuildConfigFromFlags("", restConfigSource)
	Expect(err).NotTo(HaveOccurred())
	restConfig.QPS, restConfig.Burst, restConfig.Timeout = 100, 200, 30*time.Second
	clientset = kubernetes.NewForConfigOrDie(restConfig)
	dyn = dynamic.NewForConfigOrDie(restConfig)
}, NodeTimeout(3*time.Minute))

// sharedCluster is what process 1 hands every parallel process.
type sharedCluster struct{ Kubeconfig, LogsDir string }

// A failed spec carries the end of each component's log in its report: the
// cluster, and its logs, are gone once the suite ends.
var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() && clusterLogs != "" {
		AddReportEntry("cluster component logs", cluster.LogTails(clusterLogs, 40))
	}
})

var _ = ReportAfterSuite("reports", suitekit.Reports("cluster-suite"))

// withTimeout is for clean-up funcs that run after the spec's context ended.
// scratchNamespace creates a namespace named from prefix for the spec and
// deletes it when the spec ends; it returns its name.
func scratchNamespace(ctx context.Context, prefix string) string {
	ns, err := clientset.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		cctx, cancel := withTimeout(30 * time.Second)
		defer cancel()
		Expect(clientset.CoreV1().Namespaces().Delete(cctx, ns.Name, metav1.DeleteOptions{})).To(Succeed())
	})
	return ns.Name
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
