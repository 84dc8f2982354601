package node

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/internal/cluster/node/dns"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

// testNode is a Node with a work directory and no process, for the
// renderings; NewNode would require the tools and Debian packages.
func testNode(t *testing.T) *Node {
	t.Helper()
	return &Node{name: "kfpc-node-0a1b2c3d", dir: t.TempDir(), nodeIP: "10.200.7.1", proxyMode: "iptables"}
}

func TestNodeKubeletConfig(t *testing.T) {
	n := testNode(t)
	raw, err := n.kubeletConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	// Each is a blocker of real-node.md: without it the kubelet exits, or
	// rewrites VM-wide sysctls, or leaves the cluster's own cgroup.
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"failCgroupV1", false},
		{"protectKernelDefaults", true},
		{"cgroupDriver", "cgroupfs"},
		{"cgroupRoot", "/kfpc-node-0a1b2c3d"},
		{"address", "10.200.7.1"},
		{"readOnlyPort", float64(0)},
		{"containerRuntimeEndpoint", "unix://" + filepath.Join(n.dir, "containerd", "containerd.sock")},
		{"resolvConf", filepath.Join(n.dir, "resolv.conf")},
	} {
		if got := cfg[tc.key]; got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, got, tc.want)
		}
	}
	for _, key := range []string{"podLogsDir", "volumePluginDir"} {
		if v, _ := cfg[key].(string); !strings.HasPrefix(v, n.dir) {
			t.Errorf("%s = %q is outside the work directory", key, v)
		}
	}
}

func TestNodeKubeProxyConfig(t *testing.T) {
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run(mode, func(t *testing.T) {
			n := testNode(t)
			n.proxyMode = mode
			raw, err := n.kubeProxyConfig()
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Mode, ClusterCIDR, HostnameOverride    string
				MetricsBindAddress, HealthzBindAddress string
				Conntrack                              struct{ MaxPerCore *int32 }
			}
			if err := yaml.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Mode != mode || cfg.ClusterCIDR != nodePodCIDR || cfg.HostnameOverride != n.name {
				t.Errorf("mode %q cidr %q hostname %q", cfg.Mode, cfg.ClusterCIDR, cfg.HostnameOverride)
			}
			// 0 leaves the VM-wide conntrack limit alone; absent would set it.
			if cfg.Conntrack.MaxPerCore == nil || *cfg.Conntrack.MaxPerCore != 0 {
				t.Errorf("conntrack.maxPerCore = %v, want 0", cfg.Conntrack.MaxPerCore)
			}
			if !strings.HasPrefix(cfg.HealthzBindAddress, "127.0.0.1:") {
				t.Errorf("kube-proxy's healthz listens on %q, want loopback", cfg.HealthzBindAddress)
			}
			// The metrics on the node IP, which exists only inside the
			// cluster's namespace: the apiserver's node proxy reads them.
			if want := n.nodeIP + ":" + KubeProxyMetricsPort; cfg.MetricsBindAddress != want {
				t.Errorf("kube-proxy's metrics listen on %q, want %q", cfg.MetricsBindAddress, want)
			}
		})
	}
}

func TestNodeContainerdAndCNIConfig(t *testing.T) {
	n := testNode(t)
	toml := n.containerdConfig()
	for _, want := range []string{
		`version = 2`,
		`sandbox_image = "kfpc.local/pause:3.10"`,
		// Without it runc cannot lower oom_score_adj in this sandbox.
		`restrict_oom_score_adj = true`,
		`address = "` + n.containerdSocket() + `"`,
		`root = "` + filepath.Join(n.dir, "containerd", "root") + `"`,
		`conf_dir = "` + filepath.Join(n.dir, "cni", "net.d") + `"`,
		`BinaryName = "/usr/sbin/runc"`,
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("containerd config lacks %s:\n%s", want, toml)
		}
	}
	raw, err := n.cniConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cni struct {
		Plugins []struct {
			Type   string
			IPMasq *bool `json:"ipMasq"`
			IPAM   struct {
				DataDir string `json:"dataDir"`
			}
		}
	}
	if err := json.Unmarshal(raw, &cni); err != nil {
		t.Fatal(err)
	}
	if len(cni.Plugins) != 2 || cni.Plugins[0].Type != "bridge" || cni.Plugins[1].Type != "portmap" {
		t.Fatalf("CNI chain %s, want bridge, portmap", raw)
	}
	// No masquerade: nothing is to leave the namespace.
	if m := cni.Plugins[0].IPMasq; m == nil || *m {
		t.Errorf("bridge ipMasq = %v, want false", m)
	}
	if !strings.HasPrefix(cni.Plugins[0].IPAM.DataDir, n.dir) {
		t.Errorf("host-local dataDir %q outside the work directory", cni.Plugins[0].IPAM.DataDir)
	}
}

