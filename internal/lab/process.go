package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
)

// Exec is a program the lab runs as a real binary in place of a container:
// the container's command line (its $(VAR)s expanded), its environment as the
// kubelet computes it, its volumes written as files, and its ports bound on
// loopback. A process is not in a pod's network or mount namespace, so three
// things are translated, each the same way for every program:
//   - paths under a volume mount (in arguments, environment values and
//     mounted text files) are re-rooted into the pod's directory;
//   - the Services a pod would reach by its service-link variables
//     (<NAME>_SERVICE_HOST/_PORT) are loopback forwarders into the cluster,
//     and by name through HTTP_PROXY, a proxy that resolves cluster names
//     as the pod's DNS would; nothing else is dialled (loopback aside);
//   - each container port is a free loopback port, given to the program by
//     Listen (a program binds where its command line says).
type Exec struct {
	// Binary is the program's path (the tools cache, or a user's
	// --program IMAGE=PATH).
	Binary string
	// Listen returns the command line with each container port bound to
	// its loopback address (addrs by container port).
	Listen func(args []string, addrs map[int32]string) []string
	// Prepare, when set, runs before the process starts (an image's
	// entrypoint script, such as an LDAP server loading its directory),
	// with the process's environment and directory. It may rewrite the
	// command line.
	Prepare func(ctx context.Context, p *Proc) error
}

