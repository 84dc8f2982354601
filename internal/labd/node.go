package labd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/nodeimages"
)

// upNode brings up the lab on a node cluster: the same install as on kwok,
// but as real pods of the install's images (built offline from this
// module and the tools cache, before the cluster exists), with kube-dns,
// kube-proxy and, for multi-user, Kubeflow's PodDefault webhook called by
// the kube-apiserver. opts.ImageArchives (a user's notebook image, the
// doctor's) are loaded too; `kfp-connect lab load-image` loads more later.
func upNode(ctx context.Context, opts Options, objs []*unstructured.Unstructured, log *slog.Logger) (*labCluster, error) {
	tools, err := cluster.ToolsBinDir(os.Getenv)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kfp-lab-images-")
	if err != nil {
		return nil, err
	}
	c := &labCluster{close: func(context.Context) error { return os.RemoveAll(dir) }}
	start := time.Now()
	log.Info("building the install's images", "dir", dir)
	b := &nodeimages.Builder{ToolsBin: tools, Dir: dir}
	archives, err := b.Node(ctx, true)
	if err != nil {
		return c, fmt.Errorf("building the node's images (from a clone of kfp-connect: they are built from its source): %w", err)
	}
	withHook := objs
	if opts.Mode == kubeflow.MultiUser {
		if hook, err := install.PodDefaultWebhookObjects(); err == nil {
			withHook = append(withHook[:len(withHook):len(withHook)], hook...)
		}
	}
	installed, absent, err := b.ForObjects(ctx, withHook)
	if err != nil {
		return c, fmt.Errorf("building the install's images: %w", err)
	}
	for _, ref := range absent {
		c.notHonored = append(c.notHonored, "image "+ref+": not in the catalogue, so its pods cannot start (no registry is asked)")
	}
	archives = append(append(archives, installed...), opts.ImageArchives...)
	log.Info("images built", "archives", len(archives), "took", time.Since(start).Round(100*time.Millisecond).String())

	n, err := node.New(node.Options{DNS: true, ImageArchives: archives, ReadyTimeout: time.Until(deadline(ctx))})
	if err != nil {
		return c, err
	}
	removeImages := c.close
	c.close = func(ctx context.Context) error { return errors.Join(n.Destroy(ctx), removeImages(ctx)) }
	c.workdir = n.Workdir()
	log.Info("creating cluster", "name", opts.Name, "provider", ProviderNode, "node", n.Name())
	if err := n.Create(ctx); err != nil {
		return c, err
	}
	c.cfg, c.kubeconfig = n.RESTConfig(), n.KubeconfigPath()
	log.Info("installing KFP", "mode", opts.Mode, "source", opts.Source, "objects", len(objs))
	unavailable, err := install.OnRealPods(ctx, c.cfg, objs)
	if err != nil {
		return c, err
	}
	for d, why := range unavailable {
		c.notHonored = append(c.notHonored, d+": "+why)
	}
	if opts.Mode == kubeflow.MultiUser {
		log.Info("installing the PodDefault webhook")
		issuer, err := install.NewIssuer()
		if err != nil {
			return c, err
		}
		why, err := install.PodDefaultWebhook(ctx, c.cfg, issuer)
		if err != nil {
			return c, err
		}
		if why != "" {
			c.notHonored = append(c.notHonored, "PodDefault webhook not installed: "+why)
		}
	}
	return c, nil
}

// deadline is ctx's deadline, or a long way off.
func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Hour)
}

// LoadImages loads docker archives into the running lab named name, as
// `kind load image-archive` does for kind: pods of their tags then start
// with imagePullPolicy IfNotPresent or Never. Only a node lab runs images.
func LoadImages(ctx context.Context, name string, archives ...string) error {
	s, err := Running(name)
	if err != nil {
		return err
	}
	if s.Provider != ProviderNode {
		return fmt.Errorf("lab %q runs on kwok, whose pods never run an image: bring it up with `kfp-connect lab up --provider node` to run images", name)
	}
	return node.LoadArchives(ctx, s.Workdir, archives...)
}
