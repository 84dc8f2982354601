package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node/dns"
)

// nodeSystemPrograms are the Debian programs a node cluster runs
// (hack/system-deps.sh installs them).
var nodeSystemPrograms = []string{
	"/usr/sbin/ip", "/usr/bin/nsenter", "/usr/bin/unshare", "/usr/bin/mount",
	"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/ctr", "/usr/sbin/runc",
	"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap",
	"/usr/sbin/iptables", "/usr/sbin/conntrack",
}

// ErrUnsupported is wrapped when this machine cannot run a node cluster
// at all (not root, no network namespaces, no cgroup v1 memory controller,
// not Linux). Specs skip with its message; anything else is a failure.
var ErrUnsupported = errors.New("this machine cannot run a node cluster")

// The cluster's fixed addresses. They are the same in every node cluster:
// each lives in its own network namespace, where nothing else uses them.
const (
	nodeServiceCIDR = "10.96.0.0/16"
	nodeKubernetes  = "10.96.0.1" // first address of nodeServiceCIDR: the kubernetes Service
	nodeClusterDNS  = "10.96.0.10"
	nodePodCIDR     = "10.244.0.0/24"
	nodeAPIPort     = 6443
	// Within the namespace: one end of a veth pair holds the node IP, the
	// other end is also inside, so nothing links to the host.
	nodeLink, nodePeerLink = "kfpc-node", "kfpc-peer"
	nodeBridge             = "kfpc0"
)

// SandboxImage is the pause image containerd starts every pod's sandbox
// from: one of Options.ImageArchives must carry it (internal/nodeimages
// builds it), as no registry is ever asked.
const SandboxImage = "kfpc.local/pause:3.10"

// KubeProxyMetricsPort is where a node cluster's kube-proxy serves its
// metrics, on the node IP: GET /api/v1/nodes/NODE:10249/proxy/metrics.
const KubeProxyMetricsPort = "10249"

// Options configures a node cluster.
type Options struct {
	// ToolsBin is the directory of the pinned binaries; empty uses cluster.ToolsBin(os.Getenv).
	ToolsBin string
	// TempDir is where the cluster's work directory is created; empty is
	// os.TempDir(). Keep it short: containerd's socket path must fit in 108 bytes.
	TempDir string
	// ReadyTimeout bounds Create; zero means 3 minutes.
	ReadyTimeout time.Duration
	// ProxyMode is kube-proxy's mode, iptables (default) or nftables.
	ProxyMode string
	// DNS adds kube-dns: the pinned, trimmed CoreDNS (tools/coredns) as a
	// pod behind 10.96.0.10, Ready before Create returns; an archive must
	// carry its image, dns.Image.
	DNS bool
	// ImageArchives are docker archives imported into containerd before
	// the kubelet starts, so pods of their tags start with no pull (an
	// imagePullPolicy other than Always). One must carry SandboxImage.
	// The provider builds no image: internal/nodeimages makes these, once,
	// before any cluster exists, as kind's users load archives they built.
	ImageArchives []string
}

// Node is a one-node cluster with a real kubelet, containerd and runc, no
// Docker: etcd, the control plane, containerd, the kubelet, kube-proxy and
// the pods all run inside one network namespace and one private mount
// namespace of its own, under a cgroup root of its own. Only the owning
// process reaches the apiserver, through a loopback forwarder; nothing is
// routed off the machine and the host's iptables are never touched.
// Facts and blockers: ../shared/design/real-node.md.
type Node struct {
	name      string // cluster, node, network namespace and cgroup root name
	bin       string
	dir       string
	nodeIP    string
	proxyMode string
	dns       bool
	archives  []string
	timeout   time.Duration

	mu        sync.Mutex
	state     nodeState // what Create has set up so far, for Destroy
	rc        *rest.Config
	steps     []Step
	destroyed bool
}

var _ cluster.Provider = (*Node)(nil)

