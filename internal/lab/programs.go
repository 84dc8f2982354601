package lab

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/mesh"
	"github.com/kfp-connect/kfp-connect/internal/programs"
)

// Binaries says where the real programs' binaries are.
type Binaries struct {
	// Dir is the tools cache (tools/build.sh builds dex and oauth2-proxy
	// there).
	Dir string
	// ByImage are the user's --program IMAGE=PATH: a binary for the pods of
	// an image (its repository, or a whole reference).
	ByImage map[string]string
}

// Programs is every program the lab runs, from the catalogue
// (internal/programs): a stand-in is served in the lab's process, any
// other program runs as the pod's process from its image's files and
// config. A --program binary takes the place of its image's program proper
// (the catalogue's Binary; for an image the catalogue lacks, the image is
// that binary alone), and runs as the pod's process.
func Programs(b Binaries) []Program {
	var out []Program
	override := map[*programs.Program]string{}
	for image, path := range b.ByImage {
		if p, _, ok := programs.Lookup(image); ok {
			override[p] = path
			continue
		}
		want := programs.Repository(image)
		out = append(out, Program{
			Name:   filepath.Base(path),
			Match:  func(img string) bool { return programs.Repository(img) == want },
			Binary: path,
		})
	}
	for _, p := range programs.All() {
		match := func(image string) bool {
			q, _, ok := programs.Lookup(image)
			return ok && q == p
		}
		if p.Name == programs.Istiod {
			// The lab is istiod itself (mesh.go): the istiod pod's ports
			// answer with the lab's own discovery, so a process other than
			// the lab's (conformance --provider existing, waiting for the
			// proxies to hold a mesh fault) reads the mesh through a
			// port-forward to Service istio-system/istiod as on a node.
			out = append(out, Program{Name: p.Name, Match: match, Handler: labIstiod})
			continue
		}
		bin, overridden := override[p]
		if p.Server != nil && !overridden {
			out = append(out, Program{Name: p.Name, Match: match, Handler: standin(p)})
			continue
		}
		out = append(out, Program{Name: p.Name, Match: match, Image: p, Binary: bin, Tools: b.Dir})
	}
	return out
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
		pin := programs.Inputs{
			Lookup:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Identity:  in.Identity,
			Transport: in.Dialer.Transport(),
		}
		// A proxy reads the lab's istiod, as its workload.
		if in.Mesh != nil {
			pin.Mesh = in.Mesh
			pin.Workload = mesh.Workload{Namespace: in.Pod.Namespace, Labels: in.Pod.Labels}
		}
		return p.Server.Build(pin)
	}
}

// labIstiod serves the lab's istiod's discovery on the istiod pod's ports.
func labIstiod(_ context.Context, in Inputs) (http.Handler, error) {
	if in.Mesh == nil {
		return nil, fmt.Errorf("the lab's istiod is not running")
	}
	return in.Mesh.Handler(), nil
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
