// Package mesh is Istio's security semantics, written once: which
// AuthorizationPolicies, PeerAuthentications and RequestAuthentications
// select a workload, whether a request is allowed (CUSTOM, then DENY, then
// ALLOW), the mTLS mode a connection meets, what a JWT yields, and the exact
// answers Envoy gives when it refuses. The lab's inbound policy layer
// enforces it and the doctor predicts with it, both from the objects read
// from the cluster, never from rules written in code.
//
// The semantics follow Istio's reference (istio.io: Authorization Policy,
// Authorization Policy Conditions, PeerAuthentication, RequestAuthentication —
// the doc comments of istio.io/api's security/v1beta1 protos, which those
// pages are generated from) and istio/istio's translation of the objects into
// Envoy's RBAC filter (pilot/pkg/security/authz/model: model.go, generator.go,
// matcher/). mesh_test.go holds them to it, one row per documented rule, each
// citing its source.
package mesh

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	secv1beta1 "istio.io/api/security/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// Istio's defaults where the mesh config says nothing (MeshConfig's
// rootNamespace and trustDomain).
const (
	DefaultRootNamespace = "istio-system"
	DefaultTrustDomain   = "cluster.local"
	// MeshConfigMap is the ConfigMap in the root namespace holding the mesh
	// config (key "mesh"), as Istio's chart and Kubeflow's istio-install
	// ship it.
	MeshConfigMap = "istio"
	// DryRunAnnotation marks a policy Istio evaluates without enforcing
	// (the dry-run task of istio.io).
	DryRunAnnotation = "istio.io/dry-run"
	// Group is the API group of the three kinds.
	Group = "security.istio.io"
)

// The three kinds, as the doctor's ClusterRole names them.
var (
	AuthorizationPolicies  = schema.GroupResource{Group: Group, Resource: "authorizationpolicies"}
	PeerAuthentications    = schema.GroupResource{Group: Group, Resource: "peerauthentications"}
	RequestAuthentications = schema.GroupResource{Group: Group, Resource: "requestauthentications"}
)

