// Package drivers makes the conformance runner's targets by provider name:
// kwok, node and kind make a cluster per scenario and install it (the
// clusters are the run's own, so every case may run); existing attaches to
// the user's cluster, installs nothing and is non-destructive by default.
// Where pods really run (node, kind, a real existing cluster) the in-cluster
// cases are Pods of the doctor's image; node and kind load it, with the
// install's images, from archives built once, before any cluster exists.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/existing"
	"github.com/kfp-connect/kfp-connect/internal/cluster/kind"
	"github.com/kfp-connect/kfp-connect/internal/conformance"
	"github.com/kfp-connect/kfp-connect/internal/images"
)

// Providers are the names New knows.
var Providers = []string{"kwok", "node", "kind", "existing"}

// ErrUnknownProvider is wrapped for a name New does not know.
var ErrUnknownProvider = errors.New("unknown provider")

// ErrNoDocker is wrapped when kind cannot run here: no Docker engine.
var ErrNoDocker = errors.New("kind needs Docker")

// Options configure a target.
type Options struct {
	// Provider is one of Providers.
	Provider string
	// Kubeconfig and Context name the existing cluster (defaults as
	// kubectl's); only for existing.
	Kubeconfig, Context string
	// Image is the doctor's image the in-cluster cases run as where pods
	// really run; empty is images.Doctor(Version).Ref. On node and kind it
	// is built from this module unless ImageArchives carry it.
	Image   string
	Version string
	// ImageArchives are docker archives loaded where the driver creates
	// the cluster (node, kind): the doctor's image, a user's own.
	ImageArchives []string
	// ModuleDir is a directory inside this module, where images are built
	// (node, kind); empty is the current directory.
	ModuleDir string
	// Drop leaves fixtures out (KFP_CONNECT_DROP), on the clusters the run
	// makes.
	Drop func(*unstructured.Unstructured) bool
	Log  *slog.Logger
}

// Info says what the target's clusters are.
type Info struct {
	// Disposable: the clusters are the run's own, so by default it runs the
	// cases that change the install.
	Disposable bool
	// PodNetwork: pod IPs are real, so the kube-apiserver may dial a pod
	// (the service-proxy path).
	PodNetwork bool
}

// New makes the target of opts.Provider. For existing it connects now, to
// tell whether its pods are real.
func New(ctx context.Context, opts Options) (conformance.Target, Info, error) {
	if opts.Image == "" {
		opts.Image = images.Doctor(opts.Version).Ref
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Provider != "existing" && (opts.Kubeconfig != "" || opts.Context != "") {
		return nil, Info{}, fmt.Errorf("a kubeconfig and context are for the existing provider; %s makes its own clusters", opts.Provider)
	}
	if opts.Provider != "node" && opts.Provider != "kind" && len(opts.ImageArchives) > 0 {
		return nil, Info{}, fmt.Errorf("image archives are loaded where the run creates the cluster (node, kind); for %s load them yourself (kfp-connect lab load-image, kind load image-archive) and name the image", opts.Provider)
	}
	for _, a := range opts.ImageArchives {
		if fi, err := os.Stat(a); err != nil || !fi.Mode().IsRegular() {
			return nil, Info{}, fmt.Errorf("image archive %s: not a readable file (build the doctor's with `make images`)", a)
		}
	}
	switch opts.Provider {
	case "kwok":
		return newKwok(opts), Info{Disposable: true}, nil
	case "node":
		t, err := newNode(opts)
		return t, Info{Disposable: true, PodNetwork: true}, err
	case "kind":
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if ok, why := kind.DockerAvailable(ctx); !ok {
			return nil, Info{}, fmt.Errorf("%w: %s; for a kind cluster you made, use --provider existing --context kind-NAME", ErrNoDocker, why)
		}
		t, err := newKind(opts)
		return t, Info{Disposable: true, PodNetwork: true}, err
	case "existing":
		p := existing.New(opts.Kubeconfig, opts.Context)
		if err := p.Create(ctx); err != nil {
			return nil, Info{}, err
		}
		t := &Existing{Config: p.RESTConfig(), Cluster: p.Name(), Image: opts.Image}
		real, err := t.realPods(ctx)
		return t, Info{PodNetwork: real}, err
	}
	return nil, Info{}, fmt.Errorf("%w %q: want one of %v", ErrUnknownProvider, opts.Provider, Providers)
}

// toolsBin is the tools cache, for the images of pinned programs.
func toolsBin() (string, error) { return cluster.ToolsBinDir(os.Getenv) }
