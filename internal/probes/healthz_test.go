package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// A refused connection is a missing port-forward outside a cluster, and a
// Service without ready endpoints inside one.
func TestRefusedDependsOnWhereTheDoctorRuns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, c := range []struct {
		inPod bool
		want  kfd.ID
	}{{false, kfd.NothingListening}, {true, kfd.BackendNotReady}} {
		base, _ := kfp.ParseHost("http://" + addr)
		client, err := kfp.NewClient(base, nil, kfp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res := healthzProbe().Run(context.Background(), &Target{Client: client, InPod: c.inPod})
		if res.KFD != c.want {
			t.Errorf("in pod %t: %s %q, want %s", c.inPod, res.KFD, res.Message, c.want)
		}
	}
}

// A gateway that wants a login although the client sent its session cookie
// means the session is over (KFD020); without one it is a login page to go
// through (KFD013).
func TestRefusedSessionIsExpired(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// oauth2-proxy's answer to an API path without a valid session.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Unauthorized"))
	}))
	defer srv.Close()
	for _, c := range []struct {
		cookies string
		want    kfd.ID
	}{{"", kfd.LoginPage}, {"other=1", kfd.LoginPage}, {"oauth2_proxy_kubeflow=s3ss10n", kfd.Expired}, {"authservice_session=s3ss10n", kfd.Expired}} {
		var red redact.Redactor
		var jar *credentials.Cookies
		var auth kfp.Credentials
		if c.cookies != "" {
			var err error
			if jar, err = credentials.NewCookies(c.cookies, &red); err != nil {
				t.Fatal(err)
			}
			auth = jar
		}
		base, _ := kfp.ParseHost(srv.URL)
		client, err := kfp.NewClient(base, auth, kfp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res := healthzProbe().Run(context.Background(), &Target{Client: client, Cookies: jar})
		if res.KFD != c.want {
			t.Errorf("cookies %q: %s %q, want %s", c.cookies, res.KFD, res.Message, c.want)
		}
	}
}

// On Google's inverse proxy a refused call is the missing Google token
// (KFD057), not a Dex login: the proxy's own 401 page
// (kubeflow/pipelines#4624).
func TestHealthzOnTheInverseProxy(t *testing.T) {
	srv := httptest.NewServer(kfptest.Raw(401, "text/html; charset=utf-8", "<!DOCTYPE html><html lang=en><title>Error 401 (Unauthorized)!!1</title>", "Set-Cookie", "S=cloud_datalab_tunnel=; Path=/"))
	t.Cleanup(srv.Close)
	base, _ := kfp.ParseHost("http://39e0f88a26ceb5d1-dot-us-central2.pipelines.googleusercontent.com")
	toServer := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	client, err := kfp.NewClient(base, nil, kfp.Options{DialContext: toServer})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, runProbe(t, healthzProbe(), &Target{Client: client}), probe.Fail, kfd.InverseProxy, "Google access token")
}
