package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/programs"
	"github.com/kfp-connect/kfp-connect/internal/standin/poddefault"
)

// The names kubeflow/manifests' admission-webhook cert-manager overlay
// gives the webhook, and the profile namespace of the fixtures.
const (
	webhookNamespace = "kubeflow"
	webhookService   = "admission-webhook-service"
	webhookName      = "admission-webhook-deployment.kubeflow.org"
	profileNamespace = "kubeflow-user-example-com"
	tokenPath        = "/var/run/secrets/kubeflow/pipelines/token" // the PodDefault's KF_PIPELINES_SA_TOKEN_PATH
)

// PodDefaults applied by admission: the upstream admission-webhook
// manifests, unchanged but for what cert-manager would fill in, run our
// webhook from its image in a pod; the real kube-apiserver calls it through
// the Service's ClusterIP (kube-proxy's rules in the node's namespace) and
// the real kubelet mounts the projected token the webhook put in the pod.
var _ = Describe("PodDefaults by admission on a node cluster", Ordered, Label("node", "poddefault"), func() {
	var (
		n  *node.Node
		cs kubernetes.Interface
		pd *unstructured.Unstructured
	)
	BeforeAll(func(ctx SpecContext) {
		shared, ok := install.FindShared()
		if !ok {
			Skip("the upstream manifests are absent (" + install.ErrNoUpstream.Error() + "): the webhook's manifests come from there")
		}
		n, cs = createNode(ctx, node.Options{})

		By("building the webhook's image and loading it into the running node")
		archives, err := imgs.Catalog(ctx, programs.MainRef("poddefault-webhook"))
		Expect(err).NotTo(HaveOccurred())
		Expect(n.LoadImages(ctx, archives...)).To(Succeed())

		By("applying the fixtures' PodDefault CRD, namespaces and PodDefaults")
		fixtures, err := install.Fixtures(kubeflow.MultiUser)
		Expect(err).NotTo(HaveOccurred())
		var base []*unstructured.Unstructured
		for _, o := range fixtures {
			k := o.GetKind()
			if (k == "CustomResourceDefinition" && o.GetName() == "poddefaults.kubeflow.org") || k == "Namespace" || k == "PodDefault" {
				base = append(base, o)
			}
		}
		_, err = manifests.Apply(ctx, n.RESTConfig(), base, manifests.Options{})
		Expect(err).NotTo(HaveOccurred())

		By("applying the upstream admission-webhook, its certificate issued by the node's CA")
		objs, err := install.Kustomize(filepath.Join(shared, "kubeflow-manifests", "applications", "admission-webhook", "upstream", "overlays", "cert-manager"))
		Expect(err).NotTo(HaveOccurred())
		issue, err := install.NewIssuer()
		Expect(err).NotTo(HaveOccurred())
		objs, err = issue(objs)
		Expect(err).NotTo(HaveOccurred())
		var workload, hooks []*unstructured.Unstructured
		for _, o := range objs {
			switch o.GetKind() {
			case "CustomResourceDefinition": // the fixtures' is applied
			case "MutatingWebhookConfiguration":
				Expect(o.Object["webhooks"].([]any)[0].(map[string]any)["failurePolicy"]).To(Equal("Fail"), "upstream's failurePolicy")
				hooks = append(hooks, o)
			default:
				workload = append(workload, o)
			}
		}
		Expect(hooks).To(HaveLen(1))
		Expect(manifests.ApplyAll(ctx, n.RESTConfig(), workload)).To(Succeed())
		Expect(install.WaitReady(ctx, n.RESTConfig(), webhookNamespace, "admission-webhook-deployment")).To(Succeed())
		Expect(manifests.ApplyAll(ctx, n.RESTConfig(), hooks)).To(Succeed())

		pd, err = dynamic.NewForConfigOrDie(n.RESTConfig()).Resource(poddefault.GVR).Namespace(profileNamespace).Get(ctx, "access-ml-pipeline", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(ctx context.Context) error {
			_, err := cs.CoreV1().ServiceAccounts(profileNamespace).Get(ctx, "default", metav1.GetOptions{})
			return err
		}).Should(Succeed(), "the namespace's default ServiceAccount never appeared")
	}, NodeTimeout(6*time.Minute))

	AfterEach(func(ctx SpecContext) {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
			if cs != nil {
				if pods, err := cs.CoreV1().Pods(webhookNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=poddefaults"}); err == nil {
					for _, p := range pods.Items {
						AddReportEntry("webhook log "+p.Name, podLog(ctx, cs, webhookNamespace, p.Name, "admission-webhook"))
					}
				}
			}
		}
	})

	// tokenPod reads the token at tokenPath; the path comes from the env
	// the PodDefault injects when labelled, so the args prove env and mount.
	tokenPod := func(name string, labelled bool, env ...corev1.EnvVar) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: profileNamespace},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "token", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"token", "$(KF_PIPELINES_SA_TOKEN_PATH)"}, Env: env,
				}},
			},
		}
		if labelled {
			p.Labels = map[string]string{"access-ml-pipeline": "true"}
		} else {
			p.Spec.Containers[0].Args = []string{"token", tokenPath}
		}
		return p
	}
	finished := func(ctx context.Context, name string) corev1.PodPhase {
		var phase corev1.PodPhase
		Eventually(ctx, func(ctx context.Context) corev1.PodPhase {
			p, err := cs.CoreV1().Pods(profileNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return ""
			}
			phase = p.Status.Phase
			return phase
		}).WithTimeout(2*time.Minute).Should(BeElementOf(corev1.PodSucceeded, corev1.PodFailed), "pod %s never finished", name)
		return phase
	}

	It("injects the PodDefault on admission: the kubelet mounts the KFP-audience token the pod reads", func(ctx SpecContext) {
		By("creating a pod labelled access-ml-pipeline: \"true\" that mounts nothing itself")
		// The webhook's pod may be Running before it listens: until it
		// answers, the apiserver refuses the pod (failurePolicy Fail), and
		// nothing was created, so trying again is safe.
		start := time.Now()
		Eventually(ctx, func(ctx context.Context) error {
			_, err := cs.CoreV1().Pods(profileNamespace).Create(ctx, tokenPod("labelled", true), metav1.CreateOptions{})
			if err == nil || strings.Contains(err.Error(), "failed calling webhook") {
				return err
			}
			StopTrying("creating the pod").Wrap(err).Now()
			return err
		}).WithTimeout(time.Minute).Should(Succeed())

		got, err := cs.CoreV1().Pods(profileNamespace).Get(ctx, "labelled", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Annotations).To(HaveKeyWithValue(poddefault.AnnotationPrefix+"/poddefault-access-ml-pipeline", pd.GetResourceVersion()))
		var names []string
		for _, v := range got.Spec.Volumes {
			names = append(names, v.Name)
		}
		Expect(names).To(ContainElement("volume-kf-pipeline-token"))
		Expect(got.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: tokenPath}))

		webhookPods, err := cs.CoreV1().Pods(webhookNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=poddefaults"})
		Expect(err).NotTo(HaveOccurred())
		Expect(webhookPods.Items).To(HaveLen(1))
		webhookLog := podLog(ctx, cs, webhookNamespace, webhookPods.Items[0].Name, "admission-webhook")
		Expect(webhookLog).To(ContainSubstring("pod " + profileNamespace + "/labelled: applied [access-ml-pipeline]"))
		GinkgoWriter.Printf("webhook log:\n%s\n", webhookLog)

		phase := finished(ctx, "labelled")
		log := podLog(ctx, cs, profileNamespace, "labelled", "token")
		Expect(phase).To(Equal(corev1.PodSucceeded), "token container: %s", log)
		GinkgoWriter.Printf("labelled pod: create to Succeeded in %s\n", time.Since(start).Round(10*time.Millisecond))
		var claims struct {
			Aud      []string `json:"aud"`
			Sub      string   `json:"sub"`
			Lifetime int64    `json:"lifetimeSeconds"`
		}
		Expect(json.Unmarshal([]byte(log), &claims)).To(Succeed(), "token container said %q", log)
		Expect(claims.Aud).To(ConsistOf(kfpAudience))
		Expect(claims.Sub).To(Equal("system:serviceaccount:" + profileNamespace + ":default"))
		Expect(claims.Lifetime).To(BeEquivalentTo(7200))
	}, SpecTimeout(4*time.Minute))

	It("leaves an unlabelled pod alone: no token is mounted", func(ctx SpecContext) {
		_, err := cs.CoreV1().Pods(profileNamespace).Create(ctx, tokenPod("unlabelled", false), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		got, err := cs.CoreV1().Pods(profileNamespace).Get(ctx, "unlabelled", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Annotations).NotTo(HaveKey(poddefault.AnnotationPrefix + "/poddefault-access-ml-pipeline"))
		Expect(finished(ctx, "unlabelled")).To(Equal(corev1.PodFailed))
		Expect(podLog(ctx, cs, profileNamespace, "unlabelled", "token")).To(ContainSubstring("no such file or directory"))
	}, SpecTimeout(3*time.Minute))

	It("refuses a pod whose env conflicts with the PodDefault's, as upstream does", func(ctx SpecContext) {
		_, err := cs.CoreV1().Pods(profileNamespace).Create(ctx,
			tokenPod("conflicting", true, corev1.EnvVar{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/elsewhere"}), metav1.CreateOptions{})
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(And(
			ContainSubstring(`admission webhook "`+webhookName+`" denied the request`),
			ContainSubstring("conflict occurred while applying poddefaults: access-ml-pipeline"),
		))
		_, err = cs.CoreV1().Pods(profileNamespace).Get(ctx, "conflicting", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the refused pod exists: %v", err)
	}, SpecTimeout(time.Minute))

	It("with the webhook's Service gone, refuses labelled pods (failurePolicy Fail): no pod, so no token", func(ctx SpecContext) {
		Expect(cs.CoreV1().Services(webhookNamespace).Delete(ctx, webhookService, metav1.DeleteOptions{})).To(Succeed())
		_, err := cs.CoreV1().Pods(profileNamespace).Create(ctx, tokenPod("after-service-gone", true), metav1.CreateOptions{})
		Expect(err).To(HaveOccurred())
		GinkgoWriter.Printf("pod creation with the Service gone: %v\n", err)
		var status apierrors.APIStatus
		Expect(errors.As(err, &status)).To(BeTrue())
		Expect(err.Error()).To(And(ContainSubstring(`failed calling webhook "`+webhookName+`"`), ContainSubstring(webhookService)))
		_, err = cs.CoreV1().Pods(profileNamespace).Get(ctx, "after-service-gone", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the refused pod exists: %v", err)

		By("namespaces outside the webhook's namespaceSelector still create pods")
		p := tokenPod("outside-profiles", true)
		p.Namespace = "default"
		_, err = cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(time.Minute))
})