// Proc is one process the lab runs for a pod.
type Proc struct {
	Args []string          // the command line; Args[0] is the binary
	Env  map[string]string // what the process sees
	Dir  string            // the pod's directory: volumes, home, log
	// Mounts maps each container mount path to the file or directory
	// written for it under Dir.
	Mounts map[string]string
	// Addrs maps each container port to its loopback address.
	Addrs map[int32]string

	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// HostPath is where a path inside the container is on this machine.
func (p *Proc) HostPath(containerPath string) string { return reroot(containerPath, p.Mounts) }

// start runs the process in its own process group, so that stopping it
// stops whatever it forks too.
func (p *Proc) start() error {
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = envList(p.Env)
	p.log = newTailBuffer(64 << 10)
	logFile, err := os.Create(filepath.Join(p.Dir, "log"))
	if err != nil {
		return err
	}
	out := &teeWriter{a: p.log, b: logFile}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", p.Args[0], err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return nil
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// LogTail is the end of what the process printed.
func (p *Proc) LogTail() string {
	if p.log == nil {
		return ""
	}
	return p.log.String()
}

// stop ends the process group: SIGTERM, then SIGKILL after grace.
func (p *Proc) stop(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived their parent in the group go too.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// commandLine is the container's command and args as the kubelet runs them:
// $(VAR) expanded from the container's env; the image's entrypoint (the
// binary) when no command is given. The first word of a command is the
// image's program, which is Binary here.
func commandLine(c *corev1.Container, binary string, expand func(string) string) []string {
	args := []string{binary}
	if len(c.Command) > 0 {
		for _, a := range c.Command[1:] {
			args = append(args, expand(a))
		}
	}
	for _, a := range c.Args {
		args = append(args, expand(a))
	}
	return args
}

// reroot replaces every container path under a mount in s with its host
// path. A mount path counts where it starts a path: at the start of s or
// after one of = : , space or a quote, and followed by the end, a slash or
// a non-path character. Longer mount paths win over their parents.
func reroot(s string, mounts map[string]string) string {
	if len(mounts) == 0 || s == "" {
		return s
	}
	keys := make([]string, 0, len(mounts))
	for k := range mounts {
		keys = append(keys, k)
	}
	// Longest first, so /etc/dex/cfg is matched before /etc/dex.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if len(keys[j]) > len(keys[i]) {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || strings.ContainsRune("=:, \"'", rune(s[i-1])) {
			for _, k := range keys {
				if strings.HasPrefix(s[i:], k) {
					end := i + len(k)
					if end == len(s) || strings.ContainsRune("/\"', :;\n", rune(s[end])) {
						b.WriteString(mounts[k])
						i, matched = end, true
						break
					}
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// freeLoopback returns a free port on 127.0.0.1. The program binds it a
// moment later; a collision shows as the program failing to listen, which
// the runtime reports with its log.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is the tail, from the first whole line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) == t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

type teeWriter struct {
	a *tailBuffer
	b *os.File
}

func (w *teeWriter) Write(p []byte) (int, error) {
	// A full disk must not stop the program: the tail is kept regardless.
	_, _ = w.a.Write(p)
	_, _ = w.b.Write(p)
	return len(p), nil
}

// errExited is what a process that ended before it was ready reports.
var errExited = errors.New("the program exited")

// startProcess runs a program's binary for the pod: its directory, its
// volumes, its environment with the Services reachable, its ports, then the
// process itself.
func (r *Runtime) startProcess(ctx context.Context, inst *Instance, pod *corev1.Pod, prog *Program, c *corev1.Container) (err error) {
	if prog.Exec.Binary == "" {
		return fmt.Errorf("no binary for %s: build it with `make tools`, or name one with --program IMAGE=PATH", prog.Name)
	}
	if fi, serr := os.Stat(prog.Exec.Binary); serr != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (build it with `make tools`, or name another with --program IMAGE=PATH)", prog.Exec.Binary)
	}
	dir := filepath.Join(r.root, pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)[:8])
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return err
	}
	eg, err := newEgress(inst.dialer)
	if err != nil {
		return err
	}
	inst.egress = eg
	defer func() {
		if err != nil {
			eg.close()
			inst.egress = nil
			_ = os.RemoveAll(dir)
		}
	}()
	vf := volumeFiles{client: r.client, pod: pod, root: dir, ca: r.config.CAData,
		mint: func(ctx context.Context, aud string, secs int64) (string, error) {
			return r.podIdentity(ctx, pod, aud, secs)
		}}
	mounts, err := vf.write(ctx, c)
	if err != nil {
		return err
	}
	if err := rerootFiles(mounts); err != nil {
		return err
	}
	env, err := podenv.ContainerEnvVia(ctx, fromclientset.Wrap(r.client), pod, c, eg.link)
	if err != nil {
		return err
	}
	// The kubelet's own service link: the API server, which is on loopback
	// here already.
	if u, perr := url.Parse(r.config.Host); perr == nil {
		env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"] = u.Hostname(), u.Port()
	}
	for k, v := range env {
		env[k] = reroot(v, mounts)
	}
	for k, v := range eg.env() {
		env[k] = v
	}
	env["HOME"], env["TMPDIR"] = filepath.Join(dir, "home"), filepath.Join(dir, "home")
	if _, ok := env["PATH"]; !ok {
		env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
	}
	// Each port on a free loopback port, given to the program by Listen; a
	// program the lab does not know how to move binds where its command
	// line says, and is reached on loopback at the container port itself.
	addrs := map[int32]string{}
	for _, p := range c.Ports {
		if prog.Exec.Listen == nil {
			addrs[p.ContainerPort] = fmt.Sprintf("127.0.0.1:%d", p.ContainerPort)
		} else if addrs[p.ContainerPort], err = freeLoopback(); err != nil {
			return err
		}
	}
	args := commandLine(c, prog.Exec.Binary, func(s string) string { return podenv.Expand(s, env) })
	for i := range args[1:] {
		args[i+1] = reroot(args[i+1], mounts)
	}
	if prog.Exec.Listen != nil {
		args = prog.Exec.Listen(args, addrs)
	}
	p := &Proc{Args: args, Env: env, Dir: dir, Mounts: mounts, Addrs: addrs}
	if prog.Exec.Prepare != nil {
		if err := prog.Exec.Prepare(ctx, p); err != nil {
			return fmt.Errorf("preparing %s: %w", prog.Name, err)
		}
	}
	if err := p.start(); err != nil {
		return err
	}
	inst.proc = p
	return nil
}
