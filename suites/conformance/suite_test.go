// Package conformance_test is the Ginkgo face of the one conformance runner
// (internal/conformance), the same one `kfp-connect conformance` runs: the
// same plan, the same drivers and set-up (internal/conformance/drivers), the
// same reports. It adds what Ginkgo gives — each case a spec with labels, so
// filters, focus and Ginkgo's JUnit and JSON work — and nothing of its own.
// PROVIDER picks the driver: kwok (default), node (a real kubelet,
// containerd and runc, root), kind (Docker) or existing (KUBECONFIG and
// KUBECONTEXT; non-destructive unless KFP_CONNECT_EXISTING_DISPOSABLE=1).
//
//	go test ./suites/conformance -ginkgo.label-filter='multi-user && fault'
//	KFP_CONNECT_DROP=RoleBinding/namespace-1/allow-namespace-2-kubeflow-edit go test ./suites/conformance
package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/internal/conformance/drivers"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	suitekit.QuietClientGo()
	RunSpecs(t, "kfp-connect conformance")
}

// provider is PROVIDER, kwok by default.
func provider() string {
	if p := os.Getenv("PROVIDER"); p != "" {
		return p
	}
	return "kwok"
}

// reportName is one report per provider: make test runs kwok's and node's
// one after the other.
func reportName() string {
	if p := provider(); p != "kwok" {
		return "conformance-" + p
	}
	return "conformance"
}

// Ginkgo's reports, as every suite writes them, and the runner's own (the
// command's JUnit, JSON and HTML page) beside them.
var _ = ReportAfterSuite("reports", suitekit.Reports(reportName()))

// dropped reads KFP_CONNECT_DROP ("Kind/namespace/name,…"): fixtures left out
// on purpose, to show the case that depends on each turning red.
func dropped() func(*unstructured.Unstructured) bool {
	spec := os.Getenv("KFP_CONNECT_DROP")
	if spec == "" {
		return nil
	}
	set := map[string]bool{}
	for _, s := range strings.Split(spec, ",") {
		set[strings.TrimSpace(s)] = true
	}
	return func(o *unstructured.Unstructured) bool {
		return set[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()]
	}
}

func labelsOf(sc *scenarios.Scenario, c scenarios.Case) Labels {
	l := Labels{string(sc.Mode), string(sc.Location)}
	if c.Fault != "" {
		l = append(l, "fault")
	}
	return l
}

// The run: its target and plan are made when the tree is built, so every
// case is a spec; the target's clusters only when a scenario's specs run.
var (
	runner  *conformance.Runner
	setup   error  // why the target could not be made (a spec fails with it)
	skipAll string // why nothing can run on this machine (every spec skips)
)

func newRun() []plan.Scenario {
	target, info, err := drivers.New(context.Background(), drivers.Options{
		Provider: provider(), Kubeconfig: os.Getenv("KUBECONFIG"), Context: os.Getenv("KUBECONTEXT"),
		Drop: dropped(), ModuleDir: filepath.Join("..", ".."),
		// The SDK runs wherever it is importable (BeforeSuite), in pods too.
		Notebook: sdkAtHand(),
		Log:      slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if suite, _ := GinkgoConfiguration(); suite.ParallelTotal > 1 && provider() == "existing" {
		// Its cases change one shared install one at a time.
		err = errors.Join(err, fmt.Errorf("the existing cluster is one install the cases change in turn: run it in one process (ginkgo --procs=1), not %d", suite.ParallelTotal))
	}
	if errors.Is(err, drivers.ErrNoDocker) {
		skipAll = "skipped: " + err.Error()
	} else if err != nil {
		setup = err
	}
	// The suite's clusters are its own: every case runs, the ones that
	// change the install too — but an existing cluster only when it is
	// declared disposable.
	disruptive := info.Disposable || os.Getenv("KFP_CONNECT_EXISTING_DISPOSABLE") == "1"
	plans, err := plan.Make(all.Scenarios(), plan.Selection{}, plan.Options{Disruptive: disruptive, PodNetwork: info.PodNetwork})
	if err != nil {
		setup = errors.Join(setup, err)
	}
	if target != nil {
		runner = &conformance.Runner{Target: target, Plans: plans, Owner: env.NewOwner(), Disruptive: disruptive,
			Progress: func(ev conformance.Event) { GinkgoWriter.Println(conformance.ProgressLine(ev)) }}
	}
	return plans
}

// sdkAtHand says whether the SDK's folder is here, as sdkrun.Find and the
// notebook image look for it.
func sdkAtHand() bool {
	_, ok := sdkrun.FindFolder()
	return ok
}

// shared is what process 1 makes for every process of a parallel run
// (ginkgo -p; one process under go test): the image archives, built once
// before any cluster, and where each process leaves its part of the results.
type shared struct {
	Images *drivers.Images `json:"images,omitempty"`
	Parts  string          `json:"parts"`
}

// imageBuilder is a target whose clusters load image archives (node, kind).
type imageBuilder interface {
	BuildImages(context.Context) (*drivers.Images, error)
	UseImages(*drivers.Images)
}

var run shared

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	var s shared
	if runner == nil {
		return nil
	}
	var err error
	if b, ok := runner.Target.(imageBuilder); ok {
		s.Images, err = b.BuildImages(ctx)
		Expect(err).NotTo(HaveOccurred())
	}
	s.Parts, err = os.MkdirTemp("", "kfp-connect-conformance-parts-")
	Expect(err).NotTo(HaveOccurred())
	data, err := json.Marshal(s)
	Expect(err).NotTo(HaveOccurred())
	return data
}, func(ctx SpecContext, data []byte) {
	if runner == nil {
		return
	}
	Expect(json.Unmarshal(data, &run)).To(Succeed())
	if b, ok := runner.Target.(imageBuilder); ok {
		b.UseImages(run.Images)
	}
	if run.Images != nil && GinkgoParallelProcess() == 1 {
		AddReportEntry(run.Images.Built)
	}
	Expect(runner.Start()).To(Succeed())
	// The real kfp.Client beside the doctor in every case where it applies,
	// wherever the SDK is importable (here ../shared/upstream's).
	found, err := sdkrun.Find(ctx)
	if errors.Is(err, sdkrun.ErrNoSDK) {
		AddReportEntry("the real SDK does not run: " + err.Error())
		return
	}
	Expect(err).NotTo(HaveOccurred())
	runner.SDK, err = sdkrun.Start(ctx, found.Python, found, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(runner.SDK.Close()).To(Succeed()) })
}, NodeTimeout(15*time.Minute))

