package fidelity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/standin/apiserver"
	"github.com/kfp-connect/kfp-connect/internal/standin/ui"
)

// The recorded server's configuration (kfp-recorded-replies.md).
var recordedConfig = apiserver.Config{
	MultiUser: true, UserIDHeader: "kubeflow-userid", UserIDPrefix: "",
	TokenReviewAudience: kfpAudience, Namespace: "kubeflow",
}

// serve starts h on loopback for the current spec.
func serve(h http.Handler) string {
	GinkgoHelper()
	s := httptest.NewServer(h)
	DeferCleanup(s.Close)
	return s.URL
}

// call sends one request with the doctor's own wire client, so the reply
// the specs judge is the one the doctor would classify.
func call(ctx context.Context, base, method, target string, header ...string) (*kfp.Reply, error) {
	u, err := url.Parse(base + target)
	if err != nil {
		return nil, err
	}
	baseURL, err := kfp.ParseHost(base)
	if err != nil {
		return nil, err
	}
	c, err := kfp.NewClient(baseURL, nil, kfp.Options{})
	if err != nil {
		return nil, err
	}
	defer c.CloseIdle()
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return c.Do(ctx, method, u.Path, u.Query(), h)
}

// requestAttrs is the part of a message that renders k8s.io/api's
// ResourceAttributes, which changes with its version: never compared.
var requestAttrs = regexp.MustCompile(`\(request: [^)]*\)`)

// comparable keeps what a stand-in must reproduce: the whole body of a
// success; code, message and details[0] of an error.
func comparable(body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not JSON (%w): %q", err, body)
	}
	if _, isErr := m["code"]; !isErr {
		return m, nil
	}
	norm := func(v any) string { return requestAttrs.ReplaceAllString(fmt.Sprint(v), "(request: …)") }
	out := map[string]any{"code": m["code"], "message": norm(m["message"])}
	if d, ok := m["details"].([]any); ok && len(d) > 0 {
		if d0, ok := d[0].(map[string]any); ok {
			out["details[0]"] = map[string]any{"@type": d0["@type"], "code": d0["code"], "message": norm(d0["message"])}
		}
	}
	return out, nil
}

// matchesRecording checks one reply against a recording: status, parsed
// body, and the doctor's diagnosis of both.
func matchesRecording(g Gomega, got *kfp.Reply, name string, strip ...string) {
	rec := kfptest.Get(name)
	g.Expect(got.StatusCode).To(Equal(rec.Status), "status; body %s", got.Body)
	gotBody, err := comparable(got.Body)
	g.Expect(err).NotTo(HaveOccurred())
	wantBody, err := comparable([]byte(rec.Body))
	g.Expect(err).NotTo(HaveOccurred())
	for _, m := range []map[string]any{gotBody, wantBody} {
		if exps, ok := m["experiments"].([]any); ok {
			for _, e := range exps {
				for _, k := range strip {
					delete(e.(map[string]any), k)
				}
			}
		}
	}
	g.Expect(gotBody).To(Equal(wantBody), "body differs from the recording %q", name)
	want := kfp.Classify(&kfp.Reply{StatusCode: rec.Status, Body: []byte(rec.Body), Header: http.Header{}}, nil)
	g.Expect(kfp.Classify(got, nil).KFD).To(Equal(want.KFD), "the doctor names a different failure than for the recording")
}