// New checks the pinned binaries and the Debian programs and creates the
// cluster's work directory; nothing runs until Create.
func New(opts Options) (*Node, error) {
	mode := opts.ProxyMode
	switch mode {
	case "":
		mode = "iptables"
	case "iptables", "nftables":
	default:
		return nil, fmt.Errorf("node cluster: kube-proxy mode %q: want iptables or nftables", mode)
	}
	getenv := os.Getenv
	if opts.ToolsBin != "" {
		getenv = func(k string) string {
			if k == cluster.ToolsBinEnv {
				return opts.ToolsBin
			}
			return os.Getenv(k)
		}
	}
	need := cluster.NodeBinaries
	if opts.DNS {
		need = append(slices.Clip(need), "coredns")
	}
	bin, err := cluster.ToolsBin(getenv, need...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range nodeSystemPrograms {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("node cluster: %v not installed: run `make system-deps` (hack/system-deps.sh)", missing)
	}
	// The images every pod needs must come with it: a cluster that starts
	// without them only fails later, at its first pod.
	images := []string{SandboxImage}
	if opts.DNS {
		images = append(images, dns.Image)
	}
	if err := checkArchives(opts.ImageArchives, images); err != nil {
		return nil, fmt.Errorf("node cluster: %w", err)
	}
	// Clusters whose owner was killed before its Destroy ran go first.
	if _, err := ReapOrphans(context.Background(), opts.TempDir); err != nil {
		return nil, fmt.Errorf("node cluster: %w", err)
	}
	suffix := cluster.RandomSuffix()
	name := "kfpc-node-" + suffix
	dir, err := os.MkdirTemp(opts.TempDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the work directory of node cluster %s: %w", name, err)
	}
	if err := writeOwner(dir, name); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("recording the owner of node cluster %s: %w", name, err)
	}
	n := &Node{
		name: name, bin: bin, dir: dir, proxyMode: mode, dns: opts.DNS, timeout: opts.ReadyTimeout,
		archives: slices.Clone(opts.ImageArchives),
		// 10.200.X.1: a node IP of its own per cluster (X from the name's
		// random suffix), so two clusters' logs and addresses never blur.
		nodeIP: fmt.Sprintf("10.200.%d.1", 1+int(suffix[0])%254),
	}
	if n.timeout == 0 {
		n.timeout = 3 * time.Minute
	}
	return n, nil
}

// Name implements cluster.Provider; it is also the node's, the network namespace's
// and the cgroup root's name.
func (n *Node) Name() string { return n.name }

// Workdir is the cluster's temporary directory; Destroy removes it.
func (n *Node) Workdir() string { return n.dir }

// NodeIP is the node's InternalIP, inside the cluster's network namespace.
func (n *Node) NodeIP() string { return n.nodeIP }

// CgroupRoot is the kubelet's cgroupRoot, created in every cgroup hierarchy.
func (n *Node) CgroupRoot() string { return "/" + n.name }

// LogsDir holds one log file per component, valid until Destroy.
func (n *Node) LogsDir() string { return filepath.Join(n.dir, "logs") }

// KubeconfigPath implements cluster.Provider: an admin kubeconfig that reaches the
// apiserver through the owner's loopback forwarder, valid while it runs.
func (n *Node) KubeconfigPath() string { return filepath.Join(n.dir, "admin.kubeconfig") }

// RESTConfig implements cluster.Provider.
func (n *Node) RESTConfig() *rest.Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rc == nil {
		return nil
	}
	return rest.CopyConfig(n.rc)
}

func (n *Node) path(parts ...string) string {
	return filepath.Join(append([]string{n.dir}, parts...)...)
}

