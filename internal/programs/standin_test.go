package programs

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a stderr the program writes from its goroutine while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
		args int
	}{
		{[]string{"/kfp-api-server", "--listen", ":1"}, "kfp-api-server", 2},
		// The API server's image calls it by its upstream file name.
		{[]string{"/bin/apiserver", "--config=/config"}, "kfp-api-server", 1},
		{[]string{"/kfp-standin", "kfp-frontend"}, "kfp-frontend", 0},
		// Programs the catalogue has that kfp-standin does not run.
		{[]string{"/kfp-standin", "dex"}, "", 0},
		{[]string{"/kfp-standin"}, "", 0},
		{nil, "", 0},
	} {
		p, args := choose(tc.argv)
		name := ""
		if p != nil {
			name = p.Name
		}
		if name != tc.want || len(args) != tc.args {
			t.Errorf("choose(%q) = %q, %q; want %q with %d args", tc.argv, name, args, tc.want, tc.args)
		}
	}
}

func TestUnknownProgramIsUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := Standin(context.Background(), []string{"kfp-standin", "nope"}, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
	}
	for _, n := range []string{"kfp-api-server", "kfp-frontend", "istio-gateway"} {
		if !strings.Contains(stderr.String(), n) {
			t.Errorf("usage does not list %s: %s", n, stderr.String())
		}
	}
}

// The API server needs its pod's ServiceAccount: outside a pod it fails
// with a reason instead of serving without one.
func TestAPIServerOutsideAPodFails(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var stderr bytes.Buffer
	if code := Standin(context.Background(), []string{"/kfp-api-server"}, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "ServiceAccount") {
		t.Errorf("stderr does not name the missing ServiceAccount: %s", stderr.String())
	}
}

// The UI program, called by its image's name, reads the ml-pipeline
// Service's env as in a pod, serves on --listen, answers its healthz with
// the API server's, and exits 0 when signalled.
func TestFrontendServesFromEnvAndStops(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/v1beta1/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"tag_name":"2.17.0","multi_user":false}`))
	}))
	defer api.Close()
	u, _ := url.Parse(api.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	t.Setenv("ML_PIPELINE_SERVICE_HOST", host)
	t.Setenv("ML_PIPELINE_SERVICE_PORT", port)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	exit := make(chan int, 1)
	go func() { exit <- Standin(ctx, []string{"/kfp-frontend", "--listen", addr}, stderr) }()

	client := &http.Client{Timeout: 2 * time.Second}
	var health map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/apis/v1beta1/healthz")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the UI never answered on %s: %v; stderr %s", addr, err, stderr.String())
		}
		select {
		case code := <-exit:
			t.Fatalf("exited %d before serving: %s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if health["apiServerReady"] != true || health["apiServerTagName"] != "2.17.0" {
		t.Errorf("healthz %v: want the API server's build and apiServerReady true", health)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after the stop, want 0; stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10 s of its context ending")
	}
}
