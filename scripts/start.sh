#!/usr/bin/env bash
# README command 1: install what is missing or changed (a restart installs nothing), then run
# fmd. Without DATABASE_URL fmd starts its own MariaDB under ./data (FMD_DATA_DIR); it prints its
# URL and, on the first start, an admin token.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The web dashboard fmd serves at /: built when missing or older than its sources (or the SDK's).
dashboard=web/dist/index.html
if [[ ! -f $dashboard ]] || [[ -n $(find web/index.html web/playground.html web/vite.config.ts web/src sdk/src web/package.json -newer "$dashboard" -print -quit) ]]; then
  echo "==> building the web dashboard"
  npm run --silent -w @fmd/web build
fi
# `fmd serve`, as `npm start` runs it; exec, and the Node binary itself rather than `npm start`:
# the PID a user or a supervisor started is fmd's, so its SIGTERM/SIGINT reach fmd, which stops
# its embedded MariaDB. PATH and working directory as `npm start` would give it (hooks fmd runs
# see the same Node).
cd server
export PATH="$PWD/node_modules/.bin:$PWD/../node_modules/.bin:$PATH"
exec ../node_modules/.bin/node bin/fmd.js serve
