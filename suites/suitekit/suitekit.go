// Package suitekit is what every Ginkgo suite here shares: a kwok cluster that
// is always destroyed (on success, failure and interrupt) and fails the suite
// when the pinned binaries are missing, and the reports written to reports/.
package suitekit

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL reads best unqualified
	"github.com/onsi/ginkgo/v2/reporters"
	. "github.com/onsi/gomega" //nolint:revive
	"k8s.io/klog/v2"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
)

// NewKwok prepares a kwok cluster. CI builds the tools first, so a missing
// binary is a broken set-up: it fails, never passes quietly.
func NewKwok() *cluster.Kwok {
	k, err := cluster.NewKwok(cluster.KwokOptions{})
	if errors.Is(err, cluster.ErrToolsMissing) {
		Fail("the kwok cluster cannot start: " + err.Error())
	}
	Expect(err).NotTo(HaveOccurred())
	return k
}

// Kwok creates a kwok cluster for the current node. Its destruction is
// registered before Create, so a failed or interrupted Create is cleaned up
// too; Ginkgo runs it on SIGINT/SIGTERM as well.
func Kwok(ctx SpecContext) *cluster.Kwok {
	k := NewKwok()
	DeferCleanup(func(ctx SpecContext) {
		Expect(k.Destroy(ctx)).To(Succeed())
	}, NodeTimeout(time.Minute))
	Expect(k.Create(ctx)).To(Succeed())
	GinkgoWriter.Printf("kwok cluster %s ready, kubeconfig %s\n", k.Name(), k.KubeconfigPath())
	return k
}

// Reports writes the suite's JUnit (for CI) and JSON (for tools) reports to
// the repository's reports/ directory:
//
//	var _ = ReportAfterSuite("reports", suitekit.Reports("cluster-suite"))
func Reports(name string) func(Report) {
	return func(r Report) {
		dir := filepath.Join("..", "..", "reports")
		Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		Expect(reporters.GenerateJUnitReport(r, filepath.Join(dir, name+".junit.xml"))).To(Succeed())
		Expect(reporters.GenerateJSONReport(r, filepath.Join(dir, name+".json"))).To(Succeed())
	}
}

// QuietClientGo keeps client-go's klog lines (port-forward retries, which
// the specs provoke on purpose) with the spec's output instead of stderr.
func QuietClientGo() {
	klog.LogToStderr(false)
	klog.SetOutput(GinkgoWriter)
}
