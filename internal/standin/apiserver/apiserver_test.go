package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The recorded server's configuration (kfp-recorded-replies.md).
var recordedConfig = Config{
	MultiUser: true, UserIDHeader: "kubeflow-userid", UserIDPrefix: "",
	TokenReviewAudience: "pipelines.kubeflow.org", Namespace: "kubeflow",
}

const (
	aliceToken = "alice-token"
	wrongToken = "wrong-audience-token"
	alice      = "system:serviceaccount:ns-1:alice"
)

// fakeKube answers TokenReviews and SubjectAccessReviews the way the
// recorded cluster did. It stands in only so the stand-in's requests can be
// inspected; the suites/fidelity suite makes the same decisions with a real
// kube-apiserver.
type fakeKube struct {
	*fake.Clientset
	mu      sync.Mutex
	reviews []authnv1.TokenReviewSpec
	sars    []authzv1.SubjectAccessReviewSpec
}

func newFakeKube(failWith error) *fakeKube {
	f := &fakeKube{Clientset: fake.NewClientset()}
	f.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		f.mu.Lock()
		f.reviews = append(f.reviews, tr.Spec)
		f.mu.Unlock()
		if failWith != nil {
			return true, nil, failWith
		}
		switch tr.Spec.Token {
		case aliceToken:
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences,
				User: authnv1.UserInfo{Username: alice}}
		case wrongToken:
			tr.Status = authnv1.TokenReviewStatus{Error: `[invalid bearer token, token audiences ["wrong.example.com"] is invalid for the target audiences ["pipelines.kubeflow.org"]]`}
		default:
			tr.Status = authnv1.TokenReviewStatus{Error: "[invalid bearer token, square/go-jose: compact JWS format must have three parts]"}
		}
		return true, tr, nil
	})
	f.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		f.mu.Lock()
		f.sars = append(f.sars, sar.Spec)
		f.mu.Unlock()
		if failWith != nil {
			return true, nil, failWith
		}
		ra := sar.Spec.ResourceAttributes
		allowed := (sar.Spec.User == alice || sar.Spec.User == "user@example.com") &&
			ra.Namespace == "ns-1" && ra.Group == kfpauthz.Group && ra.Resource == rbacExperiments
		sar.Status.Allowed = allowed
		return true, sar, nil
	})
	return f
}

func (f *fakeKube) calls() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reviews), len(f.sars)
}

type reply struct {
	status int
	body   string
}

func do(t *testing.T, h http.Handler, method, target, body string, header ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Body.String()}
}

// requestAttrs is the part of a message that renders k8s.io/api's
// ResourceAttributes, which changes with its version: never compared.
var requestAttrs = regexp.MustCompile(`\(request: [^)]*\)`)

// comparable keeps what a stand-in must reproduce: the whole body for
// successes, code, message and details[0] for errors.
func comparable(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v: %q", err, body)
	}
	if _, isErr := m["code"]; !isErr {
		return m
	}
	out := map[string]any{"code": m["code"], "message": requestAttrs.ReplaceAllString(fmt.Sprint(m["message"]), "(request: …)")}
	if d, ok := m["details"].([]any); ok && len(d) > 0 {
		d0 := d[0].(map[string]any)
		out["details0"] = fmt.Sprintf("%v|%v|%s", d0["@type"], d0["code"], requestAttrs.ReplaceAllString(fmt.Sprint(d0["message"]), "(request: …)"))
	}
	return out
}

func sameAsRecorded(t *testing.T, got reply, recording string) {
	t.Helper()
	want := kfptest.Get(recording)
	if got.status != want.Status {
		t.Fatalf("status %d, recorded %d; body %s", got.status, want.Status, got.body)
	}
	if g, w := comparable(t, got.body), comparable(t, want.Body); !reflect.DeepEqual(g, w) {
		t.Fatalf("body differs from %q:\n got  %v\n want %v", recording, g, w)
	}
	// The doctor must read both the same way.
	gd := kfp.Classify(&kfp.Reply{StatusCode: got.status, Body: []byte(got.body), Header: http.Header{}}, nil)
	wd := kfp.Classify(&kfp.Reply{StatusCode: want.Status, Body: []byte(want.Body), Header: http.Header{}}, nil)
	if gd.KFD != wd.KFD {
		t.Fatalf("classified %q, recorded reply classifies %q", gd.KFD, wd.KFD)
	}
}

