package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// readImage loads ref from the archive and returns its config and its one
// layer's headers and contents by path (leading slash restored).
func readImage(t *testing.T, archive, ref string) (*v1.ConfigFile, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("%s from %s: %v", ref, archive, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + strings.TrimSuffix(h.Name, "/")
		hdrs[p] = h
		b, _ := io.ReadAll(tr)
		data[p] = b
	}
	return cf, hdrs, data
}

func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := BuildGo(context.Background(), ".", PausePackage, bin); err != nil {
		t.Fatal(err)
	}
	img := Image{
		Refs: []string{"example.org/a:1", "example.org/a:old"},
		Files: []File{
			{Path: "/usr/local/bin/prog", Source: bin},
			{Path: "/bin", Link: "usr/local/bin"},
			{Path: "/etc/conf", Data: []byte("x=1\n")},
			{Path: "/data", Dir: true, UID: 1001, GID: 1001},
			{Path: "/tmp", Dir: true, Mode: 0o1777},
		},
		Entrypoint: []string{"/bin/prog"}, Cmd: []string{"serve"}, User: "1001:1001",
		Labels: map[string]string{"l": "v"},
	}
	archive := filepath.Join(dir, "a.tar")
	if err := WriteImage(img, archive); err != nil {
		t.Fatal(err)
	}
	for _, ref := range img.Refs {
		cf, hdrs, data := readImage(t, archive, ref)
		if !slices.Equal(cf.Config.Entrypoint, img.Entrypoint) || !slices.Equal(cf.Config.Cmd, img.Cmd) || cf.Config.User != "1001:1001" || cf.Config.Labels["l"] != "v" {
			t.Errorf("%s: config %+v", ref, cf.Config)
		}
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("%s: platform %s/%s", ref, cf.OS, cf.Architecture)
		}
		want, _ := os.ReadFile(bin)
		for p, check := range map[string]func(h *tar.Header) bool{
			"/usr":                func(h *tar.Header) bool { return h.Typeflag == tar.TypeDir && h.Mode == 0o755 },
			"/usr/local/bin":      func(h *tar.Header) bool { return h.Typeflag == tar.TypeDir },
			"/usr/local/bin/prog": func(h *tar.Header) bool { return h.Mode == 0o755 && bytes.Equal(data[p(h)], want) },
			"/bin":                func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink && h.Linkname == "usr/local/bin" },
			"/etc/conf":           func(h *tar.Header) bool { return h.Mode == 0o644 && string(data["/etc/conf"]) == "x=1\n" },
			"/data":               func(h *tar.Header) bool { return h.Typeflag == tar.TypeDir && h.Uid == 1001 && h.Gid == 1001 },
			"/tmp":                func(h *tar.Header) bool { return h.Mode == 0o1777 },
		} {
			h, ok := hdrs[p]
			if !ok {
				t.Errorf("%s: %s missing from the layer", ref, p)
				continue
			}
			if !check(h) {
				t.Errorf("%s: %s: %+v", ref, p, h)
			}
		}
	}
}

func p(h *tar.Header) string { return "/" + strings.TrimSuffix(h.Name, "/") }

func TestWriteImageRefusesIncomplete(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		files []File
		want  []string
	}{
		// Debian's ls is linked against libc and loaded by ld-linux.
		{"no loader, no libc", []File{{Path: "/bin/ls", Source: "/usr/bin/ls"}}, []string{"program interpreter /lib64/ld-linux-x86-64.so.2", "needs libc.so.6"}},
		{"duplicate", []File{{Path: "/a", Data: []byte("1")}, {Path: "/a", Data: []byte("2")}}, []string{"listed twice"}},
		{"relative", []File{{Path: "a", Data: []byte("1")}}, []string{"clean absolute path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteImage(Image{Refs: []string{"example.org/x:1"}, Files: tc.files}, filepath.Join(dir, "x.tar"))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestHostFilesMatchesLdd compares HostFiles with what ldd lists for
// Debian's slapd: the same libraries, and an image of them is complete.
func TestHostFilesMatchesLdd(t *testing.T) {
	d := openldap.Debian
	if _, err := os.Stat(d.Slapd); err != nil {
		t.Skipf("Debian's slapd is not installed (%v): apt-get install slapd", err)
	}
	out, err := exec.Command("ldd", d.Slapd).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^\s*(\S+\.so[.\d]*)\s`).FindAllStringSubmatch(string(out), -1) {
		if !strings.HasPrefix(m[1], "linux-vdso") {
			want = append(want, filepath.Base(m[1]))
		}
	}
	files, err := HostFiles(d.Slapd)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		if f.Link == "" && f.Path != d.Slapd {
			got = append(got, filepath.Base(f.Path))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	// The loader is in twice, as on the host: at the interpreter path
	// (/lib64) and where libc's DT_NEEDED finds it (the multiarch dir).
	got = slices.Compact(got)
	if !slices.Equal(want, got) {
		t.Errorf("HostFiles libraries\n %v\nldd lists\n %v", got, want)
	}
	if err := WriteImage(Image{Refs: []string{"example.org/slapd:1"}, Files: files}, filepath.Join(t.TempDir(), "s.tar")); err != nil {
		t.Errorf("an image of HostFiles is incomplete: %v", err)
	}
}

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
	archives, err := BuildLogin(context.Background(), ".", dir, tools)
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

	cf, hdrs, _ := readImage(t, archives[0], DexRef)
	if _, ok := hdrs["/usr/local/bin/dex"]; !ok || !strings.Contains(strings.Join(cf.Config.Env, " "), "/usr/local/bin") {
		t.Errorf("dex image: the fixtures' command `dex` must find /usr/local/bin/dex on PATH (env %v)", cf.Config.Env)
	}
	if cf.Config.User != "1001:1001" || cf.Config.Labels[versionLabel] != "v2.45.1" {
		t.Errorf("dex image: user %q version %q", cf.Config.User, cf.Config.Labels[versionLabel])
	}
	readImage(t, archives[0], DexUpstreamRef) // the upstream manifests' tag too

	cf, hdrs, _ = readImage(t, archives[1], OAuth2ProxyRef)
	if _, ok := hdrs["/bin/oauth2-proxy"]; !ok || strings.Join(cf.Config.Entrypoint, " ") != "/bin/oauth2-proxy" {
		t.Errorf("oauth2-proxy image: entrypoint %v", cf.Config.Entrypoint)
	}

	cf, hdrs, data := readImage(t, archives[2], OpenLDAPRef)
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