// containerdConfig is containerd 1.6's config (version 2 layout): every
// directory and socket under the work directory, our pause image, and
// restrict_oom_score_adj, without which runc fails in this sandbox (its
// bounding set lacks CAP_SYS_RESOURCE, which lowering oom_score_adj needs).
func (n *Node) containerdConfig() string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return strings.Join([]string{
		`version = 2`,
		`root = ` + q(n.path("containerd", "root")),
		`state = ` + q(n.path("containerd", "state")),
		`[grpc]`,
		`  address = ` + q(n.containerdSocket()),
		`[ttrpc]`,
		`  address = ` + q(n.containerdSocket()+".ttrpc"),
		`[plugins."io.containerd.grpc.v1.cri"]`,
		`  sandbox_image = ` + q(SandboxImage),
		`  restrict_oom_score_adj = true`,
		`  stream_server_address = "127.0.0.1"`,
		`  [plugins."io.containerd.grpc.v1.cri".containerd]`,
		`    snapshotter = "overlayfs"`,
		`    default_runtime_name = "runc"`,
		`    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
		`      runtime_type = "io.containerd.runc.v2"`,
		`      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
		`        SystemdCgroup = false`,
		`        BinaryName = "/usr/sbin/runc"`,
		`  [plugins."io.containerd.grpc.v1.cri".cni]`,
		`    bin_dir = "/usr/lib/cni"`,
		`    conf_dir = ` + q(n.path("cni", "net.d")),
		`    max_conf_num = 1`,
		``,
	}, "\n")
}

func (n *Node) containerdSocket() string { return n.path("containerd", "containerd.sock") }

// cniConfig is a bridge network for the pods: host-local addresses, a
// default route that leads nowhere outside the namespace, no masquerade.
func (n *Node) cniConfig() ([]byte, error) {
	return marshalJSON(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kfpc",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": nodeBridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": n.path("cni", "ipam"),
					"ranges": []any{[]any{map[string]any{"subnet": nodePodCIDR}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	})
}

// kubeletConfig is the KubeletConfiguration; each non-default key is one
// the design note found necessary on this kind of machine.
func (n *Node) kubeletConfig() ([]byte, error) {
	return yaml.Marshal(map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		// The host is cgroup v1 (hybrid); 1.37 refuses v1 unless told.
		"failCgroupV1": false,
		"cgroupDriver": "cgroupfs", // no systemd here
		"cgroupRoot":   n.CgroupRoot(),
		"failSwapOn":   false,
		// With false the kubelet rewrites VM-wide sysctls; with true it only
		// checks them, and the private mount namespace shows it the values
		// it wants (see setupMounts).
		"protectKernelDefaults":    true,
		"podLogsDir":               n.path("kubelet", "pod-logs"),
		"volumePluginDir":          n.path("kubelet", "volume-plugins"),
		"containerRuntimeEndpoint": "unix://" + n.containerdSocket(),
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": n.path("pki", "ca.crt")},
		},
		"authorization":      map[string]any{"mode": "Webhook"},
		"address":            n.nodeIP,
		"readOnlyPort":       0,
		"healthzBindAddress": "127.0.0.1",
		"clusterDNS":         []string{nodeClusterDNS},
		"clusterDomain":      "cluster.local",
		"resolvConf":         n.path("resolv.conf"),
		// A shared disk must not evict the specs' pods.
		"evictionHard": map[string]string{
			"memory.available": "50Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%",
		},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
	})
}

// kubeProxyConfig keeps kube-proxy's hands off every global setting:
// conntrack limits and timeouts stay as they are, and its rules live in the
// cluster's network namespace, where it runs.
func (n *Node) kubeProxyConfig() ([]byte, error) {
	return yaml.Marshal(map[string]any{
		"apiVersion":       "kubeproxy.config.k8s.io/v1alpha1",
		"kind":             "KubeProxyConfiguration",
		"clientConnection": map[string]any{"kubeconfig": n.path("kube-proxy.kubeconfig")},
		"mode":             n.proxyMode,
		"clusterCIDR":      nodePodCIDR,
		"hostnameOverride": n.name,
		// On the node IP (inside the namespace, like everything else), so
		// the apiserver's node proxy reaches the sync metrics: specs wait
		// on them for kube-proxy to have programmed an endpoint change.
		"metricsBindAddress": net.JoinHostPort(n.nodeIP, KubeProxyMetricsPort),
		"healthzBindAddress": "127.0.0.1:10256",
		"conntrack": map[string]any{
			"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
		},
	})
}

