package doctor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/suites/suitekit"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

const (
	profile = "kubeflow-user-example-com"
	editor  = "default-editor"
)

// kfpLab is a kwok cluster with KFP installed and stand-ins for its pods.
type kfpLab struct {
	kubeconfig string
	rc         *rest.Config
	cs         kubernetes.Interface
}

// startLab brings up a lab for one Ordered container, as lab.Serve does but
// without the lab's own port-forward: finding and forwarding is the
// doctor's job here. Clean-up is registered before each step it undoes, so
// a failure or an interrupt anywhere leaves nothing running.
func startLab(ctx SpecContext, mode kubeflow.Mode) *kfpLab {
	objs, err := install.Fixtures(mode)
	Expect(err).NotTo(HaveOccurred())
	k := suitekit.Kwok(ctx)
	rc := k.RESTConfig()
	By(fmt.Sprintf("installing KFP %s (%d objects)", mode, len(objs)))
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	bins, err := lab.DefaultBinaries()
	Expect(err).NotTo(HaveOccurred())
	rt, _, err := lab.InstallAndRun(wctx, rc, objs, lab.Programs(bins), slog.New(slog.NewTextHandler(GinkgoWriter, nil)))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(rt.Close)
	return &kfpLab{kubeconfig: k.KubeconfigPath(), rc: rc, cs: kubernetes.NewForConfigOrDie(rc)}
}

// token mints a ServiceAccount token by TokenRequest, as
// `kubectl create token` does, optionally bound to a pod, and writes it to
// a file only this test reads.
func (l *kfpLab) token(ctx context.Context, ns, sa, audience string, pod *corev1.Pod) string {
	req := &authenticationv1.TokenRequest{}
	if audience != "" { // "" is the kube-apiserver's own audience
		req.Spec.Audiences = []string{audience}
	}
	if pod != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := l.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "token")
	Expect(os.WriteFile(path, []byte(tr.Status.Token), 0o600)).To(Succeed())
	return path
}

