package explain

import "github.com/kfp-connect/kfp-connect/internal/kfd"

// Confirm commands. Placeholders in <…> are filled from the text where it
// names them (see facts.go) and left for the user otherwise.
const (
	cmdToken    = "kfp-doctor --host <HOST> -n <NAMESPACE> --token-file <TOKEN_FILE>"
	cmdCluster  = "kfp-doctor --kubeconfig <KUBECONFIG> -n <NAMESPACE> --token-file <TOKEN_FILE>"
	cmdHost     = "kfp-doctor --host <HOST>"
	cmdNoAuth   = "kfp-doctor --host <HOST> -n <NAMESPACE>"
	cmdInPod    = "kfp-doctor -n <NAMESPACE>   # run in the notebook's pod, with no --host, as kfp.Client() runs there"
	cmdLogin    = "KFP_DOCTOR_PASSWORD=<PASSWORD> kfp-doctor --host <GATEWAY> --username <USER> --login-connector <CONNECTOR> -n <NAMESPACE>"
	cmdGateway  = "kfp-doctor --host <GATEWAY>/pipeline -n <NAMESPACE> --token-file <TOKEN_FILE>"
	cmdVolume   = "kfp-doctor --volume-credentials -n <NAMESPACE>   # in the pod: the token kfp.client.ServiceAccountTokenVolumeCredentials() reads"
	cmdProxy    = "kfp-doctor --kubeconfig <KUBECONFIG> --sdk-default-host -n <NAMESPACE>"
	cmdEndpoint = "kfp-doctor --kubeconfig <KUBECONFIG>"
)

