package poddefault

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// accessMLPipeline is the PodDefault Kubeflow's documentation has users
// create (fixtures/kfp/multi-user/60-poddefaults.yaml).
func accessMLPipeline() PodDefault {
	return PodDefault{
		ObjectMeta: metav1.ObjectMeta{Name: "access-ml-pipeline", Namespace: "ns", ResourceVersion: "42"},
		Spec: Spec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"access-ml-pipeline": "true"}},
			Env:      []corev1.EnvVar{{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/var/run/secrets/kubeflow/pipelines/token"}},
			Volumes: []corev1.Volume{{Name: "volume-kf-pipeline-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Path: "token", ExpirationSeconds: ptr.To[int64](7200), Audience: "pipelines.kubeflow.org",
				}}},
			}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "volume-kf-pipeline-token", MountPath: "/var/run/secrets/kubeflow/pipelines", ReadOnly: true}},
		},
	}
}

func pod(labels map[string]string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "main", Image: "img"}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: labels},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

var labelled = map[string]string{"access-ml-pipeline": "true"}

func TestMatching(t *testing.T) {
	pd := accessMLPipeline()
	other := accessMLPipeline()
	other.Namespace = "elsewhere"
	expr := accessMLPipeline()
	expr.Name = "by-expression"
	expr.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}
	everything := accessMLPipeline()
	everything.Name = "everything"
	everything.Spec.Selector = metav1.LabelSelector{}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		list   []PodDefault
		want   []string
	}{
		{"label matches", labelled, []PodDefault{pd}, []string{"access-ml-pipeline"}},
		{"label value differs", map[string]string{"access-ml-pipeline": "false"}, []PodDefault{pd}, nil},
		{"no labels", nil, []PodDefault{pd}, nil},
		{"other namespace never applies", labelled, []PodDefault{other}, nil},
		{"match expressions", map[string]string{"team": "b"}, []PodDefault{pd, expr}, []string{"by-expression"}},
		// An empty selector matches every pod, as a LabelSelector does.
		{"empty selector", nil, []PodDefault{everything}, []string{"everything"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Matching(tc.list, pod(tc.labels))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range got {
				names = append(names, g.Name)
			}
			if diff := cmp.Diff(tc.want, names); diff != "" {
				t.Errorf("matching (-want +got):\n%s", diff)
			}
		})
	}
	bad := accessMLPipeline()
	bad.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Sometimes"}}}
	if _, err := Matching([]PodDefault{bad}, pod(labelled)); err == nil || !strings.Contains(err.Error(), "invalid selector") {
		t.Errorf("invalid selector: err = %v", err)
	}
}

func TestApplyAccessMLPipeline(t *testing.T) {
	p := pod(labelled,
		corev1.Container{Name: "main", Image: "img", Env: []corev1.EnvVar{{Name: "KEEP", Value: "1"}}},
		corev1.Container{Name: "second", Image: "img"},
	)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "img"}}
	pd := accessMLPipeline()
	if err := Apply(p, []PodDefault{pd}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pd.Spec.Volumes, p.Spec.Volumes); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	wantEnv := [][]corev1.EnvVar{
		{{Name: "KEEP", Value: "1"}, pd.Spec.Env[0]}, // the container's own first
		{pd.Spec.Env[0]},
	}
	for i, c := range p.Spec.Containers {
		if diff := cmp.Diff(wantEnv[i], c.Env); diff != "" {
			t.Errorf("container %s env (-want +got):\n%s", c.Name, diff)
		}
		if diff := cmp.Diff(pd.Spec.VolumeMounts, c.VolumeMounts); diff != "" {
			t.Errorf("container %s mounts (-want +got):\n%s", c.Name, diff)
		}
	}
	if ic := p.Spec.InitContainers[0]; ic.Env != nil || ic.VolumeMounts != nil {
		t.Errorf("init container got env %v mounts %v; upstream merges into containers only", ic.Env, ic.VolumeMounts)
	}
	if got := p.Annotations["poddefault.admission.kubeflow.org/poddefault-access-ml-pipeline"]; got != "42" {
		t.Errorf("applied annotation = %q, want the PodDefault's resourceVersion 42", got)
	}
}

