package doctor

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/kfp"
	"github.com/kfp-connect/kfp-connect/internal/probes"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/sdkmodel"
)

// Plan is a run resolved once, up front, from the flags (Config), the
// environment and files the SDK reads, and the cluster: where the requests
// go and how that was found, the credential chain and where each link came
// from, the scenario and the cluster site, and the deadlines. Nothing writes
// it after resolve returns; the probes read the target built from it.
type Plan struct {
	// Deadlines are the run's deadlines by name.
	Deadlines Deadlines
	// Given is the host the user gave (--host or $KF_PIPELINES_ENDPOINT).
	Given GivenHost
	// HostArg is the host= the modelled kfp.Client call gets: --host, the
	// gateway's /pipeline with --username, the doctor's port-forward or the
	// Service name the cluster gave; "" leaves it to the SDK (which reads
	// $KF_PIPELINES_ENDPOINT itself, and in a pod picks its default).
	HostArg string
	// Call is the kfp.Client call the SDK would make with these inputs;
	// Call.Host says where the host came from.
	Call *sdkmodel.Call
	// Credentials is the chain sent on every request, in order.
	Credentials []Credential
	// Scenario is the scenario's name ("" off the cluster).
	Scenario string
	// ClientSource is what a --client-config described ("kfp.Client
	// object"), "" for flags.
	ClientSource string
	// ContextNamespace is the kubeconfig context's namespace ("" when none):
	// kubectl's default namespace, which kfp.Client does not read.
	ContextNamespace string

	site *clusterSite
	// meshCluster, in a pod given a host, is the pod's view of the cluster
	// for the mesh probe alone; nil otherwise.
	meshCluster *probes.Cluster
	login       *loginPlan
	target      *probes.Target
	details     []string
	shown       string
	release     func()
}

// Resolve settles the plan of a run. ctx bounds what resolving does (the
// password read, the kubeconfig's exec plugin, discovery, the port-forward's
// set-up) and, for a port-forward, how long it serves. cfg and seams are
// read, never written. The caller closes the plan.
func Resolve(ctx context.Context, cfg Config, seams Seams, red *redact.Redactor) (*Plan, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, d := seams.withDefaults(), newDeadlines(cfg)
	// A --client-config spells the call's arguments as data; from here on
	// they are resolved exactly as the flags that spell them.
	call, err := withClientCall(ctx, cfg, s, d, red)
	if err != nil {
		return nil, err
	}
	r := &resolver{cfg: call, s: s, red: red, d: d}
	p, err := r.resolve(ctx)
	if err != nil {
		r.close()
		return nil, err
	}
	p.release = r.close
	return p, nil
}

// Close stops what the plan holds open: the port-forward, idle connections.
func (p *Plan) Close() {
	if p.target != nil && p.target.Client != nil {
		p.target.Client.CloseIdle()
	}
	if p.release != nil {
		p.release()
	}
}

// Credential is one link of the credential chain.
type Credential struct {
	// Kind is what is sent: "static token", "token file", "cookies",
	// "header", "login session".
	Kind string
	// From is where it came from (a flag, a variable, a file).
	From  string
	creds kfp.Credentials
}

// GivenHost is the host the user gave: --host, else $KF_PIPELINES_ENDPOINT
// (the SDK's own fallback, read here once for the whole run). FromEnv says
// which.
type GivenHost struct {
	Value   string
	FromEnv bool
	// FromClient: host= of a --client-config.
	FromClient bool
}

// Flag names the host's origin in messages.
func (h GivenHost) Flag() string {
	switch {
	case h.FromEnv:
		return "$" + EnvHost
	case h.FromClient:
		return "host= (--client-config)"
	}
	return "--host"
}

func givenHost(cfg Config, s Seams) GivenHost {
	if cfg.Host != "" {
		return GivenHost{Value: cfg.Host, FromClient: cfg.ClientConfig != ""}
	}
	if v := s.Getenv(EnvHost); v != "" {
		return GivenHost{Value: v, FromEnv: true}
	}
	return GivenHost{}
}

// resolver holds what resolving a plan needs, and what it opened.
type resolver struct {
	cfg Config
	s   Seams
	red *redact.Redactor
	d   Deadlines

	// transport is the run's one HTTP transport to KFP and its gateway,
	// made on first use (a bad --ca-cert is reported where it is needed).
	transportOnce sync.Once
	transport     *http.Transport
	transportErr  error

	closers []func()
}

