// Package python_test holds kfp_doctor, the Python package, to the doctor on
// the lab: the wheel is built offline and installed into a fresh venv with
// pip --no-index, the real KFP SDK (../shared/upstream/kfp-sdk-2.17.0) builds
// each outside path's kfp.Client as that path's user would, and
// kfp_doctor.diagnose(client) must reach the report the doctor reaches with
// the path's flags — with no token, cookie or password in it — while the real
// client's own outcome agrees with the doctor's verdict.
package python_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kfp-connect/kfp-connect/internal/pywheel"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

func TestPython(t *testing.T) {
	RegisterFailHandler(Fail)
	suitekit.QuietClientGo()
	RunSpecs(t, "kfp_doctor in Python")
}

var _ = ReportAfterSuite("reports", suitekit.Reports("python-suite"))

// sdk runs the real SDK under the venv's python, kfp_doctor installed.
var sdk *sdkrun.Driver

var _ = BeforeSuite(func(ctx SpecContext) {
	found, err := sdkrun.Find(ctx)
	if errors.Is(err, sdkrun.ErrNoSDK) {
		Skip(err.Error())
	}
	Expect(err).NotTo(HaveOccurred())
	py, err := sdkrun.Python()
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	whl, err := pywheel.HostWheel(ctx, repo, dir)
	Expect(err).NotTo(HaveOccurred())
	vpy, err := pywheel.Venv(ctx, py, filepath.Join(dir, "venv"), whl)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("%s installed into a fresh venv in %.1fs\n", filepath.Base(whl), time.Since(start).Seconds())
	sdk, err = sdkrun.Start(ctx, vpy, found, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(sdk.Close()).To(Succeed()) })
}, NodeTimeout(8*time.Minute))

// bounded is ctx with a deadline for one step of a spec.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
