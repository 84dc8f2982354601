package env

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/istiod"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// meshGVR is where the mesh faults write each kind.
func meshGVR(kind string) schema.GroupVersionResource {
	gr := map[string]schema.GroupResource{"AuthorizationPolicy": mesh.AuthorizationPolicies,
		"PeerAuthentication": mesh.PeerAuthentications, "RequestAuthentication": mesh.RequestAuthentications}[kind]
	return gr.WithVersion("v1beta1")
}

// meshSource is what the suite watches to know the mesh's proxies hold a
// change: the lab's istiod on kwok, or the istiod stand-in of a node
// cluster reached through a port-forward.
type meshSource interface {
	Config() *mesh.Config
}

// changeMesh applies a fault's mesh changes and returns what restores
// them; both return once the proxies hold the new state.
func (e *Env) changeMesh(ctx context.Context, changes []scenarios.MeshChange) (func(context.Context) error, error) {
	src, err := e.meshSource(ctx)
	if err != nil {
		return nil, err
	}
	type saved struct {
		change scenarios.MeshChange
		before *unstructured.Unstructured // nil: it did not exist
	}
	var done []saved
	restore := func(ctx context.Context) error {
		var errs []error
		var want []scenarios.MeshChange
		for i := len(done) - 1; i >= 0; i-- {
			d := done[i]
			back := scenarios.MeshChange{Kind: d.change.Kind, Namespace: d.change.Namespace, Name: d.change.Name}
			if d.before != nil {
				back.Spec, _, _ = unstructured.NestedMap(d.before.Object, "spec")
				if back.Spec == nil {
					back.Spec = map[string]any{}
				}
			}
			if err := e.writeMesh(ctx, back); err != nil {
				errs = append(errs, err)
			}
			want = append(want, back)
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		return waitMesh(ctx, src, want)
	}
	for _, c := range changes {
		res := e.Dyn.Resource(meshGVR(c.Kind)).Namespace(c.Namespace)
		before, err := res.Get(ctx, c.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			before = nil
		case err != nil:
			_ = restore(ctx)
			return nil, fmt.Errorf("mesh fault: %s %s/%s: %w", c.Kind, c.Namespace, c.Name, err)
		}
		if err := e.writeMesh(ctx, c); err != nil {
			_ = restore(ctx)
			return nil, err
		}
		done = append(done, saved{c, before})
	}
	if err := waitMesh(ctx, src, changes); err != nil {
		_ = restore(ctx)
		return nil, err
	}
	return restore, nil
}

// writeMesh puts one object in the state c says.
func (e *Env) writeMesh(ctx context.Context, c scenarios.MeshChange) error {
	res := e.Dyn.Resource(meshGVR(c.Kind)).Namespace(c.Namespace)
	cur, err := res.Get(ctx, c.Name, metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	switch {
	case c.Spec == nil && exists:
		err = res.Delete(ctx, c.Name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			err = nil
		}
	case c.Spec == nil:
	case exists:
		cur.Object["spec"] = c.Spec
		_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
	default:
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mesh.Group + "/v1beta1", "kind": c.Kind,
			"metadata": map[string]any{"name": c.Name, "namespace": c.Namespace, "labels": stringMap(e.Owner.Labels())},
			"spec":     c.Spec,
		}}
		_, err = res.Create(ctx, obj, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("mesh fault: writing %s %s/%s: %w", c.Kind, c.Namespace, c.Name, err)
	}
	return nil
}

// waitMesh waits until the proxies' snapshot holds every change: the
// object absent, or present with the spec as Istio's types read it.
func waitMesh(ctx context.Context, src meshSource, changes []scenarios.MeshChange) error {
	want := make([]*mesh.Config, len(changes))
	for i, c := range changes {
		if c.Spec != nil {
			want[i] = mesh.FromObjects([]*unstructured.Unstructured{{Object: map[string]any{
				"apiVersion": mesh.Group + "/v1beta1", "kind": c.Kind,
				"metadata": map[string]any{"name": c.Name, "namespace": c.Namespace}, "spec": c.Spec}}})
		}
	}
	holds := func(cfg *mesh.Config) bool {
		for i, c := range changes {
			if specOf(cfg, c) != specOf(want[i], c) {
				return false
			}
		}
		return true
	}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		cfg := src.Config()
		if cfg == nil {
			last = "no snapshot yet"
			return false, nil
		}
		last = fmt.Sprintf("%d policies", len(cfg.AuthorizationPolicies))
		return holds(cfg), nil
	})
	if err != nil {
		return fmt.Errorf("the mesh's proxies never held the fault's change (last: %s): %w", last, err)
	}
	return nil
}

// specOf is the object c names in cfg, printed ("" when absent).
func specOf(cfg *mesh.Config, c scenarios.MeshChange) string {
	if cfg == nil {
		return ""
	}
	ref := mesh.Ref{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
	var m proto.Message
	for _, p := range cfg.AuthorizationPolicies {
		if p.Ref == ref {
			m = p.Spec
		}
	}
	for _, p := range cfg.PeerAuthentications {
		if p.Ref == ref {
			m = p.Spec
		}
	}
	for _, p := range cfg.RequestAuthentications {
		if p.Ref == ref {
			m = p.Spec
		}
	}
	if m == nil {
		return ""
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return "present:" + string(b)
}

// meshSource finds what shows the proxies' state: the lab's own istiod on
// kwok, else the istiod stand-in in the cluster through a port-forward.
func (e *Env) meshSource(ctx context.Context) (meshSource, error) {
	if e.Runtime != nil {
		return e.Runtime.Mesh(), nil
	}
	if e.mesh != nil {
		return e.mesh, nil
	}
	d, err := svcdial.New(e.Config, kubeflow.GatewayNamespace)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	go func() { _ = d.Forward(fctx, ln, fmt.Sprintf("istiod.istio-system:%d", istiod.DiscoveryPort)) }()
	r, err := istiod.Dial(fctx, 30*time.Second, "http://"+ln.Addr().String(), nil, nil)
	if err != nil {
		cancel()
		d.Close()
		return nil, fmt.Errorf("mesh faults need to see the mesh's proxies, through the lab's istiod (Service istio-system/istiod): %w", err)
	}
	e.mesh = r
	e.closers = append(e.closers, func() { cancel(); d.Close() })
	return r, nil
}

// stringMap is labels as an unstructured object holds them.
func stringMap(l map[string]string) map[string]any {
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}