func TestApplyEveryField(t *testing.T) {
	pd := PodDefault{
		ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: "ns", ResourceVersion: "7"},
		Spec: Spec{
			ServiceAccountName:           "sa",
			AutomountServiceAccountToken: ptr.To(false),
			EnvFrom:                      []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
			Annotations:                  map[string]string{"a": "1"},
			Labels:                       map[string]string{"l": "1"},
			Tolerations:                  []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}},
			ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "pull"}},
			InitContainers:               []corev1.Container{{Name: "pd-init", Image: "i"}},
			Sidecars:                     []corev1.Container{{Name: "pd-sidecar", Image: "s"}},
			Command:                      []string{"/bin/run"},
			Args:                         []string{"--flag"},
		},
	}
	p := pod(map[string]string{"x": "y"},
		corev1.Container{Name: "main", Image: "img"},
		corev1.Container{Name: "own", Image: "img", Command: []string{"/own"}, Args: []string{}},
		corev1.Container{Name: "istio-proxy", Image: "envoy"},
	)
	if err := Apply(p, []PodDefault{pd}); err != nil {
		t.Fatal(err)
	}
	if p.Spec.ServiceAccountName != "sa" || p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		t.Errorf("serviceAccountName %q automount %v", p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken)
	}
	if diff := cmp.Diff(map[string]string{"x": "y", "l": "1"}, p.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "poddefault.admission.kubeflow.org/poddefault-all": "7"}, p.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pd.Spec.Tolerations, p.Spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pd.Spec.ImagePullSecrets, p.Spec.ImagePullSecrets); diff != "" {
		t.Errorf("imagePullSecrets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pd.Spec.InitContainers, p.Spec.InitContainers); diff != "" {
		t.Errorf("initContainers (-want +got):\n%s", diff)
	}
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"main", "own", "istio-proxy", "pd-sidecar"}, names); diff != "" {
		t.Fatalf("containers (-want +got):\n%s", diff)
	}
	main, own, istio, sidecar := p.Spec.Containers[0], p.Spec.Containers[1], p.Spec.Containers[2], p.Spec.Containers[3]
	if diff := cmp.Diff(pd.Spec.EnvFrom, main.EnvFrom); diff != "" {
		t.Errorf("envFrom (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/bin/run"}, main.Command); diff != "" || !cmp.Equal([]string{"--flag"}, main.Args) {
		t.Errorf("main: command %v args %v, want the PodDefault's", main.Command, main.Args)
	}
	// A container's own command stays; so do its own (empty, not nil) args.
	if !cmp.Equal([]string{"/own"}, own.Command) || own.Args == nil || len(own.Args) != 0 {
		t.Errorf("own: command %v args %#v, want its own kept", own.Command, own.Args)
	}
	if istio.Command != nil || istio.Args != nil {
		t.Errorf("istio-proxy got command %v args %v; upstream never sets them there", istio.Command, istio.Args)
	}
	if istio.EnvFrom == nil {
		t.Error("istio-proxy got no envFrom; upstream skips only command and args for it")
	}
	if sidecar.EnvFrom != nil || sidecar.Command != nil {
		t.Errorf("sidecar got envFrom %v command %v; sidecars join after the merge", sidecar.EnvFrom, sidecar.Command)
	}
}

func TestApplySeveralPodDefaults(t *testing.T) {
	a, b := accessMLPipeline(), accessMLPipeline()
	b.Name, b.ResourceVersion = "second", "9"
	// The same env var, volume and mount, identical: merged once, no conflict.
	b.Spec.Env = append(b.Spec.Env, corev1.EnvVar{Name: "MORE", Value: "x"})
	b.Spec.ServiceAccountName = "later-wins"
	a.Spec.ServiceAccountName = "first"
	p := pod(labelled)
	if err := Apply(p, []PodDefault{a, b}); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Spec.Volumes); n != 1 {
		t.Errorf("%d volumes, want the shared one once", n)
	}
	if diff := cmp.Diff([]corev1.EnvVar{a.Spec.Env[0], {Name: "MORE", Value: "x"}}, p.Spec.Containers[0].Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if p.Spec.ServiceAccountName != "later-wins" {
		t.Errorf("serviceAccountName %q, want the later PodDefault's", p.Spec.ServiceAccountName)
	}
	for _, k := range []string{"poddefault-access-ml-pipeline", "poddefault-second"} {
		if _, ok := p.Annotations[AnnotationPrefix+"/"+k]; !ok {
			t.Errorf("annotation %s missing: %v", k, p.Annotations)
		}
	}
}

func TestApplyConflicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pod    func() *corev1.Pod
		pds    func() []PodDefault
		expect string // part of the conflict message
	}{
		{"env with another value", func() *corev1.Pod {
			return pod(labelled, corev1.Container{Name: "main", Env: []corev1.EnvVar{{Name: "KF_PIPELINES_SA_TOKEN_PATH", Value: "/mine"}}})
		}, func() []PodDefault { return []PodDefault{accessMLPipeline()} }, `container main: PodDefault access-ml-pipeline: env "KF_PIPELINES_SA_TOKEN_PATH"`},
		{"volume with another source", func() *corev1.Pod {
			p := pod(labelled)
			p.Spec.Volumes = []corev1.Volume{{Name: "volume-kf-pipeline-token", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			return p
		}, func() []PodDefault { return []PodDefault{accessMLPipeline()} }, `volume "volume-kf-pipeline-token"`},
		{"mount of the same name elsewhere", func() *corev1.Pod {
			return pod(labelled, corev1.Container{Name: "main", VolumeMounts: []corev1.VolumeMount{{Name: "volume-kf-pipeline-token", MountPath: "/else"}}})
		}, func() []PodDefault { return []PodDefault{accessMLPipeline()} }, `volumeMount "volume-kf-pipeline-token"`},
		{"another mount at the same path", func() *corev1.Pod {
			return pod(labelled, corev1.Container{Name: "main", VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: "/var/run/secrets/kubeflow/pipelines"}}})
		}, func() []PodDefault { return []PodDefault{accessMLPipeline()} }, `volumeMount path "/var/run/secrets/kubeflow/pipelines"`},
		{"two PodDefaults disagree", func() *corev1.Pod { return pod(labelled) }, func() []PodDefault {
			a, b := accessMLPipeline(), accessMLPipeline()
			b.Name = "other"
			b.Spec.Env[0].Value = "/other"
			return []PodDefault{a, b}
		}, `PodDefault other: env "KF_PIPELINES_SA_TOKEN_PATH"`},
		{"label", func() *corev1.Pod { return pod(map[string]string{"access-ml-pipeline": "true", "l": "mine"}) }, func() []PodDefault {
			pd := accessMLPipeline()
			pd.Spec.Labels = map[string]string{"l": "theirs"}
			return []PodDefault{pd}
		}, `label "l"`},
		{"annotation", func() *corev1.Pod {
			p := pod(labelled)
			p.Annotations = map[string]string{"a": "mine"}
			return p
		}, func() []PodDefault {
			pd := accessMLPipeline()
			pd.Spec.Annotations = map[string]string{"a": "theirs"}
			return []PodDefault{pd}
		}, `annotation "a"`},
		{"toleration", func() *corev1.Pod {
			p := pod(labelled)
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "a"}}
			return p
		}, func() []PodDefault {
			pd := accessMLPipeline()
			pd.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
			return []PodDefault{pd}
		}, `toleration "gpu"`},
		{"sidecar named like a container", func() *corev1.Pod { return pod(labelled) }, func() []PodDefault {
			pd := accessMLPipeline()
			pd.Spec.Sidecars = []corev1.Container{{Name: "main", Image: "other"}}
			return []PodDefault{pd}
		}, `container "main"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pod()
			before := p.DeepCopy()
			err := Apply(p, tc.pds())
			var ce *ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a ConflictError", err)
			}
			if !strings.Contains(err.Error(), "conflict occurred while applying poddefaults") || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("error %q lacks %q", err, tc.expect)
			}
			if diff := cmp.Diff(before, p); diff != "" {
				t.Errorf("a refused pod was changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyIdenticalIsNoConflict(t *testing.T) {
	pd := accessMLPipeline()
	p := pod(labelled, corev1.Container{Name: "main", Env: pd.Spec.Env, VolumeMounts: pd.Spec.VolumeMounts})
	p.Spec.Volumes = pd.Spec.Volumes
	// A sidecar identical to a container of the pod is no conflict either.
	pd.Spec.Sidecars = []corev1.Container{*p.Spec.Containers[0].DeepCopy()}
	if err := Apply(p, []PodDefault{pd}); err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers
	if len(c) != 1 || len(c[0].Env) != 1 || len(c[0].VolumeMounts) != 1 || len(p.Spec.Volumes) != 1 {
		t.Errorf("identical items were duplicated: %d containers, env %v, mounts %v, %d volumes", len(c), c[0].Env, c[0].VolumeMounts, len(p.Spec.Volumes))
	}
}

func TestExcluded(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{AnnotationPrefix + "/exclude": "true"}, true},
		{map[string]string{AnnotationPrefix + "/exclude": "false"}, false},
		{map[string]string{corev1.MirrorPodAnnotationKey: "x"}, true},
	} {
		p := pod(labelled)
		p.Annotations = tc.ann
		if got := Excluded(p); got != tc.want {
			t.Errorf("Excluded(%v) = %v, want %v", tc.ann, got, tc.want)
		}
	}
}
