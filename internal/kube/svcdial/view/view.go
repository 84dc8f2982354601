// Package view is the cluster's routes as watches keep them — every
// Service, EndpointSlice and Pod, and the lab's kwok rules — which is how
// kube-proxy, CoreDNS and kwok themselves know the cluster. Its dialers
// (svcdial.NewWatched) resolve a connection without a request to the API
// server, where a plain svcdial dialer makes four, and ask the API server
// only when the watches show no route. Like kube-proxy, a View shows a
// change a moment after the API server has it: Synced waits until it holds
// what the API server holds, as the conformance suite waits for kube-proxy
// on real nodes. A package of its own because informers link client-go's
// whole clientset, which kfp-doctor (a plain svcdial user) must not carry.
package view

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/kube/kwokrule"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
)

// View is the routes of one cluster, from watches.
type View struct {
	cfg     *rest.Config
	client  *kubeapi.Client
	watched *watched
	synced  []cache.InformerSynced
}

// New adds the informers a View reads to factory (the caller starts
// it, and may share its Service and Pod informers) and, on a cluster of
// this machine serving kwok's rules, watches the lab's rules itself until
// ctx ends. Dial through it once HasSynced.
func New(ctx context.Context, cfg *rest.Config, factory informers.SharedInformerFactory) (*View, error) {
	client, err := kubeapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v := &View{cfg: cfg, client: client, watched: &watched{}}
	svcs := factory.Core().V1().Services().Informer()
	pods := factory.Core().V1().Pods().Informer()
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	if err := slices.AddIndexers(cache.Indexers{byService: sliceService}); err != nil {
		return nil, err
	}
	v.watched.svcs, v.watched.pods, v.watched.slices = svcs.GetIndexer(), pods.GetIndexer(), slices.GetIndexer()
	v.synced = []cache.InformerSynced{svcs.HasSynced, pods.HasSynced, slices.HasSynced}
	askCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	served := svcdial.OnThisMachine(cfg.Host) && kwokrule.Served(askCtx, client.CoreREST())
	cancel()
	if served {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		rf := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
			o.LabelSelector = kwokrule.Selector
		})
		rules := rf.ForResource(kwokrule.Resource).Informer()
		v.watched.rules = rules.GetIndexer()
		v.synced = append(v.synced, rules.HasSynced)
		rf.Start(ctx.Done())
	}
	return v, nil
}

// HasSynced reports whether every watch has its first list.
func (v *View) HasSynced() bool {
	for _, s := range v.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Dialer is a dialer for pods of namespace reading this view. Close it to
// stop its port-forwards; the view goes on.
func (v *View) Dialer(namespace string) (*svcdial.Dialer, error) {
	return svcdial.NewWatched(v.cfg, namespace, v.watched)
}

// Synced returns once the view holds every Service, EndpointSlice, Pod and
// lab rule at the resourceVersion the API server has now: after it, a
// connection through the view's dialers takes the route of the cluster as
// it was when Synced was called, or a later one.
func (v *View) Synced(ctx context.Context) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		differ, err := v.differs(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = differ
		return differ == "", nil
	})
	if err != nil {
		return fmt.Errorf("the lab's view of Services, endpoints and pods never caught up with the API server (last: %s): %w", last, err)
	}
	return nil
}

// versions is a resource's objects' resourceVersions, by UID.
type versions map[types.UID]string

// versionsOf is the versions of a list's items.
func versionsOf[T any, P interface {
	*T
	metav1.Object
}](items []T) versions {
	out := make(versions, len(items))
	for i := range items {
		m := P(&items[i])
		out[m.GetUID()] = m.GetResourceVersion()
	}
	return out
}

// differs names the first resource whose objects the view holds at other
// versions than the API server; "" when none does.
func (v *View) differs(ctx context.Context) (string, error) {
	kinds := []struct {
		name  string
		store cache.Indexer
		list  func() (versions, error)
	}{
		{"services", v.watched.svcs, func() (versions, error) {
			l, err := v.client.Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return versionsOf(l.Items), nil
		}},
		{"endpointslices", v.watched.slices, func() (versions, error) {
			l, err := v.client.EndpointSlices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return versionsOf(l.Items), nil
		}},
		{"pods", v.watched.pods, func() (versions, error) {
			l, err := v.client.Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return versionsOf(l.Items), nil
		}},
		{"kwok rules", v.watched.rules, func() (versions, error) {
			raw, err := v.client.CoreREST().Get().AbsPath(kwokrule.GroupVersionPath(), kwokrule.Resource.Resource).Param("labelSelector", kwokrule.Selector).DoRaw(ctx)
			if err != nil {
				return nil, err
			}
			var l metav1.PartialObjectMetadataList
			if err := json.Unmarshal(raw, &l); err != nil {
				return nil, fmt.Errorf("reading the lab's rules: %w", err)
			}
			return versionsOf(l.Items), nil
		}},
	}
	for _, k := range kinds {
		if k.store == nil {
			continue // no kwok rules watched
		}
		want, err := k.list()
		if err != nil {
			return "", err
		}
		if !same(want, k.store) {
			return k.name, nil
		}
	}
	return "", nil
}

// same reports whether store holds exactly the objects of want, each at its
// version.
func same(want versions, store cache.Indexer) bool {
	objs := store.List()
	if len(objs) != len(want) {
		return false
	}
	for _, obj := range objs {
		m, err := meta.Accessor(obj)
		if err != nil || want[m.GetUID()] != m.GetResourceVersion() {
			return false
		}
	}
	return true
}

// watched reads the View's informers' stores: svcdial.Routes.
type watched struct {
	svcs, slices, pods, rules cache.Indexer // rules is nil without kwok's rules
}

// byService indexes EndpointSlices by namespace/service, as kube-proxy
// groups them.
const byService = "svcdial-service"

func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

func (c *watched) Service(_ context.Context, namespace, name string) (*corev1.Service, error) {
	obj, ok, err := c.svcs.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, notFound("services", name)
	}
	return obj.(*corev1.Service), nil
}

func (c *watched) Services(context.Context) ([]*corev1.Service, error) {
	all := c.svcs.List()
	out := make([]*corev1.Service, 0, len(all))
	for _, obj := range all {
		out = append(out, obj.(*corev1.Service))
	}
	return out, nil
}

func (c *watched) EndpointSlices(_ context.Context, namespace, service string) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := c.slices.ByIndex(byService, namespace+"/"+service)
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*discoveryv1.EndpointSlice))
	}
	return out, nil
}

func (c *watched) Pod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, ok, err := c.pods.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, notFound("pods", name)
	}
	return obj.(*corev1.Pod), nil
}

func (c *watched) Rule(_ context.Context, uid types.UID) ([]byte, error) {
	if c.rules == nil {
		return nil, svcdial.ErrNoRules
	}
	obj, ok, err := c.rules.GetByKey(kwokrule.Name(uid))
	if err != nil || !ok {
		return nil, notFound(kwokrule.Resource.Resource, kwokrule.Name(uid))
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, notFound(kwokrule.Resource.Resource, kwokrule.Name(uid))
	}
	return u.MarshalJSON()
}
