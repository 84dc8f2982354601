package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/discover"
	"github.com/kfp-connect/kfp-connect/internal/install"
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
	in, err := discover.Find(fctx, client, discover.Options{Namespace: KFPNamespace})
	if err != nil {
		return err
	}
	if !in.Found {
		return fmt.Errorf("no KFP install found on cluster %s (no ml-pipeline-ui Service in namespace %s): %v", e.Cluster, KFPNamespace, in.Problems)
	}
	e.install = in
	return nil
}

// Close implements Target: it removes this run's labelled objects.
func (e *Existing) Close(ctx context.Context, owner Owner) ([]string, error) {
	if e.dyn == nil {
		return nil, nil
	}
	return Sweep(ctx, e.dyn, RunLabel+"="+owner.RunID)
}
