package kind

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/support"
	e2ekind "sigs.k8s.io/e2e-framework/support/kind"

	"github.com/kfp-connect/kfp-connect/internal/cluster"
	"github.com/kfp-connect/kfp-connect/kindconfigs"
)

// SkipNoContainerRuntime is the reason suites give when kind cannot run.
const SkipNoContainerRuntime = "skipped: no container runtime"

// DockerAvailable reports whether a Docker engine answers, which kind needs.
// When it does not, reason says why in words a user can act on.
func DockerAvailable(ctx context.Context) (ok bool, reason string) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return false, "docker is not installed (not on PATH)"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("docker engine not reachable: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return true, ""
}

// Kind is a kind (Kubernetes in Docker) cluster created with one of the
// configurations in kindconfigs/, through e2e-framework's kind provider.
type Kind struct {
	name     string
	config   string // file name in kindconfigs
	tmp      string
	provider support.E2EClusterProvider
	archives []string // image archives loaded onto the nodes after Create

	mu sync.Mutex
	rc *rest.Config
}

var _ cluster.Provider = (*Kind)(nil)

// NewKind prepares a kind cluster named name (empty: kfpc-<random>) from
// kindconfigs/<config>, e.g. "multi-user.yaml".
func New(name, config string) (*Kind, error) {
	data, err := fs.ReadFile(kindconfigs.FS, config)
	if err != nil {
		return nil, fmt.Errorf("kind configuration %q: %w (see kindconfigs/)", config, err)
	}
	if _, err := ParseConfig(data); err != nil {
		return nil, fmt.Errorf("kind configuration %q: %w", config, err)
	}
	if name == "" {
		name = "kfpc-" + cluster.RandomSuffix()
	}
	tmp, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for kind cluster %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, config), data, 0o600); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("writing kind configuration: %w", err)
	}
	return &Kind{name: name, config: config, tmp: tmp, provider: e2ekind.NewProvider().WithName(name)}, nil
}

// WithImageArchives has Create load these docker archives onto the
// cluster's nodes (kind load image-archive), e.g. the doctor's image from
// `make images` (bin/images/kfp-doctor.tar), so pods run them with
// imagePullPolicy Never or IfNotPresent and no registry. It returns k.
func (k *Kind) WithImageArchives(paths ...string) *Kind {
	k.archives = append(k.archives, paths...)
	return k
}

// Name implements cluster.Provider.
func (k *Kind) Name() string { return k.name }

// Create implements cluster.Provider.
func (k *Kind) Create(ctx context.Context) error {
	if ok, reason := DockerAvailable(ctx); !ok {
		return fmt.Errorf("kind cluster %s needs a container runtime: %s", k.name, reason)
	}
	// Before the cluster exists: a missing archive is a set-up mistake
	// that should not cost a cluster bring-up.
	if err := checkArchives(k.archives); err != nil {
		return fmt.Errorf("kind cluster %s: %w", k.name, err)
	}
	if _, err := k.provider.CreateWithConfig(ctx, filepath.Join(k.tmp, k.config)); err != nil {
		return fmt.Errorf("creating kind cluster %s: %w", k.name, err)
	}
	rc := k.provider.KubernetesRestConfig()
	if rc == nil {
		return fmt.Errorf("kind cluster %s: provider returned no client config", k.name)
	}
	rc = rest.CopyConfig(rc)
	rc.Timeout = 30 * time.Second
	k.mu.Lock()
	k.rc = rc
	k.mu.Unlock()
	if err := loadArchives(ctx, k.provider, k.name, k.archives); err != nil {
		return err
	}
	return cluster.WaitReady(ctx, rc, true)
}

// checkArchives says which of paths is not a readable regular file.
func checkArchives(paths []string) error {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("image archive: %w (build it with `make images`)", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("image archive %s is not a file", p)
		}
	}
	return nil
}

// loadArchives loads each archive onto every node of cluster name through
// the provider's image loader (e2e-framework runs `kind load
// image-archive`), bounded per archive.
func loadArchives(ctx context.Context, p support.E2EClusterProvider, name string, archives []string) error {
	if len(archives) == 0 {
		return nil
	}
	loader, ok := p.(support.E2EClusterProviderWithImageLoader)
	if !ok {
		return fmt.Errorf("kind cluster %s: its provider cannot load image archives", name)
	}
	for _, a := range archives {
		actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := loader.LoadImageArchive(actx, a)
		cancel()
		if err != nil {
			return fmt.Errorf("kind cluster %s: loading image archive %s: %w", name, a, err)
		}
	}
	return nil
}

// KubeconfigPath implements cluster.Provider.
func (k *Kind) KubeconfigPath() string { return k.provider.GetKubeconfig() }

// RESTConfig implements cluster.Provider.
func (k *Kind) RESTConfig() *rest.Config {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rc == nil {
		return nil
	}
	return rest.CopyConfig(k.rc)
}

// Destroy implements cluster.Provider.
func (k *Kind) Destroy(ctx context.Context) error {
	// As for kwok: a cancelled ctx (Ctrl-C) must not skip the clean-up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var err error
	if k.RESTConfig() != nil {
		if derr := k.provider.Destroy(ctx); derr != nil {
			err = fmt.Errorf("deleting kind cluster %s: %w", k.name, derr)
		}
	}
	if rerr := os.RemoveAll(k.tmp); rerr != nil && err == nil {
		err = fmt.Errorf("removing %s: %w", k.tmp, rerr)
	}
	return err
}
