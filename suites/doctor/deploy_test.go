package doctor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// The shipped YAML (deploy/doctor): the doctor's ServiceAccount and its
// read-only ClusterRole, and the Job that runs it in a profile namespace.
const (
	deployDir = "../../deploy/doctor"
	doctorSA  = "kfp-doctor"
)

// access is one request the doctor's cluster checks make (internal/discover,
// internal/probes), written down from the code, not from rbac.yaml: the
// spec checks the ClusterRole grants these and nothing else.
type access struct{ group, resource, verb string }

var doctorNeeds = []access{
	{"", "services", "get"}, {"", "services", "list"}, // find KFP, read its Services
	{"discovery.k8s.io", "endpointslices", "list"},                            // count ready endpoints
	{"apps", "deployments", "get"},                                            // MULTIUSER, TOKEN_REVIEW_AUDIENCE
	{"", "configmaps", "get"},                                                 // …set from ConfigMaps
	{"kubeflow.org", "poddefaults", "list"},                                   // which PodDefault should mount the token
	{"", "pods", "get"},                                                       // this pod's labels
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations", "list"}, // the PodDefault webhook's Service
	{"authorization.k8s.io", "subjectaccessreviews", "create"},                // replay KFP's check
	{"security.istio.io", "authorizationpolicies", "list"},                    // Istio's policies in front of KFP
	{"security.istio.io", "peerauthentications", "list"},
	{"security.istio.io", "requestauthentications", "list"},
}

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

