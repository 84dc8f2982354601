package cluster_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial/view"
)

// The lab's pods reach Services through a View, as pods reach them through
// kube-proxy and CoreDNS: watch-fed, no API request per connection. Its
// Synced is the suite's wait for a change to reach them.
var _ = Describe("The lab's view of Services and endpoints", Label("view"), func() {
	It("routes without asking the API server, and after Synced as the API server says", func(ctx SpecContext) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ui") }))
		DeferCleanup(srv.Close)

		ns := scratchNamespace(ctx, "view-")
		appLabels := map[string]string{"app": "ui"}
		pod, err := clientset.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ui", Labels: appLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ui", Image: "example.invalid/ui:1",
				Ports: []corev1.ContainerPort{{ContainerPort: 3000}}}}},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ui"},
			Spec:       corev1.ServiceSpec{Selector: appLabels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(3000)}}},
		}
		_, err = clientset.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		rule, err := kwokrule.New(ns, pod.Name, pod.UID, map[int32]string{3000: srv.Listener.Addr().String()})
		Expect(err).NotTo(HaveOccurred())
		_, err = dyn.Resource(kwokrule.Resource).Create(ctx, rule, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			cctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			Expect(dyn.Resource(kwokrule.Resource).Delete(cctx, rule.GetName(), metav1.DeleteOptions{})).To(Succeed())
		})

		// The view's own requests to the API server, counted.
		var asked atomic.Int32
		cfg := rest.CopyConfig(restConfig)
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return &counting{rt: rt, n: &asked}
		})
		vctx, stop := context.WithCancel(context.Background())
		factory := informers.NewSharedInformerFactory(clientset, 0)
		DeferCleanup(func() { stop(); factory.Shutdown() })
		routes, err := view.New(vctx, cfg, factory)
		Expect(err).NotTo(HaveOccurred())
		factory.Start(vctx.Done())
		Eventually(ctx, routes.HasSynced).Should(BeTrue())
		dialer, err := routes.Dialer(ns)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(dialer.Close)
		get := func() (string, error) {
			c := &http.Client{Transport: dialer.Transport(), Timeout: 5 * time.Second}
			resp, err := c.Get("http://ui/")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}

		By("reaching the pod's program once kwok marks it ready, through the view")
		Eventually(ctx, get).Should(Equal("ui"))
		Expect(routes.Synced(ctx)).To(Succeed())
		before := asked.Load()
		Expect(get()).To(Equal("ui"))
		Expect(asked.Load()).To(Equal(before), "a connection the view can route asks the API server nothing")

		By("failing as the API server says once Synced returns, after the Service is deleted")
		Expect(clientset.CoreV1().Services(ns).Delete(ctx, "ui", metav1.DeleteOptions{})).To(Succeed())
		Expect(routes.Synced(ctx)).To(Succeed())
		_, err = get()
		var dnsErr *net.DNSError
		Expect(errors.As(err, &dnsErr) && dnsErr.IsNotFound).To(BeTrue(), "got %v, want a DNS not-found error", err)

		By("reaching the Service again once it is restored")
		_, err = clientset.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, get).WithPolling(10 * time.Millisecond).Should(Equal("ui"))
	}, SpecTimeout(2*time.Minute))
})

// counting counts the requests through rt.
type counting struct {
	rt http.RoundTripper
	n  *atomic.Int32
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// WrappedRoundTripper lets client-go reach the transport beneath, to
// cancel a request.
func (c *counting) WrappedRoundTripper() http.RoundTripper { return c.rt }
