package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/redact"
	"github.com/kfp-connect/kfp-connect/internal/report"
)

// Issuer turns cert-manager's Certificates into the Secrets cert-manager
// would write and fills caBundles ((*node.Node).IssueCertificates): a
// cluster without cert-manager.
type Issuer func([]*unstructured.Unstructured) ([]*unstructured.Unstructured, error)

// InstallPodDefaultWebhook installs Kubeflow's own PodDefault webhook
// manifests (kubeflow/manifests applications/admission-webhook, the
// cert-manager overlay, from ../shared/upstream) on a cluster whose pods
// really run, with the certificate issue writes, and waits until the real
// kube-apiserver applies PodDefaults through it. From then on the in-cluster
// cases' pods get their PodDefaults by admission, not from the suite. It
// says why not, and changes nothing, where it cannot: kwok (its apiserver
// must not dial a fake pod IP), a standalone install, no upstream copy.
func (e *Env) InstallPodDefaultWebhook(ctx context.Context, issue Issuer) (why string, err error) {
	switch {
	case !e.RealPods:
		return "the pods do not really run here (kwok): the apiserver must not call a webhook at a fake pod IP", nil
	case e.Scenario.Mode != kubeflow.MultiUser:
		return "standalone KFP has no PodDefaults", nil
	}
	shared, ok := install.FindShared()
	if !ok {
		return "the upstream manifests are absent (" + install.ErrNoUpstream.Error() + ")", nil
	}
	objs, err := install.Kustomize(filepath.Join(shared, "kubeflow-manifests", "applications", "admission-webhook", "upstream", "overlays", "cert-manager"))
	if err != nil {
		return "", err
	}
	if objs, err = issue(objs); err != nil {
		return "", fmt.Errorf("issuing the webhook's certificate: %w", err)
	}
	var workload, hooks []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition": // the fixtures' PodDefault CRD is installed
		case "MutatingWebhookConfiguration":
			hooks = append(hooks, o)
		default:
			workload = append(workload, o)
		}
	}
	if err := manifests.ApplyAll(ctx, e.Config, workload); err != nil {
		return "", fmt.Errorf("applying the PodDefault webhook: %w", err)
	}
	if err := install.WaitReady(ctx, e.Config, kubeflow.Namespace, kubeflow.PodDefaultWebhookDeployment); err != nil {
		return "", err
	}
	// The configuration last: with failurePolicy Fail it refuses every pod
	// in a profile namespace until its server answers.
	if err := manifests.ApplyAll(ctx, e.Config, hooks); err != nil {
		return "", fmt.Errorf("applying the webhook configuration: %w", err)
	}
	if err := e.waitAdmission(ctx); err != nil {
		return "", err
	}
	e.Admission = true
	return "", nil
}

// waitAdmission waits until a labelled pod, created as a server-side dry
// run (admission runs, nothing is stored), comes back with the PodDefault's
// annotation: the apiserver reaches the webhook through its Service.
func (e *Env) waitAdmission(ctx context.Context) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-check-", Namespace: kubeflow.ExampleProfile, Labels: map[string]string{"access-ml-pipeline": "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kfpc.local/none"}}},
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := e.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err
			return false, nil
		}
		for k := range got.Annotations {
			if strings.HasPrefix(k, "poddefault.admission.kubeflow.org/") {
				return true, nil
			}
		}
		last = fmt.Errorf("the pod was admitted without its PodDefault")
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the PodDefault webhook to be called by the apiserver: %w (last: %v)", err, last)
	}
	return nil
}

// refusedByAdmission reports whether the apiserver refused to create a pod
// because a mutating webhook could not be called.
func refusedByAdmission(err error) bool {
	return err != nil && strings.Contains(err.Error(), "failed calling webhook")
}

// doctorFromOutside is what a user whose notebook pod is refused does: run
// kfp-doctor with their kubeconfig for the profile namespace. Its cluster
// probes see what the pod never could.
func (e *Env) doctorFromOutside(ctx context.Context, ns, workdir string, step func(string, ...any)) (*report.Report, error) {
	file := filepath.Join(workdir, "user-kubeconfig")
	if err := writeKubeconfig(e.Config, file); err != nil {
		return nil, err
	}
	step("kfp-doctor --kubeconfig … -n %s from outside the cluster, as the user whose pod does not start", ns)
	var red redact.Redactor
	return doctor.Run(ctx, doctor.Config{Kubeconfig: file, Namespace: ns, Timeout: 20 * time.Second}, doctor.Seams{Getenv: func(string) string { return "" }}, &red)
}