// writeFiles writes the PKI, kubeconfigs and every component's config.
func (n *Node) writeFiles() error {
	for _, d := range []string{"logs", "etcd", "kubelet", "cni/net.d", "cni/ipam", "containerd", "images", "flex", "sysctl"} {
		if err := os.MkdirAll(n.path(d), 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	pki, err := newNodePKI(n.path("pki"))
	if err != nil {
		return err
	}
	ip := net.ParseIP(n.nodeIP)
	specs := []certSpec{
		{file: "apiserver", cn: "kube-apiserver", ips: []net.IP{ip, net.ParseIP("127.0.0.1"), net.ParseIP(nodeKubernetes)},
			dnsNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}},
		{file: "admin", cn: "kfpc-admin", orgs: []string{"system:masters"}},
		{file: "node", cn: "system:node:" + n.name, orgs: []string{"system:nodes"}},
		{file: "kube-proxy", cn: "system:kube-proxy"},
		{file: "controller-manager", cn: "system:kube-controller-manager"},
		{file: "scheduler", cn: "system:kube-scheduler"},
	}
	for _, s := range specs {
		if err := pki.issue(s); err != nil {
			return err
		}
	}
	if err := pki.writeServiceAccountKey(); err != nil {
		return err
	}
	// Components reach the apiserver on the namespace's loopback.
	inside := fmt.Sprintf("https://127.0.0.1:%d", nodeAPIPort)
	for file, user := range map[string]string{
		"kubelet.kubeconfig": "node", "kube-proxy.kubeconfig": "kube-proxy",
		"controller-manager.kubeconfig": "controller-manager", "scheduler.kubeconfig": "scheduler",
	} {
		if err := pki.writeKubeconfig(n.path(file), inside, user); err != nil {
			return err
		}
	}
	kubelet, err := n.kubeletConfig()
	if err != nil {
		return err
	}
	proxy, err := n.kubeProxyConfig()
	if err != nil {
		return err
	}
	cni, err := n.cniConfig()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"kubelet.yaml":               kubelet,
		"kube-proxy.yaml":            proxy,
		"cni/net.d/10-kfpc.conflist": cni,
		"containerd/config.toml":     []byte(n.containerdConfig()),
		// No upstream resolver: nothing may leave the machine.
		"resolv.conf": []byte("# kfp-connect node cluster: no upstream DNS\n"),
	}
	// The values the kubelet's protectKernelDefaults wants; bind-mounted over
	// /proc/sys inside the mount namespace only, so the VM keeps its own.
	for k, v := range nodeKernelDefaults() {
		files[filepath.Join("sysctl", filepath.Base(k))] = []byte(v + "\n")
	}
	for f, data := range files {
		if err := os.WriteFile(n.path(f), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", f, err)
		}
	}
	return nil
}

// nodeKernelDefaults are the sysctls (as /proc/sys paths) the kubelet
// would set VM-wide, with the values it insists on.
func nodeKernelDefaults() map[string]string {
	return map[string]string{
		"vm/overcommit_memory": "1",
		"kernel/panic":         "10",
		"kernel/panic_on_oops": "1",
	}
}

func marshalJSON(v any) ([]byte, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rendering JSON: %w", err)
	}
	return out, nil
}

// Step is one step of Create and when it finished, measured from the
// start of Create (hack/bench-cluster prints them).
type Step struct {
	What string
	At   time.Duration
}

// Timings returns the steps Create has finished so far.
func (n *Node) Timings() []Step {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Step(nil), n.steps...)
}
