// Package sdkmodel says what a kfp.Client(...) call of the KFP Python SDK
// chooses before it sends anything: the host and its scheme, the credentials
// it puts on each request, the cookie and header it adds, the namespace its
// calls fill in, and whether its constructor calls healthz — each value with
// the source it came from. The doctor, its report and the scenarios ask this
// model, so the rules are written once.
//
// It follows the v2 SDK's kfp.client as of SDK 2.17.0, read from
// kubeflow/pipelines sdk/python/kfp/client/: client.py (Client.__init__,
// Client._load_config, Client._is_inverse_proxy_host,
// Client._get_config_with_default_credentials,
// Client._load_context_setting_or_default, Client.set_user_namespace,
// Client.get_user_namespace, Client.list_experiments),
// set_volume_credentials.py (ServiceAccountTokenVolumeCredentials),
// __init__.py (KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH) and
// backend/api/v2beta1/python_http_client/kfp_server_api/configuration.py
// (Configuration's default host). The v1 SDK's kfp.auth / kfp._client take
// the same decisions in the same order for everything modelled here, but spell
// the credentials class kfp.auth.ServiceAccountTokenVolumeCredentials (which
// the v2 SDK lacks: KFD023).
//
// Nothing here reads files or the network: the caller gathers the inputs
// (ReadContext reads context.json with a bound) and Resolve only decides.
package sdkmodel

import (
	"fmt"

	"github.com/kfp-connect/kfp-connect/internal/kubeflow"

	"strings"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/lazyre"
)

// Version names the SDK whose rules this package follows.
const Version = "kfp SDK 2.17.0 (v2 kfp.client)"

// Environment variables kfp.Client reads (client.py module constants, and
// kfp/client/__init__.py for the token path).
const (
	EnvEndpoint          = "KF_PIPELINES_ENDPOINT"
	EnvUIEndpoint        = "KF_PIPELINES_UI_ENDPOINT"
	EnvIAPClientID       = "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID"
	EnvAppClientID       = "KF_PIPELINES_APP_OAUTH2_CLIENT_ID"
	EnvAppClientSecret   = "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET"
	EnvTokenPath         = kubeflow.TokenPathEnv
	DefaultTokenPath     = kubeflow.TokenPath
	DefaultNamespace     = kubeflow.Namespace                                        // Client.__init__'s namespace default
	NamespaceFile        = "/var/run/secrets/kubernetes.io/serviceaccount/namespace" // Client._NAMESPACE_PATH
	ContextFileRelPath   = ".config/kfp/context.json"                                // Client._LOCAL_KFP_CONTEXT under ~
	inClusterDNSTemplate = "ml-pipeline.%s.svc.cluster.local:8888"                   // Client._IN_CLUSTER_DNS_NAME
	kubeProxyTemplate    = "api/v1/namespaces/%s/services/ml-pipeline:http/proxy/"   // Client._KUBE_PROXY_PATH
	// configurationDefaultHost is kfp_server_api.Configuration()'s host: what
	// a Client whose _load_config returned before setting one talks to.
	configurationDefaultHost = "http://localhost"
)

// DefaultNamespaceNote is the model's note for namespace="kubeflow": the
// argument's default, which the constructor cannot tell from no argument.
const DefaultNamespaceNote = "namespace=\"kubeflow\" is kfp.Client's default, which means no namespace: the calls send none"

// The constructor's healthz call (Client.get_kfp_healthz): on an HTTP error
// (an ApiException) it logs and sleeps, max_attempts times, then raises
// TimeoutError; a connection error is not retried.
const (
	HealthzAttempts = 5
	HealthzSleep    = 5 * time.Second
)

// HealthzGiveUp is the TimeoutError the constructor raises after its retries.
var HealthzGiveUp = fmt.Sprintf("Failed getting healthz endpoint after %d attempts", HealthzAttempts)

// HealthzOnHTTPError says what kfp.Client(...) does when healthz answers an
// HTTP error: with the constructor's healthz it retries and hides the
// cause; with a namespace set there is no constructor healthz, and the
// first call meets the error at once. A nil call is one the doctor did not
// model: both are said.
func (c *Call) HealthzOnHTTPError() string {
	retry := fmt.Sprintf("retries it %d × %s, then says only \"%s\"", HealthzAttempts, HealthzSleep, HealthzGiveUp)
	switch {
	case c == nil:
		return "kfp.Client() without a namespace " + retry + "; with one, it skips that healthz and its first call fails at once"
	case c.HealthzInConstructor:
		return "kfp.Client() " + retry
	}
	return "kfp.Client() skips the constructor's healthz (a namespace is set): its first call fails at once with this"
}

