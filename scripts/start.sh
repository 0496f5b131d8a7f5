#!/usr/bin/env bash
# README command 1: install everything, then run fmd. Without DATABASE_URL fmd starts its own
# MariaDB under ./data (FMD_DATA_DIR); it prints its URL and, on the first start, an admin token.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec npm start --silent
