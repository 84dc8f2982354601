package programs

import (
	"archive/tar"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kfp-connect/kfp-connect/internal/images"
	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// TestLoginImages builds the three images from real binaries and checks
// what the fixtures rely on; the OpenLDAP image is unpacked and its slapd
// run inside it with chroot (as root): loader, libraries, module and
// schemas must all be there for slapadd to load an LDIF.
func TestLoginImages(t *testing.T) {
	tools := os.Getenv("KFP_CONNECT_TOOLS_BIN")
	if tools == "" {
		home, _ := os.UserHomeDir()
		matches, _ := filepath.Glob(filepath.Join(home, ".cache", "kfp-connect", "*", "bin", "dex"))
		if len(matches) == 0 {
			t.Skip("no tools cache with dex: run make tools")
		}
		tools = filepath.Dir(matches[0])
	}
	if _, err := os.Stat(openldap.Debian.Slapd); err != nil {
		t.Skipf("Debian's slapd is not installed: %v", err)
	}
	dir := t.TempDir()
	b := &Builder{ModuleDir: ".", ToolsBin: tools, Dir: dir}
	archives, err := b.Archives(context.Background(), LoginRefs())
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) != 3 {
		t.Fatalf("%d archives", len(archives))
	}
	for _, a := range archives {
		if fi, err := os.Stat(a); err == nil {
			t.Logf("%s: %.1f MB", filepath.Base(a), float64(fi.Size())/1e6)
		}
	}

	cf, hdrs, _ := readImage(t, archives[0], MainRef("dex"))
	if _, ok := hdrs["/usr/local/bin/dex"]; !ok || !strings.Contains(strings.Join(cf.Config.Env, " "), "/usr/local/bin") {
		t.Errorf("dex image: the fixtures' command `dex` must find /usr/local/bin/dex on PATH (env %v)", cf.Config.Env)
	}
	if cf.Config.User != "1001:1001" || cf.Config.Labels["org.opencontainers.image.version"] != "v2.45.1" {
		t.Errorf("dex image: user %q version %q", cf.Config.User, cf.Config.Labels["org.opencontainers.image.version"])
	}
	readImage(t, archives[0], "ghcr.io/dexidp/dex:v2.45.0") // the upstream manifests' tag too

	cf, hdrs, _ = readImage(t, archives[1], MainRef("oauth2-proxy"))
	if _, ok := hdrs["/bin/oauth2-proxy"]; !ok || strings.Join(cf.Config.Entrypoint, " ") != "/bin/oauth2-proxy" {
		t.Errorf("oauth2-proxy image: entrypoint %v", cf.Config.Entrypoint)
	}

	cf, hdrs, data := readImage(t, archives[2], MainRef("openldap"))
	if strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/kfp-standin openldap" || cf.Config.User != "1001" {
		t.Errorf("openldap image: entrypoint %v user %q", cf.Config.Entrypoint, cf.Config.User)
	}
	if h := hdrs["/bitnami/openldap"]; h == nil || h.Uid != 1001 {
		t.Errorf("openldap image: /bitnami/openldap must be its user's: %+v", h)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: the OpenLDAP image's slapd is not run with chroot")
		return
	}
	root := t.TempDir()
	// Parents first, as the layer lists them.
	for _, path := range slices.Sorted(maps.Keys(hdrs)) {
		h, dst := hdrs[path], filepath.Join(root, path)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, dst)
		case tar.TypeReg:
			err = os.WriteFile(dst, data[path], os.FileMode(h.Mode))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c := openldap.Config{Root: "dc=example,dc=org", Admin: "admin", Password: "pw"}
	if err := os.MkdirAll(filepath.Join(root, "work", "ldap-db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "work", "slapd.conf"), []byte(c.SlapdConf(openldap.Debian, "/work")), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n"
	if err := os.WriteFile(filepath.Join(root, "work", "base.ldif"), []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty environment: nothing of the host's may be needed.
	run := func(args ...string) string {
		cmd := exec.Command("/usr/sbin/chroot", append([]string{root}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("chroot %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	run("/usr/sbin/slapadd", "-f", "/work/slapd.conf", "-l", "/work/base.ldif")
	if out := run("/usr/sbin/slapd", "-Tcat", "-f", "/work/slapd.conf"); !strings.Contains(out, "dn: dc=example,dc=org\n") {
		t.Errorf("slapcat in the image:\n%s", out)
	}
}

// readImage is images.ReadArchive for a test.
func readImage(t *testing.T, archive, ref string) (*v1.ConfigFile, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	c, err := images.ReadArchive(archive, ref)
	if err != nil {
		t.Fatal(err)
	}
	return c.Config, c.Headers, c.Data
}