var _ = Describe("The API server stand-in in multi-user mode", Label("multi-user"), func() {
	var base string
	BeforeEach(func() { base = serve(apiserver.New(recordedConfig, standinKube)) })

	DescribeTable("answers every recorded request as the real server did",
		func(ctx SpecContext, recording, target string, header func() []string) {
			var h []string
			if header != nil {
				h = header()
			}
			// RBAC and the token authenticator's caches lag writes: poll
			// until the answer settles, fail if it never matches.
			Eventually(ctx, func(g Gomega) {
				got, err := call(ctx, base, http.MethodGet, target, h...)
				g.Expect(err).NotTo(HaveOccurred())
				matchesRecording(g, got, recording)
			}).Should(Succeed())
		},
		Entry(nil, "v2 healthz", "/apis/v2beta1/healthz", nil),
		Entry(nil, "v1 healthz", "/apis/v1beta1/healthz", nil),
		Entry(nil, "no auth, ns=ns-1", "/apis/v2beta1/experiments?namespace=ns-1", nil),
		Entry(nil, "no auth, no ns", "/apis/v2beta1/experiments", nil),
		Entry(nil, "bearer aud=pipelines.kubeflow.org, ns=ns-1", "/apis/v2beta1/experiments?namespace=ns-1",
			func() []string { return []string{"Authorization", "Bearer " + aliceToken} }),
		Entry(nil, "bearer aud=pipelines.kubeflow.org, ns=kubeflow", "/apis/v2beta1/experiments?namespace=kubeflow",
			func() []string { return []string{"Authorization", "Bearer " + aliceToken} }),
		Entry(nil, "bearer aud=wrong.example.com, ns=ns-1", "/apis/v2beta1/experiments?namespace=ns-1",
			func() []string { return []string{"Authorization", "Bearer " + aliceWrongAudience} }),
		Entry(nil, "kubeflow-userid: user@example.com, ns=ns-1", "/apis/v2beta1/experiments?namespace=ns-1",
			func() []string { return []string{"kubeflow-userid", "user@example.com"} }),
		Entry(nil, "kubeflow-userid: other@example.com, ns=ns-1", "/apis/v2beta1/experiments?namespace=ns-1",
			func() []string { return []string{"kubeflow-userid", "other@example.com"} }),
		Entry(nil, "observed: unknown path", "/apis/v2beta1/nope", nil),
	)

	DescribeTable("answers the other observed requests as the real server did",
		func(ctx SpecContext, header func() []string, status int, id kfd.ID, contains ...string) {
			Eventually(ctx, func(g Gomega) {
				got, err := call(ctx, base, http.MethodGet, "/apis/v2beta1/experiments?namespace=ns-1", header()...)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got.StatusCode).To(Equal(status), "body %s", got.Body)
				g.Expect(kfp.Classify(got, nil).KFD).To(Equal(id), "the doctor's diagnosis of %s", got.Body)
				env, err := kfp.ParseEnvelope(got.Body)
				g.Expect(err).NotTo(HaveOccurred())
				for _, c := range contains {
					g.Expect(env.Message).To(ContainSubstring(c))
				}
			}).Should(Succeed())
		},
		Entry("a lowercase bearer is not a bearer", func() []string { return []string{"Authorization", "bearer " + aliceToken} },
			http.StatusUnauthorized, kfd.TokenInvalid, "Header 'Authorization' is incorrectly formatted"),
		Entry("a token that is not a JWT fails review", func() []string { return []string{"Authorization", "Bearer not-a-jwt"} },
			http.StatusUnauthorized, kfd.TokenInvalid, "Review.Status.Authenticated is false", "invalid bearer token"),
		Entry("the identity header wins over a bearer", func() []string {
			return []string{"kubeflow-userid", "other@example.com", "Authorization", "Bearer " + aliceToken}
		}, http.StatusForbidden, kfd.RBACDenied, "User 'other@example.com' is not authorized"),
	)

	It("lists through v1beta1 and refuses a create the Role does not grant", func(ctx SpecContext) {
		user := []string{"kubeflow-userid", "user@example.com"}
		Eventually(ctx, func(g Gomega) {
			got, err := call(ctx, base, http.MethodGet, "/apis/v1beta1/experiments?resource_reference_key.type=NAMESPACE&resource_reference_key.id=ns-1", user...)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.StatusCode).To(Equal(http.StatusOK))
			g.Expect(strings.TrimSpace(string(got.Body))).To(Equal("{}"))
		}).Should(Succeed())

		// The Role grants get/list only: KFP asks for "create" with the name.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/apis/v2beta1/experiments",
			strings.NewReader(`{"display_name":"exp-1","namespace":"ns-1"}`))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("kubeflow-userid", "user@example.com")
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
		var env kfp.Envelope
		Expect(json.NewDecoder(resp.Body).Decode(&env)).To(Succeed())
		Expect(requestAttrs.FindString(env.Message)).To(ContainSubstring("Verb:create"))
		Expect(env.Message).To(HavePrefix("Failed to create a experiment: Failed to authorize the request: Failed to authorize with API: PermissionDenied: User 'user@example.com' is not authorized"))
	})

	It("follows RBAC changes without a restart", func(ctx SpecContext) {
		other := []string{"kubeflow-userid", "other@example.com"}
		status := func(ctx context.Context) (int, error) {
			got, err := call(ctx, base, http.MethodGet, "/apis/v2beta1/experiments?namespace=ns-1", other...)
			if err != nil {
				return 0, err
			}
			return got.StatusCode, nil
		}
		Eventually(ctx, status).Should(Equal(http.StatusForbidden))
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "other-reads", Namespace: "ns-1"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "experiments-reader"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "other@example.com"}},
		}
		_, err := clientset.RbacV1().RoleBindings("ns-1").Create(ctx, rb, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			err := clientset.RbacV1().RoleBindings("ns-1").Delete(ctx, rb.Name, metav1.DeleteOptions{})
			if !apierrors.IsNotFound(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		})
		Eventually(ctx, status).Should(Equal(http.StatusOK))
		Expect(clientset.RbacV1().RoleBindings("ns-1").Delete(ctx, rb.Name, metav1.DeleteOptions{})).To(Succeed())
		Eventually(ctx, status).Should(Equal(http.StatusForbidden))
	})

	It("serves the same replies through the UI server stand-in, under /pipeline too", func(ctx SpecContext) {
		front := serve(ui.New(ui.Config{APIServerURL: base, FrontendTag: "2.17.0"}))
		for _, prefix := range []string{"", "/pipeline"} {
			Eventually(ctx, func(g Gomega) {
				got, err := call(ctx, front, http.MethodGet, prefix+"/apis/v2beta1/experiments?namespace=kubeflow", "Authorization", "Bearer "+aliceToken)
				g.Expect(err).NotTo(HaveOccurred())
				matchesRecording(g, got, "bearer aud=pipelines.kubeflow.org, ns=kubeflow")
			}).Should(Succeed())
		}
		got, err := call(ctx, front, http.MethodGet, "/apis/v1beta1/healthz")
		Expect(err).NotTo(HaveOccurred())
		Expect(got.StatusCode).To(Equal(http.StatusOK))
		Expect(got.Body).To(MatchJSON(`{"buildDate":"","frontendCommitHash":"","frontendTagName":"2.17.0",
			"apiServerCommitHash":"unknown","apiServerTagName":"unknown","apiServerMultiUser":true,"multi_user":true,"apiServerReady":true}`))
	})
})

