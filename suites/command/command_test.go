// Package command_test runs the kfp-connect binary as a platform team would:
// `kfp-connect lab up`, then `kfp-connect conformance --provider existing`
// against it — non-destructive, green, the reports written, nothing of its
// own left behind (also after Ctrl-C, and a killed run's leftovers swept by
// the next) — then the whole matrix of one scenario with --disruptive.
//
//	go test ./suites/command
package command_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/conformance/plan"
	"github.com/kfp-connect/kfp-connect/internal/conformance/results"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/labd"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

func TestCommand(t *testing.T) {
	RegisterFailHandler(Fail)
	suitekit.QuietClientGo()
	RunSpecs(t, "kfp-connect commands")
}

var _ = ReportAfterSuite("reports", suitekit.Reports("command"))

// kfpConnect runs the built binary, bounded, and returns its exit code and
// output.
func kfpConnect(ctx context.Context, bin string, timeout time.Duration, args ...string) (int, string, string) {
	return kfpConnectIn(ctx, "", bin, timeout, args...)
}

// kfpConnectIn is kfpConnect in the directory dir ("" for this one).
func kfpConnectIn(ctx context.Context, dir, bin string, timeout time.Duration, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	err := cmd.Run()
	GinkgoWriter.Printf("$ kfp-connect %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		Expect(ok).To(BeTrue(), "kfp-connect %v: %v", args, err)
		code = exit.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// snapshot is what a run must leave as it found it: every object a run
// labels as its own, every pod, ServiceAccount, Secret, RoleBinding,
// ClusterRole, ClusterRoleBinding, Service, PodDefault and namespace by UID
// (deleted and re-created is not the same), and each Deployment's spec
// generation and ConfigMap's version.
func snapshot(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface) []string {
	var out []string
	owned, err := env.Owned(ctx, dyn, env.OwnedSelector)
	Expect(err).NotTo(HaveOccurred())
	for _, o := range owned {
		out = append(out, "owned "+o)
	}
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "pods"}, {Version: "v1", Resource: "serviceaccounts"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "namespaces"},
		{Version: "v1", Resource: "secrets"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"},
	} {
		list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, o := range list.Items {
			out = append(out, fmt.Sprintf("%s %s/%s %s", gvr.Resource, o.GetNamespace(), o.GetName(), o.GetUID()))
		}
	}
	deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	for _, d := range deps.Items {
		out = append(out, fmt.Sprintf("deployment %s/%s generation %d", d.Namespace, d.Name, d.Generation))
	}
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	for _, c := range cms.Items {
		out = append(out, fmt.Sprintf("configmap %s/%s version %s", c.Namespace, c.Name, c.ResourceVersion))
	}
	sort.Strings(out)
	return out
}

// changes is what differs between two snapshots, each line once: "gone …"
// for what before had and after lacks, "new …" for the reverse. Empty when
// they are the same; short enough to read where a whole snapshot is not.
func changes(before, after []string) []string {
	count := map[string]int{}
	for _, s := range before {
		count[s]++
	}
	for _, s := range after {
		count[s]--
	}
	var out []string
	for s, n := range count {
		switch {
		case n > 0:
			out = append(out, "gone "+s)
		case n < 0:
			out = append(out, "new "+s)
		}
	}
	sort.Strings(out)
	return out
}

// ownLabState gives the spec a lab state directory of its own
// (XDG_CACHE_HOME, where labd keeps its labs), and nothing else of the
// user's cache: Go's build cache, which also lives there when GOCACHE is
// unset, is pinned where it was, so the lab's own builds (a node lab
// compiles the install's images) stay warm. Moving it too made a node
// lab's image build take 2.5 minutes instead of seconds.
func ownLabState(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOCACHE").Output()
	Expect(err).NotTo(HaveOccurred(), "go env GOCACHE")
	if gocache := strings.TrimSpace(string(out)); gocache != "" && gocache != "off" {
		GinkgoT().Setenv("GOCACHE", gocache)
	}
	GinkgoT().Setenv("XDG_CACHE_HOME", GinkgoT().TempDir())
}

// buildConnect builds the kfp-connect binary the specs run.
func buildConnect(ctx context.Context) string {
	bin := filepath.Join(GinkgoT().TempDir(), "kfp-connect")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kfp-connect")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build: %s", out)
	return bin
}

