#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): install what is missing or changed (as start.sh),
# then run every check and every workspace's tests, and end with one count over all of them.
# Starts what the tests need itself (an embedded MariaDB per test file, Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
start=$(date +%s)
bash scripts/install.sh --with-test-deps

# A private Redis for the cross-process notification tests.
redis_dir=$(mktemp -d)
redis_port=${FMD_TEST_REDIS_PORT:-6391}
redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
cleanup() { [[ -f "$redis_dir/redis.pid" ]] && kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null; rm -rf "$redis_dir"; }
trap cleanup EXIT
export FMD_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"

echo "==> type-checking all workspaces"
npm run --silent typecheck

echo "==> checking generated files are committed"
npm run --silent schema:print -- --check
git diff --exit-code --stat -- schema.graphql || { echo "schema.graphql is stale: run npm run schema:print"; exit 1; }

echo "==> running tests"
log=$(mktemp)
set +e
# test:only runs every workspace's tests even when one fails (turbo --continue=always).
npm run --silent test:only 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "==> finished in $(( $(date +%s) - start )) s"
summary=0
bash scripts/test-summary.sh "$log" "$status" || summary=$?
rm -f "$log"
exit "$summary"
