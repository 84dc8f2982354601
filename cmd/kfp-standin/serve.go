package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/rest"

	standins "github.com/kfp-connect/kfp-connect/internal/standin/programs"
)

// The server's bounds: a client that never finishes its headers is dropped,
// and a stop waits this long for requests in flight.
const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// httpProgram runs p as its container would: configured only from the
// environment and the pod's ServiceAccount files (rest.InClusterConfig),
// serving on p's container port unless --listen says otherwise.
func httpProgram(p standins.Program) program {
	return func(ctx context.Context, args []string, stderr io.Writer) error {
		fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", fmt.Sprintf(":%d", p.Port), "address to serve on")
		if err := fs.Parse(args); err != nil {
			return err
		}
		in := standins.Inputs{Lookup: os.LookupEnv, Transport: serviceTransport()}
		// Not every stand-in needs an identity (the UI has none to check);
		// one that does says so when it is missing.
		if cfg, err := rest.InClusterConfig(); err == nil {
			in.Identity = cfg
		} else if !errors.Is(err, rest.ErrNotInCluster) {
			return fmt.Errorf("the pod's ServiceAccount: %w", err)
		}
		h, err := p.Build(in)
		if err != nil {
			if in.Identity == nil {
				return fmt.Errorf("%w (not in a pod: %v)", err, rest.ErrNotInCluster)
			}
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s serving on %s\n", p.Name, ln.Addr())
		return serve(ctx, ln, h)
	}
}

// serviceTransport reaches cluster Services through a new connection per
// request. A pooled connection outlives the pod behind it: once that pod
// is deleted its address answers nothing, not even a reset, and the next
// request would hang on it, where Envoy (which drops connections to
// endpoints that leave) fails at once. A new connection goes through
// kube-proxy again: to a current pod, or refused when there is none — as
// the lab's transport on kwok behaves.
func serviceTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableKeepAlives = true
	return t
}

// serve serves h on ln until ctx ends, then stops gracefully.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
