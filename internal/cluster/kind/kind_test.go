package kind

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/support"
)

// loaderProvider is a kind provider that records the archives it is asked
// to load; the rest of the interface is never called here.
type loaderProvider struct {
	support.E2EClusterProvider
	loaded []string
	fail   error
}

func (p *loaderProvider) LoadImage(context.Context, string, ...string) error { return nil }

func (p *loaderProvider) LoadImageArchive(_ context.Context, a string, _ ...string) error {
	if p.fail != nil {
		return p.fail
	}
	p.loaded = append(p.loaded, a)
	return nil
}

type plainProvider struct{ support.E2EClusterProvider }

func TestKindLoadsArchives(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "kfp-doctor.tar"), filepath.Join(dir, "probe.tar")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte("archive"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k, err := New("kfpc-test", "multi-user.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(k.tmp) })
	if k.WithImageArchives(a).WithImageArchives(b) != k {
		t.Fatal("WithImageArchives does not return its Kind")
	}
	if err := checkArchives(k.archives); err != nil {
		t.Fatal(err)
	}
	p := &loaderProvider{}
	if err := loadArchives(context.Background(), p, k.name, k.archives); err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.loaded, ",") != a+","+b {
		t.Errorf("loaded %q, want %s then %s", p.loaded, a, b)
	}
	// The e2e-framework kind provider is an image loader.
	if _, ok := k.provider.(support.E2EClusterProviderWithImageLoader); !ok {
		t.Errorf("the kind provider %T cannot load image archives", k.provider)
	}
}

func TestKindArchiveErrors(t *testing.T) {
	dir := t.TempDir()
	if err := checkArchives([]string{filepath.Join(dir, "missing.tar")}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "make images") {
		t.Errorf("missing archive: %v", err)
	}
	if err := checkArchives([]string{dir}); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("directory as archive: %v", err)
	}
	boom := errors.New("kind: load image-archive failed")
	err := loadArchives(context.Background(), &loaderProvider{fail: boom}, "c", []string{"x.tar"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "x.tar") {
		t.Errorf("loader failure: %v", err)
	}
	if err := loadArchives(context.Background(), plainProvider{}, "c", []string{"x.tar"}); err == nil || !strings.Contains(err.Error(), "cannot load image archives") {
		t.Errorf("provider without a loader: %v", err)
	}
	if err := loadArchives(context.Background(), plainProvider{}, "c", nil); err != nil {
		t.Errorf("no archives: %v", err)
	}
}
