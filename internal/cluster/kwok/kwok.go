package kwok

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/support"
	e2ekwok "sigs.k8s.io/e2e-framework/support/kwok"
	"sigs.k8s.io/yaml"
)

// Options configures a kwok cluster.
type Options struct {
	// Name of the cluster; empty picks a unique kfpc-<random> so suites can
	// run side by side.
	Name string
	// ToolsBin is the directory of the pinned binaries; empty uses cluster.ToolsBin(os.Getenv).
	ToolsBin string
	// TempDir is where the cluster's work directory is created; empty is os.TempDir().
	TempDir string
	// ReadyTimeout bounds Create's wait for readiness; zero means 2 minutes.
	ReadyTimeout time.Duration
}

// Kwok is a cluster of the real kube-apiserver, kube-controller-manager,
// kube-scheduler and etcd, plus kwok's fake nodes, run as local processes by
// kwokctl's binary runtime. It needs no container runtime.
type Kwok struct {
	name     string
	bin      string
	workdir  string
	timeout  time.Duration
	provider support.E2EClusterProvider

	mu        sync.Mutex
	kubecfg   string
	rc        *rest.Config
	destroyed bool
}

var _ cluster.Provider = (*Kwok)(nil)

// NewKwok checks the pinned binaries and prepares the cluster's work
// directory; nothing runs until Create.
func New(opts Options) (*Kwok, error) {
	getenv := os.Getenv
	if opts.ToolsBin != "" {
		getenv = func(k string) string {
			if k == cluster.ToolsBinEnv {
				return opts.ToolsBin
			}
			return os.Getenv(k)
		}
	}
	bin, err := cluster.ToolsBin(getenv, cluster.KwokBinaries...)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "kfpc-" + cluster.RandomSuffix()
	}
	workdir, err := os.MkdirTemp(opts.TempDir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the work directory of kwok cluster %s: %w", name, err)
	}
	k := &Kwok{name: name, bin: bin, workdir: workdir, timeout: opts.ReadyTimeout}
	if k.timeout == 0 {
		k.timeout = 2 * time.Minute
	}
	if err := k.writeFiles(); err != nil {
		_ = os.RemoveAll(workdir)
		return nil, err
	}
	// e2e-framework's provider runs kwokctl through a command string with the
	// inherited environment and has no way to pass KWOK_WORKDIR per cluster;
	// setting it process-wide would break two clusters in one process. A
	// wrapper script that sets it and execs our kwokctl keeps it per cluster,
	// and WithPath also stops the provider from `go install`ing an old kwokctl.
	k.provider = e2ekwok.NewProvider().WithName(name).WithOpts(e2ekwok.WithPath(k.kwokctl()), e2ekwok.WithWaitDuration(k.timeout))
	return k, nil
}

// Name implements cluster.Provider.
func (k *Kwok) Name() string { return k.name }

// Workdir is the cluster's temporary directory; every process of the cluster
// mentions it on its command line and Destroy removes it.
func (k *Kwok) Workdir() string { return k.workdir }

// KubeconfigPath implements cluster.Provider.
func (k *Kwok) KubeconfigPath() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kubecfg
}

// RESTConfig implements cluster.Provider.
func (k *Kwok) RESTConfig() *rest.Config {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rc == nil {
		return nil
	}
	return rest.CopyConfig(k.rc)
}

// APIServerAddress is host:port of the kube-apiserver, valid after Create.
func (k *Kwok) APIServerAddress() (string, error) {
	rc := k.RESTConfig()
	if rc == nil {
		return "", errors.New("cluster not created")
	}
	u, err := url.Parse(rc.Host)
	if err != nil {
		return "", fmt.Errorf("parsing apiserver URL %q: %w", rc.Host, err)
	}
	return u.Host, nil
}

func (k *Kwok) kwokctl() string    { return filepath.Join(k.workdir, "kwokctl") }
func (k *Kwok) configPath() string { return filepath.Join(k.workdir, "kwokctl.yaml") }

// writeFiles writes the kwokctl configuration and the wrapper script.
func (k *Kwok) writeFiles() error {
	ports, err := freePorts(len(kwokPortOptions))
	if err != nil {
		return err
	}
	cfg, err := kwokctlConfig(k.bin, ports)
	if err != nil {
		return err
	}
	if err := os.WriteFile(k.configPath(), cfg, 0o600); err != nil {
		return fmt.Errorf("writing kwokctl configuration: %w", err)
	}
	// kwokctl also adds the cluster to $KUBECONFIG (default ~/.kube/config),
	// making it the user's current context, and caches discovery under
	// $HOME/.kube/cache; and concurrent creates contend for that file's lock
	// (measured). Point both into the work directory.
	home := filepath.Join(k.workdir, "home")
	script := fmt.Sprintf("#!/bin/sh\nKWOK_WORKDIR=%s\nHOME=%s\nKUBECONFIG=%s\nexport KWOK_WORKDIR HOME KUBECONFIG\nexec %s \"$@\"\n",
		cluster.ShellQuote(filepath.Join(k.workdir, "kwok")), cluster.ShellQuote(home),
		cluster.ShellQuote(filepath.Join(home, ".kube", "config")), cluster.ShellQuote(filepath.Join(k.bin, "kwokctl")))
	if err := os.WriteFile(k.kwokctl(), []byte(script), 0o700); err != nil {
		return fmt.Errorf("writing kwokctl wrapper: %w", err)
	}
	return nil
}

