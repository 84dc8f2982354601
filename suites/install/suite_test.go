// Package install_test installs KFP on fresh kwok clusters, from our fixtures
// and from the real upstream kustomizations, and checks what the lab relies
// on: the KFP pods run, the API server's env resolves to the mode, Kubeflow's
// roles aggregate the pipelines rules, and the PodDefault machinery exists.
package install_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	. "github.com/onsi/gomega"
)

func TestInstallSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "KFP install suite")
}

// Reports land in the repository's reports/ directory, JUnit for CI and JSON
// for tools; each spec's report entries carry what the lab could not honour.
var _ = ReportAfterSuite("reports", func(r Report) {
	dir := filepath.Join("..", "..", "reports")
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	Expect(reporters.GenerateJUnitReport(r, filepath.Join(dir, "install-suite.junit.xml"))).To(Succeed())
	Expect(reporters.GenerateJSONReport(r, filepath.Join(dir, "install-suite.json"))).To(Succeed())
})
