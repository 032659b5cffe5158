#!/usr/bin/env bash
# Runs releasemon's whole test suite (unit, integration against a real supervisord, end-to-end),
# installing Deno, supervisor and redis-server first when they are missing. Ends with one line
# "N passed, N failed" summed from Deno's own reports.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_tools.sh
ensure_tools || exit 1
export NO_COLOR=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
deno task test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Deno prints one summary per `deno test` run: "ok | 12 passed (3 steps) | 0 failed (1s)".
passed=0 failed=0
while read -r p f; do
  passed=$((passed + p)); failed=$((failed + f))
done < <(sed -nE 's/^(ok|FAILED) \| ([0-9]+) passed.*\| ([0-9]+) failed.*/\2 \3/p' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a run that died before its summary
echo "${passed} passed, ${failed} failed"
exit "$status"
