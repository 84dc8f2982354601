// Command kfp-standin is the one binary behind every stand-in image the
// node provider and kind run as a real container (KFP's API server and UI,
// the Istio gateway, the PodDefault admission webhook, the OpenLDAP image's
// entrypoint): the program is chosen by the name it is called as (an
// image's file such as /bin/apiserver) or else by the first argument. Each
// program is configured only from its environment and its pod's files, as
// on kwok; the programs are internal/programs' catalogue.
//
// Exit codes: 0 stopped by a signal, 1 it failed, 2 bad usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kfp-connect/kfp-connect/internal/programs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := programs.Standin(ctx, os.Args, os.Stderr)
	stop()
	os.Exit(code)
}
