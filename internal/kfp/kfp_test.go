package kfp

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

func newClient(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	base, err := ParseHost(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(base, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Every recorded reply of the real server, replayed verbatim, must be
// understood: lists parse, errors name the right id.
func TestRecordedRepliesClassify(t *testing.T) {
	cases := []struct {
		recording string
		want      kfd.ID // "" means the list must parse
		wantCount int
		quote     string // what the summary must quote of the cause
	}{
		{"no auth, ns=ns-1", kfd.NoIdentity, 0, "there is no user identity header"},
		{"no auth, no ns", kfd.EmptyNamespace, 0, "An experiment cannot have an empty namespace in multi-user mode"},
		{"bearer aud=pipelines.kubeflow.org, ns=ns-1", "", 0, ""},
		{"bearer aud=pipelines.kubeflow.org, ns=kubeflow", kfd.RBACDenied, 0, "User 'system:serviceaccount:ns-1:alice' is not authorized"},
		{"bearer aud=wrong.example.com, ns=ns-1", kfd.TokenAudience, 0, `token audiences [\"wrong.example.com\"] is invalid for the target audiences [\"pipelines.kubeflow.org\"]`},
		{"kubeflow-userid: user@example.com, ns=ns-1", "", 0, ""},
		{"kubeflow-userid: other@example.com, ns=ns-1", kfd.RBACDenied, 0, "User 'other@example.com' is not authorized"},
		{"observed: unknown path", kfd.NotKFP, 0, "Not Found"},
		{"observed: single-user list", "", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.recording, func(t *testing.T) {
			s := kfptest.Server(t, kfptest.Routes{kfptest.ExperimentsV2: kfptest.Fixed(c.recording)})
			list, reply, err := newClient(t, s.URL, Options{}).ListExperiments(ctxT(t, 5*time.Second), V2beta1, "ns-1")
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if list == nil || len(list.Experiments) != c.wantCount {
					t.Fatalf("list = %+v, want %d experiments", list, c.wantCount)
				}
				return
			}
			if list != nil {
				t.Fatalf("an error reply parsed as a list: %+v", list)
			}
			if d := Classify(reply, nil); d.KFD != c.want || !strings.Contains(d.Summary, c.quote) {
				t.Fatalf("Classify = %+v, want %s quoting %s", d, c.want, c.quote)
			}
		})
	}
}

func TestHealthzShapes(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		kind    ServerKind
		multi   bool
		ready   bool
	}{
		{"api v2", kfptest.Fixed("v2 healthz"), APIServer, true, true},
		{"ui ready", kfptest.UIHealthz(true, false), UIServer, false, true},
		{"ui api down", kfptest.UIHealthz(false, false), UIServer, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: c.handler})
			h, _, err := newClient(t, s.URL, Options{}).Healthz(ctxT(t, 5*time.Second), V2beta1)
			if err != nil || h == nil {
				t.Fatalf("healthz: %v %v", h, err)
			}
			if h.Kind != c.kind {
				t.Fatalf("kind = %s, want %s", h.Kind, c.kind)
			}
			if multi, _ := h.IsMultiUser(); multi != c.multi {
				t.Fatalf("multi = %t", multi)
			}
			if ready := h.APIServerReady == nil || *h.APIServerReady; ready != c.ready {
				t.Fatalf("ready = %t", ready)
			}
		})
	}
	// The v1 answer is the API server's too.
	h, err := ParseHealth([]byte(kfptest.Get("v1 healthz").Body))
	if err != nil || h.Kind != APIServer {
		t.Fatalf("v1 healthz: %+v %v", h, err)
	}
}

