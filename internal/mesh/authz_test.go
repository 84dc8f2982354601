package mesh

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Sources the rows cite (istio.io pages are generated from the doc comments
// of istio.io/api's protos, which the module holds):
const (
	refAP     = "istio.io Authorization Policy (security/v1beta1/authorization_policy.proto)"
	refCond   = "istio.io Authorization Policy Conditions"
	refPA     = "istio.io PeerAuthentication (security/v1beta1/peer_authentication.proto)"
	refRA     = "istio.io RequestAuthentication (security/v1beta1/request_authentication.proto)"
	refModel  = "istio/istio pilot/pkg/security/authz/model/model.go"
	refGen    = "istio/istio pilot/pkg/security/authz/model/generator.go"
	refMatch  = "istio/istio pilot/pkg/security/authz/model/matcher (string.go, header.go)"
	refNorm   = "istio.io Authorization Policy Normalization"
	refKFP    = "kubeflow/pipelines manifests/kustomize/base/installs/multi-user/istio-authorization-config.yaml"
	refKF     = "kubeflow/manifests common/istio/istio-install/base, common/oauth2-proxy/components/istio-external-auth"
	refBuilds = "istio/istio pilot/pkg/networking/core (listener builder: CUSTOM ext_authz, then authn, then authz)"
)

// config reads YAML documents into a snapshot, as Load would from a cluster.
func config(t *testing.T, docs string) *Config {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("bad test YAML: %v\n%s", err, doc)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	c := FromObjects(objs)
	if len(c.Invalid) > 0 {
		t.Fatalf("invalid objects: %v", c.Invalid)
	}
	return c
}

func ap(ns, name, spec string) string {
	return "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + spec
}

// The install's own policies, as Kubeflow ships them.
var kubeflowPolicies = strings.Join([]string{
	ap("istio-system", "global-deny-all", "  {}"),
	ap("istio-system", "istio-ingressgateway", `  action: ALLOW
  selector: {matchLabels: {app: istio-ingressgateway, istio: ingressgateway}}
  rules: [{}]`),
	ap("kubeflow", "ml-pipeline-ui", `  selector: {matchLabels: {app: ml-pipeline-ui}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account]}}]
  - when:
    - {key: "request.headers[authorization]", values: ["*"]}
    - {key: "request.headers[kubeflow-userid]", notValues: ["*"]}`),
	ap("kubeflow", "ml-pipeline", `  selector: {matchLabels: {app: ml-pipeline}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/kubeflow/sa/ml-pipeline, cluster.local/ns/kubeflow/sa/ml-pipeline-ui]}}]
  - when: [{key: "request.headers[kubeflow-userid]", notValues: ["*"]}]`),
	ap("istio-system", "istio-ingressgateway-oauth2-proxy", `  action: CUSTOM
  provider: {name: oauth2-proxy}
  selector: {matchLabels: {app: istio-ingressgateway}}
  rules:
  - when: [{key: "request.headers[authorization]", notValues: ["*"]}]
    to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]`),
	ap("istio-system", "istio-ingressgateway-require-jwt", `  action: DENY
  selector: {matchLabels: {app: istio-ingressgateway}}
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]`),
}, "\n---\n")

var (
	uiPod      = Workload{Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline-ui"}}
	apiPod     = Workload{Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline"}}
	gatewayPod = Workload{Namespace: "istio-system", Labels: map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}}
	httpbin    = Workload{Namespace: "foo", Labels: map[string]string{"app": "httpbin", "version": "v1"}}
	notebook   = "cluster.local/ns/kubeflow-user-example-com/sa/default-editor"
	gatewaySA  = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestAuthorize(t *testing.T) {
	jwt := &Identity{Issuer: "https://accounts.google.com", Subject: "sub-1", Claims: map[string]any{
		"iss": "https://accounts.google.com", "sub": "sub-1", "aud": []any{"my-svc.com"}, "azp": "123.my-svc.com",
		"groups": []any{"admins", "dev"}, "email": "", "nested": map[string]any{"role": "owner"}}}
	sleep := "cluster.local/ns/default/sa/sleep"
	rows := []struct {
		name, source string
		policies     string
		w            Workload
		req          Request
		allowed      bool
		by           string // the deciding policy, "" for none
		why          string // a fragment of the explanation of a denial
	}{
		{name: "no policy selects the workload: allowed", source: refAP + ": \"If there are no ALLOW policies for the workload, allow the request.\"",
			w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true},
		{name: "allow-nothing in the namespace denies everything", source: refAP + ": allow-nothing example (spec: {})",
			policies: ap("foo", "allow-nothing", "  {}"), w: httpbin, req: Request{Method: "GET", Path: "/"},
			why: "foo/allow-nothing has no rules"},
		{name: "allow-all in the namespace", source: refAP + ": allow-all example (rules: [{}]), Rule: \"An empty rule is always matched.\"",
			policies: ap("foo", "allow-all", "  rules: [{}]"), w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true, by: "foo/allow-all"},
		{name: "a policy in another namespace does not apply", source: refAP + ": \"metadata/namespace tells which namespace the policy applies\"",
			policies: ap("bar", "allow-nothing", "  {}"), w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true},
		{name: "the root namespace's policy applies mesh-wide", source: refAP + ": \"If set to root namespace, the policy applies to all namespaces in a mesh.\"",
			policies: ap("istio-system", "global-deny-all", "  {}"), w: httpbin, req: Request{Method: "GET", Path: "/"},
			why: "istio-system/global-deny-all has no rules"},
		{name: "a root-namespace selector matches workloads of every namespace", source: refAP + ": allow-nothing for version: v1 in istio-system",
			policies: ap("istio-system", "allow-nothing", "  selector: {matchLabels: {version: v1}}"), w: httpbin, req: Request{Method: "GET", Path: "/"},
			why: "istio-system/allow-nothing has no rules"},
		{name: "a selector the workload's labels lack does not apply", source: refAP + ": selector (\"workload selector can be used to further restrict where a policy applies\")",
			policies: ap("foo", "allow-nothing", "  selector: {matchLabels: {app: other}}"), w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true},
		{name: "a matching DENY wins over a matching ALLOW", source: refAP + ": \"If there are any DENY policies that match the request, deny the request.\"",
			policies: ap("foo", "allow-all", "  rules: [{}]") + "\n---\n" + ap("foo", "deny-post", "  action: DENY\n  rules: [{to: [{operation: {methods: [POST]}}]}]"),
			w:        httpbin, req: Request{Method: "POST", Path: "/data"}, by: "foo/deny-post"},
		{name: "a DENY with no rules denies nothing", source: refAP + ": rules \"If not set, the match will never occur.\"",
			policies: ap("foo", "deny-none", "  action: DENY"), w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true},
		{name: "a dry-run policy is not enforced", source: refAP + ": istio.io/dry-run annotation example",
			policies: "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: dry, namespace: foo, annotations: {istio.io/dry-run: \"true\"}}\nspec:\n  action: DENY\n  rules: [{}]",
			w:        httpbin, req: Request{Method: "GET", Path: "/headers"}, allowed: true},
		{name: "AUDIT decides nothing", source: refAP + ": \"AUDIT policies do not affect whether requests are allowed or denied\"",
			policies: ap("foo", "audit", "  action: AUDIT\n  rules: [{}]"), w: httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true},

		// The reference's first example, each part of it.
		{name: "example: GET /info* from principal sleep with the JWT", source: refAP + ": first example (principals, GET paths /info*, request.auth.claims[iss])",
			policies: ap("foo", "httpbin", `  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}, {source: {namespaces: ["test"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/info*"]}}, {operation: {methods: ["POST"], paths: ["/data"]}}]
    when: [{key: "request.auth.claims[iss]", values: ["https://accounts.google.com"]}]`),
			w: httpbin, req: Request{Method: "GET", Path: "/info/x?y=1", Peer: sleep, JWT: jwt}, allowed: true, by: "foo/httpbin"},
		{name: "example: POST /data from namespace test", source: refAP + ": first example (namespaces, POST /data)",
			policies: ap("foo", "httpbin", `  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}, {source: {namespaces: ["test"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/info*"]}}, {operation: {methods: ["POST"], paths: ["/data"]}}]`),
			w: httpbin, req: Request{Method: "POST", Path: "/data", Peer: "cluster.local/ns/test/sa/any"}, allowed: true, by: "foo/httpbin"},
		{name: "example: POST /info is no operation of it", source: refAP + ": first example (operations are ORed, their fields ANDed)",
			policies: ap("foo", "httpbin", `  rules:
  - to: [{operation: {methods: ["GET"], paths: ["/info*"]}}, {operation: {methods: ["POST"], paths: ["/data"]}}]`),
			w: httpbin, req: Request{Method: "POST", Path: "/info"}, why: `path "/info" is none of [/data]`},
		{name: "example: without the JWT the condition fails", source: refAP + ": first example (when request.auth.claims[iss])",
			policies: ap("foo", "httpbin", `  rules:
  - when: [{key: "request.auth.claims[iss]", values: ["https://accounts.google.com"]}]`),
			w: httpbin, req: Request{Method: "GET", Path: "/"}, why: "when request.auth.claims[iss]"},
		{name: "deny POST from namespace dev", source: refAP + ": DENY example (namespaces dev, POST)",
			policies: ap("foo", "httpbin", "  action: DENY\n  rules: [{from: [{source: {namespaces: [dev]}}], to: [{operation: {methods: [POST]}}]}]"),
			w:        httpbin, req: Request{Method: "POST", Path: "/", Peer: "cluster.local/ns/dev/sa/x"}, by: "foo/httpbin"},
		{name: "deny POST on port 8080, other ports pass", source: refAP + ": DENY example (methods POST, ports 8080)",
			policies: ap("foo", "httpbin", "  action: DENY\n  rules: [{to: [{operation: {methods: [POST], ports: [\"8080\"]}}]}]"),
			w:        httpbin, req: Request{Method: "POST", Path: "/", Port: 9090}, allowed: true},

		// Source fields.
		{name: "principals need mTLS: plaintext matches no principal", source: refAP + ": principals \"This field requires mTLS enabled\"; " + refGen + " srcPrincipalGenerator",
			policies: ap("foo", "p", "  rules: [{from: [{source: {principals: [\"*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/"}, why: "principal (none: plaintext"},
		{name: "notPrincipals * matches plaintext", source: refModel + ": not-forms are the negation of the ORed values (principalNot)",
			policies: ap("foo", "p", "  rules: [{from: [{source: {notPrincipals: [\"*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/"}, allowed: true, by: "foo/p"},
		{name: "principal prefix match", source: refMatch + ": \"abc*\" is a prefix match (spiffe:// prepended)",
			policies: ap("foo", "p", "  rules: [{from: [{source: {principals: [\"cluster.local/ns/default/*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Peer: sleep}, allowed: true, by: "foo/p"},
		{name: "principal suffix match", source: refMatch + ": \"*abc\" is a suffix match",
			policies: ap("foo", "p", "  rules: [{from: [{source: {principals: [\"*/sa/sleep\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Peer: sleep}, allowed: true, by: "foo/p"},
		{name: "namespaces with a wildcard", source: refGen + " srcNamespaceGenerator (regex .*/ns/<v>/.*, * → .*)",
			policies: ap("foo", "p", "  rules: [{from: [{source: {namespaces: [\"kubeflow-user-*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Peer: notebook}, allowed: true, by: "foo/p"},
		{name: "serviceAccounts in the policy's namespace", source: refAP + ": serviceAccounts \"<serviceaccount> may also be used to use the same namespace\"",
			policies: ap("default", "p", "  rules: [{from: [{source: {serviceAccounts: [sleep]}}]}]"),
			w:        Workload{Namespace: "default"}, req: Request{Method: "GET", Path: "/", Peer: sleep}, allowed: true, by: "default/p"},
		{name: "requestPrincipals * needs a verified JWT", source: refRA + ": requestPrincipals [\"*\"] example",
			policies: ap("foo", "p", "  rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/"}, why: "request principal (none: no verified JWT)"},
		{name: "requestPrincipals issuer/*", source: refRA + ": requestPrincipals [\"issuer-foo/*\"]; " + refGen + " requestPrincipalGenerator (split at the last /)",
			policies: ap("foo", "p", "  rules: [{from: [{source: {requestPrincipals: [\"https://accounts.google.com/*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "ipBlocks CIDR with a notIpBlocks address", source: refAP + ": Source example (notIpBlocks: 203.0.113.4); ipBlocks single IP and CIDR",
			policies: ap("foo", "p", "  rules: [{from: [{source: {ipBlocks: [203.0.113.0/24], notIpBlocks: [203.0.113.4]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("203.0.113.4")}, why: "matches notValues [203.0.113.4]"},
		{name: "remoteIpBlocks read the original client", source: refAP + ": remoteIpBlocks \"populated from X-Forwarded-For header or proxy protocol\"",
			policies: ap("foo", "p", "  rules: [{from: [{source: {remoteIpBlocks: [198.51.100.0/24]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("10.0.0.1"), RemoteIP: netip.MustParseAddr("198.51.100.7")}, allowed: true, by: "foo/p"},

		// Operation fields.
		{name: "hosts suffix, case-insensitive", source: refAP + ": Operation example (hosts *.example.com); hosts \"The match is case-insensitive.\"",
			policies: ap("foo", "p", "  rules: [{to: [{operation: {hosts: [\"*.example.com\"], methods: [GET, HEAD], notPaths: [\"/admin*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "HEAD", Host: "WWW.Example.COM", Path: "/x"}, allowed: true, by: "foo/p"},
		{name: "notPaths prefix refuses /admin", source: refAP + ": Operation example (notPaths /admin*)",
			policies: ap("foo", "p", "  rules: [{to: [{operation: {hosts: [\"*.example.com\"], methods: [GET, HEAD], notPaths: [\"/admin*\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Host: "a.example.com", Path: "/admin/users"}, why: "matches notValues [/admin*]"},
		{name: "the path is matched normalized and without its query", source: refNorm + " (BASE: RFC 3986 dot segments); Envoy's path matcher ignores the query",
			policies: ap("foo", "p", "  rules: [{to: [{operation: {paths: [\"/data\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/info/../data?x=1"}, allowed: true, by: "foo/p"},
		{name: "a path template {*} matches one segment", source: refAP + ": paths \"`/foo/{*}` matches `/foo/bar` but not `/foo/bar/baz`\"",
			policies: ap("foo", "p", "  rules: [{to: [{operation: {paths: [\"/foo/{*}\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/foo/bar/baz"}, why: "is none of [/foo/{*}]"},
		{name: "ports", source: refAP + ": ports \"A list of ports as specified in the connection.\"",
			policies: ap("foo", "p", "  rules: [{to: [{operation: {ports: [\"8888\"]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Port: 8888}, allowed: true, by: "foo/p"},

		// Conditions.
		{name: "request.headers prefix", source: refCond + ": request.headers[User-Agent] values [\"Mozilla/*\"]",
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.headers[User-Agent]\", values: [\"Mozilla/*\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Header: hdr("User-Agent", "Mozilla/5.0")}, allowed: true, by: "foo/p"},
		{name: "request.headers one of several comma-joined values", source: refMatch + " HeaderMatcherWithRegex (a value among comma-separated ones)",
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.headers[x-team]\", values: [\"ml\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Header: hdr("x-team", "data", "x-team", "ml")}, allowed: true, by: "foo/p"},
		{name: "source.ip CIDR", source: refCond + ": source.ip values [\"10.1.2.3\", \"10.2.0.0/16\"]",
			policies: ap("foo", "p", "  rules: [{when: [{key: source.ip, values: [10.1.2.3, 10.2.0.0/16]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("10.2.9.9")}, allowed: true, by: "foo/p"},
		{name: "source.namespace needs mTLS", source: refCond + ": source.namespace \"requires mutual TLS enabled\"",
			policies: ap("foo", "p", "  rules: [{when: [{key: source.namespace, values: [default]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/"}, why: "when source.namespace"},
		{name: "source.principal", source: refCond + ": source.principal values [cluster.local/ns/default/sa/productpage]",
			policies: ap("foo", "p", "  rules: [{when: [{key: source.principal, values: [cluster.local/ns/default/sa/sleep]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Peer: sleep}, allowed: true, by: "foo/p"},
		{name: "request.auth.principal", source: refCond + ": request.auth.principal (<iss>/<sub>)",
			policies: ap("foo", "p", "  rules: [{when: [{key: request.auth.principal, values: [\"https://accounts.google.com/sub-1\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "request.auth.audiences", source: refCond + ": request.auth.audiences values [my-svc.com]",
			policies: ap("foo", "p", "  rules: [{when: [{key: request.auth.audiences, values: [my-svc.com]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "request.auth.presenter", source: refCond + ": request.auth.presenter values [123456789012.my-svc.com]",
			policies: ap("foo", "p", "  rules: [{when: [{key: request.auth.presenter, values: [\"*.my-svc.com\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "request.auth.claims of a list claim", source: refCond + ": request.auth.claims[groups]; " + refGen + " (list value matcher)",
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.auth.claims[groups]\", values: [dev]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "a claim matched by * must not be empty", source: refMatch + ": \"*\" is the regex .+ (Presence match: \"will match when value is not empty\")",
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.auth.claims[email]\", values: [\"*\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: &Identity{Issuer: "i", Subject: "s", Claims: map[string]any{"email": ""}}}, why: "request.auth.claims[email]"},
		{name: "request.auth.claims nested", source: refCond + ": request.auth.claims[nested][key] (nested claims)",
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.auth.claims[nested][role]\", values: [owner]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", JWT: jwt}, allowed: true, by: "foo/p"},
		{name: "destination.port", source: refCond + ": destination.port values [\"80\", \"443\"]",
			policies: ap("foo", "p", "  rules: [{when: [{key: destination.port, values: [\"80\", \"443\"]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Port: 8080}, why: "when destination.port 8080"},
		{name: "values and notValues together", source: refAP + ": Condition (values and notValues); " + refModel,
			policies: ap("foo", "p", "  rules: [{when: [{key: \"request.headers[x-env]\", values: [\"prod*\"], notValues: [prod-eu]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", Header: hdr("x-env", "prod-eu")}, why: "matches notValues [prod-eu]"},
		{name: "an unknown condition key drops the rule", source: refModel + ": New returns \"unknown attribute\"; builder skips the rule",
			policies: ap("foo", "p", "  rules: [{when: [{key: request.nothing, values: [x]}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/"}, why: "unknown condition key"},
		{name: "an invalid IP drops an ALLOW rule", source: refModel + ": checkError (ALLOW: the rule is ignored)",
			policies: ap("foo", "p", "  rules: [{from: [{source: {ipBlocks: [not-an-ip, 10.0.0.0/8]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("10.1.1.1")}, why: "Istio drops this ALLOW rule"},
		{name: "an invalid IP widens a DENY rule", source: refModel + ": checkError (DENY: the value is ignored)",
			policies: ap("foo", "p", "  action: DENY\n  rules: [{from: [{source: {ipBlocks: [not-an-ip]}}]}]"),
			w:        httpbin, req: Request{Method: "GET", Path: "/", SourceIP: netip.MustParseAddr("10.1.1.1")}, by: "foo/p"},

		// Kubeflow's own policies.
		{name: "KFP UI: the gateway's principal", source: refKFP + ": ml-pipeline-ui rule 1",
			policies: kubeflowPolicies, w: uiPod, req: Request{Method: "GET", Path: "/pipeline/apis/v2beta1/experiments", Peer: gatewaySA,
				Header: hdr("kubeflow-userid", "user@example.com")}, allowed: true, by: "kubeflow/ml-pipeline-ui"},
		{name: "KFP UI: a token and no kubeflow-userid", source: refKFP + ": ml-pipeline-ui rule 2",
			policies: kubeflowPolicies, w: uiPod, req: Request{Method: "GET", Path: "/apis/v2beta1/experiments", Peer: notebook,
				Header: hdr("Authorization", "Bearer x")}, allowed: true, by: "kubeflow/ml-pipeline-ui"},
		{name: "KFP UI: a notebook with no token is refused", source: refKFP + " (ml-pipeline-ui) with " + refKF + " global-deny-all",
			policies: kubeflowPolicies, w: uiPod, req: Request{Method: "GET", Path: "/apis/v2beta1/experiments", Peer: notebook},
			why: "when request.headers[authorization] absent"},
		{name: "KFP UI: a token with a self-set kubeflow-userid is refused", source: refKFP + ": ml-pipeline-ui rule 2 (notValues *)",
			policies: kubeflowPolicies, w: uiPod, req: Request{Method: "GET", Path: "/", Peer: notebook,
				Header: hdr("Authorization", "Bearer x", "kubeflow-userid", "someone")}, why: "request.headers[kubeflow-userid] present matches notValues [*]"},
		{name: "KFP API: no kubeflow-userid, from anywhere", source: refKFP + ": ml-pipeline rule 2",
			policies: kubeflowPolicies, w: apiPod, req: Request{Method: "GET", Path: "/apis/v2beta1/experiments", Peer: notebook,
				Header: hdr("Authorization", "Bearer x")}, allowed: true, by: "kubeflow/ml-pipeline"},
		{name: "KFP API: plaintext from outside the mesh, no kubeflow-userid", source: refKFP + ": ml-pipeline rule 2 (no source constraint)",
			policies: kubeflowPolicies, w: apiPod, req: Request{Method: "GET", Path: "/"}, allowed: true, by: "kubeflow/ml-pipeline"},
		{name: "KFP API: a pod setting kubeflow-userid itself", source: refKFP + ": ml-pipeline rules 1 and 2",
			policies: kubeflowPolicies, w: apiPod, req: Request{Method: "GET", Path: "/", Peer: notebook, Header: hdr("kubeflow-userid", "admin@example.com")},
			why: "kubeflow/ml-pipeline rule 1: from: principal"},
		{name: "KFP API: the UI's principal with the user's header", source: refKFP + ": ml-pipeline rule 1",
			policies: kubeflowPolicies, w: apiPod, req: Request{Method: "GET", Path: "/", Peer: "cluster.local/ns/kubeflow/sa/ml-pipeline-ui",
				Header: hdr("kubeflow-userid", "user@example.com")}, allowed: true, by: "kubeflow/ml-pipeline"},
		{name: "gateway: no verified JWT outside the login paths", source: refKF + ": istio-ingressgateway-require-jwt",
			policies: kubeflowPolicies, w: gatewayPod, req: Request{Method: "GET", Path: "/pipeline/"}, by: "istio-system/istio-ingressgateway-require-jwt"},
		{name: "gateway: Dex's pages need no JWT", source: refKF + ": require-jwt notPaths /dex/*, then istio-ingressgateway allows all",
			policies: kubeflowPolicies, w: gatewayPod, req: Request{Method: "GET", Path: "/dex/auth"}, allowed: true, by: "istio-system/istio-ingressgateway"},
		{name: "gateway: a verified JWT passes", source: refKF + ": require-jwt (notRequestPrincipals *)",
			policies: kubeflowPolicies, w: gatewayPod, req: Request{Method: "GET", Path: "/pipeline/apis/v2beta1/experiments", JWT: jwt}, allowed: true, by: "istio-system/istio-ingressgateway"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := config(t, row.policies)
			if row.req.Header == nil {
				row.req.Header = http.Header{}
			}
			v := c.Authorize(row.w, &row.req)
			if v.Allowed != row.allowed {
				t.Fatalf("allowed = %v, want %v: %s\n(source: %s)", v.Allowed, row.allowed, v, row.source)
			}
			by := ""
			if v.Policy != nil {
				by = v.Policy.String()
			}
			if by != row.by {
				t.Fatalf("decided by %q, want %q: %s\n(source: %s)", by, row.by, v, row.source)
			}
			if row.why != "" && !strings.Contains(v.String(), row.why) {
				t.Fatalf("explanation %q lacks %q\n(source: %s)", v, row.why, row.source)
			}
		})
	}
}

func TestCustom(t *testing.T) {
	c := config(t, kubeflowPolicies)
	rows := []struct {
		name, source string
		req          Request
		provider     string
	}{
		{"a browser request without Authorization goes to oauth2-proxy", refKF + ": istio-ingressgateway-oauth2-proxy (when authorization notValues *)",
			Request{Method: "GET", Path: "/pipeline/"}, "oauth2-proxy"},
		{"a request with Authorization skips it", refKF + ": istio-ingressgateway-oauth2-proxy",
			Request{Method: "GET", Path: "/pipeline/", Header: hdr("Authorization", "Bearer x")}, ""},
		{"Dex's own pages skip it", refKF + ": istio-ingressgateway-oauth2-proxy (notPaths /dex/*)",
			Request{Method: "GET", Path: "/dex/auth/local"}, ""},
		{"a dot segment does not smuggle a path past notPaths", refNorm,
			Request{Method: "GET", Path: "/dex/../pipeline/"}, "oauth2-proxy"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if row.req.Header == nil {
				row.req.Header = http.Header{}
			}
			provider, _, ok := c.Custom(gatewayPod, &row.req)
			if provider != row.provider || ok != (row.provider != "") {
				t.Fatalf("custom = %q %v, want %q (source: %s, %s)", provider, ok, row.provider, row.source, refBuilds)
			}
		})
	}
	// CUSTOM policies select like the others: not the UI.
	if _, _, ok := c.Custom(uiPod, &Request{Method: "GET", Path: "/", Header: http.Header{}}); ok {
		t.Fatal("the gateway's CUSTOM policy applied to ml-pipeline-ui")
	}
}
