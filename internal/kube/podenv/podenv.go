// Package podenv computes a container's environment the way the kubelet does,
// from the pod and the cluster's objects: the lab configures its stand-ins
// with it, the doctor reads KFP's settings with it, and the tests check the
// installs with it.
package podenv

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi"
)

// ContainerEnv computes a container's environment the way the kubelet does,
// so that a program is configured exactly as it would be in that pod:
// Service link variables (of the pod's namespace's Services, and always of
// the kubernetes Service), then envFrom, then env with $(VAR) references
// expanded and valueFrom resolved from ConfigMaps, Secrets and the pod's
// own fields.
func ContainerEnv(ctx context.Context, client kubeapi.Interface, pod *corev1.Pod, c *corev1.Container, opts ...Option) (map[string]string, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	env := map[string]string{}
	if !o.noServices {
		if err := serviceLinks(ctx, client, pod, env); err != nil {
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

// Option changes what ContainerEnv computes.
type Option func(*options)

type options struct{ noServices bool }

// WithoutServices leaves out the Service link variables, and so every
// request for Services: for a reader of other variables, who may not be
// allowed to list Services.
func WithoutServices() Option { return func(o *options) { o.noServices = true } }

// serviceLinks adds the kubelet's variables of each Service with a cluster
// IP in the pod's namespace (unless the pod disables service links) and of
// the kubernetes Service in the default namespace (always; a reader not
// allowed to get it goes without): NAME_SERVICE_HOST, NAME_SERVICE_PORT and
// NAME_SERVICE_PORT_<PORT NAME>, and Docker's link variables NAME_PORT and
// NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. The real KFP API server
// exits without ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_HOST, for one.
func serviceLinks(ctx context.Context, client kubeapi.Interface, pod *corev1.Pod, env map[string]string) error {
	var services []corev1.Service
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, err := client.Services(pod.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing services of %s for service links: %w", pod.Namespace, err)
		}
		services = list.Items
	}
	named := map[string]bool{}
	for _, svc := range services {
		named[svc.Name] = true
	}
	// The pod's namespace's own kubernetes Service wins over the master's.
	if !named["kubernetes"] {
		master, err := client.Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil {
			services = append(services, *master)
		} else if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
			return fmt.Errorf("getting the kubernetes service for its service links: %w", err)
		}
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := envName(svc.Name)
		env[prefix+"_SERVICE_HOST"] = ip
		env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		for i, p := range svc.Spec.Ports {
			if p.Name != "" {
				env[prefix+"_SERVICE_PORT_"+envName(p.Name)] = strconv.Itoa(int(p.Port))
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			url := proto + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
			if i == 0 {
				env[prefix+"_PORT"] = url
			}
			pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
			env[pp] = url
			env[pp+"_PROTO"] = proto
			env[pp+"_PORT"] = strconv.Itoa(int(p.Port))
			env[pp+"_ADDR"] = ip
		}
	}
	return nil
}

// envName is a Service's or port's name as the kubelet spells it in a
// variable's name.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

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