func TestEnvelopeWithAndWithoutErrorField(t *testing.T) {
	newer := `{"code":7,"message":"m","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":7,"message":"short"}]}`
	older := `{"error":"m","code":7,"message":"m","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":7,"message":"short"}]}`
	errorOnly := `{"error":"only the old field","code":16}`
	for _, body := range []string{newer, older, errorOnly} {
		e, err := ParseEnvelope([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if e.Text() == "" || e.Code == 0 {
			t.Fatalf("%s: %+v", body, e)
		}
	}
	for _, body := range []string{`{}`, `[]`, `{"code":0,"message":"x"}`, `{"code":"7"}`, `<html>`, ``} {
		if _, err := ParseEnvelope([]byte(body)); err == nil {
			t.Fatalf("%q parsed as an envelope", body)
		}
	}
}

func TestListQueries(t *testing.T) {
	got := map[APIVersion]string{}
	s := kfptest.Server(t, kfptest.Routes{
		kfptest.ExperimentsV1: func(w http.ResponseWriter, r *http.Request) {
			got[V1beta1] = r.URL.RawQuery
			_, _ = w.Write([]byte(`{}`))
		},
		kfptest.ExperimentsV2: func(w http.ResponseWriter, r *http.Request) {
			got[V2beta1] = r.URL.RawQuery
			_, _ = w.Write([]byte(`{}`))
		},
	})
	c := newClient(t, s.URL, Options{})
	for _, v := range []APIVersion{V1beta1, V2beta1} {
		if l, _, err := c.ListExperiments(ctxT(t, 5*time.Second), v, "ns-1"); err != nil || l == nil {
			t.Fatalf("%s: %v %v", v, l, err)
		}
	}
	if got[V1beta1] != "resource_reference_key.id=ns-1&resource_reference_key.type=NAMESPACE" || got[V2beta1] != "namespace=ns-1" {
		t.Fatalf("queries = %v", got)
	}
}

// Replies that are not KFP's JSON: proxies, gateways, pages.
func TestNonKFPReplies(t *testing.T) {
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		userID   bool
		want     kfd.ID
		contains string
	}{
		{"login page 200", kfptest.Raw(200, "text/html", `<!DOCTYPE html><html><head><title>Log in to Your Account</title></head><body><form method="post"><input name="login"><input type="password" name="password"></form></body></html>`), false, kfd.LoginPage, "login page"},
		{"cannot GET v2", kfptest.Raw(404, "text/html", "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /pipeline/apis/v2beta1/experiments</pre>\n</body>\n</html>"), false, kfd.VersionMismatch, "Cannot GET"},
		{"istio rbac", kfptest.Raw(403, "text/plain", "RBAC: access denied", "Server", "istio-envoy"), false, kfd.IstioDenied, "istio-envoy"},
		{"istio rbac self-set id", kfptest.Raw(403, "text/plain", "RBAC: access denied", "Server", "istio-envoy"), true, kfd.SelfSetUserID, UserIDHeader},
		{"upstream connect", kfptest.Raw(503, "text/plain", "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: 111"), false, kfd.BackendNotReady, "upstream connect"},
		{"jwt issuer", kfptest.Raw(401, "text/plain", "Jwt issuer is not configured"), false, kfd.JWTIssuer, "issuer"},
		{"oauth2-proxy 401", kfptest.Raw(401, "text/plain", "Unauthorized"), false, kfd.LoginPage, "session"},
		{"redirect to dex", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/dex/auth?client_id=kubeflow-oidc-authservice&state=x", http.StatusFound)
		}, false, kfd.LoginPage, "/dex/auth"},
		// Not followed: the doctor does not call a cloud's sign-in.
		{"redirect to IBM App ID", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://us-south.appid.cloud.ibm.com/oauth/v4/tenant/authorization?client_id=c&state=x", http.StatusFound)
		}, false, kfd.DistroIBM, "IBM Cloud App ID (Kubeflow on IBM Cloud)'s sign-in (us-south.appid.cloud.ibm.com)"},
		{"redirect to Google for IAP", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://accounts.google.com/o/oauth2/v2/auth?client_id=1-abc.apps.googleusercontent.com", http.StatusFound)
		}, false, kfd.DistroIAP, "accounts.google.com"},
		{"spa page 200", kfptest.Raw(200, "text/html", "<html><head><title>Kubeflow Pipelines</title></head><body></body></html>"), false, kfd.NotKFP, "HTML page"},
		{"other json 200", kfptest.Raw(200, "application/json", `{"kind":"Status"}`), false, kfd.NotKFP, "not a KFP answer"},
		// Go's client hands such a redirect back as is: it has nowhere to go.
		{"redirect without Location", kfptest.Raw(302, "text/plain", ""), false, kfd.BadRedirect, SayNoLocation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := kfptest.Server(t, kfptest.Routes{kfptest.ExperimentsV2: c.handler})
			cl := newClient(t, s.URL, Options{})
			h := http.Header{}
			if c.userID {
				h.Set(UserIDHeader, "user@example.com")
			}
			reply, err := cl.Do(ctxT(t, 5*time.Second), http.MethodGet, kfptest.ExperimentsV2, nil, h)
			if err != nil {
				t.Fatal(err)
			}
			if l := parseExperimentList(reply.Body); l != nil && reply.StatusCode == 200 {
				t.Fatalf("parsed as a list: %+v", l)
			}
			d := Classify(reply, nil)
			if d.KFD != c.want || !strings.Contains(d.Summary, c.contains) {
				t.Fatalf("Classify = %+v, want %s mentioning %q", d, c.want, c.contains)
			}
		})
	}
}

