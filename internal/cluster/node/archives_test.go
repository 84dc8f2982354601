package node

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeArchive writes a tar holding only a docker archive's manifest.json.
func writeArchive(t *testing.T, manifest string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for name, body := range map[string]string{"sha256:abc": "{}", "manifest.json": manifest} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckArchives(t *testing.T) {
	pause := writeArchive(t, `[{"Config":"sha256:abc","RepoTags":["`+SandboxImage+`"],"Layers":[]}]`)
	if err := checkArchives([]string{pause}, []string{SandboxImage}); err != nil {
		t.Fatalf("an archive carrying the sandbox image: %v", err)
	}
	other := writeArchive(t, `[{"Config":"sha256:abc","RepoTags":["kfpc.local/other:1"],"Layers":[]}]`)
	err := checkArchives([]string{other}, []string{SandboxImage})
	if err == nil || !strings.Contains(err.Error(), SandboxImage) || !strings.Contains(err.Error(), "nodeimages") {
		t.Fatalf("want an error naming the missing sandbox image and where it is built, got %v", err)
	}
	if err := checkArchives([]string{filepath.Join(t.TempDir(), "absent.tar")}, nil); err == nil {
		t.Fatal("a missing archive was accepted")
	}
	notTar := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(notTar, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkArchives([]string{notTar}, nil); err == nil || !strings.Contains(err.Error(), "no docker archive") {
		t.Fatalf("want a refusal of a file that is no docker archive, got %v", err)
	}
}
