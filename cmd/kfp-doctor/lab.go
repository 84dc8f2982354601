package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/install"
	"github.com/kfp-connect/kfp-connect/internal/lab"
)

func newLabCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a Docker-free KFP lab: a real Kubernetes control plane under kwok, KFP installed, stand-ins for its servers",
		Args:  cobra.NoArgs,
	}
	var opts lab.Options
	var mode, source string
	var programs []string
	var timeout time.Duration
	addFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.Name, "name", lab.DefaultName, "lab (cluster) name")
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Bring up the lab in the background and print how to reach it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseLabFlags(&opts, mode, source, programs); err != nil {
				return err
			}
			return labUp(cmd.Context(), opts, timeout, stdout, stderr)
		},
	}
	addFlags(up)
	up.Flags().StringVar(&mode, "mode", string(install.MultiUser), "standalone or multi-user")
	up.Flags().StringVar(&source, "install", string(install.FromFixtures), "fixtures (our minimal install) or upstream (the real kustomizations under shared/upstream)")
	up.Flags().IntVar(&opts.Port, "port", 0, "local port forwarded to svc/ml-pipeline-ui:80 (0 picks a free one)")
	up.Flags().DurationVar(&timeout, "timeout", 4*time.Minute, "how long to wait for the lab to be ready")
	up.Flags().StringArrayVar(&programs, "program", nil, "IMAGE=PATH: run this binary as the process of the pods of IMAGE (repeatable), in place of the lab's own")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove its cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return labDown(cmd.Context(), opts.Name, stdout)
		},
	}
	addFlags(down)

	env := &cobra.Command{
		Use:   "env",
		Short: "Print a running lab's settings as shell variables (eval \"$(kfp-doctor lab env)\")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := lab.ReadState(lab.StateDir(opts.Name))
			if errors.Is(err, fs.ErrNotExist) || (err == nil && !alive(s.PID)) {
				return usageErr("no lab %q is up: run `kfp-doctor lab up` first", opts.Name)
			}
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, s.Env())
			return nil
		},
	}
	addFlags(env)

	// serve is what `up` starts in the background.
	serve := &cobra.Command{
		Use:    "serve",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseLabFlags(&opts, mode, source, programs); err != nil {
				return err
			}
			dir := lab.StateDir(opts.Name)
			log := slog.New(slog.NewTextHandler(stderr, nil))
			defer os.Remove(filepath.Join(dir, "state.json"))
			return lab.Serve(cmd.Context(), opts, log, func(s lab.State) error { return lab.WriteState(dir, s) })
		},
	}
	addFlags(serve)
	serve.Flags().StringVar(&mode, "mode", string(install.MultiUser), "")
	serve.Flags().StringVar(&source, "install", string(install.FromFixtures), "")
	serve.Flags().IntVar(&opts.Port, "port", 0, "")
	serve.Flags().DurationVar(&opts.ReadyTimeout, "ready-timeout", 4*time.Minute, "")
	serve.Flags().StringArrayVar(&programs, "program", nil, "")
	cmd.AddCommand(up, down, env, serve)
	return cmd
}

func parseLabFlags(opts *lab.Options, mode, source string, programs []string) error {
	opts.Mode, opts.Source = install.Mode(mode), install.Source(source)
	if !opts.Mode.Valid() {
		return usageErr("--mode %q: want standalone or multi-user", mode)
	}
	if opts.Source != install.FromFixtures && opts.Source != install.FromUpstream {
		return usageErr("--install %q: want fixtures or upstream", source)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return usageErr("--port %d is not a port", opts.Port)
	}
	progs, err := lab.ParsePrograms(programs)
	if err != nil {
		return usageErr("%v", err)
	}
	for image, path := range progs {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return usageErr("--program %s=%s: not an executable file", image, path)
		}
	}
	opts.Programs = progs
	return nil
}

func usageErr(format string, args ...any) error {
	return &doctor.UsageError{Err: fmt.Errorf(format, args...)}
}

func labUp(ctx context.Context, opts lab.Options, timeout time.Duration, stdout, stderr io.Writer) error {
	dir := lab.StateDir(opts.Name)
	if s, err := lab.ReadState(dir); err == nil && alive(s.PID) {
		fmt.Fprint(stdout, s.Summary())
		return nil
	}
	if _, err := cluster.ToolsBin(os.Getenv, cluster.KwokBinaries...); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "state.json"))
	logPath := filepath.Join(dir, "lab.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"lab", "serve", "--name", opts.Name, "--mode", string(opts.Mode),
		"--install", string(opts.Source), "--port", strconv.Itoa(opts.Port), "--ready-timeout", timeout.String()}
	for image, path := range opts.Programs {
		args = append(args, "--program", image+"="+path)
	}
	child := exec.Command(self, args...)
	child.Stdout, child.Stderr = logFile, logFile
	// Its own session: the lab outlives this command and the terminal's ^C.
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return fmt.Errorf("starting the lab: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	fmt.Fprintf(stderr, "bringing up lab %q (%s, %s install); log: %s\n", opts.Name, opts.Mode, opts.Source, logPath)

	follow := newLogFollower(logPath, stderr)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout + 30*time.Second)
	for {
		follow.poll()
		if s, err := lab.ReadState(dir); err == nil && s.PID == child.Process.Pid {
			fmt.Fprint(stdout, s.Summary())
			return nil
		}
		select {
		case err := <-exited:
			follow.poll()
			return fmt.Errorf("the lab stopped before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			_ = child.Process.Signal(syscall.SIGTERM)
			<-exited
			return fmt.Errorf("interrupted; the lab was stopped: %w", ctx.Err())
		case <-deadline:
			_ = child.Process.Signal(syscall.SIGTERM)
			<-exited
			return fmt.Errorf("the lab was not ready within %s; see %s", timeout, logPath)
		case <-tick.C:
		}
	}
}

func labDown(ctx context.Context, name string, stdout io.Writer) error {
	dir := lab.StateDir(name)
	s, err := lab.ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing ready; a lab still starting has no state yet, so also
		// stop any process of a cluster by that name.
		if kerr := cluster.KillProcessesMentioning(ctx, "lab serve --name "+name+" ", 10*time.Second); kerr != nil {
			return kerr
		}
		fmt.Fprintf(stdout, "no lab %q is up\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	if alive(s.PID) {
		_ = syscall.Kill(s.PID, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for alive(s.PID) && time.Now().Before(deadline) && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if alive(s.PID) {
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
	// Whatever the lab could not clean up itself (it was killed): its
	// cluster's processes all name the work directory.
	if s.Workdir != "" {
		if err := cluster.KillProcessesMentioning(ctx, s.Workdir, 10*time.Second); err != nil {
			return err
		}
		_ = os.RemoveAll(s.Workdir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %q is down\n", name)
	return nil
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state is the field after the command name in parentheses.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}

// logFollower copies new lines of the lab's log to the terminal: progress
// on a wait that takes seconds.
type logFollower struct {
	path   string
	offset int64
	out    io.Writer
}

func newLogFollower(path string, out io.Writer) *logFollower {
	return &logFollower{path: path, out: out}
}

func (f *logFollower) poll() {
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer file.Close()
	if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(file)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // a partial line waits for the next poll
		}
		f.offset += int64(len(line))
		// Our own progress lines only; client-go's retries stay in the log.
		if strings.Contains(line, "level=") {
			fmt.Fprint(f.out, "  │ "+line)
		}
	}
}
