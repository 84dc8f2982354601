package python

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file of the package on disk is in the wheel's sources.
func TestEverythingEmbedded(t *testing.T) {
	entries, err := os.ReadDir("kfp_doctor")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".py") || e.Name() == "py.typed") {
			continue
		}
		n++
		if _, err := fs.Stat(Files, filepath.Join("kfp_doctor", e.Name())); err != nil {
			t.Errorf("kfp_doctor/%s is not embedded: add it to python.go's go:embed line", e.Name())
		}
	}
	if n < 5 {
		t.Fatalf("only %d files in kfp_doctor/", n)
	}
}
