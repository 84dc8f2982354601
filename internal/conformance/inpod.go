package conformance

import (
	"context"
	"fmt"
	"maps"
	"path"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	doctordeploy "github.com/kfp-connect/kfp-connect/deploy/doctor"
	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/doctorpod"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// podHome is HOME in the doctor's pod: where a ContextNamespace fault's
// ~/.config/kfp/context.json is mounted (the root file system is read-only).
const podHome = "/home/kfp"

// inRealPod runs the doctor of an in-cluster path where pods really run: as
// a Pod of the doctor's image with the path's namespace, ServiceAccount,
// labels and env, its token volumes mounted by the kubelet, cluster DNS and
// kube-proxy between it and KFP; the report comes back through its log. The
// client faults become the pod's: another audience or no token volume, a
// token file of a Secret (expired, or bound to a pod since deleted), a
// context.json of a ConfigMap. What each step did goes to step.
func (e *Env) inRealPod(ctx context.Context, p scenarios.Path, cf scenarios.ClientFault, timeout time.Duration, workdir string, step func(string, ...any)) (*report.Report, error) {
	if cf.NoPrefix || cf.ForeignIssuer {
		return nil, fmt.Errorf("path %s: the NoPrefix and ForeignIssuer faults are for out-of-cluster paths", p.Name)
	}
	spec := p.Pod
	// The pod as the user wrote it, then as the PodDefault webhook leaves
	// it (applied by the suite until the webhook runs in the cluster).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: spec.Namespace, Labels: spec.Labels},
		Spec:       corev1.PodSpec{ServiceAccountName: spec.ServiceAccount, Containers: []corev1.Container{{Name: doctorpod.Container}}},
	}
	for k, v := range spec.Env {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: k, Value: v})
	}
	if v := spec.Volume; v != nil {
		addTokenVolume(pod, "kfp-token", v.MountDir, v.Audience, v.ExpirationSeconds)
	}
	tokenFault := cf.NoTokenFile || cf.Audience != "" || cf.ExpiredToken || cf.InvalidateToken
	if e.Admission && !tokenFault {
		step("doctor pod in %s as %s, labels %v; its PodDefaults are the webhook's to apply, at admission", spec.Namespace, spec.ServiceAccount, spec.Labels)
	} else {
		applied, err := e.applyPodDefaults(ctx, pod)
		if err != nil {
			return nil, err
		}
		step("doctor pod in %s as %s, labels %v; PodDefaults applied by the suite: %v", spec.Namespace, spec.ServiceAccount, spec.Labels, applied)
		if e.Admission && len(applied) > 0 {
			// A token fault is a pod whose token volume is wrong: it comes
			// with the PodDefault's volume already there (and changed below),
			// without the selecting label, so the webhook does not apply the
			// PodDefault again and refuse the pod for the conflict.
			pod.Labels = maps.Clone(pod.Labels)
			delete(pod.Labels, accessLabel)
			step("label %s dropped, so admission leaves the pod as the fault made it", accessLabel)
		}
	}
	if err := e.grantDoctor(ctx, spec.Namespace, spec.ServiceAccount); err != nil {
		return nil, err
	}

	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	c := &pod.Spec.Containers[0]
	if err := e.tokenFaults(ctx, pod, cf, step, &cleanups); err != nil {
		return nil, err
	}
	if body := contextJSON(cf); body != "" {
		cm, err := e.Client.CoreV1().ConfigMaps(spec.Namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-context-"},
			Data:       map[string]string{"context.json": body},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating the context.json ConfigMap: %w", err)
		}
		cleanups = append(cleanups, e.deleteLater(func(ctx context.Context) error {
			return e.Client.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		}))
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "kfp-context", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "kfp-context", MountPath: path.Join(podHome, ".config", "kfp"), ReadOnly: true})
		step("~/.config/kfp/context.json holds namespace %q (fault)", cf.ContextNamespace)
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "HOME", Value: podHome})

	args := []string{"--timeout", timeout.String()}
	ns := p.Namespace
	if cf.Namespace != nil {
		ns = *cf.Namespace
	}
	if ns != "" {
		args = append(args, "--namespace", ns)
	}
	switch {
	case cf.NoToken || p.Token.Kind == scenarios.NoToken:
		step("no credentials= passed")
	case p.Token.Path != "":
		args = append(args, "--token-path", p.Token.Path)
		step("credentials=ServiceAccountTokenVolumeCredentials(path=%q)", p.Token.Path)
	default:
		args = append(args, "--volume-credentials")
		step("credentials=ServiceAccountTokenVolumeCredentials()")
	}
	host := p.Host
	if cf.Host != "" {
		host = cf.Host
	}
	if host == "" && (cf.Port != 0 || cf.Suffix != "") {
		return nil, fmt.Errorf("path %s: the Port and Suffix faults change a host, and kfp.Client() is given none", p.Name)
	}
	if cf.Port != 0 {
		host = withPort(host, cf.Port)
	}
	host += cf.Suffix
	if host == "" {
		step("kfp.Client() with no host: the SDK's in-cluster default")
	} else {
		args = append(args, "--host", host)
	}

	res, err := doctorpod.Run(ctx, e.Client, doctorpod.Spec{
		Namespace: spec.Namespace, ServiceAccount: spec.ServiceAccount, Labels: pod.Labels,
		Env: c.Env, Volumes: pod.Spec.Volumes, VolumeMounts: c.VolumeMounts, Args: args,
	}, doctorpod.Options{Timeout: 2 * time.Minute})
	if refusedByAdmission(err) {
		// The pod never exists, so nothing in it can report: the user
		// whose notebook does not start asks the doctor from outside.
		step("the apiserver refused the doctor pod: %v", err)
		return e.doctorFromOutside(ctx, ns, workdir, step)
	}
	if res != nil {
		step("doctor pod %s exited %d", res.Pod, res.ExitCode)
	}
	if err != nil {
		return nil, err
	}
	return res.Report.Report, nil
}

