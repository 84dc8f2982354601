// Package install_test installs KFP on fresh kwok clusters, from our fixtures
// and from the real upstream kustomizations, and checks what the lab relies
// on: the KFP pods run, the API server's env resolves to the mode, Kubeflow's
// roles aggregate the pipelines rules, and the PodDefault machinery exists.
package install_test

import (
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestInstallSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "KFP install suite")
}

var _ = ReportAfterSuite("reports", suitekit.Reports("install-suite"))
