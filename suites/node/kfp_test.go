package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// KFP's standalone fixtures, applied unchanged, run as real pods of the
// catalogue's images (kfp-standin): nothing is pulled, the UI reaches the
// API server through its Service, and the API server reports the release
// its image names.
var _ = Describe("KFP's fixtures on a node cluster", Ordered, Label("node", "kfp"), func() {
	var (
		n  *node.Node
		cs kubernetes.Interface
	)
	BeforeAll(func(ctx SpecContext) {
		kfp, err := imgs.Catalog(ctx, programs.KFPRefs()...)
		Expect(err).NotTo(HaveOccurred())
		n, cs = createNode(ctx, node.Options{DNS: true}, kfp)
	}, NodeTimeout(5*time.Minute))

	AfterEach(func() {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
		}
	})

	It("runs ml-pipeline and ml-pipeline-ui from the pre-imported images, with no pull", func(ctx SpecContext) {
		objs, err := install.Fixtures(kubeflow.Standalone)
		Expect(err).NotTo(HaveOccurred())
		rc := n.RESTConfig()
		_, err = manifests.Apply(ctx, rc, objs, manifests.Options{})
		Expect(err).NotTo(HaveOccurred())

		for _, name := range []string{"ml-pipeline", "ml-pipeline-ui"} {
			By("waiting for deployment " + name + " to be Available")
			Eventually(ctx, func(g Gomega) {
				d, err := cs.AppsV1().Deployments("kubeflow").Get(ctx, name, metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				var available bool
				for _, c := range d.Status.Conditions {
					available = available || (c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue)
				}
				g.Expect(available).To(BeTrue(), "conditions %v", d.Status.Conditions)
			}).WithTimeout(2 * time.Minute).Should(Succeed())

			pods, err := cs.CoreV1().Pods("kubeflow").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			Expect(err).NotTo(HaveOccurred())
			Expect(pods.Items).NotTo(BeEmpty())
			for _, p := range pods.Items {
				// The fixtures name no pull policy: a tagged image is
				// IfNotPresent, so the kubelet pulls only what is missing.
				Expect(p.Spec.Containers[0].ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
				Expect(p.Status.ContainerStatuses).To(HaveLen(1))
				Expect(p.Status.ContainerStatuses[0].Ready).To(BeTrue())
				evs, err := cs.CoreV1().Events("kubeflow").List(ctx, metav1.ListOptions{
					FieldSelector: fields.OneTermEqualSelector("involvedObject.name", p.Name).String()})
				Expect(err).NotTo(HaveOccurred())
				var present bool
				for _, e := range evs.Items {
					Expect(e.Reason).NotTo(Equal("Pulling"), "pod %s pulled its image: %s", p.Name, e.Message)
					present = present || (e.Reason == "Pulled" && strings.Contains(e.Message, "already present on machine"))
				}
				Expect(present).To(BeTrue(), "pod %s: no event says its image %s was already present", p.Name, p.Spec.Containers[0].Image)
			}
		}

		By("asking the UI, through a port-forward, for its healthz: the API server behind its Service, with its image's release")
		d, err := svcdial.New(rc, "kubeflow")
		Expect(err).NotTo(HaveOccurred())
		defer d.Close()
		client := &http.Client{Transport: d.Transport(), Timeout: 5 * time.Second}
		Eventually(ctx, func(g Gomega) {
			resp, err := client.Get("http://ml-pipeline-ui.kubeflow:80/apis/v1beta1/healthz")
			g.Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			g.Expect(err).NotTo(HaveOccurred())
			var h map[string]any
			g.Expect(json.Unmarshal(body, &h)).To(Succeed(), "%s", body)
			g.Expect(h["apiServerReady"]).To(Equal(true), "%s", body)
			g.Expect(h["apiServerTagName"]).To(Equal("2.17.0"), "%s", body)
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
