// Package outcluster is multi-user Kubeflow reached from a laptop: a
// ServiceAccount token minted by TokenRequest (kubectl create token) sent as
// a Bearer through a port-forward to ml-pipeline-ui, or through the Istio
// ingress gateway with the m2m overlay. The login paths (Dex, oauth2-proxy
// and authservice sessions) are declared pending: Dex is not served by the
// Go module proxy, so the lab has no login stack.
package outcluster

import (
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	s "github.com/kfp-connect/kfp-connect/scenarios"
)

const profile = "kubeflow-user-example-com"

var (
	uiForward      = &s.PortForward{Service: "ml-pipeline-ui", Port: 80}
	gatewayForward = &s.PortForward{Service: "istio-ingressgateway", Port: 80}
	minted         = s.Token{Kind: s.MintedToken, ServiceAccount: profile + "/default-editor", Audience: "pipelines.kubeflow.org"}
	// Through the gateway the token is checked by Istio against the
	// cluster's issuer and keys, not by TokenReview: no audience is needed,
	// and the docs mint it without one.
	mintedNoAudience = s.Token{Kind: s.MintedToken, ServiceAccount: profile + "/default-editor"}
)

const loginPending = "Dex is not served by the Go module proxy, so the lab has no login stack (Dex, oauth2-proxy) in front of the gateway"

// Scenario is multi-user KFP, client outside the cluster.
var Scenario = s.Scenario{
	Name:     "multi-user/out-of-cluster",
	Mode:     install.MultiUser,
	Location: s.OutOfCluster,
	Extra:    []string{"rbac/00-namespaces.yaml"},
	Paths: []s.Path{
		{Name: "port-forward-bearer", Doc: "kubectl port-forward svc/ml-pipeline-ui 3000:80; kfp.Client(host=\"http://localhost:3000\", existing_token=$(kubectl create token default-editor --audience pipelines.kubeflow.org))",
			PortForward: uiForward, Namespace: profile, Token: minted},
		{Name: "port-forward-bearer-pipeline-prefix", Doc: "the same under /pipeline",
			PortForward: uiForward, Host: "/pipeline", Namespace: profile, Token: minted},
		{Name: "gateway-dex-static-password", Doc: "port-forward the Istio gateway, log in through Dex with a static password, cookies",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile},
		{Name: "gateway-dex-ldap", Doc: "the same with Dex's LDAP connector",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile},
		{Name: "gateway-m2m-bearer", Doc: "kubectl port-forward svc/istio-ingressgateway 8080:80; kfp.Client(host=\"http://localhost:8080/pipeline\", existing_token=$(kubectl create token default-editor)) (m2m overlay: the gateway verifies the token and maps sub to kubeflow-userid)",
			PortForward: gatewayForward, Host: "/pipeline", Namespace: profile, Token: mintedNoAudience},
	},
	Faults: []s.Fault{
		{Name: "no-token", Doc: "no token: nothing identifies the user", Client: &s.ClientFault{NoToken: true}},
		{Name: "wrong-audience", Doc: "kubectl create token without --audience", Client: &s.ClientFault{Audience: "https://kubernetes.default.svc.cluster.local"}},
		{Name: "another-namespace", Doc: "a namespace without a RoleBinding for the identity", Client: &s.ClientFault{Namespace: s.Str("namespace-3")}},
		{Name: "empty-namespace", Doc: "no namespace", Client: &s.ClientFault{Namespace: s.Str("")}},
		{Name: "foreign-issuer", Doc: "a token from an issuer the gateway's RequestAuthentication does not list", Client: &s.ClientFault{ForeignIssuer: true}},
		{Name: "missing-pipeline-prefix", Doc: "the gateway's URL without /pipeline: no route", Client: &s.ClientFault{NoPrefix: true}},
	},
	Cases: []s.Case{
		{Path: "port-forward-bearer", Expect: s.Succeeds},
		{Path: "port-forward-bearer-pipeline-prefix", Expect: s.Succeeds},
		{Path: "port-forward-bearer", Fault: "no-token", Expect: s.Fails(kfd.NoIdentity)},
		{Path: "port-forward-bearer-pipeline-prefix", Fault: "no-token", Expect: s.Fails(kfd.NoIdentity)},
		{Path: "port-forward-bearer", Fault: "wrong-audience", Expect: s.Fails(kfd.TokenAudience)},
		{Path: "port-forward-bearer", Fault: "another-namespace", Expect: s.Fails(kfd.RBACDenied)},
		{Path: "port-forward-bearer", Fault: "empty-namespace", Expect: s.Fails(kfd.EmptyNamespace)},
		{Path: "gateway-dex-static-password", Expect: s.Succeeds, Pending: loginPending},
		{Path: "gateway-dex-ldap", Expect: s.Succeeds, Pending: loginPending},
		{Path: "gateway-m2m-bearer", Expect: s.Succeeds},
		{Path: "gateway-m2m-bearer", Fault: "foreign-issuer", Expect: s.Fails(kfd.JWTIssuer)},
		{Path: "gateway-m2m-bearer", Fault: "missing-pipeline-prefix", Expect: s.Fails(kfd.NotKFP)},
		// An unsecured gateway (no oauth2-proxy): the request reaches KFP
		// with no identity.
		{Path: "gateway-m2m-bearer", Fault: "no-token", Expect: s.Fails(kfd.NoIdentity)},
	},
}