// The prose-only observations of the recorded server, rebuilt around the
// phrases it quotes.
func TestObservedEnvelopes(t *testing.T) {
	env := func(code int, msg string) string {
		return `{"code":` + itoa(code) + `,"message":` + jsonQuote(msg) + `,"details":[{"@type":"type.googleapis.com/google.rpc.Status","code":` + itoa(code) + `,"message":"x"}]}`
	}
	cases := []struct {
		name   string
		status int
		body   string
		want   kfd.ID
	}{
		{"lowercase bearer", 401, env(16, "List experiments failed: Unauthenticated: Header 'Authorization' is incorrectly formatted. Expected prefix 'Bearer '"), kfd.TokenInvalid},
		{"not a jwt", 401, env(16, "Authentication failure: Unauthenticated: Review.Status.Authenticated is false. Error [invalid bearer token]: Failed to authenticate token review"), kfd.TokenInvalid},
		{"expired token", 401, env(16, "Review.Status.Authenticated is false. Error [invalid bearer token, service account token has expired]"), kfd.Expired},
		{"apiserver unreachable bearer", 401, env(16, "Failed to review the token provided: Post \"https://10.0.0.1:443/apis/authentication.k8s.io/v1/tokenreviews\": dial tcp: connect: connection refused"), kfd.ReviewUnavailable},
		{"apiserver unreachable header", 500, env(13, "Failed to create SubjectAccessReview for user 'user@example.com'"), kfd.ReviewUnavailable},
		{"single-user write", 400, env(3, "In single-user mode, CreateExperimentRequest shouldn't contain resource references"), kfd.NamespaceSingleUser},
		{"old envelope with error field", 401, `{"error":"Request header error: there is no user identity header.","code":16,"message":"Request header error: there is no user identity header."}`, kfd.NoIdentity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := kfptest.Server(t, kfptest.Routes{kfptest.ExperimentsV2: kfptest.Raw(c.status, "application/json", c.body)})
			_, reply, err := newClient(t, s.URL, Options{}).ListExperiments(ctxT(t, 5*time.Second), V2beta1, "ns-1")
			if err != nil {
				t.Fatal(err)
			}
			if d := Classify(reply, nil); d.KFD != c.want {
				t.Fatalf("Classify = %+v, want %s", d, c.want)
			}
		})
	}
}

