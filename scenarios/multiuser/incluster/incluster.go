// Package incluster is multi-user Kubeflow reached from a pod (a notebook):
// a projected ServiceAccount token for audience pipelines.kubeflow.org, found
// by ServiceAccountTokenVolumeCredentials at its default path, through
// KF_PIPELINES_SA_TOKEN_PATH, or at an explicit path; injected by the
// access-ml-pipeline PodDefault or declared on the pod; and the documented
// cross-namespace RoleBinding. The paths follow the SDK's rules
// (internal/sdkmodel): kfp.Client() with no host uses the token by default,
// kfp.Client(host=…) only with credentials=, and a call without namespace
// gets the pod's own.
package incluster

import (
	"github.com/kfp-connect/kfp-connect/internal/kfd"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	s "github.com/kfp-connect/kfp-connect/scenarios"
	cf "github.com/kfp-connect/kfp-connect/scenarios/clientfault"
)

const (
	// host is where kfp.Client() goes in a pod when given no host: the API
	// server's Service in the KFP namespace.
	host    = "http://ml-pipeline.kubeflow:8888"
	profile = kubeflow.ExampleProfile
)

var (
	documentedVolume = &s.TokenVolume{MountDir: kubeflow.TokenDir, Audience: kubeflow.Audience, ExpirationSeconds: kubeflow.TokenExpiry}
	elsewhereVolume  = &s.TokenVolume{MountDir: "/opt/kfp-token", Audience: kubeflow.Audience, ExpirationSeconds: kubeflow.TokenExpiry}
	volumeToken      = s.Token{Kind: s.VolumeToken}
	accessLabel      = map[string]string{kubeflow.AccessLabel: "true"}
)

// The mesh's own objects as distributions change them (the install's are
// fixtures/kfp/multi-user/90-mesh.yaml, Kubeflow's): each fault is what a
// user of such a distribution meets.
var (
	kfpServiceAccounts = []any{"cluster.local/ns/kubeflow/sa/ml-pipeline", "cluster.local/ns/kubeflow/sa/ml-pipeline-ui",
		"cluster.local/ns/kubeflow/sa/ml-pipeline-persistenceagent", "cluster.local/ns/kubeflow/sa/ml-pipeline-scheduledworkflow",
		"cluster.local/ns/kubeflow/sa/ml-pipeline-viewer-crd-service-account", "cluster.local/ns/kubeflow/sa/kubeflow-pipelines-cache"}
	fromPrincipals = func(ps ...any) map[string]any {
		return map[string]any{"from": []any{map[string]any{"source": map[string]any{"principals": ps}}}}
	}
	selecting = func(app string, rules ...any) map[string]any {
		return map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": app}}, "rules": rules}
	}
)

