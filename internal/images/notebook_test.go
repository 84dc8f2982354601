package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
)

// The notebook image holds Debian's python3 with every library its ELF
// files need (WriteImage refuses it otherwise), the SDK's dependencies, the
// SDK, the venv with kfp-doctor, and the driver; it is run for real by the
// node suite.
func TestNotebookImage(t *testing.T) {
	py, err := sdkrun.Python()
	if err != nil {
		t.Skip(err)
	}
	sdk, ok := sdkrun.FindFolder()
	if !ok {
		t.Skip(sdkrun.ErrNoSDK)
	}
	dir := t.TempDir()
	// A venv as pywheel.Venv leaves it, the package and binary in place.
	venv := filepath.Join(dir, "venv")
	for _, d := range []string{"bin", "lib/python3.11/site-packages/kfp_doctor"} {
		if err := os.MkdirAll(filepath.Join(venv, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(py, filepath.Join(venv, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"bin/kfp-doctor": "#!/bin/false\n", "lib/python3.11/site-packages/kfp_doctor/__init__.py": "", "pyvenv.cfg": "home = /usr/bin\ninclude-system-site-packages = true\n"} {
		if err := os.WriteFile(filepath.Join(venv, p), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	files, err := NotebookFiles(ctx, NotebookInputs{Python: py, SDK: sdk, Venv: venv, Driver: sdkrun.DriverScript(), Bytecode: filepath.Join(dir, "bytecode")})
	if errors.Is(err, sdkrun.ErrNoSDK) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	img := Image{Refs: []string{NotebookRef}, Files: files}
	have := map[string]File{}
	for _, f := range img.Files {
		have[f.Path] = f
	}
	for _, p := range []string{"/usr/bin/python3", "/opt/venv/bin/kfp-doctor", "/opt/venv/bin/python", NotebookDriver, NotebookSDK + "/kfp/client/client.py",
		"/usr/lib/python3/dist-packages/kubernetes/config/incluster_config.py", "/usr/lib/python3/dist-packages/urllib3/connection.py",
		"/usr/lib/python3.11/json/__init__.py", NotebookHome} {
		if _, ok := have[p]; !ok {
			t.Errorf("the image lacks %s", p)
		}
	}
	// Each module comes with its bytecode, checked against its source's
	// hash (PEP 552: flags 0b11), as the image's dates are all one.
	for _, src := range []string{NotebookSDK + "/kfp/client/client.py", "/usr/lib/python3/dist-packages/kubernetes/client/api_client.py", "/usr/lib/python3.11/json/__init__.py"} {
		dir, base := filepath.Split(src)
		var pyc File
		for p, f := range have {
			if strings.HasPrefix(p, dir+"__pycache__/"+strings.TrimSuffix(base, ".py")+".cpython-") && strings.HasSuffix(p, ".pyc") {
				pyc = f
			}
		}
		if pyc.Source == "" {
			t.Errorf("the image has no bytecode for %s", src)
			continue
		}
		b, err := os.ReadFile(pyc.Source)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 16 || b[4] != 0b11 {
			t.Errorf("%s: not bytecode checked by its source's hash (header % x)", pyc.Path, b[:min(len(b), 16)])
		}
	}
	if _, ok := have["/usr/lib/python3.11/test/__init__.py"]; ok {
		t.Error("the standard library's tests are in the image")
	}
	// What WriteImage refuses an image for, without compressing it (the
	// node suite writes and runs it): every ELF file's loader and libraries.
	entries, err := img.entries()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkELFs(entries); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files, in %s", len(entries), time.Since(start).Round(time.Millisecond))
}
