package labd

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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/internal/cluster/node"
	"github.com/kfp-connect/kfp-connect/internal/cluster/procs"
	"github.com/kfp-connect/kfp-connect/internal/procstat"
)

// ErrNotUp is wrapped by Running when no lab of that name is up.
var ErrNotUp = errors.New("no lab is up")

// Daemon runs a lab as a background process of its own, so the lab outlives
// the command that brought it up, and finds and stops it again from another
// invocation through its state directory (StateDir).
type Daemon struct {
	// Serve is the command line that runs ServeForeground in the
	// foreground: the executable and its subcommand, e.g.
	// {"/usr/local/bin/kfp-connect", "lab", "serve"}. Up appends
	// ServeFlags; the subcommand must accept them.
	Serve []string
	// Progress receives the lab's progress lines while Up waits.
	Progress io.Writer
	// Grace is how much longer than the lab's ReadyTimeout Up waits for
	// the lab to report its own failure before it stops it; 0 means 30s.
	Grace time.Duration
}

// ServeFlags are the flags that hand opts to the serve subcommand. --name
// comes first: Down finds a lab that is still starting by
// "<subcommand> --name <name> " in its command line.
func ServeFlags(opts Options) []string {
	args := []string{"--name", opts.Name, "--mode", string(opts.Mode), "--install", string(opts.Source),
		"--port", strconv.Itoa(opts.Port), "--ready-timeout", opts.ReadyTimeout.String()}
	if opts.Provider != "" {
		args = append(args, "--provider", opts.Provider)
	}
	for image, path := range opts.Programs {
		args = append(args, "--program", image+"="+path)
	}
	for _, a := range opts.ImageArchives {
		args = append(args, "--image-archive", a)
	}
	return args
}

// Up starts the lab in the background and returns its state once it is
// ready. A lab of that name that is already up is returned as it is. On
// ctx's end or when the lab is not ready within opts.ReadyTimeout (plus
// Grace) the lab is stopped and Up says where its log is.
func (d Daemon) Up(ctx context.Context, opts Options) (State, error) {
	if len(d.Serve) == 0 {
		return State{}, errors.New("lab daemon: no serve command configured")
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	progress := d.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir := StateDir(opts.Name)
	if s, err := ReadState(dir); err == nil && alive(s.PID) {
		return s, nil
	}
	tools := cluster.KwokBinaries
	if opts.Provider == ProviderNode {
		tools = append(slices.Clone(cluster.NodeBinaries), "coredns")
	}
	if _, err := cluster.ToolsBin(os.Getenv, tools...); err != nil {
		return State{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return State{}, fmt.Errorf("creating the lab's state directory: %w", err)
	}
	_ = os.Remove(filepath.Join(dir, "state.json"))
	logPath := filepath.Join(dir, "lab.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return State{}, fmt.Errorf("creating the lab's log: %w", err)
	}
	defer logFile.Close()
	args := append(append([]string{}, d.Serve[1:]...), ServeFlags(opts)...)
	child := exec.Command(d.Serve[0], args...)
	child.Stdout, child.Stderr = logFile, logFile
	// Its own session: the lab outlives this command and the terminal's ^C.
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return State{}, fmt.Errorf("starting the lab: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	fmt.Fprintf(progress, "bringing up lab %q (%s, %s install, on %s); log: %s\n", opts.Name, opts.Mode, opts.Source, providerOf(opts), logPath)

	grace := d.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	follow := &logFollower{path: logPath, out: progress}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(opts.ReadyTimeout + grace)
	defer deadline.Stop()
	stop := func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		<-exited
	}
	for {
		follow.poll()
		if s, err := ReadState(dir); err == nil && s.PID == child.Process.Pid {
			return s, nil
		}
		select {
		case err := <-exited:
			follow.poll()
			return State{}, fmt.Errorf("the lab stopped before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			stop()
			return State{}, fmt.Errorf("interrupted; the lab was stopped: %w", ctx.Err())
		case <-deadline.C:
			stop()
			return State{}, fmt.Errorf("the lab was not ready within %s; see %s", opts.ReadyTimeout, logPath)
		case <-tick.C:
		}
	}
}

// Running returns the state of the lab named name; ErrNotUp when there is
// none or its process is gone.
func Running(name string) (State, error) {
	s, err := ReadState(StateDir(name))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !alive(s.PID)) {
		return State{}, fmt.Errorf("%w: no lab %q is up", ErrNotUp, name)
	}
	return s, err
}

// Down stops the lab named name and removes its cluster and state; it
// reports whether there was a lab to stop.
func (d Daemon) Down(ctx context.Context, name string) (bool, error) {
	dir := StateDir(name)
	s, err := ReadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing ready; a lab still starting has no state yet, so also
		// stop any serve process of that name.
		if len(d.Serve) == 0 {
			return false, nil
		}
		mark := strings.Join(append(append([]string{}, d.Serve[1:]...), "--name", name), " ") + " "
		return false, procs.KillMentioning(ctx, mark, 10*time.Second)
	}
	if err != nil {
		return false, err
	}
	if alive(s.PID) {
		_ = syscall.Kill(s.PID, syscall.SIGTERM)
		tick := time.NewTicker(100 * time.Millisecond)
		deadline := time.NewTimer(90 * time.Second)
	wait:
		for alive(s.PID) {
			select {
			case <-ctx.Done():
				break wait
			case <-deadline.C:
				break wait
			case <-tick.C:
			}
		}
		tick.Stop()
		deadline.Stop()
		if alive(s.PID) {
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
	// Whatever the lab could not clean up itself (it was killed): a node
	// cluster whose owner is gone is reaped whole (namespaces, cgroups,
	// processes); a kwok cluster's processes all name the work directory.
	if s.Provider == ProviderNode {
		if _, err := node.ReapOrphans(ctx, ""); err != nil {
			return true, err
		}
	}
	if s.Workdir != "" {
		if err := procs.KillMentioning(ctx, s.Workdir, 10*time.Second); err != nil {
			return true, err
		}
		_ = os.RemoveAll(s.Workdir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return true, fmt.Errorf("removing the lab's state: %w", err)
	}
	return true, nil
}

// ServeForeground is what the serve subcommand runs: Serve, with the state
// written to the lab's state directory once it is ready (Up and Running
// read it there) and removed when the lab stops.
func ServeForeground(ctx context.Context, opts Options, log *slog.Logger) error {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	dir := StateDir(opts.Name)
	defer os.Remove(filepath.Join(dir, "state.json"))
	return Serve(ctx, opts, log, func(s State) error { return WriteState(dir, s) })
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	// Unreadable or unparsable: kill(0) said it exists, so it runs.
	st, ok := procstat.Read(strconv.Itoa(pid))
	return !ok || st != 'Z'
}

// logFollower copies new lines of the lab's log to the terminal: progress
// on a wait that takes seconds.
type logFollower struct {
	path   string
	offset int64
	out    io.Writer
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

func providerOf(opts Options) string {
	if opts.Provider == "" {
		return ProviderKwok
	}
	return opts.Provider
}