// Scenario is multi-user KFP, client inside the cluster.
var Scenario = s.Scenario{
	Name:     "multi-user/in-cluster",
	Mode:     kubeflow.MultiUser,
	Location: s.InCluster,
	Extra:    []string{"rbac/00-namespaces.yaml", "rbac/20-rolebindings.yaml"},
	Paths: []s.Path{
		{Name: "poddefault", Doc: "a pod labelled access-ml-pipeline: \"true\" gets the token volume and KF_PIPELINES_SA_TOKEN_PATH from the PodDefault",
			Host: host, Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
		{Name: "notebook", Doc: "a notebook pod of the profile, running as default-editor, with the PodDefault",
			Host: host, Namespace: "namespace-1", Token: volumeToken,
			Pod: &s.Pod{Namespace: "namespace-1", ServiceAccount: kubeflow.ProfileEditor,
				Labels: map[string]string{kubeflow.AccessLabel: "true", "notebook-name": "my-notebook", "statefulset": "my-notebook"}}},
		{Name: "default-path", Doc: "the documented projected volume declared on the pod, read from the default path",
			Host: host, Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Volume: documentedVolume}},
		{Name: "env-path", Doc: "the volume mounted elsewhere, found through KF_PIPELINES_SA_TOKEN_PATH",
			Host: host, Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Volume: elsewhereVolume,
				Env: map[string]string{"KF_PIPELINES_SA_TOKEN_PATH": "/opt/kfp-token/token"}}},
		{Name: "explicit-path", Doc: "ServiceAccountTokenVolumeCredentials(path=…) with the volume mounted elsewhere",
			Host: host, Namespace: profile, Token: s.Token{Kind: s.VolumeToken, Path: "/opt/kfp-token/token"},
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Volume: elsewhereVolume}},
		{Name: "cross-namespace", Doc: "namespace-2's default-editor using namespace-1 through the documented RoleBinding allow-namespace-2-kubeflow-edit",
			Host: host, Namespace: "namespace-1", Token: volumeToken,
			Pod: &s.Pod{Namespace: "namespace-2", ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
		{Name: "through-the-ui", Doc: "the UI Service instead of the API server's",
			Host: "http://ml-pipeline-ui.kubeflow", Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
		{Name: "unlabelled-pod", Doc: "a pod without the access-ml-pipeline label: the PodDefault gives it nothing",
			Host: host, Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor}},
		// client.py _load_config: no host in a pod → the API server's
		// Service and _get_config_with_default_credentials; __init__: no
		// namespace and healthz multi_user → the ServiceAccount's namespace.
		{Name: "sdk-default", Doc: "kfp.Client() with no host in a PodDefault pod: ml-pipeline.kubeflow.svc.cluster.local:8888, the default credentials, the pod's namespace",
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
		// _load_config: `if host: return config` before any credentials.
		{Name: "ui-host-without-credentials", Doc: "kfp.Client(host=\"http://ml-pipeline-ui.kubeflow\") in a PodDefault pod, no credentials=: the mounted token is not sent",
			Host: "http://ml-pipeline-ui.kubeflow",
			Pod:  &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
		// A pipeline step calling kfp.Client(): Argo's pod, labelled by
		// the workflow controller, not for access-ml-pipeline.
		{Name: "pipeline-step", Doc: "kfp.Client() with no host in a pipeline step's pod: the workflow controller's labels, no access-ml-pipeline label, so no PodDefault mounts a token",
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: map[string]string{"workflows.argoproj.io/workflow": "my-run-x7k2p"}}},
		// … and the fix KFD036 names: credentials= with the mounted path.
		// Istio's sidecar injector leaves a pod out that asks it to.
		{Name: "pod-outside-the-mesh", Doc: "a pod that opts out of Istio's sidecar (label sidecar.istio.io/inject: \"false\"): its calls are plaintext, from no principal",
			Host: host, Namespace: profile, Token: volumeToken,
			Pod: &s.Pod{Namespace: profile, ServiceAccount: "default-editor", Labels: map[string]string{"access-ml-pipeline": "true", "sidecar.istio.io/inject": "false"}}},
		// The step given its token (the PodDefault's label on it, as KFD058
		// advises): it calls kfp.Client() with no host, as the profile's
		// default-editor, through the mesh.
		{Name: "pipeline-step-with-token", Doc: "a pipeline step's pod given the KFP token (kfp.Client() with no host, the profile's default-editor, the access-ml-pipeline label)",
			Pod: &s.Pod{Namespace: profile, ServiceAccount: "default-editor",
				Labels: map[string]string{"access-ml-pipeline": "true", "workflows.argoproj.io/workflow": "my-run-x7k2p"}}},
		{Name: "ui-host-with-token-path", Doc: "kfp.Client(host=\"http://ml-pipeline-ui.kubeflow\", credentials=ServiceAccountTokenVolumeCredentials(path=\"/var/run/secrets/kubeflow/pipelines/token\")) in a PodDefault pod",
			Host: "http://ml-pipeline-ui.kubeflow", Token: s.Token{Kind: s.VolumeToken, Path: "/var/run/secrets/kubeflow/pipelines/token"},
			Pod: &s.Pod{Namespace: profile, ServiceAccount: kubeflow.ProfileEditor, Labels: accessLabel}},
	},
	Faults: []s.Fault{
		{Name: "no-token-file", Doc: "KF_PIPELINES_SA_TOKEN_PATH set, but no volume mounted there",
			Client: cf.NoTokenFile()},
		{Name: "token-path-typo", Doc: "KF_PIPELINES_SA_TOKEN_PATH names a file next to the mounted token, where there is none",
			Client: cf.TokenPathEnv("/opt/kfp-token/tokn")},
		{Name: "wrong-audience", Doc: "the projected token has another audience",
			Client: cf.Audience("wrong.example.com")},
		{Name: "expired-token", Doc: "a token past its exp, as when a client caches the file's content",
			Client: cf.ExpiredToken()},
		{Name: "invalidated-token", Doc: "the pod the token is bound to is gone",
			Client: cf.DeletedPodToken()},
		{Name: "no-rolebinding", Doc: "the profile's default-editor RoleBinding is missing",
			Delete: &s.ObjectRef{Kind: "RoleBinding", Namespace: profile, Name: kubeflow.ProfileEditor}},
		{Name: "no-cross-namespace-rolebinding", Doc: "the documented RoleBinding allow-namespace-2-kubeflow-edit is missing",
			Delete: &s.ObjectRef{Kind: "RoleBinding", Namespace: "namespace-1", Name: "allow-namespace-2-kubeflow-edit"}},
		{Name: "poddefault-webhook-down", Doc: "the PodDefault webhook's Service admission-webhook-service is gone (failurePolicy Fail: the apiserver refuses the pod)",
			Delete: &s.ObjectRef{Kind: "Service", Namespace: kubeflow.Namespace, Name: kubeflow.PodDefaultWebhookService}, Admission: true},
		{Name: "no-poddefault", Doc: "the profile has no access-ml-pipeline PodDefault",
			Delete: &s.ObjectRef{Kind: "PodDefault", Namespace: profile, Name: kubeflow.AccessPodDefault}},
		{Name: "another-namespace", Doc: "a namespace where the identity has no RoleBinding",
			Client: cf.Namespace("namespace-3")},
		{Name: "empty-namespace", Doc: "no namespace at all",
			Client: cf.Namespace("")},
		{Name: "deployment-audience", Doc: "TOKEN_REVIEW_AUDIENCE on ml-pipeline differs from the token's audience",
			SetEnv: &s.SetEnv{Namespace: kubeflow.Namespace, Deployment: kubeflow.APIServer, Name: "TOKEN_REVIEW_AUDIENCE", Value: "other.example.com"}},
		{Name: "no-identity", Doc: "the client sends no credential",
			Client: cf.NoCredentials()},
		{Name: "self-set-userid", Doc: "the client sets kubeflow-userid itself (a header ~/.config/kfp/context.json holds)",
			Client: cf.ContextHeader(kubeflow.UserIDHeader, "admin@example.com")},
		{Name: "strict-mtls", Doc: "a PeerAuthentication makes KFP's namespace STRICT: only clients with Istio's sidecar get in",
			Mesh: []s.MeshChange{{Kind: "PeerAuthentication", Namespace: kubeflow.Namespace, Name: "strict", Spec: map[string]any{"mtls": map[string]any{"mode": "STRICT"}}}}},
		{Name: "ui-policy-without-token-rule", Doc: "a distribution's ml-pipeline-ui policy admits the gateway only: no rule for a call that carries a token",
			Mesh: []s.MeshChange{{Kind: "AuthorizationPolicy", Namespace: kubeflow.Namespace, Name: "ml-pipeline-ui",
				Spec: selecting("ml-pipeline-ui", fromPrincipals("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"))}}},
		{Name: "step-principal-missing", Doc: "a distribution's ml-pipeline policy admits listed principals only (KFP's own), and not the profile's pipeline steps",
			Mesh: []s.MeshChange{{Kind: "AuthorizationPolicy", Namespace: kubeflow.Namespace, Name: "ml-pipeline",
				Spec: selecting("ml-pipeline", fromPrincipals(kfpServiceAccounts...))}}},
		{Name: "kfp-policies-missing", Doc: "global-deny-all in istio-system, and KFP's own AuthorizationPolicies not applied",
			Mesh: []s.MeshChange{{Kind: "AuthorizationPolicy", Namespace: kubeflow.Namespace, Name: "ml-pipeline"}, {Kind: "AuthorizationPolicy", Namespace: kubeflow.Namespace, Name: "ml-pipeline-ui"}}},
		{Name: "stale-context-namespace", Doc: "~/.config/kfp/context.json holds namespace-3, left by an earlier set_user_namespace: it wins over the pod's own",
			Client: cf.ContextNamespace("namespace-3")},
	},
	Cases: []s.Case{
		{Path: "poddefault", Expect: s.Succeeds},
		{Path: "notebook", Expect: s.Succeeds},
		{Path: "default-path", Expect: s.Succeeds},
		{Path: "env-path", Expect: s.Succeeds},
		{Path: "env-path", Fault: "token-path-typo", Expect: s.Fails("token", kfd.NoTokenFile)},
		{Path: "explicit-path", Expect: s.Succeeds},
		{Path: "cross-namespace", Expect: s.Succeeds},
		{Path: "through-the-ui", Expect: s.Succeeds},
		// credentials=ServiceAccountTokenVolumeCredentials() with no file:
		// the SDK's first request raises FileNotFoundError for the path
		// (set_volume_credentials.py _get_token), so KFD004, not a 401.
		{Path: "unlabelled-pod", Expect: s.Fails("token", kfd.NoTokenFile)},
		{Path: "poddefault", Fault: "no-token-file", Expect: s.Fails("token", kfd.NoTokenFile)},
		{Path: "poddefault", Fault: "no-poddefault", Expect: s.Fails("token", kfd.NoTokenFile)},
		{Path: "poddefault", Fault: "poddefault-webhook-down", Expect: s.Fails("poddefault-webhook", kfd.PodDefaultWebhookDown)},
		{Path: "poddefault", Fault: "wrong-audience", Expect: s.Fails("list-experiments", kfd.TokenAudience)},
		{Path: "default-path", Fault: "wrong-audience", Expect: s.Fails("list-experiments", kfd.TokenAudience)},
		{Path: "poddefault", Fault: "expired-token", Expect: s.Fails("token", kfd.Expired)},
		{Path: "poddefault", Fault: "invalidated-token", Expect: s.Fails("list-experiments", kfd.TokenInvalid)},
		{Path: "poddefault", Fault: "no-rolebinding", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "cross-namespace", Fault: "no-cross-namespace-rolebinding", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "poddefault", Fault: "another-namespace", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		{Path: "cross-namespace", Fault: "another-namespace", Expect: s.Fails("list-experiments", kfd.RBACDenied)},
		// No namespace in a pod: the SDK fills in the pod's own — its
		// profile, and for the cross-namespace pod namespace-2 (its own
		// profile), not namespace-1. Without the RoleBinding there it is
		// KFD009 (sdk-default × no-rolebinding below).
		{Path: "poddefault", Fault: "empty-namespace", Expect: s.Succeeds},
		{Path: "cross-namespace", Fault: "empty-namespace", Expect: s.Succeeds},
		{Path: "poddefault", Fault: "deployment-audience", Expect: s.Fails("list-experiments", kfd.TokenAudience)},
		{Path: "poddefault", Fault: "no-identity", Expect: s.Fails("list-experiments", kfd.NoIdentity).AndNames("unsent-token", kfd.HostWithoutCredentials)},
		// ml-pipeline-ui's policy admits a call with a token (or the
		// gateway's): without one, the sidecar refuses before KFP sees it.
		{Path: "through-the-ui", Fault: "no-identity", Expect: s.Fails("mesh", kfd.IstioDenied).Blaming("kubeflow/ml-pipeline-ui").AndNames("unsent-token", kfd.HostWithoutCredentials)},
		{Path: "sdk-default", Expect: s.Succeeds},
		// The SDK proceeds without credentials and gets 401 (KFD001); the
		// doctor, in the cluster, first names the missing PodDefault.
		{Path: "sdk-default", Fault: "no-poddefault", Expect: s.Fails("poddefault", kfd.NoTokenFile).AndNames("list-experiments", kfd.NoIdentity)},
		{Path: "sdk-default", Fault: "no-rolebinding", Expect: s.Fails("rbac", kfd.RBACDenied)},
		{Path: "sdk-default", Fault: "stale-context-namespace", Expect: s.Fails("rbac", kfd.RBACDenied).AndNames("sdk", kfd.ContextFile)},
		{Path: "ui-host-without-credentials", Expect: s.Fails("mesh", kfd.IstioDenied).Blaming("kubeflow/ml-pipeline-ui").AndNames("unsent-token", kfd.HostWithoutCredentials)},
		// ml-pipeline's policy admits a call without kubeflow-userid from
		// anyone, and one with it from KFP's own ServiceAccounts only.
		{Path: "poddefault", Fault: "self-set-userid", Expect: s.Fails("mesh", kfd.SelfSetUserID).Blaming("kubeflow/ml-pipeline")},
		// PERMISSIVE (Istio's default) takes a client without a sidecar;
		// STRICT resets it, and takes the mesh's.
		{Path: "pod-outside-the-mesh", Expect: s.Succeeds},
		{Path: "pod-outside-the-mesh", Fault: "strict-mtls", Expect: s.Fails("mesh", kfd.StrictMTLS).Blaming("kubeflow/strict")},
		{Path: "poddefault", Fault: "strict-mtls", Expect: s.Succeeds},
		{Path: "through-the-ui", Fault: "ui-policy-without-token-rule", Expect: s.Fails("mesh", kfd.IstioDenied).Blaming("kubeflow/ml-pipeline-ui")},
		{Path: "poddefault", Fault: "ui-policy-without-token-rule", Expect: s.Succeeds},
		{Path: "pipeline-step-with-token", Expect: s.Succeeds},
		{Path: "pipeline-step-with-token", Fault: "step-principal-missing", Expect: s.Fails("mesh", kfd.PipelinePodDenied).Blaming("kubeflow/ml-pipeline")},
		{Path: "poddefault", Fault: "kfp-policies-missing", Expect: s.Fails("mesh", kfd.IstioDenied).Blaming("istio-system/global-deny-all")},
		{Path: "ui-host-with-token-path", Expect: s.Succeeds},
		// The SDK goes on without a token (KFD001); the doctor, seeing the
		// workflow's label, says why: a step has no PodDefault (KFD058).
		{Path: "pipeline-step", Expect: s.Fails("poddefault", kfd.PipelineStep).AndNames("list-experiments", kfd.NoIdentity)},
	},
}
