package podenv

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
)

func TestContainerEnv(t *testing.T) {
	optional := true
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pipeline-api-server-config", Namespace: "kubeflow"}, Data: map[string]string{"MULTIUSER": "true", "A": "1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mysql-secret", Namespace: "kubeflow"}, Data: map[string][]byte{"username": []byte("root")}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline", Namespace: "kubeflow"}, Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.8",
			Ports: []corev1.ServicePort{{Name: "http", Port: 8888}, {Name: "grpc", Port: 8887}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "kubeflow"}, Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 1}}}},
	)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-abc", Namespace: "kubeflow", Labels: map[string]string{"app": "ml-pipeline"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "ml-pipeline"},
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "pipeline-api-server-config"}}},
			{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mysql-secret"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: &optional}},
		},
		Env: []corev1.EnvVar{
			{Name: "MULTIUSER", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pipeline-api-server-config"}, Key: "MULTIUSER"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "DB_USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "mysql-secret"}, Key: "username"}}},
			{Name: "MISSING_OPTIONAL_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k", Optional: &optional}}},
			{Name: "MISSING_OPTIONAL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: &optional}}},
			{Name: "KUBEFLOW_USERID_PREFIX", Value: ""},
			{Name: "URL", Value: "http://$(ML_PIPELINE_SERVICE_HOST):$(ML_PIPELINE_SERVICE_PORT)/$(UNKNOWN)$$(KEEP)"},
		},
	}
	env, err := ContainerEnv(context.Background(), fromclientset.Wrap(client), pod, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"MULTIUSER": "true", "POD_NAMESPACE": "kubeflow", "APP": "ml-pipeline", "DB_USER": "root", "CFG_A": "1", "DB_username": "root",
		"ML_PIPELINE_SERVICE_HOST": "10.0.0.8", "ML_PIPELINE_SERVICE_PORT": "8888", "ML_PIPELINE_SERVICE_PORT_GRPC": "8887",
		"KUBEFLOW_USERID_PREFIX": "", "URL": "http://10.0.0.8:8888/$(UNKNOWN)$(KEEP)",
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s = %q (set %t), want %q", k, got, ok, v)
		}
	}
	for _, absent := range []string{"MISSING_OPTIONAL", "MISSING_OPTIONAL_SECRET", "HEADLESS_SERVICE_HOST"} {
		if _, ok := env[absent]; ok {
			t.Errorf("%s must not be set", absent)
		}
	}
	// A required key that is missing is an error, as the kubelet refuses to start the container.
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pipeline-api-server-config"}, Key: "NOPE"}}}}
	if _, err := ContainerEnv(context.Background(), fromclientset.Wrap(client), pod, c); err == nil {
		t.Fatal("a missing required key must fail")
	}
}