var _ = Describe("The shipped doctor Job and RBAC", Ordered, Label("multi-user", "in-cluster", "deploy"), func() {
	var (
		l      *kfpLab
		asSA   *rest.Config // the lab's apiserver as system:serviceaccount:<profile>:kfp-doctor
		saUser = "system:serviceaccount:" + profile + ":" + doctorSA
	)
	BeforeAll(func(ctx SpecContext) {
		l = startLab(ctx, kubeflow.MultiUser)
		By("applying deploy/doctor/rbac.yaml")
		b, err := os.ReadFile(filepath.Join(deployDir, "rbac.yaml"))
		Expect(err).NotTo(HaveOccurred())
		objs, err := manifests.Decode("rbac.yaml", b)
		Expect(err).NotTo(HaveOccurred())
		Expect(manifests.ApplyAll(ctx, l.rc, objs)).To(Succeed())
		asSA = rest.CopyConfig(l.rc)
		asSA.Impersonate = rest.ImpersonationConfig{UserName: saUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + profile, "system:authenticated"}}
	}, NodeTimeout(4*time.Minute))

	It("passes the apiserver's server-side dry-run", func(ctx SpecContext) {
		b, err := os.ReadFile(filepath.Join(deployDir, "job.yaml"))
		Expect(err).NotTo(HaveOccurred())
		objs, err := manifests.Decode("job.yaml", b)
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(1))
		cs := kubernetes.NewForConfigOrDie(l.rc)
		var job = objs[0]
		Expect(job.GetKind()).To(Equal("Job"))
		// Through the typed client's REST client: the object as written,
		// not as our types would re-encode it.
		body, err := job.MarshalJSON()
		Expect(err).NotTo(HaveOccurred())
		res := cs.BatchV1().RESTClient().Post().Namespace(job.GetNamespace()).Resource("jobs").
			Param("dryRun", "All").Param("fieldValidation", "Strict").Body(body).Do(ctx)
		Expect(res.Error()).NotTo(HaveOccurred(), "server-side dry-run of deploy/doctor/job.yaml")
		_, err = cs.BatchV1().Jobs(job.GetNamespace()).Get(ctx, job.GetName(), metav1.GetOptions{})
		Expect(err).To(HaveOccurred(), "a dry-run must not create the Job")
	}, SpecTimeout(time.Minute))

	It("grants the doctor's ServiceAccount exactly what its cluster checks call", func(ctx SpecContext) {
		cs := kubernetes.NewForConfigOrDie(asSA)
		allowed := func(ns, group, resource, verb string) bool {
			r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Group: group, Resource: resource, Verb: verb,
				}},
			}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			return r.Status.Allowed
		}
		need := map[access]bool{}
		for _, a := range doctorNeeds {
			need[a] = true
		}
		var wrong []string
		for _, a := range doctorNeeds {
			for _, verb := range allVerbs {
				want := need[access{a.group, a.resource, verb}]
				// Cluster-wide (the services list is) and in kubeflow.
				for _, ns := range []string{"", "kubeflow"} {
					if got := allowed(ns, a.group, a.resource, verb); got != want {
						wrong = append(wrong, fmt.Sprintf("%s %s.%s in %q: allowed %t, want %t", verb, a.resource, a.group, ns, got, want))
					}
				}
			}
		}
		// Nothing the doctor does not call: no secrets, no exec or
		// port-forward into pods, no logs, no nodes.
		for _, a := range []access{{"", "secrets", "get"}, {"", "secrets", "list"}, {"", "pods/exec", "create"}, {"", "pods/portforward", "create"}, {"", "pods/log", "get"}, {"", "nodes", "list"}, {"", "serviceaccounts/token", "create"}} {
			if allowed("kubeflow", a.group, a.resource, a.verb) {
				wrong = append(wrong, fmt.Sprintf("%s %s allowed: the doctor never calls it", a.verb, a.resource))
			}
		}
		Expect(wrong).To(BeEmpty())

		By("making the doctor's calls as the ServiceAccount")
		_, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.AppsV1().Deployments("kubeflow").Get(ctx, "ml-pipeline", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: saUser, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: profile, Verb: "list", Group: "pipelines.kubeflow.org", Resource: "experiments"},
		}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.CoreV1().Secrets("kubeflow").List(ctx, metav1.ListOptions{})
		Expect(err).To(HaveOccurred())
	}, SpecTimeout(time.Minute))

	// The doctor as the Job's pod: the ServiceAccount kfp-doctor for the
	// cluster, its PodDefault-mounted KFP token for KFP. The pod is
	// emulated as the other in-pod specs do (kwok runs no container).
	Context("as the Job's pod", func() {
		// inPod is the doctor in a new pod of the Job's; withToken false is
		// a pod the PodDefault did not reach (no KFP token mounted).
		inPod := func(ctx SpecContext, clusterRC *rest.Config, withToken ...bool) doctorRun {
			p, err := l.cs.CoreV1().Pods(profile).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-doctor-", Labels: map[string]string{"access-ml-pipeline": "true"}},
				Spec: corev1.PodSpec{ServiceAccountName: doctorSA, Containers: []corev1.Container{
					{Name: "doctor", Image: "ghcr.io/kfp-connect/kfp-doctor:latest"},
				}},
			}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				Expect(l.cs.CoreV1().Pods(profile).Delete(ctx, p.Name, metav1.DeleteOptions{})).To(Succeed())
			})
			sa := GinkgoT().TempDir()
			Expect(os.WriteFile(filepath.Join(sa, "token"), []byte("mounted"), 0o600)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(sa, "namespace"), []byte(profile), 0o600)).To(Succeed())
			env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "HOSTNAME": p.Name}
			dialer, err := svcdial.New(l.rc, profile)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(dialer.Close)
			kfpToken := filepath.Join(GinkgoT().TempDir(), "not-mounted")
			if len(withToken) == 0 || withToken[0] {
				kfpToken = l.token(ctx, profile, doctorSA, "pipelines.kubeflow.org", p)
			}
			// No namespace, as the shipped Job: the pod's own fills in.
			return doctorRun{Config: doctor.Config{Timeout: 20 * time.Second}, Seams: doctor.Seams{
				Getenv:            func(k string) string { return env[k] },
				ServiceAccountDir: sa,
				InClusterConfig:   func() (*rest.Config, error) { return rest.CopyConfig(clusterRC), nil },
				DefaultTokenPath:  kfpToken,
				Dial:              dialer.DialContext,
			}}
		}

		It("passes every cluster check with the shipped RBAC", func(ctx SpecContext) {
			d := eventually(ctx, inPod(ctx, asSA), func(g Gomega, d diagnosis) {
				g.Expect(d.rep.OK()).To(BeTrue())
			})
			for _, id := range []string{"install", "endpoints", "token", "audience", "healthz", "mode", "rbac", "poddefault", "list-experiments"} {
				Expect(d.status(id)).To(Equal("pass"), id)
			}
			Expect(d.text).To(ContainSubstring("scenario multi-user-in-cluster"))
		}, SpecTimeout(2*time.Minute))

		// docs/doctor.md's "With less RBAC": without the ClusterRoleBinding the
		// doctor still reaches KFP by the Service's name, and each check it
		// could not make says which permission it lacked.
		It("says which permission is missing without the ClusterRoleBinding", func(ctx SpecContext) {
			crb := "kfp-doctor-" + profile
			cs := kubernetes.NewForConfigOrDie(l.rc)
			saved, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, crb, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(cs.RbacV1().ClusterRoleBindings().Delete(ctx, crb, metav1.DeleteOptions{})).To(Succeed())
			DeferCleanup(func(ctx context.Context) {
				saved.ResourceVersion, saved.UID = "", ""
				_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, saved, metav1.CreateOptions{})
				Expect(err).NotTo(HaveOccurred())
			})
			cfg := inPod(ctx, asSA)
			d := eventually(ctx, cfg, func(g Gomega, d diagnosis) {
				g.Expect(d.status("install")).NotTo(Equal("pass"))
				g.Expect(d.status("list-experiments")).To(Equal("pass"))
			})
			AddReportEntry("doctor without its ClusterRoleBinding", d.text)
			Expect(d.by["install"].Message).To(ContainSubstring(`cannot list services in all namespaces: forbidden (User "` + saUser + `" cannot list resource "services"`))
			Expect(d.by["install"].Message).To(ContainSubstring(`cannot get service kubeflow/ml-pipeline-ui: forbidden (User "` + saUser + `" cannot get resource "services"`))
			Expect(d.status("rbac")).To(Equal("skip"))
			Expect(d.status("poddefault")).To(Equal("skip"))
			Expect(d.rep.Target).To(Equal("http://ml-pipeline.kubeflow.svc.cluster.local:8888"))
		}, SpecTimeout(2*time.Minute))

		// One rule of the ClusterRole taken away at a time: the report
		// names the permission in the apiserver's words, in the check that
		// needed it (docs/doctor.md, "With less RBAC").
		DescribeTable("names the permission when the ClusterRole lacks a rule",
			func(ctx SpecContext, resource string, withToken bool, probeID, want string) {
				cs := kubernetes.NewForConfigOrDie(l.rc)
				saved, err := cs.RbacV1().ClusterRoles().Get(ctx, doctorSA, metav1.GetOptions{})
				Expect(err).NotTo(HaveOccurred())
				less := saved.DeepCopy()
				less.Rules = slices.DeleteFunc(less.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, resource) })
				Expect(less.Rules).To(HaveLen(len(saved.Rules)-1), "no single rule for %s in rbac.yaml", resource)
				_, err = cs.RbacV1().ClusterRoles().Update(ctx, less, metav1.UpdateOptions{})
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(func(ctx context.Context) {
					cur, err := cs.RbacV1().ClusterRoles().Get(ctx, doctorSA, metav1.GetOptions{})
					Expect(err).NotTo(HaveOccurred())
					cur.Rules = saved.Rules
					_, err = cs.RbacV1().ClusterRoles().Update(ctx, cur, metav1.UpdateOptions{})
					Expect(err).NotTo(HaveOccurred())
				})
				// The authorizer sees the change through its informer: rerun
				// until the report reflects it.
				d := eventually(ctx, inPod(ctx, asSA, withToken), func(g Gomega, d diagnosis) {
					g.Expect(d.by[probeID].Message).To(ContainSubstring(want))
				})
				AddReportEntry("doctor without "+resource, d.text)
			},
			Entry("services", "services", true, "install", `cannot list resource "services" in API group "" at the cluster scope`, SpecTimeout(2*time.Minute)),
			Entry("endpointslices", "endpointslices", true, "endpoints", `cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "kubeflow"`, SpecTimeout(2*time.Minute)),
			Entry("deployments", "deployments", true, "install", `cannot get resource "deployments" in API group "apps" in the namespace "kubeflow"`, SpecTimeout(2*time.Minute)),
			Entry("configmaps", "configmaps", true, "install", `cannot get resource "configmaps" in API group "" in the namespace "kubeflow"`, SpecTimeout(2*time.Minute)),
			Entry("subjectaccessreviews", "subjectaccessreviews", true, "rbac", "this pod's ServiceAccount may not create subjectaccessreviews (forbidden)", SpecTimeout(2*time.Minute)),
			Entry("poddefaults, in a pod without its token", "poddefaults", false, "poddefault", `cannot list resource "poddefaults" in API group "kubeflow.org" in the namespace "`+profile+`"`, SpecTimeout(2*time.Minute)),
			Entry("mutatingwebhookconfigurations", "mutatingwebhookconfigurations", true, "poddefault-webhook", `cannot list resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope`, SpecTimeout(2*time.Minute)),
			Entry("authorizationpolicies (and the two other kinds of Istio's security API: one rule)", "authorizationpolicies", true, "mesh", `cannot list resource "authorizationpolicies" in API group "security.istio.io" at the cluster scope`, SpecTimeout(2*time.Minute)),
			Entry("pods, in a pod without its token", "pods", false, "poddefault", `cannot get resource "pods" in API group "" in the namespace "`+profile+`"`, SpecTimeout(2*time.Minute)),
		)
	})
})
