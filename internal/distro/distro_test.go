package distro

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

// reply is one recorded first answer of a gateway to an anonymous browser
// GET of /pipeline/.
type reply struct {
	status  int
	headers [][2]string // in order; Set-Cookie may repeat
	body    string
}

// replay serves the reply and returns what a client that does not follow
// redirects reads, as the doctor's probe does.
func replay(t *testing.T, r reply) (*url.URL, Answer) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		for _, h := range r.headers {
			v := strings.ReplaceAll(h[1], "{self}", "http://"+req.Host)
			w.Header().Add(h[0], v)
		}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, r.body)
	}))
	t.Cleanup(srv.Close)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(srv.URL + "/pipeline/")
	resp, err := c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return u, Answer{URL: u, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func TestRecognisesEachStackFromItsFirstAnswer(t *testing.T) {
	cases := []struct {
		name  string
		host  string // the endpoint's host as the user gave it ("" is the test server)
		reply reply
		want  ID // "" for "not recognised"
		kfd   kfd.ID
		seen  string // a signal the message must name
	}{
		{name: "Kubeflow ≥ 1.9, oauth2-proxy's redirect into Dex",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "{self}/dex/auth?client_id=kubeflow-oidc-authservice&redirect_uri=%2Foauth2%2Fcallback&response_type=code&scope=openid+profile+email+groups&state=abc"},
				{"Set-Cookie", "oauth2_proxy_kubeflow_csrf=c2VjcmV0; Path=/; Expires=Tue, 01 Dec 2026 12:15:00 GMT; HttpOnly; SameSite=Lax"}}},
			want: DexOAuth2Proxy, seen: "cookie oauth2_proxy_kubeflow_csrf"},
		{name: "Kubeflow ≥ 1.9 behind Istio's ext_authz: 403 with oauth2-proxy's sign-in page",
			reply: reply{status: 403, headers: [][2]string{{"Content-Type", "text/html; charset=utf-8"}, {"Server", "istio-envoy"}},
				body: `<!DOCTYPE html><html><head><title>Sign In</title></head><body><form method="GET" action="/oauth2/start"><input type="hidden" name="rd" value="/pipeline/"><button type="submit">Sign in with OpenID Connect</button></form></body></html>`},
			want: DexOAuth2Proxy, seen: "body"},
		{name: "Kubeflow ≤ 1.8, oidc-authservice's redirect into Dex",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "/dex/auth?client_id=kubeflow-oidc-authservice&redirect_uri=%2Fauthservice%2Foidc%2Fcallback&response_type=code&scope=profile+email+groups+openid&state=MTcw"}}},
			want: DexAuthService, seen: "redirect_uri /authservice/oidc/callback"},
		{name: "Google Cloud IAP",
			host: "kf.endpoints.my-project.cloud.goog",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "https://accounts.google.com/o/oauth2/v2/auth?client_id=721899303052-abc.apps.googleusercontent.com&response_type=code&scope=openid+email&redirect_uri=https://iap.googleapis.com/v1/oauth/clientIds/721899303052-abc.apps.googleusercontent.com:handleRedirect&state=s"},
				{"X-Goog-IAP-Generated-Response", "true"},
				{"Set-Cookie", "GCP_IAP_XSRF_NONCE_Q0sFa=1; expires=Tue, 01-Dec-2026 12:20:00 GMT; path=/; Secure; HttpOnly"}},
				body: "Invalid IAP credentials: empty token"},
			want: GCPIAP, kfd: kfd.DistroIAP, seen: "redirect to accounts.google.com"},
		{name: "Google Cloud IAP to a programmatic request: 401 and its body only",
			reply: reply{status: 401, headers: [][2]string{{"Content-Type", "text/html; charset=UTF-8"}},
				body: "Invalid IAP credentials: Unable to parse JWT"},
			want: GCPIAP, kfd: kfd.DistroIAP, seen: "body"},
		{name: "AWS ALB with Cognito",
			reply: reply{status: 302, headers: [][2]string{
				{"Server", "awselb/2.0"},
				{"Location", "https://kubeflow-example.auth.us-west-2.amazoncognito.com/oauth2/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Foauth2%2Fidpresponse&response_type=code&scope=openid&state=s"},
				{"Set-Cookie", "AWSELBAuthNonce=n0nce; path=/; secure; HttpOnly"}}},
			want: AWSCognito, kfd: kfd.DistroAWS, seen: "redirect to kubeflow-example.auth.us-west-2.amazoncognito.com"},
		{name: "Azure: oauth2-proxy relaying to Entra ID is Microsoft's login",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/authorize?client_id=c&redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Foauth2%2Fcallback&response_type=code&state=s"},
				{"Set-Cookie", "_oauth2_proxy_csrf=x; Path=/; HttpOnly; Secure"}}},
			want: AzureAD, kfd: kfd.DistroAzure, seen: "redirect to login.microsoftonline.com"},
		{name: "IBM: oidc-authservice relaying to App ID is App ID's login",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "https://us-south.appid.cloud.ibm.com/oauth/v4/0000/authorization?client_id=c&redirect_uri=https%3A%2F%2Fkf.example.com%2Fauthservice%2Foidc%2Fcallback&response_type=code&scope=openid&state=s"}}},
			want: IBMAppID, kfd: kfd.DistroIBM, seen: "redirect to us-south.appid.cloud.ibm.com"},
		// kubeflow/pipelines#4624: the hosted endpoint's 401, Google's page.
		{name: "Google's inverse proxy in front of hosted KFP",
			host: "39e0f88a26ceb5d1-dot-us-central2.pipelines.googleusercontent.com",
			reply: reply{status: 401, headers: [][2]string{{"Content-Type", "text/html; charset=utf-8"}, {"Set-Cookie", "S=cloud_datalab_tunnel=; Path=/; Max-Age=3600"}},
				body: "<!DOCTYPE html><html lang=en><title>Error 401 (Unauthorized)!!1</title>"},
			want: GCPInverse, kfd: kfd.InverseProxy, seen: "cloud_datalab_tunnel"},
		// kubeflow/manifests#2513: Keycloak instead of Dex.
		{name: "Keycloak in front of the gateway",
			reply: reply{status: 302, headers: [][2]string{
				{"Location", "http://10.86.26.178:8081/realms/kubeflow/protocol/openid-connect/auth?client_id=kubeflow&redirect_uri=%2Flogin%2Foidc&response_type=code&state=s"}}},
			want: OtherOIDC, kfd: kfd.OutsideIdP, seen: "/protocol/openid-connect/auth"},
		{name: "standalone KFP: the UI's page, no login",
			reply: reply{status: 200, headers: [][2]string{{"Content-Type", "text/html"}}, body: `<!doctype html><html><head><title>Kubeflow Pipelines</title></head><body><div id="root"></div></body></html>`}},
		{name: "Dex alone does not say which proxy is in front",
			reply: reply{status: 302, headers: [][2]string{{"Location", "/dex/auth?client_id=x&response_type=code"}}}},
		{name: "an AWS load balancer alone is not Cognito",
			reply: reply{status: 200, headers: [][2]string{{"Server", "awselb/2.0"}}, body: "ok"}},
		{name: "a lookalike host is not Google's",
			reply: reply{status: 302, headers: [][2]string{{"Location", "https://evilaccounts.google.com.example/o/oauth2/v2/auth"}}}},
		{name: "a lookalike path segment is not oauth2-proxy's",
			reply: reply{status: 302, headers: [][2]string{{"Location", "/myoauth2/startup"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host, a := replay(t, c.reply)
			if c.host != "" {
				host = &url.URL{Scheme: "https", Host: c.host, Path: "/pipeline"}
			}
			m, ok := Recognise(Observe(host, a))
			if c.want == "" {
				if ok {
					t.Fatalf("recognised %s from %s; want nothing", m.Distribution.ID, m.Seen())
				}
				return
			}
			if !ok || m.Distribution.ID != c.want {
				t.Fatalf("recognised %q (ok %t, signals %v); want %s", m.Distribution.ID, ok, Observe(host, a), c.want)
			}
			if m.Distribution.KFD != c.kfd || m.Distribution.Login != (c.kfd == "") {
				t.Errorf("%s: KFD %q login %t", c.want, m.Distribution.KFD, m.Distribution.Login)
			}
			if !strings.Contains(m.Seen(), c.seen) {
				t.Errorf("signals %q do not name %q", m.Seen(), c.seen)
			}
			if strings.Contains(m.Seen(), "c2VjcmV0") || strings.Contains(m.Seen(), "n0nce") {
				t.Errorf("a cookie value shows in %q", m.Seen())
			}
		})
	}
}

