package probes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/distro"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/login/logintest"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/redact"
)

// loopbackOnly fails the test if anything is sent off the test's servers:
// the doctor must stop at a cloud's sign-in, not follow it to Google.
type loopbackOnly struct {
	t    *testing.T
	mu   sync.Mutex
	seen []string
}

func (l *loopbackOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.seen = append(l.seen, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	if h := r.URL.Hostname(); h != "127.0.0.1" {
		l.t.Errorf("a request left the test's servers: %s %s", r.Method, r.URL.Redacted())
		return nil, fmt.Errorf("refused: %s", h)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// cloudGateway answers every path as a cloud's front door answers an
// anonymous browser (the first answers the distro table was built from).
func cloudGateway(t *testing.T, status int, headers [][2]string, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for _, h := range headers {
			w.Header().Add(h[0], h[1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDistributionProbe(t *testing.T) {
	iap := cloudGateway(t, 302, [][2]string{
		{"Location", "https://accounts.google.com/o/oauth2/v2/auth?client_id=1-abc.apps.googleusercontent.com&response_type=code&scope=openid+email&redirect_uri=https://iap.googleapis.com/v1/oauth/clientIds/1-abc.apps.googleusercontent.com:handleRedirect&state=s3cr3tstate"},
		{"X-Goog-IAP-Generated-Response", "true"}}, "Invalid IAP credentials: empty token")
	cognito := cloudGateway(t, 302, [][2]string{
		{"Server", "awselb/2.0"},
		{"Location", "https://kf.auth.us-west-2.amazoncognito.com/oauth2/authorize?client_id=c&redirect_uri=https%3A%2F%2Fkf.example.com%2Foauth2%2Fidpresponse&response_type=code&scope=openid&state=s3cr3tstate"}}, "")
	azure := cloudGateway(t, 302, [][2]string{
		{"Location", "https://login.microsoftonline.com/tenant/oauth2/v2.0/authorize?client_id=c&redirect_uri=https%3A%2F%2Fkf.example.com%2Foauth2%2Fcallback&state=s3cr3tstate"},
		{"Set-Cookie", "_oauth2_proxy_csrf=s3cr3tcsrf; Path=/; HttpOnly"}}, "")
	appid := cloudGateway(t, 302, [][2]string{
		{"Location", "https://us-south.appid.cloud.ibm.com/oauth/v4/tenant/authorization?client_id=c&redirect_uri=https%3A%2F%2Fkf.example.com%2Fauthservice%2Foidc%2Fcallback&state=s3cr3tstate"}}, "")
	standalone := cloudGateway(t, 200, [][2]string{{"Content-Type", "text/html"}}, "<!doctype html><html><title>Kubeflow Pipelines</title></html>")

	cases := []struct {
		name    string
		gateway string
		opts    *logintest.Options // a Dex gateway instead
		status  probe.Status
		id      kfd.ID
		distro  string
		word    string
	}{
		{"Google Cloud IAP", iap, nil, probe.Warn, kfd.DistroIAP, string(distro.GCPIAP), "redirect to accounts.google.com"},
		{"AWS ALB with Cognito", cognito, nil, probe.Warn, kfd.DistroAWS, string(distro.AWSCognito), "amazoncognito.com"},
		{"Entra ID behind oauth2-proxy", azure, nil, probe.Warn, kfd.DistroAzure, string(distro.AzureAD), "login.microsoftonline.com"},
		{"IBM App ID behind oidc-authservice", appid, nil, probe.Warn, kfd.DistroIBM, string(distro.IBMAppID), "appid.cloud.ibm.com"},
		{"Kubeflow ≥ 1.9", "", &logintest.Options{}, probe.Pass, "", string(distro.DexOAuth2Proxy), "recognised: Dex behind oauth2-proxy"},
		{"Kubeflow ≥ 1.9 behind Istio's ext_authz", "", &logintest.Options{Unauthorized: true}, probe.Pass, "", string(distro.DexOAuth2Proxy), "recognised: Dex behind oauth2-proxy"},
		{"Kubeflow ≤ 1.8", "", &logintest.Options{Generation: logintest.AuthService}, probe.Pass, "", string(distro.DexAuthService), "recognised: Dex behind oidc-authservice"},
		{"standalone KFP", standalone, nil, probe.Skip, "", "none", "no login stack recognised"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw := c.gateway
			if c.opts != nil {
				gw = logintest.New(t, *c.opts).URL
			}
			guard := &loopbackOnly{t: t}
			red := &redact.Redactor{}
			u, _ := url.Parse(gw)
			flow, err := login.New(login.Config{Gateway: u, Username: logintest.DefaultUser, Password: logintest.DefaultPassword, Redactor: red,
				HTTPClient: func() *http.Client { return &http.Client{Transport: guard, Timeout: 2 * time.Second} }})
			if err != nil {
				t.Fatal(err)
			}
			lg := &Login{Flow: flow, Redactor: red}
			base, _ := kfp.ParseHost(gw + "/pipeline")
			client, err := kfp.NewClient(base, lg, kfp.Options{Transport: guard})
			if err != nil {
				t.Fatal(err)
			}
			runner, err := probe.NewRunner(WithDistribution(WithLogin(lg, Doctor())))
			if err != nil {
				t.Fatal(err)
			}
			runner.Redact = red
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			byID := map[string]probe.Result{}
			for _, r := range runner.Run(ctx, &Target{Client: client, Namespace: "ns-1"}) {
				byID[r.Probe] = r
				if strings.Contains(r.Message, "s3cr3t") || strings.Contains(fmt.Sprint(r.Facts), "s3cr3t") {
					t.Errorf("%s shows a query or cookie value: %s %v", r.Probe, r.Message, r.Facts)
				}
			}
			d := byID[DistributionID]
			if d.Status != c.status || d.KFD != c.id || d.Facts["distribution"] != c.distro || !strings.Contains(d.Message, c.word) {
				t.Fatalf("distribution: %s %s %q facts %v; want %s %s %s %q", d.Status, d.KFD, d.Message, d.Facts, c.status, c.id, c.distro, c.word)
			}
			if c.id == "" {
				if s := byID[LoginSecured]; c.distro != "none" && s.Status != probe.Pass {
					t.Errorf("login-secured through a Dex stack: %s %q", s.Status, s.Message)
				}
				return
			}
			// Where the doctor cannot log in, it says so as a warning that
			// points at the distribution's own page, and the Dex stages do
			// not run.
			dist, _ := distro.Lookup(distro.ID(c.distro))
			if !strings.Contains(d.Hint, "https://") || d.Doc != c.id.Doc() || d.Facts["distribution_doc"] != dist.Doc {
				t.Errorf("distribution: hint %q doc %q facts %v", d.Hint, d.Doc, d.Facts)
			}
			s := byID[LoginSecured]
			if s.Status != probe.Warn || s.KFD != c.id || !strings.Contains(s.Message, "not Dex") {
				t.Errorf("login-secured: %s %s %q; want a warning %s", s.Status, s.KFD, s.Message, c.id)
			}
			if r := byID[LoginHelper]; r.Status != probe.Skip {
				t.Errorf("login-helper after %s: %s %q; want a skip", dist.Name, r.Status, r.Message)
			}
			for _, id := range []string{LoginConnector, LoginCredentials, LoginSession} {
				if r := byID[id]; r.Status != probe.Skip || !strings.Contains(r.Message, dist.Name) {
					t.Errorf("%s: %s %q; want a skip naming %s", id, r.Status, r.Message, dist.Name)
				}
			}
		})
	}
}

// With a cluster, its objects are read too: a port-forward to the UI says
// nothing of the gateway, the Deployments do.
func TestDistributionProbeReadsTheCluster(t *testing.T) {
	ui := cloudGateway(t, 200, [][2]string{{"Content-Type", "text/html"}}, "<!doctype html><html><title>Kubeflow Pipelines</title></html>")
	kube := fake.NewSimpleClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "dex"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "oauth2-proxy", Name: "oauth2-proxy"}},
	)
	kube.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("configmaps is forbidden")
	})
	base, _ := kfp.ParseHost(ui)
	client, err := kfp.NewClient(base, nil, kfp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := probe.NewRunner([]probe.Probe[*Target]{distributionProbe()})
	if err != nil {
		t.Fatal(err)
	}
	res := runner.Run(context.Background(), &Target{Client: client, Cluster: &Cluster{Kube: fromclientset.Wrap(kube), Install: &discover.Install{}}})
	d := res[0]
	if d.Status != probe.Pass || d.Facts["distribution"] != string(distro.DexOAuth2Proxy) || !strings.Contains(d.Message, "deployment oauth2-proxy/oauth2-proxy") || !strings.Contains(d.Message, "could not check: cannot list ConfigMap objects in istio-system") {
		t.Fatalf("%s %q %v", d.Status, d.Message, d.Facts)
	}
}
