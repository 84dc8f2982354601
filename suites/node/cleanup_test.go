package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/suites/suitekit"
)

// cleanupChildEnv makes this test binary act as a program that owns a node
// cluster with a running pod until it is stopped (see TestMain); its value
// is the cluster's image archives, built by the suite, separated by ":".
const cleanupChildEnv = "KFP_CONNECT_NODE_CLEANUP_CHILD"

// childNode is what the child prints on one line once its pod runs.
type childNode struct {
	Name, Workdir, CgroupRoot, Kubeconfig string
	MountNS                               string // the private mount namespace, as /proc/<pid>/ns/mnt reads
	Unsupported                           string // set instead when the machine cannot run a node cluster
	PIDs                                  []int  // every process of the cluster, pods included
}

// cleanupChild creates a node cluster, runs one pod, reports, and destroys
// it all on SIGINT or SIGTERM, as hack/bench-node does.
func cleanupChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The images are the suite's, built outside the child's TMPDIR: what
	// the check finds there is the cluster's.
	n, err := node.New(node.Options{ImageArchives: strings.Split(os.Getenv(cleanupChildEnv), ":")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The signal cancels ctx; clean-up needs a context of its own.
	destroy := func() int {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := n.Destroy(dctx); err != nil {
			fmt.Fprintln(os.Stderr, "destroy:", err)
			return 1
		}
		return 0
	}
	report := func(c childNode) {
		line, _ := json.Marshal(c)
		fmt.Println(string(line))
	}
	if err := n.Create(ctx); err != nil {
		if errors.Is(err, node.ErrUnsupported) {
			report(childNode{Unsupported: err.Error()})
			return destroy()
		}
		fmt.Fprintln(os.Stderr, "create:", err)
		destroy()
		return 1
	}
	if err := runPod(ctx, n); err != nil {
		fmt.Fprintln(os.Stderr, "pod:", err)
		return destroy() | 1
	}
	c := childNode{Name: n.Name(), Workdir: n.Workdir(), CgroupRoot: n.CgroupRoot(), Kubeconfig: n.KubeconfigPath()}
	list, err := n.Processes()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return destroy() | 1
	}
	for _, p := range list {
		c.PIDs = append(c.PIDs, p.PID)
		if strings.Contains(p.Cmdline, "kfpc-node-holder") {
			c.MountNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p.PID))
		}
	}
	report(c)
	<-ctx.Done()
	return destroy()
}

// runPod starts one pod and waits until it is Running.
func runPod(ctx context.Context, n *node.Node) error {
	cs, err := kubernetes.NewForConfig(n.RESTConfig())
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "serve", Image: images.ProbeRef, ImagePullPolicy: corev1.PullNever, Args: []string{"serve", ":8080"},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return podReady(cs, "default", "sleeper")(ctx), nil
	})
}

