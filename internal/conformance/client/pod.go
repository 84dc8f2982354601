package client

import (
	"context"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/doctorpod"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/jwttest"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/report"
	"github.com/kfp-connect/kfp-connect/internal/sdkrun"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// podHome is HOME in the doctor's pod: where a context.json is mounted
// (the root file system is read-only).
const podHome = "/home/kfp"

// contextVolume holds a case's context.json; in the notebook pod it is
// mounted at sdkContextDir and copied into the notebook's home.
const (
	contextVolume = "kfp-context"
	sdkContextDir = "/etc/kfp-context"
)

// inPod runs the doctor of an in-cluster path where pods really run: as a
// Pod of the doctor's image (e.DoctorImage) with the path's namespace,
// ServiceAccount, labels and env, its token volumes mounted by the kubelet,
// cluster DNS and kube-proxy between it and KFP; the report comes back
// through its log. The client's files become the pod's: another audience or
// no token volume, a token file of a Secret (expired, or bound to a pod
// since deleted), a context.json of a ConfigMap. Every object it makes
// carries the run's labels and is deleted when the case ends. With sdk and
// a notebook image on the nodes, the real kfp.Client runs at the same time
// in a Pod of that image made as the doctor's is (sdkInPod).
func inPod(ctx context.Context, e *env.Env, c scenarios.Client, workdir string, step Step, sdk *sdkrun.Driver) (*Result, error) {
	spec := c.Pod
	// The pod as the user wrote it, then as the PodDefault webhook leaves
	// it: by admission where the webhook runs, else by the run.
	pod := podOf(spec, doctorpod.Container, e.DoctorImage)
	if e.Admission && !c.TokenFiles.Changed() {
		step("doctor pod in %s as %s, labels %v; its PodDefaults are the webhook's to apply, at admission", spec.Namespace, spec.ServiceAccount, spec.Labels)
	} else {
		applied, err := applyPodDefaults(ctx, e.Dyn, pod)
		if err != nil {
			return nil, err
		}
		step("doctor pod in %s as %s, labels %v; PodDefaults applied by the run: %v", spec.Namespace, spec.ServiceAccount, spec.Labels, applied)
		if e.Admission && len(applied) > 0 {
			// A token fault is a pod whose token volume is wrong: it comes
			// with the PodDefault's volume already there (and changed below),
			// without the selecting label, so the webhook does not apply the
			// PodDefault again and refuse the pod for the conflict.
			pod.Labels = maps.Clone(pod.Labels)
			delete(pod.Labels, kubeflow.AccessLabel)
			step("label %s dropped, so admission leaves the pod as the fault made it", kubeflow.AccessLabel)
		}
	}
	if err := e.GrantDoctor(ctx, spec.Namespace, spec.ServiceAccount); err != nil {
		return nil, err
	}

	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	ctr := &pod.Spec.Containers[0]
	if err := tokenFiles(ctx, e, pod, c.TokenFiles, step, &cleanups); err != nil {
		return nil, err
	}
	if c.ContextFile != nil {
		cm, err := e.Client.CoreV1().ConfigMaps(spec.Namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-context-", Labels: e.Owner.Labels()},
			Data:       map[string]string{"context.json": contextJSON(c.ContextFile)},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating the context.json ConfigMap: %w", err)
		}
		cleanups = append(cleanups, later(func(ctx context.Context) error {
			return e.Client.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		}))
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: contextVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: contextVolume, MountPath: path.Join(podHome, ".config", "kfp"), ReadOnly: true})
		step("~/.config/kfp/context.json holds %v (fault)", c.ContextFile)
	}
	ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "HOME", Value: podHome})

	args := []string{"--timeout", doctorTimeout.String()}
	if c.Namespace != "" {
		args = append(args, "--namespace", c.Namespace)
	}
	switch {
	case c.Token.Kind == scenarios.NoToken:
		step("no credentials= passed")
	case c.Token.Path != "":
		args = append(args, "--token-path", c.Token.Path)
		step("credentials=ServiceAccountTokenVolumeCredentials(path=%q)", c.Token.Path)
	default:
		args = append(args, "--volume-credentials")
		step("credentials=ServiceAccountTokenVolumeCredentials()")
	}
	host := c.Host
	if c.Port != 0 {
		host = withPort(host, c.Port)
	}
	if host == "" {
		step("kfp.Client() with no host: the SDK's in-cluster default")
	} else {
		args = append(args, "--host", host)
	}

	out := &Result{}
	var sdkRuns sync.WaitGroup
	var sdkErr error
	switch {
	case sdk == nil:
	case e.NotebookImage == "":
		out.SDKNotRun = "in a pod: no notebook image on the nodes (it is built where the run creates the cluster: node, kind)"
	default:
		// Beside the doctor's pod: the two wait for their pods together.
		sctx, cancel := context.WithCancel(ctx)
		defer func() {
			cancel()
			sdkRuns.Wait()
		}()
		sdkRuns.Add(1)
		go func() {
			defer sdkRuns.Done()
			sdkErr = sdkInPod(sctx, e, c, host, pod, out)
		}()
	}
	res, err := doctorpod.Run(ctx, e.Client, doctorpod.Spec{
		Namespace: spec.Namespace, ServiceAccount: spec.ServiceAccount, Labels: e.Owner.Label(pod.Labels), Image: e.DoctorImage,
		Env: ctr.Env, Volumes: pod.Spec.Volumes, VolumeMounts: ctr.VolumeMounts, Args: args,
	}, doctorpod.Options{Timeout: 2 * time.Minute})
	if refusedByAdmission(err) {
		// The pod never exists, so nothing in it can report: the user
		// whose notebook does not start asks the doctor from outside.
		step("the apiserver refused the doctor pod: %v", err)
		if out.Report, err = doctorFromOutside(ctx, e, c.Namespace, workdir, step); err != nil {
			return nil, err
		}
	} else {
		if res != nil {
			step("doctor pod %s exited %d", res.Pod, res.ExitCode)
		}
		if err != nil {
			return nil, err
		}
		out.Report = res.Report.Report
	}
	if sdk != nil && e.NotebookImage != "" {
		sdkRuns.Wait()
		if sdkErr != nil {
			return nil, fmt.Errorf("running the real kfp.Client in a pod: %w", sdkErr)
		}
		if out.SDK != nil {
			step("the real kfp.Client in a notebook pod as the same client: %s", out.SDK)
		} else {
			step("the real kfp.Client: %s", out.SDKNotRun)
		}
	}
	return out, nil
}

