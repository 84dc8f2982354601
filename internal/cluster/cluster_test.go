package cluster

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kfp-connect/kfp-connect/kindconfigs"
)

func TestToolsBinDir(t *testing.T) {
	pinned := "kfp-connect/k8s-v1.37.2-etcd-v3.7.3-kwok-v0.8.0/bin"
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"explicit env wins", map[string]string{ToolsBinEnv: "/opt/t", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/opt/t", false},
		{"XDG cache", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/" + pinned, false},
		{"home cache", map[string]string{"HOME": "/h"}, "/h/.cache/" + pinned, false},
		{"nothing set", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToolsBinDir(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ToolsBinDir = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The pinned versions are spelled in two places; a bump in one only would
// silently look for binaries that were never built.
func TestToolsVersionsMatchBuildScript(t *testing.T) {
	script, err := os.ReadFile("../../tools/versions.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"K8S_VERSION=" + k8sVersion, "ETCD_VERSION=" + etcdVersion, "KWOK_VERSION=" + kwokVersion} {
		if !strings.Contains(string(script), "\n"+line+"\n") {
			t.Errorf("tools/versions.env (read by tools/build.sh) does not pin %s", line)
		}
	}
}

func TestToolsBinNamesMissingAndMakeTools(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kwokctl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == ToolsBinEnv {
			return dir
		}
		return ""
	}
	if _, err := ToolsBin(env, "kwokctl"); err != nil {
		t.Fatalf("kwokctl present: %v", err)
	}
	_, err := ToolsBin(env, "kwokctl", "etcd", "kube-apiserver")
	if !errors.Is(err, ErrToolsMissing) {
		t.Fatalf("want ErrToolsMissing, got %v", err)
	}
	for _, want := range []string{"make tools", "etcd", "kube-apiserver"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "kwokctl") {
		t.Errorf("error %q blames a binary that is present", err)
	}
}

// Every file in kindconfigs/ must load the way kind loads it.
func TestKindConfigsLoad(t *testing.T) {
	files, err := fs.Glob(kindconfigs.FS, "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kind configurations: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := fs.ReadFile(kindconfigs.FS, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseKindConfig(data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKindConfigMultiUserPublishesGateway(t *testing.T) {
	data, err := fs.ReadFile(kindconfigs.FS, "multi-user.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseKindConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cfg.Nodes {
		for _, pm := range n.ExtraPortMappings {
			if pm.ContainerPort == 30080 && pm.HostPort == 8080 {
				return
			}
		}
	}
	t.Fatal("multi-user.yaml does not map the gateway NodePort 30080 to host port 8080")
}

func TestParseKindConfigRejects(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapping: []\n", "extraPortMapping"},
		{"wrong apiVersion", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", "v1alpha4"},
		{"bad role", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: master\n", "not a valid role"},
		{"no control plane", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n", "control-plane"},
		{"port out of range", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 70000}\n", "-1..65535"},
		{"bad listen address", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 8080, listenAddress: localhost}\n", "listen address"},
		{"host port twice", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 8080, listenAddress: 127.0.0.1}\n  - {containerPort: 30081, hostPort: 8080}\n", "bound twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKindConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error mentioning %q, got %v", tt.want, err)
			}
		})
	}
}

func TestReadManifests(t *testing.T) {
	fsys := fstest.MapFS{
		"b/20-roles.yaml": {Data: []byte("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: second}\n---\n# only a comment\n---\n")},
		"10-ns.yml":       {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n")},
		"README.md":       {Data: []byte("not a manifest")},
	}
	objs, err := ReadManifests(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	if got := strings.Join(names, ","); got != "first,second" {
		t.Fatalf("objects in order %q, want first,second", got)
	}

	_, err = ReadManifests(fstest.MapFS{"x.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\n")}})
	if err == nil || !strings.Contains(err.Error(), "x.yaml: document 1") {
		t.Fatalf("want an error naming the file and document, got %v", err)
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"running", "Name:\tetcd\nVmPeak:\t 100 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n", 51234, false},
		{"zombie has none", "Name:\tx\nState:\tZ (zombie)\n", 0, false},
		{"garbled", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(strings.NewReader(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

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
		seen[p] = true
	}
}

func TestProcessesMentioningRefusesEmpty(t *testing.T) {
	if _, err := ProcessesMentioning(""); err == nil {
		t.Fatal("an empty pattern would match, and let us kill, every process")
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

func TestExistingNamesTheMissingKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent-kubeconfig")
	e := NewExisting(path, "")
	err := e.Create(t.Context())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("want an error naming %s, got %v", path, err)
	}
	if e.KubeconfigPath() != path || e.RESTConfig() != nil {
		t.Fatalf("path %q, config %v after a failed Create", e.KubeconfigPath(), e.RESTConfig())
	}
	if err := e.Destroy(t.Context()); err != nil {
		t.Fatalf("Destroy of a cluster we never made: %v", err)
	}
}

func TestWaitExitedSeesOwnProcessRunning(t *testing.T) {
	self := []Process{{PID: os.Getpid()}}
	if err := WaitExited(t.Context(), self, 50*time.Millisecond); err == nil {
		t.Fatal("this very process counted as exited")
	}
	if err := WaitExited(t.Context(), []Process{{PID: 1 << 30}}, time.Second); err != nil {
		t.Fatalf("a pid that cannot exist counted as running: %v", err)
	}
}
