//go:build linux

package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node/dns"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

// nodeState is what Create has set up so far; Destroy undoes exactly that,
// in reverse, whatever step Create stopped at.
type nodeState struct {
	netns   bool        // `ip netns add` succeeded
	holder  *nodeProc   // owns the private mount namespace
	cgroups []string    // cgroup root directories created, one per hierarchy
	procs   []*nodeProc // daemons, in start order
	fwd     *forwarder
}

// nodeProc is a daemon started in the cluster's namespaces, as the leader
// of a process group of its own.
type nodeProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
	stop io.Closer     // the holder's stdin: closing it ends the holder
}

// Create implements cluster.Provider. Each step waits on a condition of its own
// (a namespace, a socket, /readyz, a Ready node), never on a sleep.
func (n *Node) Create(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := nodePreflight(ctx); err != nil {
		return err
	}
	start := time.Now()
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"writing certificates and configs", func(context.Context) error { return n.writeFiles() }},
		{"network namespace", n.setupNetns},
		{"private mount namespace", n.setupHolder},
		{"cgroup root", n.setupCgroups},
		{"etcd and kube-apiserver started", n.startAPIServer},
		{"kube-apiserver ready", n.waitAPIServer},
		{"controller-manager and scheduler started", n.startControllers},
		{"containerd answers", n.startContainerd},
		{"images imported", func(ctx context.Context) error { return n.importImages(ctx, n.archives) }},
		{"kubelet and kube-proxy started", n.startNode},
		{"node Ready and default ServiceAccount", func(ctx context.Context) error {
			return cluster.WaitReady(ctx, n.RESTConfig(), true)
		}},
	}
	if n.dns {
		steps = append(steps, struct {
			what string
			do   func(context.Context) error
		}{"CoreDNS Ready", n.startDNS})
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			return fmt.Errorf("node cluster %s: %s: %w%s", n.name, s.what, err, cluster.LogTails(n.LogsDir(), 15))
		}
		n.mu.Lock()
		n.steps = append(n.steps, Step{What: s.what, At: time.Since(start)})
		n.mu.Unlock()
	}
	return nil
}

// nodePreflight says, before anything is created, when this machine cannot
// run a node cluster at all.
func nodePreflight(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root (network and mount namespaces, cgroups, iptables inside the namespace); running as uid %d", ErrUnsupported, os.Geteuid())
	}
	if out, err := runCmd(ctx, "/usr/bin/unshare", "--net", "--mount", "/bin/true"); err != nil {
		return fmt.Errorf("%w: the kernel refuses new network/mount namespaces (unshare: %v: %s)", ErrUnsupported, err, out)
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if len(mounts) == 0 {
		return fmt.Errorf("%w: no cgroup filesystem is mounted under /sys/fs/cgroup", ErrUnsupported)
	}
	return nil
}

func runCmd(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return []byte(strings.TrimSpace(string(out))), err
}

