package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The versions tools/build.sh pins; the cache directory is named after them so
// a version bump never reuses stale binaries. Keep in step with tools/build.sh.
const (
	k8sVersion  = "v1.37.2"
	etcdVersion = "v3.7.3"
	kwokVersion = "v0.8.0"
)

// ToolsBinEnv overrides where the pinned binaries are looked up (the Makefile
// exports it).
const ToolsBinEnv = "KFP_CONNECT_TOOLS_BIN"

// KwokBinaries are the programs a kwok cluster runs, as tools/build.sh names them.
var KwokBinaries = []string{
	"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "kwok", "kwokctl",
}

// NodeBinaries are the pinned programs a node cluster runs, as tools/build.sh
// names them: the control plane and a real kubelet and kube-proxy.
var NodeBinaries = []string{
	"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy",
}

// ErrToolsMissing is wrapped by ToolsBin when a pinned binary is absent.
var ErrToolsMissing = errors.New("pinned cluster binaries are missing: run `make tools` (tools/build.sh) first")

// ToolsBinDir returns the directory of the pinned binaries: $KFP_CONNECT_TOOLS_BIN,
// else the rule tools/build.sh uses, ${XDG_CACHE_HOME:-$HOME/.cache}/kfp-connect/<versions>/bin.
func ToolsBinDir(getenv func(string) string) (string, error) {
	if dir := getenv(ToolsBinEnv); dir != "" {
		return dir, nil
	}
	cache := getenv("XDG_CACHE_HOME")
	if cache == "" {
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("cannot locate the tools cache: neither %s, XDG_CACHE_HOME nor HOME is set", ToolsBinEnv)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "kfp-connect",
		fmt.Sprintf("k8s-%s-etcd-%s-kwok-%s", k8sVersion, etcdVersion, kwokVersion), "bin"), nil
}

// ToolsBin returns the tools directory after checking every named binary is an
// executable file in it; the error names the missing ones and `make tools`.
func ToolsBin(getenv func(string) string, names ...string) (string, error) {
	dir, err := ToolsBinDir(getenv)
	if err != nil {
		return "", err
	}
	var missing []string
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %v not found in %s", ErrToolsMissing, missing, dir)
	}
	return dir, nil
}
