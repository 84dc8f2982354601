// Package benchlab brings up what the lab's benchmarks measure against: a
// kwok cluster with the multi-user fixtures installed and the lab's programs
// (stand-ins, Dex, oauth2-proxy, slapd) serving them.
package benchlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster/kwok"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
)

// Lab is a running benchmark lab.
type Lab struct {
	Cluster *kwok.Kwok
	Runtime *lab.Runtime
}

// Start creates the cluster (named after prefix and this process), installs
// KFP's multi-user fixtures and runs their programs. Close removes it all;
// on error nothing is left.
func Start(ctx context.Context, prefix string) (l *Lab, err error) {
	kw, err := kwok.New(kwok.Options{Name: fmt.Sprintf("%s-%d", prefix, os.Getpid())})
	if err != nil {
		return nil, err
	}
	l = &Lab{Cluster: kw}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close(ctx))
		}
	}()
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := kw.Create(upCtx); err != nil {
		return nil, err
	}
	objs, err := install.Fixtures(kubeflow.MultiUser)
	if err != nil {
		return nil, err
	}
	bins, err := lab.DefaultBinaries()
	if err != nil {
		return nil, err
	}
	if l.Runtime, _, err = lab.InstallAndRun(upCtx, kw.RESTConfig(), objs, lab.Programs(bins), slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	return l, nil
}

// Close stops the programs and destroys the cluster, also after ctx ended.
func (l *Lab) Close(ctx context.Context) error {
	if l.Runtime != nil {
		l.Runtime.Close()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return l.Cluster.Destroy(dctx)
}