// run runs one command on the host, for the set-up steps; the error
// carries its output.
func run(ctx context.Context, name string, args ...string) error {
	if out, err := runCmd(ctx, name, args...); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

// setupNetns creates the network namespace: lo, and a veth pair whose ends
// are both inside it (the node IP on one, with a route for the Service
// range), so it has no link to the host and no route off the machine. Forwarding and bridge netfilter are set
// there only; both are per-namespace sysctls.
func (n *Node) setupNetns(ctx context.Context) error {
	if err := run(ctx, "/usr/sbin/ip", "netns", "add", n.name); err != nil {
		return err
	}
	n.mu.Lock()
	n.state.netns = true
	n.mu.Unlock()
	ipn := func(args ...string) error {
		return run(ctx, "/usr/sbin/ip", append([]string{"-n", n.name}, args...)...)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", nodeLink, "type", "veth", "peer", "name", nodePeerLink},
		{"addr", "add", n.nodeIP + "/24", "dev", nodeLink},
		{"link", "set", nodeLink, "up"},
		{"link", "set", nodePeerLink, "up"},
		// The kube-apiserver dials ClusterIPs itself (admission webhooks,
		// aggregated APIs). A connect is routed before kube-proxy's DNAT
		// in OUTPUT, and the namespace has no default route: without this
		// it fails with "network is unreachable" (measured). After DNAT
		// the packet is routed again, to the pod over the CNI bridge. A
		// pod's packet to a ClusterIP kube-proxy does not translate (a
		// Service without endpoints, a port it does not serve) is routed
		// here too, on to the forward hook, where kube-proxy's reject
		// rules answer it as on a real node: refused, not unreachable.
		{"route", "add", nodeServiceCIDR, "dev", nodeLink},
	} {
		if err := ipn(args...); err != nil {
			return err
		}
	}
	return run(ctx, "/usr/sbin/ip", "netns", "exec", n.name, "/usr/sbin/sysctl", "-q", "-w",
		"net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1")
}

func (n *Node) netnsPath() string { return "/run/netns/" + n.name }

// setupHolder starts the process that owns the cluster's private mount
// namespace (inside its network namespace), then mounts, there only:
// tmpfs over the host paths the kubelet, containerd, runc and CNI write to
// whatever their flags say (/run, /var/lib, /var/log, /opt), and the
// kernel defaults the kubelet checks over their /proc/sys files.
// Every daemon is started inside with nsenter; when the last of them and
// the holder exit, the namespace and all its mounts are gone.
func (n *Node) setupHolder(ctx context.Context) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	// The holder exits at EOF on its stdin: when Destroy closes the pipe, or
	// when its owner dies without a Destroy. The work directory on its
	// command line makes it findable like every other process of the cluster.
	cmd := exec.Command("/usr/bin/nsenter", "--net="+n.netnsPath(), "--",
		"/usr/bin/unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", "read -r _; exit 0", holderMark, n.dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return fmt.Errorf("starting the namespace holder: %w", err)
	}
	p := &nodeProc{name: "holder", cmd: cmd, done: make(chan struct{}), stop: w}
	go func() { _ = cmd.Wait(); close(p.done) }()
	n.mu.Lock()
	n.state.holder = p
	n.mu.Unlock()

	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	// nsenter and unshare exec in place: the holder's mount namespace is new
	// once unshare has run, whatever its command is by then.
	nsFile := fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid)
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, errors.New("the namespace holder exited at once")
		default:
		}
		mnt, err := os.Readlink(nsFile)
		return err == nil && mnt != self, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the private mount namespace: %w", err)
	}

	var script strings.Builder
	script.WriteString("set -e\n")
	for _, d := range []string{"/run", "/var/lib", "/var/log", "/opt"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			fmt.Fprintf(&script, "mount -t tmpfs -o mode=0755,size=1g kfpc-node %s\n", d)
		}
	}
	for k := range nodeKernelDefaults() {
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s\n", cluster.ShellQuote(n.path("sysctl", filepath.Base(k))), k)
	}
	return run(ctx, "/usr/bin/nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-m", "--", "/bin/sh", "-c", script.String())
}

// cgroupMount is one mounted cgroup hierarchy.
type cgroupMount struct {
	dir    string
	cpuset bool // v1 cpuset: a new group needs cpus and mems copied in
}

// cgroupMounts lists the cgroup v1 hierarchies and the v2 mount of this
// host from /proc/self/mountinfo.
func cgroupMounts() ([]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	return parseCgroupMounts(f)
}

// parseCgroupMounts reads mountinfo lines: "id parent maj:min root mountpoint
// options [optional...] - fstype source superoptions".
func parseCgroupMounts(r io.Reader) ([]cgroupMount, error) {
	var out []cgroupMount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		out = append(out, cgroupMount{dir: f[4], cpuset: g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), "cpuset")})
	}
	return out, sc.Err()
}

// setupCgroups creates the kubelet's cgroupRoot in every hierarchy (the
// kubelet refuses one that does not exist), which also keeps the pods away
// from the sandbox's own cgroups.
func (n *Node) setupCgroups(context.Context) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		dir := filepath.Join(m.dir, n.name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		n.mu.Lock()
		n.state.cgroups = append(n.state.cgroups, dir)
		n.mu.Unlock()
		if m.cpuset {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(m.dir, f))
				if err != nil {
					return fmt.Errorf("reading %s of %s: %w", f, m.dir, err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("setting %s of %s: %w", f, dir, err)
				}
			}
		}
	}
	return nil
}

// start runs bin inside the cluster's namespaces as a process group of its
// own, its output in logs/<name>.log (a file, not a pipe: nothing waits
// on it).
func (n *Node) start(name, bin string, args ...string) error {
	n.mu.Lock()
	holder := n.state.holder
	n.mu.Unlock()
	if holder == nil {
		return errors.New("no namespace holder")
	}
	logf, err := os.OpenFile(n.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command("/usr/bin/nsenter", append([]string{"-t", strconv.Itoa(holder.cmd.Process.Pid), "-m", "-n", "--", bin}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = n.dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + n.path("home")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &nodeProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	n.mu.Lock()
	n.state.procs = append(n.state.procs, p)
	n.mu.Unlock()
	return nil
}

// alive fails when a daemon that was started has exited: a wait on it
// would otherwise run into the timeout.
func (n *Node) alive() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.state.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v)", p.name, p.cmd.ProcessState)
		default:
		}
	}
	return nil
}

