#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs every test suite and ends with one
# line "N passed, N failed".  Extra arguments go to `meson test` (for example
# --suite unit).
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

log=build/meson-logs/testlog.txt
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc=$?

passed=0
failed=0
if [ -f build/meson-logs/testlog.json ]; then
  passed=$(grep -c '"result": "OK"' build/meson-logs/testlog.json || true)
  failed=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' build/meson-logs/testlog.json || true)
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "${passed} passed, ${failed} failed"
exit $rc
