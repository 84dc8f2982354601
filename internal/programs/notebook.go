package programs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/pywheel"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
)

// A notebook, as a data scientist's image holds one: Debian's python3 with
// the packages the real KFP SDK imports, the SDK (../shared/upstream), and
// the kfp-doctor wheel installed with pip into a venv — made here, offline,
// from this module's kfp-doctor. Its pods run the SDK's driver
// (internal/sdkrun) with one case each, beside the doctor's pods
// (internal/conformance/client). Nothing in a manifest names it.
func init() {
	repo, tag, _ := strings.Cut(images.NotebookRef, ":")
	register(Program{
		Name:  "notebook",
		Repos: []string{repo},
		Tags:  []string{tag},
		Config: static(Config{
			Entrypoint: []string{images.NotebookVenv + "/bin/python"},
			Env: []string{"PATH=" + images.NotebookVenv + "/bin:/usr/local/bin:/usr/bin:/bin",
				"PYTHONPATH=" + images.NotebookSDK, "HOME=" + images.NotebookHome, "LANG=C.UTF-8"},
			User:       fmt.Sprint(images.NotebookUID),
			WorkingDir: images.NotebookHome,
		}),
		Binary:   images.NotebookVenv + "/bin/python",
		Contents: notebookContents,
	})
}

func notebookContents(ctx context.Context, src Sources) (Contents, error) {
	py, err := sdkrun.Python()
	if err != nil {
		return Contents{}, err
	}
	sdk, ok := sdkrun.FindFolder()
	if !ok {
		return Contents{}, fmt.Errorf("the notebook image: %w", sdkrun.ErrNoSDK)
	}
	doctor, err := src.Go(ctx, DoctorPackage)
	if err != nil {
		return Contents{}, err
	}
	dir := filepath.Join(filepath.Dir(doctor), "notebook")
	if err := os.RemoveAll(dir); err != nil {
		return Contents{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Contents{}, err
	}
	whl, err := pywheel.WheelOf(doctor, dir)
	if err != nil {
		return Contents{}, err
	}
	venv, err := pywheel.Venv(ctx, py, filepath.Join(dir, "venv"), whl)
	if err != nil {
		return Contents{}, err
	}
	files, err := images.NotebookFiles(ctx, images.NotebookInputs{Python: py, SDK: sdk, Venv: filepath.Dir(filepath.Dir(venv)), Driver: sdkrun.DriverScript(), Bytecode: filepath.Join(dir, "bytecode")})
	if err != nil {
		return Contents{}, err
	}
	return Contents{Files: files, Labels: map[string]string{"org.opencontainers.image.version": "kfp 2.17.0, Debian python3"}}, nil
}
