package lab

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
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
)

// Options configure a lab session.
type Options struct {
	Name   string // cluster name; also names the state directory
	Mode   install.Mode
	Source install.Source
	// Port is the local port forwarded to svc/ml-pipeline-ui:80; 0 picks one.
	Port int
	// ReadyTimeout bounds the whole bring-up.
	ReadyTimeout time.Duration
	// Programs are the user's --program IMAGE=PATH binaries.
	Programs map[string]string
}

// exampleProfile is the profile namespace of Kubeflow's example user, and
// exampleUser and examplePassword that user's Dex login (Kubeflow's example,
// in fixtures/kfp/multi-user/80-dex.yaml).
const (
	exampleProfile  = "kubeflow-user-example-com"
	exampleUser     = "user@example.com"
	examplePassword = "12341234"
)

// DefaultName is the lab's cluster name when none is given.
const DefaultName = "kfp-lab"

// State is what a running lab tells its users; it is written as JSON to the
// state directory once the lab is ready.
type State struct {
	Name       string `json:"name"`
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
	return fmt.Sprintf("%s --kubeconfig %s -n %s create token default-editor --audience pipelines.kubeflow.org", s.Kubectl, s.Kubeconfig, s.Profile)
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

// Objects returns the install's objects: our fixtures, or the real upstream
// kustomizations built in-process.
func Objects(mode install.Mode, source install.Source) ([]*unstructured.Unstructured, error) {
	switch source {
	case install.FromFixtures:
		return install.Fixtures(mode)
	case install.FromUpstream:
		root, ok := install.FindShared()
		if !ok {
			return nil, fmt.Errorf("no upstream manifests found: set %s to the folder holding kubeflow-pipelines/ (shared/upstream)", install.UpstreamEnv)
		}
		return install.Upstream(root, mode)
	}
	return nil, fmt.Errorf("unknown install source %q: want %q or %q", source, install.FromFixtures, install.FromUpstream)
}

// Serve brings up a lab — a kwok cluster, KFP installed, stand-ins running,
// ml-pipeline-ui forwarded to a local port — calls ready with its state, and
// keeps it running until ctx ends; then it removes everything.
func Serve(ctx context.Context, opts Options, log *slog.Logger, ready func(State) error) (err error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	objs, err := Objects(opts.Mode, opts.Source)
	if err != nil {
		return err
	}
	upCtx, cancelUp := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancelUp()

	kw, err := cluster.NewKwok(cluster.KwokOptions{Name: opts.Name})
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := kw.Destroy(dctx); derr != nil {
			err = errors.Join(err, derr)
		}
		log.Info("cluster removed", "name", opts.Name)
	}()
	log.Info("creating cluster", "name", opts.Name)
	if err := kw.Create(upCtx); err != nil {
		return err
	}
	cfg := kw.RESTConfig()
	log.Info("installing KFP", "mode", opts.Mode, "source", opts.Source, "objects", len(objs))
	bins, err := DefaultBinaries()
	if err != nil {
		return err
	}
	bins.ByImage = opts.Programs
	rt, res, err := InstallAndRun(upCtx, cfg, objs, Programs(bins), log)
	if err != nil {
		return err
	}
	defer rt.Close()

	dialer, err := svcdial.New(cfg, "kubeflow")
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
	go func() { _ = dialer.Forward(fwdCtx, ln, "ml-pipeline-ui.kubeflow:80") }()
	url := "http://" + ln.Addr().String()
	if err := waitHealthy(upCtx, url); err != nil {
		return err
	}

	state := State{
		Name: opts.Name, Mode: string(opts.Mode), Source: string(opts.Source), PID: os.Getpid(),
		Kubeconfig: kw.KubeconfigPath(), URL: url, Workdir: kw.Workdir(), ProgramsDir: rt.Dir(),
	}
	if declares(objs, "istio-system", "istio-ingressgateway") {
		// The gateway as a user reaches it: kubectl -n istio-system
		// port-forward svc/istio-ingressgateway 8080:80.
		gln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listening for the gateway's port-forward: %w", err)
		}
		go func() { _ = dialer.Forward(fwdCtx, gln, "istio-ingressgateway.istio-system:80") }()
		state.GatewayURL = "http://" + gln.Addr().String()
		if declares(objs, "auth", "dex") {
			state.LoginUser = exampleUser
		}
	}
	if bin, err := cluster.ToolsBin(os.Getenv, "kubectl"); err == nil {
		state.Kubectl = filepath.Join(bin, "kubectl")
	}
	if opts.Mode == install.MultiUser {
		// Our fixtures make a profile; an upstream install has none until
		// someone creates one (the profile controller does not run here).
		if kc, err := kubernetes.NewForConfig(cfg); err == nil {
			if _, err := kc.CoreV1().Namespaces().Get(upCtx, exampleProfile, metav1.GetOptions{}); err == nil {
				state.Profile = exampleProfile
			}
		}
	}
	for _, n := range append(res.Skipped, res.Changed...) {
		state.NotHonored = append(state.NotHonored, n.String())
	}
	log.Info("lab ready", "url", url, "kubeconfig", state.Kubeconfig)
	if err := ready(state); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping lab")
	return nil
}

