#!/usr/bin/env bash
# Installs everything fmd needs on a Debian 12 machine: Debian packages (when missing),
# npm dependencies (Node 24 comes with them) and generated code. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages fmd uses at runtime, and the extra ones its test suite uses.
runtime_pkgs=(mariadb-server git ostree flatpak flatpak-builder bubblewrap)
test_pkgs=(redis-server busybox-static python3-gi gir1.2-glib-2.0 gnupg)
pkgs=("${runtime_pkgs[@]}")
if [[ "${1:-}" == "--with-test-deps" ]]; then pkgs+=("${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> installing npm dependencies (includes Node 24)"
npm ci --no-audit --no-fund --loglevel=error

echo "==> generating the Prisma client and the SDK"
npm run --silent generate:code
