package command_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

// A real server runs as a pod unchanged: `lab up --program` with a small
// real program (internal/lab/testdata/fixedport) as KFP's API server. It
// reads the in-cluster config from its fixed paths, listens on the fixed
// ports 8888 and 8887 and dials itself as localhost:8887, takes the
// command line of KFP's image, and the lab is ready as soon as it is —
// through a rolling update too, where the new pod's process binds the same
// ports while the old one still runs.
var _ = Describe("kfp-connect lab up --program with a real server", Ordered, func() {
	var (
		bin, server, name string
		state             labd.State
		cfg               *rest.Config
		client            kubernetes.Interface
		dialer            *svcdial.Dialer
	)

	BeforeAll(func(ctx SpecContext) {
		tools, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...)
		Expect(err).NotTo(HaveOccurred(), "the lab needs the pinned binaries: run `make tools`")
		GinkgoT().Setenv(cluster.ToolsBinEnv, tools)
		dir := GinkgoT().TempDir()
		bin, server = filepath.Join(dir, "kfp-connect"), filepath.Join(dir, "apiserver")
		for out, pkg := range map[string]string{bin: "./cmd/kfp-connect", server: "./internal/lab/testdata/fixedport"} {
			build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
			build.Dir = filepath.Join("..", "..")
			b, err := build.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "go build %s: %s", pkg, b)
		}
		ownLabState(ctx)

		name = fmt.Sprintf("program-%d", os.Getpid())
		DeferCleanup(func(ctx SpecContext) {
			code, _, _ := kfpConnect(ctx, bin, time.Minute, "lab", "down", "--name", name)
			Expect(code).To(Equal(0))
			// Nothing of the pods' sandboxes is left mounted or running.
			mounts, err := os.ReadFile("/proc/self/mountinfo")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(mounts)).NotTo(ContainSubstring(state.ProgramsDir))
			Expect(processesRunning(server)).To(BeEmpty())
		}, NodeTimeout(2*time.Minute))
		code, stdout, stderr := kfpConnect(ctx, bin, 4*time.Minute, "lab", "up", "--name", name, "--mode", "standalone",
			"--program", "ghcr.io/kubeflow/kfp-api-server="+server)
		Expect(code).To(Equal(0), stderr)
		Expect(stdout).To(ContainSubstring("is up"))
		state, err = labd.Running(name)
		Expect(err).NotTo(HaveOccurred())
		cfg, err = clientcmd.BuildConfigFromFlags("", state.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		client = kubernetes.NewForConfigOrDie(cfg)
		dialer, err = svcdial.New(cfg, "kubeflow")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(dialer.Close)
	}, NodeTimeout(8*time.Minute))

	// whoami asks the API server's pod, through its Service, who it is.
	whoami := func(ctx context.Context) (map[string]any, error) {
		hc := &http.Client{Transport: dialer.Transport(), Timeout: 5 * time.Second}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://ml-pipeline.kubeflow:8888/whoami", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		return out, json.NewDecoder(resp.Body).Decode(&out)
	}
	labLog := func() string {
		b, _ := os.ReadFile(filepath.Join(labd.StateDir(name), "lab.log"))
		return string(b)
	}
	apiPods := func(ctx context.Context) []corev1.Pod {
		pods, err := client.CoreV1().Pods("kubeflow").List(ctx, metav1.ListOptions{LabelSelector: "app=ml-pipeline"})
		Expect(err).NotTo(HaveOccurred())
		return pods.Items
	}
	setEnv := func(ctx context.Context, env map[string]string) {
		var vars []corev1.EnvVar
		for k, v := range env {
			vars = append(vars, corev1.EnvVar{Name: k, Value: v})
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "ml-pipeline-api-server", "env": vars}}}}}})
		_, err := client.AppsV1().Deployments("kubeflow").Patch(ctx, "ml-pipeline", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		Expect(err).NotTo(HaveOccurred())
	}

	It("is KFP's API server behind the UI, with its image's ENV", func(ctx SpecContext) {
		resp, err := http.Get(state.URL + "/apis/v1beta1/healthz")
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var h map[string]any
		Expect(json.Unmarshal(body, &h)).To(Succeed(), string(body))
		// Its healthz, through the UI: the real program's, with TAG_NAME
		// from the image's ENV (the Deployment does not set it).
		Expect(h).To(HaveKeyWithValue("apiServerReady", true))
		Expect(h).To(HaveKeyWithValue("apiServerCommitHash", "fixedport"))
		Expect(h).To(HaveKeyWithValue("apiServerTagName", "2.17.0"))
	})

	It("reads the in-cluster config from its fixed paths and has the kubelet's service links", func(ctx SpecContext) {
		who, err := whoami(ctx)
		Expect(err).NotTo(HaveOccurred())
		pods := apiPods(ctx)
		Expect(pods).To(HaveLen(1))
		Expect(who).To(HaveKeyWithValue("user", "system:serviceaccount:kubeflow:ml-pipeline"))
		Expect(who).To(HaveKeyWithValue("hostname", pods[0].Name))
		ui, err := client.CoreV1().Services("kubeflow").Get(ctx, "ml-pipeline-ui", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		kube, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(who["links"]).To(And(
			HaveKeyWithValue("ML_PIPELINE_UI_SERVICE_HOST", ui.Spec.ClusterIP),
			HaveKeyWithValue("KUBERNETES_SERVICE_HOST", kube.Spec.ClusterIP)))
	})

	It("runs two pods of it at once, each bound to the same fixed ports", func(ctx SpecContext) {
		scale := func(ctx context.Context, n int) {
			patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
			_, err := client.AppsV1().Deployments("kubeflow").Patch(ctx, "ml-pipeline", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			Expect(err).NotTo(HaveOccurred())
		}
		scale(ctx, 2)
		DeferCleanup(func(ctx SpecContext) { scale(ctx, 1) })
		// Each pod's own process answers on its pod's port 8888.
		Eventually(ctx, func(ctx context.Context) ([]string, error) {
			var hosts []string
			for _, p := range apiPods(ctx) {
				pod := p
				hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
					DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialPod(ctx, &pod, 8888) },
				}}
				resp, err := hc.Get("http://pod/whoami")
				if err != nil {
					return nil, err
				}
				var who map[string]any
				err = json.NewDecoder(resp.Body).Decode(&who)
				resp.Body.Close()
				if err != nil || who["hostname"] != pod.Name {
					return nil, fmt.Errorf("pod %s answered %v (%v)", pod.Name, who, err)
				}
				hosts = append(hosts, pod.Name)
			}
			return hosts, nil
		}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(HaveLen(2))
		Expect(labLog()).NotTo(ContainSubstring("address already in use"))
	}, NodeTimeout(3*time.Minute))

	It("rolls over to the new version's server", func(ctx SpecContext) {
		Eventually(ctx, func(ctx context.Context) int { return len(apiPods(ctx)) }).WithTimeout(time.Minute).Should(Equal(1))
		old := apiPods(ctx)[0].Name
		setEnv(ctx, map[string]string{"VERSION": "2"})
		Eventually(ctx, func(ctx context.Context) (map[string]any, error) {
			return whoami(ctx)
		}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(And(
			HaveKeyWithValue("version", "2"), Not(HaveKeyWithValue("hostname", old))))
		Eventually(ctx, func(ctx context.Context) int { return len(apiPods(ctx)) }).WithTimeout(time.Minute).Should(Equal(1))
		Expect(labLog()).NotTo(ContainSubstring("address already in use"))
	}, NodeTimeout(3*time.Minute))

	It("shows a crashed program's panic line in its log tail", func(ctx SpecContext) {
		// GOTRACEBACK=crash ends the dump with the registers.
		setEnv(ctx, map[string]string{"VERSION": "3", "FIXEDPORT_CRASH": "1", "GOTRACEBACK": "crash"})
		Eventually(labLog).WithContext(ctx).WithTimeout(2 * time.Minute).Should(And(
			ContainSubstring("the program exited"), ContainSubstring("panic: assignment to entry in nil map")))
		setEnv(ctx, map[string]string{"VERSION": "4", "FIXEDPORT_CRASH": "0", "GOTRACEBACK": "single"})
		Eventually(ctx, func(ctx context.Context) (map[string]any, error) {
			return whoami(ctx)
		}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(HaveKeyWithValue("version", "4"))
	}, NodeTimeout(5*time.Minute))
})

// processesRunning lists the live processes running path.
func processesRunning(path string) []string {
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var out []string
	for _, e := range exes {
		if t, err := os.Readlink(e); err == nil && strings.TrimSuffix(t, " (deleted)") == path {
			out = append(out, e)
		}
	}
	return out
}