// InstallAndRun applies an install to the cluster of cfg, starts the runtime
// with programs for it, and returns once KFP's Deployments run and their
// programs serve — and, where the install has them, the login stack's (Dex,
// oauth2-proxy, the LDAP directory) and the gateway's. The caller closes the
// runtime; on error nothing of it is left running.
func InstallAndRun(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, programs []Program, log *slog.Logger) (*Runtime, *install.Result, error) {
	// Istio's injector must be there before the install's pods are made.
	stopInjector, err := StartInjector(ctx, cfg, objs)
	if err != nil {
		return nil, nil, err
	}
	res, err := install.Apply(ctx, cfg, objs)
	if err != nil {
		stopInjector()
		return nil, nil, err
	}
	rt, err := Start(ctx, cfg, programs, log)
	if err != nil {
		stopInjector()
		return nil, nil, err
	}
	rt.onClose = append(rt.onClose, stopInjector)
	want := []string{APIServer.Name, UIServer.Name}
	if err := install.WaitReady(ctx, cfg, "kubeflow", "ml-pipeline", "ml-pipeline-ui"); err != nil {
		rt.Close()
		return nil, nil, err
	}
	for _, d := range loginDeployments {
		if !declares(objs, d.namespace, d.name) {
			continue
		}
		if err := install.WaitReady(ctx, cfg, d.namespace, d.name); err != nil {
			rt.Close()
			return nil, nil, err
		}
		want = append(want, d.program)
	}
	if err := rt.WaitFor(ctx, hasPrograms(want...)); err != nil {
		rt.Close()
		return nil, nil, fmt.Errorf("%w\n%s", err, rt.LogTails(20))
	}
	return rt, res, nil
}

// loginDeployments are the Deployments of Kubeflow's login stack and the
// gateway, as our multi-user fixtures declare them.
var loginDeployments = []struct{ namespace, name, program string }{
	{"auth", "openldap", "openldap"},
	{"auth", "dex", "dex"},
	{"oauth2-proxy", "oauth2-proxy", "oauth2-proxy"},
	{"istio-system", "istio-ingressgateway", "istio-ingressgateway"},
	{"istio-system", "cluster-jwks-proxy", "kubectl"},
}

func declares(objs []*unstructured.Unstructured, namespace, name string) bool {
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetNamespace() == namespace && o.GetName() == name {
			return true
		}
	}
	return false
}

// DefaultBinaries finds the real programs in the tools cache.
func DefaultBinaries() (Binaries, error) {
	dir, err := cluster.ToolsBinDir(os.Getenv)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Dir: dir}, nil
}

func hasPrograms(names ...string) func([]Instance) bool {
	return func(list []Instance) bool {
		for _, n := range names {
			found := false
			for _, i := range list {
				found = found || i.Program == n
			}
			if !found {
				return false
			}
		}
		return true
	}
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
	fmt.Fprintf(&b, "KFP lab %q is up (%s, %s install)\n", s.Name, s.Mode, s.Source)
	fmt.Fprintf(&b, "  kubeconfig:  %s\n", s.Kubeconfig)
	fmt.Fprintf(&b, "  KFP (ml-pipeline-ui, port-forwarded): %s\n", s.URL)
	if cmd := s.TokenCommand(); cmd != "" {
		fmt.Fprintf(&b, "  a token:     %s\n", cmd)
		fmt.Fprintf(&b, "  try:         kfp-doctor --host %s -n %s --token-file <(%s)\n", s.URL, s.Profile, cmd)
	} else if s.Mode == string(install.MultiUser) {
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
	fmt.Fprintf(&b, "  stop it:     kfp-connect lab down --name %s\n", s.Name)
	return b.String()
}