// Credentials is what the call passed as credentials=. Only the SDK's own
// ServiceAccountTokenVolumeCredentials is modelled.
type Credentials struct {
	// Path is its path= argument; "" means $KF_PIPELINES_SA_TOKEN_PATH, then
	// DefaultTokenPath (ServiceAccountTokenVolumeCredentials.__init__).
	Path string
}

// Kubeconfig is what kubernetes.config.load_kube_config found outside a pod.
type Kubeconfig struct {
	Loaded bool
	// Server is the current (or kube_context's) cluster's server URL.
	Server string
}

// Inputs are the call's arguments and what the SDK looks at around it.
type Inputs struct {
	// The kfp.Client arguments.
	Host              string // host=
	ClientID          string // client_id= (IAP)
	Namespace         string // namespace=; "" is the default, "kubeflow"
	OtherClientID     string // other_client_id=
	OtherClientSecret string // other_client_secret=
	ExistingToken     bool   // existing_token= is a non-empty string
	Cookies           bool   // cookies= is given
	Credentials       *Credentials
	KubeContext       string // kube_context=
	UIHost            string // ui_host=

	// Getenv is os.environ.get; nil means no variable is set.
	Getenv func(string) string
	// InCluster is whether kubernetes.config.load_incluster_config()
	// succeeds: KUBERNETES_SERVICE_HOST/PORT set and the ServiceAccount's
	// token and ca.crt mounted.
	InCluster bool
	// PodNamespace is the content of NamespaceFile, when HasNamespaceFile.
	// The constructor reads that path whether or not it runs in a pod.
	PodNamespace     string
	HasNamespaceFile bool
	// Readable reports whether a token file can be read (the default
	// credentials are tried once before they are installed); nil means none.
	Readable func(path string) bool
	// Context is ~/.config/kfp/context.json; nil when there is none.
	Context *Context
	// Kubeconfig matters only outside a pod with no host.
	Kubeconfig Kubeconfig
}

// Source says where a value came from.
type Source string

// Value is one of the call's choices and its source.
type Value struct {
	Value  string
	Source Source
}

func (v Value) String() string {
	if v.Source == "" {
		return v.Value
	}
	return v.Value + " (" + string(v.Source) + ")"
}

// HostKind is how _load_config arrived at the host.
type HostKind string

const (
	HostGiven     HostKind = "given"      // host= or $KF_PIPELINES_ENDPOINT
	HostInCluster HostKind = "in-cluster" // no host, in a pod: the API server's Service name
	HostKubeProxy HostKind = "kube-proxy" // no host, outside: the kube-apiserver's service proxy
	// HostDefault: _load_config returned before it set a host (a token
	// but no host, or no kubeconfig), so Configuration's default is used.
	HostDefault HostKind = "configuration-default"
)

// AuthKind is what goes into the Authorization header.
type AuthKind string

const (
	AuthNone AuthKind = "none"
	// AuthExistingToken: existing_token=, as "Bearer <token>".
	AuthExistingToken AuthKind = "existing-token"
	// AuthIAP: client_id= (or $KF_PIPELINES_IAP_OAUTH2_CLIENT_ID): a Google
	// ID token from auth.get_auth_token.
	AuthIAP AuthKind = "iap"
	// AuthGCP: a host matching *.googleusercontent.com: a Google access
	// token from auth.get_gcp_access_token (Application Default Credentials).
	AuthGCP AuthKind = "gcp-access-token"
	// AuthVolumeToken: credentials=ServiceAccountTokenVolumeCredentials(…),
	// the file at TokenPath re-read on every request.
	AuthVolumeToken AuthKind = "volume-token"
	// AuthDefaultVolumeToken: no host in a pod, the default credentials
	// (_get_config_with_default_credentials), same file semantics.
	AuthDefaultVolumeToken AuthKind = "default-volume-token"
	// AuthKubeconfig: no host outside a pod: load_kube_config fills the
	// configuration with the kubeconfig user's token or client certificate.
	AuthKubeconfig AuthKind = "kubeconfig"
)

// NamespaceKind is where the namespace the calls fill in comes from.
type NamespaceKind string

const (
	// NamespaceExplicit: namespace= other than "kubeflow".
	NamespaceExplicit NamespaceKind = "namespace="
	// NamespaceContext: the namespace stored in context.json.
	NamespaceContext NamespaceKind = "context.json"
	// NamespacePod: the constructor's healthz said multi-user and the pod's
	// ServiceAccount namespace file was read (then written to context.json
	// by set_user_namespace). Only when the server is multi-user.
	NamespacePod NamespaceKind = "pod"
	// NamespaceNone: calls send no namespace.
	NamespaceNone NamespaceKind = "none"
)