// The cluster's objects tell the stacks apart where the kubeconfig lets the
// doctor list them; a cloud's controllers alone are only hints.
func TestRecognisesFromClusterObjects(t *testing.T) {
	cases := []struct {
		name string
		objs []Object
		want ID
	}{
		{"Kubeflow ≥ 1.9 manifests", []Object{{"Deployment", "auth", "dex"}, {"Deployment", "oauth2-proxy", "oauth2-proxy"}}, DexOAuth2Proxy},
		{"Kubeflow ≤ 1.8 manifests", []Object{{"Deployment", "auth", "dex"}, {"Service", "istio-system", "authservice"}}, DexAuthService},
		{"Kubeflow ≤ 1.8 parameters", []Object{{"ConfigMap", "istio-system", "oidc-authservice-parameters"}}, DexAuthService},
		{"Dex alone", []Object{{"Deployment", "auth", "dex"}}, ""},
		{"EKS load balancer controller alone", []Object{{"Deployment", "kube-system", "aws-load-balancer-controller"}}, ""},
		{"GCP's iap-enabler and envoy-ingress", []Object{{"Deployment", "kubeflow", "iap-enabler"}, {"Ingress", "istio-system", "envoy-ingress"}}, GCPIAP},
		{"oauth2-proxy in another namespace is not Kubeflow's", []Object{{"Deployment", "default", "oauth2-proxy"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, ok := Recognise(ObserveCluster(c.objs))
			if got := m.Distribution.ID; (c.want == "") == ok || got != c.want {
				t.Fatalf("recognised %q (ok %t); want %q", got, ok, c.want)
			}
		})
	}
}

// Every stack has a name and the seed's link, and every stack the doctor
// cannot log in through names its catalogue id, whose hint points to that
// distribution's own page.
func TestEveryStackHasItsDocAndID(t *testing.T) {
	for _, d := range All() {
		if d.Name == "" || !strings.HasPrefix(d.Doc, "https://") {
			t.Errorf("%s: name %q, doc %q", d.ID, d.Name, d.Doc)
		}
		if d.Login != (d.KFD == "") {
			t.Errorf("%s: login %t but KFD %q", d.ID, d.Login, d.KFD)
		}
		if d.KFD != "" {
			e, ok := kfd.Lookup(d.KFD)
			if !ok || !strings.Contains(e.Hint, "https://") {
				t.Errorf("%s: %s has no hint with a link (%+v)", d.ID, d.KFD, e)
			}
		}
	}
	for _, s := range Table() {
		if _, ok := Lookup(s.Distro); !ok || s.Source == "" || (s.Strength != Weak && s.Strength != Strong) {
			t.Errorf("bad signature %+v", s)
		}
	}
}
