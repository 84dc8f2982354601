package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Fresh is a target that makes a cluster for each scenario, installs the
// scenario's KFP and fixtures and runs the lab's stand-ins, as the Ginkgo
// suite does: a cluster nobody else uses, so every case may run.
type Fresh struct {
	Provider string
	// New returns an uncreated cluster.
	New func() (cluster.Provider, error)
	Log *slog.Logger
}

// Name implements Target.
func (f *Fresh) Name() string { return f.Provider }

// Prepare implements Target.
func (f *Fresh) Prepare(ctx context.Context, sc *scenarios.Scenario, owner Owner) (Prepared, error) {
	p, err := f.New()
	if err != nil {
		return Prepared{}, err
	}
	destroy := func(ctx context.Context) error { return p.Destroy(ctx) }
	if err := p.Create(ctx); err != nil {
		return Prepared{}, errors.Join(err, destroy(context.WithoutCancel(ctx)))
	}
	env, err := Setup(ctx, p.RESTConfig(), sc, nil, f.Log)
	if err != nil {
		return Prepared{}, errors.Join(err, destroy(context.WithoutCancel(ctx)))
	}
	env.Owner = owner
	return Prepared{
		Env:   env,
		Notes: []string{fmt.Sprintf("%s cluster %s created, KFP %s installed", f.Provider, p.Name(), sc.Mode)},
		Teardown: func(ctx context.Context) error {
			env.Close()
			return destroy(ctx)
		},
	}, nil
}

// Close implements Target: the clusters went with their scenarios.
func (f *Fresh) Close(context.Context, Owner) ([]string, error) { return nil, nil }

// Existing is a target on the user's cluster: it installs nothing, runs no
// stand-in, and creates only the run's own labelled objects (see Attach),
// which Close removes. It sweeps what an earlier run left before the first
// scenario.
type Existing struct {
	Config *rest.Config
	// Cluster names the cluster in reports (the kubeconfig context).
	Cluster string

	dyn     dynamic.Interface
	install *discover.Install
	swept   bool
	// podless says why in-cluster paths cannot run here ("" when they can).
	podless string
}

// Name implements Target.
func (e *Existing) Name() string { return "existing (" + e.Cluster + ")" }

// Prepare implements Target.
func (e *Existing) Prepare(ctx context.Context, sc *scenarios.Scenario, owner Owner) (Prepared, error) {
	var prep Prepared
	if err := e.init(ctx); err != nil {
		return prep, err
	}
	if !e.swept {
		// A run killed before its clean-up left these; they are no one's now.
		removed, err := Sweep(ctx, e.dyn, OwnedSelector)
		if err != nil {
			return prep, fmt.Errorf("removing what an earlier run left: %w", err)
		}
		e.swept = true
		if len(removed) > 0 {
			prep.Notes = append(prep.Notes, fmt.Sprintf("removed %d objects an earlier run left: %v", len(removed), removed))
		}
	}
	if e.install.ModeKnown && (e.install.MultiUser != (sc.Mode == install.MultiUser)) {
		prep.Skip = fmt.Sprintf("the install in namespace %s is %s; this scenario is for %s KFP", e.install.Namespace, e.install.Mode(), sc.Mode)
		return prep, nil
	}
	if sc.Location == scenarios.InCluster && e.podless != "" {
		prep.Skip = e.podless
		return prep, nil
	}
	env, created, err := Attach(ctx, e.Config, sc, owner)
	if err != nil {
		return prep, err
	}
	if len(created) > 0 {
		prep.Notes = append(prep.Notes, fmt.Sprintf("created the scenario's own objects, labelled %s=%s: %v", RunLabel, owner.RunID, created))
	}
	prep.Env = env
	return prep, nil
}

// init finds the install once: which scenarios apply depends on its mode.
func (e *Existing) init(ctx context.Context) error {
	if e.install != nil {
		return nil
	}
	client, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	if e.dyn, err = dynamic.NewForConfig(e.Config); err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	in, err := discover.Find(fctx, fromclientset.Wrap(client), discover.Options{Namespace: KFPNamespace})
	if err != nil {
		return err
	}
	if !in.Found {
		return fmt.Errorf("no KFP install found on cluster %s (no ml-pipeline-ui Service in namespace %s): %v", e.Cluster, KFPNamespace, in.Problems)
	}
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nodes, err := client.CoreV1().Nodes().List(nctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the nodes, to tell whether a client pod can be simulated here: %w", err)
	}
	e.podless = inClusterSkip(nodes.Items)
	e.install = in
	return nil
}

// inClusterSkip says why the in-cluster paths cannot run on a cluster with
// these nodes, or "" when they can. Their client is a pod whose container
// nothing runs — its identity, files and DNS view are rebuilt here — which
// only kwok's fake nodes report as Running; a real kubelet would try to
// pull its image for ever. On real nodes the client must be a Pod of the
// doctor's image.
func inClusterSkip(nodes []corev1.Node) string {
	for _, n := range nodes {
		if _, fake := n.Annotations[kwokNodeAnnotation]; !fake {
			return fmt.Sprintf("node %s is a real node: the in-cluster paths need the doctor's image run as a Pod there, which this command does not do yet; the out-of-cluster scenarios run", n.Name)
		}
	}
	if len(nodes) == 0 {
		return "the cluster has no nodes to run a client pod on"
	}
	return ""
}

// Close implements Target: it removes this run's labelled objects.
func (e *Existing) Close(ctx context.Context, owner Owner) ([]string, error) {
	if e.dyn == nil {
		return nil, nil
	}
	return Sweep(ctx, e.dyn, RunLabel+"="+owner.RunID)
}
