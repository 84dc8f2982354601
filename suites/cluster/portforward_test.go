package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

var clusterPortForwards = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

var _ = Describe("Port-forward to a Service's pod", Label("portforward"), func() {
	It("reaches a local HTTP server through a ClusterPortForward rule", func(ctx SpecContext) {
		body := "served locally for " + CurrentSpecReport().LeafNodeText
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, body)
		}))
		DeferCleanup(srv.Close)
		_, srvPort, err := net.SplitHostPort(srv.Listener.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		port, err := strconv.Atoi(srvPort)
		Expect(err).NotTo(HaveOccurred())

		ns := scratchNamespace(ctx, "portforward-")

		appLabels := map[string]string{"app": "ui"}
		_, err = clientset.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ui", Labels: appLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "ui", Image: "example.invalid/ui:1",
				Ports: []corev1.ContainerPort{{ContainerPort: 3000}},
			}}},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = clientset.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ui"},
			Spec: corev1.ServiceSpec{
				Selector: appLabels,
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(3000)}},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		// Cluster-scoped, so named after the spec's namespace to stay unique
		// under parallel runs. Rules match by namespace and pod name.
		rule := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kwok.x-k8s.io/v1alpha1",
			"kind":       "ClusterPortForward",
			"metadata":   map[string]any{"name": ns},
			"spec": map[string]any{
				"selector": map[string]any{"matchNamespaces": []any{ns}, "matchNames": []any{"ui"}},
				"forwards": []any{map[string]any{
					"ports":  []any{int64(3000)},
					"target": map[string]any{"address": "127.0.0.1", "port": int64(port)},
				}},
			},
		}}
		_, err = dyn.Resource(clusterPortForwards).Create(ctx, rule, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			cctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			Expect(dyn.Resource(clusterPortForwards).Delete(cctx, ns, metav1.DeleteOptions{})).To(Succeed())
		})

		By("resolving the Service to a running pod, as kubectl port-forward svc/ui does")
		var podName string
		Eventually(ctx, func(g Gomega) {
			svc, err := clientset.CoreV1().Services(ns).Get(ctx, "ui", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
				LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String(),
			})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(ContainElement(HaveField("Status.Phase", corev1.PodRunning)))
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					podName = p.Name
				}
			}
		}).Should(Succeed())

		By("forwarding a local port to the pod and fetching through it")
		// First forwards in a fresh cluster can fail while kwok picks up the
		// rule: retry the whole forward until it answers.
		Eventually(ctx, fetchThroughPortForward).WithArguments(ns, podName, 3000).Should(Equal(body))
	}, SpecTimeout(2*time.Minute))
})

// fetchThroughPortForward opens a client-go port-forward to namespace/pod's
// port, GETs / through it and closes the forward.
func fetchThroughPortForward(ctx SpecContext, namespace, pod string, port int) (string, error) {
	transport, upgrader, err := spdy.RoundTripperFor(restConfig)
	if err != nil {
		return "", fmt.Errorf("SPDY transport: %w", err)
	}
	url := clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport, Timeout: 30 * time.Second}, http.MethodPost, url)

	stop, ready := make(chan struct{}), make(chan struct{})
	var out, errOut bytes.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, &out, &errOut)
	if err != nil {
		return "", fmt.Errorf("port-forward: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred receive
		return "", fmt.Errorf("port-forward ended before ready: %w (%s)", err, errOut.String())
	case <-ctx.Done():
		return "", ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		return "", fmt.Errorf("port-forward ports %v: %w", ports, err)
	}

	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local), nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET through the forward: %w (%s)", err, errOut.String())
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", fmt.Errorf("reading the reply: %w", err)
	}
	return string(b), nil
}
