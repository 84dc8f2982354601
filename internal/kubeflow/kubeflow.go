// Package kubeflow holds the names Kubeflow's and KFP's manifests, docs and
// SDK use — namespaces, Services, Deployments, labels, roles, the KFP
// token's audience and path — and KFP's two deployment modes: one home for
// strings every other package would otherwise spell on its own. Constants
// only, so the doctor's binary may import it.
package kubeflow

// Mode is how KFP is deployed: one shared user, or Kubeflow's profiles.
type Mode string

const (
	Standalone Mode = "standalone"
	MultiUser  Mode = "multi-user"
)

// Modes lists every Mode, for flags and table tests.
var Modes = []Mode{Standalone, MultiUser}

// Valid reports whether m is one of Modes.
func (m Mode) Valid() bool { return m == Standalone || m == MultiUser }

// KFP's install (kubeflow/pipelines manifests/kustomize, and Kubeflow's).
const (
	// Namespace is where KFP is installed, and the SDK's namespace default.
	Namespace = "kubeflow"
	// APIServer names the API server's Deployment and Service; APIPort is
	// the Service's HTTP port (kfp.Client's in-cluster default host).
	APIServer          = "ml-pipeline"
	APIPort            = 8888
	APIServerContainer = "ml-pipeline-api-server"
	// UIServer names the UI server's Deployment and Service (port 80).
	UIServer = "ml-pipeline-ui"
	UIPort   = 80
	// APIGroup is the group of KFP's resources in its SubjectAccessReviews.
	APIGroup = "pipelines.kubeflow.org"
)

// The KFP token of a pod in multi-user Kubeflow (kfp-facts.md): a
// projected ServiceAccount token for Audience, mounted at TokenPath by the
// PodDefault named AccessPodDefault for pods labelled AccessLabel: "true".
const (
	Audience         = "pipelines.kubeflow.org"
	TokenDir         = "/var/run/secrets/kubeflow/pipelines"
	TokenPath        = TokenDir + "/token"
	TokenPathEnv     = "KF_PIPELINES_SA_TOKEN_PATH"
	TokenExpiry      = 7200
	AccessLabel      = "access-ml-pipeline"
	AccessPodDefault = "access-ml-pipeline"
)

// Profiles: a profile namespace's ServiceAccount for its notebooks and
// pipelines, the ClusterRoles its contributors are bound to, and Kubeflow's
// example profile and user.
const (
	ProfileEditor  = "default-editor"
	EditRole       = "kubeflow-edit"
	ViewRole       = "kubeflow-view"
	ExampleProfile = "kubeflow-user-example-com"
	ExampleUser    = "user@example.com"
)

// The gateway and login stack in front of multi-user KFP.
const (
	GatewayNamespace     = "istio-system"
	Gateway              = "istio-ingressgateway"
	AuthNamespace        = "auth"
	Dex                  = "dex"
	OAuth2ProxyNamespace = "oauth2-proxy"
	OAuth2Proxy          = "oauth2-proxy"
	// UserIDHeader is the identity header the gateway sets for KFP.
	UserIDHeader = "kubeflow-userid"
	// PathPrefix is KFP's route on the gateway.
	PathPrefix = "/pipeline"
)

// Kubeflow's PodDefault admission webhook
// (kubeflow/manifests applications/admission-webhook).
const (
	PodDefaultWebhookDeployment = "admission-webhook-deployment"
	PodDefaultWebhookService    = "admission-webhook-service"
	// PodDefaultGroupVersion serves the poddefaults resource.
	PodDefaultGroupVersion = "kubeflow.org/v1alpha1"
)