func (n *Node) startAPIServer(ctx context.Context) error {
	pki := func(f string) string { return n.path("pki", f) }
	if err := n.start("etcd", filepath.Join(n.bin, "etcd"),
		"--name", "default", "--data-dir", n.path("etcd", "data"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "default=http://127.0.0.1:2380",
		// A throw-away cluster on a shared disk: no fsync.
		"--unsafe-no-fsync", "--log-level", "warn",
	); err != nil {
		return err
	}
	issuer := "https://kubernetes.default.svc.cluster.local"
	if err := n.start("kube-apiserver", filepath.Join(n.bin, "kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--bind-address", "0.0.0.0", "--secure-port", strconv.Itoa(nodeAPIPort), "--advertise-address", n.nodeIP,
		"--client-ca-file", pki("ca.crt"), "--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--service-account-issuer", issuer, "--service-account-key-file", pki("sa.pub"),
		"--service-account-signing-key-file", pki("sa.key"),
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--service-cluster-ip-range", nodeServiceCIDR, "--allow-privileged=true",
		// logs and exec: dial the node by its IP, never by a hostname the
		// namespace cannot resolve.
		"--kubelet-preferred-address-types", "InternalIP",
		"--kubelet-client-certificate", pki("admin.crt"), "--kubelet-client-key", pki("admin.key"),
		"--profiling=false",
	); err != nil {
		return err
	}
	return n.startForwarder()
}

// startForwarder listens on the host's loopback and carries each
// connection to the apiserver inside the namespace: the owner's only way in.
func (n *Node) startForwarder() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for the apiserver forwarder: %w", err)
	}
	f := &forwarder{l: l, netns: n.netnsPath(), target: fmt.Sprintf("127.0.0.1:%d", nodeAPIPort), conns: map[net.Conn]struct{}{}}
	go f.serve()
	n.mu.Lock()
	n.state.fwd = f
	n.mu.Unlock()

	host := "https://" + l.Addr().String()
	pki := &nodePKI{dir: n.path("pki")}
	if err := pki.writeKubeconfig(n.KubeconfigPath(), host, "admin"); err != nil {
		return err
	}
	rc := &rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{
		CAFile: n.path("pki", "ca.crt"), CertFile: n.path("pki", "admin.crt"), KeyFile: n.path("pki", "admin.key"),
	}}
	rc.QPS, rc.Burst, rc.Timeout = 200, 400, 30*time.Second
	n.mu.Lock()
	n.rc = rc
	n.mu.Unlock()
	return nil
}

func (n *Node) waitAPIServer(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(n.RESTConfig())
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := n.alive(); err != nil {
			return false, err
		}
		return cluster.APIServerReady(ctx, cs)
	})
}

// startControllers starts the controller-manager and the scheduler; only
// after /readyz, since the controller-manager exits when the RBAC bootstrap
// roles are not there yet.
func (n *Node) startControllers(context.Context) error {
	pki := func(f string) string { return n.path("pki", f) }
	if err := n.start("kube-controller-manager", filepath.Join(n.bin, "kube-controller-manager"),
		"--kubeconfig", n.path("controller-manager.kubeconfig"), "--bind-address", "127.0.0.1", "--leader-elect=false",
		"--use-service-account-credentials", "--service-account-private-key-file", pki("sa.key"),
		"--root-ca-file", pki("ca.crt"), "--cluster-signing-cert-file", pki("ca.crt"), "--cluster-signing-key-file", pki("ca.key"),
		"--service-cluster-ip-range", nodeServiceCIDR,
		// Its default, /usr/libexec/kubernetes, is on the host.
		"--flex-volume-plugin-dir", n.path("flex"),
	); err != nil {
		return err
	}
	return n.start("kube-scheduler", filepath.Join(n.bin, "kube-scheduler"),
		"--kubeconfig", n.path("scheduler.kubeconfig"), "--bind-address", "127.0.0.1", "--leader-elect=false")
}

// startContainerd starts containerd and waits until its socket accepts.
func (n *Node) startContainerd(ctx context.Context) error {
	if err := n.start("containerd", "/usr/bin/containerd", "--config", n.path("containerd", "config.toml")); err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := n.alive(); err != nil {
			return false, err
		}
		// A unix socket is a file, reachable from any network namespace.
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "unix", n.containerdSocket())
		if err != nil {
			return false, nil
		}
		_ = c.Close()
		return true, nil
	})
}

