#!/usr/bin/env bash
# Install the Debian packages the test suite drives (real SIP tools, firewall, databases),
# only those whose command is missing. Needs root (or sudo) when something is missing.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [sipp]=sip-tester
  [sipsak]=sipsak
  [wrk]=wrk
  [nft]=nftables
  [ip]=iproute2
  [conntrack]=conntrack
  [ipset]=ipset
  [iptables]=iptables
  [kamailio]=kamailio
  [fail2ban-regex]=fail2ban
  [pg_ctlcluster]=postgresql
  [chromium]=chromium
  [openssl]=openssl
)

missing=()
for cmd in "${!wanted[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
    missing+=("${wanted[$cmd]}")
  fi
done
# SIPp's sample audio is what the call tests send.
[ -f /usr/share/sip-tester/g711a.pcap ] || missing+=(sip-tester)
# The PostgreSQL tests run initdb/pg_ctl from the server package, which is not on PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Packages ship services (postgresql, kamailio, fail2ban); the tests start their own instances.
printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
$sudo chmod +x /usr/sbin/policy-rc.d
trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
