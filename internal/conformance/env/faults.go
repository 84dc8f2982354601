package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kfpauthz"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// kinds the faults may delete.
var deletable = map[string]schema.GroupVersionResource{
	"Service":     {Version: "v1", Resource: "services"},
	"RoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"PodDefault":  {Group: "kubeflow.org", Version: "v1alpha1", Resource: "poddefaults"},
}

// Inject applies a cluster-side fault (or an install variant) and returns
// what undoes it; a client fault, or none, changes nothing here. Both wait
// until the cluster shows the change, so no case sees another's transition.
// Reverting a fault of the PodDefault webhook also waits until the
// apiserver admits pods with their PodDefaults again. A fault's mesh
// changes (f.Mesh) come first and are undone last.
func (e *Env) Inject(ctx context.Context, f scenarios.Fault) (revert func(context.Context) error, err error) {
	undo, err := e.inject(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := e.labSynced(ctx); err != nil {
		return nil, errors.Join(err, undo(ctx))
	}
	return func(ctx context.Context) error {
		if err := undo(ctx); err != nil {
			return err
		}
		return e.labSynced(ctx)
	}, nil
}

// labSynced waits, where the suite runs the lab's programs (kwok), until
// their view of Services, endpoints and pods is the API server's: what
// kube-proxy having synced is on real nodes (waitKubeProxy).
func (e *Env) labSynced(ctx context.Context) error {
	if e.Runtime == nil {
		return nil
	}
	return e.Runtime.View().Synced(ctx)
}

func (e *Env) inject(ctx context.Context, f scenarios.Fault) (revert func(context.Context) error, err error) {
	if len(f.Mesh) > 0 {
		undoMesh, err := e.changeMesh(ctx, f.Mesh)
		if err != nil {
			return nil, err
		}
		rest := f
		rest.Mesh = nil
		undoRest, err := e.inject(ctx, rest)
		if err != nil {
			_ = undoMesh(ctx)
			return nil, err
		}
		return func(ctx context.Context) error { return errors.Join(undoRest(ctx), undoMesh(ctx)) }, nil
	}
	switch {
	case f.Delete != nil:
		revert, err = e.deleteObject(ctx, *f.Delete)
	case f.Scale != nil:
		revert, err = e.scale(ctx, *f.Scale)
	case f.SetEnv != nil:
		revert, err = e.setEnv(ctx, *f.SetEnv)
	case f.EditConfig != nil:
		revert, err = e.editConfig(ctx, *f.EditConfig)
	default:
		return func(context.Context) error { return nil }, nil
	}
	if err != nil || !f.Admission {
		return revert, err
	}
	undo := revert
	return func(ctx context.Context) error {
		if err := undo(ctx); err != nil {
			return err
		}
		return install.WaitPodDefaults(ctx, e.Client)
	}, nil
}

func (e *Env) deleteObject(ctx context.Context, ref scenarios.ObjectRef) (func(context.Context) error, error) {
	gvr, ok := deletable[ref.Kind]
	if !ok {
		return nil, fmt.Errorf("fault deletes a %s, which the suite does not know how to restore", ref.Kind)
	}
	res := e.Dyn.Resource(gvr).Namespace(ref.Namespace)
	saved, err := res.Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("fault: %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	deleted := time.Now()
	if err := res.Delete(ctx, ref.Name, metav1.DeleteOptions{}); err != nil {
		return nil, err
	}
	if err := e.settle(ctx, ref, false, deleted); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		obj := cleanForCreate(saved)
		created := time.Now()
		// A restored Service takes back its cluster IPs, which the pods
		// started before the fault hold in their service links: with new
		// ones the UI server's ML_PIPELINE_SERVICE_HOST would lead nowhere
		// and every later case through the UI would fail (KFD019). The
		// apiserver may hold the IP a moment after the delete.
		err := wait.PollUntilContextTimeout(ctx, poll, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := res.Create(ctx, obj, metav1.CreateOptions{})
			switch {
			case err == nil || apierrors.IsAlreadyExists(err):
				return true, nil
			case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "already allocated"):
				return false, nil
			}
			return false, err
		})
		if err != nil {
			return fmt.Errorf("restoring %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
		}
		return e.settle(ctx, ref, true, created)
	}, nil
}

// settle waits until an object deleted or restored at changed has its effect.
func (e *Env) settle(ctx context.Context, ref scenarios.ObjectRef, present bool, changed time.Time) error {
	gvr := deletable[ref.Kind]
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.Dyn.Resource(gvr).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if present != (err == nil) {
			return false, nil
		}
		switch ref.Kind {
		case "RoleBinding":
			// The authorizer's cache lags writes: ask it.
			return e.bindingEffective(ctx, ref, present)
		case "Service":
			if present {
				if _, _, err := e.readyEndpoints(ctx, ref.Namespace, ref.Name, nil); err != nil {
					return false, nil
				}
			}
			if err := e.waitKubeProxy(ctx, changed, ref.Namespace, ref.Name); err != nil {
				return true, err
			}
			return true, e.waitDNS(ctx, ref.Namespace, ref.Name, present)
		}
		return true, nil
	})
}

