#!/usr/bin/env bash
# `npm run bench [-- name ...]`: runs every bench/*.ts (or the named ones, e.g. push)
# one after another with its own defaults (each file's header says what it measures and its
# options), printing their figures. Heavy (some take minutes each, sign-summary alone about 3):
# run on a quiet machine, and compare ratios from one run, not absolute figures across runs.
# Needs what scripts/install.sh --with-test-deps installs, plus:
#   serve-objects.ts   nginx (apt-get install nginx-light): skipped without it
#   jobs-throughput.ts Redis for its notification latency: a private redis-server is started here
#                      when FMD_BENCH_REDIS_URL is not set (that figure is skipped without Redis)
#                      and PostgreSQL at FMD_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432) for its
#                      @agendajs/postgres-backend column (skipped when unreachable)
#   git-build.ts       flatpak-builder and bubblewrap (install.sh), busybox-static (--with-test-deps):
#                      skipped without flatpak-builder; about 10 min (four builds of a 200 MB app)
#   fuzz.ts            about 15 min for its 20000 cases (FUZZ_CASES=2000 for a short run)
set -uo pipefail
cd "$(dirname "$0")/.."
node=node_modules/.bin/node

names=("$@")
if ((${#names[@]} == 0)); then
  for f in bench/*.ts; do names+=("$(basename "$f" .ts)"); done
fi

if [[ -z "${FMD_BENCH_REDIS_URL:-}" ]] && command -v redis-server >/dev/null; then
  redis_dir=$(mktemp -d)
  redis_port=${FMD_BENCH_REDIS_PORT:-6392}
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  trap '[[ -f "$redis_dir/redis.pid" ]] && kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null; rm -rf "$redis_dir"' EXIT
  export FMD_BENCH_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

failed=() skipped=()
for name in "${names[@]}"; do
  file="bench/$name.ts"
  if [[ ! -f "$file" ]]; then echo "bench: no $file" >&2; failed+=("$name"); continue; fi
  if [[ "$name" == serve-objects ]] && ! command -v nginx >/dev/null; then
    echo "==> $name: skipped (needs nginx: apt-get install nginx-light)"
    skipped+=("$name")
    continue
  fi
  if [[ "$name" == git-build ]] && ! command -v flatpak-builder >/dev/null; then
    echo "==> $name: skipped (needs flatpak-builder: scripts/install.sh)"
    skipped+=("$name")
    continue
  fi
  echo "==> $name ($(date -u +%H:%M:%S) UTC)"
  start=$(date +%s)
  if "$node" "$file"; then
    echo "==> $name: done in $(($(date +%s) - start)) s"
  else
    echo "==> $name: FAILED after $(($(date +%s) - start)) s"
    failed+=("$name")
  fi
  echo
done
echo "benches: $((${#names[@]} - ${#failed[@]} - ${#skipped[@]})) ran, ${#failed[@]} failed${failed:+ (${failed[*]})}, ${#skipped[@]} skipped${skipped:+ (${skipped[*]})}"
((${#failed[@]} == 0))