// Each process cleans up its own clusters and leaves its part of the
// results; process 1, once all are done, writes the run's reports from the
// parts and removes what it made for all.
var _ = SynchronizedAfterSuite(func(ctx SpecContext) {
	if runner == nil || runner.Results() == nil {
		return
	}
	err := runner.Close(ctx)
	part, merr := json.Marshal(runner.Results())
	Expect(merr).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(run.Parts, fmt.Sprintf("%d.json", GinkgoParallelProcess())), part, 0o600)).To(Succeed())
	Expect(err).NotTo(HaveOccurred(), "the run's clean-up")
}, func(ctx SpecContext) {
	if run.Parts == "" {
		return
	}
	defer os.RemoveAll(run.Parts)
	if run.Images != nil {
		defer os.RemoveAll(run.Images.Dir)
	}
	files, err := filepath.Glob(filepath.Join(run.Parts, "*.json"))
	Expect(err).NotTo(HaveOccurred())
	var parts []*results.Results
	for _, f := range files {
		b, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		var p results.Results
		Expect(json.Unmarshal(b, &p)).To(Succeed(), f)
		parts = append(parts, &p)
	}
	var order []string
	for _, sp := range runner.Plans {
		order = append(order, sp.Scenario.Name)
	}
	Expect(results.WriteReports(filepath.Join("..", "..", "reports", reportName()), results.Merge(order, parts...))).To(Succeed())
}, NodeTimeout(3*time.Minute))

var _ = Describe("scenarios", func() {
	matrix := newRun()
	if setup != nil {
		It("has a target", func() { Expect(setup).NotTo(HaveOccurred()) })
		return
	}
	for _, sp := range matrix {
		sc := sp.Scenario
		// Scenarios share nothing (a cluster each), so parallel processes
		// take one each, the one with most cases first.
		Describe(sc.Name, Ordered, ContinueOnFailure, SpecPriority(len(sp.Cases)), Label(string(sc.Mode), string(sc.Location)), func() {
			var prep conformance.Prepared
			BeforeAll(func(ctx SpecContext) {
				if skipAll != "" {
					Skip(skipAll)
				}
				var err error
				prep, err = runner.Prepare(ctx, sp)
				if errors.Is(err, node.ErrUnsupported) {
					Skip(err.Error())
				}
				DeferCleanup(func(ctx SpecContext) { Expect(runner.Teardown(ctx, sp, prep)).To(Succeed()) }, NodeTimeout(2*time.Minute))
				Expect(err).NotTo(HaveOccurred())
				for _, n := range prep.Notes {
					AddReportEntry(n)
				}
			}, NodeTimeout(10*time.Minute))

			for _, pc := range sp.Cases {
				c := pc.Case
				name := fmt.Sprintf("%s → %s", c.Name(), c.Expect)
				if c.Pending != "" {
					It(name+" (pending: "+c.Pending+")", labelsOf(sc, c), Pending, func() {})
					continue
				}
				It(name, labelsOf(sc, c), func(ctx SpecContext) {
					cr := runner.Case(ctx, prep, pc)
					for _, s := range cr.Steps {
						GinkgoWriter.Println("•", s)
					}
					GinkgoWriter.Print(cr.Doctor)
					if cr.SDK != "" {
						GinkgoWriter.Println("real kfp.Client:", cr.SDK)
					}
					switch cr.Status {
					case results.Skipped:
						Skip(cr.Reason)
					case results.Failed:
						Fail(cr.Reason)
					}
				}, NodeTimeout(4*time.Minute))
			}
		})
	}
})
