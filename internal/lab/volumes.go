package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/lab/sandbox"
)

// serviceAccountDir is where the kubelet mounts the pod's own API token.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// volumeFiles is what the kubelet writes for the container's mounts.
type volumeFiles struct {
	client kubernetes.Interface
	pod    *corev1.Pod
	root   string // the pod's directory; volumes go under root/volumes
	// mint returns a token for the pod's ServiceAccount, bound to the pod,
	// with the audience and lifetime of a projected serviceAccountToken
	// source (empty audience: the API server's).
	mint func(ctx context.Context, audience string, seconds int64) (string, error)
	// ca is the cluster's CA bundle, for the kube-api-access mount.
	ca []byte
}

// write writes every volume the container mounts and returns the mounts:
// each volume's directory (or its subPath) at its mount path, read-only
// where the kubelet mounts it so (API data: configMap, secret, projected,
// downwardAPI) or the mount asks. The pod's own API token is mounted at
// serviceAccountDir unless the pod opts out, as the kubelet does.
func (v volumeFiles) write(ctx context.Context, c *corev1.Container) ([]sandbox.Mount, error) {
	var mounts []sandbox.Mount
	saTaken := false
	for _, m := range c.VolumeMounts {
		vol := volumeByName(v.pod, m.Name)
		if vol == nil {
			return nil, fmt.Errorf("container %s mounts volume %q, which the pod does not declare", c.Name, m.Name)
		}
		dir := filepath.Join(v.root, "volumes", m.Name)
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			files, err := v.files(ctx, vol)
			if err != nil {
				return nil, fmt.Errorf("volume %q of %s/%s: %w", m.Name, v.pod.Namespace, v.pod.Name, err)
			}
			if err := writeFiles(dir, files); err != nil {
				return nil, err
			}
		}
		host := dir
		if m.SubPath != "" {
			host = filepath.Join(dir, filepath.Clean("/" + m.SubPath)[1:])
		}
		apiData := vol.ConfigMap != nil || vol.Secret != nil || vol.Projected != nil || vol.DownwardAPI != nil
		target := filepath.Clean(m.MountPath)
		saTaken = saTaken || target == serviceAccountDir
		mounts = append(mounts, sandbox.Mount{Source: host, Target: target, ReadOnly: m.ReadOnly || apiData})
	}
	if !saTaken && (v.pod.Spec.AutomountServiceAccountToken == nil || *v.pod.Spec.AutomountServiceAccountToken) {
		token, err := v.mint(ctx, "", 3607)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(v.root, "volumes", "kube-api-access")
		if err := writeFiles(dir, map[string]string{"token": token, "ca.crt": string(v.ca), "namespace": v.pod.Namespace}); err != nil {
			return nil, err
		}
		mounts = append(mounts, sandbox.Mount{Source: dir, Target: serviceAccountDir, ReadOnly: true})
	}
	return mounts, nil
}

// files is a volume's content by relative path.
func (v volumeFiles) files(ctx context.Context, vol *corev1.Volume) (map[string]string, error) {
	switch {
	case vol.ConfigMap != nil:
		return v.objectFiles(ctx, "configmap", vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.Optional)
	case vol.Secret != nil:
		return v.objectFiles(ctx, "secret", vol.Secret.SecretName, vol.Secret.Items, vol.Secret.Optional)
	case vol.EmptyDir != nil:
		return map[string]string{}, nil
	case vol.DownwardAPI != nil:
		return v.downwardFiles(vol.DownwardAPI.Items)
	case vol.Projected != nil:
		out := map[string]string{}
		for _, src := range vol.Projected.Sources {
			var part map[string]string
			var err error
			switch {
			case src.ServiceAccountToken != nil:
				secs := int64(3600)
				if src.ServiceAccountToken.ExpirationSeconds != nil {
					secs = *src.ServiceAccountToken.ExpirationSeconds
				}
				var tok string
				tok, err = v.mint(ctx, src.ServiceAccountToken.Audience, secs)
				part = map[string]string{src.ServiceAccountToken.Path: tok}
			case src.ConfigMap != nil:
				part, err = v.objectFiles(ctx, "configmap", src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
			case src.Secret != nil:
				part, err = v.objectFiles(ctx, "secret", src.Secret.Name, src.Secret.Items, src.Secret.Optional)
			case src.DownwardAPI != nil:
				part, err = v.downwardFiles(src.DownwardAPI.Items)
			default:
				err = fmt.Errorf("projected source %+v is not supported by the lab", src)
			}
			if err != nil {
				return nil, err
			}
			for k, s := range part {
				out[k] = s
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("volume %q: only configMap, secret, emptyDir and projected volumes are supported by the lab", vol.Name)
}

// objectFiles are a ConfigMap's (data and binaryData) or Secret's keys as
// files, or just the listed items at their paths.
func (v volumeFiles) objectFiles(ctx context.Context, kind, name string, items []corev1.KeyToPath, optional *bool) (map[string]string, error) {
	data := map[string]string{}
	var err error
	if kind == "secret" {
		var s *corev1.Secret
		if s, err = v.client.CoreV1().Secrets(v.pod.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			for k, b := range s.Data {
				data[k] = string(b)
			}
		}
	} else {
		var cm *corev1.ConfigMap
		if cm, err = v.client.CoreV1().ConfigMaps(v.pod.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			for k, s := range cm.Data {
				data[k] = s
			}
			for k, b := range cm.BinaryData {
				data[k] = string(b)
			}
		}
	}
	switch {
	case apierrors.IsNotFound(err) && optional != nil && *optional:
		return map[string]string{}, nil
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if len(items) == 0 {
		return data, nil
	}
	out := map[string]string{}
	for _, it := range items {
		s, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s %s has no key %q", kind, name, it.Key)
		}
		out[it.Path] = s
	}
	return out, nil
}

// downwardFiles are the pod's fields as files (resource fields are not
// supported: nothing the lab runs reads them).
func (v volumeFiles) downwardFiles(items []corev1.DownwardAPIVolumeFile) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI item %q: only fieldRef is supported by the lab", it.Path)
		}
		val, _, err := podenv.FieldValue(v.pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		out[it.Path] = val
	}
	return out, nil
}

// writeFiles writes files under dir, refusing paths that leave it.
func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := filepath.Clean("/" + n)[1:]
		if clean == "" || strings.HasPrefix(clean, "..") {
			return fmt.Errorf("volume file %q is outside its volume", n)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func volumeByName(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}
