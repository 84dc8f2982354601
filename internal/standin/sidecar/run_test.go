package sidecar

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
)

// The agent answers a rewritten probe with what the program answers the
// original (status code only), and a TCP probe by connecting: a closed
// port fails, as the kubelet's own probe would.
func TestAppHealth(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Header.Get("X-Probe") == "kubelet" {
			_, _ = w.Write([]byte("body the agent drops"))
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer app.Close()
	_, portText, _ := net.SplitHostPort(app.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	h := &AppHealth{Addr: func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }, Probers: mesh.AppProbers{
		"/app-health/main/readyz": {HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(port),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "kubelet"}}}},
		"/app-health/main/livez":    {HTTPGet: &corev1.HTTPGetAction{Path: "/other", Port: intstr.FromInt(port)}},
		"/app-health/main/startupz": {TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}},
		"/app-health/gone/readyz":   {TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(closedPort)}},
	}}
	for path, want := range map[string]int{
		"/app-health/main/readyz":   200,
		"/app-health/main/livez":    503,
		"/app-health/main/startupz": 200,
		"/app-health/gone/readyz":   500,
		"/app-health/none/readyz":   404,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
		if rec.Body.Len() > 0 && rec.Code == 200 {
			t.Errorf("%s: the agent returns the status alone, got body %q", path, rec.Body)
		}
	}
}