func (r *resolver) httpTransport() (http.RoundTripper, error) {
	r.transportOnce.Do(func() {
		r.transport, r.transportErr = kfp.NewTransport(r.kfpOptions())
		if r.transportErr != nil {
			r.transportErr = usage("%w", r.transportErr)
			return
		}
		r.closers = append(r.closers, r.transport.CloseIdleConnections)
	})
	return r.transport, r.transportErr
}

func (r *resolver) kfpOptions() kfp.Options {
	return kfp.Options{CACertFile: r.cfg.CACert, InsecureSkipVerify: r.cfg.InsecureSkipVerify, DialTimeout: r.d.Connect, DialContext: r.s.Dial, Redactor: r.red}
}

// close releases what resolving opened, last first.
func (r *resolver) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// resolve settles the plan. The login comes first (it decides the host, the
// gateway's /pipeline), then the cluster (it may find the host), then the
// SDK's call and the credentials.
func (r *resolver) resolve(ctx context.Context) (*Plan, error) {
	cfg, s := r.cfg, r.s
	p := &Plan{Deadlines: r.d, Given: givenHost(cfg, s), ClientSource: cfg.ClientSource}
	lp, err := planLogin(ctx, cfg, s, p.Given, r.d, r.httpTransport, r.red)
	if err != nil {
		return nil, err
	}
	p.login = lp
	// A cluster is consulted when the user points at one, or when no host is
	// given and one can be found: then the doctor finds KFP itself.
	if wantsCluster(cfg, p.Given) {
		site, err := openCluster(ctx, cfg, s, p.Given, r.d, r.red)
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, site.close)
		p.site = site
		p.Scenario = site.scenario.String()
		p.ContextNamespace = site.contextNamespace
	} else {
		// A host given in a pod: the call still crosses the mesh, which the
		// pod's own ServiceAccount may read (the mesh probe), with no other
		// cluster check.
		p.meshCluster = openMeshCluster(cfg, s, p.Given, r.d, r.red)
	}
	switch {
	case lp != nil:
		p.HostArg = lp.host
	case cfg.Host != "":
		p.HostArg = cfg.Host
	case p.Given.Value == "" && p.site != nil:
		p.HostArg = p.site.host
	}
	if err := r.resolveCall(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// resolveCall models the kfp.Client call and builds the target the probes
// read: the client, its credential chain, and what the SDK would leave
// behind.
func (r *resolver) resolveCall(ctx context.Context, p *Plan) error {
	cfg, s, red, site, lg := r.cfg, r.s, r.red, p.site, p.login
	if p.Given.Value == "" && site == nil {
		return usage("no host: pass --host (for example http://localhost:3000 after `kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80`) or set %s", EnvHost)
	}
	// A static token and a token file are two answers to one question.
	static, err := staticToken(ctx, cfg, s, red)
	if err != nil {
		return err
	}
	if static != nil && (cfg.TokenPath != "" || cfg.VolumeCredentials) {
		return usage("--token-path/--volume-credentials and --token-file/%s both name a token (credentials= and existing_token=): pass one", EnvToken)
	}
	cookieCreds, err := cookies(ctx, cfg, s, red)
	if err != nil {
		return err
	}
	// A host as given must be one: the SDK would prepend https:// to
	// ftp://x and fail later, less clearly.
	if p.Given.Value != "" {
		if _, err := kfp.ParseHost(p.Given.Value); err != nil {
			return usage("%s: %w", p.Given.Flag(), err)
		}
	}
	in, sdkCtx := r.sdkInputs(ctx, p)
	in.ExistingToken = static != nil
	in.Cookies = cookieCreds != nil || lg != nil
	call := sdkmodel.Resolve(in)
	switch {
	case site != nil && site.portForward != "":
		call.Host.Source = sdkmodel.Source("the doctor's port-forward to svc/ml-pipeline-ui: kfp.Client(host=…) after kubectl port-forward")
	case lg != nil:
		call.Host.Source = sdkmodel.Source("the gateway's /pipeline: --username logs in at " + p.Given.Flag())
	}
	p.Call = call

	base, err := kfp.ParseHost(call.URL)
	if err != nil {
		return usage("%s: %w", p.Given.Flag(), err)
	}
	t := &probes.Target{InPod: s.Getenv("KUBERNETES_SERVICE_HOST") != "", SDK: &probes.SDK{Call: call}}
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
	if cfg.ClientConfig != "" {
		details = append(details, cfg.ClientSource+" (--client-config)")
	}
	switch call.NamespaceKind {
	case sdkmodel.NamespaceExplicit:
		details = append(details, "namespace "+t.Namespace)
	case sdkmodel.NamespaceContext:
		details = append(details, "namespace "+t.Namespace+" from "+string(call.Namespace.Source))
	case sdkmodel.NamespacePod:
		details = append(details, "namespace "+t.FillNamespace+" from the pod, if multi-user")
	default:
		if p.ContextNamespace != "" {
			// kubectl users expect their context's namespace to count;
			// kfp.Client never reads it.
			details = append(details, "no namespace= (the kubeconfig context's namespace "+p.ContextNamespace+" is kubectl's, not kfp.Client's: pass -n "+p.ContextNamespace+" if it is your profile)")
		}
	}
	if call.HostKind == sdkmodel.HostGiven && !strings.Contains(call.Host.Value, "://") {
		details = append(details, "host without a scheme: http://, as urllib3 takes it")
	} else if strings.Contains(strings.Join(call.Notes, " "), "defaults to \"https\"") {
		details = append(details, "no scheme in host: using https:// as kfp.Client does")
	}

	add := func(c Credential, line string) {
		p.Credentials = append(p.Credentials, c)
		details = append(details, line)
	}
	switch call.AuthKind {
	case sdkmodel.AuthExistingToken:
		t.Bearer = static
		from := "$" + EnvToken
		switch {
		case cfg.Token != "":
			from = cfg.TokenSource + " (--client-config)"
		case cfg.TokenFile != "":
			from = "--token-file " + cfg.TokenFile
		}
		add(Credential{Kind: "static token", From: from, creds: static}, static.String())
	case sdkmodel.AuthVolumeToken, sdkmodel.AuthDefaultVolumeToken:
		t.TokenFile = &credentials.TokenFile{Path: s.localPath(call.TokenPath), Redactor: red}
		line := t.TokenFile.String()
		if call.AuthKind == sdkmodel.AuthDefaultVolumeToken {
			line += " (the SDK's default credentials in a pod)"
		}
		add(Credential{Kind: "token file", From: string(call.Auth.Source), creds: t.TokenFile}, line)
	}
	if cookieCreds != nil {
		t.Cookies = cookieCreds
		from := "$" + EnvCookies
		switch {
		case cfg.ClientConfig != "":
			from = "cookies= (--client-config)"
		case cfg.Cookies != "":
			from = "--cookies"
		}
		add(Credential{Kind: "cookies", From: from, creds: cookieCreds}, cookieCreds.String())
	} else if lg == nil && sdkCtx != nil && sdkCtx.Cookie != "" && call.Cookie.Value != "" {
		c, err := credentials.NewCookies(sdkCtx.Cookie, red)
		if err != nil {
			return usage("%s client_authentication_cookie: %w", sdkCtx.Path, err)
		}
		t.Cookies = c
		add(Credential{Kind: "cookies", From: sdkCtx.Path, creds: c}, c.String()+" from "+sdkCtx.Path)
	}
	if call.HeaderName.Value != "" && sdkCtx != nil {
		if !validHeaderName(sdkCtx.HeaderName) {
			return usage("%s client_authentication_header_name %q is not an HTTP header name", sdkCtx.Path, sdkCtx.HeaderName)
		}
		add(Credential{Kind: "header", From: sdkCtx.Path, creds: storedHeader{name: sdkCtx.HeaderName, value: sdkCtx.HeaderValue}},
			"header "+sdkCtx.HeaderName+" from "+sdkCtx.Path)
	}
	if lg != nil {
		// Sends nothing until login-session has a session.
		add(Credential{Kind: "login session", From: "--username " + cfg.Username, creds: lg.login}, lg.login.String())
	}
	if len(p.Credentials) == 0 {
		details = append(details, "no credentials")
	}
	var creds kfp.Credentials
	if len(p.Credentials) > 0 {
		chain := make(credentials.Chain, 0, len(p.Credentials))
		for _, c := range p.Credentials {
			chain = append(chain, c.creds)
		}
		creds = chain
	}
	opts := r.kfpOptions()
	if call.HostKind == sdkmodel.HostKubeProxy && site != nil && site.proxyTransport != nil {
		opts.Transport = site.proxyTransport
	} else {
		tr, err := r.httpTransport()
		if err != nil {
			return err
		}
		opts.Transport = tr
	}
	client, err := kfp.NewClient(base, creds, opts)
	if err != nil {
		return usage("%w", err)
	}
	t.Client = client

	// kfp.Client(host=…) without credentials leaves a mounted token
	// behind (_load_config returns at `if host:`): find it, and keep a
	// client that sends it, to say whether it would have worked.
	if call.HostKind == sdkmodel.HostGiven && call.AuthKind == sdkmodel.AuthNone && t.Cookies == nil && call.HeaderName.Value == "" && lg == nil {
		path, _ := sdkmodel.VolumeTokenPath("", s.Getenv)
		mounted := s.localPath(path)
		if s.fileThere(mounted) {
			tf := &credentials.TokenFile{Path: mounted, Redactor: red}
			alt, err := kfp.NewClient(base, tf, opts)
			if err != nil {
				return usage("%w", err)
			}
			t.SDK.Unsent, t.SDK.UnsentClient = tf, alt
			details = append(details, "a token is mounted at "+mounted+", not sent by kfp.Client(host=…)")
		}
	}

	// The details line: the cluster's findings, the call's, the login's.
	var all []string
	if site != nil {
		all = append(all, site.details...)
	}
	all = append(all, strings.Join(details, " · "))
	if lg != nil {
		all = append(all, lg.details)
	}
	p.details = all

	if p.meshCluster != nil {
		t.Cluster = p.meshCluster
	}
	if site != nil {
		t.Cluster = site.cluster
		if site.scenario.inside {
			t.InPod = true
		}
		if a := site.cluster.Install.Audience; a != "" {
			t.Audience = a
		}
		if in := site.cluster.Install; site.hostFromInstall && !in.Found && !(in.Hidden && site.scenario.inside) {
			p.shown = "(no KFP install found in the cluster)"
		}
	}
	if p.shown == "" {
		p.shown = client.Base().Redacted()
	}
	p.target = t
	return nil
}

// sdkInputs gathers what kfp.Client looks at besides its arguments: the
// environment, whether it runs in a pod, the pod's namespace file and
// ~/.config/kfp/context.json (whose secrets are registered at once).
func (r *resolver) sdkInputs(ctx context.Context, p *Plan) (sdkmodel.Inputs, *sdkmodel.Context) {
	cfg, s, red := r.cfg, r.s, r.red
	in := sdkmodel.Inputs{Host: p.HostArg, Namespace: cfg.Namespace, Getenv: s.Getenv}
	switch {
	case cfg.TokenPath != "":
		in.Credentials = &sdkmodel.Credentials{Path: cfg.TokenPath}
	case cfg.VolumeCredentials:
		in.Credentials = &sdkmodel.Credentials{}
	}
	_, in.InCluster = discover.InPod(s.Getenv, s.ReadFile, s.ServiceAccountDir)
	// The constructor opens Client._NAMESPACE_PATH in or out of a pod. It
	// holds a namespace name: anything larger is not read.
	nsFile := filepath.Join(s.ServiceAccountDir, "namespace")
	if fi, err := s.Stat(nsFile); err == nil && !fi.IsDir() && fi.Size() <= maxNamespaceFile {
		if b, err := s.ReadFile(nsFile); err == nil && len(b) <= maxNamespaceFile {
			in.PodNamespace, in.HasNamespaceFile = strings.TrimSpace(string(b)), true
		}
	}
	in.Readable = func(path string) bool { return s.fileThere(s.localPath(path)) }
	if site := p.site; site != nil && site.kubeServer != "" {
		in.Kubeconfig = sdkmodel.Kubeconfig{Loaded: true, Server: site.kubeServer}
		in.KubeContext = cfg.KubeContext
	}
	path := sdkmodel.ContextPath(s.Getenv("HOME"))
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
	return in, sctx
}

// maxNamespaceFile bounds the ServiceAccount's namespace file: a name.
const maxNamespaceFile = 253
