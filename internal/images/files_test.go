package images

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kfp-connect/kfp-connect/internal/standin/openldap"
)

// readImage is ReadArchive for a test.
func readImage(t *testing.T, archive, ref string) (*v1.ConfigFile, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	c, err := ReadArchive(archive, ref)
	if err != nil {
		t.Fatal(err)
	}
	return c.Config, c.Headers, c.Data
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
