#!/usr/bin/env bash
# Installs the system packages the lab needs beyond Go, from Debian:
#   - OpenLDAP's server (slapd), the real LDAP directory behind the lab's Dex.
#     Its postinst starts no service; the lab runs its own slapd on loopback.
#   - containerd, runc, the CNI plugins, iptables/nftables and conntrack: the
#     container runtime and networking of the `node` provider's real kubelet
#     (docs in ../shared/design/real-node.md). Their postinst starts nothing
#     here (no systemd); the provider runs its own containerd inside its own
#     network and mount namespaces.
# Skips what is there; without root it says what to install instead.
#
#   hack/system-deps.sh [lab|node|all]...   (default all; `make demo` needs lab only)
set -euo pipefail

want_lab=false want_node=false
for arg in "${@:-all}"; do
	case "$arg" in
	lab) want_lab=true ;;
	node) want_node=true ;;
	all) want_lab=true want_node=true ;;
	*) echo "system-deps: unknown set $arg (want lab, node or all)" >&2; exit 2 ;;
	esac
done

# need PACKAGE PATH...: PACKAGE is missing when any PATH is.
missing=()
need() {
	local pkg=$1 p
	shift
	for p in "$@"; do
		if [[ ! -e "$p" ]]; then missing+=("$pkg"); return; fi
	done
}
if $want_lab; then
	need slapd /usr/sbin/slapd /usr/sbin/slapadd /etc/ldap/schema/inetorgperson.schema
	need ldap-utils /usr/bin/ldapsearch
fi
if $want_node; then
	need containerd /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/bin/ctr
	need runc /usr/sbin/runc
	need containernetworking-plugins /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap
	need iptables /usr/sbin/iptables
	need nftables /usr/sbin/nft
	need conntrack /usr/sbin/conntrack
fi

((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
	echo "system-deps: the lab needs Debian packages: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "system-deps: installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
