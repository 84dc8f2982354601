package fix

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// Verdict is what the server answered for one manifest.
type Verdict struct {
	Manifest Manifest
	DryRun   bool
	Err      error  // nil: accepted
	Answer   string // one line, for the user
}

// Accepted reports whether the server took the manifest.
func (v Verdict) Accepted() bool { return v.Err == nil }

// Send server-side applies each manifest (the same YAML that was printed),
// as a dry run unless dryRun is false. It never sends anything else: no get,
// no delete, no other object.
func Send(ctx context.Context, dyn dynamic.Interface, ms []Manifest, dryRun bool) []Verdict {
	out := make([]Verdict, 0, len(ms))
	for _, m := range ms {
		out = append(out, send(ctx, dyn, m, dryRun))
	}
	return out
}

func send(ctx context.Context, dyn dynamic.Interface, m Manifest, dryRun bool) Verdict {
	v := Verdict{Manifest: m, DryRun: dryRun}
	gvr, err := m.GVR()
	if err != nil {
		v.Err, v.Answer = err, err.Error()
		return v
	}
	body, err := m.Body()
	if err != nil {
		v.Err, v.Answer = err, err.Error()
		return v
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	// Apply, not create: a RoleBinding or PodDefault that exists with other
	// content is updated to what was printed, and a partial object (the
	// Deployment's env entry) merges into the live one.
	_, err = dyn.Resource(gvr).Namespace(m.Object.GetNamespace()).Patch(ctx, m.Object.GetName(), types.ApplyPatchType, body, opts)
	verb := "applied"
	if dryRun {
		verb = "server-side dry-run accepted"
	}
	if err != nil {
		v.Err = fmt.Errorf("%s: %w", m.Describe(), err)
		v.Answer = refusal(err, dryRun)
		return v
	}
	v.Answer = fmt.Sprintf("%s %s", verb, m.Describe())
	return v
}

// refusal says what the server's refusal means for the user.
func refusal(err error, dryRun bool) string {
	what := "refused"
	if dryRun {
		what = "server-side dry-run refused"
	}
	var st apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &st) {
		msg = fmt.Sprintf("%s (%d %s)", st.Status().Message, st.Status().Code, st.Status().Reason)
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Sprintf("%s: %s — your kubeconfig's identity may not write this; ask a cluster admin to apply it", what, msg)
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s: %s — the namespace or the resource type is missing (is this a Kubeflow cluster?)", what, msg)
	case apierrors.IsInvalid(err):
		return fmt.Sprintf("%s: %s", what, msg)
	case apierrors.IsConflict(err):
		return fmt.Sprintf("%s: %s — another manager owns these fields; apply it with kubectl apply --server-side --force-conflicts if that is intended", what, msg)
	}
	return fmt.Sprintf("%s: %s", what, msg)
}
