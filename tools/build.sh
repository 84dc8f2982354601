#!/usr/bin/env bash
# Builds the pinned programs of the Docker-free lab into a cache outside the
# repository, so every clone on this machine reuses them. Skips what is already
# built, says up front what it will build and about how long that takes, prints
# progress with the time left, and fails clearly when the module proxy is away.
#
#   tools/build.sh [SET]...  build what is missing of each SET, in order:
#     lab    what `make demo`, `kfp-connect lab` and the kwok provider run, in the
#            order the demo needs it: the control plane (kube-apiserver,
#            kube-controller-manager, kube-scheduler, kubectl) and etcd, kwok,
#            Dex, oauth2-proxy
#     node   what the node provider adds: kubelet, kube-proxy, CoreDNS
#     all    lab, then node (the default; `make tools`, CI)
#   tools/build.sh --print   print the bin directory and exit
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/versions.env
. "$here/versions.env"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/kfp-connect"
bin="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"

sets=()
for arg in "$@"; do
	case "$arg" in
	--print) echo "$bin"; exit 0 ;;
	lab | node) sets+=("$arg") ;;
	all) sets+=(lab node) ;;
	*) echo "tools: unknown set $arg (want lab, node or all; --print)" >&2; exit 2 ;;
	esac
done
((${#sets[@]})) || sets=(lab node)

# Every step: name, the binaries it makes, and about how many minutes a cold
# build of it takes on 2 quiet cores: from the cold builds of this script's
# single-build days (all of it about 20 min; kubelet and kube-proxy about 3 of
# them, CoreDNS 4, Dex 4, oauth2-proxy 3), and the control plane's own cold
# build, 27 min on a machine whose load stayed about 10 (a third of its two
# cores for this build). Each step reuses what earlier ones compiled: kubelet and
# kube-proxy share all but 144 of their 1,844 packages with the control
# plane. The estimate printed is the sum of the steps still to build; a busy
# machine takes longer, a warm Go build cache much less.
#   step           binaries                                                        minutes
steps=(
	"control-plane kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,etcd 8"
	"kwok          kwok,kwokctl                                                      2"
	"dex           dex                                                               4"
	"oauth2-proxy  oauth2-proxy                                                      3"
	"node          kubelet,kube-proxy                                                3"
	"coredns       coredns                                                           4"
)
declare -A in_set=([control-plane]=lab [kwok]=lab [dex]=lab [oauth2-proxy]=lab [node]=node [coredns]=node)

mkdir -p "$bin"
start=$(date +%s)
log() { printf '[tools %4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# versioned NAME VERSION: true when $bin/NAME exists and was built at VERSION
# (these share the cache directory with Kubernetes, so a version bump of one
# of them must not reuse the old binary).
versioned() { [[ -x "$bin/$1" && "$(cat "$bin/.$1.version" 2>/dev/null)" == "$2" ]]; }

# built STEP: every binary of STEP is there, at its pinned version.
built() {
	case "$1" in
	dex) versioned dex "$DEX_VERSION" ;;
	oauth2-proxy) versioned oauth2-proxy "$OAUTH2_PROXY_VERSION" ;;
	coredns) versioned coredns "$COREDNS_VERSION" ;;
	*)
		local b
		for b in $(step_field "$1" 2 | tr , ' '); do [[ -x "$bin/$b" ]] || return 1; done
		;;
	esac
}

step_field() { # STEP FIELD: a field of a step's line
	local s
	for s in "${steps[@]}"; do
		read -r -a f <<<"$s"
		[[ "${f[0]}" == "$1" ]] && { echo "${f[$(($2 - 1))]}"; return; }
	done
}

wanted() { # STEP: is it in one of the sets asked for?
	local s
	for s in "${sets[@]}"; do [[ "${in_set[$1]}" == "$s" ]] && return 0; done
	return 1
}

# The plan: what is to be built, in order, and about how long it takes.
todo=() minutes=0
for s in "${steps[@]}"; do
	read -r -a f <<<"$s"
	wanted "${f[0]}" || continue
	if built "${f[0]}"; then log "${f[0]} (${f[1]//,/, }): cached"; continue; fi
	todo+=("${f[0]}")
	minutes=$((minutes + f[2]))
done
if ((${#todo[@]} == 0)); then log "${sets[*]}: all built, in $bin"; exit 0; fi
log "to build: ${todo[*]} — about $minutes min cold on 2 quiet cores, less with a warm Go build cache"

# One look at the proxy before a long build: a missing network must say so, not
# surface as a compile error twenty minutes later.
if ! (cd "$here" && go mod download -x k8s.io/kubernetes >/dev/null 2>"$bin/.download.log"); then
	echo "tools: cannot download k8s.io/kubernetes $K8S_VERSION from the Go module proxy ($(go env GOPROXY))." >&2
	echo "tools: check network access to the proxy or set GOPROXY; details in $bin/.download.log" >&2
	exit 1
fi

# The later steps' modules download while the first step compiles: the
# download waits on the network, the compile on the CPU.
prefetch() {
	local t
	for t in "${todo[@]}"; do
		case "$t" in
		kwok) (cd "$bin" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION") ;;
		dex) (cd "$here/dex" && go mod download) ;;
		oauth2-proxy) (cd "$bin" && go mod download "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION") ;;
		coredns) (cd "$here/coredns" && go mod download) ;;
		esac
	done >/dev/null 2>&1 || true
}
prefetch &
prefetch_pid=$!
stop_prefetch() { pkill -P "$prefetch_pid" 2>/dev/null || true; kill "$prefetch_pid" 2>/dev/null || true; }
trap stop_prefetch EXIT

ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
	ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done