// table is the matching as data: for every catalogue id, the phrases that
// name it. Every phrase is shown by a real text of the catalogue
// (internal/kfd/texts.txtar), which the tests replay: each text must
// explain to its id, first. The doctor's own phrases are added from the code
// that prints them (doctor.go). Matching is case-insensitive.
//
// Weight (default wordsLibrary) ranks the ids of one text: the deciding
// server's words (wordsServer) before a library's or a proxy's, before a
// bare status line (wordsStatus, dropped when anything more specific is
// there). Generic marks what any client or proxy says: certain only in a
// text that shows KFP.
func table() []rule {
	return []rule{
		{
			ID: kfd.NoIdentity, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `there is no user identity header`, Weight: wordsServer},
				{Re: `User identity is empty in the request header`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.TokenInvalid, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.NoIdentity},
			Patterns: []pattern{
				{Re: `Review\.Status\.Authenticated is false`, Weight: wordsServer},
				{Re: `Failed to authenticate token review`, Weight: wordsServer},
				{Re: `Header 'Authorization' is incorrectly formatted`, Weight: wordsServer},
				{Re: `Jwt verification fails`, Weight: wordsServer, Generic: true},
			},
		},
		{
			ID: kfd.TokenAudience, Confirm: cmdCluster,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid},
			Patterns: []pattern{
				{Re: `Failed to find all of '\[[^\]]*\]' in audience`, Weight: wordsServer},
				{Re: `token audiences \[[^\]]*\] is invalid for the target audiences`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.NoTokenFile, Confirm: cmdInPod,
			// The SDK goes on without credentials: the 401, 403 or failed
			// healthz that follow are this, seen from the server.
			Causes: []kfd.ID{kfd.NoIdentity, kfd.IstioDenied, kfd.HealthzHTTPError},
			Patterns: []pattern{
				{Re: `Failed to set up default credentials`, Weight: wordsServer},
				{Re: `Failed to read a token from file`, Weight: wordsServer},
				{Re: `No such file or directory: '/var/run/secrets/kubeflow/pipelines/token'`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.IstioDenied, Confirm: cmdToken,
			Patterns: []pattern{
				{Re: `RBAC: access denied`, Weight: wordsServer, Generic: true},
				// The body cut off, its length left: 19 bytes of text/plain
				// from Envoy is "RBAC: access denied".
				{Re: `\(403\).{0,300}'content-length': '19'.{0,200}istio-envoy`, Possible: true, Weight: wordsStatus,
					Why: "a 403 of 19 bytes of text/plain from Istio is the length of its \"RBAC: access denied\"; the body itself is not in the text"},
			},
		},
		{
			ID: kfd.PipelinePodDenied, Confirm: cmdInPod,
			Supersedes: []kfd.ID{kfd.IstioDenied},
			Patterns: []pattern{
				{Re: `code = PermissionDenied desc = RBAC: access denied`, Weight: wordsServer},
				{Re: `KFP driver: .*RBAC: access denied`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.StrictMTLS, Confirm: cmdInPod,
			Patterns: []pattern{{Re: `(?i)connection reset`, Unless: `reset before headers`, Possible: true, Weight: wordsLibrary,
				Why: "a reset also comes from a server that restarts; the doctor's mesh probe says whether a STRICT PeerAuthentication and a client without a sidecar cause it"}},
		},
		{
			ID: kfd.JWTIssuer, Confirm: cmdGateway,
			Patterns: []pattern{{Re: `Jwt issuer is not configured`, Weight: wordsServer, Generic: true}},
		},
		{
			ID: kfd.JWKSUnreachable, Confirm: cmdGateway,
			Patterns: []pattern{{Re: `Jwks remote fetch is failed`, Weight: wordsServer, Generic: true}},
		},
		{
			ID: kfd.RBACDenied, Confirm: cmdCluster,
			Patterns: []pattern{
				{Re: `User '[^']*' is not authorized with reason`, Weight: wordsServer},
				{Re: `PermissionDenied: User '[^']*' is not authorized`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.EmptyNamespace, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `cannot have an empty namespace in multi-user mode`, Weight: wordsServer},
				// KFP 1.x's words for the same refusal.
				{Re: `Invalid resource references for experiment\. ?(Namespace is empty|ListExperiment requires filtering by namespace|Expect one namespace type with owner relationship)`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.NamespaceSingleUser, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `In single-user mode, \w+ (shouldn't contain resource references|cannot filter by namespace)`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.LoginScript, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `KeyError: '(authservice_session|oauth2_proxy_kubeflow)'`, Weight: wordsServer},
				{Re: `\["(authservice_session|oauth2_proxy_kubeflow)"\]`, Possible: true,
					Why: "the script reads a session cookie by name; check that the login gave it one"},
				{Re: `unsupported request method`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.LoginPage, Confirm: cmdLogin,
			Patterns: []pattern{
				// The SDK parses an HTML page into a list object with every
				// field None: experiments, pipelines or runs.
				{Re: `\{'(experiments|pipelines|runs|next_page_token)': None, '(experiments|pipelines|runs|next_page_token)': None, '(experiments|pipelines|runs|next_page_token|total_size)': None`, Possible: true, Weight: wordsStatus,
					Why: "an HTML login page parsed as an empty list prints like this, and so does a namespace that has nothing in it yet"},
				{Re: `'NoneType' object has no attribute 'id'`, Possible: true, Weight: wordsStatus,
					Why: "a call that got an HTML login page instead of JSON returns an empty object, whose id is None; a call that found nothing does too"},
				{Re: `Log in to Your Account`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.HealthzHTTPError, Confirm: cmdHost,
			// The retries hide the cause: whatever else the text names is
			// what healthz met.
			Patterns: []pattern{
				{Re: `Failed getting healthz endpoint after \d+ attempts`, Weight: wordsStatus},
				{Re: `Failed to get healthz info attempt \d+ of \d+`, Weight: wordsStatus},
			},
		},
		{
			ID: kfd.VersionMismatch, Confirm: cmdHost,
			Patterns: []pattern{{Re: `Cannot GET (/pipeline)?/apis/v[12]beta1/`, Weight: wordsServer}},
		},
		{
			ID: kfd.TLSVerify, Confirm: "kfp-doctor --host <HOST> --ca-cert <CA_FILE>",
			Patterns: []pattern{
				{Re: `CERTIFICATE_VERIFY_FAILED`, Generic: true},
				{Re: `x509: certificate signed by unknown authority`, Generic: true},
			},
		},
		{
			ID: kfd.DNS, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Name or service not known`, Generic: true},
				{Re: `Temporary failure in name resolution`, Generic: true},
				{Re: `nodename nor servname provided`, Generic: true},
				{Re: `dial tcp: lookup \S+ on \S+: no such host`, Generic: true},
				{Re: `Failed to resolve '[^']+'`, Generic: true},
			},
		},
		{
			ID: kfd.APIServerProxy, Confirm: cmdProxy,
			// With no host outside a pod the SDK goes through the
			// kube-apiserver's service proxy: what fails there is the
			// missing host=, whatever the transport says.
			Supersedes: []kfd.ID{kfd.NothingListening, kfd.TLSVerify, kfd.HealthzHTTPError},
			Patterns: []pattern{
				{Re: `services \\?"ml-pipeline(-ui)?\\?" not found`, Weight: wordsServer},
				{Re: `/api/v1/namespaces/[a-z0-9-]+/services/ml-pipeline(-ui)?:[a-z0-9-]+/proxy/`},
			},
		},
		{
			ID: kfd.BackendNotReady, Confirm: cmdEndpoint,
			Supersedes: []kfd.ID{kfd.NothingListening},
			Patterns: []pattern{
				{Re: `upstream connect error or disconnect/reset before headers`, Generic: true},
				{Re: `no healthy upstream`, Generic: true},
				// ml-pipeline-ui's own proxy to the API server.
				{Re: `Error occured while trying to proxy to`},
				{Re: `Error 504 \(Gateway Timeout\)`, Weight: wordsStatus, Generic: true},
			},
		},
		{
			ID: kfd.Expired, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid},
			Patterns: []pattern{
				{Re: `Jwt is expired`, Weight: wordsServer, Generic: true},
			},
		},
		{
			ID: kfd.SelfSetUserID, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.IstioDenied},
			Patterns: []pattern{
				{Re: `kubeflow-userid.*RBAC: access denied|RBAC: access denied.*kubeflow-userid`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.SharedPipeline, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.RBACDenied},
			Patterns: []pattern{
				{Re: `Namespace:kubeflow,Verb:create,Group:pipelines\.kubeflow\.org,Version:v1beta1,Resource:pipelines`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.SDKAuthModule, Confirm: cmdVolume,
			Patterns: []pattern{
				{Re: `module 'kfp' has no attribute 'auth'`, Weight: wordsServer},
				{Re: `No module named 'kfp\.auth'`, Weight: wordsServer},
				{Re: `cannot import name 'auth' from 'kfp'`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.NoAnswer, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Read timed out\. \(read timeout=`, Generic: true},
				{Re: `get_kfp_healthz.*KeyboardInterrupt`, Possible: true,
					Why: "kfp.Client() was interrupted in its healthz call: a host that accepts and never answers hangs it there, but so does any slow reply"},
			},
		},
		{
			ID: kfd.NothingListening, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `\[Errno 111\] Connection refused`, Generic: true},
				{Re: `\[Errno 61\] Connection refused`, Generic: true},
				// Windows: WSAECONNREFUSED.
				{Re: `\[WinError 10061\]`, Generic: true},
				{Re: `connect: connection refused`, Generic: true},
				{Re: `\[Errno 110\] Connection timed out`, Generic: true},
				// Go's dialer giving up on a connect.
				{Re: `dial tcp [0-9a-f.:\[\]]+:\d+: i/o timeout`, Generic: true},
			},
		},
		{
			ID: kfd.NotKFP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `WRONG_VERSION_NUMBER`, Generic: true},
				{Re: `server gave HTTP response to HTTPS client`, Generic: true},
				{Re: `Client sent an HTTP request to an HTTPS server`, Generic: true},
				{Re: `404 page not found`, Generic: true},
				// /_/pipeline/ is the dashboard's frame around the UI, not
				// the API.
				{Re: `Cannot (GET|POST) /_/pipeline/`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.RedirectLoop, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `Exceeded \d+ redirects`, Generic: true},
				{Re: `ResponseError\('too many redirects'\)`, Generic: true},
			},
		},
		{
			ID: kfd.ReviewUnavailable, Confirm: cmdCluster,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid, kfd.NothingListening},
			Patterns: []pattern{
				{Re: `Failed to review the token provided`, Weight: wordsServer},
				{Re: `Failed to create SubjectAccessReview`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.WrongCredentials, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `Login credentials were probably invalid`, Weight: wordsServer},
				{Re: `Invalid (Email Address|Username|User name) and password`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.UnknownConnector, Confirm: cmdLogin,
			Patterns: []pattern{{Re: `Connector ID does not match a valid Connector`, Weight: wordsServer}},
		},
		{ID: kfd.UnsecuredGateway, Confirm: cmdLogin},
		{
			ID: kfd.LoginHelper, Confirm: cmdLogin,
			Patterns: []pattern{{Re: `HTTP status code '\d+' for GET against`, Weight: wordsServer}},
		},
		{
			ID: kfd.LoginProviderDown, Confirm: cmdLogin,
			Supersedes: []kfd.ID{kfd.BackendNotReady},
			Patterns: []pattern{
				{Re: `/dex/\S*.{0,200}upstream connect error|upstream connect error.{0,200}/dex/`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.LoginProxyDown, Confirm: cmdLogin,
			Supersedes: []kfd.ID{kfd.BackendNotReady},
			Patterns: []pattern{
				{Re: `/oauth2/\S*.{0,200}upstream connect error|upstream connect error.{0,200}/oauth2/`, Weight: wordsServer},
			},
		},
		{ID: kfd.HostWithoutCredentials, Confirm: cmdNoAuth + "   # in the pod: the unsent-token check"},
		{
			ID: kfd.ContextFile, Confirm: cmdInPod,
			Causes: []kfd.ID{kfd.EmptyNamespace, kfd.RBACDenied},
			Patterns: []pattern{
				{Re: `\.config/kfp/context\.json`},
				// The constructor's own line is in every traceback through
				// it; only the KeyError it raises names the file's fault.
				{Re: `_context_setting\[['"]namespace['"]\].{0,300}?KeyError: 'namespace'`, Weight: wordsServer},
				// Reading the file is the constructor's first step: its
				// JSON error comes through _load_context_setting_or_default.
				{Re: `_load_context_setting_or_default.{0,1000}?JSONDecodeError`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.NamespaceNamesService, Confirm: cmdInPod,
			Supersedes: []kfd.ID{kfd.DNS},
			Patterns: []pattern{
				{Re: `ml-pipeline\.[a-z0-9-]+\.svc\.cluster\.local`, Unless: `^ml-pipeline\.kubeflow\.`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.SDKTokenNotReproduced, Confirm: cmdToken + "   # the file from `gcloud auth print-identity-token`",
			Patterns: []pattern{
				{Re: `google\.auth\.exceptions\.(DefaultCredentialsError|RefreshError)`},
			},
		},
		{ID: kfd.NoVerdict, Confirm: cmdNoAuth + " --timeout 30s"},
		{
			ID: kfd.MalformedHTTP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `malformed HTTP (response|status code)`},
				{Re: `malformed chunked encoding|invalid byte in chunk length`},
			},
		},
		{
			ID: kfd.ConflictingLength, Confirm: cmdHost,
			Patterns: []pattern{{Re: `multiple Content-Length headers`}},
		},
		{
			ID: kfd.HeadersTooLarge, Confirm: cmdHost,
			Patterns: []pattern{{Re: `server response headers exceeded \d+ bytes`}},
		},
		{
			ID: kfd.BadRedirect, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `failed to parse Location header`},
				{Re: `unsupported protocol scheme`},
			},
		},
		{
			ID: kfd.HeaderUnsafeCredential, Confirm: cmdToken,
			Patterns: []pattern{
				{Re: `invalid header field value`},
				{Re: `Invalid (leading whitespace, reserved character\(s\), or return character\(s\)|return character or leading space) in header`},
			},
		},
		{
			ID: kfd.ServerError, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `\(500\)\s*Reason: Internal Server Error`, Weight: wordsStatus},
				{Re: `HTTP 50[01]\b`, Weight: wordsStatus},
				// KFP's own word for it, in the message of a code 13.
				{Re: `InternalServerError: Failed to`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.DistroIAP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Invalid IAP credentials`, Weight: wordsServer},
				{Re: `x-goog-iap-generated-response`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.DistroAWS, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `[a-z0-9-]+\.auth\.[a-z0-9-]+\.amazoncognito\.com`, Weight: wordsServer},
				{Re: `AWSELBAuthSessionCookie`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.DistroAzure, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `login\.microsoftonline\.com`, Weight: wordsServer},
				{Re: `AADSTS\d+`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.DistroIBM, Confirm: cmdHost,
			Patterns: []pattern{{Re: `[a-z0-9-]+\.appid\.cloud\.ibm\.com`, Weight: wordsServer}},
		},
		{
			ID: kfd.PodDefaultWebhookDown, Confirm: cmdEndpoint,
			Patterns: []pattern{
				{Re: `failed calling webhook "[a-z0-9.-]*(admission-webhook|poddefault)[a-z0-9.-]*kubeflow\.org"`, Weight: wordsServer},
				{Re: `apply-poddefault\?timeout=`, Weight: wordsServer},
			},
		},
		{
			ID: kfd.AuthserviceDown, Confirm: cmdLogin,
			Patterns: []pattern{{Re: `\bUAEX ext_authz_error\b`, Weight: wordsServer}},
		},
		{
			ID: kfd.InverseProxy, Confirm: cmdToken + "   # the file from `gcloud auth print-access-token`",
			Supersedes: []kfd.ID{kfd.LoginPage},
			Patterns: []pattern{
				{Re: `cloud_datalab_tunnel`, Weight: wordsServer},
				// The hosted endpoint, then its empty answer or Google's 401.
				{Re: `pipelines\.googleusercontent\.com.*?(None, '(total_size|next_page_token)': None|'NoneType' object has no attribute 'id'|Error 401 \(Unauthorized\))`, Weight: wordsServer},
				{Re: `[a-z0-9-]+\.pipelines\.googleusercontent\.com`, Possible: true, Weight: wordsStatus,
					Why: "the endpoint is Google's hosted inverse proxy: it wants a Google access token, but the text shows no refusal"},
				// Google's own error page: the proxy's 401, not the cluster's.
				{Re: `Error 401 \(Unauthorized\)!!1`, Generic: true},
			},
		},
		{
			ID: kfd.PipelineStep, Confirm: cmdInPod,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.NoTokenFile},
			Patterns: []pattern{
				{Re: `(from|inside|within) an? (kubeflow |kfp |pipeline )?(component|pipeline step)\b`, Possible: true, Weight: wordsStatus,
					Why: "the text says the call came from a pipeline step; a step's pod has no KFP token unless the step mounts one"},
			},
		},
		{
			ID: kfd.OutsideIdP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `/realms/[^/\s]+/protocol/openid-connect/auth`, Weight: wordsServer},
			},
		},
	}
}
