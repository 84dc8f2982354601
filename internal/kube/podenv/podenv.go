// Package podenv computes a container's environment the way the kubelet does,
// from the pod and the cluster's objects: the lab configures its stand-ins
// with it, the doctor reads KFP's settings with it, and the tests check the
// installs with it.
package podenv

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContainerEnv computes a container's environment the way the kubelet does,
// so that a program is configured exactly as it would be in that pod:
// Service link variables of the pod's namespace, then envFrom, then
// env with $(VAR) references expanded and valueFrom resolved from ConfigMaps,
// Secrets and the pod's own fields.
func ContainerEnv(ctx context.Context, client kubeapi.Interface, pod *corev1.Pod, c *corev1.Container) (map[string]string, error) {
	return ContainerEnvVia(ctx, client, pod, c, nil)
}

// LinkMapper says where a Service port is for the process being configured:
// a host and port in place of the ClusterIP and the Service's port.
type LinkMapper func(svc *corev1.Service, port corev1.ServicePort) (host string, hostPort int32, err error)

// ContainerEnvVia is ContainerEnv for a process that reaches Services
// elsewhere than at their ClusterIPs (the lab's processes reach them through
// loopback forwarders): via maps each service-link address before env
// values that reference it are expanded. Nil keeps the ClusterIPs.
func ContainerEnvVia(ctx context.Context, client kubeapi.Interface, pod *corev1.Pod, c *corev1.Container, via LinkMapper) (map[string]string, error) {
	env := map[string]string{}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		if err := serviceLinks(ctx, client, pod.Namespace, env, via); err != nil {
			return nil, err
		}
	}
	for _, from := range c.EnvFrom {
		data, err := sourceData(ctx, client, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = Expand(e.Value, env)
			continue
		}
		v, ok, err := valueFrom(ctx, client, pod, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s of %s/%s: %w", e.Name, pod.Namespace, pod.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

// serviceLinks adds NAME_SERVICE_HOST / _PORT / _PORT_<PORTNAME> for every
// Service with a cluster IP in the namespace (the UI server finds the API
// server through ML_PIPELINE_SERVICE_HOST and _PORT).
func serviceLinks(ctx context.Context, client kubeapi.Interface, ns string, env map[string]string, via LinkMapper) error {
	list, err := client.Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing services of %s for service links: %w", ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for _, svc := range list.Items {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		host, ports := ip, make([]int32, len(svc.Spec.Ports))
		for i, p := range svc.Spec.Ports {
			ports[i] = p.Port
			if via != nil {
				h, hp, err := via(&svc, p)
				if err != nil {
					return err
				}
				host, ports[i] = h, hp
			}
		}
		env[prefix+"_SERVICE_HOST"] = host
		env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(ports[0]))
		for i, p := range svc.Spec.Ports {
			if p.Name != "" {
				env[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(ports[i]))
			}
		}
	}
	return nil
}

func sourceData(ctx context.Context, client kubeapi.Interface, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	var data map[string]string
	var err error
	switch {
	case from.ConfigMapRef != nil:
		data, _, err = ObjectData(ctx, client, ns, "configmap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
	case from.SecretRef != nil:
		data, _, err = ObjectData(ctx, client, ns, "secret", from.SecretRef.Name, from.SecretRef.Optional)
	}
	if err != nil {
		return nil, fmt.Errorf("envFrom %w", err)
	}
	return data, nil
}

func valueFrom(ctx context.Context, client kubeapi.Interface, pod *corev1.Pod, src *corev1.EnvVarSource) (string, bool, error) {
	var kind, name, key string
	var optional *bool
	switch {
	case src.FieldRef != nil:
		return FieldValue(pod, src.FieldRef.FieldPath)
	case src.ConfigMapKeyRef != nil:
		kind, name, key, optional = "configmap", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, src.ConfigMapKeyRef.Optional
	case src.SecretKeyRef != nil:
		kind, name, key, optional = "secret", src.SecretKeyRef.Name, src.SecretKeyRef.Key, src.SecretKeyRef.Optional
	default:
		// resourceFieldRef: limits mean nothing to a stand-in.
		return "", false, nil
	}
	data, found, err := ObjectData(ctx, client, pod.Namespace, kind, name, optional)
	if err != nil || !found {
		return "", false, err
	}
	v, ok := data[key]
	if !ok && !isTrue(optional) {
		return "", false, fmt.Errorf("%s %s has no key %s", kind, name, key)
	}
	return v, ok, nil
}

// ObjectData reads a ConfigMap's ("configmap") or Secret's ("secret") data
// as strings (a ConfigMap's data only, as env reads it). An optional object that does not exist is not found, without an error, as the
// kubelet treats it.
func ObjectData(ctx context.Context, client kubeapi.Interface, ns, kind, name string, optional *bool) (map[string]string, bool, error) {
	var data map[string]string
	var err error
	if kind == "secret" {
		var s *corev1.Secret
		if s, err = client.Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
	} else {
		var cm *corev1.ConfigMap
		if cm, err = client.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = cm.Data
		}
	}
	switch {
	case apierrors.IsNotFound(err) && isTrue(optional):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return data, true, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// FieldValue is a fieldRef of the pod (env valueFrom, downwardAPI volumes).
func FieldValue(pod *corev1.Pod, path string) (string, bool, error) {
	switch path {
	case "metadata.name":
		return pod.Name, true, nil
	case "metadata.namespace":
		return pod.Namespace, true, nil
	case "metadata.uid":
		return string(pod.UID), true, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, true, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, true, nil
	case "status.podIP":
		return pod.Status.PodIP, true, nil
	case "status.hostIP":
		return pod.Status.HostIP, true, nil
	}
	for _, kind := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if key, ok := strings.CutPrefix(path, kind.prefix); ok {
			v, found := kind.m[strings.TrimSuffix(key, "']")]
			return v, found, nil
		}
	}
	return "", false, fmt.Errorf("unsupported fieldRef %q", path)
}

// Expand replaces $(VAR) with earlier variables; $$( escapes, and unknown
// references stay as written, as in the kubelet (also for command and args).
func Expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$(") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			if s[i+1] == '$' {
				b.WriteByte('$')
				i++
				continue
			}
			if s[i+1] == '(' {
				if end := strings.IndexByte(s[i:], ')'); end > 0 {
					name := s[i+2 : i+end]
					if v, ok := env[name]; ok {
						b.WriteString(v)
						i += end
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
