package install_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

var (
	podDefaultGVR = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"}
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// objects returns the install's objects, skipping upstream installs when the
// shared manifests are absent.
func objects(source install.Source, mode kubeflow.Mode) []*unstructured.Unstructured {
	objs, err := install.Objects(source, mode)
	if errors.Is(err, install.ErrNoUpstream) {
		Skip(err.Error())
	}
	Expect(err).NotTo(HaveOccurred())
	return objs
}

var _ = Describe("Installing KFP", Serial, Label("install"), func() {
	DescribeTable("on a fresh kwok cluster",
		func(ctx SpecContext, source install.Source, mode kubeflow.Mode) {
			objs := objects(source, mode)
			// The installs use fixed namespaces: each gets a cluster of its own.
			k := suitekit.Kwok(ctx)
			rc := k.RESTConfig()
			cs := kubernetes.NewForConfigOrDie(rc)
			dyn := dynamic.NewForConfigOrDie(rc)

			By(fmt.Sprintf("applying %d objects", len(objs)))
			res, err := manifests.Apply(ctx, rc, objs, manifests.Options{FakePods: true})
			Expect(err).NotTo(HaveOccurred())
			report(source, mode, len(objs), res)
			Expect(res.Applied + len(res.Skipped)).To(Equal(len(objs)))

			By("waiting for the KFP pods to run")
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			Expect(install.WaitReady(wctx, rc, "kubeflow", "ml-pipeline", "ml-pipeline-ui")).To(Succeed())

			By("resolving the API server pod's env as the kubelet would")
			pod := runningPod(ctx, cs, "kubeflow", "kfp-api-server")
			env := podEnv(ctx, cs, pod, "kfp-api-server")
			switch {
			case mode == kubeflow.MultiUser:
				Expect(env).To(HaveKeyWithValue("MULTIUSER", "true"), "env of %s: %v", pod.Name, env)
			case source == install.FromFixtures:
				Expect(env).To(HaveKeyWithValue("MULTIUSER", "false"), "env of %s: %v", pod.Name, env)
			default:
				// Upstream standalone leaves MULTIUSER unset: the server's
				// default, false, applies.
				Expect(env).To(Or(Not(HaveKey("MULTIUSER")), HaveKeyWithValue("MULTIUSER", "false")), "env of %s: %v", pod.Name, env)
			}
			if mode == kubeflow.MultiUser {
				Expect(env).To(HaveKeyWithValue("KUBEFLOW_USERID_HEADER", "kubeflow-userid"))
				Expect(env).To(HaveKeyWithValue("KUBEFLOW_USERID_PREFIX", ""))
			}
			Expect(env).NotTo(HaveKey("TOKEN_REVIEW_AUDIENCE"), "no manifest sets it; scenarios patch it in")
			runningPod(ctx, cs, "kubeflow", "kfp-frontend")

			// Pods only become Running or not after the controllers
			// and scheduler had their turn: ml-pipeline is Running by now,
			// so the rest had the same chance.
			uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			notes, err := install.Unhonoured(uctx, rc, "kubeflow")
			Expect(err).NotTo(HaveOccurred())
			reportNotes("not running", notes)

			if mode != kubeflow.MultiUser {
				return
			}
			By("seeing kubeflow-edit aggregate the pipelines rules (the controller-manager's work)")
			Eventually(ctx, func(g Gomega) {
				role, err := cs.RbacV1().ClusterRoles().Get(ctx, "kubeflow-edit", metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				for _, w := range [][3]string{
					{"pipelines.kubeflow.org", "experiments", "list"},
					{"pipelines.kubeflow.org", "experiments", "create"},
					{"pipelines.kubeflow.org", "runs", "readArtifact"},
					{"pipelines.kubeflow.org", "pipelineversions", "update"},
					{"argoproj.io", "workflows", "delete"},
					{"kubeflow.org", "viewers", "get"},
				} {
					g.Expect(suitekit.Grants(role.Rules, w[0], w[1], w[2])).To(BeTrue(), "kubeflow-edit lacks %s %s/%s", w[2], w[0], w[1])
				}
			}).Should(Succeed())

			By("finding the PodDefault CRD served")
			crd, err := dyn.Resource(crdGVR).Get(ctx, "poddefaults.kubeflow.org", metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(crd.Object).To(HaveKeyWithValue("status", HaveKeyWithValue("conditions",
				ContainElement(And(HaveKeyWithValue("type", "Established"), HaveKeyWithValue("status", "True"))))))
			if source != install.FromFixtures {
				// Upstream profile namespaces and their PodDefaults come from
				// the profile controller and users, which do not run here.
				return
			}
			By("finding the documented PodDefault in every profile namespace")
			for _, ns := range []string{"kubeflow-user-example-com", "namespace-1", "namespace-2"} {
				pd, err := dyn.Resource(podDefaultGVR).Namespace(ns).Get(ctx, "access-ml-pipeline", metav1.GetOptions{})
				Expect(err).NotTo(HaveOccurred(), "PodDefault %s/access-ml-pipeline", ns)
				aud, _, _ := unstructured.NestedSlice(pd.Object, "spec", "volumes")
				Expect(fmt.Sprint(aud)).To(ContainSubstring("audience:pipelines.kubeflow.org"))
				_, err = cs.RbacV1().RoleBindings(ns).Get(ctx, "default-editor", metav1.GetOptions{})
				Expect(err).NotTo(HaveOccurred(), "RoleBinding %s/default-editor", ns)
			}
		},
		Entry("fixtures, standalone", Label("fixtures", "standalone"), install.FromFixtures, kubeflow.Standalone, SpecTimeout(5*time.Minute)),
		Entry("fixtures, multi-user", Label("fixtures", "multi-user"), install.FromFixtures, kubeflow.MultiUser, SpecTimeout(5*time.Minute)),
		Entry("upstream, standalone", Label("upstream", "standalone"), install.FromUpstream, kubeflow.Standalone, SpecTimeout(5*time.Minute)),
		Entry("upstream, multi-user", Label("upstream", "multi-user"), install.FromUpstream, kubeflow.MultiUser, SpecTimeout(5*time.Minute)),
	)
})

// report puts the apply's numbers and everything the lab could not honour
// into the spec report (and so into reports/install-suite.json).
func report(source install.Source, mode kubeflow.Mode, total int, res *manifests.Result) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d objects, %d applied, %d skipped, %d changed, in %s\n",
		source, mode, total, res.Applied, len(res.Skipped), len(res.Changed), res.Elapsed.Round(time.Millisecond))
	for _, n := range res.Skipped {
		fmt.Fprintf(&b, "  skipped %s\n", n)
	}
	for _, n := range res.Changed {
		fmt.Fprintf(&b, "  changed %s\n", n)
	}
	for _, n := range res.Warnings {
		fmt.Fprintf(&b, "  warning %s\n", n)
	}
	AddReportEntry("install", b.String())
	GinkgoWriter.Print(b.String())
}

func reportNotes(what string, notes []manifests.Note) {
	if len(notes) == 0 {
		return
	}
	var b strings.Builder
	for _, n := range notes {
		fmt.Fprintf(&b, "  %s %s\n", what, n)
	}
	AddReportEntry(what, b.String())
	GinkgoWriter.Print(b.String())
}

// runningPod is a Running pod of namespace with a container whose image
// contains image, as the lab selects the pods it stands in for.
func runningPod(ctx context.Context, cs kubernetes.Interface, namespace, image string) *corev1.Pod {
	var found *corev1.Pod
	Eventually(ctx, func(g Gomega) {
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
		g.Expect(err).NotTo(HaveOccurred())
		for i, p := range pods.Items {
			for _, c := range p.Spec.Containers {
				if strings.Contains(c.Image, image) && p.DeletionTimestamp == nil {
					found = &pods.Items[i]
					return
				}
			}
		}
		g.Expect(found).NotTo(BeNil(), "no Running pod in %s runs an image containing %q", namespace, image)
	}).Should(Succeed())
	return found
}

// podEnv resolves the env of the pod's container running image from the
// cluster, with the kubelet's rules.
func podEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, image string) map[string]string {
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return strings.Contains(c.Image, image) })
	Expect(i).To(BeNumerically(">=", 0))
	env, err := podenv.ContainerEnv(ctx, fromclientset.Wrap(cs), pod, &pod.Spec.Containers[i])
	Expect(err).NotTo(HaveOccurred(), "resolving the env of pod %s", pod.Name)
	return env
}
