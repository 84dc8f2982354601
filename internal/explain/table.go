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
// name it and the real texts they were taken from. Each example must match
// its id (and only the ids listed with it): TestEveryIDHasARealText runs
// them, and iterates over kfd.All() so a new id without a text fails it.
//
// Sources: "recorded" is shared/design/kfp-recorded-replies*.md (the real
// KFP 2.17.0 API server, recorded on loopback); "measured" is
// shared/design/kfp-facts.md (the real SDK, Dex and oauth2-proxy run here);
// "doctor" is the text kfp-doctor itself prints (internal/probes,
// internal/login, internal/kfp/classify.go), so a pasted report explains too.
func table() []rule {
	return []rule{
		{
			ID: kfd.NoIdentity, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `there is no user identity header`},
				{Re: `User identity is empty in the request header`},
			},
			Examples: []Example{
				{Source: "recorded: KFP 2.17.0, multi-user, GET /apis/v2beta1/experiments?namespace=ns-1 with no identity (401)",
					Text: `{"code":16,"message":"List experiments failed: Failed to authorize with API: Failed to authorize with API: Unauthenticated: Failed to check authorization. User identity is empty in the request header: Unauthenticated: Request header error: there is no user identity header.: Request header error: there is no user identity header.","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":16,"message":"Failed to check authorization. User identity is empty in the request header"}]}`},
				{Source: "kubeflow/pipelines#5659 (the SDK's ApiException as printed)",
					Text: "kfp_server_api.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response body: {\"error\":\"Request header error: there is no user identity header.\",\"code\":16,\"message\":\"Request header error: there is no user identity header.\"}"},
			},
		},
		{
			ID: kfd.TokenInvalid, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.NoIdentity},
			Patterns: []pattern{
				{Re: `Review\.Status\.Authenticated is false`},
				{Re: `Failed to authenticate token review`},
				{Re: `Header 'Authorization' is incorrectly formatted`},
				{Re: `Jwt verification fails`},
				{Re: `TokenReview did not authenticate the token`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#5138 (ApiException 500 from a notebook)",
					Text: `HTTP response body: {"error":"Internal error: [Unauthenticated: Request header error: there is no user identity header.: Request header error: there is no user identity header., Authentication failure: Unauthenticated: Review.Status.Authenticated is false: Failed to authenticate token review]\nFailed to authorize with API resource references"}`},
				{Source: "recorded: Authorization: bearer <t> (lowercase) → 401",
					Text: `{"code":16,"message":"Failed to authorize with API: Unauthenticated: Header 'Authorization' is incorrectly formatted. Expected prefix 'Bearer '"}`},
				{Source: "Istio RequestAuthentication refusing a token signed by another key (istio-envoy 401 body)",
					Text: "HTTP response body: Jwt verification fails"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: `✖ list-experiments  KFD002  HTTP 401, code 16: "TokenReview did not authenticate the token (Error [invalid bearer token, square/go-jose: compact JWS format must have three parts])"`},
			},
		},
		{
			ID: kfd.TokenAudience, Confirm: cmdCluster,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid},
			Patterns: []pattern{
				{Re: `Failed to find all of '\[[^\]]*\]' in audience`},
				{Re: `token audiences \[[^\]]*\] is invalid for the target audiences`},
			},
			Examples: []Example{
				{Source: "recorded: KFP 2.17.0, bearer token with aud=wrong.example.com (401)",
					Text: `{"code":16,"message":"List experiments failed: Failed to authorize with API: Failed to authorize with API: Unauthenticated: Failed to check authorization. User identity is empty in the request header: [Unauthenticated: Request header error: there is no user identity header.: Request header error: there is no user identity header., Authentication failure: Unauthenticated: Review.Status.Authenticated is false. Error [invalid bearer token, token audiences [\"wrong.example.com\"] is invalid for the target audiences [\"pipelines.kubeflow.org\"]]: Failed to authenticate token review]"}`},
				{Source: "kubeflow/pipelines backend/src/apiserver/auth/authenticator_token_review.go",
					Text: "Authentication failure: Unauthenticated: Failed to find all of '[pipelines.kubeflow.org]' in audience: [https://kubernetes.default.svc.cluster.local]"},
			},
		},
		{
			ID: kfd.NoTokenFile, Confirm: cmdInPod,
			Patterns: []pattern{
				{Re: `Failed to set up default credentials`},
				{Re: `Failed to read a token from file`},
				{Re: `No such file or directory: '/var/run/secrets/kubeflow/pipelines/token'`},
			},
			Examples: []Example{
				{Source: "canonical/bundle-kubeflow#423 (kfp.Client() in a notebook without the PodDefault)",
					Text: "ERROR:root:Failed to read a token from file '/var/run/secrets/kubeflow/pipelines/token' ([Errno 2] No such file or directory: '/var/run/secrets/kubeflow/pipelines/token').\nWARNING:root:Failed to set up default credentials. Proceeding without credentials..."},
			},
		},
		{
			ID: kfd.IstioDenied, Confirm: cmdToken,
			Patterns: []pattern{{Re: `RBAC: access denied`}},
			Examples: []Example{
				{Source: "kubeflow/pipelines#4976 and mojokb/kubeflow-book#7 (403 from istio-envoy)",
					Text: "kfp_server_api.exceptions.ApiException: (403)\nReason: Forbidden\nHTTP response headers: HTTPHeaderDict({'Content-Length': '19', 'Content-Type': 'text/plain', 'Server': 'istio-envoy', 'X-Envoy-Decorator-Operation': 'ml-pipeline.kubeflow.svc.cluster.local:8888/*'})\nHTTP response body: RBAC: access denied"},
			},
		},
		{
			ID: kfd.PipelinePodDenied, Confirm: cmdInPod,
			Supersedes: []kfd.ID{kfd.IstioDenied},
			Patterns: []pattern{
				{Re: `code = PermissionDenied desc = RBAC: access denied`},
				{Re: `KFP driver: .*RBAC: access denied`},
			},
			Examples: []Example{
				{Source: "kubeflow/manifests#2794 (a pipeline step's driver, Kubeflow 1.9-rc2)",
					Text: `F0718 09:04:11.900602      20 main.go:79] KFP driver: driver.Container(pipelineName=pipeline, runID=96a02a1a-a08a-4fbf-8d5d-169bcc305326, task="cat-hosts", component="comp-kfp-busybox", dagExecutionID=4, componentSpec, KubernetesExecutorConfig) failed: failure while getting executionCache: failed to list tasks: rpc error: code = PermissionDenied desc = RBAC: access denied`},
			},
		},
		{
			ID: kfd.StrictMTLS, Confirm: cmdInPod,
			Patterns: []pattern{{Re: `(?i)connection reset`, Unless: `reset before headers`, Possible: true,
				Why: "a reset also comes from a server that restarts; the doctor's mesh probe says whether a STRICT PeerAuthentication and a client without a sidecar cause it"}},
			Examples: []Example{
				{Source: "istio/istio#27169 (a client without a sidecar calling an injected service; a maintainer: expected under STRICT mTLS)",
					Text: "Service requests without sidecar injection during service grid access will cause connection reset for services injected with sidecar."},
			},
		},
		{
			ID: kfd.JWTIssuer, Confirm: cmdGateway,
			Patterns: []pattern{{Re: `Jwt issuer is not configured`}},
			Examples: []Example{
				{Source: "kubeflow/pipelines#11025 (M2M token through the gateway)",
					Text: "kfp_server_api.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response headers: HTTPHeaderDict({'www-authenticate': 'Bearer realm=\"http://localhost:8080/pipeline/apis/v2beta1/healthz\", error=\"invalid_token\"', 'content-length': '28', 'content-type': 'text/plain', 'server': 'istio-envoy'})\nHTTP response body: Jwt issuer is not configured"},
			},
		},
		{
			ID: kfd.JWKSUnreachable, Confirm: cmdGateway,
			Patterns: []pattern{
				{Re: `Jwks remote fetch is failed`},
			},
			Examples: []Example{
				{Source: "kubeflow/manifests#2850 (istio-envoy on a managed cluster whose issuer Istio cannot fetch)",
					Text: "HTTP response body: Jwks remote fetch is failed"},
			},
		},
		{
			ID: kfd.RBACDenied, Confirm: cmdCluster,
			Patterns: []pattern{
				{Re: `User '[^']*' is not authorized with reason`},
				{Re: `PermissionDenied: User '[^']*' is not authorized`},
			},
			Examples: []Example{
				{Source: "recorded: KFP 2.17.0, a ServiceAccount token in a namespace it has no RoleBinding in (403)",
					Text: `{"code":7,"message":"List experiments failed: Failed to authorize with API: Failed to authorize with API: PermissionDenied: User 'system:serviceaccount:ns-1:alice' is not authorized with reason:  (request: &ResourceAttributes{Namespace:kubeflow,Verb:list,Group:pipelines.kubeflow.org,Version:v1beta1,Resource:experiments,Subresource:,Name:,FieldSelector:nil,LabelSelector:nil,}): Unauthorized access"}`},
			},
		},
		{
			ID: kfd.EmptyNamespace, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `cannot have an empty namespace in multi-user mode`},
			},
			Examples: []Example{
				{Source: "recorded: KFP 2.17.0, multi-user, list experiments with no namespace (400)",
					Text: `{"code":3,"message":"List experiments failed: Failed to authorize with API: Invalid input error: An experiment cannot have an empty namespace in multi-user mode","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":3,"message":"An experiment cannot have an empty namespace in multi-user mode"}]}`},
				{Source: "recorded (round 2): KFP 2.17.0, list runs with no namespace (400)",
					Text: "kfp_server_api.exceptions.ApiException: (400)\nReason: Bad Request\nHTTP response body: {\"code\":3,\"message\":\"List runs failed: A run cannot have an empty namespace in multi-user mode\"}"},
			},
		},
		{
			ID: kfd.NamespaceSingleUser, Confirm: cmdHost,
			Patterns: []pattern{{Re: `In single-user mode, \w+ shouldn't contain resource references`}},
			Examples: []Example{
				{Source: "kubeflow/pipelines#7302 (servers before the v2beta1 refactor)",
					Text: `{"error":"Invalid input error: In single-user mode, CreateExperimentRequest shouldn't contain resource references.","code":3}`},
			},
		},
		{
			ID: kfd.LoginScript, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `KeyError: '(authservice_session|oauth2_proxy_kubeflow)'`},
				{Re: `\["(authservice_session|oauth2_proxy_kubeflow)"\]`, Possible: true,
					Why: "the script reads a session cookie by name; check that the login gave it one"},
				{Re: `(?i)unsupported request method`},
				{Re: `the gateway set no cookie: no session to keep`},
				{Re: `did not accept the session`},
			},
			Examples: []Example{
				{Source: "kubeflow/manifests#2844 (the documented Dex login script on Kubeflow 1.9)",
					Text: "    return session.cookies.get_dict()[\"authservice_session\"]\nKeyError: 'authservice_session'"},
				{Source: "doctor: internal/login's session stage",
					Text: "✖ login-session  KFD012  http://localhost:8080/pipeline/ answered after the login, but the gateway set no cookie: no session to keep"},
				{Source: "doctor: internal/login's session stage, sent back into the login",
					Text: "after the callback the gateway sent the browser back into the login (http://localhost:8080/oauth2/start): it did not accept the session"},
				{Source: "kubeflow/kfctl#140 (a login script posting where Dex wants a GET)",
					Text: "Bad Request: Unsupported request method."},
			},
		},
		{
			ID: kfd.LoginPage, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `\{'experiments': None, 'next_page_token': None, 'total_size': None\}`, Possible: true,
					Why: "an HTML login page parsed as an empty list prints like this, and so does a namespace that has no experiments yet"},
				{Re: `Log in to Your Account`},
				{Re: `with an HTML login page instead of JSON`},
				{Re: `redirect to the login flow`},
			},
			Examples: []Example{
				{Source: "kubeflow/manifests#1993 (list_experiments through the gateway with no session)",
					Text: "{'experiments': None, 'next_page_token': None, 'total_size': None}"},
				{Source: "Dex's login template (web/templates/password.html), as the body of a 200",
					Text: "HTTP response body: <!DOCTYPE html><html><head><title>dex</title></head><body><h2 class=\"theme-heading\">Log in to Your Account</h2><form method=\"post\">"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: "✖ list-experiments  KFD013  HTTP 200 with an HTML login page instead of JSON"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: "✖ healthz  KFD013  HTTP 302 redirect to the login flow (http://localhost:8080/oauth2/start)"},
			},
		},
		{
			ID: kfd.HealthzHTTPError, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Failed getting healthz endpoint after \d+ attempts`},
				{Re: `Failed to get healthz info attempt \d+ of \d+`},
			},
			Examples: []Example{
				{Source: "kubeflow/kubeflow#5989 (kfp.Client() after Kubeflow 1.3)",
					Text: "ERROR:root:Failed to get healthz info attempt 1 of 5.\nTraceback (most recent call last):\n  File \"/usr/local/lib/python3.9/site-packages/kfp/_client.py\", line 333, in get_kfp_healthz"},
				{Source: "kubeflow/website#4287 (a notebook cell's output, with its colour codes)",
					Text: "\x1b[0;31mTimeoutError\x1b[0m: Failed getting healthz endpoint after 5 attempts."},
			},
		},
		{
			ID: kfd.VersionMismatch, Confirm: cmdHost,
			Patterns: []pattern{{Re: `Cannot GET (/pipeline)?/apis/v[12]beta1/`}},
			Examples: []Example{
				{Source: "kubeflow/pipelines#9940 (SDK 2.0.1 against a v1 backend)",
					Text: "kfp_server_api.exceptions.ApiException: (404)\nReason: Not Found\nHTTP response body: <!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /pipeline/apis/v2beta1/pipelines</pre>\n</body>\n</html>"},
			},
		},
		{
			ID: kfd.TLSVerify, Confirm: "kfp-doctor --host <HOST> --ca-cert <CA_FILE>",
			Patterns: []pattern{
				{Re: `CERTIFICATE_VERIFY_FAILED`},
				{Re: `x509: certificate signed by unknown authority`},
				{Re: `TLS verification failed`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#6378 (an ingress with a private CA)",
					Text: "urllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='kubeflow.example.com', port=443): Max retries exceeded with url: /pipeline/apis/v2beta1/healthz (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate in certificate chain (_ssl.c:1129)')))"},
				{Source: "doctor: internal/kfp/classify.go (Go's crypto/x509 under it)",
					Text: "✖ healthz  KFD016  TLS verification failed: x509: certificate signed by unknown authority"},
			},
		},
		{
			ID: kfd.DNS, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Name or service not known`},
				{Re: `Temporary failure in name resolution`},
				{Re: `nodename nor servname provided`},
				{Re: `dial tcp: lookup \S+ on \S+: no such host`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#4060 (a host in a namespace KFP is not in)",
					Text: "HTTPConnectionPool(host='ml-pipeline-ui.kubeflow-pipelines', port=80): Max retries exceeded with url: /apis/v1beta1/healthz (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f1c2b0d6be0>: Failed to establish a new connection: [Errno -2] Name or service not known'))"},
				{Source: "kubeflow/kubeflow#3287 (Go's resolver, in a KFP pod's log)",
					Text: "Get http://ml-pipeline:8888/apis/v1beta1/healthz: dial tcp: lookup ml-pipeline on 10.63.240.10:53: no such host"},
				{Source: "Python's socket.getaddrinfo with no resolver for the name (glibc, and macOS)",
					Text: "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution\nFailed to establish a new connection: [Errno 8] nodename nor servname provided, or not known"},
			},
		},
		{
			ID: kfd.APIServerProxy, Confirm: cmdProxy,
			Patterns: []pattern{{Re: `services \\?"ml-pipeline(-ui)?\\?" not found`}},
			Examples: []Example{
				{Source: "kubeflow/pipelines#5774 (kfp.Client() outside the cluster, no host)",
					Text: `HTTP response body: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"ml-pipeline\" not found","reason":"NotFound","details":{"name":"ml-pipeline","kind":"services"},"code":404}`},
			},
		},
		{
			ID: kfd.BackendNotReady, Confirm: cmdEndpoint,
			Supersedes: []kfd.ID{kfd.NothingListening},
			Patterns: []pattern{
				{Re: `upstream connect error or disconnect/reset before headers`},
				{Re: `no healthy upstream`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#11360",
					Text: "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111"},
				{Source: "Envoy with no endpoint for the route (istio-envoy 503 body)",
					Text: "kfp_server_api.exceptions.ApiException: (503)\nReason: Service Unavailable\nHTTP response body: no healthy upstream"},
			},
		},
		{
			ID: kfd.Expired, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid},
			Patterns: []pattern{
				{Re: `Jwt is expired`},
				{Re: `token has expired`},
				{Re: `token for \S+ expired .* ago`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#5145 (a token used after its 7200 s, through the gateway)",
					Text: "kfp_server_api.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response body: Jwt is expired"},
				{Source: "doctor: internal/kfp/classify.go (TokenReview of an expired token)",
					Text: `✖ list-experiments  KFD020  HTTP 401, code 16: "the token has expired (TokenReview: not authenticated)"`},
				{Source: "doctor: the token probe (internal/probes/token.go)",
					Text: "✖ token  KFD020  token for system:serviceaccount:team-a:default-editor expired 2h0m0s ago, at 2026-12-01T09:00:00Z: KFP will reject it"},
			},
		},
		{
			ID: kfd.SelfSetUserID, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.IstioDenied},
			Patterns: []pattern{
				{Re: `kubeflow-userid.*RBAC: access denied|RBAC: access denied.*kubeflow-userid`},
			},
			Examples: []Example{
				{Source: "kubeflow/manifests istio-authorization-config.yaml (the header a client sets itself is refused)",
					Text: "client = kfp.Client(host='http://ml-pipeline-ui.kubeflow', namespace='kubeflow-user-example-com')\nclient._api_client.default_headers['kubeflow-userid'] = 'user@example.com'\n...\nHTTP response body: RBAC: access denied"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: `HTTP 403 "RBAC: access denied": the request set kubeflow-userid itself`},
			},
		},
		{
			ID: kfd.SharedPipeline, Confirm: cmdToken,
			Supersedes: []kfd.ID{kfd.RBACDenied},
			Patterns: []pattern{
				{Re: `Namespace:kubeflow,Verb:create,Group:pipelines\.kubeflow\.org,Version:v1beta1,Resource:pipelines`},
			},
			Examples: []Example{
				{Source: "kubeflow/pipelines#14352 (uploads without a namespace are checked in KFP's own namespace)",
					Text: "Failed to create a pipeline: PermissionDenied: User 'system:serviceaccount:kubeflow-user-example-com:default-editor' is not authorized with reason:  (request: &ResourceAttributes{Namespace:kubeflow,Verb:create,Group:pipelines.kubeflow.org,Version:v1beta1,Resource:pipelines,Subresource:,Name:,})"},
			},
		},
		{
			ID: kfd.SDKAuthModule, Confirm: cmdVolume,
			Patterns: []pattern{
				{Re: `module 'kfp' has no attribute 'auth'`},
				{Re: `No module named 'kfp\.auth'`},
				{Re: `cannot import name 'auth' from 'kfp'`},
			},
			Examples: []Example{
				{Source: "measured: the v1 docs' spelling with the real SDK 2.17.0",
					Text: "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nAttributeError: module 'kfp' has no attribute 'auth'"},
				{Source: "Python's import of the v1 module with the v2 SDK (`import kfp.auth`, `from kfp import auth`)",
					Text: "ModuleNotFoundError: No module named 'kfp.auth'\nImportError: cannot import name 'auth' from 'kfp' (/usr/local/lib/python3.11/site-packages/kfp/__init__.py)"},
			},
		},
		{
			ID: kfd.NoAnswer, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Read timed out\. \(read timeout=`},
				{Re: `connected, but no answer before the deadline`},
				{Re: `get_kfp_healthz.*KeyboardInterrupt`, Possible: true,
					Why: "kfp.Client() was interrupted in its healthz call: a host that accepts and never answers hangs it there, but so does any slow reply"},
			},
			Examples: []Example{
				{Source: "measured: kfp.Client() against a port that accepts and never answers, interrupted",
					Text: "  File \"/usr/lib/python3/dist-packages/kfp/client/client.py\", line 424, in get_kfp_healthz\n    return self._healthz_api.healthz_service_get_healthz()\n  File \"/usr/lib/python3.11/socket.py\", line 706, in readinto\n    return self._sock.recv_into(b)\nKeyboardInterrupt"},
				{Source: "urllib3 with a timeout set (ReadTimeoutError)",
					Text: "urllib3.exceptions.ReadTimeoutError: HTTPConnectionPool(host='localhost', port=8080): Read timed out. (read timeout=10)"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: "✖ healthz  KFD024  connected, but no answer before the deadline"},
			},
		},
		{
			ID: kfd.NothingListening, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `\[Errno 111\] Connection refused`},
				{Re: `\[Errno 61\] Connection refused`},
				{Re: `connect: connection refused`},
				{Re: `\[Errno 110\] Connection timed out`},
				{Re: `connection refused: nothing listens on`},
			},
			Examples: []Example{
				{Source: "measured: kfp.Client() with no port-forward running (urllib3's MaxRetryError)",
					Text: "urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='localhost', port=3000): Max retries exceeded with url: /apis/v2beta1/healthz (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f35667affa0>: Failed to establish a new connection: [Errno 111] Connection refused'))"},
				{Source: "krkn-chaos/cerberus#170 (urllib3 on macOS)",
					Text: "Failed to establish a new connection: [Errno 61] Connection refused"},
				{Source: "a connect that nobody answers (Linux ETIMEDOUT)",
					Text: "Failed to establish a new connection: [Errno 110] Connection timed out"},
				{Source: "kubectl port-forward and the doctor (Go's net package)",
					Text: "E1201 portforward.go:413] an error occurred forwarding 3000 -> 3000: dial tcp4 127.0.0.1:3000: connect: connection refused\n✖ healthz  KFD025  connection refused: nothing listens on 127.0.0.1:3000"},
			},
		},
		{
			ID: kfd.NotKFP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `WRONG_VERSION_NUMBER`},
				{Re: `server gave HTTP response to HTTPS client`},
				{Re: `Client sent an HTTP request to an HTTPS server`},
				{Re: `404 page not found`},
				{Re: `nothing of KFP's at this path`},
				{Re: `but not a KFP answer`},
			},
			Examples: []Example{
				{Source: "Python's ssl module: https:// against a plain-HTTP port-forward",
					Text: "urllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='localhost', port=3000): Max retries exceeded with url: /apis/v2beta1/healthz (Caused by SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1123)')))"},
				{Source: "recorded: KFP 2.17.0 outside /apis/ (404 text/plain)",
					Text: "HTTP response body: 404 page not found"},
				{Source: "Go's net/http on both ends of a scheme mix-up (http:// to a TLS port, https:// to a plain one)",
					Text: "Client sent an HTTP request to an HTTPS server.\nGet \"https://localhost:3000/apis/v2beta1/healthz\": http: server gave HTTP response to HTTPS client"},
				{Source: "doctor: internal/kfp/classify.go",
					Text: "✖ healthz  KFD026  HTTP 404 \"Not Found\": nothing of KFP's at this path\n✖ list-experiments  KFD026  HTTP 200, but not a KFP answer: \"ok\""},
			},
		},
		{
			ID: kfd.RedirectLoop, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `Exceeded \d+ redirects`},
				{Re: `ResponseError\('too many redirects'\)`},
				{Re: `redirect loop: `},
			},
			Examples: []Example{
				{Source: "python-requests following a login that redirects to itself",
					Text: "requests.exceptions.TooManyRedirects: Exceeded 30 redirects."},
				{Source: "urllib3's redirect limit (kfp_server_api's REST client)",
					Text: "urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='localhost', port=8080): Max retries exceeded with url: /pipeline/apis/v2beta1/healthz (Caused by ResponseError('too many redirects'))"},
				{Source: "doctor: internal/login",
					Text: "✖ login-start  KFD027  redirect loop: GET http://localhost:8080/oauth2/start reached 3 times"},
			},
		},
		{
			ID: kfd.ReviewUnavailable, Confirm: cmdCluster,
			Supersedes: []kfd.ID{kfd.NoIdentity, kfd.TokenInvalid, kfd.NothingListening},
			Patterns: []pattern{
				{Re: `Failed to review the token provided`},
				{Re: `Failed to create SubjectAccessReview`},
			},
			Examples: []Example{
				{Source: "recorded: KFP 2.17.0 with its kube-apiserver unreachable, bearer token (401; the notes keep its start and end, the Post between is Go's usual form)",
					Text: `{"code":16,"message":"Failed to authorize with API: Unauthenticated: Failed to review the token provided: Post \"https://10.96.0.1:443/apis/authentication.k8s.io/v1/tokenreviews\": dial tcp 10.96.0.1:443: connect: connection refused"}`},
				{Source: "recorded: KFP 2.17.0 with its kube-apiserver unreachable, identity header (500; the ResourceAttributes and Post abbreviated as above)",
					Text: `{"code":13,"message":"Failed to authorize with API: Internal error: Failed to create SubjectAccessReview for user 'user@example.com' (request: &ResourceAttributes{Namespace:ns-1,Verb:list,}): Post \"https://10.96.0.1:443/apis/authorization.k8s.io/v1/subjectaccessreviews\": dial tcp 10.96.0.1:443: connect: connection refused","details":[{"@type":"type.googleapis.com/google.rpc.Status","code":13,"message":"Internal Server Error"}]}`},
			},
		},
		{
			ID: kfd.WrongCredentials, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `Login credentials were probably invalid`},
				{Re: `Dex answered its login form again`},
				{Re: `Invalid (Email Address|Username|User name) and password`},
			},
			Examples: []Example{
				{Source: "measured: the seed's get_istio_auth_session() with a wrong password",
					Text: "RuntimeError: Login credentials were probably invalid - No redirect after POST to: http://localhost:8080/dex/auth/local/login?back=&state=abc"},
				{Source: "doctor: internal/login's credentials stage",
					Text: `✖ login-credentials  KFD029  Dex answered its login form again (HTTP 401, no redirect): connector "local" refused user "user@example.com" with this password`},
				{Source: "Dex's password template (web/templates/password.html) after a wrong password",
					Text: "<div id=\"login-error\" class=\"dex-error-box\">Invalid Email Address and password.</div>"},
			},
		},
		{
			ID: kfd.UnknownConnector, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `Connector ID does not match a valid Connector`},
				{Re: `Dex offers the connectors`},
			},
			Examples: []Example{
				{Source: "Dex's server/handlers.go (GET /dex/auth?connector_id=ldap with only static passwords)",
					Text: "<h2>Bad Request</h2>\n<p>Connector ID does not match a valid Connector</p>"},
				{Source: "doctor: internal/login's connector stage",
					Text: `✖ login-connector  KFD030  Dex offers the connectors local, not "ldap" (--login-connector)`},
			},
		},
		{
			ID: kfd.UnsecuredGateway, Confirm: cmdLogin,
			Patterns: []pattern{{Re: `answered without any login: nothing guards KFP`}},
			Examples: []Example{
				{Source: "doctor: the login-secured probe (internal/probes/login.go)",
					Text: "‼ login-secured  http://localhost:3000/pipeline/ answered without any login: nothing guards KFP on this gateway, so there is no session to get; the probes below go on without one"},
			},
		},
		{
			ID: kfd.LoginHelper, Confirm: cmdLogin,
			Patterns: []pattern{
				{Re: `HTTP status code '\d+' for GET against`},
				{Re: `get_istio_auth_session\(\) would`},
			},
			Examples: []Example{
				{Source: "measured: the seed's get_istio_auth_session() against a Kubeflow ≥ 1.9 gateway",
					Text: "RuntimeError: HTTP status code '403' for GET against: http://localhost:8080/pipeline/"},
				{Source: "doctor: the login-helper probe (internal/probes/login.go)",
					Text: "‼ login-helper  KFD032  get_istio_auth_session() would stop at Dex's approval page holding only the _csrf cookie"},
			},
		},
		{
			ID: kfd.LoginProviderDown, Confirm: cmdLogin,
			Supersedes: []kfd.ID{kfd.BackendNotReady},
			Patterns: []pattern{
				{Re: `/dex/\S*.{0,200}upstream connect error|upstream connect error.{0,200}/dex/`},
			},
			Examples: []Example{
				{Source: "measured: the lab's gateway with Dex scaled to zero (Envoy's 503)",
					Text: "GET http://localhost:8080/dex/auth/local/login?back=&state=x answered HTTP 503: upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
			},
		},
		{
			ID: kfd.LoginProxyDown, Confirm: cmdLogin,
			Supersedes: []kfd.ID{kfd.BackendNotReady},
			Patterns: []pattern{
				{Re: `/oauth2/\S*.{0,200}upstream connect error|upstream connect error.{0,200}/oauth2/`},
			},
			Examples: []Example{
				{Source: "measured: the lab's gateway with oauth2-proxy scaled to zero (Envoy's 503)",
					Text: "GET http://localhost:8080/oauth2/start?rd=/pipeline/ answered HTTP 503: upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
			},
		},
		{
			ID: kfd.HostWithoutCredentials, Confirm: cmdNoAuth + "   # in the pod: the unsent-token check",
			Patterns: []pattern{
				{Re: `does not send the token mounted at`},
			},
			Examples: []Example{
				{Source: "doctor: the unsent-token probe (internal/probes/sdk.go)",
					Text: "‼ unsent-token  KFD036  kfp.Client(host=…) does not send the token mounted at /var/run/secrets/kubeflow/pipelines/token; pass credentials=kfp.client.ServiceAccountTokenVolumeCredentials() or omit host"},
			},
		},
		{
			ID: kfd.ContextFile, Confirm: cmdInPod,
			Patterns: []pattern{
				{Re: `\.config/kfp/context\.json`},
				{Re: `_context_setting\[['"]namespace['"]\]`},
			},
			Examples: []Example{
				{Source: "SDK sdk/python/kfp/client/client.py (a context.json that is not JSON)",
					Text: "  File \"/opt/conda/lib/python3.11/site-packages/kfp/client/client.py\", line 210, in __init__\n    self._context_setting = json.load(f)\njson.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n(reading /home/jovyan/.config/kfp/context.json)"},
				{Source: "SDK sdk/python/kfp/client/client.py get_user_namespace() with a context.json lacking the key",
					Text: "    return self._context_setting['namespace']\nKeyError: 'namespace'"},
			},
		},
		{
			ID: kfd.NamespaceNamesService, Confirm: cmdInPod,
			Supersedes: []kfd.ID{kfd.DNS},
			Patterns: []pattern{
				{Re: `ml-pipeline\.[a-z0-9-]+\.svc\.cluster\.local`, Unless: `^ml-pipeline\.kubeflow\.`},
			},
			Examples: []Example{
				{Source: "measured: kfp.Client(namespace='kubeflow-user-example-com') in a pod, no host",
					Text: "urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='ml-pipeline.kubeflow-user-example-com.svc.cluster.local', port=8888): Max retries exceeded with url: /apis/v2beta1/healthz (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f0a>: Failed to establish a new connection: [Errno -2] Name or service not known'))"},
			},
		},
		{
			ID: kfd.SDKTokenNotReproduced, Confirm: cmdToken + "   # the file from `gcloud auth print-identity-token`",
			Patterns: []pattern{
				{Re: `google\.auth\.exceptions\.(DefaultCredentialsError|RefreshError)`},
				{Re: `the doctor sends no such token`},
			},
			Examples: []Example{
				{Source: "doctor: the sdk probe (internal/probes/sdk.go)",
					Text: "‼ sdk  KFD039  kfp.Client(client_id=…) fetches a Google token; the doctor sends no such token: the probes below check the endpoint without it"},
				{Source: "google-auth, reached by kfp.Client(client_id=…) without Google credentials",
					Text: "google.auth.exceptions.DefaultCredentialsError: Could not automatically determine credentials. Please set GOOGLE_APPLICATION_CREDENTIALS or explicitly create credentials and re-run the application."},
			},
		},
		{
			ID: kfd.NoVerdict, Confirm: cmdNoAuth + " --timeout 30s",
			Patterns: []pattern{
				{Re: `before any probe (started|reached a verdict)`},
				{Re: `no probe reached a verdict`},
			},
			Examples: []Example{
				{Source: "doctor: the run result (internal/probe/verdict.go), kfp-doctor --timeout 1ns",
					Text: "✖ run  KFD040  the run's deadline passed before any probe started (5 skipped): nothing was checked; the deadline leaves no time to probe"},
				{Source: "doctor: the run result when every probe skipped itself (internal/probe/verdict.go)",
					Text: "✖ run  KFD040  no probe reached a verdict on the connection (4 results; first: skipped: no host): this configuration gives nothing to check"},
			},
		},
		{
			ID: kfd.MalformedHTTP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `malformed HTTP (response|status code)`},
				{Re: `malformed chunked encoding|invalid byte in chunk length`},
			},
			Examples: []Example{
				{Source: "Go's net/http client (kfp-doctor, or any Go client) against a port that speaks another protocol",
					Text: `Get "http://localhost:3000/apis/v2beta1/healthz": net/http: HTTP/1.x transport connection broken: malformed HTTP response "SSH-2.0-OpenSSH_9.2p1"`},
				{Source: "Go's net/http client, a chunked reply whose chunk size is not hex",
					Text: `reading the reply: invalid byte in chunk length`},
			},
		},
		{
			ID: kfd.ConflictingLength, Confirm: cmdHost,
			Patterns: []pattern{{Re: `multiple Content-Length headers`}},
			Examples: []Example{
				{Source: "Go's net/http client, a reply with two different Content-Length headers",
					Text: `Get "http://localhost:8080/pipeline/apis/v2beta1/healthz": net/http: HTTP/1.x transport connection broken: http: message cannot contain multiple Content-Length headers; got ["2" "13"]`},
			},
		},
		{
			ID: kfd.HeadersTooLarge, Confirm: cmdHost,
			Patterns: []pattern{{Re: `server response headers exceeded \d+ bytes`}},
			Examples: []Example{
				{Source: "Go's net/http client with MaxResponseHeaderBytes (the doctor's 64 KiB)",
					Text: `Get "http://localhost:8080/pipeline/apis/v2beta1/healthz": net/http: server response headers exceeded 65536 bytes; aborted`},
			},
		},
		{
			ID: kfd.BadRedirect, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `failed to parse Location header`},
				{Re: `unsupported protocol scheme`},
			},
			Examples: []Example{
				{Source: "Go's net/http client following a redirect to a non-HTTP Location",
					Text: `Get "ftp://gateway.example.com/pipeline": unsupported protocol scheme "ftp"`},
				{Source: "Go's net/http client, a redirect whose Location is not a URL",
					Text: `Get "http://localhost:8080/pipeline/": failed to parse Location header "http://[::1": parse "http://[::1": missing ']' in host`},
			},
		},
		{
			ID: kfd.HeaderUnsafeCredential, Confirm: cmdToken,
			Patterns: []pattern{
				{Re: `invalid header field value`},
				{Re: `Invalid (leading whitespace, reserved character\(s\), or return character\(s\)|return character or leading space) in header`},
			},
			Examples: []Example{
				{Source: "Python requests (the SDK's urllib3 stack) with a token file holding a line break",
					Text: `requests.exceptions.InvalidHeader: Invalid leading whitespace, reserved character(s), or return character(s) in header value: 'Bearer eyJ…\n'`},
				{Source: "Go's net/http client, the same token",
					Text: `net/http: invalid header field value for "Authorization"`},
			},
		},
		{
			ID: kfd.ServerError, Confirm: cmdNoAuth,
			Patterns: []pattern{
				{Re: `\(500\)\s*\n?\s*Reason: Internal Server Error`},
				{Re: `HTTP 50[01]\b`},
			},
			Examples: []Example{
				{Source: "the SDK's ApiException for a 500 from the list call (kfp_server_api/rest.py)",
					Text: "kfp_server_api.exceptions.ApiException: (500)\nReason: Internal Server Error\nHTTP response headers: HTTPHeaderDict({'Content-Type': 'application/json'})"},
				{Source: "doctor: list-experiments on a server error (internal/probes/experiments.go)",
					Text: `✖ list-experiments  KFD046  HTTP 500, code 13: "List experiments failed: InternalServerError: Failed to list experiments"`},
			},
		},
		{
			ID: kfd.DistroIAP, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `Invalid IAP credentials`},
				{Re: `x-goog-iap-generated-response`},
				{Re: `recognised: Google Cloud IAP`},
				{Re: `redirect to Google Cloud IAP[^']*'s sign-in`},
			},
			Examples: []Example{
				{Source: "IAP's answer to a request without a token, as curl -i shows it (found with search in several public repositories' notes, 2026)",
					Text: "< HTTP/2 302\n< location: https://accounts.google.com/o/oauth2/v2/auth?client_id=721899303052-example.apps.googleusercontent.com&response_type=code&scope=openid+email&redirect_uri=https://iap.googleapis.com/v1/oauth/clientIds/721899303052-example.apps.googleusercontent.com:handleRedirect&state=…\n< x-goog-iap-generated-response: true\n< server: Google Frontend\n\nInvalid IAP credentials: empty token"},
				{Source: "IAP's 401 to a bearer token it cannot parse",
					Text: "kfp_server_api.exceptions.ApiException: (401)\nReason: Unauthorized\nHTTP response body: Invalid IAP credentials: Unable to parse JWT"},
				{Source: "doctor: healthz meeting the redirect (internal/kfp/classify.go)",
					Text: "✖ healthz  KFD047  HTTP 302 redirect to Google Cloud IAP (Kubeflow on Google Cloud)'s sign-in (accounts.google.com): no Dex login or KFP answer behind it"},
				{Source: "doctor: the distribution probe (internal/probes/distro.go)",
					Text: "‼ distribution  KFD047  recognised: Google Cloud IAP (Kubeflow on Google Cloud) from redirect to accounts.google.com; the doctor cannot log in there"},
			},
		},
		{
			ID: kfd.DistroAWS, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `[a-z0-9-]+\.auth\.[a-z0-9-]+\.amazoncognito\.com`},
				{Re: `AWSELBAuthSessionCookie`},
				{Re: `recognised: AWS ALB with Cognito`},
				{Re: `redirect to AWS ALB with Cognito[^']*'s sign-in`},
			},
			Examples: []Example{
				{Source: "the ALB's redirect of an anonymous request into Cognito's hosted sign-in, as curl -i shows it",
					Text: "< HTTP/1.1 302 Found\n< Server: awselb/2.0\n< Location: https://kubeflow-example.auth.us-west-2.amazoncognito.com/oauth2/authorize?client_id=…&redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Foauth2%2Fidpresponse&response_type=code&scope=openid&state=…"},
				{Source: "Kubeflow on AWS's guide (awslabs/kubeflow-manifests, component-guides/pipelines): the cookies kfp.Client needs",
					Text: `client = kfp.Client(host=f"https://{kubeflow_gateway_endpoint}/pipeline", cookies=f"AWSELBAuthSessionCookie-0={alb_session_cookie0};AWSELBAuthSessionCookie-1={alb_session_cookie1}")`},
				{Source: "doctor: healthz meeting the redirect (internal/kfp/classify.go)",
					Text: "✖ healthz  KFD048  HTTP 302 redirect to AWS ALB with Cognito (Kubeflow on AWS)'s sign-in (kubeflow-example.auth.us-west-2.amazoncognito.com): no Dex login or KFP answer behind it"},
				{Source: "doctor: the distribution probe (internal/probes/distro.go)",
					Text: "‼ distribution  KFD048  recognised: AWS ALB with Cognito (Kubeflow on AWS) from redirect to example.auth.us-west-2.amazoncognito.com; the doctor cannot log in there"},
			},
		},
		{
			ID: kfd.DistroAzure, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `login\.microsoftonline\.com`},
				{Re: `AADSTS\d+`},
				{Re: `recognised: Microsoft Entra ID`},
				{Re: `redirect to Microsoft Entra ID[^']*'s sign-in`},
			},
			Examples: []Example{
				{Source: "Entra ID's sign-in error for an oauth2-proxy whose callback is not registered (the AADSTS50011 page)",
					Text: "AADSTS50011: The redirect URI 'https://kubeflow.example.com/oauth2/callback' specified in the request does not match the redirect URIs configured for the application"},
				{Source: "the gateway's redirect of an anonymous request to Entra ID, as curl -i shows it",
					Text: "< HTTP/1.1 302 Found\n< location: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/authorize?client_id=…&redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Foauth2%2Fcallback&response_type=code&scope=openid+email+profile&state=…"},
				{Source: "doctor: healthz meeting the redirect (internal/kfp/classify.go)",
					Text: "✖ healthz  KFD049  HTTP 302 redirect to Microsoft Entra ID / Azure AD (Kubeflow on Azure)'s sign-in (login.microsoftonline.com): no Dex login or KFP answer behind it"},
				{Source: "doctor: the distribution probe (internal/probes/distro.go)",
					Text: "‼ distribution  KFD049  recognised: Microsoft Entra ID / Azure AD (Kubeflow on Azure) from redirect to login.microsoftonline.com; the doctor cannot log in there"},
			},
		},
		{
			ID: kfd.DistroIBM, Confirm: cmdHost,
			Patterns: []pattern{
				{Re: `[a-z0-9-]+\.appid\.cloud\.ibm\.com`},
				{Re: `recognised: IBM Cloud App ID`},
				{Re: `redirect to IBM Cloud App ID[^']*'s sign-in`},
			},
			Examples: []Example{
				{Source: "the gateway's redirect of an anonymous request into App ID's authorization endpoint, as curl -i shows it",
					Text: "< HTTP/1.1 302 Found\n< location: https://us-south.appid.cloud.ibm.com/oauth/v4/00000000-0000-0000-0000-000000000000/authorization?client_id=…&redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Fauthservice%2Foidc%2Fcallback&response_type=code&scope=openid&state=…"},
				{Source: "doctor: healthz meeting the redirect (internal/kfp/classify.go)",
					Text: "✖ healthz  KFD050  HTTP 302 redirect to IBM Cloud App ID (Kubeflow on IBM Cloud)'s sign-in (us-south.appid.cloud.ibm.com): no Dex login or KFP answer behind it"},
				{Source: "doctor: the distribution probe (internal/probes/distro.go)",
					Text: "‼ distribution  KFD050  recognised: IBM Cloud App ID (Kubeflow on IBM Cloud) from redirect to us-south.appid.cloud.ibm.com; the doctor cannot log in there"},
			},
		},
		{
			ID: kfd.PodDefaultWebhookDown, Confirm: cmdEndpoint,
			Patterns: []pattern{
				{Re: `failed calling webhook "[a-z0-9.-]*(admission-webhook|poddefault)[a-z0-9.-]*kubeflow\.org"`},
				{Re: `apply-poddefault\?timeout=`},
				{Re: `every new pod in a profile namespace is refused`},
			},
			Examples: []Example{
				{Source: "kubeflow/kubeflow#6115 and canonical/bundle-kubeflow#361: the events of pods refused while the webhook's Service was gone",
					Text: `Warning   FailedCreate   statefulset/argo-controller-operator   create Pod argo-controller-operator-0 in StatefulSet argo-controller-operator failed error: Internal error occurred: failed calling webhook "admission-webhook.kubeflow.org": Post "https://admission-webhook.controller.svc:443/apply-poddefault?timeout=30s": service "admission-webhook" not found`},
				{Source: "measured: the real kube-apiserver of the node provider refusing a labelled pod after admission-webhook-service was deleted (suites/node/poddefault_test.go)",
					Text: `Internal error occurred: failed calling webhook "admission-webhook-deployment.kubeflow.org": failed to call webhook: Post "https://admission-webhook-service.kubeflow.svc:443/apply-poddefault?timeout=10s": service "admission-webhook-service" not found`},
				{Source: "doctor: the poddefault-webhook probe (internal/probes/webhook.go)",
					Text: "✖ poddefault-webhook [KFD055] webhook admission-webhook-deployment.kubeflow.org (failurePolicy Fail): its Service kubeflow/admission-webhook-service does not exist: every new pod in a profile namespace is refused"},
			},
		},
	}
}
