package lab

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kfp-connect/kfp-connect/internal/lab/sandbox"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// Every executable that runs the lab is also its pods' sandbox helper and
// the programs of this module its pods run (kfp-standin's, the argument
// runner): started again as one of those, it does that and exits here,
// before its own main.
func init() {
	for pkg, main := range selfPrograms {
		sandbox.RegisterSelf(pkg, main)
	}
	sandbox.RunIfChild()
}

// standinMain is kfp-standin's main, in a pod.
func standinMain(argv []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return programs.Standin(ctx, argv, os.Stderr)
}
