package node_test

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/images"
)

// The audience KFP's API server expects of a pod's projected token
// (kfp-facts.md: the SDK reads it from KF_PIPELINES_SA_TOKEN_PATH).
const kfpAudience = "pipelines.kubeflow.org"

var _ = Describe("A node cluster", Ordered, Label("node"), func() {
	var (
		n  *node.Node
		cs kubernetes.Interface
	)
	BeforeAll(func(ctx SpecContext) {
		n, cs = createNode(ctx, node.Options{DNS: true})
	}, NodeTimeout(4*time.Minute))

	// A failed spec carries the end of each component's log: the cluster
	// and its logs are gone once the suite ends.
	AfterEach(func() {
		if CurrentSpecReport().Failed() && n != nil {
			AddReportEntry("node cluster component logs", cluster.LogTails(n.LogsDir(), 40))
		}
	})

	It("runs a pod of a local image that finds another by DNS, reaches it through a ClusterIP Service and holds a KFP-audience token", func(ctx SpecContext) {
		ns := "default"
		By("starting an HTTP server pod and its Service")
		server := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: map[string]string{"app": "server"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "serve", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever,
				Args:  []string{"serve", ":8080"},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}}},
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "server"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "server"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Spec.ClusterIP).To(HavePrefix("10.96."))
		Eventually(ctx, podReady(cs, ns, "server")).Should(BeTrue(), "the server pod never became Ready")

		By("running a client pod: GET the Service's ClusterIP, resolve and GET its name, then read its projected token")
		probe := func(name string, args ...string) corev1.Container {
			return corev1.Container{Name: name, Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever, Args: args}
		}
		client := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "client"},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{
					// The ClusterIP from the environment the kubelet injects
					// for Services that existed before the pod.
					probe("get", "get", "http://$(SERVER_SERVICE_HOST):$(SERVER_SERVICE_PORT)/"),
					// The same Service by name, through kube-dns.
					probe("lookup", "lookup", "server.default.svc.cluster.local"),
					probe("get-by-name", "get", "http://server/"),
				},
				Containers: []corev1.Container{{
					Name: "token", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever,
					Args:         []string{"token", "/var/run/secrets/kfp/token"},
					VolumeMounts: []corev1.VolumeMount{{Name: "kfp-token", MountPath: "/var/run/secrets/kfp", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "kfp-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience: kfpAudience, ExpirationSeconds: ptr.To[int64](7200), Path: "token",
					}}},
				}}}},
			},
		}
		_, err = cs.CoreV1().Pods(ns).Create(ctx, client, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		var phase corev1.PodPhase
		Eventually(ctx, func(ctx context.Context) corev1.PodPhase {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{})
			if err != nil {
				return ""
			}
			phase = p.Status.Phase
			return phase
		}).WithTimeout(2 * time.Minute).Should(BeElementOf(corev1.PodSucceeded, corev1.PodFailed))
		// A failed container's log says why; the token container's log
		// holds only the claims, never the token.
		logs := map[string]string{}
		for _, c := range []string{"get", "lookup", "get-by-name", "token"} {
			logs[c] = podLog(ctx, cs, ns, "client", c)
		}
		Expect(phase).To(Equal(corev1.PodSucceeded), "client pod %s; logs: %v", phase, logs)

		By("checking what the client saw, through the kubelet's logs")
		Expect(logs["get"]).To(ContainSubstring("http://" + svc.Spec.ClusterIP + ":80/ -> 200 ok"))
		Expect(logs["lookup"]).To(Equal("server.default.svc.cluster.local -> " + svc.Spec.ClusterIP))
		Expect(logs["get-by-name"]).To(ContainSubstring("http://server/ -> 200 ok"))
		tokenLog := logs["token"]
		var claims struct {
			Aud      []string `json:"aud"`
			Sub      string   `json:"sub"`
			Lifetime int64    `json:"lifetimeSeconds"`
		}
		Expect(json.Unmarshal([]byte(tokenLog), &claims)).To(Succeed(), "token container said %q", tokenLog)
		Expect(claims.Aud).To(ConsistOf(kfpAudience))
		Expect(claims.Sub).To(Equal("system:serviceaccount:default:default"))
		Expect(claims.Lifetime).To(BeEquivalentTo(7200))

		By("checking the pods got addresses of the node's pod network")
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "server", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, podNet, _ := net.ParseCIDR("10.244.0.0/24")
		Expect(podNet.Contains(net.ParseIP(p.Status.PodIP))).To(BeTrue(), "server pod IP %q", p.Status.PodIP)
	}, SpecTimeout(4*time.Minute))

	It("keeps kube-proxy's rules inside its network namespace, never the host's", func(ctx SpecContext) {
		// The same check inside the namespace must find them, or the host's
		// empty answer would prove nothing.
		Eventually(ctx, func() string {
			return command(ctx, "ip", "netns", "exec", n.Name(), "iptables-save")
		}).Should(ContainSubstring("KUBE-SERVICES"))
		Expect(command(ctx, "iptables-save")).NotTo(ContainSubstring("KUBE-"))
		Expect(command(ctx, "nft", "list", "tables")).NotTo(ContainSubstring("kube"))
	}, SpecTimeout(time.Minute))
})

func podReady(cs kubernetes.Interface, ns, name string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
}

// podLog is a container's log through the apiserver and the kubelet: what
// `kubectl logs` shows.
func podLog(ctx context.Context, cs kubernetes.Interface, ns, pod, container string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	raw, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(raw))
}

// command runs a host command and returns its output; a failure fails the spec.
func command(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s %v: %s", name, args, out)
	return string(out)
}
