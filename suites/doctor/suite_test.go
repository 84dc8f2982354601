// Package doctor_test runs kfp-doctor against real kwok clusters with KFP
// installed and the lab's stand-ins serving its pods, given nothing but a
// kubeconfig (no --host): the doctor must find the install, reach it on its
// own port-forward (or, acting as a pod, by the Service's name) and name the
// broken link with the right catalogue id — from the cluster's own answers,
// before the KFP call confirms them.
package doctor_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	. "github.com/onsi/gomega"
	"k8s.io/klog/v2"
)

func TestDoctorSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	// client-go logs each failed port-forward attempt through klog; the
	// specs retry those on purpose, so keep the noise with the spec.
	klog.LogToStderr(false)
	klog.SetOutput(GinkgoWriter)
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "kfp-doctor on a cluster")
}

// Reports land in the repository's reports/ directory, JUnit for CI and JSON
// for tools.
var _ = ReportAfterSuite("reports", func(r Report) {
	dir := filepath.Join("..", "..", "reports")
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	Expect(reporters.GenerateJUnitReport(r, filepath.Join(dir, "doctor-suite.junit.xml"))).To(Succeed())
	Expect(reporters.GenerateJSONReport(r, filepath.Join(dir, "doctor-suite.json"))).To(Succeed())
})