// bindingEffective asks a SubjectAccessReview, as KFP would, whether each
// subject of the binding may list experiments in its namespace.
func (e *Env) bindingEffective(ctx context.Context, ref scenarios.ObjectRef, wantAllowed bool) (bool, error) {
	rb, err := e.Client.RbacV1().RoleBindings(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && !wantAllowed {
		return e.bindingEffectiveFromSaved(ctx, ref)
	}
	if err != nil {
		return false, nil
	}
	for _, s := range rb.Subjects {
		allowed, err := e.canListExperiments(ctx, ServiceAccountUser(s.Namespace, s.Name), ref.Namespace)
		if err != nil || allowed != wantAllowed {
			return false, nil
		}
	}
	return true, nil
}

// The subjects of the bindings the scenarios delete; once deleted, they are
// known only from the scenario, so assume default-editor ServiceAccounts.
func (e *Env) bindingEffectiveFromSaved(ctx context.Context, ref scenarios.ObjectRef) (bool, error) {
	user := ServiceAccountUser(ref.Namespace, kubeflow.ProfileEditor)
	if ref.Name == "allow-namespace-2-kubeflow-edit" {
		user = ServiceAccountUser("namespace-2", kubeflow.ProfileEditor)
	}
	allowed, err := e.canListExperiments(ctx, user, ref.Namespace)
	return err == nil && !allowed, nil
}

// ServiceAccountUser is the user name of a ServiceAccount.
func ServiceAccountUser(ns, name string) string { return "system:serviceaccount:" + ns + ":" + name }

func (e *Env) canListExperiments(ctx context.Context, user, ns string) (bool, error) {
	sar, err := kfpauthz.Ask(ctx, e.Client.AuthorizationV1().SubjectAccessReviews(), user, kfpauthz.ListExperiments(ns))
	if err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

func cleanForCreate(u *unstructured.Unstructured) *unstructured.Unstructured {
	obj := u.DeepCopy()
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(obj.Object, "status")
	return obj
}

func (e *Env) scale(ctx context.Context, s scenarios.Scale) (func(context.Context) error, error) {
	deps := e.Client.AppsV1().Deployments(s.Namespace)
	d, err := deps.Get(ctx, s.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	before := int32(1)
	if d.Spec.Replicas != nil {
		before = *d.Spec.Replicas
	}
	set := func(ctx context.Context, n int32) error {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		if _, err := deps.Patch(ctx, s.Deployment, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
		return e.waitDeployment(ctx, s.Namespace, s.Deployment, n > 0)
	}
	if err := set(ctx, s.Replicas); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return set(ctx, before) }, nil
}

func (e *Env) setEnv(ctx context.Context, s scenarios.SetEnv) (func(context.Context) error, error) {
	deps := e.Client.AppsV1().Deployments(s.Namespace)
	d, err := deps.Get(ctx, s.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	original, err := json.Marshal(d.Spec.Template.Spec.Containers[0].Env)
	if err != nil {
		return nil, err
	}
	c := d.Spec.Template.Spec.Containers[0]
	patchEnv := func(ctx context.Context, env json.RawMessage) error {
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": c.Name, "env": env}}}}}})
		if _, err := deps.Patch(ctx, s.Deployment, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
		return e.waitDeployment(ctx, s.Namespace, s.Deployment, true)
	}
	env := append(c.Env[:0:0], c.Env...)
	replaced := false
	for i := range env {
		if env[i].Name == s.Name {
			env[i].Value, env[i].ValueFrom, replaced = s.Value, nil, true
		}
	}
	if !replaced {
		env = append(env, corev1EnvVar(s.Name, s.Value))
	}
	changed, _ := json.Marshal(env)
	if err := patchEnv(ctx, changed); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		// Strategic merge keeps list items it is not told about: a
		// "replace" directive restores the env exactly.
		var items []map[string]any
		_ = json.Unmarshal(original, &items)
		items = append(items, map[string]any{"$patch": "replace"})
		b, _ := json.Marshal(items)
		return patchEnv(ctx, b)
	}, nil
}

func corev1EnvVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// editConfig replaces text in a ConfigMap key and restarts the Deployment
// that reads it; reverting puts the text back and restarts it again.
func (e *Env) editConfig(ctx context.Context, c scenarios.EditConfig) (func(context.Context) error, error) {
	cms := e.Client.CoreV1().ConfigMaps(c.Namespace)
	set := func(ctx context.Context, from, to string) error {
		cm, err := cms.Get(ctx, c.ConfigMap, metav1.GetOptions{})
		if err != nil {
			return err
		}
		old, ok := cm.Data[c.Key]
		if !ok || !strings.Contains(old, from) {
			return fmt.Errorf("configmap %s/%s key %s does not hold %q", c.Namespace, c.ConfigMap, c.Key, from)
		}
		cm.Data[c.Key] = strings.Replace(old, from, to, 1)
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return err
		}
		return e.restart(ctx, c.Namespace, c.Restart)
	}
	if err := set(ctx, c.Old, c.New); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return set(ctx, c.New, c.Old) }, nil
}

// restart rolls a Deployment's pods as `kubectl rollout restart` does and
// waits for the new pod's program.
func (e *Env) restart(ctx context.Context, ns, name string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := e.Client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("restarting deployment %s/%s: %w", ns, name, err)
	}
	return e.waitDeployment(ctx, ns, name, true)
}
