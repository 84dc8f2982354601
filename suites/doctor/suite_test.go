// Package doctor_test runs kfp-doctor against real kwok clusters with KFP
// installed and the lab's stand-ins serving its pods, given nothing but a
// kubeconfig (no --host): the doctor must find the install, reach it on its
// own port-forward (or, acting as a pod, by the Service's name) and name the
// broken link with the right catalogue id — from the cluster's own answers,
// before the KFP call confirms them.
package doctor_test

import (
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDoctorSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	// client-go logs each failed port-forward attempt through klog; the
	// specs retry those on purpose, so keep the noise with the spec.
	suitekit.QuietClientGo()
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "kfp-doctor on a cluster")
}

var _ = ReportAfterSuite("reports", suitekit.Reports("doctor-suite"))
