package doctor_test

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/fix"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// kfp-doctor fix's objects against a real kube-apiserver with KFP's
// multi-user install: each passes server-side dry-run (which changes
// nothing), a refusal is reported as the server's answer, and applying the
// KFD009 RoleBinding turns a failing doctor run green.
var _ = Describe("kfp-doctor fix on a lab cluster", Ordered, Label("multi-user", "fix"), func() {
	const (
		runner = "fix-runner"  // a ServiceAccount of the profile with no RoleBinding
		bare   = "team-no-kfp" // a namespace with no PodDefault
	)
	var (
		l   *kfpLab
		dyn dynamic.Interface
	)
	BeforeAll(func(ctx SpecContext) {
		l = startLab(ctx, kubeflow.MultiUser)
		dyn = dynamic.NewForConfigOrDie(l.rc)
		_, err := l.cs.CoreV1().ServiceAccounts(profile).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: runner}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = l.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bare}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(4*time.Minute))

	sendOK := func(ctx SpecContext, ms []fix.Manifest, dryRun bool) {
		GinkgoHelper()
		for _, v := range fix.Send(ctx, dyn, ms, dryRun) {
			AddReportEntry("server's answer", v.Answer)
			Expect(v.Err).NotTo(HaveOccurred(), v.Answer)
		}
	}

	It("KFD003: TOKEN_REVIEW_AUDIENCE on KFP's API server passes dry-run and changes nothing", func(ctx SpecContext) {
		m, err := fix.Audience("kubeflow", fix.APIServerContainer, "https://kubernetes.default.svc.cluster.local")
		Expect(err).NotTo(HaveOccurred())
		sendOK(ctx, []fix.Manifest{m}, true)
		d, err := l.cs.AppsV1().Deployments("kubeflow").Get(ctx, fix.APIServerName, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			Expect(e.Name).NotTo(Equal("TOKEN_REVIEW_AUDIENCE"), "a dry-run changed the Deployment")
		}
	}, SpecTimeout(time.Minute))

	It("KFD004: the PodDefault and a Pod with the projected token pass dry-run", func(ctx SpecContext) {
		pd, err := fix.PodDefault(bare, "")
		Expect(err).NotTo(HaveOccurred())
		pod, err := fix.PodWithToken(fix.PodSpec{Name: "notebook-0", Namespace: profile, ServiceAccount: editor,
			Containers: []fix.Container{{Name: "notebook", Image: "jupyter/base-notebook:latest"}}}, "")
		Expect(err).NotTo(HaveOccurred())
		sendOK(ctx, []fix.Manifest{pd, pod}, true)
		_, err = l.cs.CoreV1().Pods(profile).Get(ctx, "notebook-0", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a dry-run created the pod: %v", err)

		By("reporting the server's refusal for a namespace that does not exist")
		missing, err := fix.PodDefault("no-such-profile", "")
		Expect(err).NotTo(HaveOccurred())
		v := fix.Send(ctx, dyn, []fix.Manifest{missing}, true)[0]
		Expect(v.Accepted()).To(BeFalse())
		Expect(v.Answer).To(ContainSubstring("server-side dry-run refused"))
		Expect(v.Answer).To(ContainSubstring("no-such-profile"))
	}, SpecTimeout(time.Minute))

	It("KFD009: the RoleBinding passes dry-run, and applied turns the failing run green", func(ctx SpecContext) {
		tok := l.token(ctx, profile, runner, "pipelines.kubeflow.org", nil)
		cfg := l.outside(func(c *doctorRun) { c.Namespace, c.TokenFile = profile, tok })
		eventually(ctx, cfg, func(g Gomega, d diagnosis) {
			g.Expect(d.status("list-experiments")).To(Equal("fail KFD009"))
		})

		raw, err := os.ReadFile(tok)
		Expect(err).NotTo(HaveOccurred())
		info, err := credentials.InspectToken(string(raw))
		Expect(err).NotTo(HaveOccurred())
		subject, err := fix.ParseSubject(info.Who())
		Expect(err).NotTo(HaveOccurred())
		Expect(subject.SAName).To(Equal(runner))
		rb, err := fix.RoleBinding(subject, profile)
		Expect(err).NotTo(HaveOccurred())

		sendOK(ctx, []fix.Manifest{rb}, true)
		_, err = l.cs.RbacV1().RoleBindings(profile).Get(ctx, rb.Object.GetName(), metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a dry-run created the RoleBinding: %v", err)
		d := diagnose(ctx, cfg)
		Expect(d.status("list-experiments")).To(Equal("fail KFD009"), "still failing after the dry-run:\n%s", d.text)

		By("applying exactly the printed RoleBinding")
		sendOK(ctx, []fix.Manifest{rb}, false)
		got, err := l.cs.RbacV1().RoleBindings(profile).Get(ctx, rb.Object.GetName(), metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.RoleRef.Name).To(Equal("kubeflow-edit"))
		eventually(ctx, cfg, func(g Gomega, d diagnosis) {
			g.Expect(d.rep.OK()).To(BeTrue())
			g.Expect(d.status("rbac")).To(Equal("pass"))
			g.Expect(d.status("list-experiments")).To(Equal("pass"))
		})
	}, SpecTimeout(3*time.Minute))
})
