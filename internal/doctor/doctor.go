// Package doctor turns the doctor's configuration into a target, runs the
// probes and returns the report. The CLI only parses flags and maps the
// outcome to an exit code.
package doctor

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/localfile"
	"github.com/kfp-connect/kfp-connect/internal/login"
	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// Environment variables the doctor reads.
const (
	EnvHost    = "KF_PIPELINES_ENDPOINT" // as the SDK
	EnvToken   = "KFP_DOCTOR_TOKEN"
	EnvCookies = "KFP_DOCTOR_COOKIES"
	// EnvPassword is the Dex password for --username; the other source is
	// stdin (--password-stdin). Never a flag: flag values show in ps.
	EnvPassword = "KFP_DOCTOR_PASSWORD"
)

// Config is everything the user told the doctor.
type Config struct {
	Host      string
	Namespace string
	// TokenPath is --token-path: the call passes
	// credentials=ServiceAccountTokenVolumeCredentials(path=TokenPath).
	TokenPath string
	// VolumeCredentials is --volume-credentials: the call passes
	// credentials=ServiceAccountTokenVolumeCredentials(), whose path is
	// $KF_PIPELINES_SA_TOKEN_PATH, then the default.
	VolumeCredentials bool
	// TokenFile is --token-file: a static token (existing_token).
	TokenFile          string
	Cookies            string // raw, or @file
	CACert             string
	InsecureSkipVerify bool
	Timeout            time.Duration
	Strict             bool
	// CheckWrite is --check-write: also create an experiment in the
	// namespace and delete it, as a user's next call would.
	CheckWrite bool
	Getenv     func(string) string
	// WrapKube, when set, wraps the transport of every Kubernetes API call
	// the doctor makes (benchmarks count them with it).
	WrapKube func(http.RoundTripper) http.RoundTripper
	// Stat is os.Stat, replaceable in tests that pretend to be in a pod.
	Stat func(string) (os.FileInfo, error)
	// DefaultTokenPath replaces credentials.DefaultTokenPath: the suites run
	// the doctor as a pod whose projected volume is a temporary directory.
	DefaultTokenPath string
	// Dial replaces the network dialer (the suites reach cluster Service
	// names through the cluster's own objects, as a pod would).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Kubeconfig and KubeContext are --kubeconfig and --context, with
	// kubectl's semantics ("" means $KUBECONFIG, then ~/.kube/config).
	Kubeconfig  string
	KubeContext string
	// KFPNamespace is --kfp-namespace: where KFP is installed; "" discovers.
	KFPNamespace string
	// Scenario is --scenario: "" or "auto" guesses from discovery and env.
	Scenario string
	// SDKDefaultHost is --sdk-default-host: with no host outside a pod,
	// check what kfp.Client() does there (the kube-apiserver's service
	// proxy) instead of port-forwarding to ml-pipeline-ui.
	SDKDefaultHost bool
	// InClusterConfig replaces rest.InClusterConfig, ServiceAccountDir the
	// kubelet's mount and ReadFile os.ReadFile: tests that act as a pod.
	InClusterConfig   func() (*rest.Config, error)
	ServiceAccountDir string
	ReadFile          func(string) ([]byte, error)

	// Username is --username: log in through the gateway's Dex before the
	// other probes, and send the session the login gets.
	Username string
	// LoginConnector is --login-connector, the Dex connector id ("" means local).
	LoginConnector string
	// PasswordStdin is --password-stdin: read the password from Stdin
	// instead of $KFP_DOCTOR_PASSWORD.
	PasswordStdin bool
	Stdin         io.Reader
}

// UsageError is a problem with what the user asked for (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error { return &UsageError{Err: fmt.Errorf(format, args...)} }

