#!/usr/bin/env bash
# The test command (`npm test`; `.ci/run` calls it): installs what is missing, builds, type-checks, lints,
# runs the whole vitest suite (which starts its own InfluxDB, see test/helpers/global-setup.ts) and
# prints a last line `N passed, N failed`. Exits non-zero on any failure, or when no test ran.
#
#   bash scripts/test.sh [vitest args…]      e.g. bash scripts/test.sh test/unit
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Installation steps, in order: each is a command line run from the repository root.
# Add services the tests need here (e.g. "bash scripts/slurm.sh install").
INSTALL_STEPS=(
  "bash scripts/setup.sh"
  "bash scripts/slurm.sh install"
  "bash scripts/sge.sh install"
  "bash scripts/chromium.sh install"
  "bash scripts/prometheus.sh install"
)

# Checks before the tests, in order.
CHECK_STEPS=(
  "npm run --silent build"
  "npx tsc --noEmit -p tsconfig.json"
  "npx eslint ."
)

step() {
  echo "test.sh: $*" >&2
  if ! eval "$*"; then
    echo "test.sh: FAILED: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
}

for s in "${INSTALL_STEPS[@]}"; do step "$s"; done
for s in "${CHECK_STEPS[@]}"; do step "$s"; done

report=$(mktemp "${TMPDIR:-/tmp}/runctrl-vitest-XXXXXX.json")
trap 'rm -f "$report"' EXIT
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
vitest_rc=$?

summary=$(node -e '
const fs = require("node:fs");
let r = {};
try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { r = {}; }
const p = Number(r.numPassedTests ?? 0), f = Number(r.numFailedTests ?? 0);
console.log(`${p} passed, ${f} failed`);
process.exit(f === 0 && p > 0 && r.success !== false ? 0 : 1);
' "$report")
summary_rc=$?
echo "$summary"
if [ "$vitest_rc" -ne 0 ] || [ "$summary_rc" -ne 0 ]; then exit 1; fi
