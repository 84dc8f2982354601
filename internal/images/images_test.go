package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
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

	tag, err := name.NewTag(PauseRef)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("reading the archive back as %s: %v", PauseRef, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/pause" {
		t.Errorf("entrypoint = %q, want /pause", got)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
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
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "pause" {
			if h.Typeflag != tar.TypeReg || h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("pause: type %c mode %o uid %d gid %d, want a root-owned 0755 file", h.Typeflag, h.Mode, h.Uid, h.Gid)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("pause in the layer (%d bytes) differs from the binary built (%d bytes)", len(got), len(want))
			}
		}
	}
	if strings.Join(names, ",") != "pause" {
		t.Errorf("layer holds %q, want just [pause]", names)
	}
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
