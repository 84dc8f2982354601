package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// The first shared/upstream walking up that the guard accepts, and none
// when the guard accepts none.
func TestFindUpstream(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	for _, d := range []string{deep, filepath.Join(root, "shared", "upstream", "x"), filepath.Join(root, "a", "shared", "upstream")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(deep)
	hasX := func(dir string) bool { _, err := os.Stat(filepath.Join(dir, "x")); return err == nil }
	got, ok := FindUpstream(hasX)
	if want, _ := filepath.EvalSymlinks(filepath.Join(root, "shared", "upstream")); !ok || mustEval(t, got) != want {
		t.Fatalf("%q %v, want %q (the nearer shared/upstream lacks x)", got, ok, want)
	}
	if _, ok := FindUpstream(func(string) bool { return false }); ok {
		t.Fatal("found one the guard refused")
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	e, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
