package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/kfp-connect/kfp-connect/internal/kube/kubeapi/fromclientset"
	"github.com/kfp-connect/kfp-connect/internal/kube/podenv"
	"github.com/kfp-connect/kfp-connect/internal/lab/sandbox"
	"github.com/kfp-connect/kfp-connect/internal/programs"
	"github.com/kfp-connect/kfp-connect/internal/programs/execargs"
)

// A program that is not a stand-in runs as the pod's process, the way a
// container runtime runs its image: the image's files (the catalogue's,
// from the tools cache, this machine's Debian files, or this executable
// for our own programs) and the pod's volumes at their paths, the command
// line and environment the kubelet computes from the pod and the image's
// config, in a sandbox of its own (internal/lab/sandbox): its own root, its
// own network with the pod's IP, cluster IPs and DNS answered by the lab.

// selfPrograms are the catalogue's programs of this module that the lab's
// own executable runs in a pod (it holds the same code): kfp-standin's
// programs, and the wrapper that runs its arguments.
var selfPrograms = map[string]func(argv []string) int{
	programs.StandinPackage:  standinMain,
	programs.ExecArgsPackage: execargs.Main,
}

// proc is a pod's process.
type proc struct {
	sb   *sandbox.Sandbox
	log  *tailBuffer
	file *os.File // the log on disk
}

// Exited reports whether the process has ended, and how.
func (p *proc) Exited() (bool, error) {
	select {
	case <-p.sb.Done():
		return true, errors.New(p.sb.Exited())
	default:
		return false, nil
	}
}

// LogTail is the end of what the process printed, with a crash's first
// lines kept ahead of it (see tailBuffer).
func (p *proc) LogTail() string { return p.log.String() }

func (p *proc) stop() {
	p.sb.Stop(stopGrace)
	p.file.Close()
}

// labSources supplies an image's binaries on this machine: the tools
// cache's, and this executable for this module's programs.
type labSources struct{ tools string }

// selfMark marks a Source that is a program of this executable.
const selfMark = "\x00self:"

func (labSources) Go(_ context.Context, pkg string) (string, error) {
	if selfPrograms[pkg] == nil {
		return "", fmt.Errorf("the lab cannot run %s in a pod: it is not part of the lab's executable", pkg)
	}
	return selfMark + pkg, nil
}

func (s labSources) Tool(name string) (string, error) {
	p := filepath.Join(s.tools, name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%s is not in the tools cache %s: run `make tools`, or name a binary with --program IMAGE=PATH", name, s.tools)
	}
	return p, nil
}

