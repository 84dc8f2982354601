// Package kfd is the failure catalogue, the one home of what a failure is:
// every way a kfp.Client connection is known to break, with a stable id
// (KFD001…), its title, cause and fix, its doc anchor, the doctor's probes
// that may name it, and the real texts that reveal it (texts.txtar, with
// their sources). Probes name an id; hints and doc links come from here;
// docs/failures.md is generated from it (internal/failuresdoc), so the words
// for a failure live in one place.
//
// Nothing here is built at start-up: the entries and the texts are made on
// first use, so a run that names no failure pays nothing for them.
package kfd

import (
	"sort"
	"strings"
	"sync"
)

// ID is a stable catalogue id such as "KFD009". The zero value means "none".
type ID string

// DocBase is where every id has an anchor (docs/failures.md in this repository).
const DocBase = "https://github.com/kfp-connect/kfp-connect/blob/main/docs/failures.md#"

// Entry is one row of the catalogue.
type Entry struct {
	ID    ID
	Title string // what the user sees, short
	Cause string // why it happens
	Hint  string // the fix, one line
	// Probes are the doctor's probes (their ids in a report) that may name
	// this id. A test holds them to the probes the doctor has, and the
	// conformance scenarios to them.
	Probes []string
	// NoProbe says why no probe can name the id, when Probes is empty.
	NoProbe string
	// NoText says why the catalogue holds no real text of it, when it
	// holds none (texts.txtar).
	NoText string
	// Notes are further lines for its section of docs/failures.md.
	Notes []string
}

// Anchor is the id's anchor in docs/failures.md.
func (id ID) Anchor() string { return strings.ToLower(string(id)) }

// Doc returns the documentation link for the id, or "" for the zero id.
func (id ID) Doc() string {
	if id == "" {
		return ""
	}
	return DocBase + id.Anchor()
}

// The ids of the catalogue. KFD001–KFD024 are failures users report
// (shared/design/failure-catalogue.md); KFD025 and later are ones the doctor
// tells apart beyond those reports.
const (
	NoIdentity          ID = "KFD001"
	TokenInvalid        ID = "KFD002"
	TokenAudience       ID = "KFD003"
	NoTokenFile         ID = "KFD004"
	IstioDenied         ID = "KFD005"
	PipelinePodDenied   ID = "KFD006"
	JWTIssuer           ID = "KFD007"
	JWKSUnreachable     ID = "KFD008"
	RBACDenied          ID = "KFD009"
	EmptyNamespace      ID = "KFD010"
	NamespaceSingleUser ID = "KFD011"
	LoginScript         ID = "KFD012"
	LoginPage           ID = "KFD013"
	HealthzHTTPError    ID = "KFD014"
	VersionMismatch     ID = "KFD015"
	TLSVerify           ID = "KFD016"
	DNS                 ID = "KFD017"
	APIServerProxy      ID = "KFD018"
	BackendNotReady     ID = "KFD019"
	Expired             ID = "KFD020"
	SelfSetUserID       ID = "KFD021"
	SharedPipeline      ID = "KFD022"
	SDKAuthModule       ID = "KFD023"
	NoAnswer            ID = "KFD024"
	NothingListening    ID = "KFD025"
	NotKFP              ID = "KFD026"
	RedirectLoop        ID = "KFD027"
	ReviewUnavailable   ID = "KFD028"
	WrongCredentials    ID = "KFD029"
	UnknownConnector    ID = "KFD030"
	UnsecuredGateway    ID = "KFD031"
	LoginHelper         ID = "KFD032"
	LoginProviderDown   ID = "KFD033"
	LoginProxyDown      ID = "KFD034"
	// KFD036–KFD039: where kfp.Client's own rules (internal/sdkmodel)
	// decide the outcome.
	HostWithoutCredentials ID = "KFD036"
	ContextFile            ID = "KFD037"
	NamespaceNamesService  ID = "KFD038"
	SDKTokenNotReproduced  ID = "KFD039"

	// KFD040–KFD049: a run that checked nothing, and connection failures
	// below KFP's own answers (the reply is not well-formed HTTP, the
	// request cannot be built, the server failed it).
	NoVerdict              ID = "KFD040"
	MalformedHTTP          ID = "KFD041"
	ConflictingLength      ID = "KFD042"
	HeadersTooLarge        ID = "KFD043"
	BadRedirect            ID = "KFD044"
	HeaderUnsafeCredential ID = "KFD045"
	ServerError            ID = "KFD046"

	// KFD047–KFD050: a cloud's own login stands in front of KFP
	// (internal/distro): the doctor recognises it and cannot log in.
	DistroIAP   ID = "KFD047"
	DistroAWS   ID = "KFD048"
	DistroAzure ID = "KFD049"
	DistroIBM   ID = "KFD050"

	// PodDefaultWebhookDown: Kubeflow's PodDefault webhook (failurePolicy
	// Fail) cannot be called, so no pod starts in a profile namespace.
	PodDefaultWebhookDown ID = "KFD055"

	// KFD056–KFD059: classes users report that had no id.
	AuthserviceDown ID = "KFD056" // oidc-authservice does not answer the gateway's ext_authz
	InverseProxy    ID = "KFD057" // Google's hosted inverse proxy wants a Google token
	PipelineStep    ID = "KFD058" // kfp.Client called from a pipeline step, which has no KFP token
	OutsideIdP      ID = "KFD059" // an identity provider the SDK cannot log in to non-interactively

	// StrictMTLS: a STRICT PeerAuthentication refuses the plaintext of a
	// client outside the mesh; the sidecar resets the connection.
	StrictMTLS ID = "KFD070"

	// Unclassified anchors failures the catalogue does not know.
	Unclassified ID = "unclassified"
)

