package existing

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestExistingNamesTheMissingKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent-kubeconfig")
	e := New(path, "")
	err := e.Create(t.Context())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("want an error naming %s, got %v", path, err)
	}
	if e.KubeconfigPath() != path || e.RESTConfig() != nil {
		t.Fatalf("path %q, config %v after a failed Create", e.KubeconfigPath(), e.RESTConfig())
	}
	if err := e.Destroy(t.Context()); err != nil {
		t.Fatalf("Destroy of a cluster we never made: %v", err)
	}
}
