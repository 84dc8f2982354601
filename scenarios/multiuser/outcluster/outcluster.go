// Package outcluster is multi-user Kubeflow reached from a laptop: a
// ServiceAccount token minted by TokenRequest (kubectl create token) sent as
// a Bearer through a port-forward to ml-pipeline-ui, or through the Istio
// ingress gateway with the m2m overlay, or through the gateway after a
// login through Dex as a browser would — static passwords or LDAP, behind
// oauth2-proxy (Kubeflow ≥ 1.9) or oidc-authservice (≤ 1.8) — with the
// session cookies. The login stack is the real Dex, oauth2-proxy and slapd.
package outcluster

import (
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
	cf "github.com/kfp-connect/kfp-connect/scenarios/clientfault"
)

const profile = kubeflow.ExampleProfile

var (
	uiForward      = &s.PortForward{Service: kubeflow.UIServer, Port: 80}
	gatewayForward = &s.PortForward{Namespace: kubeflow.GatewayNamespace, Service: kubeflow.Gateway, Port: 80}
	minted         = s.Token{Kind: s.MintedToken, ServiceAccount: profile + "/" + kubeflow.ProfileEditor, Audience: kubeflow.Audience}
	// Through the gateway the token is checked by Istio against the
	// cluster's issuer and keys, not by TokenReview: no audience is needed,
	// and the docs mint it without one.
	mintedNoAudience = s.Token{Kind: s.MintedToken, ServiceAccount: profile + "/" + kubeflow.ProfileEditor}
)

// The lab's Dex users (fixtures/kfp/multi-user/80-dex.yaml, 81-openldap.yaml).
var (
	staticUser = &s.Login{Username: "user@example.com", Password: "12341234", Connector: "local"}
	ldapUser   = &s.Login{Username: "ldap-user@example.com", Password: "12341234", Connector: "ldap"}
)

// The gateway's login policies (fixtures/kfp/multi-user/90-mesh.yaml,
// Kubeflow's common/oauth2-proxy/components/istio-external-auth): the
// CUSTOM policy that sends browsers to oauth2-proxy, and the DENY that
// refuses a request without a verified JWT.
var (
	customLogin = s.MeshChange{Kind: "AuthorizationPolicy", Namespace: kubeflow.GatewayNamespace, Name: "istio-ingressgateway-oauth2-proxy"}
	requireJWT  = s.MeshChange{Kind: "AuthorizationPolicy", Namespace: kubeflow.GatewayNamespace, Name: "istio-ingressgateway-require-jwt"}
	// m2mRule is Kubeflow's m2m jwtRule, for one issuer and its keys.
	m2mRule = func(issuer, jwksURI string) map[string]any {
		return map[string]any{"issuer": issuer, "jwksUri": jwksURI, "forwardOriginalToken": true,
			"outputClaimToHeaders": []any{map[string]any{"header": "kubeflow-userid", "claim": "sub"}, map[string]any{"header": "kubeflow-groups", "claim": "groups"}},
			"fromHeaders":          []any{map[string]any{"name": "Authorization", "prefix": "Bearer "}}}
	}
	m2m = func(rules ...any) []s.MeshChange {
		return []s.MeshChange{{Kind: "RequestAuthentication", Namespace: kubeflow.GatewayNamespace, Name: "m2m-token-issuer",
			Spec: map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "istio-ingressgateway"}}, "jwtRules": rules}}}
	}
	clusterJWKS = "http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks"
)

