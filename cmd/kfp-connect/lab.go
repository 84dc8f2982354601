package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/kubeflow"
	"github.com/kfp-connect/kfp-connect/internal/lab"
	"github.com/kfp-connect/kfp-connect/internal/labd"
)

// labFlags are the flags of `lab up` and `lab serve`; labd.ServeFlags
// writes them for the serve process that up starts.
type labFlags struct {
	name, mode, source string
	provider           string
	port               int
	timeout            time.Duration
	timeoutFlag        string
	programs           []string
	imageArchives      []string
	timeoutSet         func() bool
}

func (f *labFlags) bindName(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", labd.DefaultName, "lab (cluster) name")
}

func (f *labFlags) bind(fs *pflag.FlagSet, timeoutFlag string) {
	f.bindName(fs)
	f.timeoutFlag = timeoutFlag
	fs.StringVar(&f.mode, "mode", string(kubeflow.MultiUser), "standalone or multi-user")
	fs.StringVar(&f.source, "install", string(install.FromFixtures), "fixtures (our minimal install) or upstream (the real kustomizations under shared/upstream)")
	fs.IntVar(&f.port, "port", 0, "local port forwarded to svc/ml-pipeline-ui:80 (0 picks a free one)")
	fs.DurationVar(&f.timeout, timeoutFlag, 4*time.Minute, "how long to wait for the lab to be ready (on node, 10m unless given: its images are built first)")
	fs.StringArrayVar(&f.programs, "program", nil, "IMAGE=PATH: run this binary as the process of the pods of IMAGE (repeatable), in place of the lab's own (kwok)")
	fs.StringVar(&f.provider, "provider", labd.ProviderKwok, "kwok (fake nodes: the install's programs run in place of its pods) or node (a real kubelet, containerd and runc: real pods of the install's images; root)")
	fs.StringArrayVar(&f.imageArchives, "image-archive", nil, "a docker archive to load into a node lab, such as your notebook image or the doctor's (repeatable)")
	f.timeoutSet = func() bool { return fs.Changed(timeoutFlag) }
}

// options checks the flags and turns them into the lab's options.
func (f *labFlags) options() (labd.Options, error) {
	opts := labd.Options{Name: f.name, Mode: kubeflow.Mode(f.mode), Source: install.Source(f.source), Port: f.port, ReadyTimeout: f.timeout,
		Provider: f.provider, ImageArchives: f.imageArchives}
	switch f.provider {
	case labd.ProviderKwok:
		if len(f.imageArchives) > 0 {
			return opts, usageErr("--image-archive is for --provider node: kwok's pods never run an image")
		}
	case labd.ProviderNode:
		if len(f.programs) > 0 {
			return opts, usageErr("--program is for --provider kwok: on node the pods run their images (load yours with --image-archive)")
		}
		if f.timeoutSet != nil && !f.timeoutSet() {
			opts.ReadyTimeout = 10 * time.Minute
		}
	default:
		return opts, usageErr("--provider %q: want kwok or node", f.provider)
	}
	for i, a := range f.imageArchives {
		abs, err := filepath.Abs(a)
		if fi, serr := os.Stat(abs); err != nil || serr != nil || !fi.Mode().IsRegular() {
			return opts, usageErr("--image-archive %s: not a readable file", a)
		}
		// The lab runs in the background, from wherever: the path must hold there.
		opts.ImageArchives[i] = abs
	}
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
		Short: "Run a Docker-free KFP lab: a real Kubernetes control plane, KFP installed (kwok: stand-ins for its pods; node: real pods)",
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

	var loadName string
	load := &cobra.Command{
		Use:   "load-image ARCHIVE...",
		Short: "Load docker image archives into a running node lab (as `kind load image-archive` does for kind)",
		Long: `load-image imports docker archives (docker save, make images, go-containerregistry's
tarball) into the containerd of a lab brought up with --provider node, under the
tags they carry: pods of those images then start with imagePullPolicy
IfNotPresent (or Never), with no registry. Your notebook image, say, or the
doctor's, for kfp-connect conformance --provider existing --image.`,
		Example: `  make images && kfp-connect lab load-image bin/images/kfp-doctor.tar`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("name at least one image archive")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if fi, err := os.Stat(a); err != nil || !fi.Mode().IsRegular() {
					return usageErr("%s: not a readable file", a)
				}
			}
			err := labd.LoadImages(cmd.Context(), loadName, args...)
			if errors.Is(err, labd.ErrNotUp) {
				return usageErr("%v: run `kfp-connect lab up --provider node --name %s` first", err, loadName)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "loaded %d image archive(s) into lab %q\n", len(args), loadName)
			return nil
		},
	}
	load.Flags().StringVar(&loadName, "name", labd.DefaultName, "lab (cluster) name")
	cmd.AddCommand(up, down, env, serve, load)
	return cmd
}
