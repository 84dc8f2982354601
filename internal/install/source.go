// Package install puts Kubeflow Pipelines on a cluster: either our own
// minimal fixtures or the real upstream kustomizations, built in-process.
// Pods of images nothing here can run stay fake-Running on kwok, which is all
// the lab needs: it starts stand-ins from those pods' env.
package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kfp-connect/kfp-connect/fixtures"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/shared"
)

// Source is where an install's objects come from.
type Source string

const (
	// FromFixtures is our own minimal YAML in fixtures/kfp.
	FromFixtures Source = "fixtures"
	// FromUpstream is the real kustomizations under the shared upstream folder.
	FromUpstream Source = "upstream"
)

// UpstreamEnv names a directory holding the upstream manifests (the folder
// with kubeflow-pipelines/ and kubeflow-manifests/), overriding the search.
const UpstreamEnv = "KFP_CONNECT_UPSTREAM"

// Fixtures returns our own install for mode, in apply order.
func Fixtures(mode kubeflow.Mode) ([]*unstructured.Unstructured, error) {
	if !mode.Valid() {
		return nil, fmt.Errorf("unknown install mode %q: want %q or %q", mode, kubeflow.Standalone, kubeflow.MultiUser)
	}
	sub, err := fs.Sub(fixtures.KFP, "kfp/"+string(mode))
	if err != nil {
		return nil, fmt.Errorf("fixtures for %s: %w", mode, err)
	}
	objs, err := manifests.Read(sub)
	if err != nil {
		return nil, fmt.Errorf("fixtures for %s: %w", mode, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("fixtures for %s: no objects embedded", mode)
	}
	return objs, nil
}

// FixtureFile is the objects of one file of mode's fixtures (such as
// 90-mesh.yaml, the mesh's objects).
func FixtureFile(mode kubeflow.Mode, file string) ([]*unstructured.Unstructured, error) {
	name := "kfp/" + string(mode) + "/" + file
	raw, err := fixtures.KFP.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	return manifests.Decode(name, raw)
}

// Kustomize builds the kustomization in dir as `kustomize build` would, from
// the disk and without network or plugins: remote bases and exec/Go plugins
// fail instead of reaching out, so a build is reproducible offline.
func Kustomize(dir string) ([]*unstructured.Unstructured, error) {
	opts := krusty.MakeDefaultOptions() // plugins disabled, loads restricted to the root
	rm, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, rm.Size())
	for _, r := range rm.Resources() {
		// Through JSON, not r.Map(): its numbers are Go ints, which
		// unstructured's deep copies and Nested* helpers panic on
		// ("cannot deep copy int"); JSON gives them int64, as read from
		// a file.
		raw, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// UpstreamDir is KFP's own platform-agnostic kustomization for mode under
// sharedRoot (the folder holding kubeflow-pipelines/).
func UpstreamDir(sharedRoot string, mode kubeflow.Mode) string {
	env := "platform-agnostic"
	if mode == kubeflow.MultiUser {
		env += "-multi-user"
	}
	return filepath.Join(sharedRoot, "kubeflow-pipelines", "manifests", "kustomize", "env", env)
}

// UpstreamDirs lists, in apply order, the kustomizations an upstream install
// of mode builds from under sharedRoot, as the projects document installing
// them; companions absent from sharedRoot are left out.
//
// Standalone is KFP's two-step install: cluster-scoped-resources (the kubeflow
// namespace and the CRDs), then env/platform-agnostic. Multi-user KFP is part
// of Kubeflow, which provides around it: Istio's CRDs (KFP ships
// AuthorizationPolicies and VirtualServices), the kubeflow namespace,
// kubeflow-edit/-view (which KFP's roles aggregate into), the PodDefault
// CRD with its admission webhook, and the mesh's own objects (meshParts).
func UpstreamDirs(sharedRoot string, mode kubeflow.Mode) []string {
	var dirs []string
	for _, p := range upstreamParts(sharedRoot, mode) {
		dirs = append(dirs, p.dir)
	}
	return dirs
}

// upstreamPart is one kustomization of an upstream install and, where
// Kubeflow bundles more with it than the connection path, which of its
// objects to keep (nil: all).
type upstreamPart struct {
	dir  string
	keep func(*unstructured.Unstructured) bool
}

func upstreamParts(sharedRoot string, mode kubeflow.Mode) []upstreamPart {
	kfp := filepath.Join(sharedRoot, "kubeflow-pipelines", "manifests", "kustomize")
	kf := filepath.Join(sharedRoot, "kubeflow-manifests")
	var parts []upstreamPart
	if mode == kubeflow.MultiUser {
		parts = []upstreamPart{
			{dir: filepath.Join(kf, "common", "istio", "istio-crds", "base")},
			{dir: filepath.Join(kf, "common", "istio", "istio-namespace", "base")},
			{dir: filepath.Join(kf, "common", "kubeflow-namespace", "base")},
			{dir: filepath.Join(kf, "common", "kubeflow-roles", "base")},
			{dir: filepath.Join(kf, "applications", "admission-webhook", "upstream", "overlays", "cert-manager")},
		}
		parts = append(parts, meshParts(kf)...)
	} else {
		parts = []upstreamPart{{dir: filepath.Join(kfp, "cluster-scoped-resources")}}
	}
	present := parts[:0]
	for _, p := range parts {
		if isDir(p.dir) {
			present = append(present, p)
		}
	}
	return append(present, upstreamPart{dir: UpstreamDir(sharedRoot, mode)})
}

// meshParts are the mesh's own objects that answer before KFP does, from
// the kustomizations Kubeflow installs them with: istiod and its sidecar
// injector, the mesh config (root namespace, trust domain, the oauth2-proxy
// extension provider), global-deny-all and the ingress gateway's policy
// (common/istio/istio-install, oauth2-proxy overlay), and the gateway's
// login policies, RequestAuthentications and the cluster-jwks-proxy their
// m2m rule fetches keys from (common/oauth2-proxy, m2m-dex-and-kind
// overlay). The rest of those kustomizations is left out: Istio's CNI
// node agent (the injected init container redirects instead), its
// validating webhook (the stand-in validates nothing), autoscalers.
func meshParts(kf string) []upstreamPart {
	return []upstreamPart{
		{dir: filepath.Join(kf, "common", "istio", "istio-install", "overlays", "oauth2-proxy"), keep: func(o *unstructured.Unstructured) bool {
			return meshObject(o) || istiodObject(o)
		}},
		{dir: filepath.Join(kf, "common", "oauth2-proxy", "overlays", "m2m-dex-and-kind"), keep: func(o *unstructured.Unstructured) bool {
			return meshObject(o) || o.GetLabels()["app.kubernetes.io/name"] == "cluster-jwks-proxy"
		}},
	}
}

// meshObject is an object of Istio's security API, or the mesh config.
func meshObject(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "security.istio.io" ||
		(gvk.Group == "" && gvk.Kind == "ConfigMap" && o.GetNamespace() == "istio-system" && o.GetName() == "istio")
}

// istiodObject is one of istiod's own objects: its ServiceAccount, RBAC,
// Deployment and Service, the injector's ConfigMap and webhooks.
func istiodObject(o *unstructured.Unstructured) bool {
	switch o.GetKind() + "/" + o.GetName() {
	case "ServiceAccount/istiod", "Deployment/istiod", "Service/istiod", "Role/istiod", "RoleBinding/istiod",
		"ClusterRole/istiod-clusterrole-istio-system", "ClusterRoleBinding/istiod-clusterrole-istio-system",
		"ConfigMap/istio-sidecar-injector", "MutatingWebhookConfiguration/istio-sidecar-injector":
		return true
	}
	return false
}

// Upstream builds every kustomization of UpstreamDirs, concatenated, each
// filtered as its part says.
func Upstream(sharedRoot string, mode kubeflow.Mode) ([]*unstructured.Unstructured, error) {
	if !mode.Valid() {
		return nil, fmt.Errorf("unknown install mode %q: want %q or %q", mode, kubeflow.Standalone, kubeflow.MultiUser)
	}
	if !looksUpstream(sharedRoot) {
		return nil, fmt.Errorf("%s: %w", sharedRoot, ErrNoUpstream)
	}
	var all []*unstructured.Unstructured
	for _, p := range upstreamParts(sharedRoot, mode) {
		objs, err := Kustomize(p.dir)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p.keep == nil || p.keep(o) {
				all = append(all, o)
			}
		}
	}
	return all, nil
}

// FindShared locates the upstream manifests: $KFP_CONNECT_UPSTREAM if set,
// else the first shared/upstream found walking up from the working directory
// (the repository's ../shared/upstream). The bool is false when there is
// none, which callers turn into a skip.
func FindShared() (string, bool) {
	if dir := os.Getenv(UpstreamEnv); dir != "" {
		return dir, looksUpstream(dir)
	}
	return shared.FindUpstream(looksUpstream)
}

// looksUpstream guards against an unrelated shared/upstream folder.
func looksUpstream(dir string) bool {
	return isDir(filepath.Join(dir, "kubeflow-pipelines", "manifests", "kustomize"))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// ErrNoUpstream is returned (wrapped) when the upstream manifests are absent;
// suites turn it into a skip, commands into advice.
var ErrNoUpstream = errors.New("the upstream manifests are absent: set " + UpstreamEnv + " or place them at ../shared/upstream")

// Objects returns the install of mode from source; for FromUpstream it finds
// the manifests with FindShared and wraps ErrNoUpstream when there are none.
func Objects(source Source, mode kubeflow.Mode) ([]*unstructured.Unstructured, error) {
	switch source {
	case FromFixtures:
		return Fixtures(mode)
	case FromUpstream:
		root, ok := FindShared()
		if !ok {
			return nil, fmt.Errorf("installing KFP %s from upstream: %w", mode, ErrNoUpstream)
		}
		return Upstream(root, mode)
	}
	return nil, fmt.Errorf("unknown install source %q: want %q or %q", source, FromFixtures, FromUpstream)
}
