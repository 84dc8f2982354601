package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/pywheel"
)

// A release's binaries are taken from goreleaser's artifacts.json: the
// kfp-doctor build's, not the kubectl plugin's, and all four of them.
func TestFromDist(t *testing.T) {
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	type art struct {
		Name   string            `json:"name"`
		Path   string            `json:"path"`
		Goos   string            `json:"goos"`
		Goarch string            `json:"goarch"`
		Type   string            `json:"type"`
		Extra  map[string]string `json:"extra"`
	}
	var arts []art
	for _, p := range pywheel.Platforms {
		for _, id := range []string{"kfp-doctor", "kubectl-kfp_doctor"} {
			rel := filepath.Join("dist", id+"_"+p.GOOS+"_"+p.GOARCH+"_v1", id)
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(id), 0o755); err != nil {
				t.Fatal(err)
			}
			arts = append(arts, art{Name: id, Path: rel, Goos: p.GOOS, Goarch: p.GOARCH, Type: "Binary", Extra: map[string]string{"ID": id, "Binary": id}})
		}
		arts = append(arts, art{Name: "kfp-doctor.tar.gz", Path: "dist/x.tar.gz", Goos: p.GOOS, Goarch: p.GOARCH, Type: "Archive", Extra: map[string]string{"ID": "kfp-doctor"}})
	}
	b, _ := json.Marshal(arts)
	if err := os.WriteFile(filepath.Join(dist, "artifacts.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	bins, err := fromDist(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pywheel.Platforms {
		got, err := os.ReadFile(bins[p.Name()])
		if err != nil || string(got) != "kfp-doctor" {
			t.Fatalf("%s: %s %q %v", p.Name(), bins[p.Name()], got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dist, "artifacts.json"), []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fromDist(dist); err == nil || !strings.Contains(err.Error(), "0 of the 4") {
		t.Fatalf("an empty dist: %v", err)
	}
}

func TestSourceDate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if got := sourceDate(); !got.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("%v", got)
	}
}
