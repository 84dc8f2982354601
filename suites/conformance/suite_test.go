// Package conformance_test runs the four scenarios — every documented path,
// every fault — on a cluster from PROVIDER (kwok by default; node, a real
// kubelet and containerd; kind; existing),
// and checks each against what its scenario declares: success, or the KFD id
// the doctor must name. Each case is its own spec and JUnit test case.
//
//	go test ./suites/conformance -ginkgo.label-filter='multi-user && fault'
//	KFP_CONNECT_DROP=RoleBinding/namespace-1/allow-namespace-2-kubeflow-edit go test ./suites/conformance
package conformance_test

import (
	"context"
	"fmt"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/existing"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kind"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/scenarios"
	"github.com/kfp-connect/kfp-connect/scenarios/all"
)

func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	suitekit.QuietClientGo()
	RunSpecs(t, "kfp-connect conformance")
}

// One report per provider: make test runs kwok's and node's one after the other.
var _ = ReportAfterSuite("reports", suitekit.Reports(reportName()))

func reportName() string {
	if p := os.Getenv("PROVIDER"); p != "" && p != "kwok" {
		return "conformance-" + p
	}
	return "conformance"
}

// provider returns the cluster for one scenario, or a reason to skip.
func provider(sc *scenarios.Scenario) (cluster.Provider, string) {
	switch p := os.Getenv("PROVIDER"); p {
	case "", "kwok":
		return suitekit.NewKwok(), ""
	case "node":
		ctx := context.Background()
		b := suitekit.NodeImages(GinkgoT().TempDir())
		base, err := b.Node(ctx, true)
		Expect(err).NotTo(HaveOccurred())
		more, err := b.Catalog(ctx, suitekit.ConformanceImages()...)
		Expect(err).NotTo(HaveOccurred())
		n, err := node.New(node.Options{DNS: true, ImageArchives: append(base, more...)})
		Expect(err).NotTo(HaveOccurred())
		return n, ""
	case "kind":
		if ok, why := kind.DockerAvailable(context.Background()); !ok {
			return nil, "skipped: no container runtime (" + why + ")"
		}
		// The node provider's images, loaded with `kind load image-archive`:
		// the same pods, in-cluster cases as doctor pods.
		k, err := suitekit.NewKind(sc.Mode)
		Expect(err).NotTo(HaveOccurred())
		return k, ""
	case "existing":
		if os.Getenv("KFP_CONNECT_EXISTING_DISPOSABLE") != "1" {
			return nil, "skipped: the suite installs fixtures and injects faults; set KFP_CONNECT_EXISTING_DISPOSABLE=1 for a cluster you can break"
		}
		return existing.New(os.Getenv("KUBECONFIG"), os.Getenv("KUBECONTEXT")), ""
	default:
		Fail(fmt.Sprintf("PROVIDER=%q: want kwok, node, kind or existing", p))
	}
	return nil, ""
}

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

// plans is the matrix as the command runs it (internal/conformance.Plan):
// every case, the ones that change the install included — the suite's
// clusters are its own.
func plans() ([]conformance.ScenarioPlan, error) {
	// On the node provider pod IPs are real: the service-proxy path runs.
	return conformance.Plan(all.Scenarios(), conformance.Selection{}, conformance.PlanOptions{Disruptive: true, PodNetwork: os.Getenv("PROVIDER") == "node"})
}

var _ = Describe("scenarios", func() {
	matrix, err := plans()
	if err != nil {
		It("declares valid scenarios", func() { Expect(err).NotTo(HaveOccurred()) })
		return
	}
	for _, plan := range matrix {
		sc := plan.Scenario
		Describe(sc.Name, Ordered, ContinueOnFailure, Label(string(sc.Mode), string(sc.Location)), func() {
			var env *conformance.Env
			BeforeAll(func(ctx SpecContext) {
				p, skip := provider(sc)
				if skip != "" {
					Skip(skip)
				}
				DeferCleanup(func(ctx SpecContext) { Expect(p.Destroy(ctx)).To(Succeed()) }, NodeTimeout(time.Minute))
				suitekit.CreateOrSkip(ctx, p)
				log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
				var err error
				env, err = conformance.Setup(ctx, p.RESTConfig(), sc, dropped(), log)
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(env.Close)
				if n, ok := p.(*node.Node); ok {
					// PodDefaults by admission: Kubeflow's webhook manifests,
					// our webhook's image, the real apiserver calling it.
					why, err := env.InstallPodDefaultWebhook(ctx, n.IssueCertificates)
					Expect(err).NotTo(HaveOccurred())
					if why != "" {
						AddReportEntry("PodDefaults applied by the suite", why)
					}
				}
				if len(env.Dropped) > 0 {
					AddReportEntry("fixtures left out", env.Dropped)
				}
			}, NodeTimeout(4*time.Minute))

			for _, pc := range plan.Cases {
				c := pc.Case
				name := fmt.Sprintf("%s → %s", c.Name(), c.Expect)
				if c.Pending != "" {
					It(name+" (pending: "+c.Pending+")", labelsOf(sc, c), Pending, func() {})
					continue
				}
				if pc.Skip != "" {
					It(name, labelsOf(sc, c), func() { Skip(pc.Skip) })
					continue
				}
				It(name, labelsOf(sc, c), func(ctx SpecContext) {
					if why := env.Unavailable(c); why != "" {
						Skip(why)
					}
					res, err := conformance.RunCase(ctx, env, c, GinkgoT().TempDir())
					if res != nil {
						for _, s := range res.Steps {
							GinkgoWriter.Println("•", s)
						}
						if res.Report != nil {
							GinkgoWriter.Print(conformance.Summary(res.Report))
						}
					}
					Expect(err).NotTo(HaveOccurred())
				}, NodeTimeout(3*time.Minute))
			}
		})
	}
})