func TestRecordedReplies(t *testing.T) {
	const list = "/apis/v2beta1/experiments?namespace="
	cases := []struct {
		recording string
		method    string
		target    string
		header    []string
	}{
		{"v2 healthz", "GET", "/apis/v2beta1/healthz", nil},
		{"v1 healthz", "GET", "/apis/v1beta1/healthz", nil},
		{"no auth, ns=ns-1", "GET", list + "ns-1", nil},
		{"no auth, no ns", "GET", "/apis/v2beta1/experiments", nil},
		{"bearer aud=pipelines.kubeflow.org, ns=ns-1", "GET", list + "ns-1", []string{"Authorization", "Bearer " + aliceToken}},
		{"bearer aud=pipelines.kubeflow.org, ns=kubeflow", "GET", list + "kubeflow", []string{"Authorization", "Bearer " + aliceToken}},
		{"bearer aud=wrong.example.com, ns=ns-1", "GET", list + "ns-1", []string{"Authorization", "Bearer " + wrongToken}},
		{"kubeflow-userid: user@example.com, ns=ns-1", "GET", list + "ns-1", []string{"kubeflow-userid", "user@example.com"}},
		{"kubeflow-userid: other@example.com, ns=ns-1", "GET", list + "ns-1", []string{"kubeflow-userid", "other@example.com"}},
		{"observed: unknown path", "GET", "/apis/v2beta1/nope", nil},
	}
	for _, c := range cases {
		t.Run(c.recording, func(t *testing.T) {
			s := New(recordedConfig, newFakeKube(nil))
			sameAsRecorded(t, do(t, s, c.method, c.target, "", c.header...), c.recording)
		})
	}
}

func TestSingleUserDefaultExperiment(t *testing.T) {
	s := New(Config{}, nil)
	rec := kfptest.Get("observed: single-user list")
	// Ids and creation times differ by nature; everything else must not.
	strip := func(body string) map[string]any {
		m := comparable(t, body)
		for _, e := range m["experiments"].([]any) {
			delete(e.(map[string]any), "experiment_id")
			delete(e.(map[string]any), "created_at")
		}
		return m
	}
	for _, target := range []string{"/apis/v2beta1/experiments", "/apis/v2beta1/experiments?namespace=ns-1"} {
		got := do(t, s, "GET", target, "")
		if got.status != rec.Status || !reflect.DeepEqual(strip(got.body), strip(rec.Body)) {
			t.Fatalf("%s: %d %s, recorded %d %s", target, got.status, got.body, rec.Status, rec.Body)
		}
	}
	got := do(t, s, "GET", "/apis/v1beta1/healthz", "")
	if got.body != `{"commit_sha":"unknown","tag_name":"unknown","multi_user":false}` {
		t.Fatalf("single-user v1 healthz = %s", got.body)
	}
}

// What KFP sends the kube-apiserver: a TokenReview for its audience only,
// and a SubjectAccessReview with the user and resource attributes only.
func TestReviewRequestsAsKFPSendsThem(t *testing.T) {
	kube := newFakeKube(nil)
	s := New(recordedConfig, kube)
	do(t, s, "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", "Authorization", "Bearer "+aliceToken)
	do(t, s, "POST", "/apis/v2beta1/experiments", `{"display_name":"exp-1","namespace":"ns-1"}`, "kubeflow-userid", "user@example.com")

	wantReview := authnv1.TokenReviewSpec{Token: aliceToken, Audiences: []string{"pipelines.kubeflow.org"}}
	if len(kube.reviews) != 1 || !reflect.DeepEqual(kube.reviews[0], wantReview) {
		t.Fatalf("token reviews = %+v, want one %+v", kube.reviews, wantReview)
	}
	wantSARs := []authzv1.SubjectAccessReviewSpec{
		{User: alice, ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "ns-1", Verb: "list",
			Group: "pipelines.kubeflow.org", Version: "v1beta1", Resource: "experiments"}},
		{User: "user@example.com", ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "ns-1", Verb: "create",
			Group: "pipelines.kubeflow.org", Version: "v1beta1", Resource: "experiments", Name: "exp-1"}},
	}
	if !reflect.DeepEqual(kube.sars, wantSARs) {
		t.Fatalf("subject access reviews =\n %+v\nwant\n %+v", kube.sars, wantSARs)
	}
}

func TestIdentityHeaderWinsOverBearer(t *testing.T) {
	kube := newFakeKube(nil)
	s := New(recordedConfig, kube)
	got := do(t, s, "GET", "/apis/v2beta1/experiments?namespace=ns-1", "",
		"kubeflow-userid", "other@example.com", "Authorization", "Bearer "+aliceToken)
	if got.status != http.StatusForbidden || !strings.Contains(got.body, "User 'other@example.com' is not authorized") {
		t.Fatalf("got %d %s", got.status, got.body)
	}
	if reviews, _ := kube.calls(); reviews != 0 {
		t.Fatalf("%d token reviews: the header identity must be used without one", reviews)
	}
}