// importImages loads the archives into the CRI's image namespace.
func (n *Node) importImages(ctx context.Context, archives []string) error {
	n.mu.Lock()
	holder := n.state.holder.cmd.Process.Pid
	n.mu.Unlock()
	return ctrImport(ctx, holder, n.containerdSocket(), archives)
}

// ctrImport runs `ctr images import` in the namespaces of the cluster
// whose holder is pid, into the CRI's image namespace; ctr also unpacks
// the images, so the first pod does not wait for that.
func ctrImport(ctx context.Context, holder int, socket string, archives []string) error {
	for _, a := range archives {
		if err := run(ctx, "/usr/bin/nsenter", "-t", strconv.Itoa(holder), "-m", "-n", "--",
			"/usr/bin/ctr", "--address", socket, "-n", "k8s.io", "images", "import", a); err != nil {
			return fmt.Errorf("importing %s: %w", a, err)
		}
	}
	return nil
}

// holderMark is on the namespace holder's command line, before the work
// directory, so another process finds the holder of a cluster by it.
const holderMark = "kfpc-node-holder"

// LoadArchives imports docker archives into the node cluster whose work
// directory is dir, from any process of this machine with the rights to
// enter its namespaces (root): what `kind load image-archive` is for kind,
// for a cluster another process owns (a lab's). Pods of those tags then
// start with imagePullPolicy Never or IfNotPresent.
func LoadArchives(ctx context.Context, dir string, archives ...string) error {
	if err := checkArchives(archives, nil); err != nil {
		return err
	}
	list, err := procs.Mentioning(holderMark + " " + dir)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("no node cluster runs in %s (its namespace holder is gone)", dir)
	}
	return ctrImport(ctx, list[0].PID, filepath.Join(dir, "containerd", "containerd.sock"), archives)
}

// LoadImages imports more image archives (docker archives, as
// internal/images writes them) into the running node's containerd, for
// pods with imagePullPolicy Never or IfNotPresent of those tags.
func (n *Node) LoadImages(ctx context.Context, archives ...string) error {
	n.mu.Lock()
	ok := n.state.holder != nil && !n.destroyed
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("node cluster %s: LoadImages before Create or after Destroy", n.name)
	}
	if err := n.importImages(ctx, archives); err != nil {
		return fmt.Errorf("node cluster %s: importing images: %w", n.name, err)
	}
	return nil
}

func (n *Node) startNode(context.Context) error {
	if err := n.start("kubelet", filepath.Join(n.bin, "kubelet"),
		"--config", n.path("kubelet.yaml"), "--kubeconfig", n.path("kubelet.kubeconfig"),
		"--root-dir", n.path("kubelet"), "--cert-dir", n.path("kubelet", "pki"),
		"--hostname-override", n.name, "--node-ip", n.nodeIP,
	); err != nil {
		return err
	}
	return n.start("kube-proxy", filepath.Join(n.bin, "kube-proxy"), "--config", n.path("kube-proxy.yaml"))
}

// startDNS applies kube-dns and waits for its pod's readiness, which
// CoreDNS's ready plugin reports only once its kubernetes plugin has synced
// through the kubernetes Service: so it also shows pods reach the apiserver.
func (n *Node) startDNS(ctx context.Context) error {
	rc := n.RESTConfig()
	if err := manifests.ApplyFS(ctx, rc, dns.Manifests); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// Destroy implements cluster.Provider. The kubelet goes first so it restarts no
// container; then every process in the cluster's cgroups (the pods), then
// the other daemons in reverse order, anything still naming the work
// directory (containerd's shims), and the holder, which ends the mount
// namespace and its mounts. Then the network namespace (its bridge,
// veths and every iptables/nft rule go with it), the cgroups, and the files.
// Deleting pods through the API first would only add their grace periods:
// everything they leave lives in those namespaces and directories.
func (n *Node) Destroy(ctx context.Context) error {
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return nil
	}
	n.destroyed = true
	st := n.state
	n.mu.Unlock()

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	if st.fwd != nil {
		st.fwd.close()
	}
	byName := func(name string) []*nodeProc {
		var out []*nodeProc
		for _, p := range st.procs {
			if p.name == name {
				out = append(out, p)
			}
		}
		return out
	}
	for _, p := range byName("kubelet") {
		errs = append(errs, stopProc(dctx, p))
	}
	errs = append(errs, killCgroupProcs(dctx, st.cgroups))
	for _, p := range slices.Backward(st.procs) {
		if p.name != "kubelet" {
			errs = append(errs, stopProc(dctx, p))
		}
	}
	errs = append(errs, procs.KillMentioning(dctx, n.dir, 5*time.Second))
	if st.holder != nil {
		_ = st.holder.stop.Close()
		errs = append(errs, stopProc(dctx, st.holder))
	}
	if st.netns {
		if _, err := os.Stat(n.netnsPath()); err == nil {
			errs = append(errs, run(dctx, "/usr/sbin/ip", "netns", "delete", n.name))
		}
	}
	errs = append(errs, removeCgroups(dctx, st.cgroups))
	if err := os.RemoveAll(n.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", n.dir, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroying node cluster %s: %w", n.name, err)
	}
	return nil
}