var _ = Describe("Clean-up of a node cluster", Label("node", "cleanup"), func() {
	DescribeTable("leaves no process, mount, network namespace, cgroup or directory when the owner is stopped or killed", func(ctx SpecContext, sig syscall.Signal) {
		tools, err := cluster.ToolsBin(os.Getenv, cluster.NodeBinaries...)
		Expect(err).NotTo(HaveOccurred())
		// A HOME and TMPDIR of its own show the cluster leaves nothing in
		// either. Short: containerd's socket path must fit in 108 bytes.
		home, err := os.MkdirTemp("", "kfpc-home-")
		Expect(err).NotTo(HaveOccurred())
		tmp, err := os.MkdirTemp("", "kfpc-tmp-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, home)
		DeferCleanup(os.RemoveAll, tmp)
		base, err := imgs.Node(ctx, false)
		Expect(err).NotTo(HaveOccurred())
		probe, err := imgs.Probe(ctx)
		Expect(err).NotTo(HaveOccurred())
		archives := strings.Join(append(base, probe), ":")
		env := append([]string{cleanupChildEnv + "=" + archives, "HOME=" + home, "TMPDIR=" + tmp, "KUBECONFIG=", cluster.ToolsBinEnv + "=" + tools},
			// The Go toolchain keeps its caches and settings where it
			// always does: they are not the cluster's.
			goDirs(ctx)...)
		cmd, line, exited := suitekit.StartOwner(ctx, env, 3*time.Minute)
		var c childNode
		Expect(json.Unmarshal([]byte(line), &c)).To(Succeed(), "child said %q", line)
		if c.Unsupported != "" {
			Expect(cmd.Process.Signal(sig)).To(Succeed())
			Eventually(ctx, exited).Should(Receive())
			Skip(c.Unsupported)
		}
		DeferCleanup(func() {
			// Only if the assertions below failed: leave nothing behind.
			_ = cmd.Process.Kill()
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = procs.KillMentioning(cctx, c.Workdir, time.Second)
			_ = exec.CommandContext(cctx, "ip", "netns", "delete", c.Name).Run()
		})

		cgroups, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", c.CgroupRoot))
		By("checking the cluster runs: processes, pod, mount and network namespaces, cgroups, directory")
		Expect(c.PIDs).NotTo(BeEmpty())
		Expect(c.MountNS).To(HavePrefix("mnt:["))
		Expect(processesIn(c.MountNS)).NotTo(BeEmpty())
		Expect(command(ctx, "ip", "netns", "list")).To(ContainSubstring(c.Name))
		Expect(cgroups).NotTo(BeEmpty(), "no cgroup %s in any hierarchy", c.CgroupRoot)
		Expect(cgroupProcs(cgroups)).NotTo(BeEmpty(), "the pod's processes are not in the cluster's cgroups")
		Expect(c.Workdir).To(BeADirectory())

		By("signalling the owner: " + sig.String())
		Expect(cmd.Process.Signal(sig)).To(Succeed())
		var exitErr error
		Eventually(ctx, exited).WithTimeout(2 * time.Minute).Should(Receive(&exitErr))
		if sig == syscall.SIGKILL {
			// Nothing ran Destroy: the daemons and pods outlive their owner
			// until the next node cluster's start sweeps them.
			Expect(exitErr).To(HaveOccurred())
			Expect(procs.Mentioning(c.Workdir)).NotTo(BeEmpty(), "SIGKILL of the owner stopped the daemons by itself: this entry shows nothing")
			By("sweeping orphans, as the next NewNode in the same temp directory does")
			reaped, err := node.ReapOrphans(ctx, tmp)
			Expect(err).NotTo(HaveOccurred())
			Expect(reaped).To(ConsistOf(c.Name))
		} else {
			Expect(exitErr).NotTo(HaveOccurred(), "the child failed to clean up")
		}

		By("finding nothing left")
		// Exited: gone, or a zombie its new parent has yet to reap (the
		// pods' processes lose their shim), which holds nothing any more.
		var left []procs.Process
		for _, pid := range c.PIDs {
			left = append(left, procs.Process{PID: pid})
		}
		Expect(procs.WaitExited(ctx, left, time.Second)).To(Succeed())
		for _, mark := range []string{c.Workdir, c.Name} {
			Expect(procs.Mentioning(mark)).To(BeEmpty(), "processes mentioning %s survive", mark)
		}
		Expect(processesIn(c.MountNS)).To(BeEmpty(), "processes still hold the mount namespace %s (and its mounts)", c.MountNS)
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(mounts)).NotTo(Or(ContainSubstring(c.Workdir), ContainSubstring(c.Name)))
		Expect(command(ctx, "ip", "netns", "list")).NotTo(ContainSubstring(c.Name))
		for _, g := range cgroups {
			Expect(g).NotTo(BeADirectory(), "cgroup %s survives", g)
		}
		for _, d := range []string{home, tmp} {
			Expect(os.ReadDir(d)).To(BeEmpty(), "the cluster left files in %s", d)
		}
	},
		Entry("Ctrl-C", syscall.SIGINT, SpecTimeout(6*time.Minute)),
		Entry("SIGTERM", syscall.SIGTERM, SpecTimeout(6*time.Minute)),
		Entry("SIGKILL, then the next cluster's start", syscall.SIGKILL, SpecTimeout(6*time.Minute)),
	)
})

// goDirs are the Go toolchain's cache and configuration directories of
// this user, as environment settings.
func goDirs(ctx context.Context) []string {
	var env []string
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		env = append(env, v+"="+strings.TrimSpace(command(ctx, "go", "env", v)))
	}
	cfg, err := os.UserConfigDir()
	Expect(err).NotTo(HaveOccurred())
	return append(env, "XDG_CONFIG_HOME="+cfg)
}

// processesIn lists the pids whose mount namespace is ns.
func processesIn(ns string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "mnt")); err == nil && link == ns {
			out = append(out, pid)
		}
	}
	return out
}

// cgroupProcs lists the pids in the cgroups below each of dirs.
func cgroupProcs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Name() == "cgroup.procs" {
				raw, _ := os.ReadFile(p)
				out = append(out, strings.Fields(string(raw))...)
			}
			return nil
		})
	}
	return out
}