func readResults(dir string) (results.Results, reporters.JUnitTestSuites, string) {
	var res results.Results
	b, err := os.ReadFile(filepath.Join(dir, results.JSONFile))
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(b, &res)).To(Succeed())
	var junit reporters.JUnitTestSuites
	b, err = os.ReadFile(filepath.Join(dir, results.JUnitFile))
	Expect(err).NotTo(HaveOccurred())
	Expect(xml.Unmarshal(b, &junit)).To(Succeed())
	page, err := os.ReadFile(filepath.Join(dir, results.HTMLFile))
	Expect(err).NotTo(HaveOccurred())
	return res, junit, string(page)
}

func count(res results.Results, pred func(results.CaseResult) bool) int {
	n := 0
	for _, c := range res.Cases {
		if pred(c) {
			n++
		}
	}
	return n
}

var _ = Describe("kfp-connect conformance against a lab", Ordered, func() {
	var (
		bin, kubeconfig string
		client          kubernetes.Interface
		dyn             dynamic.Interface
	)

	BeforeAll(func(ctx SpecContext) {
		tools, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...)
		Expect(err).NotTo(HaveOccurred(), "the lab needs the pinned binaries: run `make tools`")
		GinkgoT().Setenv(cluster.ToolsBinEnv, tools)

		bin = buildConnect(ctx)
		ownLabState(ctx)

		name := fmt.Sprintf("command-%d", os.Getpid())
		DeferCleanup(func(ctx SpecContext) {
			code, _, _ := kfpConnect(ctx, bin, time.Minute, "lab", "down", "--name", name)
			Expect(code).To(Equal(0))
		}, NodeTimeout(2*time.Minute))
		code, _, stderr := kfpConnect(ctx, bin, 4*time.Minute, "lab", "up", "--name", name)
		Expect(code).To(Equal(0), stderr)
		s, err := labd.Running(name)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig = s.Kubeconfig
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		client = kubernetes.NewForConfigOrDie(cfg)
		dyn = dynamic.NewForConfigOrDie(cfg)
	}, NodeTimeout(8*time.Minute))

	It("runs non-destructively, green, writes the three reports and leaves nothing behind", func(ctx SpecContext) {
		before := snapshot(ctx, client, dyn)
		Expect(before).NotTo(ContainElement(HavePrefix("owned ")))
		reports := GinkgoT().TempDir()
		code, stdout, stderr := kfpConnect(ctx, bin, 10*time.Minute, "conformance", "--provider", "existing", "--kubeconfig", kubeconfig, "--report-dir", reports)
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(MatchRegexp(`\d+ passed, 0 failed, \d+ skipped`))
		// Progress as the cases ran: one line per case, with its duration.
		Expect(stderr).To(MatchRegexp(`\[\d+/\d+\] ✔ multi-user/in-cluster: poddefault → passed \(\d`))

		res, junit, page := readResults(reports)
		Expect(res.Disruptive).To(BeFalse())
		Expect(res.CleanupError).To(BeEmpty())
		passed := count(res, func(c results.CaseResult) bool { return c.Status == results.Passed })
		Expect(passed).To(BeNumerically(">", 40), "the lab is multi-user: both multi-user scenarios' client-side cases run")
		Expect(count(res, func(c results.CaseResult) bool { return c.Status == results.Failed })).To(BeZero())
		// Client-side faults ran; the install's were skipped, and said why.
		Expect(count(res, func(c results.CaseResult) bool {
			return c.Fault == "wrong-audience" && c.Status == results.Passed
		})).To(BeNumerically(">=", 2))
		for _, c := range res.Cases {
			switch {
			case strings.HasPrefix(c.Scenario, "standalone/"):
				// The lab is multi-user: the standalone scenarios do not
				// apply, and the report says so.
				Expect(c.Status).To(Equal(results.Skipped), c.FullName())
				Expect(c.Reason).To(ContainSubstring("is multi-user; this scenario is for standalone KFP"))
			case c.Disruptive:
				Expect(c.Status).To(Equal(results.Skipped), c.FullName())
				Expect(c.Reason).To(HavePrefix(plan.DisruptiveSkip))
			}
		}
		Expect(junit.Tests).To(Equal(len(res.Cases)))
		Expect(junit.Failures).To(BeZero())
		Expect(page).To(And(ContainSubstring("✔"), ContainSubstring(string(kfd.TokenAudience)), ContainSubstring(plan.DisruptiveSkip)))

		// Its own objects (client pods, namespace-3, the documented
		// cross-namespace RoleBinding the lab lacks) were made and removed.
		Expect(res.Cleanup).To(ContainElement("Namespace namespace-3"))
		Expect(changes(before, snapshot(ctx, client, dyn))).To(BeEmpty())
	}, NodeTimeout(12*time.Minute))

	It("removes its objects when interrupted mid-run, and exits 1", func(ctx SpecContext) {
		before := snapshot(ctx, client, dyn)
		cmd := exec.CommandContext(ctx, bin, "conformance", "--provider", "existing", "--kubeconfig", kubeconfig, "--scenario", "multi-user/in-cluster")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		stderr, err := cmd.StderrPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Start()).To(Succeed())
		lines := bufio.NewScanner(stderr)
		interrupted := false
		var all []string
		for lines.Scan() {
			all = append(all, lines.Text())
			// Once a case ran, the run's namespace and binding exist and
			// the next case's pod is being made: stop it there.
			if !interrupted && strings.Contains(lines.Text(), "✔") {
				Expect(cmd.Process.Signal(os.Interrupt)).To(Succeed())
				interrupted = true
			}
		}
		err = cmd.Wait()
		GinkgoWriter.Println(strings.Join(all, "\n"))
		Expect(interrupted).To(BeTrue(), "no case passed before the run ended")
		var exit *exec.ExitError
		Expect(err).To(BeAssignableToTypeOf(exit))
		Expect(err.(*exec.ExitError).ExitCode()).To(Equal(1))
		Expect(strings.Join(all, "\n")).To(ContainSubstring("interrupted"))
		Expect(changes(before, snapshot(ctx, client, dyn))).To(BeEmpty())
	}, NodeTimeout(5*time.Minute))

	It("sweeps what a killed run left before it starts", func(ctx SpecContext) {
		before := snapshot(ctx, client, dyn)
		left := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "client-left-behind", Namespace: "kubeflow-user-example-com",
				Labels: env.Owner{RunID: "killed-run"}.Labels()},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "client", Image: "kfp-connect.invalid/kfp-client:test"}}},
		}
		_, err := client.CoreV1().Pods(left.Namespace).Create(ctx, left, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		code, _, stderr := kfpConnect(ctx, bin, 5*time.Minute, "conformance", "--provider", "existing", "--kubeconfig", kubeconfig,
			"--test", `^multi-user/out-of-cluster: port-forward-bearer$`)
		Expect(code).To(Equal(0), stderr)
		Expect(stderr).To(ContainSubstring("an earlier run left: [Pod kubeflow-user-example-com/client-left-behind]"))
		Expect(changes(before, snapshot(ctx, client, dyn))).To(BeEmpty())
	}, NodeTimeout(6*time.Minute))

	It("runs the whole matrix of a scenario with --disruptive, reverting every change", func(ctx SpecContext) {
		objectsBefore := owned(snapshot(ctx, client, dyn))
		configBefore := snapshotConfig(ctx, client)
		reports := GinkgoT().TempDir()
		code, _, stderr := kfpConnect(ctx, bin, 10*time.Minute, "conformance", "--provider", "existing", "--kubeconfig", kubeconfig,
			"--scenario", "multi-user/out-of-cluster", "--disruptive", "--report-dir", reports)
		Expect(code).To(Equal(0), stderr)
		res, _, _ := readResults(reports)
		Expect(res.Disruptive).To(BeTrue())
		Expect(count(res, func(c results.CaseResult) bool { return c.Status != results.Passed })).To(BeZero(), "every case of the scenario runs and passes")
		Expect(count(res, func(c results.CaseResult) bool { return c.Disruptive })).To(BeNumerically(">", 5))
		Expect(owned(snapshot(ctx, client, dyn))).To(Equal(objectsBefore))
		// The faults and variants were reverted: the Deployments' and
		// ConfigMaps' contents are what they were (their versions moved).
		Expect(snapshotConfig(ctx, client)).To(Equal(configBefore))
	}, NodeTimeout(12*time.Minute))
})

func owned(snap []string) []string {
	var out []string
	for _, s := range snap {
		if strings.HasPrefix(s, "owned ") {
			out = append(out, s)
		}
	}
	return out
}

// snapshotConfig is the install's configuration as the faults change it:
// each Deployment's replicas and first container's env, each ConfigMap's
// data, of the namespaces of the install.
func snapshotConfig(ctx context.Context, client kubernetes.Interface) map[string]string {
	out := map[string]string{}
	for _, ns := range []string{"kubeflow", "auth", "oauth2-proxy", "istio-system"} {
		deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, d := range deps.Items {
			b, _ := json.Marshal(struct {
				Replicas *int32
				Env      []corev1.EnvVar
			}{d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Env})
			out["deployment "+ns+"/"+d.Name] = string(b)
		}
		cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, c := range cms.Items {
			b, _ := json.Marshal(c.Data)
			out["configmap "+ns+"/"+c.Name] = string(b)
		}
	}
	return out
}