func TestEmptyNamespaceBeforeAuthentication(t *testing.T) {
	for _, target := range []string{
		"/apis/v2beta1/experiments", "/apis/v2beta1/experiments?namespace=", "/apis/v2beta1/experiments?namespace=-",
	} {
		kube := newFakeKube(nil)
		s := New(recordedConfig, kube)
		sameAsRecorded(t, do(t, s, "GET", target, "", "Authorization", "Bearer "+aliceToken), "no auth, no ns")
		if r, a := kube.calls(); r+a != 0 {
			t.Fatalf("%s: %d reviews before the namespace check", target, r+a)
		}
	}
	got := do(t, New(recordedConfig, nil), "GET", "/apis/v1beta1/experiments", "")
	want := `{"code":3,"message":"List v1beta1 experiments failed: Failed to authorize with API: Invalid input error: An experiment cannot have an empty namespace in multi-user mode","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":3,"message":"An experiment cannot have an empty namespace in multi-user mode"}]}`
	if got.status != http.StatusBadRequest || got.body != want {
		t.Fatalf("v1 empty namespace: %d %s", got.status, got.body)
	}
}

// Header parsing as KFP reads gRPC metadata: one value, with its prefix.
func TestHeaderAuthenticationFailures(t *testing.T) {
	const prefix = "List experiments failed: Failed to authorize with API: Failed to authorize with API: Unauthenticated: Failed to check authorization. User identity is empty in the request header: "
	const missing = "Unauthenticated: Request header error: there is no user identity header.: Request header error: there is no user identity header."
	cases := []struct {
		name   string
		cfg    func(*Config)
		header []string
		chain  string
	}{
		{"wrong prefix", func(c *Config) { c.UserIDPrefix = "accounts.google.com:" }, []string{"kubeflow-userid", "user@example.com"},
			"[BadRequestError: Header 'kubeflow-userid' is incorrectly formatted. Expected prefix 'accounts.google.com:': Header 'kubeflow-userid' is incorrectly formatted. Expected prefix 'accounts.google.com:', " + missing + "]"},
		{"duplicate identity header", nil, []string{"kubeflow-userid", "a@example.com", "kubeflow-userid", "b@example.com"},
			"[BadRequestError: Request header error: unexpected number of 'kubeflow-userid' headers. Expect 1 got 2: Request header error: unexpected number of 'kubeflow-userid' headers. Expect 1 got 2, " + missing + "]"},
		{"lowercase bearer", nil, []string{"Authorization", "bearer " + aliceToken},
			"[" + missing + ", BadRequestError: Header 'Authorization' is incorrectly formatted. Expected prefix 'Bearer ': Header 'Authorization' is incorrectly formatted. Expected prefix 'Bearer ']"},
		{"not a JWT", nil, []string{"Authorization", "Bearer not-a-jwt"},
			"[" + missing + ", Authentication failure: Unauthenticated: Review.Status.Authenticated is false. Error [invalid bearer token, square/go-jose: compact JWS format must have three parts]: Failed to authenticate token review]"},
		{"default header name ignores kubeflow-userid", func(c *Config) { c.UserIDHeader = "" }, []string{"kubeflow-userid", "user@example.com"}, missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := recordedConfig
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			got := do(t, New(cfg, newFakeKube(nil)), "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", c.header...)
			env, err := kfp.ParseEnvelope([]byte(got.body))
			if err != nil || got.status != http.StatusUnauthorized || env.Code != 16 {
				t.Fatalf("got %d %s", got.status, got.body)
			}
			if env.Message != prefix+c.chain {
				t.Fatalf("message\n got  %s\n want %s", env.Message, prefix+c.chain)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestKubeAPIServerUnreachable(t *testing.T) {
	refused := errors.New(`Post "https://127.0.0.1:1/apis/authentication.k8s.io/v1/tokenreviews": dial tcp 127.0.0.1:1: connect: connection refused`)
	cases := []struct {
		name       string
		fail       error
		header     []string
		status     int
		code       int
		contains   string
		detailsMsg string
	}{
		{"bearer", refused, []string{"Authorization", "Bearer " + aliceToken}, 401, 16,
			"Authentication failure: Unauthenticated: Request header error: Failed to review the token provided: Post", msgEmptyUser},
		{"header", refused, []string{"kubeflow-userid", "user@example.com"}, 500, 13,
			"List experiments failed: Failed to authorize with API: Failed to authorize with API: InternalServerError: Failed to create SubjectAccessReview for user 'user@example.com' (request: ", "Internal Server Error"},
		{"header, review timed out", timeoutErr{}, []string{"kubeflow-userid", "user@example.com"}, 503, 14,
			") - try again later: i/o timeout", "Service unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := do(t, New(recordedConfig, newFakeKube(c.fail)), "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", c.header...)
			env, err := kfp.ParseEnvelope([]byte(got.body))
			if err != nil || got.status != c.status || env.Code != c.code || !strings.Contains(env.Message, c.contains) || env.Short() != c.detailsMsg {
				t.Fatalf("got %d %s", got.status, got.body)
			}
		})
	}
}

func TestCreateAndList(t *testing.T) {
	s := New(recordedConfig, newFakeKube(nil))
	user := []string{"kubeflow-userid", "user@example.com"}
	got := do(t, s, "POST", "/apis/v2beta1/experiments", `{"display_name":"exp-1","description":"d","namespace":"ns-1"}`, user...)
	if got.status != 200 || !strings.Contains(got.body, `"display_name":"exp-1"`) || !strings.Contains(got.body, `"namespace":"ns-1"`) {
		t.Fatalf("create v2: %d %s", got.status, got.body)
	}
	got = do(t, s, "POST", "/apis/v1beta1/experiments",
		`{"name":"exp-2","resource_references":[{"key":{"type":"NAMESPACE","id":"ns-1"},"relationship":"OWNER"}]}`, user...)
	if got.status != 200 || !strings.Contains(got.body, `"storage_state":"STORAGESTATE_AVAILABLE"`) {
		t.Fatalf("create v1: %d %s", got.status, got.body)
	}
	got = do(t, s, "POST", "/apis/v2beta1/experiments", `{"display_name":"exp-1","namespace":"ns-1"}`, user...)
	if got.status != http.StatusConflict {
		t.Fatalf("duplicate name: %d %s", got.status, got.body)
	}
	got = do(t, s, "POST", "/apis/v2beta1/experiments", `{"display_name":"x","namespace":"kubeflow"}`, user...)
	if got.status != http.StatusForbidden || !strings.HasPrefix(comparable(t, got.body)["message"].(string), "Failed to create a experiment: Failed to authorize the request: Failed to authorize with API: PermissionDenied: User 'user@example.com' is not authorized with reason:  (request: …): Unauthorized access") {
		t.Fatalf("create denied: %d %s", got.status, got.body)
	}

	got = do(t, s, "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", user...)
	if totalSize(t, got.body) != 2 || !strings.Contains(got.body, `"display_name":"exp-2"`) || !strings.Contains(got.body, `"last_run_created_at":"1970-01-01T00:00:00Z"`) {
		t.Fatalf("list v2: %s", got.body)
	}
	got = do(t, s, "GET", "/apis/v1beta1/experiments?resource_reference_key.type=NAMESPACE&resource_reference_key.id=ns-1", "", user...)
	var v1 struct {
		Experiments []map[string]any `json:"experiments"`
		TotalSize   int              `json:"total_size"`
	}
	if err := json.Unmarshal([]byte(got.body), &v1); err != nil || v1.TotalSize != 2 {
		t.Fatalf("list v1: %s", got.body)
	}
	// Created in the same second, they come back in id order, as KFP's do.
	for _, e := range v1.Experiments {
		if e["resource_references"] == nil || e["last_run_created_at"] != nil {
			t.Fatalf("list v1 in v1's shape: %s", got.body)
		}
	}
}

func TestSingleUserCreate(t *testing.T) {
	s := New(Config{}, nil)
	cases := []struct {
		path, body string
		status     int
		message    string
	}{
		{"/apis/v2beta1/experiments", `{"display_name":"a"}`, 200, ""},
		// 2.17.0 accepts a namespace in single-user mode and drops it (recorded).
		{"/apis/v2beta1/experiments", `{"display_name":"b","namespace":"ns-1"}`, 200, ""},
		{"/apis/v1beta1/experiments", `{"name":"c","resource_references":[{"key":{"type":"NAMESPACE","id":"ns-1"},"relationship":"OWNER"}]}`, 200, ""},
		{"/apis/v2beta1/experiments", `{}`, 500,
			"[ExperimentServer]: Failed to create a experiment due to conversion error: InternalServerError: Failed to convert API experiment to model experiment: Invalid input error: Experiment must have a non-empty name"},
		// grpc-gateway reads the body with a json.Decoder first.
		{"/apis/v2beta1/experiments", `{`, 400, "unexpected EOF"},
	}
	for _, c := range cases {
		got := do(t, s, "POST", c.path, c.body)
		if got.status != c.status {
			t.Fatalf("%s %s: %d %s", c.path, c.body, got.status, got.body)
		}
		if c.message != "" {
			env, err := kfp.ParseEnvelope([]byte(got.body))
			if err != nil || env.Message != c.message {
				t.Fatalf("%s %s: %s", c.path, c.body, got.body)
			}
			if c.status == 400 && c.body != `{` {
				if d := kfp.Classify(&kfp.Reply{StatusCode: got.status, Body: []byte(got.body), Header: http.Header{}}, nil); d.KFD == "" {
					t.Fatalf("the doctor does not recognise %s", got.body)
				}
			}
		}
	}
	if n := totalSize(t, do(t, s, "GET", "/apis/v2beta1/experiments", "").body); n != 4 {
		t.Fatalf("single-user list after three creates: total_size %d, want Default, a, b and c", n)
	}
}

func TestRouting(t *testing.T) {
	s := New(recordedConfig, nil)
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 404, "404 page not found\n"},
		{"GET", "/apis/v2beta1/experiments/", 404, `{"code":5,"message":"Not Found"}`},
		{"POST", "/apis/v1beta1/healthz", 200, `{"commit_sha":"unknown","tag_name":"unknown","multi_user":true}`},
		{"DELETE", "/apis/v2beta1/experiments", 501, `{"code":12,"message":"Method Not Allowed"}`},
		{"GET", "/apis/v1beta1/experiments?resource_reference_key.type=EXPERIMENT&resource_reference_key.id=e", 400, ""},
	}
	for _, c := range cases {
		got := do(t, s, c.method, c.path, "")
		if got.status != c.status || (c.body != "" && got.body != c.body) {
			t.Fatalf("%s %s: %d %s", c.method, c.path, got.status, got.body)
		}
	}
}

func TestConcurrentCreates(t *testing.T) {
	s := New(recordedConfig, newFakeKube(nil))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(t, s, "POST", "/apis/v2beta1/experiments", fmt.Sprintf(`{"display_name":"e%d","namespace":"ns-1"}`, i), "kubeflow-userid", "user@example.com")
		}()
	}
	wg.Wait()
	if n := totalSize(t, do(t, s, "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", "kubeflow-userid", "user@example.com").body); n != 20 {
		t.Fatalf("total_size %d after 20 concurrent creates", n)
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{"unset: KFP's code defaults", nil, Config{UserIDHeader: DefaultUserIDHeader, UserIDPrefix: DefaultUserIDPrefix,
			TokenReviewAudience: DefaultTokenReviewAudience, Namespace: "kubeflow", TagName: "unknown", CommitSHA: "unknown"}, false},
		{"Kubeflow's manifests", map[string]string{"MULTIUSER": "TRUE", "KUBEFLOW_USERID_HEADER": "kubeflow-userid",
			"KUBEFLOW_USERID_PREFIX": "", "POD_NAMESPACE": "kf"},
			Config{MultiUser: true, UserIDHeader: "kubeflow-userid", UserIDPrefix: "", TokenReviewAudience: DefaultTokenReviewAudience,
				Namespace: "kf", TagName: "unknown", CommitSHA: "unknown"}, false},
		{"explicit false, build info", map[string]string{"MULTIUSER": "False", "TOKEN_REVIEW_AUDIENCE": "aud", "TAG_NAME": "2.17.0", "COMMIT_SHA": "abc"},
			Config{UserIDHeader: DefaultUserIDHeader, UserIDPrefix: DefaultUserIDPrefix, TokenReviewAudience: "aud",
				Namespace: "kubeflow", TagName: "2.17.0", CommitSHA: "abc"}, false},
		{"unparsable", map[string]string{"MULTIUSER": "yes"}, Config{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("got %+v, %v; want %+v (error %t)", got, err, c.want, c.wantErr)
			}
		})
	}
}

// Guards the context plumbing: a cancelled request must not hang on review.
func TestCancelledRequest(t *testing.T) {
	kube := newFakeKube(context.Canceled)
	got := do(t, New(recordedConfig, kube), "GET", "/apis/v2beta1/experiments?namespace=ns-1", "", "kubeflow-userid", "u")
	if got.status != 500 {
		t.Fatalf("got %d %s", got.status, got.body)
	}
}

func totalSize(t *testing.T, body string) int {
	t.Helper()
	var l struct {
		TotalSize int `json:"total_size"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("list body %q: %v", body, err)
	}
	return l.TotalSize
}
