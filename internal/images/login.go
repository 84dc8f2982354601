package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// The login programs' images, tagged as the fixtures
// (fixtures/kfp/multi-user/8*.yaml) and the upstream manifests name them,
// so their pods run unchanged on a node cluster.
const (
	DexRef = "ghcr.io/dexidp/dex:v2.45.1"
	// DexUpstreamRef is what kubeflow/manifests common/dex pins; the same
	// image (Dex v2.45.1, a patch release later) answers to it.
	DexUpstreamRef = "ghcr.io/dexidp/dex:v2.45.0"
	// OAuth2ProxyRef is the fixtures' and common/oauth2-proxy's tag. The
	// binary in it is the tools cache's (tools/build.sh's
	// OAUTH2_PROXY_VERSION), which the lab also runs for this image on kwok;
	// the image's version label says which it is.
	OAuth2ProxyRef = "quay.io/oauth2-proxy/oauth2-proxy:v7.14.3"
	OpenLDAPRef    = "docker.io/bitnami/openldap:2.6.10"
)

// The main packages the login images need besides the tools cache's.
const (
	StandinPackage  = "github.com/kfp-connect/kfp-connect/cmd/kfp-standin"
	ExecArgsPackage = "github.com/kfp-connect/kfp-connect/internal/images/execargs"
)

// LoginRefs are the tags LoginImages carry, for a catalogue of images.
func LoginRefs() []string { return []string{DexRef, DexUpstreamRef, OAuth2ProxyRef, OpenLDAPRef} }

// LoginBinaries are the binaries the login images are made of.
type LoginBinaries struct {
	ToolsBin string // dex and oauth2-proxy, static (tools/build.sh)
	Standin  string // kfp-standin, static (StandinPackage)
	ExecArgs string // execargs, static (ExecArgsPackage)
}

// versionLabel is the OCI label for the version of the program inside.
const versionLabel = "org.opencontainers.image.version"

func toolVersion(bin, name string) string {
	b, err := os.ReadFile(filepath.Join(bin, "."+name+".version"))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// LoginImages are Dex, oauth2-proxy and OpenLDAP as the lab runs them on
// kwok, as images. Each keeps its upstream image's conventions where a
// manifest can see them: the path of the binary (a command of `dex` finds
// /usr/local/bin/dex on PATH; oauth2-proxy's entrypoint is
// /bin/oauth2-proxy, so args alone work), the entrypoint, and the numeric
// non-root user (manifests with runAsNonRoot need one). OpenLDAP is Debian's
// slapd, dynamically linked: its image holds slapd, its loader and the
// libraries it needs, the back_mdb module and the schemas, with our
// static openldap program as the entrypoint.
func LoginImages(b LoginBinaries) ([]Image, error) {
	for _, f := range []string{filepath.Join(b.ToolsBin, "dex"), filepath.Join(b.ToolsBin, "oauth2-proxy"), b.Standin, b.ExecArgs} {
		bin, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("login images: %w (dex and oauth2-proxy come from `make tools`)", err)
		}
		if err := checkStatic(bin); err != nil {
			return nil, fmt.Errorf("login images: %s: %w", f, err)
		}
	}
	dex := Image{
		Refs: []string{DexRef, DexUpstreamRef},
		Files: []File{
			{Path: "/usr/local/bin/dex", Source: filepath.Join(b.ToolsBin, "dex")},
			// Upstream's entrypoint runs its arguments (after rendering
			// templates, which ours does not).
			{Path: "/usr/local/bin/docker-entrypoint", Source: b.ExecArgs},
			{Path: "/etc/dex", Dir: true},
			{Path: "/var/dex", Dir: true, UID: 1001, GID: 1001},
			{Path: "/tmp", Dir: true, Mode: 0o1777},
		},
		Entrypoint: []string{"/usr/local/bin/docker-entrypoint"},
		Cmd:        []string{"dex", "serve", "/etc/dex/config.docker.yaml"},
		User:       "1001:1001",
		Labels:     map[string]string{versionLabel: toolVersion(b.ToolsBin, "dex")},
	}
	proxy := Image{
		Refs:       []string{OAuth2ProxyRef},
		Files:      []File{{Path: "/bin/oauth2-proxy", Source: filepath.Join(b.ToolsBin, "oauth2-proxy")}, {Path: "/tmp", Dir: true, Mode: 0o1777}},
		Entrypoint: []string{"/bin/oauth2-proxy"},
		User:       "65532:65532", // distroless's nonroot, as upstream's
		Labels:     map[string]string{versionLabel: toolVersion(b.ToolsBin, "oauth2-proxy")},
	}
	ldap, err := openLDAPImage(b.Standin)
	if err != nil {
		return nil, err
	}
	return []Image{dex, proxy, ldap}, nil
}

func openLDAPImage(standin string) (Image, error) {
	d := openldap.Debian
	var modules []string
	for _, m := range openldap.Modules {
		modules = append(modules, filepath.Join(d.Modules, m+".so"))
	}
	files, err := HostFiles(append([]string{d.Slapd}, modules...)...)
	if err != nil {
		return Image{}, fmt.Errorf("the openldap image: %w (install Debian's slapd: apt-get install slapd)", err)
	}
	// slapd picks the tool by the name it is called as; Debian links them.
	slapdDir, err := filepath.EvalSymlinks(filepath.Dir(d.Slapd))
	if err != nil {
		return Image{}, err
	}
	if slapdDir != filepath.Dir(d.Slapd) {
		return Image{}, fmt.Errorf("the openldap image: %s lives under a linked directory (%s); the image layout expects Debian's", d.Slapd, slapdDir)
	}
	files = append(files, File{Path: d.Slapadd, Link: filepath.Base(d.Slapd)})
	for _, s := range openldap.Schemas {
		files = append(files, File{Path: filepath.Join(d.Schemas, s+".schema"), Source: filepath.Join(d.Schemas, s+".schema")})
	}
	files = append(files,
		File{Path: "/usr/local/bin/kfp-standin", Source: standin},
		// The bitnami image's data directory, its user's.
		File{Path: "/bitnami/openldap", Dir: true, UID: 1001, GID: 1001},
		File{Path: "/tmp", Dir: true, Mode: 0o1777},
	)
	return Image{
		Refs:       []string{OpenLDAPRef},
		Files:      files,
		Entrypoint: []string{"/usr/local/bin/kfp-standin", "openldap"},
		User:       "1001",
		Labels:     map[string]string{versionLabel: "Debian slapd"},
	}, nil
}

// BuildLogin builds kfp-standin and execargs into dir (with BuildGo, from
// moduleDir) and writes the login images' archives there; it returns their
// paths, Dex, oauth2-proxy, OpenLDAP.
func BuildLogin(ctx context.Context, moduleDir, dir, toolsBin string) ([]string, error) {
	b := LoginBinaries{ToolsBin: toolsBin, Standin: filepath.Join(dir, "kfp-standin"), ExecArgs: filepath.Join(dir, "execargs")}
	if err := BuildGo(ctx, moduleDir, StandinPackage, b.Standin); err != nil {
		return nil, err
	}
	if err := BuildGo(ctx, moduleDir, ExecArgsPackage, b.ExecArgs); err != nil {
		return nil, err
	}
	imgs, err := LoginImages(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, img := range imgs {
		base := strings.NewReplacer("/", "_", ":", "_").Replace(img.Refs[0])
		a := filepath.Join(dir, base+".tar")
		if err := WriteImage(img, a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
