package drivers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kind"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/internal/conformance/env"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
	"github.com/kfp-connect/kfp-connect/scenarios"
)

// Fresh is a target that makes a cluster for each scenario and installs
// the scenario's KFP and fixtures on it (env.Setup): a cluster nobody else
// uses, so every case may run.
type Fresh struct {
	Provider string
	opts     Options
	// newCluster returns an uncreated cluster for sc.
	newCluster func(ctx context.Context, sc *scenarios.Scenario) (cluster.Provider, error)
	// realPods: the clusters run their pods, so the kube-apiserver can call
	// the PodDefault webhook (its certificate issued as cert-manager would).
	realPods bool
	images   *archives
}

// Name implements conformance.Target.
func (f *Fresh) Name() string { return f.Provider }

// Prepare implements conformance.Target.
func (f *Fresh) Prepare(ctx context.Context, sc *scenarios.Scenario, owner env.Owner) (conformance.Prepared, error) {
	var notes []string
	if f.images != nil {
		built, err := f.images.build(ctx)
		if err != nil {
			return conformance.Prepared{}, err
		}
		if built != "" {
			notes = append(notes, built)
		}
	}
	p, err := f.newCluster(ctx, sc)
	if err != nil {
		return conformance.Prepared{}, err
	}
	destroy := func(ctx context.Context) error { return p.Destroy(ctx) }
	start := time.Now()
	if err := p.Create(ctx); err != nil {
		return conformance.Prepared{}, errors.Join(err, destroy(context.WithoutCancel(ctx)))
	}
	notes = append(notes, fmt.Sprintf("%s cluster %s created in %s", f.Provider, p.Name(), time.Since(start).Round(100*time.Millisecond)))
	opts := env.Options{Owner: owner, Drop: f.opts.Drop, Log: f.opts.Log, DoctorImage: f.opts.Image}
	if f.realPods {
		if opts.Issuer, err = install.NewIssuer(); err != nil {
			return conformance.Prepared{}, errors.Join(err, destroy(context.WithoutCancel(ctx)))
		}
	}
	start = time.Now()
	e, err := env.Setup(ctx, p.RESTConfig(), sc, opts)
	if err != nil {
		return conformance.Prepared{}, errors.Join(err, destroy(context.WithoutCancel(ctx)))
	}
	notes = append(notes, fmt.Sprintf("KFP %s installed in %s", sc.Mode, time.Since(start).Round(100*time.Millisecond)))
	return conformance.Prepared{
		Env:   e,
		Notes: append(notes, e.Notes...),
		Teardown: func(ctx context.Context) error {
			e.Close()
			return destroy(ctx)
		},
	}, nil
}

// Close implements conformance.Target: the clusters went with their
// scenarios; the images built for them go now.
func (f *Fresh) Close(context.Context, env.Owner) ([]string, error) {
	if f.images != nil {
		f.images.remove()
	}
	return nil, nil
}

func newKwok(opts Options) *Fresh {
	return &Fresh{Provider: "kwok", opts: opts, newCluster: func(context.Context, *scenarios.Scenario) (cluster.Provider, error) {
		return kwok.New(kwok.Options{})
	}}
}

func newNode(opts Options) (*Fresh, error) {
	a, err := newArchives(opts, true)
	if err != nil {
		return nil, err
	}
	return &Fresh{Provider: "node", opts: opts, images: a, realPods: true, newCluster: func(context.Context, *scenarios.Scenario) (cluster.Provider, error) {
		return node.New(node.Options{DNS: true, ImageArchives: a.paths})
	}}, nil
}

func newKind(opts Options) (*Fresh, error) {
	a, err := newArchives(opts, false)
	if err != nil {
		return nil, err
	}
	return &Fresh{Provider: "kind", opts: opts, images: a, realPods: true, newCluster: func(_ context.Context, sc *scenarios.Scenario) (cluster.Provider, error) {
		k, err := kind.New("", string(sc.Mode)+".yaml")
		if err != nil {
			return nil, err
		}
		return k.WithImageArchives(a.paths...), nil
	}}, nil
}

// archives are the docker archives a run's clusters load: the node's own
// (node only), the catalogue's images the installs name, the PodDefault
// webhook's, and the doctor's (built unless the user's archives carry
// it); built once, at the first scenario, before its cluster exists.
type archives struct {
	opts   Options
	node   bool
	dir    string
	once   sync.Once
	err    error
	paths  []string
	absent []string
}

func newArchives(opts Options, forNode bool) (*archives, error) {
	dir, err := os.MkdirTemp("", "kfp-connect-images-")
	if err != nil {
		return nil, err
	}
	return &archives{opts: opts, node: forNode, dir: dir}, nil
}

// build builds the archives, once; it returns a note on the first call.
func (a *archives) build(ctx context.Context) (string, error) {
	note := ""
	a.once.Do(func() {
		start := time.Now()
		// Sticky should buildAll not return: no cluster starts half-loaded.
		a.err = errors.New("the images were not built")
		a.err = a.buildAll(ctx)
		if a.err == nil {
			note = fmt.Sprintf("%d image archives built once for every cluster of the run in %s", len(a.paths), time.Since(start).Round(100*time.Millisecond))
			if len(a.absent) > 0 {
				note += fmt.Sprintf("; not in the catalogue, so their pods cannot start: %v", a.absent)
			}
		}
	})
	return note, a.err
}

func (a *archives) buildAll(ctx context.Context) error {
	tools, err := toolsBin()
	if err != nil {
		return err
	}
	b := &nodeimages.Builder{ModuleDir: a.opts.ModuleDir, ToolsBin: tools, Dir: a.dir}
	if a.node {
		base, err := b.Node(ctx, true)
		if err != nil {
			return fmt.Errorf("building the node's images: %w", err)
		}
		a.paths = append(a.paths, base...)
	}
	// Every install a run may make: both modes' fixtures and the webhook.
	var objs []*unstructured.Unstructured
	for _, mode := range kubeflow.Modes {
		o, err := install.Fixtures(mode)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	if hook, err := install.PodDefaultWebhookObjects(); err == nil {
		objs = append(objs, hook...)
	}
	installed, absent, err := b.ForObjects(ctx, objs)
	if err != nil {
		return fmt.Errorf("building the install's images: %w", err)
	}
	a.paths, a.absent = append(a.paths, installed...), absent
	if len(a.opts.ImageArchives) > 0 {
		a.paths = append(a.paths, a.opts.ImageArchives...)
		return nil
	}
	doctor, err := b.Doctor(ctx, a.opts.Image)
	if err != nil {
		return fmt.Errorf("building the doctor's image %s: %w", a.opts.Image, err)
	}
	a.paths = append(a.paths, doctor)
	a.paths = slices.Compact(a.paths)
	return nil
}

func (a *archives) remove() { _ = os.RemoveAll(a.dir) }