// Call is what kfp.Client(...) does with the Inputs.
type Call struct {
	Version string
	// Host is the configuration's host as the SDK holds it; URL is where
	// requests go (urllib3 takes a host without a scheme as http://).
	Host     Value
	URL      string
	HostKind HostKind
	// Auth is the Authorization header's origin; TokenPath the file for
	// the volume kinds.
	Auth      Value
	AuthKind  AuthKind
	TokenPath string
	// ReplacedCredentials: credentials= was given but, with no host in a
	// pod, the default credentials took its place.
	ReplacedCredentials bool
	// Cookie is the Cookie header's origin ("" Value when none is sent);
	// FromContext is true when it is context.json's.
	Cookie Value
	// HeaderName is context.json's client_authentication_header_name: the
	// header sent with context.json's value on every request ("" for none).
	HeaderName Value
	// Namespace is what the calls fill in without healthz's say; when
	// NamespaceKind is NamespacePod it applies only to a multi-user server
	// (and Namespace.Value is the pod's namespace).
	Namespace     Value
	NamespaceKind NamespaceKind
	// HealthzInConstructor: the constructor calls healthz (it does when no
	// namespace is set by namespace= or context.json).
	HealthzInConstructor bool
	// ServiceNamespace is the namespace= used for the no-host defaults
	// (the in-cluster Service's, or the proxy path's namespace).
	ServiceNamespace string
	// Notes are the SDK's own warnings and what the model saw, one line each.
	Notes []string
	// Err is set when the constructor raises before any request.
	Err error
}

// NamespaceFor is the namespace the calls send against a server in the
// given mode: the pod's namespace fills in only in multi-user mode.
func (c *Call) NamespaceFor(multiUser bool) string {
	if c.NamespaceKind == NamespacePod && !multiUser {
		return ""
	}
	return c.Namespace.Value
}

// inverseProxyHost is Client._is_inverse_proxy_host in the 2.x client.py:
// re.match(r'\S+.googleusercontent.com/{0,1}$', host). re.match anchors at
// the start only; the unescaped dots match any character. (Later main
// narrowed it to an https authority; 2.17.0 has this one.)
var inverseProxyHost = lazyre.New(`^\S+.googleusercontent.com/?$`)

