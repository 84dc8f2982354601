package install

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A restarted Deployment is Available before its old pod is gone: the
// install is not settled until the old ReplicaSet's pods and any
// terminating pod are.
func TestWaitSettled(t *testing.T) {
	one := int32(1)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline", Namespace: "kubeflow", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}},
	}
	now := metav1.Now()
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-old", Namespace: "kubeflow", DeletionTimestamp: &now, Finalizers: []string{"test"}}}
	cs := fake.NewClientset(dep, old)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := waitSettled(ctx, cs)
	if err == nil || !strings.Contains(err.Error(), "deployment kubeflow/ml-pipeline has 1 old pod(s)") || !strings.Contains(err.Error(), "pod kubeflow/ml-pipeline-old terminating") {
		t.Fatalf("waitSettled with an old and a terminating pod = %v, want both named", err)
	}

	dep.Status.Replicas = 1
	if _, err := cs.AppsV1().Deployments("kubeflow").UpdateStatus(context.Background(), dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("kubeflow").Delete(context.Background(), old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitSettled(ctx, cs); err != nil {
		t.Fatalf("waitSettled once the rollout is over = %v", err)
	}
}
