// Package env makes a cluster ready for a scenario's cases and changes its
// install for one case. On a cluster the run made (Setup): the scenario's
// KFP and fixtures, with the lab's stand-ins where pods are fake (kwok) and
// the images as real pods elsewhere, and Kubeflow's PodDefault webhook
// wherever the kube-apiserver can call it. On the user's cluster (Attach):
// nothing of the install, only the run's own labelled objects, swept at the
// end. Then the faults that delete, scale or re-configure the install
// (Inject), each reverted, and each waited on until the cluster shows it, so
// no case sees the previous case's transition.
package env

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/fixtures"
	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Env is a cluster prepared for one scenario.
type Env struct {
	Scenario *scenarios.Scenario
	Config   *rest.Config
	Client   kubernetes.Interface
	Dyn      dynamic.Interface
	// Runtime runs the install's programs where pods are fake (kwok).
	Runtime *lab.Runtime
	// Dropped lists the objects left out on purpose (Options.Drop).
	Dropped []string
	// Notes say what preparing did or could not do, for progress.
	Notes []string
	// Owner labels the objects the cases create (client pods, tokens).
	Owner Owner
	// RealPods: the cluster runs its pods (node, kind, a real cluster): the
	// in-cluster clients are Pods of DoctorImage.
	RealPods bool
	// Admission: a PodDefault webhook runs and the apiserver calls it, so
	// in-cluster pods get their PodDefaults by admission, not from the run.
	Admission bool
	// DoctorImage is the doctor's image the in-cluster cases run as, where
	// pods really run; its pull policy is IfNotPresent, so an image loaded
	// onto the nodes is used as it is.
	DoctorImage string
	// NotebookImage, when set, is on the nodes (images.NotebookRef): the
	// in-cluster cases run the real SDK in a Pod of it beside the doctor's.
	NotebookImage string
	// unavailable holds, by namespace/name, the Deployments that cannot run
	// here and why (see Unavailable).
	unavailable map[string]string
	// granted are the doctor's ClusterRoleBindings made for the in-cluster
	// cases (see GrantDoctor).
	granted map[string]bool
	// mesh follows the in-cluster istiod for the mesh faults (mesh.go);
	// closers end what the Env started for them.
	mesh    meshSource
	closers []func()
}

// Options say how to set a scenario up on a cluster the run made.
type Options struct {
	// Owner labels what the cases create.
	Owner Owner
	// Drop, when set, leaves out the install's objects it returns true for:
	// the way to show that a missing fixture turns its case red.
	Drop func(*unstructured.Unstructured) bool
	// Issuer stands in for cert-manager, where pods really run: with it,
	// Kubeflow's PodDefault webhook is installed; without, PodDefaults are
	// applied by the run and the webhook's cases are skipped.
	Issuer install.Issuer
	// DoctorImage is the doctor's image (default images.Doctor("").Ref).
	DoctorImage string
	Log         *slog.Logger
}

