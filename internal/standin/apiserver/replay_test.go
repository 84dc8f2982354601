package apiserver

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The second recordings' callers (kfp-recorded-replies-2.md): a token of
// kubeflow-user-example-com/default-editor, bound to kubeflow-edit there;
// user@example.com bound to kubeflow-edit there and in namespace-1.
const (
	editorToken = "default-editor-token"
	editor      = "system:serviceaccount:kubeflow-user-example-com:default-editor"
)

var recorded2Config = Config{
	MultiUser: true, UserIDHeader: "kubeflow-userid", UserIDPrefix: "", Namespace: "kubeflow",
}

// recorded2Kube decides as the second recordings' cluster did. The fidelity
// suite replays the same exchanges against a real kube-apiserver.
func recorded2Kube() *fake.Clientset {
	kube := fake.NewClientset()
	kube.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		if tr.Spec.Token == editorToken {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: authnv1.UserInfo{Username: editor}}
		} else {
			tr.Status = authnv1.TokenReviewStatus{Error: "[invalid bearer token, square/go-jose: compact JWS format must have three parts]"}
		}
		return true, tr, nil
	})
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		ns := sar.Spec.ResourceAttributes.Namespace
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Group == kfpauthz.Group &&
			(sar.Spec.User == editor && ns == "kubeflow-user-example-com" ||
				sar.Spec.User == "user@example.com" && slices.Contains([]string{"kubeflow-user-example-com", "namespace-1"}, ns))
		return true, sar, nil
	})
	return kube
}

// The real server's run create reaches Argo through the kube-apiserver; a
// fake clientset has no REST client for that, so only the fidelity suite
// replays these.
var needsCluster = map[string]string{
	"4/run create (pipe-b version, exp-a)": "the Workflow create needs a real kube-apiserver (suites/fidelity)",
	"6/run create after granting kubeflow/ml-pipeline argoproj.io workflows (the Workflow CRD is not installed)": "needs a cluster whose RBAC changes (suites/fidelity)",
}

func TestReplayRecordings2(t *testing.T) {
	kube := recorded2Kube()
	rp := kfptest.Replay{
		Bearer: editorToken,
		Skip:   needsCluster,
		Start: func(multi bool, now func() time.Time, newID func() string) string {
			cfg := Config{Namespace: "kubeflow"}
			if multi {
				cfg = recorded2Config
			}
			srv := httptest.NewServer(New(cfg, kube, WithClock(now), WithIDs(newID)))
			t.Cleanup(srv.Close)
			return srv.URL
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outcomes := rp.Run(ctx)
	if len(outcomes) < 150 {
		t.Fatalf("only %d exchanges parsed from the recordings", len(outcomes))
	}
	for _, o := range outcomes {
		t.Run(o.Key(), func(t *testing.T) {
			if o.Skipped != "" {
				t.Skip(o.Skipped)
			}
			if o.Err != nil {
				t.Errorf("%s %s: %v", o.Method, o.Target, o.Err)
			}
		})
	}
}
