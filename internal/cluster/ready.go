package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// readiness is one condition a fresh cluster must meet before the suites use
// it; each is polled, never assumed after a sleep.
type readiness struct {
	what  string
	check func(ctx context.Context, cs kubernetes.Interface) (bool, error)
}

// APIServerReady reports whether the kube-apiserver's /readyz says ok.
func APIServerReady(ctx context.Context, cs kubernetes.Interface) (bool, error) {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil && string(body) == "ok", nil
}

var (
	apiserverReady = readiness{"kube-apiserver /readyz", APIServerReady}
	nodeReady      = readiness{"a Ready node", func(ctx context.Context, cs kubernetes.Interface) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	}}
	// The ServiceAccount controller in kube-controller-manager creates it; its
	// presence shows the controllers are running, which RBAC aggregation and
	// TokenRequest-based specs depend on.
	defaultServiceAccount = readiness{"ServiceAccount default/default", func(ctx context.Context, cs kubernetes.Interface) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, nil
	}}
)

// WaitReady polls until the apiserver is ready, the default ServiceAccount
// exists and, if wantNode, a node is Ready. The error names the condition that
// was not met.
func WaitReady(ctx context.Context, rc *rest.Config, wantNode bool) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("client for %s: %w", rc.Host, err)
	}
	conds := []readiness{apiserverReady, defaultServiceAccount}
	if wantNode {
		conds = append(conds, nodeReady)
	}
	for _, c := range conds {
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			return c.check(ctx, cs)
		})
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", c.what, err)
		}
	}
	return nil
}
