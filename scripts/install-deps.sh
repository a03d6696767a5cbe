#!/usr/bin/env bash
# Installs everything ezsync builds, tests and demos with, from Debian's packages (and npm for the
# simulators). Idempotent: when every package is present it does nothing, not even apt-get update.
set -euo pipefail

PKGS=(build-essential pkg-config git ca-certificates
      liblua5.4-dev lua5.4 libcurl4-openssl-dev libjansson-dev libyajl-dev libsqlite3-dev libevent-dev
      libssl-dev openssl zlib1g-dev libcmocka-dev lua-busted lua-check sqlite3 wrk prometheus curl)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm  >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
# Debian starts a service a package ships (prometheus is installed only for promtool): forbid that
# for the duration of the install unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && own_policy=1
fi
trap '[ "$own_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