// Setup installs the scenario's KFP and fixtures on the cluster of cfg:
// where pods are fake (kwok) with the lab's runtime serving the install's
// pods, elsewhere as real pods of the images, and the PodDefault webhook
// where opts.Issuer can issue its certificate. It returns once KFP (and the
// gateway and login stack, where they can run) serve.
func Setup(ctx context.Context, cfg *rest.Config, sc *scenarios.Scenario, opts Options) (*Env, error) {
	objs, err := install.Fixtures(sc.Mode)
	if err != nil {
		return nil, err
	}
	extra, err := extraObjects(sc)
	if err != nil {
		return nil, err
	}
	env, err := newEnv(cfg, sc, opts.Owner, opts.DoctorImage)
	if err != nil {
		return nil, err
	}
	kept := objs[:0:0]
	for _, o := range append(objs, extra...) {
		if opts.Drop != nil && opts.Drop(o) {
			env.Dropped = append(env.Dropped, fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
			continue
		}
		kept = append(kept, o)
	}
	if len(env.Dropped) > 0 {
		env.Notes = append(env.Notes, fmt.Sprintf("fixtures left out: %v", env.Dropped))
	}
	if env.RealPods, err = hasRealPods(ctx, env.Client); err != nil {
		return nil, err
	}
	if env.RealPods {
		if env.unavailable, err = install.OnRealPods(ctx, cfg, kept); err != nil {
			return nil, err
		}
		if err := env.podDefaultWebhook(ctx, opts.Issuer); err != nil {
			return nil, err
		}
	} else {
		bins, err := lab.DefaultBinaries()
		if err != nil {
			return nil, err
		}
		if env.Runtime, _, err = lab.InstallAndRun(ctx, cfg, kept, lab.Programs(bins), opts.Log); err != nil {
			return nil, err
		}
	}
	if err := env.waitKFP(ctx); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

func newEnv(cfg *rest.Config, sc *scenarios.Scenario, owner Owner, doctorImage string) (*Env, error) {
	env := &Env{Scenario: sc, Config: cfg, Owner: owner, DoctorImage: doctorImage}
	if env.DoctorImage == "" {
		env.DoctorImage = images.Doctor("").Ref
	}
	var err error
	if env.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if env.Dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return env, nil
}

// extraObjects are the scenario's own fixtures (fixtures.RBAC): namespaces,
// identities and the documented bindings its clients need.
func extraObjects(sc *scenarios.Scenario) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, name := range sc.Extra {
		data, err := fs.ReadFile(fixtures.RBAC, name)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: fixture %s: %w", sc.Name, name, err)
		}
		objs, err := manifests.Decode(name, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// podDefaultWebhook installs Kubeflow's PodDefault webhook on a multi-user
// install where the apiserver can call it and issuer can issue its
// certificate; from then on the in-cluster pods get their PodDefaults by
// admission. Where it cannot, Notes say why.
func (e *Env) podDefaultWebhook(ctx context.Context, issuer install.Issuer) error {
	var why string
	switch {
	case e.Scenario.Mode != kubeflow.MultiUser:
		return nil
	case issuer == nil:
		why = "no certificate issuer for the webhook on this provider"
	default:
		var err error
		if why, err = install.PodDefaultWebhook(ctx, e.Config, issuer); err != nil {
			return err
		}
	}
	if why != "" {
		e.Notes = append(e.Notes, "PodDefaults applied by the run, not by admission: "+why)
		return nil
	}
	e.Admission = true
	e.Notes = append(e.Notes, "PodDefaults by admission: Kubeflow's webhook installed, called by the kube-apiserver")
	return nil
}

// waitKFP waits until both KFP Deployments run and serve, and so do the
// gateway and the login stack where the install has them and they can run.
func (e *Env) waitKFP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	deployments := [][2]string{{kubeflow.Namespace, kubeflow.APIServer}, {kubeflow.Namespace, kubeflow.UIServer}}
	for _, d := range install.OptionalDeployments {
		_, err := e.Client.AppsV1().Deployments(d[0]).Get(ctx, d[1], metav1.GetOptions{})
		_, cannotRun := e.unavailable[d[0]+"/"+d[1]]
		switch {
		case err == nil && cannotRun:
		case err == nil:
			deployments = append(deployments, d)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("looking for deployment %s/%s: %w", d[0], d[1], err)
		}
	}
	for _, d := range deployments {
		if err := e.waitDeployment(ctx, d[0], d[1], true); err != nil {
			return err
		}
	}
	return nil
}

// Unavailable says why case c cannot run on this cluster, or "": a fault of
// the PodDefault webhook needs the webhook; a path through the gateway or a
// Dex login needs the gateway and the login stack to run here.
func (e *Env) Unavailable(c scenarios.Case) string {
	if f, ok := e.Scenario.Fault(c.Fault); ok && f.Admission && !e.Admission {
		return "fault " + f.Name + " is in the PodDefault webhook, which runs only where the kube-apiserver calls it (a provider whose pods really run: node, kind); here PodDefaults are applied by the run, so the fault would change nothing"
	}
	if len(e.unavailable) == 0 {
		return ""
	}
	p, ok := e.Scenario.Path(c.Path)
	if !ok {
		return ""
	}
	throughGateway := p.Login != nil || p.Session != nil ||
		(p.PortForward != nil && p.PortForward.Service == kubeflow.Gateway) ||
		strings.Contains(p.Host, kubeflow.Gateway)
	if !throughGateway {
		return ""
	}
	var why []string
	for _, d := range install.OptionalDeployments {
		if w, ok := e.unavailable[d[0]+"/"+d[1]]; ok {
			why = append(why, w)
		}
	}
	return fmt.Sprintf("path %s goes through the gateway and its login stack: %s", p.Name, strings.Join(why, "; "))
}

// Close stops the stand-ins and removes the doctor's bindings. The cluster
// belongs to the caller.
func (e *Env) Close() {
	e.revokeDoctor()
	for _, c := range e.closers {
		c()
	}
	if e.Runtime != nil {
		e.Runtime.Close()
	}
}
