// Package fromclientset lets code that holds a client-go clientset — the
// lab, the conformance runner, the stand-ins, and tests with client-go's
// fake clientset and its reactors — call what takes a kubeapi.Interface.
// It is a package of its own so that kubeapi's users need not link the
// clientset.
package fromclientset

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
)

// Wrap returns cs as a kubeapi.Interface: every call goes to cs's own typed
// clients.
func Wrap(cs kubernetes.Interface) kubeapi.Interface { return clientset{cs} }

type clientset struct{ cs kubernetes.Interface }

func (c clientset) Namespaces() kubeapi.Reader[*corev1.Namespace, *corev1.NamespaceList] {
	return c.cs.CoreV1().Namespaces()
}

func (c clientset) Nodes() kubeapi.Reader[*corev1.Node, *corev1.NodeList] {
	return c.cs.CoreV1().Nodes()
}

func (c clientset) Services(ns string) kubeapi.Reader[*corev1.Service, *corev1.ServiceList] {
	return c.cs.CoreV1().Services(ns)
}

func (c clientset) Pods(ns string) kubeapi.Reader[*corev1.Pod, *corev1.PodList] {
	return c.cs.CoreV1().Pods(ns)
}

func (c clientset) ConfigMaps(ns string) kubeapi.Reader[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return c.cs.CoreV1().ConfigMaps(ns)
}

func (c clientset) Secrets(ns string) kubeapi.Reader[*corev1.Secret, *corev1.SecretList] {
	return c.cs.CoreV1().Secrets(ns)
}

func (c clientset) EndpointSlices(ns string) kubeapi.Reader[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList] {
	return c.cs.DiscoveryV1().EndpointSlices(ns)
}

func (c clientset) Deployments(ns string) kubeapi.Reader[*appsv1.Deployment, *appsv1.DeploymentList] {
	return c.cs.AppsV1().Deployments(ns)
}

func (c clientset) Ingresses(ns string) kubeapi.Reader[*networkingv1.Ingress, *networkingv1.IngressList] {
	return c.cs.NetworkingV1().Ingresses(ns)
}

func (c clientset) MutatingWebhookConfigurations() kubeapi.Reader[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList] {
	return c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
}

func (c clientset) SubjectAccessReviews() kubeapi.Creator[*authorizationv1.SubjectAccessReview] {
	return c.cs.AuthorizationV1().SubjectAccessReviews()
}

func (c clientset) ServerResourcesForGroupVersion(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error) {
	return discovery.ToServerResourcesInterfaceWithContext(c.cs.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, groupVersion)
}
