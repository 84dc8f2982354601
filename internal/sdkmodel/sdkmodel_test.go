package sdkmodel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type want struct {
	url       string
	hostKind  HostKind
	auth      AuthKind
	tokenPath string
	replaced  bool
	namespace string
	nsKind    NamespaceKind
	healthz   bool
	cookie    Source
	header    string
	err       string // substring of Err
	note      string // substring of one note
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func only(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, q := range paths {
			if p == q {
				return true
			}
		}
		return false
	}
}

// Every row names the line of sdk/python/kfp/client/client.py (SDK 2.17.0)
// or set_volume_credentials.py it follows.
func TestResolve(t *testing.T) {
	pod := func(in Inputs) Inputs {
		in.InCluster, in.HasNamespaceFile, in.PodNamespace = true, true, "my-profile"
		return in
	}
	ctx := func(ns string) *Context {
		return &Context{Path: "/home/u/.config/kfp/context.json", Namespace: ns, HasNamespace: true}
	}
	rows := []struct {
		name string
		in   Inputs
		want want
	}{
		// _load_config: `if host and not host.startswith('http')`: https:// and a warning.
		{"host without scheme gets https", Inputs{Host: "kfp.example.com"},
			want{url: "https://kfp.example.com", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true, note: "defaults to \"https\""}},
		// _load_config: startswith('http') is the whole test, so no https://;
		// urllib3's parse_url then takes the scheme-less URL as http.
		{"a host starting with http is taken as having a scheme", Inputs{Host: "httpbin.local:80"},
			want{url: "http://httpbin.local:80", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true}},
		// _load_config: `if not client_id: host = host.rstrip('/')`.
		{"trailing slashes are stripped", Inputs{Host: "http://localhost:3000//"},
			want{url: "http://localhost:3000", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true}},
		// __init__: `host = host or os.environ.get(KF_PIPELINES_ENDPOINT_ENV)`.
		{"KF_PIPELINES_ENDPOINT replaces a missing host", Inputs{Getenv: env(EnvEndpoint, "http://from-env:8888")},
			want{url: "http://from-env:8888", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true}},
		{"host= wins over KF_PIPELINES_ENDPOINT", Inputs{Host: "http://arg", Getenv: env(EnvEndpoint, "http://from-env")},
			want{url: "http://arg", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true}},
		// _load_config: `if existing_token: token = existing_token`, then `if token: … return config`.
		{"existing_token with a host", Inputs{Host: "http://localhost:3000", ExistingToken: true},
			want{url: "http://localhost:3000", hostKind: HostGiven, auth: AuthExistingToken, nsKind: NamespaceNone, healthz: true}},
		// … returned before any host is set: Configuration(host="http://localhost").
		{"existing_token without a host goes to localhost, even in a pod", pod(Inputs{ExistingToken: true, Readable: only(DefaultTokenPath)}),
			want{url: "http://localhost", hostKind: HostDefault, auth: AuthExistingToken, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// _load_config: `elif client_id: token, … = auth.get_auth_token(…)`; the slash is kept for IAP.
		{"client_id switches to IAP and keeps the trailing slash", Inputs{Host: "https://kf.example.com/pipeline/", ClientID: "abc.apps"},
			want{url: "https://kf.example.com/pipeline/", hostKind: HostGiven, auth: AuthIAP, nsKind: NamespaceNone, healthz: true, note: "IAP"}},
		// __init__: `client_id = client_id or os.environ.get(KF_PIPELINES_IAP_OAUTH2_CLIENT_ID_ENV)`.
		{"the IAP client id from the environment", Inputs{Host: "https://kf.example.com/pipeline", Getenv: env(EnvIAPClientID, "abc.apps")},
			want{url: "https://kf.example.com/pipeline", hostKind: HostGiven, auth: AuthIAP, nsKind: NamespaceNone, healthz: true}},
		// existing_token comes first in the chain.
		{"existing_token wins over client_id", Inputs{Host: "https://kf", ClientID: "abc", ExistingToken: true},
			want{url: "https://kf", hostKind: HostGiven, auth: AuthExistingToken, nsKind: NamespaceNone, healthz: true}},
		// _load_config: `elif self._is_inverse_proxy_host(host): token = auth.get_gcp_access_token()`.
		{"a googleusercontent.com host gets a GCP access token", Inputs{Host: "https://1234-dot-us-central1.pipelines.googleusercontent.com/"},
			want{url: "https://1234-dot-us-central1.pipelines.googleusercontent.com", hostKind: HostGiven, auth: AuthGCP, nsKind: NamespaceNone, healthz: true}},
		// _load_config: `elif credentials: … refresh_api_key_hook = credentials.refresh_api_key_hook`;
		// ServiceAccountTokenVolumeCredentials.__init__: path or $KF_PIPELINES_SA_TOKEN_PATH or the default.
		{"credentials= with an explicit path", Inputs{Host: "http://ml-pipeline-ui.kubeflow", Credentials: &Credentials{Path: "/opt/t"}, Getenv: env(EnvTokenPath, "/env/t")},
			want{url: "http://ml-pipeline-ui.kubeflow", hostKind: HostGiven, auth: AuthVolumeToken, tokenPath: "/opt/t", nsKind: NamespaceNone, healthz: true}},
		{"credentials= with the path from the environment", Inputs{Host: "http://ml-pipeline-ui.kubeflow", Credentials: &Credentials{}, Getenv: env(EnvTokenPath, "/env/t")},
			want{url: "http://ml-pipeline-ui.kubeflow", hostKind: HostGiven, auth: AuthVolumeToken, tokenPath: "/env/t", nsKind: NamespaceNone, healthz: true}},
		{"credentials= with the default path", Inputs{Host: "http://ml-pipeline-ui.kubeflow", Credentials: &Credentials{}},
			want{url: "http://ml-pipeline-ui.kubeflow", hostKind: HostGiven, auth: AuthVolumeToken, tokenPath: DefaultTokenPath, nsKind: NamespaceNone, healthz: true}},
		// _load_config: `if host: return config` — a mounted token is not looked at.
		{"a host without credentials sends nothing, token mounted or not", pod(Inputs{Host: "http://ml-pipeline-ui.kubeflow", Readable: only(DefaultTokenPath), Getenv: env(EnvTokenPath, DefaultTokenPath)}),
			want{url: "http://ml-pipeline-ui.kubeflow", hostKind: HostGiven, auth: AuthNone, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// _load_config: in_cluster → _IN_CLUSTER_DNS_NAME.format(namespace), _get_config_with_default_credentials.
		{"no host in a pod: the API server's Service and the default credentials", pod(Inputs{Readable: only(DefaultTokenPath)}),
			want{url: "http://ml-pipeline.kubeflow.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthDefaultVolumeToken, tokenPath: DefaultTokenPath, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		{"no host in a pod: the default credentials follow KF_PIPELINES_SA_TOKEN_PATH", pod(Inputs{Readable: only("/opt/t"), Getenv: env(EnvTokenPath, "/opt/t")}),
			want{url: "http://ml-pipeline.kubeflow.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthDefaultVolumeToken, tokenPath: "/opt/t", namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// _get_config_with_default_credentials: `except Exception: logging.warning('Failed to set up default credentials…')`.
		{"no host in a pod without a token: no credentials, and the SDK says so", pod(Inputs{}),
			want{url: "http://ml-pipeline.kubeflow.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthNone, namespace: "my-profile", nsKind: NamespacePod, healthz: true, note: "Failed to set up default credentials"}},
		// _IN_CLUSTER_DNS_NAME.format(namespace): namespace= names the Service's namespace too, and is the user namespace.
		{"no host in a pod with namespace=: a Service in that namespace", pod(Inputs{Namespace: "team-a", Readable: only(DefaultTokenPath)}),
			want{url: "http://ml-pipeline.team-a.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthDefaultVolumeToken, tokenPath: DefaultTokenPath, namespace: "team-a", nsKind: NamespaceExplicit, note: "skips healthz"}},
		// _get_config_with_default_credentials overwrites refresh_api_key_hook when the default works…
		{"no host in a pod: a working default replaces credentials=", pod(Inputs{Credentials: &Credentials{Path: "/opt/t"}, Readable: only(DefaultTokenPath, "/opt/t")}),
			want{url: "http://ml-pipeline.kubeflow.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthDefaultVolumeToken, tokenPath: DefaultTokenPath, replaced: true, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// … and returns the config untouched when it does not.
		{"no host in a pod: credentials= stays when the default is missing", pod(Inputs{Credentials: &Credentials{Path: "/opt/t"}, Readable: only("/opt/t")}),
			want{url: "http://ml-pipeline.kubeflow.svc.cluster.local:8888", hostKind: HostInCluster, auth: AuthVolumeToken, tokenPath: "/opt/t", namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// _load_config: load_kube_config, then host + '/' + _KUBE_PROXY_PATH.format(namespace).
		{"no host outside: the kube-apiserver's service proxy", Inputs{Kubeconfig: Kubeconfig{Loaded: true, Server: "https://127.0.0.1:6443/"}},
			want{url: "https://127.0.0.1:6443/api/v1/namespaces/kubeflow/services/ml-pipeline:http/proxy/", hostKind: HostKubeProxy, auth: AuthKubeconfig, nsKind: NamespaceNone, healthz: true}},
		// load_kube_config(client_configuration=config, context=kube_context).
		{"no host outside with kube_context=", Inputs{KubeContext: "dev", Kubeconfig: Kubeconfig{Loaded: true, Server: "https://dev:6443"}},
			want{url: "https://dev:6443/api/v1/namespaces/kubeflow/services/ml-pipeline:http/proxy/", hostKind: HostKubeProxy, auth: AuthKubeconfig, nsKind: NamespaceNone, healthz: true}},
		{"no host outside with credentials=: they replace the kubeconfig's bearer", Inputs{Credentials: &Credentials{Path: "/t"}, Kubeconfig: Kubeconfig{Loaded: true, Server: "https://k:6443"}},
			want{url: "https://k:6443/api/v1/namespaces/kubeflow/services/ml-pipeline:http/proxy/", hostKind: HostKubeProxy, auth: AuthVolumeToken, tokenPath: "/t", nsKind: NamespaceNone, healthz: true, note: "replaces the kubeconfig's bearer"}},
		// _load_config: `except Exception: logging.warning('Failed to load kube config…'); return config`.
		{"no host, no pod, no kubeconfig: localhost", Inputs{},
			want{url: "http://localhost", hostKind: HostDefault, auth: AuthNone, nsKind: NamespaceNone, healthz: true, note: "failed to load kube config"}},

		// __init__: `if namespace != 'kubeflow': self._context_setting['namespace'] = namespace`.
		{"namespace= is the calls' namespace and skips healthz", pod(Inputs{Host: "http://h", Namespace: "team-a", Context: ctx("stale")}),
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, namespace: "team-a", nsKind: NamespaceExplicit, note: "wins over \"stale\""}},
		{"namespace=\"kubeflow\" is the default: the pod's namespace still fills in", pod(Inputs{Host: "http://h", Namespace: "kubeflow"}),
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// __init__: `if not self._context_setting['namespace'] and …healthz…` — a stored one wins and skips healthz.
		{"context.json's namespace wins over the pod's", pod(Inputs{Host: "http://h", Context: ctx("stale")}),
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, namespace: "stale", nsKind: NamespaceContext, note: "wins over the pod's own \"my-profile\""}},
		{"an empty namespace in context.json: the pod's fills in", pod(Inputs{Host: "http://h", Context: ctx("")}),
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, namespace: "my-profile", nsKind: NamespacePod, healthz: true}},
		// … `except FileNotFoundError: logging.info('Failed to automatically set namespace.')`.
		{"outside a pod nothing fills the namespace in", Inputs{Host: "http://h", Context: ctx("")},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true}},
		// self._context_setting['namespace'] on a file without the key.
		{"context.json without a namespace key: KeyError", Inputs{Host: "http://h", Context: &Context{Path: "/c.json"}},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, err: "KeyError"}},
		{"context.json without a namespace key is fine with namespace=", Inputs{Host: "http://h", Namespace: "team-a", Context: &Context{Path: "/c.json"}},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, namespace: "team-a", nsKind: NamespaceExplicit}},
		// _load_context_setting_or_default: json.load raises on a broken file.
		{"a broken context.json: the constructor raises", Inputs{Host: "http://h", Context: ParseContext("/c.json", []byte("{"))},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, err: "json.load"}},
		// __init__: `if cookies is None: cookies = …get('client_authentication_cookie')`; ApiClient(header_name=…).
		{"context.json's cookie and header are sent", Inputs{Host: "http://h", Context: &Context{Path: "/c.json", HasNamespace: true, Cookie: "s=1", HeaderName: "kubeflow-userid", HeaderValue: "u"}},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true, cookie: "/c.json client_authentication_cookie", header: "kubeflow-userid"}},
		{"cookies= wins over context.json's cookie", Inputs{Host: "http://h", Cookies: true, Context: &Context{Path: "/c.json", HasNamespace: true, Cookie: "s=1"}},
			want{url: "http://h", hostKind: HostGiven, auth: AuthNone, nsKind: NamespaceNone, healthz: true, cookie: "cookies="}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := Resolve(r.in)
			w := r.want
			if w.err != "" {
				if c.Err == nil || !strings.Contains(c.Err.Error(), w.err) {
					t.Fatalf("Err %v, want one naming %q", c.Err, w.err)
				}
			} else if c.Err != nil {
				t.Fatalf("unexpected Err %v", c.Err)
			}
			if c.URL != w.url || c.HostKind != w.hostKind {
				t.Errorf("URL %q (%s), want %q (%s)", c.URL, c.HostKind, w.url, w.hostKind)
			}
			if c.AuthKind != w.auth || c.TokenPath != w.tokenPath || c.ReplacedCredentials != w.replaced {
				t.Errorf("auth %s %q replaced=%v, want %s %q replaced=%v", c.AuthKind, c.TokenPath, c.ReplacedCredentials, w.auth, w.tokenPath, w.replaced)
			}
			if w.err == "" && (c.Namespace.Value != w.namespace || c.NamespaceKind != w.nsKind || c.HealthzInConstructor != w.healthz) {
				t.Errorf("namespace %q (%s) healthz=%v, want %q (%s) healthz=%v", c.Namespace.Value, c.NamespaceKind, c.HealthzInConstructor, w.namespace, w.nsKind, w.healthz)
			}
			if c.Cookie.Source != w.cookie || c.HeaderName.Value != w.header {
				t.Errorf("cookie %q header %q, want %q %q", c.Cookie.Source, c.HeaderName.Value, w.cookie, w.header)
			}
			if w.note != "" && !strings.Contains(strings.Join(c.Notes, "\n"), w.note) {
				t.Errorf("notes %q lack %q", c.Notes, w.note)
			}
			if c.Version != Version {
				t.Errorf("version %q", c.Version)
			}
			if r.in.KubeContext != "" && !strings.Contains(c.Auth.String(), "context "+r.in.KubeContext) {
				t.Errorf("auth %q does not name the context", c.Auth.String())
			}
		})
	}
}

// The pod's namespace fills in only where healthz said multi-user.
func TestNamespaceFor(t *testing.T) {
	c := Resolve(Inputs{Host: "http://h", HasNamespaceFile: true, PodNamespace: "p"})
	if got := c.NamespaceFor(true); got != "p" {
		t.Errorf("multi-user: %q", got)
	}
	if got := c.NamespaceFor(false); got != "" {
		t.Errorf("standalone: %q", got)
	}
	c = Resolve(Inputs{Host: "http://h", Namespace: "n"})
	if c.NamespaceFor(false) != "n" || c.NamespaceFor(true) != "n" {
		t.Error("an explicit namespace is sent in both modes")
	}
}

func TestUIHost(t *testing.T) {
	rows := []struct {
		in   Inputs
		want string
	}{
		{Inputs{Host: "http://h", UIHost: "http://ui", Getenv: env(EnvUIEndpoint, "http://env-ui")}, "http://env-ui"},
		{Inputs{Host: "http://h", UIHost: "http://ui"}, "http://ui"},
		{Inputs{Host: "http://h"}, "http://h"},
		{Inputs{}, "/pipeline"},
	}
	for _, r := range rows {
		if got := UIHost(r.in).Value; got != r.want {
			t.Errorf("%+v: %q, want %q", r.in, got, r.want)
		}
	}
}

func TestReadContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if c, err := ReadContext(context.Background(), filepath.Join(dir, "none.json")); c != nil || err != nil {
		t.Fatalf("missing file: %v %v", c, err)
	}
	if c, err := ReadContext(context.Background(), ""); c != nil || err != nil {
		t.Fatalf("no home: %v %v", c, err)
	}
	c, err := ReadContext(context.Background(), write("ok.json", `{"namespace": "p", "client_authentication_cookie": "a=b", "client_authentication_header_name": "h", "client_authentication_header_value": "v"}`))
	if err != nil || c.Err != nil || c.Namespace != "p" || !c.HasNamespace || c.Cookie != "a=b" || c.HeaderName != "h" || c.HeaderValue != "v" {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = ReadContext(context.Background(), write("null.json", `{"namespace": null}`))
	if err != nil || c.Err != nil || !c.HasNamespace || c.Namespace != "" {
		t.Fatalf("null namespace: %+v %v", c, err)
	}
	for name, body := range map[string]string{"array.json": `[]`, "broken.json": `{`, "number.json": `{"namespace": 3}`} {
		c, err := ReadContext(context.Background(), write(name, body))
		if err != nil || c.Err == nil {
			t.Errorf("%s: %+v %v, want Context.Err", name, c, err)
		}
	}
	if _, err := ReadContext(context.Background(), write("big.json", `{"namespace": "`+strings.Repeat("x", int(MaxContextFile))+`"}`)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge file: %v", err)
	}
	if _, err := ReadContext(context.Background(), dir); err == nil {
		t.Error("a directory must be an error")
	}
	if ContextPath("/home/u") != "/home/u/.config/kfp/context.json" || ContextPath("") != "" {
		t.Error("ContextPath")
	}
}

// ServiceAccountTokenVolumeCredentials' path: its argument, then
// $KF_PIPELINES_SA_TOKEN_PATH, then the default, each named as the source.
func TestVolumeTokenPath(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got, src := VolumeTokenPath("", getenv); got != DefaultTokenPath || src != "the SDK's default token path" {
		t.Fatalf("default: %s (%s)", got, src)
	}
	env[EnvTokenPath] = "/from/env"
	if got, src := VolumeTokenPath("", getenv); got != "/from/env" || src != "$"+EnvTokenPath {
		t.Fatalf("env: %s (%s)", got, src)
	}
	if got, src := VolumeTokenPath("/from/arg", getenv); got != "/from/arg" || src != "ServiceAccountTokenVolumeCredentials(path=…)" {
		t.Fatalf("argument: %s (%s)", got, src)
	}
	if got, _ := VolumeTokenPath("", nil); got != DefaultTokenPath {
		t.Fatalf("nil getenv: %s", got)
	}
}