var _ = Describe("The API server stand-in with the kube-apiserver unreachable", Label("multi-user", "fault"), func() {
	var base string
	BeforeEach(func() {
		// A port that was just closed: nothing listens there.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		cfg := rest.AnonymousClientConfig(admin)
		cfg.Host, cfg.BearerToken, cfg.Timeout = "https://"+addr, "unused", 5*time.Second
		base = serve(apiserver.New(recordedConfig, kubernetes.NewForConfigOrDie(cfg)))
	})

	DescribeTable("fails as the real server did",
		func(ctx SpecContext, header func() []string, status, code int, details string, contains ...string) {
			got, err := call(ctx, base, http.MethodGet, "/apis/v2beta1/experiments?namespace=ns-1", header()...)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.StatusCode).To(Equal(status), "body %s", got.Body)
			env, err := kfp.ParseEnvelope(got.Body)
			Expect(err).NotTo(HaveOccurred())
			Expect(env.Code).To(Equal(code))
			Expect(env.Short()).To(Equal(details))
			for _, c := range contains {
				Expect(env.Message).To(ContainSubstring(c))
			}
			Expect(kfp.Classify(got, nil).KFD).To(Equal(kfd.ReviewUnavailable), "the doctor's diagnosis of %s", got.Body)
		},
		Entry("with a bearer token", func() []string { return []string{"Authorization", "Bearer " + aliceToken} },
			http.StatusUnauthorized, 16, "Failed to check authorization. User identity is empty in the request header",
			"Failed to review the token provided", "connection refused"),
		Entry("with an identity header", func() []string { return []string{"kubeflow-userid", "user@example.com"} },
			http.StatusInternalServerError, 13, "Internal Server Error",
			"Failed to create SubjectAccessReview for user 'user@example.com'", "connection refused"),
	)
})

var _ = Describe("The API server stand-in in single-user mode", Label("standalone"), func() {
	It("ignores the namespace and lists the Default experiment", func(ctx SpecContext) {
		base := serve(apiserver.New(apiserver.Config{Namespace: "kubeflow"}, standinKube))
		for _, target := range []string{"/apis/v2beta1/experiments", "/apis/v2beta1/experiments?namespace=ns-1"} {
			got, err := call(ctx, base, http.MethodGet, target)
			Expect(err).NotTo(HaveOccurred())
			matchesRecording(Default, got, "observed: single-user list", "experiment_id", "created_at")
		}
	})
})