// Install variants and faults of the login stack.
var (
	// Kubeflow ≤ 1.8 ran oidc-authservice as the gateway's ext_authz (an
	// EnvoyFilter) and had no require-jwt policy: the gateway's login
	// becomes authservice (standing in the CUSTOM policy's place), and the
	// DENY goes.
	authservice = &s.Fault{Name: "authservice", Doc: "Kubeflow ≤ 1.8: oidc-authservice in front of Dex instead of oauth2-proxy",
		SetEnv: &s.SetEnv{Namespace: kubeflow.GatewayNamespace, Deployment: kubeflow.Gateway, Name: "LOGIN", Value: "authservice"},
		Mesh:   []s.MeshChange{requireJWT}}
	// Without prompt = "none", oauth2-proxy sends approval_prompt=force and
	// Dex shows its approval page despite skipApprovalScreen.
	approvalPage = &s.Fault{Name: "approval-page", Doc: `oauth2-proxy without prompt = "none": Dex asks for approval`,
		EditConfig: &s.EditConfig{Namespace: kubeflow.OAuth2ProxyNamespace, ConfigMap: "oauth2-proxy", Key: "oauth2_proxy.cfg",
			Old: `prompt = "none"`, New: `# prompt = "none"`, Restart: kubeflow.OAuth2Proxy}}
	// Dex with one connector redirects straight to it: no choice page. The
	// ldap connector goes under a key Dex ignores (its config is read
	// leniently), leaving only its password database.
	// Kubeflow keeps a session 24 h (cookie_expire); two seconds let a case
	// see one end.
	shortSession = &s.Fault{Name: "short-session", Doc: `oauth2-proxy with cookie_expire = "2s"`,
		EditConfig: &s.EditConfig{Namespace: kubeflow.OAuth2ProxyNamespace, ConfigMap: "oauth2-proxy", Key: "oauth2_proxy.cfg",
			Old: `cookie_expire = "24h"`, New: `cookie_expire = "2s"`, Restart: kubeflow.OAuth2Proxy}}
	oneConnector = &s.Fault{Name: "one-connector", Doc: "Dex with static passwords only (Kubeflow's default)",
		EditConfig: &s.EditConfig{Namespace: kubeflow.AuthNamespace, ConfigMap: "dex", Key: "config.yaml",
			Old: "connectors:\n- type: ldap", New: "unusedConnectors:\n- type: ldap", Restart: kubeflow.Dex}}
)

