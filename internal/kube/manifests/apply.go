package manifests

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Ref names one object of an install.
type Ref struct {
	APIVersion, Kind, Namespace, Name string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

func refOf(o *unstructured.Unstructured) Ref {
	return Ref{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Note is an object the cluster did not take as written, and why.
type Note struct {
	Ref
	Reason string
}

func (n Note) String() string { return n.Ref.String() + ": " + n.Reason }

// Result is what an Apply did. Skipped and Changed are what the lab could not
// honour, meant to be reported, not hidden.
type Result struct {
	// Applied counts the objects the apiserver accepted, Changed included.
	Applied int
	// Skipped objects were not applied: their kind is not served here, or
	// applying them would break the cluster (webhooks with no real server).
	Skipped []Note
	// Changed objects were applied with an alteration.
	Changed []Note
	// Warnings are what the apiserver said while accepting an object
	// (deprecated APIs, unknown fields it dropped).
	Warnings []Note
	// Elapsed is the wall time of the whole Apply, CRD waits included.
	Elapsed time.Duration
}

// crdGK and friends are the kinds Apply orders or refuses.
var (
	crdGK         = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceGK   = schema.GroupKind{Kind: "Namespace"}
	mutatingGK    = schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}
	validatingGK  = schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}
	apiServiceGK  = schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	establishWait = 30 * time.Second
)

// refuseOnFakePods says why an object must not be applied to a cluster whose
// pods are fake (kwok), or "" when it may be.
func refuseOnFakePods(o *unstructured.Unstructured) string {
	switch o.GroupVersionKind().GroupKind() {
	case mutatingGK, validatingGK:
		// Measured with Kubeflow's PodDefault webhook: once applied, every
		// pod creation in a profile namespace failed with "Internal error
		// occurred: failed calling webhook". Its Service's pod is fake and
		// its caBundle is cert-manager's to inject. With failurePolicy Ignore
		// each matching request would still wait for the call to fail.
		policies := map[string]bool{}
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, h := range hooks {
			if hm, ok := h.(map[string]any); ok {
				p, _ := hm["failurePolicy"].(string)
				if p == "" {
					p = "Fail" // the v1 default
				}
				policies[p] = true
			}
		}
		return fmt.Sprintf("admission webhook (failurePolicy %s) whose server cannot run here: its pod is fake and nothing injects its caBundle; applied, it makes every request it matches fail (measured: pod creation in profile namespaces, \"failed calling webhook\")",
			strings.Join(slices.Sorted(maps.Keys(policies)), ", "))
	case apiServiceGK:
		// An unavailable aggregated API makes discovery fail for every client.
		return "aggregated API whose server cannot run here; it would break discovery for every client"
	}
	return ""
}

// Options say what the cluster can run.
type Options struct {
	// FakePods: the cluster's pods never really run (kwok's fake nodes), so
	// admission webhooks and aggregated APIs, whose servers would be pods,
	// are skipped with the reason instead of applied: the apiserver would
	// dial a pod IP that is on no machine, and every request they match
	// would fail.
	FakePods bool
}

// Apply installs objs: CRDs first, waiting until each is Established, then
// namespaces, then the rest with what pods need (service accounts, config,
// RBAC, Services) before workloads, otherwise in the given order; all by
// server-side apply with
// field manager kfp-connect and forced ownership so re-applying converges.
// Objects of kinds the cluster does not serve, and objects refuse rejects,
// are recorded in Result.Skipped instead of failing the install; any other
// apiserver refusal is an error, since it means the install is not what the
// manifests say. It is the one applier of the module: installs, fixtures,
// the node's own add-ons, the suites' objects.
func Apply(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts Options) (*Result, error) {
	start := time.Now()
	res := &Result{}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// client-go's default of 5 QPS turns a 200-object install into a
		// minute of client-side throttling.
		cfg.QPS, cfg.Burst = 100, 200
	}
	warnings := &warningCollector{}
	cfg.WarningHandler = warnings
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client for %s: %w", cfg.Host, err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for %s: %w", cfg.Host, err)
	}
	a := applier{dyn: dyn, mapper: mapper, res: res, warnings: warnings, installed: map[schema.GroupKind]bool{}, fakePods: opts.FakePods}

	var crds, namespaces, others []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GroupVersionKind().GroupKind() {
		case crdGK:
			crds = append(crds, o)
		case namespaceGK:
			namespaces = append(namespaces, o)
		default:
			others = append(others, o)
		}
	}
	for _, o := range crds {
		if err := a.apply(ctx, o); err != nil {
			return res, err
		}
	}
	for _, o := range crds {
		if err := waitEstablished(ctx, dyn, o.GetName()); err != nil {
			return res, err
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		a.installed[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	// Several kustomizations concatenated are no longer in kustomize's
	// dependency order: a Deployment applied before its ServiceAccount gets
	// FailedCreate and a back-off before its pods appear.
	slices.SortStableFunc(others, func(x, y *unstructured.Unstructured) int {
		return cmp.Compare(kindRank(x.GetKind()), kindRank(y.GetKind()))
	})
	if len(crds) > 0 {
		// The cached discovery predates the CRDs.
		mapper.Reset()
	}
	for _, group := range [][]*unstructured.Unstructured{namespaces, others} {
		for _, o := range group {
			if err := a.apply(ctx, o); err != nil {
				return res, err
			}
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// kindRank orders what Pods depend on before the workloads that create
// them, and everything else after; equal ranks keep the given order.
func kindRank(kind string) int {
	switch kind {
	case "PriorityClass", "StorageClass":
		return 0
	case "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim":
		return 1
	case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		return 2
	case "Service":
		return 3
	case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod":
		return 5
	}
	return 4
}

// warningCollector keeps the apiserver's warnings for the object being
// applied; Apply is sequential, so the last ones belong to the current object.
type warningCollector struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

type applier struct {
	dyn      dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	res      *Result
	warnings *warningCollector
	// installed are the kinds of the CRDs this install brought: discovery
	// may serve them a moment after they are Established.
	installed map[schema.GroupKind]bool
	fakePods  bool
}

func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured) error {
	ref := refOf(o)
	if why := refuseOnFakePods(o); a.fakePods && why != "" {
		a.res.Skipped = append(a.res.Skipped, Note{ref, why})
		return nil
	}
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) && a.installed[gvk.GroupKind()] {
		// A CRD of this install, Established but not yet in discovery
		// (seen on a loaded machine): ask again until it is.
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			a.mapper.Reset()
			m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			return !meta.IsNoMatchError(err), nil
		})
	}
	if meta.IsNoMatchError(err) {
		a.res.Skipped = append(a.res.Skipped, Note{ref, fmt.Sprintf("the cluster does not serve %s (no CRD for it in this install)", gvk.GroupVersion().WithKind(gvk.Kind))})
		return nil
	}
	if err != nil {
		return fmt.Errorf("mapping %s: %w", ref, err)
	}
	ri := dynamic.ResourceInterface(a.dyn.Resource(m.Resource))
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	a.warnings.take() // discovery's, not this object's
	if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("applying %s: %w", ref, err)
	}
	for _, w := range a.warnings.take() {
		a.res.Warnings = append(a.res.Warnings, Note{ref, w})
	}
	a.res.Applied++
	return nil
}

// waitEstablished polls the CRD's Established condition: custom objects
// applied before it is true are refused as an unknown kind.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, establishWait)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			last = "not found"
			return false, nil
		}
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Established" {
				if cm["status"] == "True" {
					return true, nil
				}
				last = fmt.Sprintf("Established=%v: %v", cm["status"], cm["message"])
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s never became Established (last: %s); is kube-apiserver's apiextensions controller running?: %w", name, last, err)
	}
	return nil
}