// Run checks the connection and returns the report. Its error is a usage
// error; everything the probes find is in the report.
func Run(ctx context.Context, cfg Config, red *redact.Redactor) (*report.Report, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Stat == nil {
		cfg.Stat = os.Stat
	}
	if cfg.Timeout <= 0 {
		return nil, usage("--timeout must be positive, got %s", cfg.Timeout)
	}
	if cfg.ReadFile == nil {
		cfg.ReadFile = os.ReadFile
	}
	if cfg.InClusterConfig == nil {
		cfg.InClusterConfig = rest.InClusterConfig
	}
	// The login decides the host (the gateway's /pipeline), so it comes
	// before the cluster is consulted. Reading --password-stdin has its own
	// --timeout: a pipe that never delivers ends then.
	lg, loginDetails, closeLogin, err := setUpLogin(ctx, &cfg, red)
	if err != nil {
		return nil, err
	}
	defer closeLogin()

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// A cluster is consulted when the user points at one, or when no host is
	// given and one can be found: then the doctor finds KFP itself.
	var site *clusterSite
	if wantsCluster(cfg) {
		var err error
		site, err = openCluster(ctx, &cfg)
		if err != nil {
			return nil, err
		}
		defer site.close()
	}

	target, details, err := buildTarget(ctx, cfg, red, lg, site)
	if err != nil {
		return nil, err
	}
	defer target.Client.CloseIdle()
	if loginDetails != "" {
		details = strings.Join([]string{details, loginDetails}, " · ")
	}

	set := probes.Doctor()
	shown := ""
	if site != nil {
		target.Cluster = site.cluster
		if site.scenario.inside {
			target.InPod = true
		}
		if a := site.cluster.Install.Audience; a != "" {
			target.Audience = a
		}
		set = probes.OnCluster(site.hostFromInstall, site.cluster.Pod != nil)
		details = strings.Join(append(site.details, details), " · ")
		if in := site.cluster.Install; site.hostFromInstall && !in.Found && !(in.Hidden && site.scenario.inside) {
			shown = "(no KFP install found in the cluster)"
		}
	}
	if lg != nil {
		set = probes.WithLogin(lg, set)
	}
	if cfg.CheckWrite {
		set = probes.WithWriteCheck(set, randomSuffix)
	}
	set = probes.WithDistribution(set)
	set = probes.WithSDK(target, set)
	runner, err := probe.NewRunner(set)
	if err != nil {
		return nil, fmt.Errorf("internal: %w", err)
	}
	runner.Redact = red
	runner.DefaultTimeout = min(3*time.Second, cfg.Timeout)

	results := runner.Run(ctx, target)
	if shown == "" {
		shown = target.Client.Base().Redacted()
	}
	return &report.Report{
		Target: shown, Details: details, Results: results,
		Elapsed: time.Since(start), Strict: cfg.Strict, Redact: red,
	}, nil
}

