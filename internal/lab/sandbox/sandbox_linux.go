package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sandbox is a running pod process.
type Sandbox struct {
	cmd *exec.Cmd
	ctl *net.UnixConn
	// Sockets are the Spec's Listen, in order: net.Listener for tcp,
	// net.PacketConn for udp.
	Sockets []any
	// Pid is the program's.
	Pid int

	mu      sync.Mutex // one request at a time
	replies chan reply
	done    chan struct{}
	exited  string // how the program ended, once done is closed
	waitErr error
}

type reply struct {
	m     message
	files []*os.File
	err   error
}

// Start makes the sandbox, starts the program in it, and returns once it
// runs; out receives what the helper and the program print.
func Start(ctx context.Context, spec Spec, out io.Writer) (_ *Sandbox, err error) {
	if spec.PodIP == "" {
		return nil, errors.New("sandbox: the pod has no IP yet")
	}
	ctl, theirs, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	self, err := os.Executable()
	if err != nil {
		ctl.Close()
		return nil, err
	}
	cmd := exec.Command(self)
	// Named by its pod and directory, so `ps` (and a clean-up looking for
	// what mentions the lab's directory) finds it.
	cmd.Args = []string{"kfp-lab-sandbox", spec.Hostname, spec.Dir}
	cmd.Env = []string{helperEnv + "=1"}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = out, out
	// A writer that is not a file is fed by a copy that ends when every
	// holder of the pipe has closed it: a forked child outliving the
	// program must not hold Wait (and Done) for ever.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS,
		// The program is in the helper's group: stopping the group stops
		// whatever the program forked too.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if os.Geteuid() != 0 {
		// Rootless: the namespaces belong to a user namespace where this
		// user is root.
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	if err := cmd.Start(); err != nil {
		ctl.Close()
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w (%v): run as root, or allow user namespaces to unprivileged users (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("starting the sandbox helper: %w", err)
	}
	// The helper has its copy: with ours closed, the helper's exit is the
	// control socket's end.
	theirs.Close()
	s := &Sandbox{cmd: cmd, ctl: ctl, replies: make(chan reply, 1), done: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		s.read()
		close(readDone)
	}()
	// Done means all of it is over: the helper's last message (how the
	// program exited) read, and what it printed copied to out. So the
	// control socket is read to its end before it is closed, and closed
	// only if something else holds the helper's end open.
	go func() {
		s.waitErr = cmd.Wait()
		select {
		case <-readDone:
		case <-time.After(time.Second):
			ctl.Close()
			<-readDone
		}
		close(s.done)
	}()
	defer func() {
		if err != nil {
			s.Kill()
			<-s.done
		}
	}()
	r, err := s.request(ctx, message{Spec: &spec})
	if err != nil {
		// The helper's refusal crosses as text: make it the error again.
		if msg := err.Error(); strings.HasPrefix(msg, ErrUnsupported.Error()) {
			return nil, fmt.Errorf("%w%s", ErrUnsupported, strings.TrimPrefix(msg, ErrUnsupported.Error()))
		}
		return nil, err
	}
	if !r.m.Ready || len(r.files) != len(spec.Listen) {
		closeFiles(r.files)
		return nil, fmt.Errorf("sandbox: %d sockets for %d asked", len(r.files), len(spec.Listen))
	}
	for i, f := range r.files {
		sock, err := fileSocket(spec.Listen[i].Network, f)
		if err != nil {
			closeFiles(r.files[i:])
			s.closeSockets()
			return nil, err
		}
		s.Sockets = append(s.Sockets, sock)
	}
	r, err = s.request(ctx, message{Op: "start"})
	if err != nil {
		s.closeSockets()
		return nil, err
	}
	s.Pid = r.m.Pid
	return s, nil
}

func fileSocket(network string, f *os.File) (any, error) {
	defer f.Close()
	if network == "udp" {
		return net.FilePacketConn(f)
	}
	return net.FileListener(f)
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

func (s *Sandbox) closeSockets() {
	for _, sock := range s.Sockets {
		if c, ok := sock.(io.Closer); ok {
			c.Close()
		}
	}
}

// read routes the helper's messages: the program's end, or a reply.
func (s *Sandbox) read() {
	for {
		m, files, err := receive(s.ctl)
		if err != nil {
			select {
			case s.replies <- reply{err: fmt.Errorf("the sandbox ended: %w", err)}:
			default:
			}
			return
		}
		if m.Exited != "" {
			s.exited = m.Exited
			continue
		}
		s.replies <- reply{m: m, files: files}
	}
}

// request sends m and waits for the reply.
func (s *Sandbox) request(ctx context.Context, m message) (reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return reply{}, s.endError()
	default:
	}
	if err := send(s.ctl, m); err != nil {
		return reply{}, fmt.Errorf("sandbox: %w", err)
	}
	select {
	case r := <-s.replies:
		if r.err != nil {
			return r, s.endError()
		}
		if r.m.Error != "" {
			closeFiles(r.files)
			if r.m.Refused {
				return r, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
			}
			return r, errors.New(r.m.Error)
		}
		return r, nil
	case <-ctx.Done():
		return reply{}, ctx.Err()
	case <-s.done:
		return reply{}, s.endError()
	}
}

func (s *Sandbox) endError() error {
	if s.exited != "" {
		return fmt.Errorf("the program exited (%s)", s.exited)
	}
	return errors.New("the sandbox ended")
}

// Dial connects to the program's port, as other pods reach it.
func (s *Sandbox) Dial(ctx context.Context, port int) (net.Conn, error) {
	r, err := s.request(ctx, message{Op: "dial", Port: port})
	if err != nil {
		return nil, err
	}
	if len(r.files) != 1 {
		closeFiles(r.files)
		return nil, errors.New("sandbox: dial returned no connection")
	}
	defer r.files[0].Close()
	return net.FileConn(r.files[0])
}

// Listen opens another socket on the sandbox's side of the pod's network
// (a Service created after the pod started).
func (s *Sandbox) Listen(ctx context.Context, l Listen) (any, error) {
	r, err := s.request(ctx, message{Op: "listen", Network: l.Network, Addr: l.Addr})
	if err != nil {
		return nil, err
	}
	if len(r.files) != 1 {
		closeFiles(r.files)
		return nil, errors.New("sandbox: listen returned no socket")
	}
	return fileSocket(l.Network, r.files[0])
}

// Done is closed when the sandbox has ended.
func (s *Sandbox) Done() <-chan struct{} { return s.done }

// Exited says how the program ended ("" while it runs, or when the
// sandbox failed before it started).
func (s *Sandbox) Exited() string {
	select {
	case <-s.done:
		return s.exited
	default:
		return ""
	}
}

// Stop ends the program: SIGTERM to its group, SIGKILL after grace. The
// sandbox's namespaces, mounts and network go with it.
func (s *Sandbox) Stop(grace time.Duration) {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		s.Kill()
		<-s.done
	}
	s.closeSockets()
	// Anything of the group that outlived the helper goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Kill ends the sandbox at once.
func (s *Sandbox) Kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}
