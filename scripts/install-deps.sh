#!/usr/bin/env bash
# Installs the Debian packages tokenscan needs to build, run and test, only those missing.
# Idempotent: checks `dpkg -s` for each package before touching apt.
set -euo pipefail

build_pkgs=(libssl-dev libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev libpq-dev pkg-config openssl curl)
test_pkgs=(python3 python3-aiosmtpd chromium chromium-driver python3-selenium postgresql wrk)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