// Scenario is multi-user KFP, client outside the cluster.
var Scenario = s.Scenario{
	Name:     "multi-user/out-of-cluster",
	Mode:     kubeflow.MultiUser,
	Location: s.OutOfCluster,
	Extra:    []string{"rbac/00-namespaces.yaml"},
	Paths: []s.Path{
		{Name: "port-forward-bearer", Doc: "kubectl port-forward svc/ml-pipeline-ui 3000:80; kfp.Client(host=\"http://localhost:3000\", existing_token=$(kubectl create token default-editor --audience pipelines.kubeflow.org))",
			PortForward: uiForward, Namespace: profile, Token: minted},
		{Name: "port-forward-bearer-pipeline-prefix", Doc: "the same under /pipeline",
			PortForward: uiForward, Host: "/pipeline", Namespace: profile, Token: minted},
		{Name: "port-forward-bearer-create-experiment", Doc: "the same, then client.create_experiment(\"…\", namespace=…) on the connection",
			PortForward: uiForward, Namespace: profile, Token: minted, CheckWrite: true},
		{Name: "gateway-dex-create-experiment", Doc: "log in through Dex, then create an experiment with the session",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: staticUser, CheckWrite: true},
		{Name: "gateway-dex-static-password", Doc: "kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80; log in through Dex (oauth2-proxy, Dex's connector choice, static password); kfp.Client(host=\"http://localhost:8080/pipeline\", cookies=…)",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: staticUser},
		{Name: "gateway-dex-ldap", Doc: "the same with Dex's LDAP connector (a real slapd directory)",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: ldapUser},
		{Name: "gateway-dex-one-connector", Doc: "Dex with only static passwords redirects straight to its form",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: staticUser, Install: oneConnector},
		{Name: "gateway-dex-approval-page", Doc: `oauth2-proxy without prompt = "none": the login passes Dex's approval page`,
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: staticUser, Install: approvalPage},
		{Name: "gateway-session-cookies", Doc: "log in with a script of one's own, then kfp.Client(host=\"http://localhost:8080/pipeline\", cookies=\"oauth2_proxy_kubeflow=…\")",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Session: staticUser},
		{Name: "gateway-session-cookies-short-lived", Doc: "the same, with sessions that last two seconds",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Session: staticUser, Install: shortSession},
		{Name: "gateway-authservice", Doc: "Kubeflow ≤ 1.8: oidc-authservice in front of Dex, cookie authservice_session",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Login: staticUser, Install: authservice},
		{Name: "gateway-m2m-bearer", Doc: "kubectl port-forward svc/istio-ingressgateway 8080:80; kfp.Client(host=\"http://localhost:8080/pipeline\", existing_token=$(kubectl create token default-editor)) (m2m overlay: the gateway verifies the token and maps sub to kubeflow-userid)",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Token: mintedNoAudience},
	},
	Faults: []s.Fault{
		{Name: "no-token", Doc: "no token: nothing identifies the user", Client: cf.NoCredentials()},
		{Name: "wrong-audience", Doc: "kubectl create token without --audience", Client: cf.Audience("https://kubernetes.default.svc.cluster.local")},
		{Name: "another-namespace", Doc: "a namespace without a RoleBinding for the identity", Client: cf.Namespace("namespace-3")},
		{Name: "empty-namespace", Doc: "no namespace", Client: cf.Namespace("")},
		{Name: "foreign-issuer", Doc: "a token from an issuer the gateway's RequestAuthentication does not list", Client: cf.ForeignIssuer()},
		{Name: "missing-pipeline-prefix", Doc: "the gateway's URL without /pipeline: no route", Client: cf.NoPrefix()},
		{Name: "wrong-password", Doc: "Dex refuses the password", Client: cf.Login(s.Login{Password: "not-the-password"})},
		{Name: "unknown-user", Doc: "a user the connector does not know", Client: cf.Login(s.Login{Username: "nobody@example.com"})},
		{Name: "unknown-connector", Doc: "a connector Dex does not have", Client: cf.Login(s.Login{Connector: "github"})},
		{Name: "user-without-rolebinding", Doc: "a directory user who is no contributor of the profile", Client: cf.Login(s.Login{Username: "no-access@example.com"})},
		{Name: "unsecured-gateway", Doc: "no login in front of the gateway: Istio installed without oauth2-proxy's policies (neither the CUSTOM check nor require-jwt)",
			Mesh: []s.MeshChange{customLogin, requireJWT}},
		{Name: "m2m-without-cluster-issuer", Doc: "the m2m RequestAuthentication names https://kubernetes.default.svc, and the cluster's tokens say …svc.cluster.local",
			Mesh: m2m(m2mRule("https://kubernetes.default.svc", clusterJWKS))},
		{Name: "jwks-unreachable", Doc: "the m2m rule's jwksUri names a Service that is not there (a distribution's proxy for the cluster's keys, missing)",
			Mesh: m2m(m2mRule("https://kubernetes.default.svc.cluster.local", "http://cluster-jwks-proxy.istio-system.svc.cluster.local:8081/openid/v1/jwks"))},
		{Name: "self-set-userid", Doc: "the client sets kubeflow-userid itself (a header stored in ~/.config/kfp/context.json)",
			Client: cf.ContextHeader("kubeflow-userid", "user@example.com")},
		{Name: "view-only", Doc: "a ServiceAccount bound to kubeflow-view only: it may list, not create", Client: cf.ServiceAccount(profile + "/viewer")},
		{Name: "expired-session", Doc: "the session cookie is sent after the session ended", Client: cf.ExpiredSession()},
		{Name: "dex-down", Doc: "Dex scaled to zero", Scale: &s.Scale{Namespace: kubeflow.AuthNamespace, Deployment: kubeflow.Dex, Replicas: 0}},
		{Name: "oauth2-proxy-down", Doc: "oauth2-proxy scaled to zero", Scale: &s.Scale{Namespace: kubeflow.OAuth2ProxyNamespace, Deployment: kubeflow.OAuth2Proxy, Replicas: 0}},
	},
	Cases: []s.Case{
		{Path: "port-forward-bearer", Expect: s.Succeeds},
		{Path: "port-forward-bearer-pipeline-prefix", Expect: s.Succeeds},
		{Path: "port-forward-bearer", Fault: "no-token", Expect: s.Fails("list-experiments", kfd.NoIdentity)},
		{Path: "port-forward-bearer-create-experiment", Expect: s.Succeeds},
		{Path: "port-forward-bearer", Fault: "view-only", Expect: s.Succeeds},
		{Path: "port-forward-bearer-create-experiment", Fault: "view-only", Expect: s.Fails("create-experiment", kfd.RBACDenied)},
		{Path: "gateway-dex-create-experiment", Expect: s.Warns("login-helper", kfd.LoginHelper)},
		{Path: "port-forward-bearer-pipeline-prefix", Fault: "no-token", Expect: s.Fails("list-experiments", kfd.NoIdentity)},
		{Path: "port-forward-bearer", Fault: "wrong-audience", Expect: s.Fails("list-experiments", kfd.TokenAudience)},
		{Path: "port-forward-bearer", Fault: "another-namespace", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "port-forward-bearer", Fault: "empty-namespace", Expect: s.Fails("mode", kfd.EmptyNamespace)},
		// Kubeflow ≥ 1.9's gateway answers the first GET with oauth2-proxy's
		// sign-in page (403): the login works, and the doctor warns that the
		// documentation's Python helper would stop there.
		{Path: "gateway-dex-static-password", Expect: s.Warns("login-helper", kfd.LoginHelper)},
		{Path: "gateway-dex-ldap", Expect: s.Warns("login-helper", kfd.LoginHelper)},
		{Path: "gateway-dex-one-connector", Expect: s.Warns("login-helper", kfd.LoginHelper)},
		{Path: "gateway-dex-approval-page", Expect: s.Warns("login-helper", kfd.LoginHelper)},
		{Path: "gateway-session-cookies", Expect: s.Succeeds},
		{Path: "gateway-session-cookies-short-lived", Fault: "expired-session", Expect: s.Fails("healthz", kfd.Expired)},
		// oidc-authservice redirects straight into Dex: the helper works.
		{Path: "gateway-authservice", Expect: s.Succeeds},
		{Path: "gateway-dex-static-password", Fault: "wrong-password", Expect: s.Fails("login-credentials", kfd.WrongCredentials)},
		{Path: "gateway-dex-ldap", Fault: "wrong-password", Expect: s.Fails("login-credentials", kfd.WrongCredentials)},
		{Path: "gateway-dex-static-password", Fault: "unknown-user", Expect: s.Fails("login-credentials", kfd.WrongCredentials)},
		{Path: "gateway-dex-static-password", Fault: "unknown-connector", Expect: s.Fails("login-connector", kfd.UnknownConnector)},
		{Path: "gateway-dex-one-connector", Fault: "unknown-connector", Expect: s.Fails("login-connector", kfd.UnknownConnector)},
		{Path: "gateway-dex-ldap", Fault: "user-without-rolebinding", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "gateway-dex-static-password", Fault: "another-namespace", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "gateway-dex-static-password", Fault: "unsecured-gateway", Expect: s.Fails("list-experiments", kfd.NoIdentity)},
		{Path: "gateway-dex-static-password", Fault: "dex-down", Expect: s.Fails("login-connector", kfd.LoginProviderDown)},
		{Path: "gateway-dex-static-password", Fault: "oauth2-proxy-down", Expect: s.Fails("login-secured", kfd.LoginProxyDown)},
		{Path: "gateway-authservice", Fault: "wrong-password", Expect: s.Fails("login-credentials", kfd.WrongCredentials)},
		{Path: "gateway-m2m-bearer", Expect: s.Succeeds},
		{Path: "gateway-m2m-bearer", Fault: "foreign-issuer", Expect: s.Fails("healthz", kfd.JWTIssuer)},
		// The gateway's RequestAuthentications write kubeflow-userid from
		// the verified token (outputClaimToHeaders), over what the client
		// set: its own header changes nothing.
		{Path: "gateway-m2m-bearer", Fault: "self-set-userid", Expect: s.Succeeds},
		{Path: "gateway-dex-static-password", Fault: "self-set-userid", Expect: s.Succeeds},
		{Path: "gateway-m2m-bearer", Fault: "m2m-without-cluster-issuer", Expect: s.Fails("healthz", kfd.JWTIssuer)},
		{Path: "gateway-m2m-bearer", Fault: "jwks-unreachable", Expect: s.Fails("healthz", kfd.JWKSUnreachable)},
		{Path: "gateway-m2m-bearer", Fault: "missing-pipeline-prefix", Expect: s.Fails("healthz", kfd.NotKFP)},
		// oauth2-proxy answers an API path without a session with 401: a
		// proxy that wants a login, not KFP.
		{Path: "gateway-m2m-bearer", Fault: "no-token", Expect: s.Fails("healthz", kfd.LoginPage)},
		// With no login in front the token still works: the m2m rule
		// verifies it and maps its sub, whatever guards browser paths.
		{Path: "gateway-m2m-bearer", Fault: "unsecured-gateway", Expect: s.Succeeds},
	},
}