func buildTarget(ctx context.Context, cfg Config, red *redact.Redactor, lg *probes.Login, site *clusterSite) (*probes.Target, string, error) {
	if cfg.Host == "" && cfg.Getenv(EnvHost) == "" && site == nil {
		return nil, "", usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s", EnvHost)
	}
	// A static token and a token file are two answers to one question.
	static, err := staticToken(ctx, cfg, red)
	if err != nil {
		return nil, "", err
	}
	if static != nil && (cfg.TokenPath != "" || cfg.VolumeCredentials) {
		return nil, "", usage("--token-path/--volume-credentials and --token-file/%s both name a token (credentials= and existing_token=): pass one", EnvToken)
	}
	cookieCreds, err := cookies(ctx, cfg, red)
	if err != nil {
		return nil, "", err
	}
	// A host as given must be one: the SDK would prepend https:// to
	// ftp://x and fail later, less clearly.
	if given := cmp.Or(cfg.Host, cfg.Getenv(EnvHost)); given != "" {
		if _, err := kfp.ParseHost(given); err != nil {
			return nil, "", usage("--host: %w", err)
		}
	}
	in, sdkCtx, err := sdkInputs(ctx, cfg, red, site)
	if err != nil {
		return nil, "", err
	}
	in.ExistingToken = static != nil
	in.Cookies = cookieCreds != nil || lg != nil
	call := sdkmodel.Resolve(in)
	if site != nil && site.portForward != "" {
		call.Host.Source = sdkmodel.Source("the doctor's port-forward to svc/ml-pipeline-ui: kfp.Client(host=…) after kubectl port-forward")
	}

	base, err := kfp.ParseHost(call.URL)
	if err != nil {
		return nil, "", usage("--host: %w", err)
	}
	t := &probes.Target{InPod: cfg.Getenv("KUBERNETES_SERVICE_HOST") != "", SDK: &probes.SDK{Call: call}}
	if site != nil && site.cluster.Install != nil && site.cluster.Install.Found {
		t.SDK.KFPNamespace = site.cluster.Install.Namespace
	}
	switch call.NamespaceKind {
	case sdkmodel.NamespaceExplicit, sdkmodel.NamespaceContext:
		t.Namespace = call.Namespace.Value
	case sdkmodel.NamespacePod:
		t.FillNamespace = call.Namespace.Value
	}
	var details []string
	switch call.NamespaceKind {
	case sdkmodel.NamespaceExplicit:
		details = append(details, "namespace "+t.Namespace)
	case sdkmodel.NamespaceContext:
		details = append(details, "namespace "+t.Namespace+" from "+string(call.Namespace.Source))
	case sdkmodel.NamespacePod:
		details = append(details, "namespace "+t.FillNamespace+" from the pod, if multi-user")
	}
	if call.HostKind == sdkmodel.HostGiven && !strings.Contains(call.Host.Value, "://") {
		details = append(details, "host without a scheme: http://, as urllib3 takes it")
	} else if strings.Contains(strings.Join(call.Notes, " "), "defaults to \"https\"") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}

	var chain credentials.Chain
	switch call.AuthKind {
	case sdkmodel.AuthExistingToken:
		t.Bearer = static
		chain = append(chain, t.Bearer)
		details = append(details, t.Bearer.String())
	case sdkmodel.AuthVolumeToken, sdkmodel.AuthDefaultVolumeToken:
		t.TokenFile = &credentials.TokenFile{Path: localPath(cfg, call.TokenPath), Redactor: red}
		chain = append(chain, t.TokenFile)
		details = append(details, t.TokenFile.String())
		if call.AuthKind == sdkmodel.AuthDefaultVolumeToken {
			details[len(details)-1] += " (the SDK's default credentials in a pod)"
		}
	}
	if cookieCreds != nil {
		t.Cookies = cookieCreds
		chain = append(chain, cookieCreds)
		details = append(details, cookieCreds.String())
	} else if lg == nil && sdkCtx != nil && sdkCtx.Cookie != "" && call.Cookie.Value != "" {
		c, err := credentials.NewCookies(sdkCtx.Cookie, red)
		if err != nil {
			return nil, "", usage("%s client_authentication_cookie: %w", sdkCtx.Path, err)
		}
		t.Cookies = c
		chain = append(chain, c)
		details = append(details, c.String()+" from "+sdkCtx.Path)
	}
	if call.HeaderName.Value != "" && sdkCtx != nil {
		if !validHeaderName(sdkCtx.HeaderName) {
			return nil, "", usage("%s client_authentication_header_name %q is not an HTTP header name", sdkCtx.Path, sdkCtx.HeaderName)
		}
		chain = append(chain, storedHeader{name: sdkCtx.HeaderName, value: sdkCtx.HeaderValue})
		details = append(details, "header "+sdkCtx.HeaderName+" from "+sdkCtx.Path)
	}
	if lg != nil {
		// Sends nothing until login-session has a session.
		chain = append(chain, lg)
		details = append(details, lg.String())
	}
	if len(chain) == 0 {
		details = append(details, "no credentials")
	}
	var creds kfp.Credentials
	if len(chain) > 0 {
		creds = chain
	}
	opts := kfp.Options{CACertFile: cfg.CACert, InsecureSkipVerify: cfg.InsecureSkipVerify, DialTimeout: min(2*time.Second, cfg.Timeout), DialContext: cfg.Dial, Redactor: red}
	if call.HostKind == sdkmodel.HostKubeProxy && site != nil && site.proxyTransport != nil {
		opts.Transport = site.proxyTransport
	}
	client, err := kfp.NewClient(base, creds, opts)
	if err != nil {
		return nil, "", usage("%w", err)
	}
	t.Client = client

	// kfp.Client(host=…) without credentials leaves a mounted token
	// behind (_load_config returns at `if host:`): find it, and keep a
	// client that sends it, to say whether it would have worked.
	if call.HostKind == sdkmodel.HostGiven && call.AuthKind == sdkmodel.AuthNone && t.Cookies == nil && call.HeaderName.Value == "" && lg == nil {
		mounted := localPath(cfg, credentials.ResolveTokenPath("", cfg.Getenv))
		if fileThere(cfg, mounted) {
			tf := &credentials.TokenFile{Path: mounted, Redactor: red}
			alt, err := kfp.NewClient(base, tf, opts)
			if err != nil {
				return nil, "", usage("%w", err)
			}
			t.SDK.Unsent, t.SDK.UnsentClient = tf, alt
			details = append(details, "a token is mounted at "+mounted+", not sent by kfp.Client(host=…)")
		}
	}
	return t, strings.Join(details, " · "), nil
}