// Ref names one object of the mesh's configuration.
type Ref struct {
	Kind, Namespace, Name string
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// AuthorizationPolicy is one object as read from the cluster.
type AuthorizationPolicy struct {
	Ref
	// DryRun policies are evaluated but not enforced.
	DryRun bool
	Spec   *secv1beta1.AuthorizationPolicy
}

// PeerAuthentication is one object as read from the cluster.
type PeerAuthentication struct {
	Ref
	Created time.Time // the oldest wins among equals, as in Istio
	Spec    *secv1beta1.PeerAuthentication
}

// RequestAuthentication is one object as read from the cluster.
type RequestAuthentication struct {
	Ref
	Spec *secv1beta1.RequestAuthentication
}

// ExtAuthzHTTP is a mesh config extension provider of type
// envoyExtAuthzHttp: the service a CUSTOM policy delegates to, and which
// headers go where.
type ExtAuthzHTTP struct {
	Service                      string   `json:"service"`
	Port                         int      `json:"port"`
	PathPrefix                   string   `json:"pathPrefix,omitempty"`
	Timeout                      string   `json:"timeout,omitempty"`
	IncludeRequestHeadersInCheck []string `json:"includeRequestHeadersInCheck,omitempty"`
	HeadersToUpstreamOnAllow     []string `json:"headersToUpstreamOnAllow,omitempty"`
	HeadersToDownstreamOnDeny    []string `json:"headersToDownstreamOnDeny,omitempty"`
}

// Provider is one of the mesh config's extensionProviders.
type Provider struct {
	Name         string        `json:"name"`
	ExtAuthzHTTP *ExtAuthzHTTP `json:"envoyExtAuthzHttp,omitempty"`
}

// Config is the mesh's security configuration: the mesh config's settings
// and every policy object, as one snapshot.
type Config struct {
	RootNamespace string
	TrustDomain   string
	Providers     map[string]Provider

	AuthorizationPolicies  []AuthorizationPolicy
	PeerAuthentications    []PeerAuthentication
	RequestAuthentications []RequestAuthentication

	// Invalid names the objects whose spec could not be read; Istio's
	// validation would have refused them, so they take no part.
	Invalid []string
}

// Root is the root namespace, whose policies apply mesh-wide.
func (c *Config) Root() string { return cmp.Or(c.RootNamespace, DefaultRootNamespace) }

// Domain is the trust domain of the mesh's principals.
func (c *Config) Domain() string { return cmp.Or(c.TrustDomain, DefaultTrustDomain) }

// Principal is the peer identity Istio gives a workload running as
// ServiceAccount sa in namespace ns: <trust domain>/ns/<ns>/sa/<sa>.
func (c *Config) Principal(ns, sa string) string {
	return c.Domain() + "/ns/" + ns + "/sa/" + sa
}

// meshConfig is the part of Istio's MeshConfig the semantics need.
type meshConfig struct {
	RootNamespace      string     `json:"rootNamespace"`
	TrustDomain        string     `json:"trustDomain"`
	ExtensionProviders []Provider `json:"extensionProviders"`
}

// SetMeshConfig reads the ConfigMap's "mesh" key (YAML).
func (c *Config) SetMeshConfig(mesh string) error {
	var mc meshConfig
	if err := yaml.Unmarshal([]byte(mesh), &mc); err != nil {
		return fmt.Errorf("mesh config: %w", err)
	}
	c.RootNamespace, c.TrustDomain = mc.RootNamespace, mc.TrustDomain
	c.Providers = map[string]Provider{}
	for _, p := range mc.ExtensionProviders {
		c.Providers[p.Name] = p
	}
	return nil
}

// Add reads one object of the three kinds (or the mesh ConfigMap) into c;
// other objects are ignored. It reports whether the object was one of them.
func (c *Config) Add(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	ref := Ref{Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
	if gvk.Group == "" && gvk.Kind == "ConfigMap" && o.GetName() == MeshConfigMap {
		mesh, _, _ := unstructured.NestedString(o.Object, "data", "mesh")
		if err := c.SetMeshConfig(mesh); err != nil {
			c.Invalid = append(c.Invalid, fmt.Sprintf("ConfigMap %s: %v", ref, err))
		}
		return true
	}
	if gvk.Group != Group {
		return false
	}
	spec, err := json.Marshal(o.Object["spec"])
	if err != nil || string(spec) == "null" {
		spec = []byte("{}")
	}
	bad := func(err error) bool {
		if err != nil {
			c.Invalid = append(c.Invalid, fmt.Sprintf("%s %s: %v", ref.Kind, ref, err))
		}
		return err != nil
	}
	switch gvk.Kind {
	case "AuthorizationPolicy":
		p := &secv1beta1.AuthorizationPolicy{}
		if !bad(p.UnmarshalJSON(spec)) {
			c.AuthorizationPolicies = append(c.AuthorizationPolicies, AuthorizationPolicy{Ref: ref,
				DryRun: o.GetAnnotations()[DryRunAnnotation] == "true", Spec: p})
		}
	case "PeerAuthentication":
		p := &secv1beta1.PeerAuthentication{}
		if !bad(p.UnmarshalJSON(spec)) {
			c.PeerAuthentications = append(c.PeerAuthentications, PeerAuthentication{Ref: ref,
				Created: o.GetCreationTimestamp().Time, Spec: p})
		}
	case "RequestAuthentication":
		p := &secv1beta1.RequestAuthentication{}
		if !bad(p.UnmarshalJSON(spec)) {
			c.RequestAuthentications = append(c.RequestAuthentications, RequestAuthentication{Ref: ref, Spec: p})
		}
	default:
		return false
	}
	return true
}

// FromObjects builds a snapshot from objects such as an install's
// manifests.
func FromObjects(objs []*unstructured.Unstructured) *Config {
	c := &Config{}
	for _, o := range objs {
		c.Add(o)
	}
	c.sort()
	return c
}

// sort orders the objects by namespace and name, so that every reading of
// the same cluster explains itself in the same order.
func (c *Config) sort() {
	byRef := func(a, b Ref) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	}
	slices.SortFunc(c.AuthorizationPolicies, func(a, b AuthorizationPolicy) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(c.PeerAuthentications, func(a, b PeerAuthentication) int { return byRef(a.Ref, b.Ref) })
	slices.SortFunc(c.RequestAuthentications, func(a, b RequestAuthentication) int { return byRef(a.Ref, b.Ref) })
}

// ErrNoCRDs means the cluster serves none of the three kinds: Istio is not
// installed, so nothing in the mesh can refuse a request.
var ErrNoCRDs = errors.New("the cluster serves no security.istio.io kinds (Istio's CRDs are not installed)")

// Load reads the mesh's configuration from a cluster: one list per kind
// across all namespaces (what the doctor's ClusterRole allows, and the same
// three requests however many profiles there are), and the mesh ConfigMap
// in the root namespace when it can be read (without it, Istio's defaults).
// A kind the caller may not list is an error naming the permission; a
// cluster without the CRDs is ErrNoCRDs.
func Load(ctx context.Context, dyn dynamic.Interface) (*Config, error) {
	c := &Config{}
	cm, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).
		Namespace(DefaultRootNamespace).Get(ctx, MeshConfigMap, metav1.GetOptions{})
	if err == nil {
		c.Add(cm)
	}
	missing := 0
	for _, gr := range []schema.GroupResource{AuthorizationPolicies, PeerAuthentications, RequestAuthentications} {
		list, err := listAnyVersion(ctx, dyn, gr)
		if apierrors.IsNotFound(err) {
			missing++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot list %s: %w", gr, err)
		}
		for i := range list.Items {
			c.Add(&list.Items[i])
		}
	}
	if missing == 3 {
		return nil, ErrNoCRDs
	}
	c.sort()
	return c, nil
}

// listAnyVersion lists gr at v1beta1 (what Kubeflow's manifests write),
// else at v1 (what newer Istio serves alone).
func listAnyVersion(ctx context.Context, dyn dynamic.Interface, gr schema.GroupResource) (*unstructured.UnstructuredList, error) {
	var err error
	for _, v := range []string{"v1beta1", "v1"} {
		var list *unstructured.UnstructuredList
		list, err = dyn.Resource(gr.WithVersion(v)).List(ctx, metav1.ListOptions{})
		if err == nil {
			return list, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, err
}