// Resolve applies kfp.Client's rules to the inputs.
func Resolve(in Inputs) *Call {
	getenv := in.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	readable := in.Readable
	if readable == nil {
		readable = func(string) bool { return false }
	}
	c := &Call{Version: Version}

	// Client.__init__: host = host or os.environ.get(KF_PIPELINES_ENDPOINT);
	// client_id, other_client_id and other_client_secret likewise from env.
	host, hostSource := in.Host, Source("host=")
	if host == "" {
		host, hostSource = getenv(EnvEndpoint), "$"+EnvEndpoint
	}
	clientID, clientIDSource := in.ClientID, "client_id="
	if clientID == "" {
		clientID, clientIDSource = getenv(EnvIAPClientID), "$"+EnvIAPClientID
	}
	namespace := in.Namespace
	if namespace == "" {
		namespace = DefaultNamespace
	}
	c.ServiceNamespace = namespace

	// _load_config: no http prefix → https:// with a warning. startswith
	// ('http') is the whole test, so "httpbin.local" counts as having one.
	if host != "" && !strings.HasPrefix(host, "http") {
		c.Notes = append(c.Notes, fmt.Sprintf("the SDK warns: the host %s does not contain the \"http\" or \"https\" protocol; defaults to \"https\"", host))
		host = "https://" + host
	}
	// _load_config: the trailing / is stripped, except for IAP.
	if clientID == "" {
		host = strings.TrimRight(host, "/")
	}
	setHost := func(h string, kind HostKind, src Source) {
		c.Host, c.HostKind = Value{h, src}, kind
	}
	setHost(configurationDefaultHost, HostDefault, "kfp_server_api.Configuration default")
	if host != "" {
		setHost(host, HostGiven, hostSource)
	}
	c.AuthKind, c.Auth = AuthNone, Value{"no Authorization header", ""}

	// _load_config's token chain: existing_token, then client_id (IAP),
	// then an inverse-proxy host (GCP), then credentials=.
	token := false
	switch {
	case in.ExistingToken:
		c.AuthKind, c.Auth, token = AuthExistingToken, Value{"Bearer token", "existing_token="}, true
	case clientID != "":
		c.AuthKind, c.Auth, token = AuthIAP, Value{"Google IAP ID token for client " + clientID, Source(clientIDSource)}, true
		c.Notes = append(c.Notes, "IAP: auth.get_auth_token fetches a Google ID token (other_client_id/secret from the arguments or $"+EnvAppClientID+"/$"+EnvAppClientSecret+"); the doctor does not reproduce Google's flow")
	case inverseProxyHost().MatchString(host):
		c.AuthKind, c.Auth, token = AuthGCP, Value{"Google access token", "host matches *.googleusercontent.com"}, true
		c.Notes = append(c.Notes, "the host is a Google inverse proxy: auth.get_gcp_access_token sends the Application Default Credentials' access token; the doctor does not reproduce it")
	case in.Credentials != nil:
		c.AuthKind = AuthVolumeToken
		c.TokenPath = volumePath(in.Credentials.Path, getenv)
		c.Auth = Value{"Bearer token read from " + c.TokenPath + " on every request", volumeSource(in.Credentials.Path, getenv)}
	}

	switch {
	case token, host != "":
		// _load_config returns here: "if host is explicitly set with auth
		// token, it's probably a port forward address" — with a host and
		// no credentials nothing more is looked at, not even a mounted
		// token.
	case in.InCluster:
		// load_incluster_config() succeeded: the API server's Service in
		// namespace= (not the user's namespace: the Client's argument),
		// then _get_config_with_default_credentials.
		setHost(fmt.Sprintf(inClusterDNSTemplate, namespace), HostInCluster, "no host, in a pod: Client._IN_CLUSTER_DNS_NAME with namespace="+Source(namespace))
		path := volumePath("", getenv)
		if readable(path) {
			// A working default replaces whatever credentials= set up.
			c.ReplacedCredentials = in.Credentials != nil && c.TokenPath != path
			c.AuthKind, c.TokenPath = AuthDefaultVolumeToken, path
			c.Auth = Value{"Bearer token read from " + path + " on every request", "default credentials in a pod: ServiceAccountTokenVolumeCredentials(), " + volumeSource("", getenv)}
		} else {
			c.Notes = append(c.Notes, "the SDK warns: Failed to set up default credentials. Proceeding without credentials... (no readable token at "+path+")")
		}
	case !in.Kubeconfig.Loaded:
		// load_kube_config raised: the SDK warns and keeps the default host.
		c.Notes = append(c.Notes, "the SDK warns: failed to load kube config; requests go to "+configurationDefaultHost)
	default:
		// The kubeconfig's server and credentials, through the
		// kube-apiserver's service proxy to ml-pipeline's http port.
		server := strings.TrimRight(in.Kubeconfig.Server, "/")
		if server != "" {
			setHost(server+"/"+fmt.Sprintf(kubeProxyTemplate, namespace), HostKubeProxy, "no host, outside a pod: the kubeconfig's server + Client._KUBE_PROXY_PATH")
		}
		if c.AuthKind == AuthNone {
			c.AuthKind, c.Auth = AuthKubeconfig, Value{"the kubeconfig user's token or client certificate", "load_kube_config"}
			if in.KubeContext != "" {
				c.Auth.Source = "load_kube_config, context " + Source(in.KubeContext)
			}
		} else {
			// refresh_api_key_hook runs before every request and
			// overwrites the kubeconfig's bearer token.
			c.Notes = append(c.Notes, "credentials= replaces the kubeconfig's bearer token on every request (its client certificate, if any, is still presented)")
		}
	}
	c.URL = c.Host.Value
	if !strings.Contains(c.URL, "://") {
		// urllib3's parse_url takes a URL without a scheme as http.
		c.URL = "http://" + c.URL
	}

	resolveContext(c, in)
	return c
}

