// Package client makes a case's kfp.Client call real and runs the doctor as
// that client. A scenarios.Client — the path as declared, changed by the
// case's client fault — is made real by one of three kinds of client, each
// of which makes every field of it real:
//
//   - in a pod where pods really run (node, kind, a real cluster): a Pod of
//     the doctor's image with the path's namespace, ServiceAccount, labels,
//     env and volumes, its report read from its log (pod.go);
//   - in a pod on kwok, whose pods never run: a local process with the
//     pod's identity, its token files minted bound to it, its env and its
//     view of cluster DNS (local.go);
//   - outside the cluster: a port-forward and a minted token, a login
//     through the gateway, or the kube-apiserver's service proxy
//     (outside.go).
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Step records what building the client did, for the case's log.
type Step func(format string, args ...any)

// doctorTimeout is the doctor's own --timeout in every case.
const doctorTimeout = 10 * time.Second

// Result is what a case's client did: the doctor's report and, where the
// real SDK ran as the same client, its outcome.
type Result struct {
	Report *report.Report
	// SDK is the real kfp.Client's outcome; nil when it did not run, and
	// SDKNotRun then says why (empty when no SDK was given).
	SDK       *sdkrun.Outcome
	SDKNotRun string
}

// Run makes c real on the cluster of e and returns the doctor's report as
// that client. workdir holds the client's files (tokens, kubeconfigs).
// With sdk, the real kfp.Client also runs as the same client: outside the
// cluster as the path's user builds it, in an emulated pod as that pod, and
// where pods really run in a Pod of the notebook image (e.NotebookImage).
// kfp.Client() through the service proxy is given the same kubeconfig. It
// does not run where the doctor logs in itself; SDKNotRun then says why.
func Run(ctx context.Context, e *env.Env, c scenarios.Client, workdir string, step Step, sdk *sdkrun.Driver) (*Result, error) {
	switch {
	case c.InPod() && e.RealPods:
		return inPod(ctx, e, c, workdir, step, sdk)
	case c.InPod():
		return asPod(ctx, e, c, workdir, step, sdk)
	case c.ServiceProxy:
		return viaServiceProxy(ctx, e, c, workdir, step, sdk)
	default:
		return fromOutside(ctx, e, c, workdir, step, sdk)
	}
}

// runWithSDK runs the doctor's call and, with sdk, the real kfp.Client of
// the case sdkCase builds (its done ends what the case needed) beside it,
// as a user's notebook and the doctor would run; the step says where the
// SDK ran.
func runWithSDK(ctx context.Context, call *doctorCall, sdk *sdkrun.Driver, step Step, where string, sdkCase func() (sdkrun.Case, func(), error)) (*Result, error) {
	if sdk == nil {
		rep, err := call.run(ctx)
		if err != nil {
			return nil, err
		}
		return &Result{Report: rep}, nil
	}
	sc, done, err := sdkCase()
	if err != nil {
		return nil, err
	}
	defer done()
	var out *sdkrun.Outcome
	var sdkErr error
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		out, sdkErr = sdk.Run(ctx, forTheMatrix(sc))
	}()
	rep, err := call.run(ctx)
	<-ran
	if err != nil {
		return nil, err
	}
	if sdkErr != nil {
		return nil, fmt.Errorf("running the real kfp.Client: %w", sdkErr)
	}
	step("the real kfp.Client %s: %s", where, out)
	return &Result{Report: rep, SDK: out}, nil
}

// The matrix wants the SDK's verdict, not its waits: its own retry sleeps
// (the healthz loop's five attempts five seconds apart) shortened, and a
// stage called hung after sdkBound — longer than the slowest answer a
// matrix's server gives (Istio's gateway: up to 5 s fetching JWKS before
// its 401) — where DefaultBound has to outlast the unshortened loop.
const (
	sdkRetrySleep = 100 * time.Millisecond
	sdkBound      = 15 * time.Second
)

func forTheMatrix(sc sdkrun.Case) sdkrun.Case {
	sc.RetrySleep, sc.Bound = sdkRetrySleep, sdkBound
	return sc
}

// sdkCredentials is the credentials= an in-pod path passes to kfp.Client:
// none, ServiceAccountTokenVolumeCredentials(path=path) when the path names
// a token file (path as that client's files hold it), else its default.
func sdkCredentials(t scenarios.Token, path string) *sdkrun.Credentials {
	switch {
	case t.Kind == scenarios.NoToken:
		return nil
	case t.Path != "":
		return &sdkrun.Credentials{Path: path}
	}
	return &sdkrun.Credentials{}
}

// doctorCall is one doctor run in this process: the user's configuration
// and the seams that make the doctor act as the path's client (a pod's
// files, its environment, its view of cluster DNS).
type doctorCall struct {
	doctor.Config
	doctor.Seams
}

func newCall(c scenarios.Client) *doctorCall {
	return &doctorCall{Config: doctor.Config{Namespace: c.Namespace, Timeout: doctorTimeout}, Seams: doctor.Seams{Getenv: func(string) string { return "" }}}
}

func (d *doctorCall) run(ctx context.Context) (*report.Report, error) {
	var red redact.Redactor
	rep, err := doctor.Run(ctx, d.Config, d.Seams, &red)
	if err != nil {
		return nil, fmt.Errorf("running the doctor: %w", err)
	}
	return rep, nil
}

// contextJSON is ~/.config/kfp/context.json holding keys.
func contextJSON(keys map[string]string) string {
	b, _ := json.Marshal(keys) // a map of strings always marshals
	return string(b)
}

// writeFiles writes name → content into dir, as a volume mount would.
func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// withPort is host with its port replaced.
func withPort(host string, port int) string {
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	u.Host = net.JoinHostPort(u.Hostname(), fmt.Sprint(port))
	return u.String()
}

// audiences is a TokenRequest's audiences: none for "", which makes the
// apiserver use its own, as `kubectl create token` without --audience does.
func audiences(audience string) []string {
	if audience == "" {
		return nil
	}
	return []string{audience}
}

// mint is `kubectl create token`.
func mint(ctx context.Context, cs kubernetes.Interface, ns, sa, audience string) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences(audience)}}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting a token for %s/%s: %w", ns, sa, err)
	}
	return tr.Status.Token, nil
}

// mintBound is the token the kubelet writes for a pod's projected volume.
func mintBound(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, audience string, expiry *int64) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: expiry,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("minting the pod's token: %w", err)
	}
	return tr.Status.Token, nil
}

const poll = 100 * time.Millisecond

func waitPodRunning(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
}

func waitPodGone(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// waitTokenRefused waits until TokenReview refuses the token: the apiserver
// learns of a bound pod's deletion through a cache.
func waitTokenRefused(ctx context.Context, cs kubernetes.Interface, token, audience string) error {
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		tr, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}, metav1.CreateOptions{})
		return err == nil && !tr.Status.Authenticated, nil
	})
}

// later is a clean-up that runs even when the case's context has ended,
// bounded, ignoring what is already gone.
func later(del func(context.Context) error) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = del(ctx)
	}
}
