package pywheel

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kfptest"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
)

// multiUserKFP answers as a multi-user KFP 2.17.0 did (the recorded
// replies): healthz, and experiments listed for a bearer token or refused
// without one. delay holds each reply back, honouring the request's end.
func multiUserKFP(t *testing.T, delay time.Duration) string {
	hold := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
			h(w, r)
		}
	}
	list, refuse := kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1"), kfptest.Fixed("no auth, ns=ns-1")
	return kfptest.Server(t, kfptest.Routes{
		kfptest.HealthzV2: hold(kfptest.Fixed("v2 healthz")),
		kfptest.ExperimentsV2: hold(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				list(w, r)
				return
			}
			refuse(w, r)
		}),
	}).URL
}

// The wheel as a user gets it: built offline from a kfp-doctor binary,
// installed into a fresh venv with pip --no-index, and the package's tests
// run by that venv's python — with the real KFP SDK when it is at hand —
// against endpoints that replay a real KFP's replies.
func TestInstalledWheel(t *testing.T) {
	py, err := sdkrun.Python()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, start time.Time) { t.Logf("%s (%.1fs)", what, time.Since(start).Seconds()) }
	start := time.Now()
	whl, err := HostWheel(ctx, repo, dir)
	if err != nil {
		t.Fatal(err)
	}
	step("kfp-doctor built and wrapped in "+filepath.Base(whl), start)
	start = time.Now()
	vpy, err := Venv(ctx, py, filepath.Join(dir, "venv"), whl)
	if err != nil {
		t.Fatal(err)
	}
	step("python3 -m venv; pip install --no-index", start)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "LANG=C.UTF-8"}

	jwt, err := jwttest.Mint(jwttest.Token{Namespace: "ns-1", ServiceAccount: "default-editor", Audience: []string{"pipelines.kubeflow.org"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "KFP_DOCTOR_TEST_HOST="+multiUserKFP(t, 0), "KFP_DOCTOR_TEST_SLOW_HOST="+multiUserKFP(t, time.Second), "KFP_DOCTOR_TEST_JWT="+jwt)
	sdk, err := sdkrun.Find(ctx)
	switch {
	case errors.Is(err, sdkrun.ErrNoSDK):
		t.Logf("the tests that need the KFP SDK skip: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		env = sdk.Env(env)
	}
	tests := filepath.Join(repo, "python", "tests")
	cmd := exec.CommandContext(ctx, vpy, "-m", "unittest", "discover", "-v", "-s", tests, "-t", tests)
	cmd.Dir, cmd.Env = dir, env
	start = time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	step("python -m unittest", start)
	if err != nil {
		t.Fatalf("the package's tests: %v\n%s", err, out)
	}
	t.Log(out)
	m := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Fatal("no Python test ran")
	}
	if sdk != nil && strings.Contains(out, "skipped") {
		t.Fatal("with the SDK at hand no test may skip")
	}
}
