// Package doctor turns the doctor's configuration into a target, runs the
// probes and returns the report. The CLI only parses flags and maps the
// outcome to an exit code.
package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

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
	// TokenPath is --token-path; "" means $KF_PIPELINES_SA_TOKEN_PATH, then
	// the default path if a file is there.
	TokenPath string
	// TokenFile is --token-file: a static token (existing_token).
	TokenFile          string
	Cookies            string // raw, or @file
	CACert             string
	InsecureSkipVerify bool
	Timeout            time.Duration
	Strict             bool
	Getenv             func(string) string
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

	target, details, err := buildTarget(ctx, cfg, red, lg)
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

func buildTarget(ctx context.Context, cfg Config, red *redact.Redactor, lg *probes.Login) (*probes.Target, string, error) {
	host := cfg.Host
	if host == "" {
		host = cfg.Getenv(EnvHost)
	}
	if host == "" {
		return nil, "", usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s", EnvHost)
	}
	base, err := kfp.ParseHost(host)
	if err != nil {
		return nil, "", usage("--host: %w", err)
	}
	t := &probes.Target{Namespace: cfg.Namespace, InPod: cfg.Getenv("KUBERNETES_SERVICE_HOST") != ""}
	var details []string
	if cfg.Namespace != "" {
		details = append(details, "namespace "+cfg.Namespace)
	}
	if !strings.Contains(host, "://") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}

	// A static token and a token file are two answers to one question.
	static, err := staticToken(ctx, cfg, red)
	if err != nil {
		return nil, "", err
	}
	tokenPath := credentials.ResolveTokenPath(cfg.TokenPath, cfg.Getenv)
	if cfg.TokenPath == "" && cfg.Getenv(credentials.TokenPathEnv) == "" && cfg.DefaultTokenPath != "" {
		tokenPath = cfg.DefaultTokenPath
	}
	explicitPath := cfg.TokenPath != "" || cfg.Getenv(credentials.TokenPathEnv) != ""
	switch {
	case static != nil && cfg.TokenPath != "":
		return nil, "", usage("--token-path and --token-file/%s both name a token: pass one", EnvToken)
	case static != nil:
		t.Bearer = static
	case explicitPath:
		t.TokenFile = &credentials.TokenFile{Path: tokenPath, Redactor: red}
	default:
		// The SDK's in-cluster default: use the PodDefault's token if present.
		if _, err := cfg.Stat(tokenPath); err == nil {
			t.TokenFile = &credentials.TokenFile{Path: tokenPath, Redactor: red}
		}
	}
	var chain credentials.Chain
	switch {
	case t.TokenFile != nil:
		chain = append(chain, t.TokenFile)
		details = append(details, t.TokenFile.String())
	case t.Bearer != nil:
		chain = append(chain, t.Bearer)
		details = append(details, t.Bearer.String())
	}
	if c, err := cookies(ctx, cfg, red); err != nil {
		return nil, "", err
	} else if c != nil {
		t.Cookies = c
		chain = append(chain, c)
		details = append(details, c.String())
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
	client, err := kfp.NewClient(base, creds, kfp.Options{CACertFile: cfg.CACert, InsecureSkipVerify: cfg.InsecureSkipVerify, DialTimeout: min(2*time.Second, cfg.Timeout), DialContext: cfg.Dial, Redactor: red})
	if err != nil {
		return nil, "", usage("%w", err)
	}
	t.Client = client
	return t, strings.Join(details, " · "), nil
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
	if cfg.Kubeconfig != "" || cfg.KubeContext != "" || cfg.KFPNamespace != "" || (cfg.Scenario != "" && cfg.Scenario != ScenarioAuto) {
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
	if p := in.UI.Port; p != 0 && p != 80 {
		svcAddr += fmt.Sprintf(":%d", p)
	}
	switch {
	case !in.Found && in.Hidden && sc.inside:
		// The lookups were refused, but a pod needs none of them to use
		// the Service's name: try the namespace that was refused.
		cfg.Host = "http://" + svcAddr
		site.details = append(site.details, "host: the Service's in-cluster name, namespace assumed (found via "+source+")")
	case !in.Found:
		// Nothing to reach: the install probe fails and the probes that
		// need the host are skipped, so this host is never dialled.
		cfg.Host = "http://" + svcAddr
		site.details = append(site.details, "cluster via "+source)
	case sc.inside:
		// What the docs tell a notebook to use.
		cfg.Host = "http://" + svcAddr
		site.details = append(site.details, "host: the Service's in-cluster name (found via "+source+")")
	default:
		local, stop, err := portForward(ctx, rc, in)
		if err != nil {
			return nil, err
		}
		site.stop = stop
		cfg.Host = "http://" + local
		site.details = append(site.details, fmt.Sprintf("host: port-forward %s → svc/%s:%d (found via %s)", local, svcAddr, uiPort(in), source))
	}
	return site, nil
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
