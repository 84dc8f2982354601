// Package kubeapi is the small typed Kubernetes client the doctor calls the
// cluster through: the dozen resources it reads, and SubjectAccessReviews.
//
// client-go's clientset (k8s.io/client-go/kubernetes) links every API group
// and registers all of them in one scheme at package init, whether a run
// talks to a cluster or not: about 17 ms of kfp-doctor's start-up on this
// machine, three times the rest of its init. This client is built from the
// same request builder the clientset's generated code calls (rest.RESTClient,
// as client-go's generic gentype client drives it) with a scheme of only the
// groups below, built on first use. Callers that hold a clientset (the lab, the
// conformance runner, tests with client-go's fakes) pass it through
// kubeapi/fromclientset.
package kubeapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Reader reads one resource, with the signatures of client-go's typed
// clients (so theirs satisfy it as they are).
type Reader[T, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
}

// Creator creates objects of one resource, as client-go's typed clients do.
type Creator[T runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
}

// Interface is every call the doctor makes through a typed client. Resources
// are named as on client-go's clientset, without the group accessor.
type Interface interface {
	Namespaces() Reader[*corev1.Namespace, *corev1.NamespaceList]
	Nodes() Reader[*corev1.Node, *corev1.NodeList]
	Services(namespace string) Reader[*corev1.Service, *corev1.ServiceList]
	Pods(namespace string) Reader[*corev1.Pod, *corev1.PodList]
	ConfigMaps(namespace string) Reader[*corev1.ConfigMap, *corev1.ConfigMapList]
	Secrets(namespace string) Reader[*corev1.Secret, *corev1.SecretList]
	EndpointSlices(namespace string) Reader[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList]
	Deployments(namespace string) Reader[*appsv1.Deployment, *appsv1.DeploymentList]
	Ingresses(namespace string) Reader[*networkingv1.Ingress, *networkingv1.IngressList]
	MutatingWebhookConfigurations() Reader[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList]
	SubjectAccessReviews() Creator[*authorizationv1.SubjectAccessReview]
	// ServerResourcesForGroupVersion is discovery's list of the resources
	// one group version serves ("kubeflow.org/v1alpha1"); a NotFound error
	// when the server serves no such group version.
	ServerResourcesForGroupVersion(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error)
}

// codecs is the scheme of the groups above, with the option types of
// metav1 for query parameters, built once on first use rather than at init.
var codecs = sync.OnceValue(func() schemeCodecs {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, discoveryv1.AddToScheme, networkingv1.AddToScheme,
		authorizationv1.AddToScheme, admissionregistrationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			// Registering the API's own types into a new scheme fails only
			// on a programming error (a type registered twice).
			panic(fmt.Sprintf("kubeapi: building the scheme: %v", err))
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return schemeCodecs{scheme: s, codecs: serializer.NewCodecFactory(s), params: runtime.NewParameterCodec(s)}
})

type schemeCodecs struct {
	scheme *runtime.Scheme
	codecs serializer.CodecFactory
	params runtime.ParameterCodec
}

// Client is Interface over the API server of a rest.Config.
type Client struct {
	core, apps, discovery, networking, authorization, admission rest.Interface
	params                                                      runtime.ParameterCodec
}