// sdkInPod runs the real kfp.Client as the path's user would in pod — the
// doctor's pod as the case made it (namespace, ServiceAccount, labels, env,
// volumes) — in a Pod of the notebook image, and records its outcome in
// out. A pod the apiserver refuses holds no client: that is recorded as not
// run, as the doctor then answers from outside.
func sdkInPod(ctx context.Context, e *env.Env, c scenarios.Client, host string, pod *corev1.Pod, out *Result) error {
	sc := forTheMatrix(sdkrun.Case{Host: host, Namespace: c.Namespace, Credentials: sdkCredentials(c.Token, c.Token.Path)})
	// The notebook's own home, writable (the SDK stores the namespace in
	// context.json there); a context.json the case gives is copied into it.
	ctr := pod.Spec.Containers[0]
	env := make([]corev1.EnvVar, 0, len(ctr.Env))
	for _, v := range ctr.Env {
		if v.Name != "HOME" {
			env = append(env, v)
		}
	}
	env = append(env, corev1.EnvVar{Name: "HOME", Value: images.NotebookHome})
	mounts := slices.Clone(ctr.VolumeMounts)
	for i, m := range mounts {
		if m.Name == contextVolume {
			mounts[i].MountPath = sdkContextDir
			sc.ContextFile = path.Join(sdkContextDir, "context.json")
		}
	}
	args, err := sc.PodArgs(images.NotebookDriver)
	if err != nil {
		return err
	}
	nb := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-sdk-", Namespace: pod.Namespace, Labels: e.Owner.Label(pod.Labels)},
		Spec: corev1.PodSpec{
			ServiceAccountName: pod.Spec.ServiceAccountName, RestartPolicy: corev1.RestartPolicyNever,
			Volumes: slices.Clone(pod.Spec.Volumes),
			Containers: []corev1.Container{{Name: "notebook", Image: e.NotebookImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
				Env: env, VolumeMounts: mounts,
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}}},
		},
	}
	// The SDK's own bounds, the pod's start and its end.
	run, err := doctorpod.RunPod(ctx, e.Client, nb, doctorpod.Options{Timeout: sc.Wait() + time.Minute})
	if refusedByAdmission(err) {
		out.SDKNotRun = "the apiserver refused the notebook pod too, so no kfp.Client was made"
		return nil
	}
	if err != nil {
		return err
	}
	out.SDK, err = sdkrun.ParseOutcome(run.Log)
	return err
}