// resolveContext is the rest of Client.__init__: the context settings, the
// explicit namespace, cookies and the stored header, and the healthz call
// that fills the namespace in.
func resolveContext(c *Call, in Inputs) {
	ctx := in.Context
	if ctx != nil && ctx.Err != nil {
		// json.load raised inside _load_context_setting_or_default.
		c.Err = fmt.Errorf("kfp.Client() raises reading %s: %w", ctx.Path, ctx.Err)
		return
	}
	// _load_context_setting_or_default: the file, or {'namespace': ''}.
	nsStored, hasKey, ctxNamespace := "", true, ""
	if ctx != nil {
		nsStored, hasKey = ctx.Namespace, ctx.HasNamespace
		ctxNamespace = nsStored
	}
	explicit := in.Namespace != "" && in.Namespace != DefaultNamespace
	if in.Namespace == DefaultNamespace {
		c.Notes = append(c.Notes, DefaultNamespaceNote)
	}
	switch {
	case explicit:
		// "If custom namespace provided, overwrite the loaded or default
		// one in context settings for current client instance".
		c.Namespace, c.NamespaceKind = Value{in.Namespace, "namespace="}, NamespaceExplicit
		if ctx != nil && ctxNamespace != "" && ctxNamespace != in.Namespace {
			c.Notes = append(c.Notes, fmt.Sprintf("namespace= %q wins over %q stored in %s", in.Namespace, ctxNamespace, ctx.Path))
		}
	case !hasKey:
		// self._context_setting['namespace'] on a file without the key.
		c.Err = fmt.Errorf("kfp.Client() raises KeyError: 'namespace': %s has no \"namespace\" key", ctx.Path)
		return
	case nsStored != "":
		c.Namespace, c.NamespaceKind = Value{nsStored, Source(ctx.Path)}, NamespaceContext
		if in.HasNamespaceFile && in.PodNamespace != nsStored {
			c.Notes = append(c.Notes, fmt.Sprintf("%s's namespace %q wins over the pod's own %q", ctx.Path, nsStored, in.PodNamespace))
		}
	default:
		// if not namespace and get_kfp_healthz().multi_user: read the
		// ServiceAccount's namespace file, set_user_namespace writes it
		// to context.json; FileNotFoundError leaves it empty.
		c.HealthzInConstructor = true
		c.NamespaceKind = NamespaceNone
		if in.HasNamespaceFile {
			c.Namespace, c.NamespaceKind = Value{in.PodNamespace, NamespaceFile + ", if healthz says multi-user"}, NamespacePod
		}
	}
	if !c.HealthzInConstructor {
		c.Notes = append(c.Notes, "the constructor skips healthz: a namespace is already set")
	}

	// cookies=, else context.json's client_authentication_cookie; the
	// generated ApiClient sends a non-empty one as the Cookie header.
	switch {
	case in.Cookies:
		c.Cookie = Value{"Cookie header", "cookies="}
	case ctx != nil && ctx.Cookie != "":
		c.Cookie = Value{"Cookie header", Source(ctx.Path + " client_authentication_cookie")}
	}
	// ApiClient(header_name=…, header_value=…) adds a default header.
	if ctx != nil && ctx.HeaderName != "" {
		c.HeaderName = Value{ctx.HeaderName, Source(ctx.Path + " client_authentication_header_name/_value")}
	}
}

// volumePath is ServiceAccountTokenVolumeCredentials.__init__: path or
// os.getenv(KF_PIPELINES_SA_TOKEN_PATH) or KF_PIPELINES_SA_TOKEN_PATH's
// default.
func volumePath(path string, getenv func(string) string) string {
	if path != "" {
		return path
	}
	if p := getenv(EnvTokenPath); p != "" {
		return p
	}
	return DefaultTokenPath
}

func volumeSource(path string, getenv func(string) string) Source {
	switch {
	case path != "":
		return "ServiceAccountTokenVolumeCredentials(path=…)"
	case getenv(EnvTokenPath) != "":
		return "$" + EnvTokenPath
	}
	return "the SDK's default token path"
}

// UIHost is where the SDK's printed links point (Client.__init__ and
// _get_url_prefix): $KF_PIPELINES_UI_ENDPOINT, else ui_host=, else the host.
func UIHost(in Inputs) Value {
	getenv := in.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if v := getenv(EnvUIEndpoint); v != "" {
		return Value{v, "$" + EnvUIEndpoint}
	}
	if in.UIHost != "" {
		return Value{in.UIHost, "ui_host="}
	}
	if in.Host != "" {
		return Value{in.Host, "host="}
	}
	if v := getenv(EnvEndpoint); v != "" {
		return Value{v, "$" + EnvEndpoint}
	}
	return Value{"/pipeline", "relative: no host"}
}

// VolumeTokenPath is the path ServiceAccountTokenVolumeCredentials(path=path)
// reads and where that path came from: path, else
// $KF_PIPELINES_SA_TOKEN_PATH, else the default. It is the one place of that
// precedence; the doctor asks it for a mounted token the call leaves unsent.
func VolumeTokenPath(path string, getenv func(string) string) (string, Source) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return volumePath(path, getenv), volumeSource(path, getenv)
}
