#!/usr/bin/env bash
# Usage: test-summary.sh <log of npm run test:only> [turbo's exit status]
# Prints one closing count over every workspace with tests, from node:test's summaries (turbo prefixes
# each line with "<workspace>:test: "). Cancelled tests count as failed, todo ones as skipped; a
# workspace with no summary failed before reporting (or never ran) and fails the suite.
# Exits 1 when anything failed.
set -euo pipefail
log=$(realpath "$1")
cd "$(dirname "$0")/.."
workspaces=$(node_modules/.bin/node -e '
  const root = require("./package.json");
  for (const w of root.workspaces) { const p = require(`./${w}/package.json`); if (p.scripts?.test) console.log(p.name); }')
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk -v workspaces="$workspaces" -v status="${2:-0}" '
  {
    i = index($0, ":test: ")
    if (i == 0) next
    ws = substr($0, 1, i - 1); rest = substr($0, i + 7)
    if (rest ~ /^ℹ (pass|fail|cancelled|skipped|todo) [0-9]+[ \t\r]*$/) { split(rest, f, " "); n[ws, f[2]] = f[3]; seen[ws] = 1 }
  }
  END {
    count = split(workspaces, names, "\n"); bad = 0
    for (k = 1; k <= count; k++) {
      ws = names[k]
      if (!(ws in seen)) { print ws ": no test summary: its test command failed before reporting, or never ran"; bad = 1; continue }
      p = n[ws, "pass"] + 0; fl = n[ws, "fail"] + n[ws, "cancelled"]; sk = n[ws, "skipped"] + n[ws, "todo"]
      printf "%s: %d passed, %d failed, %d skipped\n", ws, p, fl, sk
      passed += p; failed += fl; skipped += sk
    }
    if (status != 0 && !failed && !bad) print "the test run exited with status " status
    printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped
    exit (failed > 0 || bad || status != 0) ? 1 : 0
  }'
