package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunIfChild is the entry of this executable when it is started as a
// sandbox's helper, or as a Self program in a sandbox: it does that job
// and exits. Otherwise it returns at once. Call it first thing (from an
// init of the package that runs sandboxes, after RegisterSelf).
func RunIfChild() {
	if name, ok := os.LookupEnv(selfEnv); ok {
		os.Unsetenv(selfEnv)
		main := selfPrograms[name]
		if main == nil {
			fmt.Fprintf(os.Stderr, "kfp-lab: this executable has no program %q to run\n", name)
			os.Exit(127)
		}
		os.Exit(main(os.Args))
	}
	if os.Getenv(helperEnv) == "" {
		return
	}
	os.Exit(helper())
}

// helper is the sandbox's process: it sets the sandbox up from the Spec
// the caller sends on fd 3, starts the program, answers the caller's
// requests, and exits with the program.
func helper() int {
	ctl, err := net.FileConn(os.NewFile(3, "sandbox control"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfp-lab sandbox: %v\n", err)
		return 1
	}
	h := &helperState{ctl: ctl.(*net.UnixConn)}
	// The caller stops the program by signalling the process group: the
	// helper outlives the program to report how it ended.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT)
	m, _, err := receive(h.ctl)
	if err != nil || m.Spec == nil {
		fmt.Fprintf(os.Stderr, "kfp-lab sandbox: no spec: %v\n", err)
		return 1
	}
	listeners, err := h.setup(m.Spec)
	if err != nil {
		_ = h.reply(message{Error: err.Error()})
		return 1
	}
	if err := h.reply(message{Ready: true}, listeners...); err != nil {
		return 1
	}
	for _, f := range listeners {
		f.Close()
	}
	for {
		m, _, err := receive(h.ctl)
		if err != nil {
			// The caller is gone: so is the pod.
			h.kill()
			return 1
		}
		h.serve(m)
	}
}

type helperState struct {
	ctl  *net.UnixConn
	wmu  sync.Mutex
	spec *Spec
	net  *podNet

	mu   sync.Mutex
	proc *os.Process
}

func (h *helperState) reply(m message, files ...*os.File) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	return send(h.ctl, m, files...)
}

func (h *helperState) setup(spec *Spec) ([]*os.File, error) {
	h.spec = spec
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return nil, os.NewSyscallError("sethostname", err)
		}
	}
	pn, err := newPodNet(spec.PodIP)
	if err != nil {
		return nil, fmt.Errorf("the pod's network: %w", err)
	}
	h.net = pn
	var files []*os.File
	for _, l := range spec.Listen {
		f, err := listenFile(l.Network, l.Addr)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if err := makeRoot(spec); err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("the pod's root: %w", err)
	}
	return files, nil
}

// listenFile opens a socket on the helper's side of the pod's network.
func listenFile(network, addr string) (*os.File, error) {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		return ln.(*net.TCPListener).File()
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		return pc.(*net.UDPConn).File()
	}
	return nil, fmt.Errorf("cannot listen on network %q", network)
}

func (h *helperState) serve(m message) {
	switch m.Op {
	case "start":
		cmd, err := h.start()
		if err != nil {
			_ = h.reply(message{Error: err.Error()})
			return
		}
		// The start is answered before the end is reported, however soon
		// the program ends: the caller learns it ran, then how it ended.
		_ = h.reply(message{OK: true, Pid: cmd.Process.Pid})
		go h.reportEnd(cmd)
	case "dial":
		// The program's port at the pod's IP, as the kubelet's probes and
		// other pods reach it.
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.spec.PodIP, strconv.Itoa(m.Port)), 5*time.Second)
		if err != nil {
			_ = h.reply(message{Error: err.Error(), Refused: errors.Is(err, syscall.ECONNREFUSED)})
			return
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			_ = h.reply(message{Error: err.Error()})
			return
		}
		_ = h.reply(message{OK: true}, f)
		f.Close()
	case "listen":
		f, err := listenFile(m.Network, m.Addr)
		if err != nil {
			_ = h.reply(message{Error: err.Error()})
			return
		}
		_ = h.reply(message{OK: true}, f)
		f.Close()
	default:
		_ = h.reply(message{Error: fmt.Sprintf("unknown request %q", m.Op)})
	}
}

// start runs the program from the pod's network thread, so it is born in
// the pod's network namespace.
func (h *helperState) start() (*exec.Cmd, error) {
	spec := h.spec
	if len(spec.Argv) == 0 {
		return nil, errors.New("no command to run")
	}
	env := append([]string(nil), spec.Env...)
	path, err := lookPath(spec.Argv[0], env)
	if err != nil {
		return nil, err
	}
	if name := selfName(path, spec.Files); name != "" {
		env = append(env, selfEnv+"="+name)
	}
	cmd := &exec.Cmd{
		Path: path, Args: spec.Argv, Env: env, Dir: spec.WorkingDir,
		Stdin: nil, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	if err := h.net.do(cmd.Start); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Argv[0], err)
	}
	h.mu.Lock()
	h.proc = cmd.Process
	h.mu.Unlock()
	return cmd, nil
}

// reportEnd waits for the program, tells the caller how it ended, and
// ends the helper with the program's status.
func (h *helperState) reportEnd(cmd *exec.Cmd) {
	err := cmd.Wait()
	how := "exited 0"
	if err != nil {
		how = err.Error()
	}
	_ = h.reply(message{Exited: how})
	code := cmd.ProcessState.ExitCode()
	if code < 0 {
		code = 128
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code += int(ws.Signal())
		}
	}
	os.Exit(code)
}

func (h *helperState) kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil {
		_ = h.proc.Kill()
	}
}

// lookPath finds a command as the container runtime does: a name without
// a slash on the PATH of the process's environment, inside the root.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH (%s) of the image", cmd, path)
}

// selfName is the Self program a path runs, if it is one of the root's
// Self files (through links).
func selfName(path string, files []File) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	for _, f := range files {
		if f.Self == "" {
			continue
		}
		if p, err := filepath.EvalSymlinks(f.Path); err == nil && p == real {
			return f.Self
		}
	}
	return ""
}
