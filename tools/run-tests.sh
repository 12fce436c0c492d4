#!/usr/bin/env bash
# make test: the whole suite, in three lanes at once. The control-plane tier (tests/cluster)
# spends most of its time waiting for Argo CD and the API server, and the fault-injection
# suite (tests/integration/faults) for leases to expire, stalled requests to time out and
# servers to restart: both run alongside the rest instead of after it, each on servers of
# its own. The Spark standalone-cluster test (tests/integration/scaleout), the JVM start
# test (tests/integration/jvm) and the gold restatement test ride in the fault suite's
# lane, using its idle time; the benchmark harness (tests/bench), the silver partitioning
# tests and `make run` from a fresh clone ride in the control-plane tier's lane. What
# rides where evens out the lanes' ends (each ran ~18-20 min on 2 cores). Their output is
# printed when all are done, then one closing line for the runs.
#
#   tools/run-tests.sh [pytest args...]
#   CDS_DIR=<dir>    where `make cds` put this clone's archive (default .cache/cds)
#   PYTEST=<path>    the pytest each lane runs (default .venv/bin/pytest; tests/unit/tools
#                    replace it to see what each lane is given)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The driver JVM's class-data-sharing archive of this clone (`make cds`, part of setup):
# the many stage processes the tests start map it instead of loading Spark's classes
# again. Only when it exists: with the variable set and no file, every test JVM would
# write the same path when it ends, and a JVM that maps a half-written archive crashes.
if [[ -z "${SPARK_CDS_ARCHIVE:-}" ]] \
  && archive="$(.venv/bin/python -m medallion.common.cds path "${CDS_DIR:-.cache/cds}")"; then
  export SPARK_CDS_ARCHIVE="$archive"
  echo "run-tests: driver JVMs start from $archive"
fi
# --durations: each lane lists its slowest tests, to see where the suite's time goes
pytest=("${PYTEST:-.venv/bin/pytest}" --durations=15)
# integration tests that ride in the other two lanes (the rest lane ignores them)
tier_extra=(tests/integration/silver/test_prices_partitioning.py
  tests/integration/test_make_run_fresh_clone.py)
faults_extra=(tests/integration/test_gold_restatement.py)
tier_log="$(mktemp -t test-cluster.XXXXXX.log)"
faults_log="$(mktemp -t test-faults.XXXXXX.log)"
rest_log="$(mktemp -t test-rest.XXXXXX.log)"
trap 'rm -f "$tier_log" "$faults_log" "$rest_log"' EXIT

"${pytest[@]}" tests/cluster tests/bench "${tier_extra[@]}" "$@" >"$tier_log" 2>&1 &
tier=$!
"${pytest[@]}" tests/integration/faults tests/integration/scaleout tests/integration/jvm \
  "${faults_extra[@]}" "$@" >"$faults_log" 2>&1 &
faults=$!
"${pytest[@]}" tests --ignore=tests/cluster --ignore=tests/integration/faults \
  --ignore=tests/integration/scaleout --ignore=tests/integration/jvm --ignore=tests/bench \
  "${tier_extra[@]/#/--ignore=}" "${faults_extra[@]/#/--ignore=}" "$@" \
  | tee "$rest_log"
rest=${PIPESTATUS[0]}
wait "$faults"
faults_rc=$?
wait "$tier"
tier_rc=$?
for lane in "tests/integration/faults, scaleout and jvm:$faults_log" "tests/cluster and bench:$tier_log"; do
  echo
  echo "============================ ${lane%%:*} (ran alongside) ============================"
  cat "${lane#*:}"
done

# One closing line: the sums of the three runs' pytest summaries.
count() { grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$1" | tail -n 1 | grep -oE "[0-9]+ $2" | cut -d ' ' -f 1; }
passed=0 failed=0
for f in "$rest_log" "$faults_log" "$tier_log"; do
  passed=$(( passed + $(count "$f" passed || echo 0) ))
  failed=$(( failed + $(count "$f" failed || echo 0) + $(count "$f" error || echo 0) ))
done
echo "${passed} passed, ${failed} failed"
(( rest == 0 && faults_rc == 0 && tier_rc == 0 ))