// tokenFiles makes the pod's projected token volumes hold what files says:
// unmounted, projected for another audience, or a Secret's token file at
// the same path (expired, or bound to a pod since deleted).
func tokenFiles(ctx context.Context, e *env.Env, pod *corev1.Pod, files scenarios.TokenFiles, step Step, cleanups *[]func()) error {
	if !files.Changed() {
		return nil
	}
	ctr := &pod.Spec.Containers[0]
	mounts := ctr.VolumeMounts[:0:0]
	for _, m := range ctr.VolumeMounts {
		vol := volumeNamed(pod, m.Name)
		sat := tokenProjection(vol)
		switch {
		case sat == nil:
			mounts = append(mounts, m)
		case files.Missing:
			step("token volume %s not mounted (fault)", m.MountPath)
		case files.Audience != "":
			sat.Audience = files.Audience
			mounts = append(mounts, m)
			step("token volume %s projected for audience %q (fault)", m.MountPath, files.Audience)
		default:
			tok, err := faultyToken(ctx, e, pod, sat, files, step, cleanups)
			if err != nil {
				return err
			}
			secret, err := e.Client.CoreV1().Secrets(pod.Namespace).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-token-", Labels: e.Owner.Labels()},
				Data:       map[string][]byte{sat.Path: []byte(tok)},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating the token Secret: %w", err)
			}
			*cleanups = append(*cleanups, later(func(ctx context.Context) error {
				return e.Client.CoreV1().Secrets(secret.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{})
			}))
			// The same mount, its file from the Secret: the doctor reads
			// the path the volume would have.
			vol.VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret.Name, DefaultMode: ptr.To[int32](0o444)}}
			mounts = append(mounts, m)
			step("token file %s from a Secret (fault)", path.Join(m.MountPath, sat.Path))
		}
	}
	ctr.VolumeMounts = mounts
	if files.Missing {
		kept := pod.Spec.Volumes[:0:0]
		for _, v := range pod.Spec.Volumes {
			for _, m := range ctr.VolumeMounts {
				if m.Name == v.Name {
					kept = append(kept, v)
					break
				}
			}
		}
		pod.Spec.Volumes = kept
	}
	return nil
}

// faultyToken is an expired token, or one bound to a pod that is then
// deleted (and refused by the cluster before the doctor runs).
func faultyToken(ctx context.Context, e *env.Env, pod *corev1.Pod, sat *corev1.ServiceAccountTokenProjection, files scenarios.TokenFiles, step Step, cleanups *[]func()) (string, error) {
	if files.Expired {
		return jwttest.Mint(jwttest.Token{Namespace: pod.Namespace, ServiceAccount: pod.Spec.ServiceAccountName, Pod: "kfp-doctor",
			Audience: []string{sat.Audience}, Expires: time.Now().Add(-time.Hour)})
	}
	// A pod that never runs (no node matches it), only there to bind a
	// token to; deleted once the token is minted.
	holder, err := e.Client.CoreV1().Pods(pod.Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kfp-token-holder-", Labels: e.Owner.Labels()},
		Spec: corev1.PodSpec{
			ServiceAccountName: pod.Spec.ServiceAccountName,
			NodeSelector:       map[string]string{"kfp-connect.invalid/no-such-node": "true"},
			Containers:         []corev1.Container{{Name: "holder", Image: "kfp-connect.invalid/never-runs:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating the pod to bind a token to: %w", err)
	}
	deleteHolder := func(ctx context.Context) error {
		return e.Client.CoreV1().Pods(holder.Namespace).Delete(ctx, holder.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}
	*cleanups = append(*cleanups, later(deleteHolder))
	tok, err := mintBound(ctx, e.Client, holder, sat.Audience, sat.ExpirationSeconds)
	if err != nil {
		return "", err
	}
	if err := deleteHolder(ctx); err != nil {
		return "", err
	}
	step("pod %s deleted: its tokens must stop working", holder.Name)
	if err := waitPodGone(ctx, e.Client, holder); err != nil {
		return "", err
	}
	if err := waitTokenRefused(ctx, e.Client, tok, sat.Audience); err != nil {
		return "", fmt.Errorf("a token bound to a deleted pod is still accepted: %w", err)
	}
	return tok, nil
}

// refusedByAdmission reports whether the apiserver refused to create a pod
// because a mutating webhook could not be called.
func refusedByAdmission(err error) bool {
	return err != nil && strings.Contains(err.Error(), "failed calling webhook")
}

// doctorFromOutside is what a user whose notebook pod is refused does: run
// kfp-doctor with their kubeconfig for the profile namespace. Its cluster
// probes see what the pod never could.
func doctorFromOutside(ctx context.Context, e *env.Env, ns, workdir string, step Step) (*report.Report, error) {
	file := filepath.Join(workdir, "user-kubeconfig")
	if err := writeKubeconfig(e.Config, file); err != nil {
		return nil, err
	}
	step("kfp-doctor --kubeconfig … -n %s from outside the cluster, as the user whose pod does not start", ns)
	call := &doctorCall{Config: doctor.Config{Kubeconfig: file, Namespace: ns, Timeout: 20 * time.Second}, Seams: doctor.Seams{Getenv: func(string) string { return "" }}}
	return call.run(ctx)
}