func readToken(path string) string {
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// outside is the doctor on a workstation: a kubeconfig, no host, and an
// environment that says nothing (so the machine's own cannot leak in).
func (l *kfpLab) outside(extra func(*doctorRun)) doctorRun {
	cfg := doctorRun{
		Config: doctor.Config{Kubeconfig: l.kubeconfig, Timeout: 20 * time.Second},
		Seams: doctor.Seams{
			Getenv:           func(string) string { return "" },
			DefaultTokenPath: filepath.Join(GinkgoT().TempDir(), "no-token"),
		},
	}
	if extra != nil {
		extra(&cfg)
	}
	return cfg
}

// doctorRun is one run's configuration and seams, embedded so a spec sets
// either on one value.
type doctorRun struct {
	doctor.Config
	doctor.Seams
}

// diagnosis is one doctor run, with its results by probe id and its text.
type diagnosis struct {
	rep  *report.Report
	by   map[string]probe.Result
	ids  []string
	text string
}

func diagnose(ctx context.Context, cfg doctorRun) diagnosis {
	var red redact.Redactor
	rep, err := doctor.Run(ctx, cfg.Config, cfg.Seams, &red)
	Expect(err).NotTo(HaveOccurred())
	d := diagnosis{rep: rep, by: map[string]probe.Result{}}
	for _, r := range rep.Results {
		d.by[r.Probe] = r
		d.ids = append(d.ids, r.Probe)
	}
	var b bytes.Buffer
	Expect(rep.Text(&b, false)).To(Succeed())
	d.text = b.String()
	return d
}

func (d diagnosis) status(id string) string {
	r, ok := d.by[id]
	if !ok {
		return "absent"
	}
	if r.KFD != "" {
		return string(r.Status) + " " + string(r.KFD)
	}
	return string(r.Status)
}

// eventually reruns the doctor until check passes: the first port-forwards
// of a fresh cluster can fail, and the spec's message is the last report.
func eventually(ctx SpecContext, cfg doctorRun, check func(g Gomega, d diagnosis)) diagnosis {
	var last diagnosis
	Eventually(ctx, func(g Gomega) {
		last = diagnose(ctx, cfg)
		check(g, last)
	}).Should(Succeed(), func() string { return "last report:\n" + last.text })
	AddReportEntry("kfp-doctor report", last.text)
	return last
}

var _ = Describe("kfp-doctor with only a kubeconfig", func() {
	Context("standalone KFP", Ordered, Label("standalone", "out-of-cluster"), func() {
		var l *kfpLab
		BeforeAll(func(ctx SpecContext) { l = startLab(ctx, kubeflow.Standalone) }, NodeTimeout(4*time.Minute))

		It("finds the install, port-forwards to ml-pipeline-ui and passes", func(ctx SpecContext) {
			d := eventually(ctx, l.outside(nil), func(g Gomega, d diagnosis) {
				g.Expect(d.rep.OK()).To(BeTrue())
			})
			Expect(d.status("install")).To(Equal("pass"))
			Expect(d.by["install"].Message).To(ContainSubstring("KFP in namespace kubeflow"))
			Expect(d.by["install"].Message).To(ContainSubstring("standalone"))
			Expect(d.status("endpoints")).To(Equal("pass"))
			Expect(d.status("audience")).To(Equal("skip"), "standalone KFP reviews no tokens")
			Expect(d.status("rbac")).To(Equal("skip"))
			Expect(d.status("list-experiments")).To(Equal("pass"))
			Expect(d.text).To(ContainSubstring("scenario standalone-out-of-cluster"))
			Expect(d.text).To(MatchRegexp(`host: port-forward 127\.0\.0\.1:\d+ → svc/ml-pipeline-ui\.kubeflow:80`))
			Expect(d.rep.Target).To(HavePrefix("http://127.0.0.1:"))
			By("seeing the doctor's port-forward closed once the run returned")
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(d.rep.Target, "http://"), time.Second)
			if err == nil {
				conn.Close()
			}
			Expect(err).To(HaveOccurred(), "the port-forward outlived the run")
		}, SpecTimeout(2*time.Minute))
	})

	Context("multi-user KFP", Ordered, Label("multi-user"), func() {
		var l *kfpLab
		BeforeAll(func(ctx SpecContext) { l = startLab(ctx, kubeflow.MultiUser) }, NodeTimeout(4*time.Minute))

		It("passes with a TokenRequest token for the profile's default-editor", Label("out-of-cluster"), func(ctx SpecContext) {
			tok := l.token(ctx, profile, editor, "pipelines.kubeflow.org", nil)
			d := eventually(ctx, l.outside(func(c *doctorRun) { c.Namespace, c.TokenFile = profile, tok }), func(g Gomega, d diagnosis) {
				g.Expect(d.rep.OK()).To(BeTrue())
			})
			for _, id := range []string{"install", "endpoints", "token", "audience", "healthz", "mode", "rbac", "list-experiments"} {
				Expect(d.status(id)).To(Equal("pass"), id)
			}
			Expect(d.by["install"].Message).To(ContainSubstring("multi-user"))
			Expect(d.by["rbac"].Message).To(ContainSubstring("allows list experiments.pipelines.kubeflow.org/v1beta1 in namespace " + profile))
			Expect(d.text).To(ContainSubstring("scenario multi-user-out-of-cluster"))
		}, SpecTimeout(2*time.Minute))

		It("names KFD009 from the replayed SubjectAccessReview before list-experiments confirms it", Label("out-of-cluster", "fault"), func(ctx SpecContext) {
			tok := l.token(ctx, profile, editor, "pipelines.kubeflow.org", nil)
			d := eventually(ctx, l.outside(func(c *doctorRun) { c.Namespace, c.TokenFile = "namespace-3", tok }), func(g Gomega, d diagnosis) {
				g.Expect(d.status("list-experiments")).To(Equal("fail KFD009"))
			})
			Expect(d.status("rbac")).To(Equal("fail KFD009"), "expected KFD009 from the rbac probe, got %s", d.status("rbac"))
			Expect(d.by["rbac"].Message).To(ContainSubstring("system:serviceaccount:" + profile + ":" + editor))
			Expect(slices.Index(d.ids, "rbac")).To(BeNumerically("<", slices.Index(d.ids, "list-experiments")))
			Expect(d.status("audience")).To(Equal("pass"))
		}, SpecTimeout(2*time.Minute))

		It("names KFD003 from the audience probe for a token with the wrong audience", Label("out-of-cluster", "fault"), func(ctx SpecContext) {
			tok := l.token(ctx, profile, editor, "wrong.example.com", nil)
			d := eventually(ctx, l.outside(func(c *doctorRun) { c.Namespace, c.TokenFile = profile, tok }), func(g Gomega, d diagnosis) {
				g.Expect(d.status("list-experiments")).To(Equal("fail KFD003"))
			})
			Expect(d.status("audience")).To(Equal("fail KFD003"), "expected KFD003 from the audience probe, got %s", d.status("audience"))
			Expect(d.by["audience"].Message).To(ContainSubstring(`"pipelines.kubeflow.org"`))
			Expect(d.status("rbac")).To(Equal("pass"), "the identity itself is allowed")
		}, SpecTimeout(2*time.Minute))

		// kfp.Client() with no host outside a pod goes through the
		// kube-apiserver's service proxy, which would dial a kwok pod's
		// fake IP: the doctor computes the path and refuses before any
		// request reaches the proxy.
		It("refuses kfp.Client()'s service-proxy default on kwok's fake nodes", Label("out-of-cluster"), func(ctx SpecContext) {
			var red redact.Redactor
			run := l.outside(func(c *doctorRun) { c.SDKDefaultHost = true })
			_, err := doctor.Run(ctx, run.Config, run.Seams, &red)
			Expect(doctor.IsUsage(err)).To(BeTrue(), "want a refusal, got %v", err)
			Expect(err.Error()).To(ContainSubstring("/api/v1/namespaces/kubeflow/services/ml-pipeline:http/proxy/"))
			Expect(err.Error()).To(ContainSubstring("kwok's fake nodes"))
		}, SpecTimeout(time.Minute))

		It("finds KFP in --kfp-namespace and refuses to look where it is not", Label("out-of-cluster", "fault"), func(ctx SpecContext) {
			d := diagnose(ctx, l.outside(func(c *doctorRun) { c.KFPNamespace = "namespace-1" }))
			Expect(d.status("install")).To(Equal("fail KFD018"))
			Expect(d.by["install"].Message).To(ContainSubstring("no Service ml-pipeline-ui in namespace namespace-1"))
			Expect(d.status("healthz")).To(Equal("skip"))
			Expect(d.rep.OK()).To(BeFalse())
		}, SpecTimeout(time.Minute))

		// The doctor as a notebook pod: KUBERNETES_SERVICE_HOST and the
		// ServiceAccount mount say "in a pod", the host is the Service's
		// name, resolved through the cluster's own objects as pod DNS would.
		Context("in a pod", Label("in-cluster"), func() {
			pod := func(ctx context.Context, name string, labels map[string]string) *corev1.Pod {
				p, err := l.cs.CoreV1().Pods(profile).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
					Spec: corev1.PodSpec{ServiceAccountName: editor, Containers: []corev1.Container{
						{Name: "notebook", Image: "kubeflownotebookswg/jupyter-scipy"},
					}},
				}, metav1.CreateOptions{})
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(func(ctx SpecContext) {
					Expect(l.cs.CoreV1().Pods(profile).Delete(ctx, name, metav1.DeleteOptions{})).To(Succeed())
				})
				return p
			}
			// inPod acts as pod p: the env the kubelet sets, its
			// ServiceAccount mount, and the KFP token at the PodDefault's
			// path when tokenPath is not "". The in-cluster client config is
			// the lab's admin one: this spec checks what the doctor does in
			// a pod, not the pod's own RBAC.
			inPod := func(p *corev1.Pod, kfpToken string) doctorRun {
				sa := GinkgoT().TempDir()
				Expect(os.WriteFile(filepath.Join(sa, "token"), []byte("mounted"), 0o600)).To(Succeed())
				Expect(os.WriteFile(filepath.Join(sa, "namespace"), []byte(p.Namespace), 0o600)).To(Succeed())
				kfpPath := filepath.Join(GinkgoT().TempDir(), "token")
				if kfpToken != "" {
					b, err := os.ReadFile(kfpToken)
					Expect(err).NotTo(HaveOccurred())
					Expect(os.WriteFile(kfpPath, b, 0o600)).To(Succeed())
				}
				env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "HOSTNAME": p.Name}
				dialer, err := svcdial.New(l.rc, p.Namespace)
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(dialer.Close)
				// No namespace: kfp.Client() in a pod fills in the pod's
				// own (and with no host, namespace= would also move the
				// API server's Service into the profile).
				return doctorRun{Config: doctor.Config{Timeout: 20 * time.Second}, Seams: doctor.Seams{
					Getenv:            func(k string) string { return env[k] },
					ServiceAccountDir: sa,
					InClusterConfig:   func() (*rest.Config, error) { return rest.CopyConfig(l.rc), nil },
					DefaultTokenPath:  kfpPath,
					Dial:              dialer.DialContext,
				}}
			}

			It("reaches kfp.Client()'s in-cluster default with the pod's projected token", func(ctx SpecContext) {
				p := pod(ctx, "nb-labelled", map[string]string{"access-ml-pipeline": "true"})
				cfg := inPod(p, l.token(ctx, profile, editor, "pipelines.kubeflow.org", p))
				d := eventually(ctx, cfg, func(g Gomega, d diagnosis) {
					g.Expect(d.rep.OK()).To(BeTrue())
				})
				Expect(d.rep.Target).To(Equal("http://ml-pipeline.kubeflow.svc.cluster.local:8888"))
				Expect(d.text).To(ContainSubstring("scenario multi-user-in-cluster"))
				Expect(d.by["mode"].Message).To(ContainSubstring(profile))
				Expect(d.status("poddefault")).To(Equal("pass"))
				Expect(d.status("rbac")).To(Equal("pass"))
			}, SpecTimeout(2*time.Minute))

			// Most notebooks' ServiceAccounts may read nothing in kubeflow:
			// every refused lookup is reported, none is fatal, and the pod
			// still reaches KFP by the Service's name.
			It("works with the pod's own ServiceAccount, which may not read kubeflow", func(ctx SpecContext) {
				p := pod(ctx, "nb-own-identity", map[string]string{"access-ml-pipeline": "true"})
				cfg := inPod(p, l.token(ctx, profile, editor, "pipelines.kubeflow.org", p))
				own := rest.AnonymousClientConfig(l.rc)
				own.BearerToken = readToken(l.token(ctx, profile, editor, "", p))
				cfg.InClusterConfig = func() (*rest.Config, error) { return rest.CopyConfig(own), nil }
				cfg.Scenario = doctor.ScenarioMultiUserInCluster
				d := eventually(ctx, cfg, func(g Gomega, d diagnosis) {
					g.Expect(d.rep.OK()).To(BeTrue())
				})
				Expect(d.status("install")).To(Equal("warn KFD017"))
				Expect(d.by["install"].Message).To(ContainSubstring("cannot get service kubeflow/ml-pipeline-ui: forbidden"))
				Expect(d.by["install"].Message).To(ContainSubstring("cannot list services in all namespaces: forbidden"))
				Expect(d.rep.Target).To(Equal("http://ml-pipeline.kubeflow.svc.cluster.local:8888"))
				Expect(d.status("list-experiments")).To(Equal("pass"))
				Expect(d.text).To(ContainSubstring("scenario multi-user-in-cluster (from --scenario)"))
			}, SpecTimeout(2*time.Minute))

			It("names the label the PodDefault needs when the token file is missing (KFD004)", Label("fault"), func(ctx SpecContext) {
				p := pod(ctx, "nb-unlabelled", map[string]string{"app": "notebook"})
				// KFP itself only says "no identity" (KFD001); the cluster
				// knows why, and the poddefault probe says it.
				d := eventually(ctx, inPod(p, ""), func(g Gomega, d diagnosis) {
					g.Expect(d.status("list-experiments")).To(HavePrefix("fail"))
				})
				Expect(d.status("poddefault")).To(Equal("fail KFD004"), "expected KFD004 from the poddefault probe, got %s", d.status("poddefault"))
				Expect(d.by["poddefault"].Message).To(ContainSubstring(`needs label access-ml-pipeline: "true"`))
				Expect(d.by["poddefault"].Message).To(ContainSubstring("nb-unlabelled"))
			}, SpecTimeout(2*time.Minute))
		})
	})
})
