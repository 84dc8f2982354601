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

// The kubelet's service links: every Service of the pod's namespace with a
// cluster IP, Docker's link variables too, and the kubernetes Service of
// the default namespace even when the pod turns links off.
func TestServiceLinksAsTheKubelet(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1",
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ml-pipeline-visualizationserver", Namespace: "kubeflow"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.3.4",
			Ports: []corev1.ServicePort{{Name: "http", Port: 8888, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "kubeflow"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "elsewhere"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.9.9",
			Ports: []corev1.ServicePort{{Port: 1}}}},
	)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "kubeflow"}}
	env, err := ContainerEnv(context.Background(), fromclientset.Wrap(client), pod, &corev1.Container{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_HOST":        "10.96.3.4",
		"ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_PORT":        "8888",
		"ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_PORT_HTTP":   "8888",
		"ML_PIPELINE_VISUALIZATIONSERVER_PORT":                "tcp://10.96.3.4:8888",
		"ML_PIPELINE_VISUALIZATIONSERVER_PORT_8888_TCP":       "tcp://10.96.3.4:8888",
		"ML_PIPELINE_VISUALIZATIONSERVER_PORT_8888_TCP_PROTO": "tcp",
		"ML_PIPELINE_VISUALIZATIONSERVER_PORT_8888_TCP_PORT":  "8888",
		"ML_PIPELINE_VISUALIZATIONSERVER_PORT_8888_TCP_ADDR":  "10.96.3.4",
		"DNS_PORT_53_UDP":         "udp://10.96.0.10:53",
		"KUBERNETES_SERVICE_HOST": "10.96.0.1",
		"KUBERNETES_SERVICE_PORT": "443",
		"KUBERNETES_PORT":         "tcp://10.96.0.1:443",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["OTHER_SERVICE_HOST"]; ok {
		t.Error("a Service of another namespace is linked")
	}
	off := false
	pod.Spec.EnableServiceLinks = &off
	env, err = ContainerEnv(context.Background(), fromclientset.Wrap(client), pod, &corev1.Container{})
	if err != nil {
		t.Fatal(err)
	}
	if env["KUBERNETES_SERVICE_HOST"] != "10.96.0.1" || env["ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_HOST"] != "" {
		t.Errorf("links off: %v; want the kubernetes Service's alone", env)
	}
	if env, _ := ContainerEnv(context.Background(), fromclientset.Wrap(client), pod, &corev1.Container{}, WithoutServices()); len(env) != 0 {
		t.Errorf("WithoutServices: %v", env)
	}
}
