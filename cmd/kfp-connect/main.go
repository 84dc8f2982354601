// Command kfp-connect is the developer's and the platform team's side of
// kfp-connect: the Docker-free KFP lab (`kfp-connect lab up|down|env`). The
// user's diagnosis is kfp-doctor, a separate, smaller binary without any of
// this.
//
// Exit codes: 0 done, 1 it failed, 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/buildinfo"
)

// version is set with -ldflags "-X main.version=…" by `make build` and
// release builds; buildinfo falls back to what the toolchain recorded.
var version = "dev"

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a problem with what the user asked for (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdout, stderr)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "kfp-connect: "+err.Error())
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailed
}

// helpIfNoArgs makes a command group runnable, so a mistyped subcommand
// is a usage error (noArgs) rather than help and exit 0.
func helpIfNoArgs(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// noArgs is cobra.NoArgs as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &usageError{err: err}
	}
	return nil
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kfp-connect",
		Short: "The kfp-connect lab: KFP on a real Kubernetes control plane without Docker",
		Long: `kfp-connect brings up a KFP lab without Docker — a real kube-apiserver under kwok,
KFP installed from our fixtures or the real upstream kustomizations, stand-ins for
KFP's servers and the real Dex, oauth2-proxy and LDAP directory as local processes —
for developing and demonstrating kfp-doctor against it.

kfp-doctor, the diagnosis a kfp.Client user runs, is a separate binary.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          helpIfNoArgs,
	}
	// Cobra's flag errors are usage errors too (children inherit this).
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	cmd.AddCommand(newLabCommand(stdout, stderr))
	cmd.AddCommand(newImagesCommand(stdout))
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "kfp-connect %s\n", buildinfo.Read(version))
		},
	})
	return cmd
}
