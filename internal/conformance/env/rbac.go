package env

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	doctordeploy "github.com/kfp-connect/kfp-connect/deploy/doctor"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
)

// doctorClusterRole is the read-only ClusterRole deploy/doctor documents
// for a doctor run in a pod.
const doctorClusterRole = "kfp-doctor"

// GrantDoctor gives the ServiceAccount ns/sa the doctor's read-only
// ClusterRole, as the doctor's docs tell a user running it in a pod to
// (deploy/doctor): its cluster probes (the install, endpoints, PodDefaults,
// KFP's RBAC replay) then see the install. It grants nothing of KFP's, so a
// case's KFP answers are the pod's own. The ClusterRole is created where
// the cluster lacks it; both are labelled as the run's, and Close (or the
// run's sweep) removes them.
func (e *Env) GrantDoctor(ctx context.Context, ns, sa string) error {
	if sa == "" {
		sa = "default"
	}
	name := fmt.Sprintf("kfp-connect-doctor-%s-%s", ns, sa)
	if e.granted[name] {
		return nil
	}
	objs, err := manifests.Decode("deploy/doctor/rbac.yaml", doctordeploy.RBAC)
	if err != nil {
		return err
	}
	var role *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && o.GetName() == doctorClusterRole {
			role = o
		}
	}
	if role == nil {
		return fmt.Errorf("deploy/doctor/rbac.yaml has no ClusterRole %s", doctorClusterRole)
	}
	if _, err := e.createIfAbsent(ctx, role); err != nil {
		return fmt.Errorf("the doctor's ClusterRole: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: doctorClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(binding)
	if err != nil {
		return err
	}
	if _, err := e.createIfAbsent(ctx, &unstructured.Unstructured{Object: u}); err != nil {
		return fmt.Errorf("binding the doctor's ClusterRole to %s/%s: %w", ns, sa, err)
	}
	if e.granted == nil {
		e.granted = map[string]bool{}
	}
	e.granted[name] = true
	// The authorizer's cache lags writes: wait until it says yes.
	user := ServiceAccountUser(ns, sa)
	return wait.PollUntilContextTimeout(ctx, poll, time.Minute, true, func(ctx context.Context) (bool, error) {
		sar, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "services"}}}, metav1.CreateOptions{})
		return err == nil && sar.Status.Allowed, nil
	})
}

// revokeDoctor removes the bindings GrantDoctor made. The ClusterRole
// stays: it may be the cluster's own, applied from deploy/doctor; one the
// run created goes with the run's sweep (or the cluster).
func (e *Env) revokeDoctor() {
	for name := range e.granted {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// One gone already is gone: nothing to report.
		_ = e.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		cancel()
	}
	e.granted = nil
}