func TestTransportFailures(t *testing.T) {
	// Nothing listening: a port we held and released.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	// A server that accepts and never answers.
	silent := kfptest.SilentServer(t)

	// A server that sends 50 MB.
	big := kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i < 50; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}})

	// A redirect loop.
	var loop *httptest.Server
	loop = kfptest.Server(t, kfptest.Routes{kfptest.HealthzV2: func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+kfptest.HealthzV2, http.StatusFound)
	}})

	// TLS with a certificate nobody trusts.
	tlsSrv := httptest.NewTLSServer(kfptest.Fixed("v2 healthz"))
	t.Cleanup(tlsSrv.Close)

	cases := []struct {
		name string
		url  string
		want kfd.ID
		max  time.Duration
	}{
		{"refused", refused, kfd.NothingListening, time.Second},
		{"never answers", silent, kfd.NoAnswer, 2 * time.Second},
		{"50 MB body", big.URL, kfd.NotKFP, 2 * time.Second},
		{"redirect loop", loop.URL, kfd.RedirectLoop, 2 * time.Second},
		{"untrusted certificate", tlsSrv.URL, kfd.TLSVerify, time.Second},
		{"https to a plain port", strings.Replace(big.URL, "http://", "https://", 1), kfd.NotKFP, time.Second},
		{"unknown host", "http://kfp-connect-test.invalid", kfd.DNS, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			ctx := ctxT(t, 300*time.Millisecond)
			if c.name != "never answers" {
				ctx = ctxT(t, 5*time.Second)
			}
			_, reply, err := newClient(t, c.url, Options{}).Healthz(ctx, V2beta1)
			d := Classify(reply, err)
			if d.KFD != c.want {
				t.Fatalf("Classify = %+v (err %v), want %s", d, err, c.want)
			}
			if took := time.Since(start); took > c.max {
				t.Fatalf("took %s, want under %s", took, c.max)
			}
			if reply != nil && len(reply.Body) > MaxBody {
				t.Fatalf("read %d bytes, cap is %d", len(reply.Body), MaxBody)
			}
		})
	}
}

func TestCACert(t *testing.T) {
	srv := httptest.NewTLSServer(kfptest.Fixed("v2 healthz"))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]Options{"ca-cert": {CACertFile: caFile}, "insecure": {InsecureSkipVerify: true}} {
		t.Run(name, func(t *testing.T) {
			h, _, err := newClient(t, srv.URL, opts).Healthz(ctxT(t, 5*time.Second), V2beta1)
			if err != nil || h == nil || h.Kind != APIServer {
				t.Fatalf("healthz over TLS: %+v %v", h, err)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := ParseHost(srv.URL)
	if _, err := NewClient(base, nil, Options{CACertFile: bad}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA file: %v", err)
	}
}

func TestParseHost(t *testing.T) {
	good := map[string]string{
		"http://localhost:3000/":            "http://localhost:3000",
		"localhost:8080/pipeline":           "https://localhost:8080/pipeline",
		"http://ml-pipeline-ui.kubeflow":    "http://ml-pipeline-ui.kubeflow",
		" http://127.0.0.1:8888//pipeline/": "http://127.0.0.1:8888//pipeline",
	}
	for in, want := range good {
		u, err := ParseHost(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseHost(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, in := range []string{"", "ftp://x", "http://", "http://u:p@host", "http://h/?q=1", "http://%zz"} {
		if _, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) accepted", in)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCannotGetTellsVersionFromPrefix(t *testing.T) {
	page := func(p string) string { return "<html><body><pre>Cannot GET " + p + "</pre></body></html>" }
	cases := map[string]kfd.ID{
		"/apis/v2beta1/experiments":         kfd.VersionMismatch,
		"/pipeline/apis/v2beta1/healthz":    kfd.VersionMismatch,
		"/pipelines/apis/v2beta1/healthz":   kfd.NotKFP,
		"/kubeflow/pipeline/apis/v2beta1/x": kfd.NotKFP,
	}
	for p, want := range cases {
		d := Classify(&Reply{StatusCode: 404, Header: http.Header{}, Body: []byte(page(p))}, nil)
		if d.KFD != want {
			t.Errorf("%s: %+v, want %s", p, d, want)
		}
	}
}
