package lab

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/programs"
	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// Binaries says where the real programs' binaries are.
type Binaries struct {
	// Dir is the tools cache (tools/build.sh builds dex and oauth2-proxy
	// there).
	Dir string
	// ByImage are the user's --program IMAGE=PATH: a binary for the pods of
	// an image (the name before the tag, or the whole reference).
	ByImage map[string]string
}

// imageName is an image reference without its tag or digest.
func imageName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// Programs is every program the lab runs: the catalogue's (internal/programs),
// and the user's --program binaries. A stand-in is served in the lab's
// process; a real program runs as a process (execs below). A --program for
// an image the lab knows keeps that program's port handling; any other
// image's binary runs as its container says, reached at its container ports
// on loopback.
func Programs(b Binaries) []Program {
	var known []Program
	for _, p := range programs.All() {
		p := p
		match := func(image string) bool {
			q, _, ok := programs.Lookup(image)
			return ok && q == p
		}
		switch {
		case p.Server != nil:
			known = append(known, Program{Name: p.Name, Match: match, Handler: standin(p)})
		case execs[p.Name] != nil:
			ex := execs[p.Name](b)
			known = append(known, Program{Name: p.Name, Match: match, Exec: &ex})
		}
	}
	var out []Program
	for image, path := range b.ByImage {
		var p *Program
		for i := range known {
			if known[i].Exec != nil && known[i].Match(image) {
				cp := known[i]
				ex := *cp.Exec
				ex.Binary = path
				cp.Exec, p = &ex, &cp
			}
		}
		if p == nil {
			want := imageName(image)
			p = &Program{Name: filepath.Base(path), Match: func(img string) bool { return imageName(img) == want }, Exec: &Exec{Binary: path}}
		}
		out = append(out, *p)
	}
	return append(out, known...)
}

// standin serves a catalogue stand-in with what its container would get:
// its image's ENV under the pod's env.
func standin(p *programs.Program) func(context.Context, Inputs) (http.Handler, error) {
	return func(_ context.Context, in Inputs) (http.Handler, error) {
		_, tag, _ := programs.Lookup(in.Container.Image)
		env := p.ConfigAt(tag).EnvMap()
		for k, v := range in.Env {
			env[k] = v
		}
		return p.Server.Build(programs.Inputs{
			Lookup:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Identity:  in.Identity,
			Transport: in.Dialer.Transport(),
		})
	}
}

// execs are the real programs the lab runs as processes, by catalogue
// name: which binary, and how it is moved off its container ports.
var execs = map[string]func(Binaries) Exec{
	// Dex's web listener moves with --web-http-addr, which wins over the
	// config's web.http.
	"dex": func(b Binaries) Exec {
		return Exec{
			Binary: filepath.Join(b.Dir, "dex"),
			Listen: func(args []string, addrs map[int32]string) []string {
				for _, addr := range addrs {
					// Dex serves one HTTP port (5556 in Kubeflow).
					return append(args, "--web-http-addr="+addr)
				}
				return args
			},
		}
	},
	// oauth2-proxy's ports move with --http-address and --metrics-address.
	"oauth2-proxy": func(b Binaries) Exec {
		return Exec{
			Binary: filepath.Join(b.Dir, "oauth2-proxy"),
			Listen: func(args []string, addrs map[int32]string) []string {
				out := make([]string, 0, len(args)+2)
				for _, a := range args {
					if !strings.HasPrefix(a, "--http-address") && !strings.HasPrefix(a, "--metrics-address") {
						out = append(out, a)
					}
				}
				if a, ok := addrs[4180]; ok {
					out = append(out, "--http-address="+a)
				}
				if a, ok := addrs[44180]; ok {
					out = append(out, "--metrics-address="+a)
				}
				return out
			},
		}
	},
	// The LDAP directory: slapd, configured from the container's env the
	// way the bitnami image's entrypoint reads it.
	"openldap": func(Binaries) Exec {
		return Exec{
			Binary:  openldap.Debian.Slapd,
			Listen:  func(args []string, _ map[int32]string) []string { return args },
			Prepare: prepareSlapd,
		}
	},
}

func prepareSlapd(ctx context.Context, p *Proc) error {
	c := openldap.FromEnv(func(k string) string { return p.Env[k] })
	var addr string
	for cp, a := range p.Addrs {
		if fmt.Sprint(cp) == c.Port || addr == "" {
			addr = a
		}
	}
	if addr == "" {
		return fmt.Errorf("the container declares no port for LDAP_PORT_NUMBER %s", c.Port)
	}
	var ldifs []string
	// The env was re-rooted already; a path not under the pod's directory
	// is not mounted, and must not be read from this machine.
	if host := p.HostPath(c.LDIFDir); strings.HasPrefix(host, p.Dir+string(filepath.Separator)) {
		var err error
		if ldifs, err = openldap.LDIFs(host); err != nil {
			return err
		}
	}
	args, err := c.Prepare(ctx, openldap.Debian, p.Dir, ldifs, addr)
	if err != nil {
		return err
	}
	p.Args = args
	return nil
}

// ParsePrograms reads --program IMAGE=PATH values.
func ParsePrograms(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		image, path, ok := strings.Cut(v, "=")
		if !ok || image == "" || path == "" {
			return nil, fmt.Errorf("--program %q: want IMAGE=PATH, such as ghcr.io/dexidp/dex=/usr/local/bin/dex", v)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--program %q: %w", v, err)
		}
		out[image] = abs
	}
	return out, nil
}
