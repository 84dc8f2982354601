// Package programs is the one catalogue of the programs pods run: for each,
// the images the manifests name it by, what such an image holds and how it
// starts (files, entrypoint, cmd, ENV, user: what an image's config says and a
// Deployment does not), and how it serves. The node provider and kind run
// those images (Builder writes them offline); on kwok the lab runs the same
// program as the pod's process, from the same files and the same image
// config (internal/lab), or — for a stand-in — its server in the lab's own
// process. cmd/kfp-standin, the binary behind the stand-ins' images, is this
// package's Standin.
//
// Adding a program is one file here (a Program passed to register in init)
// and its test.
package programs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/standin/gateway"
)

// Program is one program pods run, by image.
type Program struct {
	// Name is the program's one name: in logs, in the lab's list of what
	// runs, and as kfp-standin's program.
	Name string
	// Repos are the image repositories pods name it by, as written in
	// manifests (docker.io/ may be left out there: see Lookup).
	Repos []string
	// Tags are the tags its images are built with for a node cluster or
	// kind, the manifests' own; the first is the main one. On kwok any tag
	// of a repository runs it.
	Tags []string
	// Config is the image's config at a tag: what a container runs, and
	// with what environment, when its pod spec does not say.
	Config func(tag string) Config
	// Contents are the image's files, made from the binaries src supplies,
	// and its labels.
	Contents func(ctx context.Context, src Sources) (Contents, error)
	// Binary is the image path of the program proper, which a user's
	// --program IMAGE=PATH replaces (Dex's binary, not the wrapper its
	// image starts it through). Empty: the first word of the entrypoint,
	// else of the cmd.
	Binary string
	// Server, for a stand-in, is its HTTP server. The lab serves it in its
	// own process on kwok; in the image, kfp-standin serves it.
	Server *Server
	// Main, for a kfp-standin program that is not a Server (an image's
	// entrypoint that prepares and execs the real program, a webhook), is
	// that program: it runs until ctx ends. A Server's Main, when set,
	// chooses by its arguments (Istio's proxy image runs three programs).
	Main func(ctx context.Context, args []string, stderr io.Writer) error
	// Aliases are other names kfp-standin answers to when called by them
	// (an image's file name, such as /bin/apiserver).
	Aliases []string
}

// Config is an image's config, as `docker inspect` shows it.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE, PATH among them (every image of the catalogue sets it)
	User       string
	WorkingDir string
}

