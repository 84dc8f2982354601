#!/usr/bin/env bash
# Builds the pinned programs of the Docker-free lab into a cache outside the
# repository, so every clone on this machine reuses them. Prints progress,
# skips what is already built, and fails clearly when the module proxy is away.
# kubelet and kube-proxy are for the `node` provider's real node; in the one
# `go build` with the control plane they add about 3 minutes to a cold build.
# CoreDNS (the node's kube-dns, tools/coredns) adds about 4 more.
#
#   tools/build.sh          build what is missing
#   tools/build.sh --print  print the bin directory and exit
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
# Kubeflow's login stack, run by the lab as the pods' processes. Dex by the
# pseudo-version of tag v2.45.1's commit: the module proxy refuses Dex's tags
# but serves that exact version (tools/dex/go.mod says why).
DEX_VERSION=v2.45.1
OAUTH2_PROXY_VERSION=v7.15.6
# The node provider's kube-dns: CoreDNS trimmed to seven plugins (tools/coredns).
COREDNS_VERSION=v1.15.0

here=$(cd "$(dirname "$0")" && pwd)
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/kfp-connect"
bin="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"

if [[ "${1:-}" == "--print" ]]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
start=$(date +%s)
log() { printf '[tools %4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# One look at the proxy before a long build: a missing network must say so, not
# surface as a compile error twenty minutes later.
if ! (cd "$here" && go mod download -x k8s.io/kubernetes >/dev/null 2>"$bin/.download.log"); then
	echo "tools: cannot download k8s.io/kubernetes $K8S_VERSION from the Go module proxy ($(go env GOPROXY))." >&2
	echo "tools: check network access to the proxy or set GOPROXY; details in $bin/.download.log" >&2
	exit 1
fi

# build NAME... runs one `go build` for every missing binary (they share most of
# their packages, so one invocation compiles the shared graph once). `-v` lists
# each package as it is compiled; we count them as progress.
build() {
	local missing=() pkgs=() name pkg
	for pair in "$@"; do
		name=${pair%%=*} pkg=${pair#*=}
		if [[ -x "$bin/$name" ]]; then log "$name: cached"; else missing+=("$name"); pkgs+=("$pkg"); fi
	done
	((${#missing[@]})) || return 0
	log "building ${missing[*]} (a cold build takes tens of minutes on 2 cores)"
	local tmp; tmp=$(mktemp -d "$bin/.build.XXXXXX")
	local ldflags=""
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
		ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	(
		cd "$here"
		CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "${pkgs[@]}" 2>&1
	) | {
		n=0 last=$(date +%s)
		while IFS= read -r line; do
			case "$line" in *" "*|"") echo "$line" >&2 ;; *) n=$((n + 1)) ;; esac
			if (( $(date +%s) - last >= 20 )); then log "  compiled $n packages…"; last=$(date +%s); fi
		done
		log "  compiled $n packages"
	}
	local rc=${PIPESTATUS[0]}
	if ((rc != 0)); then rm -rf "$tmp"; log "build failed"; return "$rc"; fi
	local i
	for i in "${!missing[@]}"; do
		# go build names a binary after its import path's last element,
		# less a major-version suffix (go.etcd.io/etcd/server/v3 → server).
		local base; base=$(basename "${pkgs[$i]}")
		[[ "$base" =~ ^v[0-9]+$ ]] && base=$(basename "$(dirname "${pkgs[$i]}")")
		mv "$tmp/$base" "$bin/${missing[$i]}"
		log "${missing[$i]}: built"
	done
	rm -rf "$tmp"
}

build \
	kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
	kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
	kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
	kubectl=k8s.io/kubernetes/cmd/kubectl \
	kubelet=k8s.io/kubernetes/cmd/kubelet \
	kube-proxy=k8s.io/kubernetes/cmd/kube-proxy \
	etcd=go.etcd.io/etcd/server/v3

# kwok has no replace directives, so `go install` builds it in its own module.
for name in kwok kwokctl; do
	if [[ -x "$bin/$name" ]]; then log "$name: cached"; continue; fi
	log "building $name $KWOK_VERSION"
	GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
		"sigs.k8s.io/kwok/cmd/$name@$KWOK_VERSION"
	log "$name: built"
done

# versioned NAME VERSION: true when $bin/NAME exists and was built at VERSION
# (these two share the cache directory with Kubernetes, so a version bump of
# either must not reuse the old binary).
versioned() { [[ -x "$bin/$1" && "$(cat "$bin/.$1.version" 2>/dev/null)" == "$2" ]]; }

# Dex: one `go build` in tools/dex, whose go.mod pins the pseudo-version.
if versioned dex "$DEX_VERSION"; then log "dex: cached"; else
	log "building dex $DEX_VERSION (about 4 minutes cold on 2 cores)"
	tmp=$(mktemp -d "$bin/.build.XXXXXX")
	(cd "$here/dex" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/dex" github.com/dexidp/dex/cmd/dex)
	mv "$tmp/dex" "$bin/dex" && rm -rf "$tmp" && echo "$DEX_VERSION" >"$bin/.dex.version"
	log "dex: built"
fi

# oauth2-proxy has no replace directives: `go install` builds it in its module.
if versioned oauth2-proxy "$OAUTH2_PROXY_VERSION"; then log "oauth2-proxy: cached"; else
	log "building oauth2-proxy $OAUTH2_PROXY_VERSION (about 3 minutes cold)"
	tmp=$(mktemp -d "$bin/.build.XXXXXX")
	GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
		"github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
	mv "$tmp/oauth2-proxy" "$bin/oauth2-proxy" && rm -rf "$tmp" && echo "$OAUTH2_PROXY_VERSION" >"$bin/.oauth2-proxy.version"
	log "oauth2-proxy: built"
fi

# CoreDNS: one `go build` of the custom main in tools/coredns, whose go.mod
# pins the version and moves its k8s.io modules to the pinned v0.37.2.
if versioned coredns "$COREDNS_VERSION"; then log "coredns: cached"; else
	log "building coredns $COREDNS_VERSION (about 4.5 minutes cold)"
	tmp=$(mktemp -d "$bin/.build.XXXXXX")
	(cd "$here/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/coredns" .)
	mv "$tmp/coredns" "$bin/coredns" && rm -rf "$tmp" && echo "$COREDNS_VERSION" >"$bin/.coredns.version"
	log "coredns: built"
fi

log "all tools in $bin"
