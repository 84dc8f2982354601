package distro

import (
	"context"
	"fmt"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// listTimeout bounds one list call; listLimit one page: the namespaces
// looked in hold a handful of these objects, and a larger answer would be no
// login stack's.
const (
	listTimeout = 2 * time.Second
	listLimit   = 200
)

// Namespaces the login stacks' manifests install into (kubeflow/manifests:
// auth for Dex, oauth2-proxy, istio-system for oidc-authservice and the
// gateway; kube-system for the AWS Load Balancer Controller; kubeflow and
// istio-system for Google Cloud's iap-enabler).
var (
	deploymentNamespaces = []string{kubeflow.AuthNamespace, kubeflow.OAuth2ProxyNamespace, kubeflow.GatewayNamespace, "kube-system", kubeflow.Namespace}
	gatewayNamespace     = kubeflow.GatewayNamespace
)

// ListCluster lists, read-only, the objects the table knows, with the
// user's own credentials. What cannot be listed is said in problems (a
// namespace that is not there lists as empty: no problem).
func ListCluster(ctx context.Context, kube kubeapi.Interface) (objs []Object, problems []string) {
	list := func(what, ns string, f func(context.Context, metav1.ListOptions) ([]string, error)) {
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, listTimeout)
		defer cancel()
		names, err := f(cctx, metav1.ListOptions{Limit: listLimit})
		switch {
		case err == nil:
			for _, n := range names {
				objs = append(objs, Object{Kind: what, Namespace: ns, Name: n})
			}
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			problems = append(problems, fmt.Sprintf("cannot list %s objects in %s (forbidden)", what, ns))
		default:
			problems = append(problems, fmt.Sprintf("cannot list %s objects in %s: %v", what, ns, err))
		}
	}
	for _, ns := range deploymentNamespaces {
		list("Deployment", ns, func(ctx context.Context, o metav1.ListOptions) ([]string, error) {
			return names(kube.Deployments(ns).List(ctx, o))
		})
	}
	ns := gatewayNamespace
	list("Service", ns, func(ctx context.Context, o metav1.ListOptions) ([]string, error) {
		return names(kube.Services(ns).List(ctx, o))
	})
	list("ConfigMap", ns, func(ctx context.Context, o metav1.ListOptions) ([]string, error) {
		return names(kube.ConfigMaps(ns).List(ctx, o))
	})
	list("Ingress", ns, func(ctx context.Context, o metav1.ListOptions) ([]string, error) {
		return names(kube.Ingresses(ns).List(ctx, o))
	})
	return objs, problems
}

// names are the names of a list's items, whatever their type.
func names(list runtime.Object, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	var out []string
	err = meta.EachListItem(list, func(o runtime.Object) error {
		m, err := meta.Accessor(o)
		if err != nil {
			return err
		}
		out = append(out, m.GetName())
		return nil
	})
	return out, err
}
