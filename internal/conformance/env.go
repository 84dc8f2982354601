// Package conformance runs the scenarios' cases on a cluster: it installs KFP
// and the scenario's fixtures, runs the lab's stand-ins, builds each path's
// client (a pod's identity, files and DNS view, or a port-forward and a
// minted token), injects the fault, runs the doctor, and reverts. Suites call
// it; the scenarios stay data.
package conformance

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/fixtures"
	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// KFPNamespace is where the installs put KFP.
const KFPNamespace = "kubeflow"

// Env is a cluster prepared for one scenario.
type Env struct {
	Scenario *scenarios.Scenario
	Config   *rest.Config
	Client   kubernetes.Interface
	Dyn      dynamic.Interface
	Runtime  *lab.Runtime
	// Dropped lists the objects left out on purpose (see Setup's drop).
	Dropped []string
	// Owner labels the objects the cases create (client pods).
	Owner Owner
	// Admission: Kubeflow's PodDefault webhook runs in the cluster and the
	// apiserver calls it (InstallPodDefaultWebhook): the in-cluster pods get
	// their PodDefaults by admission, not from the suite.
	Admission bool
	// RealPods: the cluster runs its pods (the node provider, kind), so the
	// install runs from its images and no lab runtime is started.
	RealPods bool
	// unavailable holds, by namespace/name, the Deployments that cannot run
	// here and why (see Unavailable).
	unavailable map[string]string
	// granted are the doctor's ClusterRoleBindings made for in-cluster
	// paths on real pods (see grantDoctor).
	granted map[string]bool
	// mesh follows the in-cluster istiod for the mesh faults (meshfaults.go);
	// closers end what the Env started for them.
	mesh    meshSource
	closers []func()
}

// Setup installs the scenario's KFP and fixtures on the cluster of cfg and,
// where pods do not really run (kwok), starts the lab runtime. drop, when not nil, leaves out the objects it
// returns true for: the way to show that a missing fixture turns its case red.
func Setup(ctx context.Context, cfg *rest.Config, sc *scenarios.Scenario, drop func(*unstructured.Unstructured) bool, log *slog.Logger) (*Env, error) {
	objs, err := install.Fixtures(sc.Mode)
	if err != nil {
		return nil, err
	}
	for _, name := range sc.Extra {
		data, err := fs.ReadFile(fixtures.RBAC, name)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: fixture %s: %w", sc.Name, name, err)
		}
		extra, err := cluster.DecodeManifests(name, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, extra...)
	}
	env := &Env{Scenario: sc, Config: cfg}
	kept := objs[:0:0]
	for _, o := range objs {
		if drop != nil && drop(o) {
			env.Dropped = append(env.Dropped, fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
			continue
		}
		kept = append(kept, o)
	}
	if env.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if env.Dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if env.RealPods, err = hasRealPods(ctx, env); err != nil {
		return nil, err
	}
	if env.RealPods {
		if err := env.installOnNodes(ctx, kept); err != nil {
			return nil, err
		}
	} else {
		bins, err := lab.DefaultBinaries()
		if err != nil {
			return nil, err
		}
		if env.Runtime, _, err = lab.InstallAndRun(ctx, cfg, kept, lab.Programs(bins), log); err != nil {
			return nil, err
		}
	}
	if err := env.waitKFP(ctx); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// waitKFP waits until both KFP Deployments run and their stand-ins serve,
// and so does the ingress gateway where the install has one (multi-user).
func (e *Env) waitKFP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	deployments := [][2]string{{KFPNamespace, "ml-pipeline"}, {KFPNamespace, "ml-pipeline-ui"}}
	for _, d := range optionalDeployments {
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

// optionalDeployments are the multi-user fixtures' gateway and login stack.
var optionalDeployments = [][2]string{
	{"istio-system", "istio-ingressgateway"}, {"auth", "openldap"}, {"auth", "dex"}, {"oauth2-proxy", "oauth2-proxy"},
	{"istio-system", "cluster-jwks-proxy"},
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