// accessLabel selects the pods Kubeflow's PodDefault mounts the KFP token in.
const accessLabel = "access-ml-pipeline"

// tokenFaults turns the token faults into the pod's volumes.
func (e *Env) tokenFaults(ctx context.Context, pod *corev1.Pod, cf scenarios.ClientFault, step func(string, ...any), cleanups *[]func()) error {
	if !cf.NoTokenFile && cf.Audience == "" && !cf.ExpiredToken && !cf.InvalidateToken {
		return nil
	}
	c := &pod.Spec.Containers[0]
	mounts := c.VolumeMounts[:0:0]
	for _, m := range c.VolumeMounts {
		vol := volumeNamed(pod, m.Name)
		var sat *corev1.ServiceAccountTokenProjection
		if vol != nil && vol.Projected != nil {
			for _, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					sat = src.ServiceAccountToken
				}
			}
		}
		switch {
		case sat == nil:
			mounts = append(mounts, m)
		case cf.NoTokenFile:
			step("token volume %s not mounted (fault)", m.MountPath)
		case cf.Audience != "":
			sat.Audience = cf.Audience
			mounts = append(mounts, m)
			step("token volume %s projected for audience %q (fault)", m.MountPath, cf.Audience)
		default:
			tok, err := e.faultyToken(ctx, pod, sat, cf, step, cleanups)
			if err != nil {
				return err
			}
			secret, err := e.Client.CoreV1().Secrets(pod.Namespace).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-token-"},
				Data:       map[string][]byte{sat.Path: []byte(tok)},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating the token Secret: %w", err)
			}
			*cleanups = append(*cleanups, e.deleteLater(func(ctx context.Context) error {
				return e.Client.CoreV1().Secrets(secret.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{})
			}))
			// The same mount, its file from the Secret: the doctor reads
			// the path the volume would have.
			vol.VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret.Name, DefaultMode: ptr.To[int32](0o444)}}
			mounts = append(mounts, m)
			step("token file %s from a Secret (fault)", path.Join(m.MountPath, sat.Path))
		}
	}
	c.VolumeMounts = mounts
	if cf.NoTokenFile {
		kept := pod.Spec.Volumes[:0:0]
		for _, v := range pod.Spec.Volumes {
			if volumeMounted(c, v.Name) {
				kept = append(kept, v)
			}
		}
		pod.Spec.Volumes = kept
	}
	return nil
}