// image is what the pod's process is made of: its files and config.
func (r *Runtime) image(ctx context.Context, prog *Program, c *corev1.Container) ([]sandbox.File, programs.Config, error) {
	if prog.Image == nil {
		// An image the catalogue lacks: the user's binary is all of it, at
		// the path the container's command names, else as its entrypoint.
		at := "/usr/local/bin/" + filepath.Base(prog.Binary)
		if len(c.Command) > 0 {
			at = c.Command[0]
			if !strings.Contains(at, "/") {
				at = "/usr/local/bin/" + at
			}
		}
		cfg := programs.Config{Entrypoint: []string{at}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
		return []sandbox.File{{Path: path.Clean(at), Source: prog.Binary}}, cfg, nil
	}
	_, tag, _ := programs.Lookup(c.Image)
	cfg := prog.Image.ConfigAt(tag)
	contents, err := prog.Image.Contents(ctx, labSources{tools: prog.Tools})
	if err != nil {
		return nil, cfg, err
	}
	files := make([]sandbox.File, 0, len(contents.Files))
	bin := prog.Image.BinaryPath()
	for _, f := range contents.Files {
		sf := sandbox.File{Path: f.Path, Source: f.Source, Data: f.Data, Dir: f.Dir, Link: f.Link, Mode: os.FileMode(f.Mode) & os.ModePerm, UID: f.UID, GID: f.GID}
		if f.Mode&0o1000 != 0 {
			sf.Mode |= 0o1000
		}
		if pkg, ok := strings.CutPrefix(f.Source, selfMark); ok {
			sf.Source, sf.Self = "", pkg
		}
		if f.Path == bin && prog.Binary != "" {
			sf.Source, sf.Self = prog.Binary, ""
		}
		files = append(files, sf)
	}
	return files, cfg, nil
}

// commandLine is the container's command line as the kubelet and the
// runtime make it: the container's command, or else the image's
// entrypoint; then the container's args, or (with no command of the
// container's) the image's cmd. $(VAR) is expanded in the container's
// words only.
func commandLine(c *corev1.Container, cfg programs.Config, expand func(string) string) []string {
	var argv []string
	if len(c.Command) > 0 {
		for _, a := range c.Command {
			argv = append(argv, expand(a))
		}
	} else {
		argv = append(argv, cfg.Entrypoint...)
	}
	switch {
	case len(c.Args) > 0:
		for _, a := range c.Args {
			argv = append(argv, expand(a))
		}
	case len(c.Command) == 0:
		argv = append(argv, cfg.Cmd...)
	}
	return argv
}

// containerEnv is the process's environment: the image's ENV, then what
// the kubelet gives (service links, envFrom, env), then the runtime's
// HOSTNAME.
func containerEnv(cfg programs.Config, pod map[string]string, hostname string) map[string]string {
	env := cfg.EnvMap()
	for k, v := range pod {
		env[k] = v
	}
	env["HOSTNAME"] = hostname
	return env
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// startProcess runs the pod's program in a sandbox: its image, volumes,
// environment and DNS, with the cluster's Services answered by the lab
// (egress).
func (r *Runtime) startProcess(ctx context.Context, inst *Instance, pod *corev1.Pod, prog *Program, c *corev1.Container) (err error) {
	if prog.Binary != "" {
		if fi, serr := os.Stat(prog.Binary); serr != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file (name another with --program IMAGE=PATH)", prog.Binary)
		}
	}
	dir := filepath.Join(r.root, pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)[:8])
	if err := os.MkdirAll(filepath.Join(dir, "sandbox"), 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	files, cfg, err := r.image(ctx, prog, c)
	if err != nil {
		return err
	}
	vf := volumeFiles{client: r.client, pod: pod, root: dir, ca: r.config.CAData,
		mint: func(ctx context.Context, aud string, secs int64) (string, error) {
			return r.podIdentity(ctx, pod, aud, secs)
		}}
	mounts, err := vf.write(ctx, c)
	if err != nil {
		return err
	}
	podEnv, err := podenv.ContainerEnv(ctx, fromclientset.Wrap(r.client), pod, c)
	if err != nil {
		return err
	}
	env := containerEnv(cfg, podEnv, pod.Name)
	eg, err := newEgress(r, inst.dialer, pod)
	if err != nil {
		return err
	}
	files = append(files, eg.files()...)
	spec := sandbox.Spec{
		Hostname:   pod.Name,
		Dir:        filepath.Join(dir, "sandbox"),
		Files:      files,
		Mounts:     mounts,
		Argv:       commandLine(c, cfg, func(s string) string { return podenv.Expand(s, podEnv) }),
		Env:        envList(env),
		WorkingDir: c.WorkingDir,
		PodIP:      pod.Status.PodIP,
		Listen:     eg.listen(),
	}
	if spec.WorkingDir == "" {
		spec.WorkingDir = cfg.WorkingDir
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return err
	}
	tail := newTailBuffer(64 << 10)
	sb, err := sandbox.Start(ctx, spec, &teeWriter{a: tail, b: logFile})
	if err != nil {
		logFile.Close()
		if errors.Is(err, sandbox.ErrUnsupported) {
			return fmt.Errorf("%s runs as the pod's process, in namespaces of its own: %w", prog.Name, err)
		}
		return fmt.Errorf("%w%s", err, logNoteOf(tail.String()))
	}
	eg.serve(sb)
	inst.egress = eg
	inst.proc = &proc{sb: sb, log: tail, file: logFile}
	return nil
}

// tailBuffer keeps the last max bytes written to it, and the first lines
// of a Go program's crash (from "panic: " or "fatal error: "), which the
// goroutine dump and registers that follow would push out of the tail.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	line  []byte // the line being written
	crash []string
}

// crashLines is how many lines of a crash are kept: the message and the
// first frames of the goroutine that crashed.
const crashLines = 12

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	for _, b := range p {
		if b != '\n' {
			if len(t.line) < 4096 {
				t.line = append(t.line, b)
			}
			continue
		}
		line := string(t.line)
		t.line = t.line[:0]
		switch {
		case len(t.crash) > 0 && len(t.crash) < crashLines:
			t.crash = append(t.crash, line)
		case len(t.crash) == 0 && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")):
			t.crash = append(t.crash, line)
		}
	}
	return len(p), nil
}

// String is the tail from its first whole line.
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

// Tail is the last n lines, after a crash's first lines when those are
// not among them: a Go program's panic, not only its registers.
func (t *tailBuffer) Tail(n int) string {
	last := lastLines(t.String(), n)
	t.mu.Lock()
	crash := append([]string(nil), t.crash...)
	t.mu.Unlock()
	if len(crash) == 0 || strings.Contains(last, crash[0]) {
		return last
	}
	return strings.Join(crash, "\n") + "\n[…]\n" + last
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
