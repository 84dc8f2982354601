package pywheel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// HostWheel builds kfp-doctor for this machine in the module that holds
// moduleDir and writes its wheel into dir. The binary is built as `go test`
// builds packages (no -trimpath), so a warm build cache serves it; the
// release's flags are hack/pywheel's. It returns the wheel's path.
func HostWheel(ctx context.Context, moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "kfp-doctor")
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", bin, "github.com/kfp-connect/kfp-connect/cmd/kfp-doctor")
	build.Dir = moduleDir
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kfp-doctor: %w\n%s", err, out)
	}
	whl, err := WheelOf(bin, dir)
	if err != nil {
		return "", err
	}
	return whl, os.Remove(bin)
}

// WheelOf writes the wheel of a kfp-doctor binary for this machine into dir
// and returns its path.
func WheelOf(bin, dir string) (string, error) {
	plat, ok := FindPlatform(runtime.GOOS, runtime.GOARCH)
	if !ok {
		return "", fmt.Errorf("no kfp-doctor wheel for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	pkg, readme, lic, err := Package()
	if err != nil {
		return "", err
	}
	w := &Wheel{Version: "0.0.0+test", Platform: plat, Package: pkg, README: readme, License: lic, Time: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
	if w.Binary, err = os.ReadFile(bin); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := w.Write(&b); err != nil {
		return "", err
	}
	whl := filepath.Join(dir, w.FileName())
	return whl, os.WriteFile(whl, b.Bytes(), 0o644)
}

// Venv makes a fresh venv at dir with python's venv module and installs the
// wheel into it with pip, offline (--no-index), as a user would. The venv
// sees the system's packages (--system-site-packages): the KFP SDK's
// dependencies are Debian's; the wheel needs none. Its pip is the system's
// too (Debian's python3-pip, run by the venv's python, so it installs into
// the venv): a venv that bootstraps a pip of its own took 3.2 s of the
// notebook image's build, one without 0.05 s. It returns the venv's python.
func Venv(ctx context.Context, python, dir, wheel string) (string, error) {
	if out, err := exec.CommandContext(ctx, python, "-m", "venv", "--without-pip", "--system-site-packages", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s -m venv: %w\n%s(Debian's python3-venv: make system-deps)", python, err, out)
	}
	vpy := filepath.Join(dir, "bin", "python")
	pip := exec.CommandContext(ctx, vpy, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check", "-q", wheel)
	pip.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8"}
	if out, err := pip.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pip install --no-index %s: %w\n%s", filepath.Base(wheel), err, out)
	}
	return vpy, nil
}
