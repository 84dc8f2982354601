package svcdial

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
)

// Routes are the objects a route through the cluster depends on, read from
// the API server (a plain Dialer) or from watches (package view). A missing
// object is an apierrors NotFound.
type Routes interface {
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	Services(ctx context.Context) ([]*corev1.Service, error)
	EndpointSlices(ctx context.Context, namespace, service string) ([]*discoveryv1.EndpointSlice, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// Rule is the JSON of the lab's kwok rule for the pod with this UID.
	Rule(ctx context.Context, uid types.UID) ([]byte, error)
}

// apiRoutes asks the API server each time.
type apiRoutes struct {
	client *kubeapi.Client
	// rulesServed is whether the API server serves kwok's rules at all,
	// asked once.
	rulesServed func(context.Context) bool
}

func newAPIRoutes(client *kubeapi.Client) *apiRoutes {
	var once sync.Once
	var served bool
	return &apiRoutes{client: client, rulesServed: func(ctx context.Context) bool {
		once.Do(func() { served = kwokrule.Served(ctx, client.CoreREST()) })
		return served
	}}
}

func (a *apiRoutes) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	return a.client.Services(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (a *apiRoutes) Services(ctx context.Context) ([]*corev1.Service, error) {
	list, err := a.client.Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return pointers(list.Items), nil
}

func (a *apiRoutes) EndpointSlices(ctx context.Context, namespace, service string) ([]*discoveryv1.EndpointSlice, error) {
	list, err := a.client.EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, err
	}
	return pointers(list.Items), nil
}

// pointers points at a list's items, as Routes returns them.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func (a *apiRoutes) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return a.client.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (a *apiRoutes) Rule(ctx context.Context, uid types.UID) ([]byte, error) {
	if !a.rulesServed(ctx) {
		return nil, ErrNoRules
	}
	return a.client.CoreREST().Get().AbsPath(kwokrule.Path(uid)).DoRaw(ctx)
}

// ErrNoRules is a Rule's error where the cluster serves no kwok rules.
var ErrNoRules = errors.New("the cluster serves no kwok rules")
