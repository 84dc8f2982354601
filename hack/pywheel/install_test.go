package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
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
	plat, ok := FindPlatform(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skipf("no wheel for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	py, err := sdkrun.Python()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	run := func(name string, env []string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		t.Logf("%s %s (%.1fs)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Seconds())
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kfp-doctor")
	// Built as `go test` builds the packages (no -trimpath), so the build
	// cache the tests filled serves it; the release's flags are pywheel's.
	gobuild := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", bin, "./cmd/kfp-doctor")
	gobuild.Dir = repo
	start := time.Now()
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("building kfp-doctor: %v\n%s", err, out)
	}
	t.Logf("go build ./cmd/kfp-doctor (%.1fs)", time.Since(start).Seconds())
	w := testWheel(t, plat)
	if w.Binary, err = os.ReadFile(bin); err != nil {
		t.Fatal(err)
	}
	whl := filepath.Join(dir, w.FileName())
	if err := os.WriteFile(whl, build(t, w), 0o644); err != nil {
		t.Fatal(err)
	}

	// The venv sees the system's packages: the SDK's dependencies are
	// Debian's (the SDK's README); the package itself needs none.
	venv := filepath.Join(dir, "venv")
	start = time.Now()
	if out, err := exec.CommandContext(ctx, py, "-m", "venv", "--system-site-packages", venv).CombinedOutput(); err != nil {
		t.Fatalf("%s -m venv: %v\n%s(Debian's python3-venv: make system-deps)", py, err, out)
	}
	t.Logf("python3 -m venv (%.1fs)", time.Since(start).Seconds())
	vpy := filepath.Join(venv, "bin", "python")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "LANG=C.UTF-8"}
	run(vpy, env, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check", "-q", whl)

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
	out := run(vpy, env, "-m", "unittest", "discover", "-v", "-s", tests, "-t", tests)
	t.Log(out)
	m := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Fatal("no Python test ran")
	}
	if sdk != nil && strings.Contains(out, "skipped") {
		t.Fatal("with the SDK at hand no test may skip")
	}
}
