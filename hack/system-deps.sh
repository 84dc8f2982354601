#!/usr/bin/env bash
# Installs the system packages the lab needs beyond Go: Debian's OpenLDAP
# server (slapd), the real LDAP directory behind the lab's Dex. Its postinst
# starts no service; the lab runs its own slapd on loopback. Skips what is
# there; without root it says what to install instead.
set -euo pipefail
if [[ -x /usr/sbin/slapd && -x /usr/sbin/slapadd && -f /etc/ldap/schema/inetorgperson.schema ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "system-deps: the lab's LDAP directory needs Debian's slapd: run as root, or: sudo apt-get install slapd ldap-utils" >&2
	exit 1
fi
echo "system-deps: installing slapd and ldap-utils from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null
