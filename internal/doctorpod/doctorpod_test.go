package doctorpod

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kfp-connect/kfp-connect/internal/probe"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

func spec() Spec {
	return Spec{
		Name:           "doc-1",
		Namespace:      "kubeflow-user-example-com",
		ServiceAccount: "default-editor",
		PullPolicy:     corev1.PullNever,
		Labels:         map[string]string{"access-ml-pipeline": "true"},
		Env:            []corev1.EnvVar{{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/var/run/secrets/kubeflow/pipelines/token"}},
		Volumes:        []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
		Args:           []string{"--host", "http://ml-pipeline-ui.kubeflow"},
	}
}

func TestPodSpec(t *testing.T) {
	s := spec()
	pod, err := Pod(s)
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "doc-1" || pod.Namespace != s.Namespace {
		t.Errorf("pod %s/%s", pod.Namespace, pod.Name)
	}
	for k, v := range map[string]string{"access-ml-pipeline": "true", NameLabel: NameValue, ManagedByLabel: ManagedByValue} {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, pod.Labels[k], v, pod.Labels)
		}
	}
	ps := pod.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever || ps.ServiceAccountName != "default-editor" || ps.AutomountServiceAccountToken != nil {
		t.Errorf("restart %s, sa %q, automount %v", ps.RestartPolicy, ps.ServiceAccountName, ps.AutomountServiceAccountToken)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Name != Container || c.Image != "ghcr.io/kfp-connect/kfp-doctor:dev" || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("container %s image %s pull %s", c.Name, c.Image, c.ImagePullPolicy)
	}
	if got := strings.Join(c.Args, " "); got != "--host http://ml-pipeline-ui.kubeflow -o json" {
		t.Errorf("args %q", got)
	}
	if len(c.Env) != 1 || len(c.VolumeMounts) != 1 || len(ps.Volumes) != 1 || ps.Volumes[0].EmptyDir == nil {
		t.Errorf("env %v mounts %v volumes %v", c.Env, c.VolumeMounts, ps.Volumes)
	}
	if c.Command != nil {
		t.Errorf("command %q: the image's entrypoint is the doctor, there is no shell to run", c.Command)
	}
	// Restricted Pod Security: what a profile namespace may enforce.
	sc, psc := c.SecurityContext, ps.SecurityContext
	if psc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser == 0 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if sc == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v", sc)
	}
	// The caller's slices are not shared with the pod.
	pod.Spec.Containers[0].Args[0] = "changed"
	if s.Args[0] != "--host" {
		t.Errorf("Pod shares the caller's Args")
	}

	s.NoServiceAccountToken = true
	s.Image, s.PullPolicy, s.Name = "example.com/doctor:v1", "", ""
	pod, err = Pod(s)
	if err != nil {
		t.Fatal(err)
	}
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automount %v, want false", a)
	}
	if c := pod.Spec.Containers[0]; c.Image != "example.com/doctor:v1" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s pull %s", c.Image, c.ImagePullPolicy)
	}
	if !strings.HasPrefix(pod.Name, "kfp-doctor-") || len(pod.Name) != len("kfp-doctor-")+6 {
		t.Errorf("generated name %q", pod.Name)
	}
}

func TestJobSpec(t *testing.T) {
	job, err := Job(spec())
	if err != nil {
		t.Fatal(err)
	}
	pod, _ := Pod(spec())
	if job.Kind != "Job" || job.APIVersion != "batch/v1" || job.Name != "doc-1" || job.Namespace != pod.Namespace {
		t.Errorf("job %s %s %s/%s", job.APIVersion, job.Kind, job.Namespace, job.Name)
	}
	if *job.Spec.BackoffLimit != 0 || job.Spec.ActiveDeadlineSeconds == nil || job.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("backoff %d deadline %v ttl %v", *job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds, job.Spec.TTLSecondsAfterFinished)
	}
	tpl := job.Spec.Template
	if tpl.Labels["access-ml-pipeline"] != "true" || tpl.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("template labels %v restart %s", tpl.Labels, tpl.Spec.RestartPolicy)
	}
	if got, want := strings.Join(tpl.Spec.Containers[0].Args, " "), strings.Join(pod.Spec.Containers[0].Args, " "); got != want {
		t.Errorf("job args %q, pod args %q", got, want)
	}
}

func TestSpecRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		msg  string
	}{
		{"no namespace", func(s *Spec) { s.Namespace = "" }, "no namespace"},
		{"bad name", func(s *Spec) { s.Name = "Doc_1" }, `name "Doc_1"`},
		{"text output", func(s *Spec) { s.Args = []string{"-o", "text"} }, `-o "text"`},
		{"junit output", func(s *Spec) { s.Args = []string{"--output=junit"} }, `-o "junit"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec()
			tc.edit(&s)
			if _, err := Pod(s); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Pod: %v, want an error mentioning %q", err, tc.msg)
			}
			if _, err := Job(s); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Job: %v, want an error mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestOutputFlag(t *testing.T) {
	for _, tc := range []struct {
		args  string
		value string
		found bool
	}{
		{"", "", false},
		{"--host h", "", false},
		{"-o json", "json", true},
		{"-ojson", "json", true},
		{"-o=json", "json", true},
		{"--output json", "json", true},
		{"--output=text", "text", true},
		{"-o json -o text", "text", true},
		{"--host -o", "", false}, // -o is --host's value… and then has none of its own
		{"-- -o text", "", false},
	} {
		v, f := outputFlag(strings.Fields(tc.args))
		if v != tc.value || f != tc.found {
			t.Errorf("outputFlag(%q) = %q, %t; want %q, %t", tc.args, v, f, tc.value, tc.found)
		}
	}
}

func reportJSON(t *testing.T) []byte {
	t.Helper()
	rep := &report.Report{Target: "http://ml-pipeline-ui.kubeflow", Results: []probe.Result{{Probe: "healthz", Title: "healthz", Status: probe.Fail, KFD: "KFD010", Message: "dial tcp: lookup ml-pipeline-ui.kubeflow: no such host"}}}
	var b bytes.Buffer
	if err := rep.JSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseLog(t *testing.T) {
	js := reportJSON(t)
	for name, log := range map[string][]byte{
		"report only":           js,
		"a warning before it":   append([]byte("W1201 12:00:00 warning from client-go\n  indented {not json\n"), js...),
		"stderr lines after":    append(append([]byte{}, js...), []byte("kfp-doctor: done\n")...),
		"no newline at the end": bytes.TrimRight(js, "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := ParseLog(log)
			if err != nil {
				t.Fatal(err)
			}
			if d.OK || len(d.Report.Results) != 1 || d.Report.Results[0].KFD != "KFD010" {
				t.Errorf("decoded %+v", d)
			}
		})
	}
	for name, log := range map[string]string{"empty": "", "usage error": "kfp-doctor: -o \"x\": want text, json or junit\n", "no newline": "panic"} {
		if _, err := ParseLog([]byte(log)); !errors.Is(err, ErrNoReport) {
			t.Errorf("%s: %v, want ErrNoReport", name, err)
		}
	}
	if _, err := ParseLog([]byte("{\"schema_version\": \"0\"}\n")); !errors.Is(err, report.ErrSchema) {
		t.Errorf("other schema: %v, want report.ErrSchema", err)
	}
}

func TestTail(t *testing.T) {
	if got := Tail([]byte("a\nb\nc\n"), 2); got != "b\nc" {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail([]byte("a\nb"), 5); got != "a\nb" {
		t.Errorf("Tail = %q", got)
	}
}

// kubelet plays the node on a fake clientset: it waits for the doctor pod
// and sets the status it is given, as a kubelet would report it.
func kubelet(t *testing.T, cs *fake.Clientset, ns string, status corev1.PodStatus) <-chan error {
	t.Helper()
	w, err := cs.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		defer w.Stop()
		for e := range w.ResultChan() {
			if e.Type != watch.Added {
				continue
			}
			p := e.Object.(*corev1.Pod).DeepCopy()
			p.Status = status
			_, err := cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			done <- err
			return
		}
	}()
	return done
}

func terminated(code int32) corev1.PodStatus {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	return corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: Container, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}},
	}}}
}

func assertGone(t *testing.T, cs *fake.Clientset, s Spec) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(s.Namespace).Get(context.Background(), s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("doctor pod still there after Run (get: %v)", err)
	}
}

// The fake clientset's log is the fixed text "fake logs": a doctor that
// exited 1 without a report gives ErrNoReport with its exit code and that
// log, and the pod is deleted.
func TestRunNoReport(t *testing.T) {
	cs := fake.NewClientset()
	s := spec()
	done := kubelet(t, cs, s.Namespace, terminated(2))
	res, err := Run(context.Background(), cs, s, Options{Timeout: 30 * time.Second})
	if e := <-done; e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, ErrNoReport) {
		t.Fatalf("error %v, want ErrNoReport", err)
	}
	if res == nil || res.ExitCode != 2 || res.LogTail != "fake logs" || res.Report != nil || res.Pod != s.Name {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(err.Error(), "exited 2") || !strings.Contains(err.Error(), "fake logs") {
		t.Errorf("error %q names neither the exit code nor the log", err)
	}
	assertGone(t, cs, s)
}

// An image that is not on the node fails at once with the reason and what
// to do, not after the timeout.
func TestRunImageMissing(t *testing.T) {
	cs := fake.NewClientset()
	s := spec()
	done := kubelet(t, cs, s.Namespace, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: Container, Image: "ghcr.io/kfp-connect/kfp-doctor:dev",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: `Container image "ghcr.io/kfp-connect/kfp-doctor:dev" is not present with pull policy of Never`}},
	}}})
	start := time.Now()
	_, err := Run(context.Background(), cs, s, Options{Timeout: time.Minute})
	if e := <-done; e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), "kind load image-archive") {
		t.Fatalf("error %v, want ErrNotStarted saying how to load the image", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v: it waited for the timeout", d)
	}
	assertGone(t, cs, s)
}

// A pod that never ends is given up on at the deadline, with where it got
// to, and deleted.
func TestRunTimeout(t *testing.T) {
	cs := fake.NewClientset()
	s := spec()
	done := kubelet(t, cs, s.Namespace, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available",
	}}})
	_, err := Run(context.Background(), cs, s, Options{Timeout: 2 * time.Second})
	if e := <-done; e != nil {
		t.Fatal(e)
	}
	if err == nil || !strings.Contains(err.Error(), "did not end in time") || !strings.Contains(err.Error(), "Unschedulable") {
		t.Fatalf("error %v, want a timeout naming the pod's state", err)
	}
	assertGone(t, cs, s)
}

func TestRunRefusesBadSpec(t *testing.T) {
	cs := fake.NewClientset()
	s := spec()
	s.Args = []string{"-o", "text"}
	if _, err := Run(context.Background(), cs, s, Options{}); err == nil {
		t.Fatal("no error")
	}
	if l, _ := cs.CoreV1().Pods(s.Namespace).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("a pod was created for a refused spec")
	}
}

// In a mesh the pod keeps running after the doctor ends (its istio-proxy
// sidecar does not stop): the doctor's container ending is the end.
func TestRunEndsWithTheDoctorNotItsSidecar(t *testing.T) {
	cs := fake.NewClientset()
	s := spec()
	done := kubelet(t, cs, s.Namespace, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "istio-proxy", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: Container, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
	}})
	start := time.Now()
	res, err := Run(context.Background(), cs, s, Options{Timeout: time.Minute})
	if e := <-done; e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, ErrNoReport) || res == nil || res.ExitCode != 1 {
		t.Fatalf("result %+v, error %v: want the doctor's exit code read once it ended", res, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v: it waited for the pod, not the doctor", d)
	}
	assertGone(t, cs, s)
}
