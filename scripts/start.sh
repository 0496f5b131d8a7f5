#!/usr/bin/env bash
# README command 1: install what is missing or changed (a restart installs nothing), then run
# fmd. Without DATABASE_URL fmd starts its own MariaDB under ./data (FMD_DATA_DIR); it prints its
# URL and, on the first start, an admin token.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# exec, and the Node binary itself rather than `npm start`: the PID a user or a supervisor
# started is fmd's, so its SIGTERM/SIGINT reach fmd, which stops its embedded MariaDB.
# PATH and working directory as `npm start` would give it (hooks fmd runs see the same Node).
cd server
export PATH="$PWD/node_modules/.bin:$PWD/../node_modules/.bin:$PATH"
exec ../node_modules/.bin/node src/main.ts
