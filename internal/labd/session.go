// Package labd is `kfp-connect lab`: a lab session (a kwok cluster, KFP
// installed, internal/lab running its pods' programs, ml-pipeline-ui and the
// gateway port-forwarded), its state file, and the background process that
// keeps it up between commands.
package labd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
)

// Options configure a lab session.
type Options struct {
	Name   string // cluster name; also names the state directory
	Mode   kubeflow.Mode
	Source install.Source
	// Port is the local port forwarded to svc/ml-pipeline-ui:80; 0 picks one.
	Port int
	// ReadyTimeout bounds the whole bring-up.
	ReadyTimeout time.Duration
	// Programs are the user's --program IMAGE=PATH binaries (kwok).
	Programs map[string]string
	// Provider is the lab's cluster: ProviderKwok (the default; fake nodes,
	// the install's programs run in place of its pods) or ProviderNode (a
	// real kubelet, containerd and runc: the install's images as real pods).
	Provider string
	// ImageArchives are loaded into a node lab's containerd (a user's own
	// notebook image, the doctor's), besides the install's images.
	ImageArchives []string
}

// The providers a lab runs on.
const (
	ProviderKwok = "kwok"
	ProviderNode = "node"
)

// examplePassword is the Dex password of Kubeflow's example user
// (kubeflow.ExampleUser, in fixtures/kfp/multi-user/80-dex.yaml).
const examplePassword = "12341234"

// DefaultName is the lab's cluster name when none is given.
const DefaultName = "kfp-lab"

// State is what a running lab tells its users; it is written as JSON to the
// state directory once the lab is ready.
type State struct {
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	Mode       string `json:"mode"`
	Source     string `json:"source"`
	PID        int    `json:"pid"`
	Kubeconfig string `json:"kubeconfig"`
	Kubectl    string `json:"kubectl"`
	URL        string `json:"url"`                   // port-forwarded ml-pipeline-ui
	GatewayURL string `json:"gateway_url,omitempty"` // port-forwarded istio-ingressgateway, where the login stack is
	LoginUser  string `json:"login_user,omitempty"`  // a Dex user of the fixtures (its password is in the README, not here)
	Profile    string `json:"profile"`               // a profile namespace, multi-user only
	Workdir    string `json:"workdir"`
	// ProgramsDir holds the real programs' files (volumes, logs); Serve
	// removes it with them.
	ProgramsDir string   `json:"programs_dir"`
	NotHonored  []string `json:"not_honored,omitempty"`
}

// TokenCommand mints a token the way the docs tell a user to.
func (s State) TokenCommand() string {
	if s.Profile == "" {
		return ""
	}
	return fmt.Sprintf("%s --kubeconfig %s -n %s create token %s --audience %s", s.Kubectl, s.Kubeconfig, s.Profile, kubeflow.ProfileEditor, kubeflow.Audience)
}

// StateDir is where a lab named name keeps its state and log.
func StateDir(name string) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "kfp-connect", "lab", name)
}

