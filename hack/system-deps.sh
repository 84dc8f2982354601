#!/usr/bin/env bash
# Installs the system packages the lab needs beyond Go, from Debian:
#   - OpenLDAP's server (slapd), the real LDAP directory behind the lab's Dex.
#     Its postinst starts no service; the lab runs its own slapd on loopback.
#   - containerd, runc, the CNI plugins, iptables/nftables and conntrack: the
#     container runtime and networking of the `node` provider's real kubelet
#     (docs in ../shared/design/real-node.md). Their postinst starts nothing
#     here (no systemd); the provider runs its own containerd inside its own
#     network and mount namespaces.
#   - Debian's python3 with venv and pip (the kfp-doctor wheel's tests install it into a fresh venv), and the
#     packages the real KFP SDK imports (../shared/upstream/kfp-sdk-2.17.0/README.md): the suites run kfp.Client.
# Skips what is there; without root it says what to install instead.
#
#   hack/system-deps.sh [lab|node|python|all]...   (default all; `make demo` needs lab only)
set -euo pipefail

want_lab=false want_node=false want_python=false
for arg in "${@:-all}"; do
	case "$arg" in
	lab) want_lab=true ;;
	node) want_node=true ;;
	python) want_python=true ;;
	all) want_lab=true want_node=true want_python=true ;;
	*) echo "system-deps: unknown set $arg (want lab, node, python or all)" >&2; exit 2 ;;
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
if $want_python; then
	# The SDK's imports, by module: each missing one names its package.
	python_modules=(venv:python3-venv ensurepip:python3-venv pip:python3-pip requests:python3-requests urllib3:python3-urllib3
		google.protobuf:python3-protobuf yaml:python3-yaml click:python3-click tabulate:python3-tabulate
		google.auth:python3-google-auth kubernetes:python3-kubernetes requests_toolbelt:python3-requests-toolbelt
		click_option_group:python3-click-option-group dateutil:python3-dateutil certifi:python3-certifi six:python3-six)
	if [[ -x /usr/bin/python3 ]]; then
		# One interpreter start for every module (find_spec imports only parents).
		while read -r pkg; do
			[[ -z $pkg || " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
		done < <(/usr/bin/python3 -c '
import importlib.util, sys
for mp in sys.argv[1:]:
    m, p = mp.split(":")
    try:
        found = importlib.util.find_spec(m) is not None
    except ImportError:
        found = False
    if not found:
        print(p)
' "${python_modules[@]}")
	else
		missing+=(python3 "${python_modules[@]##*:}")
	fi
fi

((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
	echo "system-deps: the lab needs Debian packages: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "system-deps: installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