// sdkInputs gathers what kfp.Client looks at besides its arguments: the
// environment, whether it runs in a pod, the pod's namespace file and
// ~/.config/kfp/context.json (whose secrets are registered at once).
func sdkInputs(ctx context.Context, cfg Config, red *redact.Redactor, site *clusterSite) (sdkmodel.Inputs, *sdkmodel.Context, error) {
	in := sdkmodel.Inputs{Host: cfg.Host, Namespace: cfg.Namespace, Getenv: cfg.Getenv}
	switch {
	case cfg.TokenPath != "":
		in.Credentials = &sdkmodel.Credentials{Path: cfg.TokenPath}
	case cfg.VolumeCredentials:
		in.Credentials = &sdkmodel.Credentials{}
	}
	_, in.InCluster = discover.InPod(cfg.Getenv, cfg.ReadFile, cfg.ServiceAccountDir)
	saDir := cfg.ServiceAccountDir
	if saDir == "" {
		saDir = discover.ServiceAccountDir
	}
	// The constructor opens Client._NAMESPACE_PATH in or out of a pod. It
	// holds a namespace name: anything larger is not read.
	nsFile := filepath.Join(saDir, "namespace")
	if fi, err := cfg.Stat(nsFile); err == nil && !fi.IsDir() && fi.Size() <= maxNamespaceFile {
		if b, err := cfg.ReadFile(nsFile); err == nil && len(b) <= maxNamespaceFile {
			in.PodNamespace, in.HasNamespaceFile = strings.TrimSpace(string(b)), true
		}
	}
	in.Readable = func(p string) bool { return fileThere(cfg, localPath(cfg, p)) }
	if site != nil && site.kubeServer != "" {
		in.Kubeconfig = sdkmodel.Kubeconfig{Loaded: true, Server: site.kubeServer}
		in.KubeContext = cfg.KubeContext
	}
	path := sdkmodel.ContextPath(cfg.Getenv("HOME"))
	sctx, err := sdkmodel.ReadContext(ctx, path)
	if err != nil {
		// The SDK's open() would raise as well: the call fails there.
		sctx = &sdkmodel.Context{Path: path, Err: err}
	}
	if sctx != nil {
		red.AddCookies(sctx.Cookie)
		red.Add(sctx.HeaderValue)
	}
	in.Context = sctx
	return in, sctx, nil
}

// maxNamespaceFile bounds the ServiceAccount's namespace file: a name.
const maxNamespaceFile = 253

// localPath maps the SDK's default token path to the one this run uses
// (the suites mount a pod's volume under a temporary directory).
func localPath(cfg Config, p string) string {
	if p == sdkmodel.DefaultTokenPath && cfg.DefaultTokenPath != "" {
		return cfg.DefaultTokenPath
	}
	return p
}

func fileThere(cfg Config, p string) bool {
	fi, err := cfg.Stat(p)
	return err == nil && !fi.IsDir()
}

// storedHeader is context.json's client_authentication_header_name/_value,
// which the SDK's ApiClient sends on every request.
type storedHeader struct{ name, value string }

