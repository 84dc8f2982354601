package env

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/scenarios"
)

// The labels on every object a run creates, so that a run removes exactly
// its own, and the next run sweeps what a crash left behind.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "kfp-connect-conformance"
	RunLabel       = "kfp-connect.dev/conformance-run"
)

// OwnedSelector selects the objects of every run.
const OwnedSelector = ManagedByLabel + "=" + ManagedBy

// Owner is one run's identity on the cluster.
type Owner struct {
	RunID string
}

// NewOwner makes a run id: short, random, a valid label value.
func NewOwner() Owner {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return Owner{RunID: time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)}
}

// Labels are the labels of the run's objects.
func (o Owner) Labels() map[string]string {
	l := map[string]string{ManagedByLabel: ManagedBy}
	if o.RunID != "" {
		l[RunLabel] = o.RunID
	}
	return l
}

// Label adds the run's labels to a copy of l.
func (o Owner) Label(l map[string]string) map[string]string {
	out := make(map[string]string, len(l)+2)
	for k, v := range l {
		out[k] = v
	}
	for k, v := range o.Labels() {
		out[k] = v
	}
	return out
}

// ownedKinds are what a run may create: its client and doctor pods (and
// the pods a token is bound to), their token Secrets and context.json
// ConfigMaps, the doctor's read-only ClusterRole where the cluster lacks it
// and its bindings, and the scenarios' Extra objects (namespaces,
// identities, the documented bindings). Sweep removes them in this order,
// namespaces last.
var ownedKinds = []struct {
	kind       string
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	{"Pod", schema.GroupVersionResource{Version: "v1", Resource: "pods"}, true},
	{"Secret", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true},
	{"ConfigMap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	{"RoleBinding", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, true},
	{"ClusterRoleBinding", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
	{"ClusterRole", schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	{"ServiceAccount", schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
	{"Namespace", schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
}

func ownedKind(kind string) (schema.GroupVersionResource, bool, bool) {
	for _, k := range ownedKinds {
		if k.kind == kind {
			return k.gvr, k.namespaced, true
		}
	}
	return schema.GroupVersionResource{}, false, false
}

// Owned lists the objects that selector selects, as "Kind namespace/name",
// sorted: what a run left on the cluster.
func Owned(ctx context.Context, dyn dynamic.Interface, selector string) ([]string, error) {
	var out []string
	for _, k := range ownedKinds {
		list, err := dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, fmt.Errorf("listing %s labelled %s: %w", k.gvr.Resource, selector, err)
		}
		for _, o := range list.Items {
			out = append(out, objectName(k.kind, o.GetNamespace(), o.GetName()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Sweep deletes every object selector selects and waits until they are
// gone (a namespace takes its controller's time), within a minute. It is
// how a run cleans up after itself, and how it removes what an earlier,
// crashed run left.
func Sweep(ctx context.Context, dyn dynamic.Interface, selector string) (removed []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	zero := int64(0)
	background := metav1.DeletePropagationBackground
	for _, k := range ownedKinds {
		list, err := dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return removed, fmt.Errorf("listing %s labelled %s: %w", k.gvr.Resource, selector, err)
		}
		for _, o := range list.Items {
			res := dynamic.ResourceInterface(dyn.Resource(k.gvr))
			if k.namespaced {
				res = dyn.Resource(k.gvr).Namespace(o.GetNamespace())
			}
			opts := metav1.DeleteOptions{PropagationPolicy: &background}
			if k.kind == "Pod" {
				// A client pod's work is done (or cut short): no grace.
				opts.GracePeriodSeconds = &zero
			}
			if err := res.Delete(ctx, o.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
				return removed, fmt.Errorf("deleting %s %s/%s: %w", k.kind, o.GetNamespace(), o.GetName(), err)
			}
			removed = append(removed, objectName(k.kind, o.GetNamespace(), o.GetName()))
		}
	}
	var left []string
	err = wait.PollUntilContextCancel(ctx, poll, true, func(ctx context.Context) (bool, error) {
		l, err := Owned(ctx, dyn, selector)
		if err != nil {
			return false, nil
		}
		left = l
		return len(l) == 0, nil
	})
	if err != nil {
		return removed, fmt.Errorf("objects labelled %s still there after deleting them: %v: %w", selector, left, err)
	}
	return removed, nil
}

// objectName is "Kind namespace/name", or "Kind name" for a cluster-scoped one.
func objectName(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// AttachOptions say what a run may do on a cluster it did not make.
type AttachOptions struct {
	Owner Owner
	// DoctorImage is the doctor's image, for the in-cluster cases where
	// pods really run.
	DoctorImage string
	// Admission: the cluster runs a PodDefault webhook the apiserver calls.
	Admission bool
}

// Attach prepares a scenario on a cluster whose install it must not change:
// nothing is installed and no stand-in is run. The scenario's Extra objects
// — namespaces, identities and the documented bindings a case's client
// needs, not part of KFP's install — are created where the cluster lacks
// them, labelled as the run's own, and left alone where it has them. Where
// the cluster's pods really run, the in-cluster cases are Pods of the
// doctor's image.
func Attach(ctx context.Context, cfg *rest.Config, sc *scenarios.Scenario, opts AttachOptions) (*Env, []string, error) {
	env, err := newEnv(cfg, sc, opts.Owner, opts.DoctorImage)
	if err != nil {
		return nil, nil, err
	}
	env.Admission = opts.Admission
	if env.RealPods, err = hasRealPods(ctx, env.Client); err != nil {
		return nil, nil, err
	}
	objs, err := extraObjects(sc)
	if err != nil {
		return nil, nil, err
	}
	var created []string
	for _, o := range objs {
		made, err := env.createIfAbsent(ctx, o)
		if err != nil {
			return nil, created, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if made {
			created = append(created, objectName(o.GetKind(), o.GetNamespace(), o.GetName()))
		}
	}
	return env, created, nil
}

// createIfAbsent creates o, labelled as the run's, unless it exists.
func (e *Env) createIfAbsent(ctx context.Context, o *unstructured.Unstructured) (bool, error) {
	gvr, namespaced, ok := ownedKind(o.GetKind())
	if !ok {
		return false, fmt.Errorf("%s %s/%s is not an object a non-destructive run may create", o.GetKind(), o.GetNamespace(), o.GetName())
	}
	res := dynamic.ResourceInterface(e.Dyn.Resource(gvr))
	if namespaced {
		res = e.Dyn.Resource(gvr).Namespace(o.GetNamespace())
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := res.Get(cctx, o.GetName(), metav1.GetOptions{})
	switch {
	case err == nil:
		return false, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("looking for %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	obj := o.DeepCopy()
	obj.SetLabels(e.Owner.Label(obj.GetLabels()))
	if _, err := res.Create(cctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("creating %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	if o.GetKind() == "RoleBinding" {
		// The authorizer's cache lags writes: the first case must see it.
		ref := scenarios.ObjectRef{Kind: "RoleBinding", Namespace: o.GetNamespace(), Name: o.GetName()}
		// One that never takes effect (its role grants less on this
		// cluster) is no error here: the case that needs it fails and
		// says so.
		_ = wait.PollUntilContextTimeout(cctx, poll, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			return e.bindingEffective(ctx, ref, true)
		})
	}
	return true, nil
}
