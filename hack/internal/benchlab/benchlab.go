// Package benchlab brings up what the lab's benchmarks measure against: a
// kwok cluster with the multi-user fixtures installed and the lab's programs
// (stand-ins, Dex, oauth2-proxy, slapd) serving them.
package benchlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
func Start(ctx context.Context, prefix string) (_ *Lab, err error) {
	kw, err := kwok.New(kwok.Options{Name: fmt.Sprintf("%s-%d", prefix, os.Getpid())})
	if err != nil {
		return nil, err
	}
	// Not the named result: a failing return sets that to nil before this
	// runs, and the cluster it made would be left running.
	l := &Lab{Cluster: kw}
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

// Forward serves a local port joined to a Service address such as
// "ml-pipeline-ui.kubeflow:80" through the cluster (a port-forward to a ready
// pod behind it, as `kubectl port-forward svc/…`), and returns its URL and
// the function that stops it.
func (l *Lab) Forward(ctx context.Context, addr string) (string, func(), error) {
	// The lab's own view of the cluster: as kubectl's port-forward, a
	// connection costs the API server no lookups.
	dialer, err := l.Runtime.View().Dialer("default")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dialer.Close()
		return "", nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dialer.Forward(fctx, ln, addr)
	}()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		ln.Close()
		<-done
		dialer.Close()
	}, nil
}

// TokenFile writes a token of ServiceAccount sa in namespace ns for KFP's
// audience, valid an hour, to a new file (as `kubectl create token sa
// --audience pipelines.kubeflow.org`), and returns its path; the caller
// removes it.
func (l *Lab) TokenFile(ctx context.Context, ns, sa string) (string, error) {
	kube, err := kubernetes.NewForConfig(l.Cluster.RESTConfig())
	if err != nil {
		return "", err
	}
	exp := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{kubeflow.Audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "benchlab-token-")
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(tr.Status.Token); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}
