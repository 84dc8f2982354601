package client

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/credentials"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/kube/svcdial"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// asPod runs the doctor of an in-cluster path where pods are fake (kwok):
// in this process, as the pod. The pod is created (as the admission
// webhook would leave it) so its identity is real; its projected tokens
// are minted bound to it and written under a private root, as the kubelet
// would; its env is what the kubelet would give; Services are reached
// through the cluster's own objects, as its DNS and kube-proxy would.
// With sdk, the real kfp.Client then runs as the same pod: its files, its
// env, and its connections to cluster names through the same dialer.
func asPod(ctx context.Context, e *env.Env, c scenarios.Client, workdir string, step Step, sdk *sdkrun.Driver) (*Result, error) {
	spec := c.Pod
	pod := podOf(spec, "client", "kfp-connect.invalid/kfp-client:test")
	pod.GenerateName = "client-"
	pod.Labels = e.Owner.Label(spec.Labels)
	applied, err := applyPodDefaults(ctx, e.Dyn, pod)
	if err != nil {
		return nil, err
	}
	step("pod in %s as %s, labels %v; PodDefaults applied: %v", spec.Namespace, spec.ServiceAccount, spec.Labels, applied)
	created, err := e.Client.CoreV1().Pods(spec.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the client pod: %w", err)
	}
	zero := int64(0)
	deletePod := later(func(ctx context.Context) error {
		return e.Client.CoreV1().Pods(created.Namespace).Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	defer deletePod()
	if err := waitPodRunning(ctx, e.Client, created); err != nil {
		return nil, err
	}

	root := filepath.Join(workdir, created.Name)
	var lastToken, lastAudience string
	// The projected token volumes, as the kubelet would write them.
	for _, m := range created.Spec.Containers[0].VolumeMounts {
		sat := tokenProjection(volumeNamed(created, m.Name))
		if sat == nil {
			continue
		}
		if c.TokenFiles.Missing {
			step("token volume %s not mounted (fault)", m.MountPath)
			continue
		}
		aud := sat.Audience
		if c.TokenFiles.Audience != "" {
			aud = c.TokenFiles.Audience
		}
		var tok string
		if c.TokenFiles.Expired {
			tok, err = jwttest.Mint(jwttest.Token{Namespace: created.Namespace, ServiceAccount: created.Spec.ServiceAccountName, Pod: created.Name,
				Audience: []string{aud}, Expires: time.Now().Add(-time.Hour)})
		} else {
			tok, err = mintBound(ctx, e.Client, created, aud, sat.ExpirationSeconds)
			lastToken, lastAudience = tok, aud
		}
		if err != nil {
			return nil, err
		}
		file := filepath.Join(root, m.MountPath, sat.Path)
		if err := writeFiles(filepath.Dir(file), map[string]string{filepath.Base(file): tok}); err != nil {
			return nil, err
		}
		step("token for audience %q written to %s", aud, path.Join(m.MountPath, sat.Path))
	}

	call := newCall(c)
	podEnv, err := podenv.ContainerEnv(ctx, fromclientset.Wrap(e.Client), created, &created.Spec.Containers[0])
	if err != nil {
		return nil, err
	}
	podEnv["KUBERNETES_SERVICE_HOST"], podEnv["KUBERNETES_SERVICE_PORT"] = "10.0.0.1", "443"
	podEnv["HOSTNAME"] = created.Name
	if v, ok := podEnv[credentials.TokenPathEnv]; ok {
		podEnv[credentials.TokenPathEnv] = filepath.Join(root, v)
	}
	// The kubelet's ServiceAccount mount: kfp.Client() reads its namespace
	// file, and load_incluster_config() needs it to count as in a pod. The
	// in-cluster client config is the run's own: the cases check what the
	// doctor concludes in a pod, not the pod's RBAC on kubeflow.
	saDir := filepath.Join(root, discover.ServiceAccountDir)
	if err := writeFiles(saDir, map[string]string{"token": "kubelet-mounted-placeholder", "namespace": created.Namespace, "ca.crt": string(e.Config.CAData)}); err != nil {
		return nil, err
	}
	call.ServiceAccountDir = saDir
	call.InClusterConfig = func() (*rest.Config, error) { return rest.CopyConfig(e.Config), nil }
	// The SDK's ~/.config/kfp/context.json lives under the pod's HOME.
	podEnv["HOME"] = filepath.Join(root, "home")
	if c.ContextFile != nil {
		if err := writeFiles(filepath.Join(podEnv["HOME"], ".config", "kfp"), map[string]string{"context.json": contextJSON(c.ContextFile)}); err != nil {
			return nil, err
		}
		step("~/.config/kfp/context.json holds %v (fault)", c.ContextFile)
	}
	call.Getenv = func(k string) string { return podEnv[k] }
	call.DefaultTokenPath = filepath.Join(root, credentials.DefaultTokenPath)
	// The credentials the call passes, in the SDK's terms.
	switch {
	case c.Token.Kind == scenarios.NoToken:
		step("no credentials= passed")
	case c.Token.Path != "":
		call.TokenPath = filepath.Join(root, c.Token.Path)
		step("credentials=ServiceAccountTokenVolumeCredentials(path=%q)", c.Token.Path)
	default:
		call.VolumeCredentials = true
		step("credentials=ServiceAccountTokenVolumeCredentials()")
	}
	dialer, err := svcdial.New(e.Config, created.Namespace)
	if err != nil {
		return nil, err
	}
	defer dialer.Close()
	// The client's connections are its pod's: through the sidecars of the
	// pods it calls, from its pod's address (which they know it by).
	dialer.ThroughSidecars = true
	if running, err := e.Client.CoreV1().Pods(created.Namespace).Get(ctx, created.Name, metav1.GetOptions{}); err == nil {
		dialer.Source, _ = netip.ParseAddr(running.Status.PodIP)
	}
	call.Dial = dialer.DialContext
	call.Host = c.Host
	if c.Port != 0 {
		call.Host = withPort(call.Host, c.Port)
	}
	if call.Host == "" {
		step("kfp.Client() with no host: the SDK's in-cluster default")
	}
	if c.TokenFiles.BoundToDeletedPod {
		deletePod()
		step("pod %s deleted: its tokens must stop working", created.Name)
		if err := waitPodGone(ctx, e.Client, created); err != nil {
			return nil, err
		}
		if lastToken != "" {
			if err := waitTokenRefused(ctx, e.Client, lastToken, lastAudience); err != nil {
				return nil, fmt.Errorf("a token bound to a deleted pod is still accepted: %w", err)
			}
		}
	}
	return runWithSDK(ctx, call, sdk, step, "in the same (emulated) pod", func() (sdkrun.Case, func(), error) {
		sc := sdkrun.Case{Host: call.Host, Namespace: c.Namespace, Env: podEnv, Write: call.CheckWrite,
			Credentials: sdkCredentials(c.Token, call.TokenPath),
			Pod:         &sdkrun.Pod{ServiceAccountDir: saDir, TokenDefaultPath: call.DefaultTokenPath}}
		dialMap, closeForwarders, err := sdkrun.Forwarders(ctx, dialer.DialContext, sdkDials(call.Host, c.Namespace))
		sc.Pod.Dial = dialMap
		return sc, closeForwarders, err
	})
}

// sdkDials are the addresses the SDK in a pod may dial, as it names them:
// the host's, or with no host its in-cluster default, which it formats
// with the namespace keyword (kfp.Client(namespace="team-a") dials
// ml-pipeline.team-a.svc.cluster.local).
func sdkDials(host, namespace string) []string {
	if namespace == "" {
		namespace = kubeflow.Namespace
	}
	addrs := []string{net.JoinHostPort(fmt.Sprintf("%s.%s.svc.cluster.local", kubeflow.APIServer, namespace), "8888")}
	if u, err := url.Parse(host); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		addrs = append(addrs, net.JoinHostPort(u.Hostname(), port))
	}
	return addrs
}
