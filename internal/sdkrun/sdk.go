// Package sdkrun runs the real KFP Python SDK as a path's user would — the
// documented kfp.Client constructor, then list_experiments and, where the
// path checks writes, create_experiment — and records its outcome: success,
// or the exception class, HTTP status and KFP code it raised, and how long it
// took; a run the SDK never ends (it sets no timeout of its own) is stopped at
// a bound and recorded as hung. Compare holds that outcome against the
// doctor's verdict on the same case.
package sdkrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/shared"
)

// SDKVersion is the SDK the project holds the doctor to.
const SDKVersion = "2.17.0"

// Environment variables that point at another SDK or interpreter.
const (
	// EnvSDK is a folder to put on PYTHONPATH holding kfp, kfp_server_api
	// and their modules (default: ../shared/upstream/kfp-sdk-2.17.0).
	EnvSDK = "KFP_CONNECT_SDK"
	// EnvPython is the interpreter (default: Debian's /usr/bin/python3,
	// which sees the SDK's dependencies in dist-packages).
	EnvPython = "KFP_CONNECT_PYTHON"
)

// sdkFolder is the SDK's folder under shared/upstream.
const sdkFolder = "kfp-sdk-" + SDKVersion

// SDK is an importable KFP SDK: the interpreter and what goes on its
// PYTHONPATH ("" when kfp is installed in the interpreter, as after
// `pip install kfp==2.17.0`).
type SDK struct {
	Python     string
	PythonPath string
	Version    string
	// HasDoctor: the kfp-doctor package is importable too, so the driver
	// can run kfp_doctor.diagnose on each client.
	HasDoctor bool
}

// ErrNoSDK is wrapped when no importable SDK is found: suites turn it into a
// skip that names the way to get one.
var ErrNoSDK = errors.New("the KFP SDK is not importable: place it at ../shared/upstream/" + sdkFolder + " (or set " + EnvSDK + "), or `pip install kfp==" + SDKVersion + "` for " + EnvPython)

// Python is the interpreter to run the SDK with: $KFP_CONNECT_PYTHON, else
// /usr/bin/python3 (a python3 earlier on PATH, pyenv's or a venv's, does not
// see Debian's dist-packages), else python3 on PATH.
func Python() (string, error) {
	if p := os.Getenv(EnvPython); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3", nil
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("no python3: install Debian's python3 (make system-deps) or set %s", EnvPython)
	}
	return p, nil
}

// FindFolder is the SDK folder: $KFP_CONNECT_SDK, else the first
// shared/upstream/kfp-sdk-2.17.0 walking up from the working directory.
// ok is false when there is none.
func FindFolder() (string, bool) {
	if dir := os.Getenv(EnvSDK); dir != "" {
		return dir, isSDK(dir)
	}
	up, ok := shared.FindUpstream(func(dir string) bool { return isSDK(filepath.Join(dir, sdkFolder)) })
	if !ok {
		return "", false
	}
	return filepath.Join(up, sdkFolder), true
}

func isSDK(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "kfp", "client", "client.py"))
	return err == nil
}

// Find returns the SDK to run under Python(): see FindFor.
func Find(ctx context.Context) (*SDK, error) {
	py, err := Python()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSDK, err)
	}
	return FindFor(ctx, py)
}

// FindFor returns the SDK python imports: its own kfp when it has one (pip
// install kfp), else the SDK folder's (FindFolder) on its PYTHONPATH. Each
// try imports it (at most 30 s: the first import compiles the SDK's
// modules). The error wraps ErrNoSDK when kfp cannot be imported.
func FindFor(ctx context.Context, python string) (*SDK, error) {
	var tries []*SDK
	tries = append(tries, &SDK{Python: python})
	if dir, ok := FindFolder(); ok {
		tries = append(tries, &SDK{Python: python, PythonPath: dir})
	}
	var why string
	for _, sdk := range tries {
		out, err := sdk.python(ctx, "import kfp, kfp_server_api; print(kfp.__version__)\ntry:\n import kfp_doctor\n print('kfp_doctor')\nexcept ImportError:\n print('')")
		if err != nil {
			why = err.Error()
			continue
		}
		lines := strings.Split(strings.TrimSpace(out)+"\n", "\n")
		sdk.Version, sdk.HasDoctor = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]) == "kfp_doctor"
		return sdk, nil
	}
	return nil, fmt.Errorf("%w (%s: %s)", ErrNoSDK, python, why)
}

// python runs code under the SDK's interpreter and environment.
func (s *SDK) python(ctx context.Context, code string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Python, "-W", "ignore", "-c", code)
	cmd.Env = s.Env(os.Environ())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(lastLine(stderr.String() + " " + err.Error()))
	}
	return out.String(), nil
}

// Env is env with the SDK's folder first on PYTHONPATH.
func (s *SDK) Env(env []string) []string {
	if s.PythonPath == "" {
		return env
	}
	out := make([]string, 0, len(env)+1)
	pp := s.PythonPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok {
			if v != "" {
				pp += string(os.PathListSeparator) + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PYTHONPATH="+pp)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