func (h storedHeader) Apply(req *http.Request) error {
	req.Header.Set(h.name, h.value)
	return nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func staticToken(ctx context.Context, cfg Config, red *redact.Redactor) (*credentials.Bearer, error) {
	if cfg.TokenFile != "" {
		b, err := credentials.BearerFromFile(ctx, cfg.TokenFile, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return b, nil
	}
	b, ok, err := credentials.BearerFromEnv(EnvToken, cfg.Getenv, red)
	if err != nil {
		return nil, usage("%w", err)
	}
	if !ok {
		return nil, nil
	}
	return b, nil
}

func cookies(ctx context.Context, cfg Config, red *redact.Redactor) (*credentials.Cookies, error) {
	raw := cfg.Cookies
	if raw == "" {
		raw = cfg.Getenv(EnvCookies)
	}
	if raw == "" {
		return nil, nil
	}
	if path, ok := strings.CutPrefix(raw, "@"); ok {
		c, err := credentials.CookiesFromFile(ctx, path, red)
		if err != nil {
			return nil, usage("%w", err)
		}
		return c, nil
	}
	c, err := credentials.NewCookies(raw, red)
	if err != nil {
		return nil, usage("--cookies / %s: %w", EnvCookies, err)
	}
	return c, nil
}

// IsUsage reports a usage error.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// Scenarios --scenario accepts: KFP's deployment mode × where the client runs.
const (
	ScenarioAuto                   = "auto"
	ScenarioStandaloneInCluster    = "standalone-in-cluster"
	ScenarioStandaloneOutOfCluster = "standalone-out-of-cluster"
	ScenarioMultiUserInCluster     = "multi-user-in-cluster"
	ScenarioMultiUserOutOfCluster  = "multi-user-out-of-cluster"
)

type scenario struct {
	multiUser, modeKnown, inside bool
}

func (s scenario) String() string {
	mode := "unknown-mode"
	switch {
	case s.modeKnown && s.multiUser:
		mode = "multi-user"
	case s.modeKnown:
		mode = "standalone"
	}
	if s.inside {
		return mode + "-in-cluster"
	}
	return mode + "-out-of-cluster"
}

// parseScenario returns the forced scenario, or ok false for auto.
func parseScenario(v string) (s scenario, forced bool, err error) {
	switch v {
	case "", ScenarioAuto:
		return scenario{}, false, nil
	case ScenarioStandaloneInCluster:
		return scenario{modeKnown: true, inside: true}, true, nil
	case ScenarioStandaloneOutOfCluster:
		return scenario{modeKnown: true}, true, nil
	case ScenarioMultiUserInCluster:
		return scenario{multiUser: true, modeKnown: true, inside: true}, true, nil
	case ScenarioMultiUserOutOfCluster:
		return scenario{multiUser: true, modeKnown: true}, true, nil
	}
	return scenario{}, false, usage("--scenario %q: want auto, %s, %s, %s or %s", v,
		ScenarioStandaloneInCluster, ScenarioStandaloneOutOfCluster, ScenarioMultiUserInCluster, ScenarioMultiUserOutOfCluster)
}

// wantsCluster: the cluster flags always bring the cluster in; with no host
// at all the doctor looks for one; with only --host it stays off the cluster,
// as before these flags existed.
func wantsCluster(cfg Config) bool {
	if cfg.Kubeconfig != "" || cfg.KubeContext != "" || cfg.KFPNamespace != "" || cfg.SDKDefaultHost || (cfg.Scenario != "" && cfg.Scenario != ScenarioAuto) {
		return true
	}
	return cfg.Host == "" && cfg.Getenv(EnvHost) == ""
}

// clusterSite is the cluster side of a run: what was found, the scenario,
// and the port-forward to stop afterwards.
type clusterSite struct {
	cluster         *probes.Cluster
	scenario        scenario
	hostFromInstall bool
	details         []string
	stop            func()
	// portForward is the local address of the doctor's port-forward ("" for
	// none); kubeServer and proxyTransport are the kubeconfig's server and
	// transport when the SDK's no-host default outside a pod is checked.
	portForward    string
	kubeServer     string
	proxyTransport http.RoundTripper
}

func (s *clusterSite) close() {
	if s.stop != nil {
		s.stop()
	}
}

// openCluster connects to the cluster, finds KFP, settles the scenario and,
// when no host was given, sets cfg.Host to where KFP can be reached from
// here: the Service's DNS name in a pod, a port-forward outside.
func openCluster(ctx context.Context, cfg *Config) (*clusterSite, error) {
	forced, isForced, err := parseScenario(cfg.Scenario)
	if err != nil {
		return nil, err
	}
	callTimeout := min(2*time.Second, cfg.Timeout)
	pod, inPod := discover.InPod(cfg.Getenv, cfg.ReadFile, cfg.ServiceAccountDir)

	var rc *rest.Config
	source := ""
	switch {
	case inPod && cfg.Kubeconfig == "" && cfg.KubeContext == "":
		rc, err = cfg.InClusterConfig()
		if err != nil {
			return nil, usage("in a pod, but its ServiceAccount config cannot be loaded: %w (pass --kubeconfig or --host)", err)
		}
		rc.Timeout = callTimeout
		source = "in-cluster ServiceAccount"
	default:
		rc, _, err = discover.Kubeconfig(ctx, cfg.Kubeconfig, cfg.KubeContext, callTimeout)
		if errors.Is(err, discover.ErrNoKubeconfig) && cfg.Host == "" && cfg.Getenv(EnvHost) == "" {
			return nil, usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s, or pass --kubeconfig to let the doctor find KFP (%v)", EnvHost, err)
		}
		if err != nil {
			return nil, usage("--kubeconfig/--context: %w", err)
		}
		source = "kubeconfig"
		if cfg.KubeContext != "" {
			source += " context " + cfg.KubeContext
		}
	}
	if cfg.WrapKube != nil {
		rc = rest.CopyConfig(rc)
		rc.Wrap(cfg.WrapKube)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, usage("client for %s: %w", rc.Host, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, usage("client for %s: %w", rc.Host, err)
	}
	in, err := discover.Find(ctx, kube, discover.Options{Namespace: cfg.KFPNamespace, CallTimeout: callTimeout})
	if err != nil {
		return nil, fmt.Errorf("finding KFP: %w", err)
	}

	sc := scenario{multiUser: in.MultiUser, modeKnown: in.ModeKnown, inside: inPod}
	how := "guessed from "
	if in.ModeKnown {
		how += "MULTIUSER on " + in.Namespace + "/" + discover.APIDeployment
	} else {
		how += "no readable ml-pipeline Deployment"
	}
	if inPod {
		how += " and running in pod " + pod.Namespace + "/" + pod.Name
	} else {
		how += " and running outside a pod"
	}
	if isForced {
		sc, how = forced, "from --scenario"
	}
	site := &clusterSite{
		scenario: sc,
		cluster:  &probes.Cluster{Install: in, Kube: kube, Dynamic: dyn, MultiUser: sc.multiUser, ModeKnown: sc.modeKnown},
		details:  []string{fmt.Sprintf("scenario %s (%s)", sc, how)},
	}
	if inPod {
		site.cluster.Pod = pod
	}

	if cfg.Host != "" || cfg.Getenv(EnvHost) != "" {
		site.details = append(site.details, "host as given; cluster via "+source)
		return site, nil
	}
	site.hostFromInstall = true
	ns := in.Namespace
	if ns == "" {
		ns = discover.DefaultNamespace
	}
	svcAddr := discover.UIService + "." + ns
	switch {
	case inPod:
		// kfp.Client() with no host in a pod: _load_config's in-cluster
		// default, the API server's Service in namespace= (sdkmodel), with
		// the default credentials. buildTarget asks the model for it.
		how := "host: kfp.Client()'s in-cluster default (found via " + source + ")"
		if !in.Found && in.Hidden {
			how = "host: kfp.Client()'s in-cluster default; KFP's namespace could not be looked up (via " + source + ")"
		}
		site.details = append(site.details, how)
	case !in.Found:
		// Nothing to reach: the install probe fails and the probes that
		// need the host are skipped, so this host is never dialled.
		cfg.Host = "http://" + svcAddr
		site.details = append(site.details, "cluster via "+source)
	case cfg.SDKDefaultHost:
		// kfp.Client() with no host outside a pod: the kube-apiserver's
		// service proxy to ml-pipeline:http, with the kubeconfig's
		// credentials. The apiserver then dials a pod IP itself: refuse
		// where those IPs are fake (kwok), before any request is made.
		if why := refuseServiceProxy(ctx, kube); why != "" {
			proxied := sdkmodel.Resolve(sdkmodel.Inputs{Namespace: cfg.Namespace, Kubeconfig: sdkmodel.Kubeconfig{Loaded: true, Server: rc.Host}})
			return nil, usage("--sdk-default-host: kfp.Client() with no host outside a pod goes through the kube-apiserver's service proxy (%s); not checked on this cluster: %s", proxied.URL, why)
		}
		tr, err := rest.TransportFor(rc)
		if err != nil {
			return nil, usage("--sdk-default-host: the kubeconfig's transport: %w", err)
		}
		site.kubeServer, site.proxyTransport = rc.Host, tr
		site.details = append(site.details, "host: kfp.Client()'s default outside a pod, the kube-apiserver's service proxy (via "+source+")")
	default:
		local, stop, err := portForward(ctx, rc, in)
		if err != nil {
			return nil, err
		}
		site.stop = stop
		site.portForward = local
		cfg.Host = "http://" + local
		site.details = append(site.details, fmt.Sprintf("host: port-forward %s → svc/%s:%d (found via %s); kfp.Client() with no host would use the kube-apiserver's service proxy instead (--sdk-default-host)", local, svcAddr, uiPort(in), source))
	}
	return site, nil
}

// kwokNodeAnnotation marks the nodes kwok fakes: their pods' IPs are on
// no machine.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// refuseServiceProxy says why the kube-apiserver must not be asked to proxy
// to KFP's pods here, or "" when it may: every node must be a real one,
// which needs the nodes to be readable.
func refuseServiceProxy(ctx context.Context, kube kubernetes.Interface) string {
	ctx, cancel := context.WithTimeout(ctx, discover.DefaultCallTimeout)
	defer cancel()
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 500})
	switch {
	case err != nil:
		return fmt.Sprintf("cannot tell whether the nodes are real (listing nodes: %v); the proxy would make the kube-apiserver dial a pod IP", err)
	case len(nodes.Items) == 0:
		return "the cluster has no nodes, so no pod IP behind ml-pipeline to proxy to"
	}
	for _, n := range nodes.Items {
		if _, ok := n.Annotations[kwokNodeAnnotation]; ok {
			return fmt.Sprintf("node %s is one of kwok's fake nodes (annotation %s): the pods' IPs are on no machine, and the kube-apiserver would dial them off this one; the service-proxy path needs a provider with real pod networking (a `node` provider does not exist yet)", n.Name, kwokNodeAnnotation)
		}
	}
	return ""
}

func uiPort(in *discover.Install) int32 {
	if in.UI.Port != 0 {
		return in.UI.Port
	}
	return 80
}

// portForward serves a local port joined to ml-pipeline-ui through a ready
// pod behind the Service, as `kubectl port-forward svc/ml-pipeline-ui 0:80`.
func portForward(ctx context.Context, rc *rest.Config, in *discover.Install) (string, func(), error) {
	d, err := svcdial.New(rc, in.Namespace)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", in.Namespace, discover.UIService, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return "", nil, fmt.Errorf("listening for the port-forward to %s/%s: %w", in.Namespace, discover.UIService, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Forward(fctx, ln, fmt.Sprintf("%s.%s:%d", discover.UIService, in.Namespace, uiPort(in)))
	}()
	stop := func() {
		cancel()
		<-done
		d.Close()
	}
	return ln.Addr().String(), stop, nil
}

