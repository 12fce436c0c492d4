#!/usr/bin/env bash
# make test: the whole suite. The control-plane tier (tests/cluster) spends most of its time
# waiting for Argo CD and the API server, so it runs alongside the rest instead of after it;
# its output is printed when both are done, then one closing line for the two runs.
#
#   tools/run-tests.sh [pytest args...]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pytest=.venv/bin/pytest
log="$(mktemp -t test-cluster.XXXXXX.log)"
trap 'rm -f "$log"' EXIT

"$pytest" tests/cluster "$@" >"$log" 2>&1 &
tier=$!
"$pytest" tests --ignore=tests/cluster "$@" | tee "$log.rest"
rest=${PIPESTATUS[0]}
wait "$tier"
cluster=$?
echo
echo "============================ tests/cluster (ran alongside) ============================"
cat "$log"

# One closing line: the sums of both runs' pytest summaries.
count() { grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$1" | tail -n 1 | grep -oE "[0-9]+ $2" | cut -d ' ' -f 1; }
passed=$(( $(count "$log.rest" passed || echo 0) + $(count "$log" passed || echo 0) ))
failed=$(( $(count "$log.rest" failed || echo 0) + $(count "$log" failed || echo 0) + $(count "$log.rest" error || echo 0) + $(count "$log" error || echo 0) ))
rm -f "$log.rest"
echo "${passed} passed, ${failed} failed"
(( rest == 0 && cluster == 0 ))
