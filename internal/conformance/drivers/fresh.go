package drivers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/kfp-connect/kfp-connect/internal/images"
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
	if f.images != nil && f.images.notebook {
		e.NotebookImage = images.NotebookRef
	}
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
// webhook's, the notebook's (when the SDK runs), and the doctor's (built unless the user's archives carry
// it); built once, at the first scenario, before its cluster exists.
type archives struct {
	opts   Options
	node   bool
	dir    string
	once   sync.Once
	err    error
	paths  []string
	absent []string
	// notebook: the notebook image is among paths.
	notebook bool
	notes    []string
	// handedOver: Dir is someone else's to remove (BuildImages, UseImages).
	handedOver bool
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
			for _, n := range a.notes {
				note += "; " + n
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
	// The notebook's image (a venv, its modules compiled: about half of the
	// build, mostly in python) is built beside the others, by a builder of
	// its own in a folder of its own; the two share only Go's build cache.
	var notebook []string
	var notebookErr error
	if a.opts.Notebook {
		done := make(chan struct{})
		go func() {
			defer close(done)
			nb := &nodeimages.Builder{ModuleDir: a.opts.ModuleDir, ToolsBin: tools, Dir: filepath.Join(a.dir, "notebook")}
			if notebookErr = os.Mkdir(nb.Dir, 0o755); notebookErr == nil {
				notebook, notebookErr = nb.Catalog(ctx, images.NotebookRef)
			}
		}()
		// Every return waits for it.
		defer func() {
			<-done
			// Without it the in-cluster cases still run, the SDK's column
			// saying why it did not.
			if notebookErr != nil {
				a.notes = append(a.notes, fmt.Sprintf("no notebook image, so the SDK does not run in the in-cluster cases: %v", notebookErr))
			} else {
				a.paths, a.notebook = append(a.paths, notebook...), true
			}
		}()
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

func (a *archives) remove() {
	if !a.handedOver {
		_ = os.RemoveAll(a.dir)
	}
}

// Images are a run's image archives as built once: what the other
// processes of a run that goes side by side (the Ginkgo suite's parallel
// processes, each with clusters of its own) load instead of building them
// again.
type Images struct {
	// Dir holds the archives; whoever called BuildImages removes it, once
	// every process is done with it.
	Dir      string   `json:"dir"`
	Paths    []string `json:"paths"`
	Absent   []string `json:"absent,omitempty"`
	Notebook bool     `json:"notebook,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Built says what was built, and in how long.
	Built string `json:"built"`
}

// BuildImages builds the run's archives now, before any cluster, and hands
// them over: the caller removes Images.Dir. Nil where the clusters load no
// image (kwok).
func (f *Fresh) BuildImages(ctx context.Context) (*Images, error) {
	if f.images == nil {
		return nil, nil
	}
	built, err := f.images.build(ctx)
	if err != nil {
		return nil, err
	}
	a := f.images
	a.handedOver = true
	return &Images{Dir: a.dir, Paths: a.paths, Absent: a.absent, Notebook: a.notebook, Notes: a.notes, Built: built}, nil
}

// UseImages makes f load imgs, built by BuildImages in another process of
// the run, instead of building its own.
func (f *Fresh) UseImages(imgs *Images) {
	if f.images == nil || imgs == nil {
		return
	}
	a := f.images
	a.remove() // its own, empty, directory
	a.once.Do(func() {})
	a.dir, a.paths, a.absent, a.notebook, a.notes, a.handedOver = imgs.Dir, imgs.Paths, imgs.Absent, imgs.Notebook, imgs.Notes, true
}