// faultyToken is an expired token, or one bound to a pod that is then
// deleted (and refused by the cluster before the doctor runs).
func (e *Env) faultyToken(ctx context.Context, pod *corev1.Pod, sat *corev1.ServiceAccountTokenProjection, cf scenarios.ClientFault, step func(string, ...any), cleanups *[]func()) (string, error) {
	if cf.ExpiredToken {
		return jwttest.Mint(jwttest.Token{Namespace: pod.Namespace, ServiceAccount: pod.Spec.ServiceAccountName, Pod: "kfp-doctor",
			Audience: []string{sat.Audience}, Expires: time.Now().Add(-time.Hour)})
	}
	// A pod that never runs (no node matches it), only there to bind a
	// token to; deleted once the token is minted.
	holder, err := e.Client.CoreV1().Pods(pod.Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-token-holder-"},
		Spec: corev1.PodSpec{
			ServiceAccountName: pod.Spec.ServiceAccountName,
			NodeSelector:       map[string]string{"kfp-connect.invalid/no-such-node": "true"},
			Containers:         []corev1.Container{{Name: "holder", Image: "kfp-connect.invalid/never-runs:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating the pod to bind a token to: %w", err)
	}
	gone := false
	*cleanups = append(*cleanups, e.deleteLater(func(ctx context.Context) error {
		if gone {
			return nil
		}
		return e.Client.CoreV1().Pods(holder.Namespace).Delete(ctx, holder.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}))
	tok, err := e.mintBound(ctx, holder, sat.Audience, sat.ExpirationSeconds)
	if err != nil {
		return "", err
	}
	if err := e.Client.CoreV1().Pods(holder.Namespace).Delete(ctx, holder.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		return "", err
	}
	gone = true
	step("pod %s deleted: its tokens must stop working", holder.Name)
	if err := e.waitPodGone(ctx, holder); err != nil {
		return "", err
	}
	if err := e.waitTokenRefused(ctx, tok, sat.Audience); err != nil {
		return "", fmt.Errorf("a token bound to a deleted pod is still accepted: %w", err)
	}
	return tok, nil
}

func volumeMounted(c *corev1.Container, name string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return true
		}
	}
	return false
}

// deleteLater is a clean-up that runs even when the case's context has
// ended, bounded, ignoring what is already gone.
func (e *Env) deleteLater(del func(context.Context) error) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = del(ctx)
	}
}

// doctorClusterRole is the read-only ClusterRole deploy/doctor documents
// for a doctor run in a pod.
const doctorClusterRole = "kfp-doctor"

// grantDoctor gives the path's ServiceAccount the doctor's ClusterRole, as
// the doctor's docs tell a user running it in a pod to (deploy/doctor): its
// cluster probes (the install, endpoints, PodDefaults, KFP's RBAC replay)
// then see what the kwok emulation shows them. It grants nothing of KFP's,
// so a case's KFP answers are the pod's own. Close removes the bindings.
func (e *Env) grantDoctor(ctx context.Context, ns, sa string) error {
	if sa == "" {
		sa = "default"
	}
	name := fmt.Sprintf("kfp-connect-doctor-%s-%s", ns, sa)
	if e.granted[name] {
		return nil
	}
	objs, err := cluster.DecodeManifests("deploy/doctor/rbac.yaml", doctordeploy.RBAC)
	if err != nil {
		return err
	}
	var role *rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && o.GetName() == doctorClusterRole {
			role = &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
				return fmt.Errorf("deploy/doctor/rbac.yaml: %w", err)
			}
		}
	}
	if role == nil {
		return fmt.Errorf("deploy/doctor/rbac.yaml has no ClusterRole %s", doctorClusterRole)
	}
	roles := e.Client.RbacV1().ClusterRoles()
	if _, err := roles.Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the doctor's ClusterRole: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{doctorpod.ManagedByLabel: doctorpod.ManagedByValue}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: doctorClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	if _, err := e.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding the doctor's ClusterRole to %s/%s: %w", ns, sa, err)
	}
	if e.granted == nil {
		e.granted = map[string]bool{}
	}
	e.granted[name] = true
	// The authorizer's cache lags writes: wait until it says yes.
	user := serviceAccountUser(ns, sa)
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		sar, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "services"}}}, metav1.CreateOptions{})
		return err == nil && sar.Status.Allowed, nil
	})
}

// revokeDoctor removes the bindings grantDoctor made (the ClusterRole stays:
// it may be the cluster's own, applied from deploy/doctor).
func (e *Env) revokeDoctor() {
	for name := range e.granted {
		e.deleteLater(func(ctx context.Context) error {
			return e.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		})()
	}
	e.granted = nil
}
