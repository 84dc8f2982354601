package node_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/doctorpod"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios/multiuser/incluster"
)

// A notebook in a profile namespace: a Pod of the notebook-like image
// (Debian's python3, the SDK, the kfp-doctor wheel installed with pip), as
// the profile's default-editor with the access-ml-pipeline label, so
// Kubeflow's PodDefault webhook mounts its KFP token. It runs what a
// notebook user types — kfp_doctor.diagnose(kfp.Client()) — and then the
// client's own list_experiments; the doctor's image in the same namespace,
// as the same ServiceAccount with the same label, is the reference.
var _ = Describe("A notebook's kfp_doctor.diagnose(kfp.Client())", Ordered, Label("node", "notebook"), func() {
	const ns, sa = kubeflow.ExampleProfile, kubeflow.ProfileEditor
	var (
		n  *node.Node
		cs kubernetes.Interface
	)
	BeforeAll(func(ctx SpecContext) {
		if _, ok := sdkrun.FindFolder(); !ok {
			Skip(sdkrun.ErrNoSDK.Error())
		}
		// The multi-user install's images, its PodDefault webhook's, the
		// notebook's and the doctor's (the reference pod).
		objs, err := install.Fixtures(kubeflow.MultiUser)
		Expect(err).NotTo(HaveOccurred())
		hook, err := install.PodDefaultWebhookObjects()
		Expect(err).NotTo(HaveOccurred())
		archives, _, err := imgs.ForObjects(ctx, append(objs, hook...))
		Expect(err).NotTo(HaveOccurred())
		notebook, err := imgs.Catalog(ctx, images.NotebookRef)
		Expect(err).NotTo(HaveOccurred())
		doctorImage, err := imgs.Doctor(ctx, images.Doctor("").Ref)
		Expect(err).NotTo(HaveOccurred())
		archives = append(append(archives, notebook...), doctorImage)
		n, cs = createNode(ctx, node.Options{DNS: true, ReadyTimeout: 10 * time.Minute}, archives)
		log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
		issuer, err := install.NewIssuer()
		Expect(err).NotTo(HaveOccurred())
		e, err := env.Setup(ctx, n.RESTConfig(), &incluster.Scenario, env.Options{Issuer: issuer, Log: log})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(e.Close)
		Expect(e.Admission).To(BeTrue(), "the PodDefault webhook must run here: %v", e.Notes)
	}, NodeTimeout(15*time.Minute))

	AfterEach(func() {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
		}
	})

	It("reaches the doctor pod's report, and the real client lists", func(ctx SpecContext) {
		args, err := sdkrun.Case{Diagnose: true}.PodArgs(images.NotebookDriver)
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "notebook-", Namespace: ns,
				Labels: map[string]string{kubeflow.AccessLabel: "true", "notebook-name": "my-notebook"}},
			Spec: corev1.PodSpec{
				ServiceAccountName: sa, RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "notebook", Image: images.NotebookRef, ImagePullPolicy: corev1.PullNever, Args: args,
					SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}}},
			},
		}
		created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = cs.CoreV1().Pods(ns).Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		})
		Expect(created.Spec.Containers[0].Env).To(ContainElement(HaveField("Name", kubeflow.TokenPathEnv)), "the PodDefault webhook did not admit the notebook")
		Eventually(ctx, func(ctx context.Context) (corev1.PodPhase, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			return p.Status.Phase, nil
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(BeElementOf(corev1.PodSucceeded, corev1.PodFailed))
		log, err := cs.CoreV1().Pods(ns).GetLogs(created.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		o, err := sdkrun.ParseOutcome(log)
		Expect(err).NotTo(HaveOccurred(), "log:\n%s", log)
		GinkgoWriter.Printf("the notebook's kfp.Client: %s\n", o)
		Expect(o.Diagnosis).NotTo(BeNil())
		Expect(o.Diagnosis.Error).To(BeEmpty())
		GinkgoWriter.Print(o.Diagnosis.Text)

		res, err := doctorpod.Run(ctx, cs, doctorpod.Spec{
			Namespace: ns, ServiceAccount: sa, PullPolicy: corev1.PullNever,
			Labels: map[string]string{kubeflow.AccessLabel: "true"}, Args: []string{"--timeout", "20s"},
		}, doctorpod.Options{Timeout: 2 * time.Minute})
		Expect(err).NotTo(HaveOccurred())

		var got struct {
			OK      bool             `json:"ok"`
			Results []map[string]any `json:"results"`
		}
		Expect(json.Unmarshal(o.Diagnosis.JSON, &got)).To(Succeed())
		// Two pods: each token is bound to its own, which the token probe
		// names. And the notebook's constructor already stored the pod's
		// namespace in ~/.config/kfp/context.json (set_user_namespace),
		// which the sdk and mode probes then name as the namespace's
		// source: their messages are the ones allowed to differ from a
		// fresh pod's (their verdicts are not).
		same := func(fs []sdkrun.Finding, pod string) []sdkrun.Finding {
			for i := range fs {
				fs[i].Message = strings.ReplaceAll(fs[i].Message, pod, "<pod>")
				if fs[i].Probe == "sdk" || fs[i].Probe == "mode" {
					fs[i].Message = ""
				}
			}
			return fs
		}
		Expect(same(sdkrun.Findings(got.Results), created.Name)).To(Equal(same(sdkrun.FindingsOf(res.Report.Report), res.Pod)), "diagnose(kfp.Client()) in the notebook and the doctor pod differ")
		Expect(got.OK).To(BeTrue(), "a notebook with the PodDefault reaches KFP:\n%s", o.Diagnosis.Text)
		Expect(o.Result).To(Equal(sdkrun.Succeeded), "the real kfp.Client in the notebook: %s\n%s", o, o.Log)
	}, NodeTimeout(6*time.Minute))
})