func TestNodeWriteFilesPKI(t *testing.T) {
	n := testNode(t)
	if err := n.writeFiles(); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(n.path("pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	read := func(file string) *x509.Certificate {
		raw, err := os.ReadFile(n.path("pki", file+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		file, cn, org string
		usage         x509.ExtKeyUsage
	}{
		{"apiserver", "kube-apiserver", "", x509.ExtKeyUsageServerAuth},
		{"admin", "kfpc-admin", "system:masters", x509.ExtKeyUsageClientAuth},
		// NodeRestriction knows the kubelet by exactly this name and group.
		{"node", "system:node:kfpc-node-0a1b2c3d", "system:nodes", x509.ExtKeyUsageClientAuth},
		{"kube-proxy", "system:kube-proxy", "", x509.ExtKeyUsageClientAuth},
	} {
		c := read(tc.file)
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not verify against the CA for %v: %v", tc.file, tc.usage, err)
		}
		if c.Subject.CommonName != tc.cn || (tc.org != "" && (len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != tc.org)) {
			t.Errorf("%s: subject %v, want CN %s O %s", tc.file, c.Subject, tc.cn, tc.org)
		}
	}
	// Pods reach the apiserver at the kubernetes Service's IP and the
	// components at the namespace's loopback, both as names and IPs.
	api := read("apiserver")
	for _, host := range []string{"10.96.0.1", "127.0.0.1", "10.200.7.1", "kubernetes.default.svc"} {
		if err := api.VerifyHostname(host); err != nil {
			t.Errorf("apiserver certificate: %v", err)
		}
	}
	for base, want := range nodeKernelDefaults() {
		got, err := os.ReadFile(n.path("sysctl", filepath.Base(base)))
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("sysctl file for %s = %q (%v), want %s", base, got, err, want)
		}
	}
}

func TestParseCgroupMounts(t *testing.T) {
	hybrid := strings.Join([]string{
		"25 1 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
		"26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
		"27 25 0:24 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
		"28 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory",
		"29 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
		"30 1 0:27 / /proc rw - proc proc rw",
	}, "\n")
	got, err := parseCgroupMounts(strings.NewReader(hybrid))
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupMount{
		{"/sys/fs/cgroup/cpu", false}, {"/sys/fs/cgroup/cpuset", true},
		{"/sys/fs/cgroup/memory", false}, {"/sys/fs/cgroup/unified", false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestNewNodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no tools", Options{ToolsBin: t.TempDir()}, "make tools"},
		{"unknown proxy mode", Options{ToolsBin: t.TempDir(), ProxyMode: "ipvs"}, `kube-proxy mode "ipvs"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// The kube-dns manifests must match what the kubelet and the image build
// assume: the clusterDNS address and the locally built, never pulled image.
func TestNodeDNSManifests(t *testing.T) {
	objs, err := manifests.Read(dns.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	var ip, image, pull string
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			ip, _, _ = unstructured.NestedString(o.Object, "spec", "clusterIP")
		case "Deployment":
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(cs) == 1 {
				c, _ := cs[0].(map[string]any)
				image, _ = c["image"].(string)
				pull, _ = c["imagePullPolicy"].(string)
			}
		}
	}
	if ip != nodeClusterDNS {
		t.Errorf("kube-dns clusterIP %q, want the kubelet's clusterDNS %s", ip, nodeClusterDNS)
	}
	if image != dns.Image || pull != "Never" {
		t.Errorf("CoreDNS image %q pull %q, want %s, Never", image, pull, dns.Image)
	}
}