// maxPassword bounds what --password-stdin reads: a password, not a file.
const maxPassword = 4 << 10

// setUpLogin prepares the login when --username is given: the password from
// $KFP_DOCTOR_PASSWORD or stdin, the gateway from --host, and cfg.Host turned
// into the gateway's /pipeline, where a kfp.Client behind the gateway points.
// It returns no login (and no error) without --username.
func setUpLogin(ctx context.Context, cfg *Config, red *redact.Redactor) (*probes.Login, string, func(), error) {
	noop := func() {}
	if cfg.Username == "" {
		if cfg.PasswordStdin {
			return nil, "", noop, usage("--password-stdin reads the password for --username: pass --username too")
		}
		return nil, "", noop, nil
	}
	host := cfg.Host
	if host == "" {
		host = cfg.Getenv(EnvHost)
	}
	if host == "" {
		return nil, "", noop, usage("--username logs in through Kubeflow's gateway: pass --host with its address (for example http://localhost:8080 after `kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80`)")
	}
	if cfg.Cookies != "" || cfg.Getenv(EnvCookies) != "" {
		return nil, "", noop, usage("--username gets a session by logging in, and --cookies/$%s give one: pass one of them", EnvCookies)
	}
	password, err := readPassword(ctx, cfg)
	if err != nil {
		return nil, "", noop, err
	}
	red.Add(password)
	base, err := kfp.ParseHost(host)
	if err != nil {
		return nil, "", noop, usage("--host: %w", err)
	}
	// --host may name the gateway or, as kfp.Client is given it, the
	// gateway's /pipeline: the login starts at the gateway either way.
	gateway := *base
	gateway.Path = strings.TrimSuffix(gateway.Path, "/pipeline")
	cfg.Host = strings.TrimRight(gateway.String(), "/") + "/pipeline"
	details := []string{"gateway " + gateway.Redacted() + " (KFP at its /pipeline)"}
	if !strings.Contains(host, "://") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}
	client, closeIdle, err := loginHTTPClient(*cfg)
	if err != nil {
		return nil, "", noop, err
	}
	flow, err := login.New(login.Config{
		Gateway: &gateway, Username: cfg.Username, Password: password, Connector: cfg.LoginConnector,
		HTTPClient: client, RequestTimeout: min(3*time.Second, cfg.Timeout), Redactor: red,
	})
	if err != nil {
		closeIdle()
		return nil, "", noop, usage("--username/--login-connector: %w", err)
	}
	return &probes.Login{Flow: flow, Redactor: red}, strings.Join(details, " · "), closeIdle, nil
}

