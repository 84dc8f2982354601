// Package istiod is the part of Istio's control plane the lab's sidecars
// and gateway need, which cannot run here: it watches the cluster's
// security.istio.io objects and the mesh config (the ConfigMap istio in the
// root namespace) and keeps one snapshot of them for the proxies, as istiod
// pushes config to Envoys; and it knows the mesh identity behind a pod's
// address, as the certificate istiod issued that pod would prove it
// (<trust domain>/ns/<ns>/sa/<sa>, for pods carrying Istio's proxy).
package istiod

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/sidecar"
)

// Control holds the mesh's current configuration and the pods' identities.
type Control struct {
	cfg     atomic.Pointer[mesh.Config]
	gen     atomic.Int64
	pods    cache.Indexer
	sources []cache.SharedIndexInformer
	rebuild chan struct{}
	mu      sync.Mutex
	changed chan struct{}                // closed and replaced at each new snapshot
	objects []*unstructured.Unstructured // what the snapshot was built from
}

const podIPIndex = "podIP"

// kinds are what the snapshot is built from.
var kinds = []schema.GroupVersionResource{
	mesh.AuthorizationPolicies.WithVersion("v1beta1"),
	mesh.PeerAuthentications.WithVersion("v1beta1"),
	mesh.RequestAuthentications.WithVersion("v1beta1"),
}

// Start watches the cluster and returns once the first snapshot is built
// (or ctx ends). Without Istio's CRDs the snapshot stays empty: no policy
// selects anything, and every connection is PERMISSIVE.
func Start(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface) (*Control, error) {
	c := &Control{rebuild: make(chan struct{}, 1), changed: make(chan struct{})}
	pf := informers.NewSharedInformerFactory(kube, 10*time.Minute)
	podInf := pf.Core().V1().Pods().Informer()
	if err := podInf.AddIndexers(cache.Indexers{podIPIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Status.PodIP == "" || p.Spec.HostNetwork {
			return nil, nil
		}
		var ips []string
		for _, ip := range p.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 {
			ips = []string{p.Status.PodIP}
		}
		return ips, nil
	}}); err != nil {
		return nil, err
	}
	c.pods = podInf.GetIndexer()
	pf.Start(ctx.Done())

	served, err := servesIstio(ctx, dyn)
	if err != nil {
		return nil, err
	}
	df := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 10*time.Minute, metav1.NamespaceAll, nil)
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.poke() },
		UpdateFunc: func(any, any) { c.poke() },
		DeleteFunc: func(any) { c.poke() },
	}
	if served {
		for _, gvr := range kinds {
			inf := df.ForResource(gvr).Informer()
			if _, err := inf.AddEventHandler(poke); err != nil {
				return nil, err
			}
			c.sources = append(c.sources, inf)
		}
	}
	mf := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 10*time.Minute, mesh.DefaultRootNamespace, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", mesh.MeshConfigMap).String()
	})
	cmInf := mf.ForResource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Informer()
	if _, err := cmInf.AddEventHandler(poke); err != nil {
		return nil, err
	}
	c.sources = append(c.sources, cmInf)
	df.Start(ctx.Done())
	mf.Start(ctx.Done())
	syncs := []cache.InformerSynced{podInf.HasSynced}
	for _, s := range c.sources {
		syncs = append(syncs, s.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil, fmt.Errorf("istiod: the cluster's objects were not read before %w", context.Cause(ctx))
	}
	c.build()
	go c.loop(ctx)
	return c, nil
}

// servesIstio reports whether the cluster serves Istio's security kinds.
func servesIstio(ctx context.Context, dyn dynamic.Interface) (bool, error) {
	_, err := dyn.Resource(kinds[0]).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("istiod: listing %s: %w", kinds[0].Resource, err)
}

func (c *Control) poke() {
	select {
	case c.rebuild <- struct{}{}:
	default:
	}
}

func (c *Control) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.rebuild:
			c.build()
		}
	}
}

// build makes a new snapshot from the informers' stores.
func (c *Control) build() {
	var objs []*unstructured.Unstructured
	for _, s := range c.sources {
		for _, o := range s.GetStore().List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				objs = append(objs, u)
			}
		}
	}
	c.mu.Lock()
	c.objects = objs
	c.cfg.Store(mesh.FromObjects(objs))
	c.gen.Add(1)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Config is the current snapshot.
func (c *Control) Config() *mesh.Config { return c.cfg.Load() }

// Generation counts the snapshots built so far.
func (c *Control) Generation() int64 { return c.gen.Load() }

// WaitFor returns once a snapshot satisfies ok, or ctx ends: a fault that
// changes a policy has reached the proxies when it returns.
func (c *Control) WaitFor(ctx context.Context, ok func(*mesh.Config) bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if ok(c.Config()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// ErrUnknownPod means no pod of the cluster has the address.
var ErrUnknownPod = errors.New("no pod has this address")

// Identify is the mesh identity of the pod at ip: its ServiceAccount's
// principal when it carries Istio's proxy (which speaks mTLS with the
// certificate istiod gave it), none otherwise.
func (c *Control) Identify(_ context.Context, ip netip.Addr) (sidecar.Peer, error) {
	p, _, err := c.identify(ip)
	return p, err
}

// Workload is the pod at ip as policies select it.
func (c *Control) Workload(_ context.Context, ip netip.Addr) (mesh.Workload, error) {
	_, pod, err := c.identify(ip)
	if err != nil {
		return mesh.Workload{}, err
	}
	return mesh.Workload{Namespace: pod.Namespace, Labels: pod.Labels}, nil
}

func (c *Control) identify(ip netip.Addr) (sidecar.Peer, *corev1.Pod, error) {
	objs, err := c.pods.ByIndex(podIPIndex, ip.Unmap().String())
	if err != nil {
		return sidecar.Peer{}, nil, err
	}
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		peer := sidecar.Peer{Pod: p.Namespace + "/" + p.Name}
		if discover.HasSidecar(p) {
			sa := p.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			peer.Principal = c.Config().Principal(p.Namespace, sa)
		}
		return peer, p, nil
	}
	return sidecar.Peer{}, nil, fmt.Errorf("%s: %w", ip, ErrUnknownPod)
}
