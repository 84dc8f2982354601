package failuresdoc

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kfp-connect/kfp-connect/internal/kfd"
)

var update = flag.Bool("update", false, "rewrite docs/failures.md (go generate ./internal/failuresdoc)")

// docs/failures.md is what the catalogue says: a change to an entry, a
// text, a phrase of explain or a doctor message that explain quotes, without
// `go generate ./internal/failuresdoc`, fails here.
func TestFailuresDocIsCurrent(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", Path)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is stale from line %d:\n got %s\nwant %s\nrun: go generate ./internal/failuresdoc", Path, i+1, g, w)
			}
		}
	}
}

// Every id has its section, and its doc link leads there.
func TestEveryIDHasASection(t *testing.T) {
	page, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range kfd.All() {
		if !strings.Contains(page, "\n## "+string(e.ID)+"\n\n**"+e.Title+"**\n") {
			t.Errorf("no section for %s", e.ID)
		}
		if !strings.HasSuffix(e.ID.Doc(), "#"+e.ID.Anchor()) {
			t.Errorf("%s links to %s", e.ID, e.ID.Doc())
		}
	}
	if !strings.Contains(page, "\n## "+string(kfd.Unclassified)+"\n") {
		t.Error("no unclassified section")
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{"a": "`a`", "a`b": "``a`b``", "`x": "`` `x ``"} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}
