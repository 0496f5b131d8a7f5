#!/usr/bin/env bash
# Installs everything fmd needs on a Debian 12 machine: Debian packages (when missing),
# npm dependencies (Node 24 comes with them) and generated code. Safe to re-run, and quick when
# nothing changed: npm ci runs only when the lockfile (it holds every workspace's dependencies)
# or the Node/npm running it changed since the last install, and code is generated only when its
# inputs changed (stamps under node_modules/, so a new or removed node_modules starts over).
#   --with-test-deps   also the Debian packages the test suite uses
#   --force            npm ci and generate even when the stamps say they are current
#   --check            install nothing; exit 0 when everything is current, 1 (saying what) when not
set -euo pipefail
cd "$(dirname "$0")/.."
# The Node and npm of the machine, also when called from an npm script (which puts the Node 24
# of node_modules first): the stamps name them, and must read the same either way.
PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '/node_modules/\.bin$' | paste -sd: -)

# Debian packages fmd uses at runtime, and the extra ones its test suite uses (chromium: the
# dashboard's browser tests drive Debian's Chromium; no browser is ever downloaded; psql: the
# flat-manager import reads its PostgreSQL database with it; nginx-light:
# server/test/nginx.test.ts runs deploy/nginx/fmd.conf in front of fmd; rsync: deploy/mirror-sync.sh).
runtime_pkgs=(mariadb-server git ostree flatpak flatpak-builder bubblewrap)
test_pkgs=(redis-server busybox-static python3-gi gir1.2-glib-2.0 gnupg attr chromium postgresql-client nginx-light rsync)
with_test=0 force=0 check=0
for arg in "$@"; do
  case "$arg" in
    --with-test-deps) with_test=1 ;;
    --force) force=1 ;;
    --check) check=1 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
pkgs=("${runtime_pkgs[@]}")
if ((with_test)); then pkgs+=("${test_pkgs[@]}"); fi

npm_stamp=node_modules/.fmd-npm-stamp
generate_stamp=node_modules/.fmd-generate-stamp

# What npm ci installs depends on these (the lockfile pins Node 24 itself; the Node and npm on
# the PATH run the install scripts).
npm_inputs() {
  sha256sum package-lock.json
  echo "node $(node --version 2>/dev/null || echo none) npm $(npm --version 2>/dev/null || echo none) $(uname -m)"
}
# What `npm run generate:code` reads (generators' versions come with the lockfile).
generate_inputs() {
  sha256sum package-lock.json prisma/schema.prisma prisma.config.ts schema.graphql codegen.ts sdk/src/operations/*.graphql
}
generated_files=(server/src/generated/prisma/client.ts sdk/src/generated/graphql.ts)

current() { # stamp-file inputs-function
  [[ -f "$1" ]] && [[ "$(cat "$1")" == "$($2 | sha256sum)" ]]
}
# A new file renamed over the stamp: node_modules may be shared through hard links.
write_stamp() { # stamp-file inputs-function
  "$2" | sha256sum >"$1.tmp"
  mv -f "$1.tmp" "$1"
}

missing=()
while read -r p; do missing+=("$p"); done < <(
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
)
npm_current=0 generate_current=0
if ((!force)) && current "$npm_stamp" npm_inputs; then npm_current=1; fi
if ((!force && npm_current)) && current "$generate_stamp" generate_inputs && ls "${generated_files[@]}" >/dev/null 2>&1; then
  generate_current=1
fi

# Git builds run flatpak-builder in a bubblewrap jail as this unprivileged system user when fmd
# runs as root (server/src/domain/builds/git/jail.ts says why).
builder_user=fmd-builder
builder_user_missing=0
if [[ $(id -u) -eq 0 ]] && ! id -u "$builder_user" >/dev/null 2>&1; then builder_user_missing=1; fi

if ((check)); then
  stale=()
  if ((${#missing[@]})); then stale+=("Debian packages missing: ${missing[*]}"); fi
  if ((builder_user_missing)); then stale+=("system user $builder_user missing"); fi
  if ((!npm_current)); then stale+=("npm dependencies not installed from the current lockfile"); fi
  if ((!generate_current)); then stale+=("generated code older than its inputs"); fi
  if ((${#stale[@]})); then printf 'install.sh: %s\n' "${stale[@]}" >&2; exit 1; fi
  exit 0
fi

if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((builder_user_missing)); then
  echo "==> creating the system user $builder_user (git builds run as it)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$builder_user"
fi

if ((!npm_current)); then
  echo "==> installing npm dependencies (includes Node 24)"
  npm ci --no-audit --no-fund --loglevel=error
  write_stamp "$npm_stamp" npm_inputs
fi

if ((!generate_current)); then
  echo "==> generating the Prisma client and the SDK"
  npm run --silent generate:code
  write_stamp "$generate_stamp" generate_inputs
fi