// catalogue is built on first use (sync.OnceValue), never at start-up.
var catalogue = sync.OnceValue(func() map[ID]Entry {
	m := entries()
	for id, e := range m {
		e.ID = id
		m[id] = e
	}
	return m
})

func entries() map[ID]Entry {
	return map[ID]Entry{
		NoIdentity: {Probes: []string{"healthz", "list-experiments", "create-experiment"},
			Title: "no user identity (401 \"there is no user identity header\")",
			Cause: "multi-user KFP reached without a token or session: straight to ml-pipeline:8888 or a port-forward to ml-pipeline-ui",
			Hint:  "send a ServiceAccount token (--token-path, or --token-file from `kubectl create token`), or go through the gateway with a session"},
		TokenInvalid: {Probes: []string{"token", "mesh", "healthz", "list-experiments", "create-experiment"},
			Title: "token rejected by TokenReview",
			Cause: "the token is not a valid ServiceAccount token of this cluster: malformed, expired, invalidated, or minted elsewhere",
			Hint:  "mint a fresh token (projected volume or `kubectl -n NS create token default-editor --audience pipelines.kubeflow.org`)"},
		TokenAudience: {Probes: []string{"token", "audience", "list-experiments"},
			Title: "token audience differs from TOKEN_REVIEW_AUDIENCE",
			Cause: "KFP reviews tokens for audience TOKEN_REVIEW_AUDIENCE (default pipelines.kubeflow.org) and the token lacks it",
			Hint:  "use a projected token with audience pipelines.kubeflow.org (or the deployment's TOKEN_REVIEW_AUDIENCE)"},
		NoTokenFile: {Probes: []string{"poddefault", "token", "poddefault-webhook"},
			Title: "ServiceAccount token file missing or unreadable",
			Cause: "no PodDefault in the namespace, the pod lacks the label access-ml-pipeline: \"true\", or the volume is mounted elsewhere than KF_PIPELINES_SA_TOKEN_PATH",
			Hint:  "add the PodDefault to the profile namespace and label the pod access-ml-pipeline=\"true\", or point KF_PIPELINES_SA_TOKEN_PATH at the mounted token"},
		IstioDenied: {Probes: []string{"mesh", "healthz", "list-experiments", "create-experiment"},
			Title: "Istio \"RBAC: access denied\" (403, plain text)",
			Cause: "an Istio AuthorizationPolicy refused the request: to ml-pipeline-ui without Authorization, or with a self-set kubeflow-userid",
			Hint:  "send the ServiceAccount token as Authorization: Bearer; never set kubeflow-userid yourself"},
		PipelinePodDenied: {Probes: []string{"mesh", "healthz", "list-experiments"},
			Title: "pipeline step pods denied by the AuthorizationPolicy",
			Cause: "the pod's traffic is blocked by an Istio AuthorizationPolicy",
			Hint:  "add a policy rule for the pod's principal"},
		JWTIssuer: {Probes: []string{"mesh", "healthz", "list-experiments"},
			Title: "401 \"Jwt issuer is not configured\" through the gateway",
			Cause: "the gateway's RequestAuthentication lacks the issuer of your token",
			Hint:  "add a jwtRule for the token's iss to the RequestAuthentication (m2m overlay)"},
		JWKSUnreachable: {Probes: []string{"healthz", "list-experiments"},
			Title: "machine-to-machine token rejected on a managed cluster",
			Cause: "Istio cannot fetch the cluster issuer's discovery document or JWKS",
			Hint:  "serve the JWKS through a proxy Istio can reach, or configure extra issuers"},
		RBACDenied: {Probes: []string{"rbac", "list-experiments", "create-experiment"},
			Title: "403 \"is not authorized\" (SubjectAccessReview denied)",
			Cause: "no RoleBinding to kubeflow-edit/kubeflow-view for this identity in that namespace (or not a profile contributor)",
			Hint:  "bind the identity to kubeflow-edit in the namespace (the documented RoleBinding), add it as a contributor, or use your own profile namespace"},
		EmptyNamespace: {Probes: []string{"mode", "list-experiments", "create-experiment"},
			Title: "multi-user call without a namespace (400)",
			Cause: "multi-user KFP needs a namespace on every experiment and run call",
			Hint:  "pass --namespace (kfp: namespace= or the context namespace)"},
		NamespaceSingleUser: {Probes: []string{"mode", "create-experiment"},
			Title: "namespace sent to standalone KFP",
			Cause: "single-user KFP refuses resource references on writes",
			Hint:  "drop the namespace when talking to standalone KFP"},
		LoginScript: {Probes: []string{"login-connector", "login-credentials", "login-session"},
			Title: "Dex login script fails",
			Cause: "Kubeflow 1.9 moved from oidc-authservice to oauth2-proxy (cookie oauth2_proxy_kubeflow) and can add an approval step",
			Hint:  "follow the redirect chain generically and keep all cookies"},
		LoginPage: {Probes: []string{"healthz", "list-experiments"},
			Title: "got a login page instead of JSON",
			Cause: "an unauthenticated call through the gateway was answered by the login page (Dex / oauth2-proxy)",
			Hint:  "log in and pass the session cookies (--cookies), or send a token"},
		HealthzHTTPError: {Probes: []string{"healthz"},
			Title: "healthz answered an HTTP error",
			Cause: "the endpoint answers healthz with an error; when kfp.Client()'s constructor calls healthz (no namespace given or stored) it retries 5 × 5 s and hides the cause, and with a namespace the first call fails at once",
			Hint:  "check the backend behind this host (pods ready? right service and port?)"},
		VersionMismatch: {Probes: []string{"healthz", "list-experiments"},
			Title: "SDK and backend API versions differ",
			Cause: "the v2 SDK against a v1 backend (or the reverse): \"Cannot GET …/apis/v2beta1\"",
			Hint:  "use an SDK that matches the backend's major version"},
		TLSVerify: {Probes: []string{"healthz", "list-experiments", "login-secured"},
			Title: "TLS certificate not trusted",
			Cause: "the ingress uses a certificate from a private CA",
			Hint:  "pass the CA with --ca-cert (kfp: ssl_ca_cert=)"},
		DNS: {Probes: []string{"install", "endpoints", "healthz"},
			Title: "host name does not resolve",
			Cause: "KFP is in another namespace, the Service is missing, or the name is not on cluster DNS",
			Hint:  "check the Service exists and use ml-pipeline-ui.<namespace> (or the full host)"},
		APIServerProxy: {Probes: []string{"install"},
			Title: "services \"ml-pipeline\" not found via the kube-apiserver proxy",
			Cause: "no host given outside the cluster, wrong namespace, or no RBAC for services/proxy",
			Hint:  "pass host= explicitly"},
		BackendNotReady: {Probes: []string{"endpoints", "healthz", "list-experiments"},
			Title: "backend not ready (no endpoints / upstream connect error)",
			Cause: "the pods behind the Service are not ready, or the API server is down",
			Hint:  "wait for readiness; check `kubectl -n kubeflow get pods,endpoints`"},
		Expired: {Probes: []string{"token", "mesh", "healthz", "list-experiments"},
			Title: "session or token expired",
			Cause: "the session cookie (24 h) or projected token (7200 s) expired and was not refreshed",
			Hint:  "log in again; re-read the token file on every request (the kubelet rotates it)"},
		SelfSetUserID: {Probes: []string{"mesh", "healthz", "list-experiments"},
			Title:  "\"RBAC: access denied\" for a self-set kubeflow-userid",
			Cause:  "the gateway's policy rejects requests that set the identity header themselves",
			Hint:   "remove the kubeflow-userid header and use a token or session",
			NoText: "Istio answers a self-set kubeflow-userid with the same \"RBAC: access denied\" as KFD005's texts: only the request tells them apart, which a pasted reply does not show"},
		SharedPipeline: {NoProbe: "the doctor uploads no pipeline: its write check (--check-write) creates an experiment, which always names a namespace",
			Title: "403 uploading a pipeline with no namespace",
			Cause: "shared-pipeline uploads need create permission in the KFP namespace",
			Hint:  "pass namespace="},
		SDKAuthModule: {NoProbe: "an import error in the user's Python code: the doctor runs no Python, and `kfp-doctor explain` names it from the traceback",
			Title: "module 'kfp' has no attribute 'auth'",
			Cause: "the v1 docs' kfp.auth.ServiceAccountTokenVolumeCredentials used with the v2 SDK",
			Hint:  "use kfp.client.ServiceAccountTokenVolumeCredentials"},
		NoAnswer: {Probes: []string{"healthz", "list-experiments"},
			Title: "the host accepts connections but never answers",
			Cause: "a wrong port on a proxy or a stuck sidecar; kfp.Client() sets no timeout and hangs",
			Hint:  "check host and port (ml-pipeline-ui:80, ml-pipeline:8888, the gateway's /pipeline)"},
		NothingListening: {Probes: []string{"healthz", "list-experiments", "login-secured"},
			Title: "nothing answers at host:port",
			Cause: "connection refused or connect timed out: the port-forward is not running, or the port is wrong",
			Hint:  "start the port-forward (kubectl -n kubeflow port-forward svc/ml-pipeline-ui 3000:80) or fix the port"},
		NotKFP: {Probes: []string{"healthz", "list-experiments", "login-secured"},
			Title: "reached something that is not KFP's API",
			Cause: "a wrong path or port: /pipeline missing on the gateway or present where it is not served, or another service",
			Hint:  "use http://ml-pipeline-ui.<ns> in the cluster, http://localhost:PORT on a port-forward, and …/pipeline through the gateway"},
		RedirectLoop: {Probes: []string{"healthz", "login-secured", "login-connector", "login-credentials", "login-session"},
			Title: "redirect loop",
			Cause: "the endpoint keeps redirecting: a login flow misconfigured or a proxy pointing at itself",
			Hint:  "open the URL in a browser to see where it loops; check the gateway's auth configuration"},
		ReviewUnavailable: {Probes: []string{"list-experiments"},
			Title: "KFP cannot ask Kubernetes to review the request",
			Cause: "the KFP API server failed to create a TokenReview or SubjectAccessReview: kube-apiserver unreachable or the server's ServiceAccount lacks RBAC",
			Hint:  "check ml-pipeline's logs and that its ServiceAccount may create tokenreviews and subjectaccessreviews"},
		WrongCredentials: {Probes: []string{"login-credentials"},
			Title: "Dex refused the user name or password",
			Cause: "Dex answered its login form again, with no redirect (HTTP 401 since Dex v2.36.0, HTTP 200 before): a wrong password, a user unknown to that connector, or a user name in the wrong form (static users log in with their email)",
			Hint:  "check the user and $KFP_DOCTOR_PASSWORD (Kubeflow's example user is user@example.com), and that --login-connector names the connector that holds the user (local or ldap)",
			Notes: []string{"The doctor's `login-credentials` probe names it; what depends on the session (`login-session`, `healthz`, `list-experiments`) is skipped."}},
		UnknownConnector: {Probes: []string{"login-connector"},
			Title: "Dex has no such connector",
			Cause: "the connector asked for is not on Dex's choice page, or Dex answers 404/400 for /dex/auth/<connector>: it is not in Dex's configuration",
			Hint:  "pass --login-connector with a connector Dex offers (local for static passwords, ldap for LDAP); the message lists what Dex showed",
			Notes: []string{"With a single connector Dex redirects straight to it; the doctor then asks for the requested one as the choice page would, and says which one Dex has."}},
		LoginHelper: {Probes: []string{"login-helper"},
			Title: "the documented Python login helper would fail on this gateway",
			Cause: "the login works, but Kubeflow's get_istio_auth_session() demands HTTP 200 from its first GET, of the gateway's root (Kubeflow ≥ 1.9 answers it with oauth2-proxy's sign-in page and 403: RuntimeError: HTTP status code '403' for GET against: http://…:8080), always posts to Dex's local connector, and does not approve Dex's approval page",
			Hint:  "log in with a client that starts at /oauth2/start?rd=/pipeline/, follows every redirect, picks the connector and approves the approval page (the doctor's login does), or use a ServiceAccount token through the gateway",
			Notes: []string{"The doctor reports it as a warning (`login-helper`) after a login that worked, naming the step at which the helper would stop; it never fails a working login."}},
		LoginProviderDown: {Probes: []string{"login-secured", "login-connector", "login-credentials"},
			Title: "Dex does not answer behind the gateway",
			Cause: "the gateway's /dex/ route has no ready backend: Envoy answers 503 \"upstream connect error\" for Dex's pages (Dex down, scaled to zero, crash-looping on a bad config, or its Service missing)",
			Hint:  "check Dex: kubectl -n auth get pods,endpoints dex and kubectl -n auth logs deploy/dex (a config error shows at start)"},
		LoginProxyDown: {Probes: []string{"login-secured"},
			Title: "oauth2-proxy does not answer behind the gateway",
			Cause: "the gateway's ext_authz provider and its /oauth2/ route have no ready backend: Envoy refuses every request with an empty 403 and answers /oauth2/* with 503 \"upstream connect error\"",
			Hint:  "check oauth2-proxy: kubectl -n oauth2-proxy get pods,endpoints oauth2-proxy and its logs (it exits when it cannot reach Dex's keys at start)"},
		UnsecuredGateway: {Probes: []string{"login-secured"},
			Title:  "the gateway lets /pipeline through without a login",
			Cause:  "GET /pipeline/ answered without redirecting into Dex: no oauth2-proxy or oidc-authservice guards KFP there, so there is no session to get and requests reach KFP with no identity",
			Hint:   "put Kubeflow's oauth2-proxy and Dex in front of the gateway (or check you port-forwarded istio-ingressgateway, not ml-pipeline-ui); without a login, send a ServiceAccount token instead",
			Notes:  []string{"The doctor reports it as a warning (`login-secured`): the user asked to log in and there is nothing to log in to, but standalone KFP may still work; the probes after it run without a session and say whether KFP accepts that (multi-user KFP answers KFD001)."},
			NoText: "a finding of the doctor itself, met nowhere else: its only text is the doctor's own message, which docs/failures.md quotes from the code that prints it"},
		HostWithoutCredentials: {Probes: []string{"unsent-token"},
			Title:  "kfp.Client(host=…) does not send the mounted token",
			Cause:  "given a host and none of existing_token, client_id or credentials, the SDK's _load_config returns without credentials: the token the PodDefault mounted at $KF_PIPELINES_SA_TOKEN_PATH (or /var/run/secrets/kubeflow/pipelines/token) is never read; only kfp.Client() with no host uses it by default",
			Hint:   "pass credentials=kfp.client.ServiceAccountTokenVolumeCredentials() (the doctor: --volume-credentials or --token-path), or omit host in the pod",
			Notes:  []string{"The doctor reports it as a warning (`unsent-token`) next to the KFD001 of `list-experiments`, and tries the mounted token: the message says whether KFP would have accepted it."},
			NoText: "a finding of the doctor itself, met nowhere else: its only text is the doctor's own message, which docs/failures.md quotes from the code that prints it"},
		ContextFile: {Probes: []string{"sdk"},
			Title: "~/.config/kfp/context.json overrides or breaks the call",
			Cause: "kfp.Client() reads ~/.config/kfp/context.json first: a namespace stored there (by an earlier set_user_namespace or kfp.Client() in another pod) wins over the pod's own and skips the constructor's healthz; a file that is not a JSON object, or lacks the namespace key, makes the constructor raise",
			Hint:  "fix or delete ~/.config/kfp/context.json (client.set_user_namespace(\"my-profile\") writes the right one), or pass namespace= explicitly",
			Notes: []string{"The doctor reads the file under $HOME (at most 64 KiB) and shows the namespace it holds and whether it holds a cookie or header, never their values (`sdk`)."}},
		NamespaceNamesService: {Probes: []string{"sdk"},
			Title: "namespace= with no host points kfp.Client() at a Service that is not KFP's",
			Cause: "with no host in a pod, the SDK connects to ml-pipeline.<namespace>.svc.cluster.local:8888 with the Client's namespace= argument: namespace=\"my-profile\" both names the user namespace and moves the API server's address into the profile, where no ml-pipeline Service is",
			Hint:  "omit namespace= (the pod's own namespace fills in) and pass the profile to the calls (list_experiments(namespace=…)), or give host=\"http://ml-pipeline.kubeflow:8888\" with credentials"},
		SDKTokenNotReproduced: {Probes: []string{"sdk"},
			Title: "the SDK's Google token is not reproduced",
			Cause: "client_id= / $KF_PIPELINES_IAP_OAUTH2_CLIENT_ID (IAP) or a *.googleusercontent.com host makes kfp.Client fetch a Google token; the doctor cannot get one, so it checks the endpoint without it",
			Hint:  "pass the token the SDK would get as --token-file (for example `gcloud auth print-identity-token`) to check the rest of the chain"},
		NoVerdict: {Probes: []string{"run"},
			Title:  "no probe reached a verdict",
			Cause:  "the run ended before any probe of the connection passed, warned or failed (a local check such as the token file's claims does not count): its deadline passed first (cluster discovery and port-forward set-up count against it), it was interrupted, or every probe was skipped; or it was stopped part-way with nothing failed. A run that checked nothing, or not all it set out to, is never OK",
			Hint:   "raise --timeout (each probe needs up to 8s) and run again without interrupting it; if every probe was skipped, check the flags: the message names the first reason",
			NoText: "a finding of the doctor itself, met nowhere else: its only text is the doctor's own message, which docs/failures.md quotes from the code that prints it"},
		MalformedHTTP: {Probes: []string{"healthz", "list-experiments"},
			Title: "the reply is not well-formed HTTP",
			Cause: "something answered at host:port, but with a malformed status line, broken chunked encoding, or a body cut short of its length: not an HTTP server, or a proxy that mangles replies",
			Hint:  "check host and port (is this KFP, or another protocol on that port?); with a proxy in between, try the port-forward to ml-pipeline-ui directly"},
		ConflictingLength: {Probes: []string{"healthz", "list-experiments"},
			Title: "the reply carries two different Content-Lengths",
			Cause: "two proxies on the path each set Content-Length, or one proxy rewrote the body without fixing the header; a client cannot know where the reply ends",
			Hint:  "fix the proxy in front of KFP so one Content-Length (or chunked encoding) is sent; compare with a port-forward to ml-pipeline-ui"},
		HeadersTooLarge: {Probes: []string{"healthz", "list-experiments"},
			Title: "the reply's headers are too large",
			Cause: "the server sent more header bytes than any KFP reply holds (a proxy looping Set-Cookie, or not an HTTP API at all)",
			Hint:  "look at the endpoint's headers (curl -sI) and at the proxy in front of KFP"},
		BadRedirect: {Probes: []string{"healthz", "list-experiments"},
			Title: "a redirect that cannot be followed",
			Cause: "the server redirected without a Location header, to a Location that is not a URL, or to a scheme other than http and https",
			Hint:  "fix the redirect on the server or proxy, or point --host at where it should lead"},
		HeaderUnsafeCredential: {Probes: []string{"token", "healthz"},
			Title: "the token or cookie cannot go in an HTTP header",
			Cause: "the token or cookie holds a control character, a line break or a byte outside what an HTTP header allows (a file with Windows line endings inside, binary data, a pasted multi-line value)",
			Hint:  "rewrite the file with just the token (kubectl create token … > file) or the cookie string (name=value; name2=value2)"},
		ServerError: {Probes: []string{"list-experiments", "create-experiment", "login-connector", "login-credentials"},
			Title: "the server failed the request (HTTP 5xx)",
			Cause: "KFP's API server, Dex or a proxy answered with a server error: a crash, a failed dependency (database, object store) or a bug; the request itself may be fine",
			Hint:  "look at the logs of the component that answered (kubectl -n kubeflow logs deploy/ml-pipeline, or the gateway's Dex and oauth2-proxy); the evidence holds the start of its answer"},
		DistroIAP: {Probes: []string{"distribution", "healthz", "login-secured"},
			Title: "Google Cloud IAP guards the endpoint",
			Cause: "the gateway sends an anonymous request to Google's sign-in (accounts.google.com with the IAP client_id) or answers \"Invalid IAP credentials\": only a Google ID token for IAP's OAuth client gets through, and Dex logins, cookies or ServiceAccount tokens do not",
			Hint:  "connect as Kubeflow on Google Cloud documents it: kfp.Client(host=…, client_id=<IAP OAuth client id>) with Google credentials, or pass a token from `gcloud auth print-identity-token --audiences=<client id>` (--token-file); see https://www.kubeflow.org/docs/distributions/gke/pipelines/authentication-sdk/",
			Notes: []string{"Recognised by (`internal/distro`): a redirect to accounts.google.com, the `X-Goog-IAP-Generated-Response` header, an `Invalid IAP credentials` body, `GCP_IAP_*` / `__Host-GCP_IAP_AUTH_TOKEN*` cookies; a `*.cloud.goog` host only supports them. The doctor reports it in the `distribution` probe, and the `--username` login stops there instead of following Google's sign-in."}},
		DistroAWS: {Probes: []string{"distribution", "healthz", "login-secured"},
			Title: "an AWS load balancer with Cognito guards the endpoint",
			Cause: "the ALB in front of Kubeflow sends an anonymous request to Cognito's hosted sign-in (*.amazoncognito.com, callback /oauth2/idpresponse) and admits only its own session cookies (AWSELBAuthSessionCookie-0, -1); a Dex login does not exist there",
			Hint:  "sign in once in a browser and pass the ALB's cookies: KFP_DOCTOR_COOKIES='AWSELBAuthSessionCookie-0=…; AWSELBAuthSessionCookie-1=…' (kfp.Client(cookies=…)), as Kubeflow on AWS documents: https://www.kubeflow.org/docs/distributions/aws/pipeline/#authenticate-kubeflow-pipeline-using-sdk-outside-cluster",
			Notes: []string{"Recognised by (`internal/distro`): a redirect to `*.amazoncognito.com`, a `redirect_uri` ending in `/oauth2/idpresponse`, `AWSELBAuthSessionCookie*` cookies; `Server: awselb/…` and the AWS Load Balancer Controller in kube-system only support them."}},
		DistroAzure: {Probes: []string{"distribution", "healthz", "login-secured"},
			Title: "Microsoft Entra ID (Azure AD) guards the endpoint",
			Cause: "the gateway sends an anonymous request to login.microsoftonline.com: the password form is Microsoft's, not Dex's, so the doctor's --username login cannot get a session",
			Hint:  "sign in in a browser and pass the gateway's session cookie (KFP_DOCTOR_COOKIES, kfp.Client(cookies=…)), or a token the gateway accepts (--token-file); Kubeflow on Azure: https://azure.github.io/kubeflow-aks/main/docs/deployment-options (the seed's \"Kubeflow on Azure\" link leads to AWS's guide)",
			Notes: []string{"Recognised by (`internal/distro`): a redirect to login.microsoftonline.com (or login.windows.net), an `AADSTS…` error in the body. It wins over oauth2-proxy's own signals: oauth2-proxy relaying to Entra ID is still Microsoft's login."}},
		DistroIBM: {Probes: []string{"distribution", "healthz", "login-secured"},
			Title:  "IBM Cloud App ID guards the endpoint",
			Cause:  "the gateway sends an anonymous request to App ID (<region>.appid.cloud.ibm.com): the sign-in is App ID's, so the doctor's Dex login cannot get a session",
			Hint:   "sign in in a browser and pass the session cookie (KFP_DOCTOR_COOKIES, kfp.Client(cookies=…)), or follow Kubeflow on IBM Cloud: https://www.kubeflow.org/docs/distributions/ibm/pipelines/#2-authenticating-multi-user-kubeflow-pipelines-with-the-sdk",
			Notes:  []string{"Recognised by (`internal/distro`): a redirect to `*.appid.cloud.ibm.com`. It wins over oidc-authservice's own signals, which relay to it on IBM's multi-user install."},
			NoText: "no public thread of the trackers searched (kubeflow/*, awslabs, canonical, deployKF, Elyra, Kale, KServe) pastes App ID's answer; the recognition follows IBM's documented endpoints (kubeflow/website's IBM pages)"},
		PodDefaultWebhookDown: {Probes: []string{"poddefault-webhook"},
			Title: "pods in profile namespaces refused: the PodDefault webhook cannot be called",
			Cause: "Kubeflow's PodDefault MutatingWebhookConfiguration (failurePolicy: Fail, every namespace labelled app.kubernetes.io/part-of: kubeflow-profile) points at a Service that is gone, has no ready endpoints or does not answer, so the apiserver refuses every pod there: the client's pod is never created, so it has no token to lack",
			Hint:  "bring the webhook back: `kubectl -n kubeflow get svc,endpointslices,pods -l app=poddefaults` (admission-webhook-service and admission-webhook-deployment), re-apply applications/admission-webhook from kubeflow/manifests, and check its certificate Secret",
			Notes: []string{"Seen as: `Internal error occurred: failed calling webhook \"admission-webhook-deployment.kubeflow.org\": … service \"admission-webhook-service\" not found` (or `no endpoints available for service …`) in the pod's creation error or the ReplicaSet's/StatefulSet's events; it is not KFD004: there is no pod to lack a token."}},
		AuthserviceDown: {Probes: []string{"login-secured"},
			Title: "oidc-authservice does not answer the gateway's ext_authz (403 UAEX)",
			Cause: "on Kubeflow ≤ 1.8 the ingress gateway asks oidc-authservice (ext_authz) about every request; when it is down, hung or unreachable, Envoy refuses every request with an empty 403 and logs UAEX ext_authz_error, before any login page or KFP answer",
			Hint:  "check authservice: `kubectl -n istio-system get pods,endpoints -l app=authservice` and its logs; a pod that stopped logging is hung: `kubectl -n istio-system delete pod authservice-0` restarts it",
			Notes: []string{"The gateway's access log shows `403 UAEX ext_authz_error` with the time the check took (0 when authservice refused the connection, about 10000 ms when it hung); KFD034 is the same failure with oauth2-proxy, Kubeflow ≥ 1.9's ext_authz provider."}},
		InverseProxy: {Probes: []string{"distribution", "healthz"},
			Title: "Google's hosted inverse proxy wants a Google access token",
			Cause: "a KFP endpoint at *.pipelines.googleusercontent.com (AI Platform Pipelines, the GCP Marketplace install) is Google's inverse proxy: it admits only requests carrying an access token of a Google account allowed on the project, and answers others with Google's own 401 page (or a sign-in), which the SDK may even parse as an empty list; a token that expires (an hour) gives the same 401 mid-session",
			Hint:  "run with Google credentials the SDK can find (`gcloud auth application-default login`, or a service account's GOOGLE_APPLICATION_CREDENTIALS) and pass only host=; the doctor checks it with --token-file from `gcloud auth print-access-token`; refresh the token (a new kfp.Client) when a long session starts failing; see https://cloud.google.com/ai-platform/pipelines/docs/connecting-with-sdk",
			Notes: []string{"Recognised by the host *.pipelines.googleusercontent.com (as kfp.Client's own _is_inverse_proxy_host tests it) and the proxy's cookie `cloud_datalab_tunnel` on its 401 page."}},
		PipelineStep: {Probes: []string{"poddefault"},
			Title: "kfp.Client called from a pipeline step, whose pod has no KFP token",
			Cause: "a pipeline step runs in a pod the workflow controller creates: no PodDefault selects it (it lacks access-ml-pipeline: \"true\"), so no token is mounted and kfp.Client() sends none (KFD001), or the step's ServiceAccount has no RoleBinding to kubeflow-edit in the namespace it calls",
			Hint:  "give the step the projected token: a volume from serviceAccountToken with audience pipelines.kubeflow.org at /var/run/secrets/kubeflow/pipelines (kfp-kubernetes, or the PodDefault's label on the step), and bind the step's ServiceAccount (default-editor in a profile) to kubeflow-edit; or pass what the step needs as pipeline inputs instead of calling KFP from it"},
		StrictMTLS: {Probes: []string{"mesh", "healthz", "list-experiments"},
			Title: "connection reset by Istio's sidecar: STRICT mTLS and a client outside the mesh",
			Cause: "a STRICT PeerAuthentication selects KFP's pod and the client runs without Istio's sidecar (its namespace is not labelled istio-injection: enabled, or the pod opts out): the sidecar accepts only mTLS and resets a plaintext connection before any HTTP, so kfp.Client sees \"Connection reset by peer\"",
			Hint:  "run the client in the mesh (label its namespace istio-injection=enabled, or the pod sidecar.istio.io/inject: \"true\", and recreate it), or relax the PeerAuthentication to PERMISSIVE for KFP's port"},
		OutsideIdP: {Probes: []string{"distribution", "login-secured"},
			Title: "an outside identity provider guards the gateway; the SDK has no non-interactive login for it",
			Cause: "the gateway's login is an OIDC provider other than Dex (Keycloak, Okta, Auth0, a corporate IdP): kfp.Client can send a token or a cookie but cannot walk its login form, and a device-code or browser login must be repeated by hand; the doctor's --username login is Dex's",
			Hint:  "get a token the gateway accepts without a browser (a client-credentials or password grant of that provider, if its admin allows one, or a Kubernetes ServiceAccount token if the gateway's RequestAuthentication trusts the cluster) and pass it as existing_token (the doctor: --token-file); otherwise log in in a browser and pass the session cookie; deployKF documents the ways: https://www.deploykf.org/user-guides/access-kubeflow-pipelines-api/",
			Notes: []string{"Recognised by a redirect of an anonymous request to an OIDC authorization endpoint that is not Dex's (`/realms/<realm>/protocol/openid-connect/auth` for Keycloak, `/oauth2/…/v1/authorize` for Okta, `/authorize` on *.auth0.com); the clouds' own sign-ins have their ids (KFD047–KFD050)."}},
	}
}

// Lookup returns the catalogue entry of an id.
func Lookup(id ID) (Entry, bool) {
	e, ok := catalogue()[id]
	return e, ok
}

// All returns every entry, ordered by id.
func All() []Entry {
	m := catalogue()
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
