// Package suitekit is what every Ginkgo suite here shares: a kwok cluster that
// is always destroyed (on success, failure and interrupt) and fails the suite
// when the pinned binaries are missing, and the reports written to reports/.
package suitekit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/klog/v2"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
)

// NewKwok prepares a kwok cluster. CI builds the tools first, so a missing
// binary is a broken set-up: it fails, never passes quietly.
func NewKwok() *kwok.Kwok {
	k, err := kwok.New(kwok.Options{})
	if errors.Is(err, cluster.ErrToolsMissing) {
		ginkgo.Fail("the kwok cluster cannot start: " + err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return k
}

// Kwok creates a kwok cluster for the current node. Its destruction is
// registered before Create, so a failed or interrupted Create is cleaned up
// too; Ginkgo runs it on SIGINT/SIGTERM as well.
func Kwok(ctx ginkgo.SpecContext) *kwok.Kwok {
	k := NewKwok()
	ginkgo.DeferCleanup(func(ctx ginkgo.SpecContext) {
		gomega.Expect(k.Destroy(ctx)).To(gomega.Succeed())
	}, ginkgo.NodeTimeout(time.Minute))
	gomega.Expect(k.Create(ctx)).To(gomega.Succeed())
	ginkgo.GinkgoWriter.Printf("kwok cluster %s ready, kubeconfig %s\n", k.Name(), k.KubeconfigPath())
	return k
}

// Reports writes the suite's JUnit (for CI) and JSON (for tools) reports to
// the repository's reports/ directory:
//
//	var _ = ReportAfterSuite("reports", suitekit.Reports("cluster-suite"))
func Reports(name string) func(ginkgo.Report) {
	return func(r ginkgo.Report) {
		dir := filepath.Join("..", "..", "reports")
		gomega.Expect(os.MkdirAll(dir, 0o755)).To(gomega.Succeed())
		gomega.Expect(reporters.GenerateJUnitReport(r, filepath.Join(dir, name+".junit.xml"))).To(gomega.Succeed())
		gomega.Expect(reporters.GenerateJSONReport(r, filepath.Join(dir, name+".json"))).To(gomega.Succeed())
	}
}

// QuietClientGo keeps client-go's klog lines (port-forward retries, which
// the specs provoke on purpose) with the spec's output instead of stderr.
func QuietClientGo() {
	klog.LogToStderr(false)
	klog.SetOutput(ginkgo.GinkgoWriter)
}

// Grants reports whether rules allow verb on group/resource, wildcards
// included: what the suites check of aggregated ClusterRoles.
func Grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	has := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	for _, r := range rules {
		if has(r.APIGroups, group) && has(r.Resources, resource) && has(r.Verbs, verb) {
			return true
		}
	}
	return false
}
