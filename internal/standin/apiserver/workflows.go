package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
)

// workflowCreator hands a run to the workflow engine.
type workflowCreator interface {
	create(ctx context.Context, namespace string, x run, timeout time.Duration) error
}

// kubeWorkflows creates the run's Argo Workflow in the cluster as KFP's API
// server does, with its own ServiceAccount, so the cluster's answer (no
// CRD, no RBAC for workflows) is the one clients get. The Workflow only
// suspends: nothing here would run it.
type kubeWorkflows struct{ kube kubernetes.Interface }

func (k kubeWorkflows) create(ctx context.Context, namespace string, x run, timeout time.Duration) error {
	if k.kube == nil || k.kube.Discovery() == nil || k.kube.Discovery().RESTClient() == nil {
		return errors.New("the stand-in has no client for the kube-apiserver to create workflows with")
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"generateName": "run-", "namespace": namespace,
			"labels": map[string]string{"pipeline/runid": x.id}},
		"spec": map[string]any{"entrypoint": "main",
			"templates": []any{map[string]any{"name": "main", "suspend": map[string]any{}}}},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = k.kube.Discovery().RESTClient().Post().
		AbsPath("/apis/argoproj.io/v1alpha1/namespaces", namespace, "workflows").
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		// Argo's typed client, which KFP uses, names the resource it posted.
		return fmt.Errorf("the server could not find the requested resource (post workflows.argoproj.io)")
	}
	return err
}