// readPassword takes the first line of stdin with --password-stdin, else
// $KFP_DOCTOR_PASSWORD. Only the line ending is trimmed: spaces may belong to
// the password.
func readPassword(ctx context.Context, cfg *Config) (string, error) {
	if !cfg.PasswordStdin {
		pw := cfg.Getenv(EnvPassword)
		if pw == "" {
			return "", usage("--username %s needs a password: set $%s, or pipe it in with --password-stdin (never a flag: flag values show in ps)", cfg.Username, EnvPassword)
		}
		return pw, nil
	}
	in := cfg.Stdin
	if in == nil {
		in = os.Stdin
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	pw, err := localfile.ReadFirstLine(ctx, in, maxPassword, "--password-stdin")
	switch {
	case errors.Is(err, localfile.ErrEmpty):
		return "", usage("--password-stdin: stdin held no password (printf '%%s\\n' \"$PASSWORD\" | kfp-doctor … --password-stdin)")
	case errors.Is(err, localfile.ErrTooLarge):
		return "", usage("--password-stdin: the first line of stdin is longer than %d bytes: not a password", maxPassword)
	case err != nil:
		return "", usage("%w", err)
	}
	return pw, nil
}

// loginHTTPClient is the login's HTTP side, with the same TLS settings,
// dialer and deadlines as the KFP client: the gateway is the same host.
func loginHTTPClient(cfg Config) (func() *http.Client, func(), error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the user asked for it
	if cfg.CACert != "" {
		pool, err := kfp.CertPool(context.Background(), cfg.CACert)
		if err != nil {
			return nil, nil, usage("%w", err)
		}
		tlsConf.RootCAs = pool
	}
	dial := min(2*time.Second, cfg.Timeout)
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dial}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: dial,
		MaxIdleConns:        4,
		IdleConnTimeout:     10 * time.Second,
	}
	if cfg.Dial != nil {
		tr.Proxy = nil // the dialer is the route
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dial)
			defer cancel()
			return cfg.Dial(ctx, network, addr)
		}
	}
	perRequest := min(3*time.Second, cfg.Timeout)
	return func() *http.Client { return &http.Client{Transport: tr, Timeout: perRequest} }, tr.CloseIdleConnections, nil
}

// randomSuffix names the write check's experiment, so runs never collide.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