// New returns a client for cfg. Like client-go's clientset, its groups
// share one HTTP client and, when cfg sets a QPS, one rate limiter.
func New(cfg *rest.Config) (*Client, error) {
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, fmt.Errorf("burst must be greater than 0 when QPS is set and RateLimiter is not")
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	hc, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	sc := codecs()
	group := func(apiPath string, gv schema.GroupVersion) (rest.Interface, error) {
		gc := c
		gc.APIPath, gc.GroupVersion = apiPath, &gv
		gc.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(sc.scheme, sc.codecs).WithoutConversion()
		return rest.RESTClientForConfigAndClient(&gc, hc)
	}
	out := &Client{params: sc.params}
	for _, g := range []struct {
		into    *rest.Interface
		apiPath string
		gv      schema.GroupVersion
	}{
		{&out.core, "/api", corev1.SchemeGroupVersion},
		{&out.apps, "/apis", appsv1.SchemeGroupVersion},
		{&out.discovery, "/apis", discoveryv1.SchemeGroupVersion},
		{&out.networking, "/apis", networkingv1.SchemeGroupVersion},
		{&out.authorization, "/apis", authorizationv1.SchemeGroupVersion},
		{&out.admission, "/apis", admissionregistrationv1.SchemeGroupVersion},
	} {
		if *g.into, err = group(g.apiPath, g.gv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CoreREST is the REST client of the core group, for subresources such as a
// pod's portforward.
func (c *Client) CoreREST() rest.Interface { return c.core }

// resource is one resource's typed client: what client-go's generic
// gentype.Client does for Get, List and Create, request for request. gentype
// itself is not used because it links client-go/testing (for its fakes),
// which brings structured-merge-diff's schema parsing, kube-openapi and
// gnostic's protobuf descriptors into every start, about 2 ms of init.
type resource[T, L runtime.Object] struct {
	rc        rest.Interface
	params    runtime.ParameterCodec
	name, ns  string
	protobuf  bool
	newObject func() T
	newList   func() L
}

func (r resource[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out := r.newObject()
	err := r.rc.Get().UseProtobufAsDefaultIfPreferred(r.protobuf).NamespaceIfScoped(r.ns, r.ns != "").
		Resource(r.name).Name(name).VersionedParams(&opts, r.params).Do(ctx).Into(out)
	return out, err
}

func (r resource[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := r.newList()
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	err := r.rc.Get().UseProtobufAsDefaultIfPreferred(r.protobuf).NamespaceIfScoped(r.ns, r.ns != "").
		Resource(r.name).VersionedParams(&opts, r.params).Timeout(timeout).Do(ctx).Into(out)
	return out, err
}

func (r resource[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := r.newObject()
	err := r.rc.Post().UseProtobufAsDefaultIfPreferred(r.protobuf).NamespaceIfScoped(r.ns, r.ns != "").
		Resource(r.name).VersionedParams(&opts, r.params).Body(obj).Do(ctx).Into(out)
	return out, err
}

// reader reads a built-in resource, protobuf first where the API server
// offers it, as client-go's typed clients ask for built-in types.
func reader[T, L runtime.Object](c *Client, rc rest.Interface, name, ns string, newObject func() T, newList func() L) Reader[T, L] {
	return resource[T, L]{rc: rc, params: c.params, name: name, ns: ns, protobuf: true, newObject: newObject, newList: newList}
}

func (c *Client) Namespaces() Reader[*corev1.Namespace, *corev1.NamespaceList] {
	return reader(c, c.core, "namespaces", "", func() *corev1.Namespace { return &corev1.Namespace{} }, func() *corev1.NamespaceList { return &corev1.NamespaceList{} })
}

func (c *Client) Nodes() Reader[*corev1.Node, *corev1.NodeList] {
	return reader(c, c.core, "nodes", "", func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} })
}

func (c *Client) Services(ns string) Reader[*corev1.Service, *corev1.ServiceList] {
	return reader(c, c.core, "services", ns, func() *corev1.Service { return &corev1.Service{} }, func() *corev1.ServiceList { return &corev1.ServiceList{} })
}

func (c *Client) Pods(ns string) Reader[*corev1.Pod, *corev1.PodList] {
	return reader(c, c.core, "pods", ns, func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} })
}

func (c *Client) ConfigMaps(ns string) Reader[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return reader(c, c.core, "configmaps", ns, func() *corev1.ConfigMap { return &corev1.ConfigMap{} }, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} })
}

func (c *Client) Secrets(ns string) Reader[*corev1.Secret, *corev1.SecretList] {
	return reader(c, c.core, "secrets", ns, func() *corev1.Secret { return &corev1.Secret{} }, func() *corev1.SecretList { return &corev1.SecretList{} })
}

func (c *Client) EndpointSlices(ns string) Reader[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList] {
	return reader(c, c.discovery, "endpointslices", ns, func() *discoveryv1.EndpointSlice { return &discoveryv1.EndpointSlice{} }, func() *discoveryv1.EndpointSliceList { return &discoveryv1.EndpointSliceList{} })
}

func (c *Client) Deployments(ns string) Reader[*appsv1.Deployment, *appsv1.DeploymentList] {
	return reader(c, c.apps, "deployments", ns, func() *appsv1.Deployment { return &appsv1.Deployment{} }, func() *appsv1.DeploymentList { return &appsv1.DeploymentList{} })
}

func (c *Client) Ingresses(ns string) Reader[*networkingv1.Ingress, *networkingv1.IngressList] {
	return reader(c, c.networking, "ingresses", ns, func() *networkingv1.Ingress { return &networkingv1.Ingress{} }, func() *networkingv1.IngressList { return &networkingv1.IngressList{} })
}

func (c *Client) MutatingWebhookConfigurations() Reader[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList] {
	return reader(c, c.admission, "mutatingwebhookconfigurations", "",
		func() *admissionregistrationv1.MutatingWebhookConfiguration {
			return &admissionregistrationv1.MutatingWebhookConfiguration{}
		},
		func() *admissionregistrationv1.MutatingWebhookConfigurationList {
			return &admissionregistrationv1.MutatingWebhookConfigurationList{}
		})
}

func (c *Client) SubjectAccessReviews() Creator[*authorizationv1.SubjectAccessReview] {
	// JSON, as client-go's clientset sends reviews.
	return resource[*authorizationv1.SubjectAccessReview, *authorizationv1.SubjectAccessReview]{rc: c.authorization, params: c.params,
		name: "subjectaccessreviews", newObject: func() *authorizationv1.SubjectAccessReview { return &authorizationv1.SubjectAccessReview{} }}
}

// ServerResourcesForGroupVersion asks discovery, as client-go's discovery
// client does (which would link every API group again).
func (c *Client) ServerResourcesForGroupVersion(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error) {
	if groupVersion == "" {
		return nil, fmt.Errorf("discovery: no group version")
	}
	path := "/apis/" + groupVersion
	if groupVersion == "v1" {
		path = "/api/v1"
	}
	out := &metav1.APIResourceList{GroupVersion: groupVersion}
	if err := c.core.Get().AbsPath(path).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

var _ Interface = (*Client)(nil)
