package kwok

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestKwokctlConfig(t *testing.T) {
	ports := []int{40001, 40002, 40003, 40004, 40005, 40006}
	out, err := kwokctlConfig("/tools/bin", ports)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind    string         `json:"kind"`
		Options map[string]any `json:"options"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "KwokctlConfiguration" || doc.Options["runtime"] != "binary" || doc.Options["bindAddress"] != "127.0.0.1" {
		t.Fatalf("unexpected configuration:\n%s", out)
	}
	for key, bin := range map[string]string{
		"kubeApiserverBinary": "kube-apiserver", "kubeControllerManagerBinary": "kube-controller-manager",
		"kubeSchedulerBinary": "kube-scheduler", "kubectlBinary": "kubectl", "etcdBinary": "etcd", "kwokControllerBinary": "kwok",
	} {
		if got := doc.Options[key]; got != "/tools/bin/"+bin {
			t.Errorf("%s = %v, want a local path to %s so kwokctl downloads nothing", key, got, bin)
		}
	}
	// Every port is ours, so kwokctl's deterministic choice cannot make two
	// clusters created at once collide.
	for i, opt := range kwokPortOptions {
		if got := doc.Options[opt]; got != float64(ports[i]) {
			t.Errorf("%s = %v, want %d", opt, got, ports[i])
		}
	}
	if _, err := kwokctlConfig("/tools/bin", ports[:2]); err == nil {
		t.Error("too few ports accepted")
	}
	// The Service range is known, and the kubernetes Service's address is
	// one the apiserver's certificate names.
	for _, want := range []string{"service-cluster-ip-range", ServiceCIDR, "kubeApiserverCertSANs", KubernetesServiceIP} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the configuration lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "api-audiences") {
		t.Error("extra API audiences would let default-audience tokens pass as pipelines.kubeflow.org")
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(len(kwokPortOptions))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v not distinct and positive", ports)
		}
		// No outgoing connection is given a port below the ephemeral
		// range, so none takes one before kwok's processes bind it.
		if p >= ephemeralLow() {
			t.Errorf("port %d is in the ephemeral range (from %d)", p, ephemeralLow())
		}
		seen[p] = true
	}
}

func TestKwokLogTails(t *testing.T) {
	k := &Kwok{name: "c", workdir: t.TempDir()}
	if got := k.logTails(2); got != "" {
		t.Fatalf("no logs yet, got %q", got)
	}
	dir := filepath.Join(k.workdir, "kwok", "clusters", "c", "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd.log"), []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := k.logTails(2)
	if !strings.Contains(got, "etcd.log:\ntwo\nthree") || strings.Contains(got, "one") {
		t.Fatalf("want the last two lines of etcd.log, got %q", got)
	}
}