// stopProc sends SIGTERM to p's process group, waits up to 10 s for p to be
// reaped, then SIGKILLs the group; stragglers of the group get SIGKILL too.
func stopProc(ctx context.Context, p *nodeProc) error {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL: %w", p.name, pgid, ctx.Err())
		}
	case <-ctx.Done():
		return fmt.Errorf("%s (pid %d) did not exit: %w", p.name, pgid, ctx.Err())
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH when the group is empty
	return nil
}

// cgroupDirs lists root and every directory below it, deepest first.
func cgroupDirs(root string) []string {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	return dirs
}

// killCgroupProcs SIGKILLs every process in the cluster's cgroups (the
// pods' containers, which are children of shims, not of ours) until none
// is left.
func killCgroupProcs(ctx context.Context, roots []string) error {
	var left []int
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		left = left[:0]
		for _, root := range roots {
			for _, d := range cgroupDirs(root) {
				raw, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
				if err != nil {
					continue
				}
				for _, f := range strings.Fields(string(raw)) {
					if pid, err := strconv.Atoi(f); err == nil && procs.Running(pid) {
						left = append(left, pid)
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("processes %v of the cluster's cgroups survive SIGKILL: %w", left, err)
	}
	return nil
}

// removeCgroups removes every cgroup below and including each root,
// deepest first, retrying while the kernel still counts exiting tasks.
func removeCgroups(ctx context.Context, roots []string) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		last = nil
		for _, root := range roots {
			for _, d := range cgroupDirs(root) {
				if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
					last = fmt.Errorf("rmdir %s: %w", d, err)
				}
			}
		}
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("removing the cluster's cgroups: %w (%v)", err, last)
	}
	return nil
}

// forwarder carries loopback connections of the host into the cluster's
// network namespace.
type forwarder struct {
	l      net.Listener
	netns  string
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (f *forwarder) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return // closed
		}
		go f.handle(c)
	}
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

func (f *forwarder) handle(c net.Conn) {
	if !f.track(c) {
		return
	}
	defer f.untrack(c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	up, err := dialInNetns(ctx, f.netns, f.target)
	cancel()
	if err != nil {
		return // the client sees the connection close, as with nothing listening
	}
	if !f.track(up) {
		return
	}
	defer f.untrack(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	conns := f.conns
	f.conns = map[net.Conn]struct{}{}
	f.mu.Unlock()
	_ = f.l.Close()
	for c := range conns {
		_ = c.Close()
	}
}

// dialInNetns opens a TCP connection from inside the network namespace at
// nsPath: the socket is created on an OS thread moved into that namespace,
// and a socket stays in the namespace it was created in. The thread moves
// back afterwards; if it cannot, it is left locked and dies with its
// goroutine, so no other goroutine ever runs in the wrong namespace.
func dialInNetns(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, err, restored := func() (net.Conn, error, bool) {
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				return nil, err, true
			}
			defer self.Close()
			target, err := os.Open(nsPath)
			if err != nil {
				return nil, err, true
			}
			defer target.Close()
			if err := setns(target); err != nil {
				return nil, fmt.Errorf("entering %s: %w", nsPath, err), true
			}
			d := net.Dialer{}
			c, err := d.DialContext(ctx, "tcp", addr)
			return c, err, setns(self) == nil
		}()
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// Processes lists the cluster's processes: every one naming the work
// directory (the daemons, the shims, the holder) and every one in its
// cgroups (the pods' containers).
func (n *Node) Processes() ([]procs.Process, error) {
	list, err := procs.Mentioning(n.dir)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for _, p := range list {
		seen[p.PID] = true
	}
	n.mu.Lock()
	roots := append([]string(nil), n.state.cgroups...)
	n.mu.Unlock()
	for _, root := range roots {
		for _, d := range cgroupDirs(root) {
			raw, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(raw)) {
				pid, err := strconv.Atoi(f)
				if err != nil || seen[pid] {
					continue
				}
				seen[pid] = true
				cmd, _ := os.ReadFile(filepath.Join("/proc", f, "cmdline"))
				list = append(list, procs.Process{PID: pid, Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
			}
		}
	}
	return list, nil
}
