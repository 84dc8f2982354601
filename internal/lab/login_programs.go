package lab

import (
	"fmt"
	"path/filepath"
	"strings"
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

func imageIs(names ...string) func(string) bool {
	return func(image string) bool {
		n := imageName(image)
		for _, want := range names {
			if n == want || strings.HasSuffix(n, "/"+want) {
				return true
			}
		}
		return false
	}
}

// Dex is Kubeflow's OIDC provider (common/dex: ghcr.io/dexidp/dex, command
// `dex serve /etc/dex/cfg/config.yaml`), run from the tools cache. Its web
// listener moves with --web-http-addr, which wins over the config's
// web.http.
func Dex(b Binaries) Program {
	return Program{
		Name:  "dex",
		Match: imageIs("dexidp/dex"),
		Exec: &Exec{
			Binary: filepath.Join(b.Dir, "dex"),
			Listen: func(args []string, addrs map[int32]string) []string {
				for _, addr := range addrs {
					// Dex serves one HTTP port (5556 in Kubeflow).
					return append(args, "--web-http-addr="+addr)
				}
				return args
			},
		},
	}
}

// OAuth2Proxy is Kubeflow ≥ 1.9's ext_authz (common/oauth2-proxy:
// quay.io/oauth2-proxy/oauth2-proxy, args --http-address=0.0.0.0:4180
// --config=…), run from the tools cache; its ports move with --http-address
// and --metrics-address.
func OAuth2Proxy(b Binaries) Program {
	return Program{
		Name:  "oauth2-proxy",
		Match: imageIs("oauth2-proxy/oauth2-proxy"),
		Exec: &Exec{
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
		},
	}
}

// Programs is every program the lab runs: KFP's stand-ins and the gateway,
// the real login programs, and the user's --program binaries. A --program
// for an image the lab knows keeps that program's port handling; any other
// image's binary runs as its container says, reached at its container ports
// on loopback.
func Programs(b Binaries) []Program {
	known := []Program{APIServer, UIServer, Gateway, Dex(b), OAuth2Proxy(b), OpenLDAP(), Kubectl(b)}
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