// Serve brings up a lab — a cluster (kwok: fake nodes, the install's
// programs run in place of its pods; node: a real kubelet, the install's
// images as real pods), KFP installed, ml-pipeline-ui forwarded to a local
// port — calls ready with its state, and keeps it running until ctx ends;
// then it removes everything.
func Serve(ctx context.Context, opts Options, log *slog.Logger, ready func(State) error) (err error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Provider == "" {
		opts.Provider = ProviderKwok
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	objs, err := install.Objects(opts.Source, opts.Mode)
	if err != nil {
		return err
	}
	upCtx, cancelUp := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancelUp()
	var c *labCluster
	switch opts.Provider {
	case ProviderKwok:
		c, err = upKwok(upCtx, opts, objs, log)
	case ProviderNode:
		c, err = upNode(upCtx, opts, objs, log)
	default:
		return fmt.Errorf("lab provider %q: want %s or %s", opts.Provider, ProviderKwok, ProviderNode)
	}
	if c != nil {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			err = errors.Join(err, c.close(dctx))
			log.Info("cluster removed", "name", opts.Name)
		}()
	}
	if err != nil {
		return err
	}
	cfg := c.cfg

	dialer, err := c.dialer(kubeflow.Namespace)
	if err != nil {
		return err
	}
	defer dialer.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.Port))
	if err != nil {
		return fmt.Errorf("listening for the ml-pipeline-ui port-forward: %w (pick another --port)", err)
	}
	fwdCtx, stopFwd := context.WithCancel(ctx)
	defer stopFwd()
	go func() {
		_ = dialer.Forward(fwdCtx, ln, fmt.Sprintf("%s.%s:%d", kubeflow.UIServer, kubeflow.Namespace, kubeflow.UIPort))
	}()
	url := "http://" + ln.Addr().String()
	if err := waitHealthy(upCtx, url); err != nil {
		return err
	}

	state := State{
		Name: opts.Name, Provider: opts.Provider, Mode: string(opts.Mode), Source: string(opts.Source), PID: os.Getpid(),
		Kubeconfig: c.kubeconfig, URL: url, Workdir: c.workdir, ProgramsDir: c.programsDir, NotHonored: c.notHonored,
	}
	if install.Declares(objs, kubeflow.GatewayNamespace, kubeflow.Gateway) {
		// The gateway as a user reaches it: kubectl -n istio-system
		// port-forward svc/istio-ingressgateway 8080:80.
		gln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listening for the gateway's port-forward: %w", err)
		}
		go func() { _ = dialer.Forward(fwdCtx, gln, kubeflow.Gateway+"."+kubeflow.GatewayNamespace+":80") }()
		state.GatewayURL = "http://" + gln.Addr().String()
		if install.Declares(objs, kubeflow.AuthNamespace, kubeflow.Dex) {
			state.LoginUser = kubeflow.ExampleUser
		}
	}
	if bin, err := cluster.ToolsBin(os.Getenv, "kubectl"); err == nil {
		state.Kubectl = filepath.Join(bin, "kubectl")
	}
	if opts.Mode == kubeflow.MultiUser {
		// Our fixtures make a profile; an upstream install has none until
		// someone creates one (the profile controller does not run here).
		if kc, err := kubernetes.NewForConfig(cfg); err == nil {
			if _, err := kc.CoreV1().Namespaces().Get(upCtx, kubeflow.ExampleProfile, metav1.GetOptions{}); err == nil {
				state.Profile = kubeflow.ExampleProfile
			}
		}
	}
	log.Info("lab ready", "url", url, "kubeconfig", state.Kubeconfig)
	if err := ready(state); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping lab")
	return nil
}

// labCluster is a lab's cluster with KFP installed and serving.
type labCluster struct {
	cfg                              *rest.Config
	kubeconfig, workdir, programsDir string
	// notHonored is what of the install the lab could not honour.
	notHonored []string
	// close removes the cluster and what runs for it; it is set whenever
	// anything was created, also when bringing it up failed.
	close func(context.Context) error
	// runtime runs the install's programs, on kwok.
	runtime *lab.Runtime
}

// dialer is what the lab's port-forwards dial through: on kwok the
// programs' own view of the cluster (no API request per connection, as
// kubectl port-forward makes none), elsewhere the API server's answers.
func (c *labCluster) dialer(namespace string) (*svcdial.Dialer, error) {
	if c.runtime != nil {
		return c.runtime.View().Dialer(namespace)
	}
	return svcdial.New(c.cfg, namespace)
}

// upKwok brings up a kwok cluster with the install's programs running in
// place of its pods (InstallAndRun).
func upKwok(ctx context.Context, opts Options, objs []*unstructured.Unstructured, log *slog.Logger) (*labCluster, error) {
	kw, err := kwok.New(kwok.Options{Name: opts.Name})
	if err != nil {
		return nil, err
	}
	c := &labCluster{kubeconfig: "", workdir: kw.Workdir()}
	var rt *lab.Runtime
	c.close = func(ctx context.Context) error {
		if rt != nil {
			rt.Close()
		}
		return kw.Destroy(ctx)
	}
	log.Info("creating cluster", "name", opts.Name, "provider", ProviderKwok)
	if err := kw.Create(ctx); err != nil {
		return c, err
	}
	c.cfg, c.kubeconfig = kw.RESTConfig(), kw.KubeconfigPath()
	log.Info("installing KFP", "mode", opts.Mode, "source", opts.Source, "objects", len(objs))
	bins, err := lab.DefaultBinaries()
	if err != nil {
		return c, err
	}
	bins.ByImage = opts.Programs
	var res *manifests.Result
	if rt, res, err = lab.InstallAndRun(ctx, c.cfg, objs, lab.Programs(bins), log); err != nil {
		return c, err
	}
	c.programsDir, c.runtime = rt.Dir(), rt
	for _, n := range append(res.Skipped, res.Changed...) {
		c.notHonored = append(c.notHonored, n.String())
	}
	return c, nil
}

