package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kube/manifests"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
)

// InstallAndRun applies an install to the cluster of cfg, starts the runtime
// with programs for it, and returns once KFP's Deployments run and their
// programs serve — and, where the install has them, the login stack's (Dex,
// oauth2-proxy, the LDAP directory) and the gateway's. The caller closes the
// runtime; on error nothing of it is left running.
func InstallAndRun(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, programs []Program, log *slog.Logger) (*Runtime, *manifests.Result, error) {
	// Istio's injector must be there before the install's pods are made.
	stopInjector, err := StartInjector(ctx, cfg, objs)
	if err != nil {
		return nil, nil, err
	}
	res, err := manifests.Apply(ctx, cfg, objs, manifests.Options{FakePods: true})
	if err != nil {
		stopInjector()
		return nil, nil, err
	}
	rt, err := Start(ctx, cfg, programs, log)
	if err != nil {
		stopInjector()
		return nil, nil, err
	}
	rt.onClose = append(rt.onClose, stopInjector)
	wait := [][2]string{{kubeflow.Namespace, kubeflow.APIServer}, {kubeflow.Namespace, kubeflow.UIServer}}
	// The gateway and the login stack, where the install has them.
	for _, d := range install.OptionalDeployments {
		if install.Declares(objs, d[0], d[1]) {
			wait = append(wait, d)
		}
	}
	for _, d := range wait {
		if err := install.WaitReady(ctx, cfg, d[0], d[1]); err != nil {
			rt.Close()
			return nil, nil, err
		}
		if err := rt.WaitServed(ctx, d[0], d[1]); err != nil {
			rt.Close()
			return nil, nil, fmt.Errorf("%w\n%s", err, rt.LogTails(20))
		}
	}
	return rt, res, nil
}

// DefaultBinaries finds the real programs in the tools cache.
func DefaultBinaries() (Binaries, error) {
	dir, err := cluster.ToolsBinDir(os.Getenv)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Dir: dir}, nil
}
