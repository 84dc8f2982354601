package programs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Standin is the main of kfp-standin, the one binary behind every stand-in
// image: it runs the catalogue's program named by the name it is called as
// (an image's file such as /bin/apiserver) or else by its first argument,
// and returns the exit code: 0 stopped by ctx (a signal), 1 it failed, 2 bad
// usage.
func Standin(ctx context.Context, argv []string, stderr io.Writer) int {
	p, args := choose(argv)
	if p == nil {
		fmt.Fprintf(stderr, "kfp-standin: unknown program; want one of %s, as the first argument or the name the binary is called as\n", strings.Join(standinNames(), ", "))
		return 2
	}
	var err error
	switch {
	case p.Main != nil:
		err = p.Main(ctx, args, stderr)
	default:
		err = serveProgram(ctx, p, args, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kfp-standin %s: %v\n", p.Name, err)
		return 1
	}
	return 0
}

// standinProgram reports whether kfp-standin runs p.
func standinProgram(p *Program) bool { return p.Server != nil || p.Main != nil }

// choose picks the program: the name the binary was called as when that is
// one (an image's entrypoint link), else the first argument.
func choose(argv []string) (*Program, []string) {
	if len(argv) == 0 {
		return nil, nil
	}
	if p, ok := Named(filepath.Base(argv[0])); ok && standinProgram(p) {
		return p, argv[1:]
	}
	if len(argv) < 2 {
		return nil, nil
	}
	if p, ok := Named(argv[1]); ok && standinProgram(p) {
		return p, argv[2:]
	}
	return nil, nil
}

func standinNames() []string {
	var out []string
	for _, p := range catalogue {
		if standinProgram(p) {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

// The server's bounds: a client that never finishes its headers is dropped,
// and a stop waits this long for requests in flight.
const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// serveProgram runs a stand-in as its container would: configured only
// from the environment and the pod's ServiceAccount files
// (rest.InClusterConfig), serving on its container port unless --listen says
// otherwise. Flags the real program takes that mean nothing to the stand-in
// (its image's cmd passes them) are accepted.
func serveProgram(ctx context.Context, p *Program, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", fmt.Sprintf(":%d", p.Server.Port), "address to serve on")
	if p.Server.Flags != nil {
		p.Server.Flags(fs, listen)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	in := Inputs{Lookup: os.LookupEnv, Transport: serviceTransport()}
	// Not every stand-in needs an identity (the UI has none to check);
	// one that does says so when it is missing.
	if cfg, err := rest.InClusterConfig(); err == nil {
		in.Identity = cfg
	} else if !errors.Is(err, rest.ErrNotInCluster) {
		return fmt.Errorf("the pod's ServiceAccount: %w", err)
	}
	h, err := p.Server.Build(in)
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