// waitHealthy polls the UI's healthz through the forward until it says the
// API server is ready: the first forwards of a fresh cluster can fail.
func waitHealthy(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/apis/v1beta1/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		var h struct {
			Ready *bool `json:"apiServerReady"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil || h.Ready == nil || !*h.Ready {
			last = fmt.Sprintf("healthz HTTP %d, apiServerReady %v", resp.StatusCode, h.Ready)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("ml-pipeline-ui did not become healthy through %s (last: %s): %w", url, last, err)
	}
	return nil
}

// WriteState writes the state file atomically.
func WriteState(dir string, s State) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

// ReadState reads a lab's state file; os.ErrNotExist when it is not up.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("lab state %s is damaged: %w (remove the directory)", dir, err)
	}
	return s, nil
}

// Env renders the state as shell assignments, for scripts.
func (s State) Env() string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"KFP_LAB_URL", s.URL}, {"KFP_LAB_KUBECONFIG", s.Kubeconfig}, {"KFP_LAB_KUBECTL", s.Kubectl},
		{"KFP_LAB_PROFILE", s.Profile}, {"KFP_LAB_MODE", s.Mode},
		{"KFP_LAB_GATEWAY_URL", s.GatewayURL}, {"KFP_LAB_LOGIN_USER", s.LoginUser},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

func shellQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }

// Summary is what `lab up` prints.
func (s State) Summary() string {
	var b strings.Builder
	provider := s.Provider
	if provider == "" {
		provider = ProviderKwok
	}
	fmt.Fprintf(&b, "KFP lab %q is up (%s, %s install, on %s)\n", s.Name, s.Mode, s.Source, provider)
	fmt.Fprintf(&b, "  kubeconfig:  %s\n", s.Kubeconfig)
	fmt.Fprintf(&b, "  KFP (ml-pipeline-ui, port-forwarded): %s\n", s.URL)
	if cmd := s.TokenCommand(); cmd != "" {
		fmt.Fprintf(&b, "  a token:     %s\n", cmd)
		fmt.Fprintf(&b, "  try:         kfp-doctor --host %s -n %s --token-file <(%s)\n", s.URL, s.Profile, cmd)
	} else if s.Mode == string(kubeflow.MultiUser) {
		fmt.Fprintf(&b, "  no profile namespace: create one with a ServiceAccount bound to kubeflow-edit, then mint its token\n")
	} else {
		fmt.Fprintf(&b, "  try:         kfp-doctor --host %s\n", s.URL)
	}
	if s.GatewayURL != "" {
		fmt.Fprintf(&b, "  gateway (istio-ingressgateway, port-forwarded): %s  (KFP at %s/pipeline)\n", s.GatewayURL, s.GatewayURL)
	}
	if s.LoginUser != "" {
		fmt.Fprintf(&b, "  log in:      %s / %s through Dex (static password; the LDAP directory has ldap-user@example.com, the same password)\n", s.LoginUser, examplePassword)
		fmt.Fprintf(&b, "  try:         KFP_DOCTOR_PASSWORD=%s kfp-doctor --host %s --username %s -n %s\n", examplePassword, s.GatewayURL, s.LoginUser, s.Profile)
	}
	if len(s.NotHonored) > 0 {
		fmt.Fprintf(&b, "  not honoured by the lab (%d objects): see %s\n", len(s.NotHonored), "state.json")
	}
	if provider == ProviderNode {
		fmt.Fprintf(&b, "  your image:  kfp-connect lab load-image --name %s IMAGE.tar  (pods run it with imagePullPolicy IfNotPresent)\n", s.Name)
	}
	fmt.Fprintf(&b, "  stop it:     kfp-connect lab down --name %s\n", s.Name)
	return b.String()
}
