package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

// labFlags are the flags of `lab up` and `lab serve`; labd.ServeFlags
// writes them for the serve process that up starts.
type labFlags struct {
	name, mode, source string
	port               int
	timeout            time.Duration
	timeoutFlag        string
	programs           []string
}

func (f *labFlags) bindName(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", labd.DefaultName, "lab (cluster) name")
}

func (f *labFlags) bind(fs *pflag.FlagSet, timeoutFlag string) {
	f.bindName(fs)
	f.timeoutFlag = timeoutFlag
	fs.StringVar(&f.mode, "mode", string(install.MultiUser), "standalone or multi-user")
	fs.StringVar(&f.source, "install", string(install.FromFixtures), "fixtures (our minimal install) or upstream (the real kustomizations under shared/upstream)")
	fs.IntVar(&f.port, "port", 0, "local port forwarded to svc/ml-pipeline-ui:80 (0 picks a free one)")
	fs.DurationVar(&f.timeout, timeoutFlag, 4*time.Minute, "how long to wait for the lab to be ready")
	fs.StringArrayVar(&f.programs, "program", nil, "IMAGE=PATH: run this binary as the process of the pods of IMAGE (repeatable), in place of the lab's own")
}

// options checks the flags and turns them into the lab's options.
func (f *labFlags) options() (labd.Options, error) {
	opts := labd.Options{Name: f.name, Mode: install.Mode(f.mode), Source: install.Source(f.source), Port: f.port, ReadyTimeout: f.timeout}
	if !opts.Mode.Valid() {
		return opts, usageErr("--mode %q: want standalone or multi-user", f.mode)
	}
	if opts.Source != install.FromFixtures && opts.Source != install.FromUpstream {
		return opts, usageErr("--install %q: want fixtures or upstream", f.source)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return opts, usageErr("--port %d is not a port", opts.Port)
	}
	if opts.ReadyTimeout <= 0 {
		return opts, usageErr("--%s %s: want a positive duration such as 4m", f.timeoutFlag, opts.ReadyTimeout)
	}
	progs, err := lab.ParsePrograms(f.programs)
	if err != nil {
		return opts, usageErr("%v", err)
	}
	for image, path := range progs {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return opts, usageErr("--program %s=%s: not an executable file", image, path)
		}
	}
	opts.Programs = progs
	return opts, nil
}

// daemon is the lab in the background: this executable's `lab serve`.
func daemon(progress io.Writer) (labd.Daemon, error) {
	self, err := os.Executable()
	if err != nil {
		return labd.Daemon{}, fmt.Errorf("finding this executable to run the lab with: %w", err)
	}
	return labd.Daemon{Serve: []string{self, "lab", "serve"}, Progress: progress}, nil
}

func newLabCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a Docker-free KFP lab: a real Kubernetes control plane under kwok, KFP installed, stand-ins for its servers",
		Args:  noArgs,
		RunE:  helpIfNoArgs,
	}

	var upFlags labFlags
	up := &cobra.Command{
		Use:   "up",
		Short: "Bring up the lab in the background and print how to reach it",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := upFlags.options()
			if err != nil {
				return err
			}
			d, err := daemon(stderr)
			if err != nil {
				return err
			}
			s, err := d.Up(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, s.Summary())
			return nil
		},
	}
	upFlags.bind(up.Flags(), "timeout")

	var downFlags labFlags
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove its cluster",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := daemon(stderr)
			if err != nil {
				return err
			}
			wasUp, err := d.Down(cmd.Context(), downFlags.name)
			if err != nil {
				return err
			}
			if wasUp {
				fmt.Fprintf(stdout, "lab %q is down\n", downFlags.name)
			} else {
				fmt.Fprintf(stdout, "no lab %q is up\n", downFlags.name)
			}
			return nil
		},
	}
	downFlags.bindName(down.Flags())

	var envFlags labFlags
	env := &cobra.Command{
		Use:   "env",
		Short: "Print a running lab's settings as shell variables (eval \"$(kfp-connect lab env)\")",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := labd.Running(envFlags.name)
			if errors.Is(err, labd.ErrNotUp) {
				return usageErr("%v: run `kfp-connect lab up --name %s` first", err, envFlags.name)
			}
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, s.Env())
			return nil
		},
	}
	envFlags.bindName(env.Flags())

	// serve runs the lab in the foreground until it is interrupted; up
	// starts it in the background.
	var serveFlags labFlags
	serve := &cobra.Command{
		Use:    "serve",
		Short:  "Run the lab in the foreground until interrupted (what `lab up` starts in the background)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := serveFlags.options()
			if err != nil {
				return err
			}
			return labd.ServeForeground(cmd.Context(), opts, slog.New(slog.NewTextHandler(stderr, nil)))
		},
	}
	serveFlags.bind(serve.Flags(), "ready-timeout")
	cmd.AddCommand(up, down, env, serve)
	return cmd
}