// EnvMap is the config's environment by name.
func (c Config) EnvMap() map[string]string {
	env := map[string]string{}
	for _, kv := range c.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Contents are an image's files and labels.
type Contents struct {
	Files  []images.File
	Labels map[string]string
}

// Sources supplies the binaries images are made of.
type Sources interface {
	// Go is a main package of this module (e.g. StandinPackage), static.
	Go(ctx context.Context, pkg string) (string, error)
	// Tool is a binary of the tools cache (`make tools`): dex, oauth2-proxy.
	Tool(name string) (string, error)
}

// The main packages of this module that images hold.
const (
	StandinPackage  = "github.com/kfp-connect/kfp-connect/cmd/kfp-standin"
	ExecArgsPackage = "github.com/kfp-connect/kfp-connect/internal/images/execargs"
	DoctorPackage   = images.DoctorPackage
)

// Server is a stand-in's HTTP server.
type Server struct {
	// Port is the container port its image serves on.
	Port int
	// Build makes the server from what its container gets.
	Build func(Inputs) (http.Handler, error)
	// Flags, when set, adds the real program's flags to kfp-standin's
	// (its image's cmd passes them); listen is the address served on.
	Flags func(fs *flag.FlagSet, listen *string)
}

// Inputs are what a stand-in's container gets.
type Inputs struct {
	// Lookup reads the container's env, like os.LookupEnv.
	Lookup func(string) (string, bool)
	// Identity acts as the pod's ServiceAccount.
	Identity *rest.Config
	// Transport reaches cluster Services by their DNS names; nil is
	// http.DefaultTransport (a real pod's resolver and kube-proxy).
	Transport http.RoundTripper
	// Mesh is the control plane an Istio proxy reads (the lab's istiod on
	// kwok); nil in a real pod, where the proxy follows istiod's Service.
	Mesh gateway.MeshSource
	// Workload is the pod as the mesh's policies select it; in a real pod
	// it is asked of istiod by the pod's address ($INSTANCE_IP).
	Workload mesh.Workload
}

var errNoIdentity = errors.New("no ServiceAccount identity")

// ConfigAt is p's image config at tag ("" for an image named by digest or
// without a tag).
func (p *Program) ConfigAt(tag string) Config {
	if p.Config == nil {
		return Config{}
	}
	return p.Config(tag)
}

// BinaryPath is where the program proper is in its image.
func (p *Program) BinaryPath() string {
	if p.Binary != "" {
		return p.Binary
	}
	c := p.ConfigAt(p.Tags[0])
	if len(c.Entrypoint) > 0 {
		return c.Entrypoint[0]
	}
	if len(c.Cmd) > 0 {
		return c.Cmd[0]
	}
	return ""
}

// Refs are every repository:tag its images carry.
func (p *Program) Refs() []string {
	var out []string
	for _, r := range p.Repos {
		for _, t := range p.Tags {
			out = append(out, r+":"+t)
		}
	}
	return out
}

// static is a Config that is the same at every tag.
func static(c Config) func(string) Config { return func(string) Config { return c } }

// catalogue is filled by each file of this package with register, in init.
var catalogue []*Program

func register(p Program) {
	if p.Name == "" || len(p.Repos) == 0 || len(p.Tags) == 0 || p.Contents == nil {
		panic(fmt.Sprintf("programs: %q needs a name, repositories, tags and contents", p.Name))
	}
	for _, q := range catalogue {
		if q.Name == p.Name || slices.Contains(q.Aliases, p.Name) {
			panic("programs: name registered twice: " + p.Name)
		}
		for _, r := range p.Repos {
			if slices.Contains(q.Repos, r) {
				panic("programs: repository registered twice: " + r)
			}
		}
	}
	catalogue = append(catalogue, &p)
}

// All lists every program, by name.
func All() []*Program {
	out := slices.Clone(catalogue)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Named is the program called name (or by one of its aliases).
func Named(name string) (*Program, bool) {
	for _, p := range catalogue {
		if p.Name == name || slices.Contains(p.Aliases, name) {
			return p, true
		}
	}
	return nil, false
}

// Lookup is the program of an image as a pod spec names it, at any tag
// (docker.io/ and library/ may be left out, as containerd normalises them),
// and the tag named ("" for a digest or no tag).
func Lookup(image string) (*Program, string, bool) {
	repo, tag, ok := splitRef(image)
	if !ok {
		return nil, "", false
	}
	for _, p := range catalogue {
		for _, r := range p.Repos {
			if want, _, ok := splitRef(r); ok && want == repo {
				return p, tag, true
			}
		}
	}
	return nil, "", false
}

// Find is the program whose images carry exactly ref: a repository and one
// of its Tags.
func Find(ref string) (*Program, string, bool) {
	p, tag, ok := Lookup(ref)
	if !ok || !slices.Contains(p.Tags, tag) {
		return nil, "", false
	}
	return p, tag, true
}

// Repository is an image reference without its tag or digest, normalised
// as containerd does (docker.io/library/ for Docker Hub's short names).
func Repository(image string) string {
	repo, _, _ := splitRef(image)
	return repo
}

// splitRef splits an image reference into its repository, normalised as
// containerd does (a first component without a dot or colon is Docker
// Hub's; a single one is Docker Hub's library/), and its tag ("" for none).
// A digest is dropped.
func splitRef(image string) (repo, tag string, ok bool) {
	base, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		base, tag = base[:i], base[i+1:]
	}
	if base == "" || strings.ContainsAny(base, " \t\n") {
		return "", "", false
	}
	first, _, found := strings.Cut(base, "/")
	switch {
	case !found:
		base = "docker.io/library/" + base
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		base = "docker.io/" + base
	}
	return base, tag, true
}