// kwokPortOptions are the KwokctlConfiguration options of every port the
// binary runtime listens on.
var kwokPortOptions = []string{
	"kubeApiserverPort", "etcdPort", "etcdPeerPort", "kubeControllerManagerPort", "kubeSchedulerPort", "kwokControllerPort",
}

// freePorts returns n distinct loopback ports free now, below the kernel's
// ephemeral range. kwokctl picks unset ports by counting down from 32767
// and taking the first one not in use, so two clusters created at the same
// moment pick the same ports and one of them never starts (measured). The
// ports are free only until kwok's processes bind them, a second or more
// later: a port from the ephemeral range (a listener on :0) can meanwhile
// become the source port of any outgoing connection on the machine, which
// the matrix makes by the hundred (measured: etcd's "bind: address already
// in use", the cluster never ready), while no connection is given a port
// below that range. Random choice keeps concurrent creates apart.
func freePorts(n int) ([]int, error) {
	low := ephemeralLow()
	const floor = 10000
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("finding %d free ports between %d and %d for the kwok cluster: only %d after %d tries", n, floor, low, len(ports), tries)
		}
		// Holding every listener until all are chosen keeps them distinct.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", floor+rand.IntN(low-floor)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is where the kernel's ephemeral ports begin (Linux's
// net.ipv4.ip_local_port_range), 32768 where it cannot be read or leaves
// too little below it.
func ephemeralLow() int {
	const fallback = 32768
	f, err := os.Open("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64)) // two numbers
	if err != nil {
		return fallback
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return fallback
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low < 20000 {
		return fallback
	}
	return low
}

// A kwok cluster's address ranges: the apiserver's default Service range
// (its first address the kubernetes Service's), and pods apart from it.
const (
	ServiceCIDR         = "10.0.0.0/24"
	KubernetesServiceIP = "10.0.0.1"
	PodCIDR             = "10.244.0.0/24"
)

// kwokctlConfig renders the KwokctlConfiguration: binary runtime, loopback
// only, every binary a local path (so kwokctl downloads nothing), our own
// ports (one per kwokPortOptions entry), and the port-forward CRDs the suites
// use to reach local servers through pods.
func kwokctlConfig(bin string, ports []int) ([]byte, error) {
	if len(ports) != len(kwokPortOptions) {
		return nil, fmt.Errorf("kwokctl configuration: %d ports for %d port options", len(ports), len(kwokPortOptions))
	}
	b := func(n string) string { return filepath.Join(bin, n) }
	options := map[string]any{
		"runtime":                     "binary",
		"bindAddress":                 "127.0.0.1",
		"kubeApiserverBinary":         b("kube-apiserver"),
		"kubeControllerManagerBinary": b("kube-controller-manager"),
		"kubeSchedulerBinary":         b("kube-scheduler"),
		"kubectlBinary":               b("kubectl"),
		"etcdBinary":                  b("etcd"),
		"kwokControllerBinary":        b("kwok"),
		"enableCRDs":                  []string{"PortForward", "ClusterPortForward"},
		// A pod's in-cluster config dials the kubernetes Service's cluster
		// IP (the lab's pod processes do): the serving certificate must
		// name it.
		"kubeApiserverCertSANs": []string{KubernetesServiceIP},
	}
	for i, opt := range kwokPortOptions {
		options[opt] = ports[i]
	}
	doc := map[string]any{
		"apiVersion": "config.kwok.x-k8s.io/v1alpha1",
		"kind":       "KwokctlConfiguration",
		"options":    options,
		"componentsPatches": []any{
			map[string]any{
				"name": "kube-apiserver",
				// Bound to loopback only, the apiserver would publish a
				// loopback or host address in the kubernetes Endpoints;
				// nothing in a kwok cluster routes to it, so skip that.
				"extraArgs": []any{
					map[string]any{"key": "endpoint-reconciler-type", "value": "none"},
					map[string]any{"key": "service-cluster-ip-range", "value": ServiceCIDR},
				},
			},
			map[string]any{
				"name": "etcd",
				// A throw-away cluster's store need not survive a crash:
				// without an fsync per write, clusters side by side (the
				// matrix runs four) stop queueing on the disk, as the
				// node provider's etcd does not either.
				"extraArgs": []any{
					map[string]any{"key": "unsafe-no-fsync", "value": "true"},
				},
			},
		},
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rendering kwokctl configuration: %w", err)
	}
	return out, nil
}

// Create implements cluster.Provider: it creates (or reuses) the cluster, adds one
// fake node and waits until the apiserver, the node and the default
// ServiceAccount are ready.
func (k *Kwok) Create(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	kubecfg, err := k.provider.CreateWithConfig(ctx, k.configPath())
	k.mu.Lock()
	if kubecfg == "" {
		kubecfg = k.provider.GetKubeconfig() // so Destroy removes a half-written file too
	}
	k.kubecfg = kubecfg
	k.mu.Unlock()
	if err != nil {
		return fmt.Errorf("creating kwok cluster %s: %w%s", k.name, err, k.logTails(20))
	}
	rc := k.provider.KubernetesRestConfig()
	if rc == nil {
		return fmt.Errorf("kwok cluster %s: provider returned no client config", k.name)
	}
	rc = rest.CopyConfig(rc)
	// The suites issue bursts of small requests; client-side throttling would
	// only slow them, and a hung call must not hang a suite.
	rc.QPS, rc.Burst, rc.Timeout = 200, 400, 30*time.Second
	k.mu.Lock()
	k.rc = rc
	k.mu.Unlock()

	if err := k.scaleNodes(ctx, 1); err != nil {
		return err
	}
	if err := cluster.WaitReady(ctx, rc, true); err != nil {
		return fmt.Errorf("kwok cluster %s not ready: %w%s", k.name, err, k.logTails(20))
	}
	return nil
}

// LogsDir is where the cluster's components write their logs, valid until
// Destroy.
func (k *Kwok) LogsDir() string {
	return filepath.Join(k.workdir, "kwok", "clusters", k.name, "logs")
}

// logTails is LogTails of this cluster, for errors: Destroy removes the
// work directory, so pointing at the files would not do.
func (k *Kwok) logTails(n int) string { return cluster.LogTails(k.LogsDir(), n) }

// scaleNodes sets the number of fake nodes; kwokctl creates none by itself.
func (k *Kwok) scaleNodes(ctx context.Context, n int) error {
	// kwok gives pods IPs of their node's podCIDR, by default the
	// apiserver's default Service range; a pod's address must be no
	// Service's, as in any cluster (the lab gives pod processes their
	// pod's IP).
	out, err := k.run(ctx, "scale", "node", "--name", k.name, "--replicas", fmt.Sprint(n),
		"--param", fmt.Sprintf(".podCIDRs=[%q]", PodCIDR))
	if err != nil {
		return fmt.Errorf("adding %d fake node(s) to kwok cluster %s: %w: %s", n, k.name, err, out)
	}
	return nil
}

// run executes our kwokctl wrapper directly, for what the e2e-framework
// provider has no method for.
func (k *Kwok) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, k.kwokctl(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return bytes.TrimSpace(out.Bytes()), err
}

// Destroy implements cluster.Provider. It asks kwokctl to delete the cluster, then
// kills whatever process still mentions the work directory (kwokctl may have
// been interrupted half-way through create) and removes every file.
func (k *Kwok) Destroy(ctx context.Context) error {
	k.mu.Lock()
	if k.destroyed {
		k.mu.Unlock()
		return nil
	}
	k.destroyed = true
	kubecfg := k.kubecfg
	k.mu.Unlock()

	// Clean-up often runs because ctx was cancelled (Ctrl-C): it must still
	// happen, within a bound of its own.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Remembered before kwokctl stops them, to wait until their sockets are
	// closed: a returned Destroy means the ports are free.
	before, _ := procs.Mentioning(k.workdir)
	var deleteErr error
	if _, err := os.Stat(filepath.Join(k.workdir, "kwok", "clusters", k.name)); err == nil {
		if err := k.provider.Destroy(dctx); err != nil {
			deleteErr = fmt.Errorf("kwokctl delete cluster %s: %w", k.name, err)
		}
	}
	var errs []error
	if err := procs.KillMentioning(dctx, k.workdir, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := procs.WaitExited(dctx, before, 10*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("kwok cluster %s: %w", k.name, err))
	}
	for _, p := range []string{kubecfg, k.workdir} {
		if p == "" {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	// A failed `kwokctl delete` matters only if the sweep after it could not
	// stop every process either.
	if len(errs) > 0 && deleteErr != nil {
		errs = append(errs, deleteErr)
	}
	return errors.Join(errs...)
}
