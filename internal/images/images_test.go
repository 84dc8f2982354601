package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestWriteArchiveReadBack builds the real pause program and checks what the
// node's containerd will import: one layer holding only the static binary,
// the entrypoint pointing at it, linux/amd64.
func TestWriteArchiveReadBack(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := BuildGo(context.Background(), ".", PausePackage, bin); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "pause.tar")
	if err := WriteArchive(Spec{Ref: PauseRef, Binary: bin, Path: "/pause"}, archive); err != nil {
		t.Fatal(err)
	}

	files, cf := readBack(t, archive, PauseRef)
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/pause" {
		t.Errorf("entrypoint = %q, want /pause", got)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if got, ok := files["pause"]; !ok || !bytes.Equal(got, want) {
		t.Errorf("pause in the layer (%d bytes) differs from the binary built (%d bytes)", len(got), len(want))
	}
	// The layer is stored as `docker save` stores it: a plain tar, nothing
	// for this machine's containerd to inflate.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil || len(m) != 1 || len(m[0].Layers) != 1 {
		t.Fatalf("manifest.json = %+v, %v; want one image of one layer", m, err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the archive: %v", m[0].Layers[0], err)
		}
		if h.Name != m[0].Layers[0] {
			continue
		}
		if _, err := tar.NewReader(tr).Next(); err != nil || strings.HasSuffix(h.Name, ".gz") {
			t.Errorf("layer %s is not a plain tar: %v", h.Name, err)
		}
		break
	}
}

// TestDoctorImage builds the doctor's image as `make images` does and checks
// what a node or kind would run: the entrypoint is the doctor, the layer's
// only file is it (so no shell or libc is there, and none is needed), it is a
// static ELF executable (no program interpreter), and it carries the version
// it was built with.
func TestDoctorImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the doctor (-short)")
	}
	dir := t.TempDir()
	const version = "v9.8.7-test+meta"
	ref := Doctor(version)
	if ref.Ref != "ghcr.io/kfp-connect/kfp-doctor:v9.8.7-test-meta" {
		t.Fatalf("Doctor(%q) = %s", version, ref.Ref)
	}
	archives, err := Build(context.Background(), ".", dir, []Ref{ref}, Version(version), AlsoTag("latest"))
	if err != nil {
		t.Fatal(err)
	}
	// Both names load the same image: the one deploy/doctor/job.yaml runs.
	_, latest := readBack(t, archives[0], DoctorRepository+":latest")
	files, cf := readBack(t, archives[0], ref.Ref)
	if latest.Config.Entrypoint[0] != cf.Config.Entrypoint[0] {
		t.Errorf(":latest entrypoint %q, :%s %q", latest.Config.Entrypoint, version, cf.Config.Entrypoint)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/kfp-doctor" {
		t.Errorf("entrypoint = %q, want /kfp-doctor", got)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("cmd = %q, want none: the Job's args are the doctor's flags", cf.Config.Cmd)
	}
	bin, ok := files["kfp-doctor"]
	if !ok {
		t.Fatalf("layer has no kfp-doctor")
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("kfp-doctor in the layer is not ELF: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("kfp-doctor in the layer has a program interpreter: it needs a libc the image does not have")
		}
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		t.Errorf("kfp-doctor: machine %v type %v, want an x86-64 executable", f.Machine, f.Type)
	}
	_ = f.Close()
	// The binary from the layer runs here as it would in the pod (this
	// machine is linux/amd64): it prints the stamped version.
	exe := filepath.Join(dir, "from-layer")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("kfp-doctor version: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "kfp-doctor "+version) {
		t.Errorf("kfp-doctor version printed %q, want the version it was built with, %s", out, version)
	}
}

func TestDoctorTag(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "ghcr.io/kfp-connect/kfp-doctor:dev",
		"v1.2.3":                 "ghcr.io/kfp-connect/kfp-doctor:v1.2.3",
		"v1.2.3-4-gabc-dirty":    "ghcr.io/kfp-connect/kfp-doctor:v1.2.3-4-gabc-dirty",
		"abc1234":                "ghcr.io/kfp-connect/kfp-doctor:abc1234",
		"feature/x":              "ghcr.io/kfp-connect/kfp-doctor:feature-x",
		"-x":                     "ghcr.io/kfp-connect/kfp-doctor:x",
		strings.Repeat("a", 200): "ghcr.io/kfp-connect/kfp-doctor:" + strings.Repeat("a", 128),
	} {
		got := Doctor(in).Ref
		if got != want {
			t.Errorf("Doctor(%q) = %s, want %s", in, got, want)
		}
		if _, err := name.NewTag(got, name.StrictValidation); err != nil {
			t.Errorf("Doctor(%q) = %s: not a valid tag: %v", in, got, err)
		}
	}
}

// readBack reads archive back as go-containerregistry would load it for
// ref, checks it has one layer of root-owned 0755 regular files only, and
// returns those files by name and the config.
func readBack(t *testing.T, archive, ref string) (map[string][]byte, *v1.ConfigFile) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("reading the archive back as %s: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string][]byte{}
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg || h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: type %c mode %o uid %d gid %d, want a root-owned 0755 file", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = got
	}
	if want := strings.TrimPrefix(cf.Config.Entrypoint[0], "/"); strings.Join(names, ",") != want {
		t.Errorf("layer holds %q, want just [%s]", names, want)
	}
	return files, cf
}

func TestWriteArchiveRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "pause")
	if err := BuildGo(context.Background(), ".", PausePackage, static); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec Spec
		is   error  // wanted errors.Is target, or nil
		msg  string // wanted part of the message
	}{
		// Debian's ls is linked against libc: it would not start in an empty image.
		{"dynamically linked", Spec{Ref: PauseRef, Binary: "/usr/bin/ls", Path: "/ls"}, ErrNotStatic, "CGO_ENABLED=0"},
		{"not ELF", Spec{Ref: PauseRef, Binary: text, Path: "/script"}, nil, "not an ELF executable"},
		{"missing binary", Spec{Ref: PauseRef, Binary: filepath.Join(dir, "nope"), Path: "/nope"}, os.ErrNotExist, "reading its binary"},
		{"relative path", Spec{Ref: PauseRef, Binary: static, Path: "pause"}, nil, "clean absolute file path"},
		{"root path", Spec{Ref: PauseRef, Binary: static, Path: "/"}, nil, "clean absolute file path"},
		{"unclean path", Spec{Ref: PauseRef, Binary: static, Path: "/a/../pause"}, nil, "clean absolute file path"},
		{"bad tag", Spec{Ref: "Not A Tag", Binary: static, Path: "/pause"}, nil, "image tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteArchive(tc.spec, filepath.Join(dir, "out.tar"))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}
