package node_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/doctorpod"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/probe"
)

// The doctor's own image runs as a Pod on a real kubelet, and its -o json
// report comes back through the pod's log (internal/doctorpod): the same
// path the in-cluster scenario cases take on this provider and on kind.
var _ = Describe("The doctor's image in a pod", Ordered, Label("node", "doctor-pod"), func() {
	var (
		n  *node.Node
		cs kubernetes.Interface
	)
	const ns = "doctor-client"
	BeforeAll(func(ctx SpecContext) {
		// The doctor is a large program: its build, cold, takes minutes; it is
		// built before the cluster, outside its creation deadline.
		doctor, err := imgs.Doctor(ctx, images.Doctor("").Ref)
		Expect(err).NotTo(HaveOccurred())
		n, cs = createNode(ctx, node.Options{DNS: true}, []string{doctor})
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "doctor"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(8*time.Minute))

	AfterEach(func() {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
		}
	})

	run := func(ctx SpecContext, host string) *doctorpod.Result {
		res, err := doctorpod.Run(ctx, cs, doctorpod.Spec{
			Namespace: ns, ServiceAccount: "doctor", PullPolicy: corev1.PullNever,
			Labels: map[string]string{"access-ml-pipeline": "true"},
			Args:   []string{"--host", host, "--timeout", "20s"},
		}, doctorpod.Options{Timeout: 2 * time.Minute})
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("doctor pod %s exited %d: %+v\n", res.Pod, res.ExitCode, res.Report.Summary)
		for _, r := range res.Report.Report.Results {
			GinkgoWriter.Printf("  %s %s %s: %s %+v\n", r.Probe, r.Status, r.KFD, r.Message, r.Evidence)
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: doctorpod.ManagedByLabel + "=" + doctorpod.ManagedByValue})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).To(BeEmpty(), "Run left its pod behind")
		return res
	}

	healthz := func(res *doctorpod.Result) probe.Result {
		for _, r := range res.Report.Report.Results {
			if r.Probe == "healthz" {
				return r
			}
		}
		Fail("the report has no healthz result")
		return probe.Result{}
	}

	It("reports a Service that does not exist through the cluster's DNS", func(ctx SpecContext) {
		// Not the name the next spec serves: CoreDNS caches a denial for
		// 30 s, which would outlive this spec.
		res := run(ctx, "http://ml-pipeline-ui.no-kfp-here")
		Expect(res.ExitCode).To(BeEquivalentTo(1), "a failed check exits 1; log:\n%s", res.LogTail)
		Expect(res.Report.OK).To(BeFalse())
		Expect(res.Report.Report.Tool).To(HavePrefix("kfp-doctor "))
		h := healthz(res)
		Expect(h.Status).To(Equal(probe.Fail))
		Expect(h.KFD).To(Equal(kfd.DNS), "healthz: %s", h.Message)
		Expect(h.Message).To(ContainSubstring(`cannot resolve "ml-pipeline-ui.no-kfp-here"`))
		Expect(res.LogTail).NotTo(BeEmpty(), "a failed run carries its log")
	}, NodeTimeout(3*time.Minute))

	It("reaches a server pod by its Service name and ClusterIP and says it is not KFP", func(ctx SpecContext) {
		By("serving HTTP 200 \"ok\" as ml-pipeline-ui in kubeflow")
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeflow"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.CoreV1().Pods("kubeflow").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "not-kfp", Labels: map[string]string{"app": "not-kfp"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "serve", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever,
				Args:  []string{"serve", ":3000"},
				Ports: []corev1.ContainerPort{{ContainerPort: 3000}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(3000)}},
					PeriodSeconds: 1,
				},
			}}},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.CoreV1().Services("kubeflow").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-ui"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "not-kfp"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(3000)}},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, podReady(cs, "kubeflow", "not-kfp")).Should(BeTrue(), "the server pod never became Ready")
		// A Ready endpoint is not yet a programmed ClusterIP: until
		// kube-proxy's next sync a connection finds no route (ENETUNREACH).
		// The probe's get retries until it answers (bounded), so when it
		// has succeeded the path the doctor takes is there.
		By("waiting until the Service answers from a pod")
		_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "wait-for-service"},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "get", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever, Args: []string{"get", "http://ml-pipeline-ui.kubeflow/"},
			}}},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(ctx context.Context) (corev1.PodPhase, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "wait-for-service", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			return p.Status.Phase, nil
		}).WithTimeout(90 * time.Second).Should(Equal(corev1.PodSucceeded))
		Expect(cs.CoreV1().Pods(ns).Delete(ctx, "wait-for-service", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})).To(Succeed())

		By("running the doctor pod against it")
		res := run(ctx, "http://ml-pipeline-ui.kubeflow")
		Expect(res.ExitCode).To(BeEquivalentTo(1), "log:\n%s", res.LogTail)
		h := healthz(res)
		Expect(h.KFD).To(Equal(kfd.NotKFP), "healthz: %s", h.Message)
		Expect(h.Evidence).NotTo(BeNil())
		Expect(h.Evidence.StatusCode).To(Equal(200))
		Expect(h.Evidence.Request).To(Equal("GET http://ml-pipeline-ui.kubeflow/apis/v2beta1/healthz"))
	}, NodeTimeout(3*time.Minute))

	// With no --host the doctor looks for KFP through the cluster, as its
	// pod's ServiceAccount: the projected token the kubelet mounted, the
	// kubernetes Service through kube-proxy. This ServiceAccount has no
	// RBAC, so the refusal itself shows who the apiserver saw.
	It("with no --host asks the apiserver as its pod's ServiceAccount", func(ctx SpecContext) {
		res, err := doctorpod.Run(ctx, cs, doctorpod.Spec{
			Namespace: ns, ServiceAccount: "doctor", PullPolicy: corev1.PullNever,
			Args: []string{"--timeout", "20s"},
		}, doctorpod.Options{Timeout: 2 * time.Minute})
		Expect(err).NotTo(HaveOccurred())
		var install *probe.Result
		for i, r := range res.Report.Report.Results {
			GinkgoWriter.Printf("  %s %s %s: %s\n", r.Probe, r.Status, r.KFD, r.Message)
			if r.Probe == "install" {
				install = &res.Report.Report.Results[i]
			}
		}
		Expect(install).NotTo(BeNil(), "no install check: the doctor did not see it runs in a pod; log:\n%s", res.LogTail)
		Expect(install.Message).To(ContainSubstring(`cannot list services in all namespaces: forbidden (User "system:serviceaccount:` + ns + `:doctor" cannot list resource "services"`))
		Expect(res.Report.Report.Details).To(ContainSubstring("in-cluster ServiceAccount"))
	}, NodeTimeout(3*time.Minute))

	It("says at once when the image is not on the node", func(ctx SpecContext) {
		_, err := doctorpod.Run(ctx, cs, doctorpod.Spec{
			Namespace: ns, PullPolicy: corev1.PullNever, Image: images.DoctorRepository + ":not-loaded",
		}, doctorpod.Options{Timeout: time.Minute})
		Expect(err).To(MatchError(doctorpod.ErrNotStarted))
		Expect(err.Error()).To(ContainSubstring("ErrImageNeverPull"))
	}, NodeTimeout(2*time.Minute))
})