# progress STEP TOTAL: reads `go build -v`'s package lines (one per package
# compiled) and reports every 20 s — also while nothing is printed, as when
# a large package compiles or the binaries link — how many of TOTAL are done
# and, from the rate so far, about how long is left; other lines (errors) go
# to stderr.
progress() {
	local step=$1 total=$2 n=0 t0 last line now left rc
	t0=$(date +%s) last=$t0
	while true; do
		if IFS= read -r -t 20 line; then
			case "$line" in *" "* | "") echo "$line" >&2 ;; *) n=$((n + 1)) ;; esac
		else
			rc=$?
			((rc > 128)) || break # end of output; above 128: the 20 s passed
		fi
		now=$(date +%s)
		((now - last >= 20)) || continue
		last=$now
		if ((total > 0 && n > 0 && n < total)); then
			left=$(((now - t0) * (total - n) / n))
			log "  $step: compiled $n of $total packages ($((100 * n / total))%), about $(((left + 59) / 60)) min left in this step"
		elif ((total > 0 && n >= total)); then
			log "  $step: compiled $n packages, linking…"
		else
			log "  $step: compiled $n packages…"
		fi
	done
	log "  $step: compiled $n packages"
}

# stale DIR PKG...: how many packages `go build` will compile for PKGs in the
# module at DIR (those not in the Go build cache), with this script's flags.
stale() {
	local dir=$1
	shift
	(cd "$dir" && CGO_ENABLED=0 go list -trimpath -deps -f '{{if .Stale}}x{{end}}' "$@" 2>/dev/null | grep -c x) || true
}

# go_build STEP DIR NAME=PKG...: one `go build` for the binaries (they share
# most of their packages, so one invocation compiles the shared graph once).
go_build() {
	local step=$1 dir=$2
	shift 2
	local names=() pkgs=() pair
	for pair in "$@"; do names+=("${pair%%=*}"); pkgs+=("${pair#*=}"); done
	local tmp; tmp=$(mktemp -d "$bin/.build.XXXXXX")
	local total; total=$(stale "$dir" "${pkgs[@]}")
	(
		cd "$dir"
		CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "${pkgs[@]}" 2>&1
	) | progress "$step" "$total"
	local rc=${PIPESTATUS[0]}
	if ((rc != 0)); then rm -rf "$tmp"; log "$step: build failed"; return "$rc"; fi
	local i base
	for i in "${!names[@]}"; do
		# go build names a binary after its import path's last element,
		# less a major-version suffix (go.etcd.io/etcd/server/v3 → server).
		base=$(basename "${pkgs[$i]}")
		[[ "$base" =~ ^v[0-9]+$ ]] && base=$(basename "$(dirname "${pkgs[$i]}")")
		[[ "$base" == "." ]] && base=$(basename "$dir")
		mv "$tmp/$base" "$bin/${names[$i]}"
	done
	rm -rf "$tmp"
}

# go_install STEP NAME MODULE-PACKAGE@VERSION [LDFLAGS]: a program with no
# replace directives, built in its own module by `go install`.
go_install() {
	local step=$1 name=$2 pkg=$3 flags=${4:-}
	local tmp; tmp=$(mktemp -d "$bin/.build.XXXXXX")
	(GOBIN="$tmp" CGO_ENABLED=0 go install -v -trimpath -ldflags "-s -w $flags" "$pkg" 2>&1) | progress "$step" 0
	local rc=${PIPESTATUS[0]}
	if ((rc != 0)); then rm -rf "$tmp"; log "$step: build failed"; return "$rc"; fi
	mv "$tmp/$name" "$bin/$name" && rm -rf "$tmp"
}

left=$minutes
for i in "${!todo[@]}"; do
	step=${todo[$i]}
	est=$(step_field "$step" 3)
	log "[$((i + 1))/${#todo[@]}] building $step: about $est min cold; about $left min left in all"
	case "$step" in
	control-plane)
		go_build "$step" "$here" \
			kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
			kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
			kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
			kubectl=k8s.io/kubernetes/cmd/kubectl \
			etcd=go.etcd.io/etcd/server/v3
		;;
	kwok)
		for name in kwok kwokctl; do
			go_install "$step" "$name" "sigs.k8s.io/kwok/cmd/$name@$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
		done
		;;
	dex)
		# One `go build` in tools/dex, whose go.mod pins the pseudo-version.
		go_build "$step" "$here/dex" dex=github.com/dexidp/dex/cmd/dex
		echo "$DEX_VERSION" >"$bin/.dex.version"
		;;
	oauth2-proxy)
		go_install "$step" oauth2-proxy "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
		echo "$OAUTH2_PROXY_VERSION" >"$bin/.oauth2-proxy.version"
		;;
	node)
		# The control plane's packages are in the Go build cache by now:
		# mostly kubelet's and kube-proxy's own packages and two links.
		go_build "$step" "$here" \
			kubelet=k8s.io/kubernetes/cmd/kubelet \
			kube-proxy=k8s.io/kubernetes/cmd/kube-proxy
		;;
	coredns)
		# The custom main in tools/coredns, whose go.mod pins the version
		# and moves its k8s.io modules to the pinned v0.37.2.
		go_build "$step" "$here/coredns" coredns=.
		echo "$COREDNS_VERSION" >"$bin/.coredns.version"
		;;
	esac
	left=$((left - est))
	log "$step: built"
done
log "${sets[*]}: all built, in $bin"
