package ui

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// upstream records what reaches the API server and answers like KFP.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV1: kfptest.Fixed("v1 healthz"),
		kfptest.HealthzV2: kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.seen = append(u.seen, r.Clone(r.Context()))
			u.mu.Unlock()
			kfptest.Reply(w, kfptest.Get("kubeflow-userid: user@example.com, ns=ns-1"))
		},
	})
	return u
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProxyPassesHeadersAndStripsBasePath(t *testing.T) {
	up := newUpstream(t)
	h := New(Config{APIServerURL: up.URL})
	for _, path := range []string{"/apis/v2beta1/experiments?namespace=ns-1", "/pipeline/apis/v2beta1/experiments?namespace=ns-1"} {
		rec := get(t, h, path, "Authorization", "Bearer t", "kubeflow-userid", "user@example.com", "Cookie", "authservice_session=s")
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
			t.Fatalf("%s: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.seen) != 2 {
		t.Fatalf("%d requests reached the API server, want 2", len(up.seen))
	}
	for _, r := range up.seen {
		if r.URL.Path != "/apis/v2beta1/experiments" || r.URL.RawQuery != "namespace=ns-1" ||
			r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("kubeflow-userid") != "user@example.com" ||
			r.Header.Get("Cookie") != "authservice_session=s" {
			t.Fatalf("upstream saw %s %v", r.URL, r.Header)
		}
		if r.Host != strings.TrimPrefix(up.URL, "http://") {
			t.Fatalf("Host %q: the proxy changes the origin to the API server's", r.Host)
		}
	}
}

func TestHealthz(t *testing.T) {
	up := newUpstream(t)
	for _, path := range []string{"/apis/v1beta1/healthz", "/apis/v2beta1/healthz", "/pipeline/apis/v2beta1/healthz"} {
		rec := get(t, New(Config{APIServerURL: up.URL, FrontendTag: "2.17.0"}), path)
		var h map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		if h["apiServerReady"] != true || h["multi_user"] != true || h["apiServerMultiUser"] != true ||
			h["frontendTagName"] != "2.17.0" || h["apiServerTagName"] != "unknown" {
			t.Fatalf("%s: %v", path, h)
		}
		_, hasStore := h["pipelineStore"]
		if hasStore != strings.Contains(path, "v2beta1") {
			t.Fatalf("%s: pipelineStore present=%t; only the API server's v2beta1 healthz has pipeline_store", path, hasStore)
		}
		// The doctor must see the UI, not the API server.
		health, err := kfp.ParseHealth(rec.Body.Bytes())
		if err != nil || health == nil {
			t.Fatalf("%s: the doctor cannot parse %s: %v", path, rec.Body.String(), err)
		}
	}
}

func TestHealthzAPIServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	h := New(Config{APIServerURL: "http://" + addr})
	rec := get(t, h, "/apis/v1beta1/healthz")
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if got["apiServerReady"] != false {
		t.Fatalf("apiServerReady = %v", got["apiServerReady"])
	}
	for _, k := range []string{"multi_user", "apiServerMultiUser", "pipelineStore"} {
		if _, ok := got[k]; ok {
			t.Fatalf("%s present with the API server down: %v", k, got)
		}
	}
	// The proxy answers as http-proxy-middleware does.
	rec = get(t, h, "/apis/v2beta1/experiments?namespace=ns-1")
	if rec.Code != http.StatusGatewayTimeout || !strings.HasPrefix(rec.Body.String(), "Error occured while trying to proxy to: ") {
		t.Fatalf("proxy to a dead API server: %d %q", rec.Code, rec.Body.String())
	}
}

func TestRefusedAndUnknownPaths(t *testing.T) {
	up := newUpstream(t)
	h := New(Config{APIServerURL: up.URL})
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/apis/v1beta1/workflows", 403, "/apis/v1beta1/workflows endpoint is not meant for external usage."},
		{"/apis/v2beta1/scheduledworkflows/x?y=1", 403, "/apis/v2beta1/scheduledworkflows/x?y=1 endpoint is not meant for external usage."},
		{"/pipeline/apis/v1beta1/runs/r1:reportMetrics", 403, "/pipeline/apis/v1beta1/runs/r1:reportMetrics endpoint is not meant for external usage."},
		{"/apis/v2beta1/nope", 404, `{"code":5,"message":"Not Found"}`},
		{"/apis/v3/experiments", 404, "<pre>Cannot GET /apis/v3/experiments</pre>"},
		{"/pipeline/", 200, `<div id="root">`},
	}
	for _, c := range cases {
		rec := get(t, h, c.path)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Fatalf("%s: %d %q", c.path, rec.Code, rec.Body.String())
		}
	}
	// The doctor reads an old UI's answer to a newer API version as such.
	rec := get(t, h, "/apis/v3/experiments")
	if d := kfp.Classify(&kfp.Reply{StatusCode: rec.Code, Body: rec.Body.Bytes(), Header: rec.Header()}, nil); d.KFD != kfd.NotKFP {
		t.Fatalf("classified %+v", d)
	}
}

func TestLargeResponsesAreCapped(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := strings.Repeat("x", 1<<20)
		for range maxResponseBody>>20 + 2 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(big.Close)
	rec := get(t, New(Config{APIServerURL: big.URL}), "/apis/v2beta1/runs")
	if rec.Body.Len() > maxResponseBody {
		t.Fatalf("proxied %d bytes, cap is %d", rec.Body.Len(), maxResponseBody)
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://ml-pipeline:8888"},
		{map[string]string{"ML_PIPELINE_SERVICE_HOST": "10.0.0.7", "ML_PIPELINE_SERVICE_PORT": "8888"}, "http://10.0.0.7:8888"},
		{map[string]string{"ML_PIPELINE_SERVICE_HOST": "fd00::7", "ML_PIPELINE_SERVICE_PORT": "9"}, "http://[fd00::7]:9"},
	}
	for _, c := range cases {
		got := ConfigFromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got.APIServerURL != c.want || got.FrontendTag != "unknown" {
			t.Fatalf("%v: %+v", c.env, got)
		}
	}
}

func TestProxyKeepsTheClientsEncoding(t *testing.T) {
	seen := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RequestURI
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(api.Close)
	rec := get(t, New(Config{APIServerURL: api.URL + "/base"}), "/pipeline/apis/v2beta1/pipelines/a%2Fb?x=1")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if got := <-seen; got != "/base/apis/v2beta1/pipelines/a%2Fb?x=1" {
		t.Fatalf("the API server saw %q", got)
	}
}
