#!/usr/bin/env bash
# The test command: installs what it needs, builds, starts a throwaway PostgreSQL 15 (pg_cron preloaded)
# and the mock providers, runs every suite, stops everything, and ends with "N passed, N failed".
# Usage: scripts/test.sh            (root or a sudo user, on Debian 12)
#        FUZZ_SECONDS=30 scripts/test.sh   (longer fuzzing)
set -uo pipefail
AISPEND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$AISPEND_ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

WERROR_FLAG=${WERROR_FLAG:--Werror}
FUZZ_SECONDS=${FUZZ_SECONDS:-3}
# The price feed lives beside the repository (shared/), when it is there.
PRICES_PATH=$(cd "$AISPEND_ROOT/.." && pwd)/shared/data/genai-prices/data.json
work=$(mktemp -d /tmp/aispend-test.XXXXXX)
chmod 755 "$work"
passed=0
failed=0
skipped=0
failures=()

cleanup() {
    stop_cluster "$work/pg"
    stop_mock "$work"
    [ "${KEEP_TEST_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# record SUITE PASSED FAILED
record() {
    passed=$((passed + $2))
    failed=$((failed + $3))
    [ "$3" -gt 0 ] && failures+=("$1: $3 failed")
    printf '%-12s %4d passed, %d failed\n' "$1" "$2" "$3"
}

ensure_packages "${AISPEND_PACKAGES[@]}" "${AISPEND_TEST_PACKAGES[@]}" || { echo "0 passed, 1 failed"; exit 1; }

if ! build_and_install "$WERROR_FLAG"; then
    echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

say "lint (clang-format)"
if make -s lint >"$work/lint.log" 2>&1; then record lint 1 0; else cat "$work/lint.log" | head -40; record lint 0 1; fi

say "unit tests (GoogleTest)"
mock_port=$(free_port)
start_mock "$work" "$mock_port" small || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
export AISPEND_MOCK_URL="http://127.0.0.1:$mock_port"
if make -s -j2 unit WERROR="$WERROR_FLAG" >"$work/unit-build.log" 2>&1; then
    build/unit_tests --gtest_brief=1 >"$work/unit.log" 2>&1
    unit_status=$?
    ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$work/unit.log")
    # brief mode prints one "[  FAILED  ] Suite.Test (N ms)" line per failed test and no failure total
    bad=$(grep -cE '^\[  FAILED  \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+ \(' "$work/unit.log")
    grep -E '^\[  FAILED  \]' "$work/unit.log" | head -30
    if [ "$unit_status" -ne 0 ] && [ "$bad" -eq 0 ]; then tail -20 "$work/unit.log"; bad=1; fi
    record unit "${ok:-0}" "${bad:-0}"
else
    tail -40 "$work/unit-build.log"; record unit 0 1
fi

# run_unittest SUITE FILE: a Python unittest file, counted test by test. The summary line is "OK", "OK (skipped=N)"
# or "FAILED (failures=N, errors=N, skipped=N, ...)": failures, errors and unexpected successes fail; skipped tests
# are shown (verbose lines "test ... skipped 'reason'") and counted as skipped, never as passed.
run_unittest() {
    local log="$work/$1.log" ran summary bad skip status
    python3 -m unittest -v "$2" >"$log" 2>&1
    status=$?
    ran=$(sed -n 's/^Ran \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    summary=$(grep -E '^(OK|FAILED)( \(.*\))?$' "$log" | tail -1)
    # "failures=" must not match inside "expected failures="
    summary_count() { echo "$summary" | grep -oE "(\(|, )$1=[0-9]+" | sed 's/.*=//' | awk '{s+=$1} END {print s+0}'; }
    bad=$(($(summary_count failures) + $(summary_count errors) + $(summary_count 'unexpected successes')))
    skip=$(summary_count skipped)
    if [ "$skip" -gt 0 ]; then
        grep -E ' \.\.\. skipped' "$log" | sed 's/^/  /' | head -10
        skipped=$((skipped + skip))
    fi
    [ "$bad" -gt 0 ] && tail -30 "$log"
    [ -z "$ran" ] && { tail -20 "$log"; ran=0; bad=1; skip=0; }
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then tail -20 "$log"; bad=1; fi
    record "$1" $((ran - bad - skip < 0 ? 0 : ran - bad - skip)) "$bad"
}

say "mock provider self-tests"
run_unittest mock tests/mock/test_mock.py
say "packaging (META.json, versions)"
run_unittest packaging tests/packaging/test_packaging.py

say "fuzzing each parser for ${FUZZ_SECONDS}s"
if bash tests/fuzz/run.sh "$FUZZ_SECONDS" >"$work/fuzz.log" 2>&1; then :; fi
ok=$(grep -c '^fuzz .*: ok' "$work/fuzz.log")
bad=$(grep -c 'FAILED' "$work/fuzz.log")
[ "$ok" -eq 0 ] && [ "$bad" -eq 0 ] && bad=1
[ "$bad" -gt 0 ] && tail -30 "$work/fuzz.log"
record fuzz "$ok" "$bad"

# aispend preloaded too, as a Citus coordinator has it: its statement hooks run under every suite here (they do
# nothing on a single node); the demo runs without.
say "starting PostgreSQL 15 (pg_cron and aispend preloaded) as $(cluster_user)"
pg_port=$(free_port)
start_cluster "$work/pg" "$pg_port" aispend_test "shared_preload_libraries = 'pg_cron,aispend'" ||
    { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
psql -q -X -d postgres -c "CREATE DATABASE aispend_test" >/dev/null
psql -q -X -d aispend_test -c "CREATE EXTENSION pg_cron; CREATE EXTENSION pgtap; CREATE EXTENSION dblink; CREATE EXTENSION aispend;" >/dev/null

say "pg_regress (sql/, expected/)"
PGOPTIONS="-c aispend_test.mock_url=$AISPEND_MOCK_URL" make -s installcheck >"$work/regress.log" 2>&1
regress_status=$?
ok=$(grep -cE '(\.\.\. ok|^ok )' "$work/regress.log")
bad=$(grep -cE '(\.\.\. FAILED|^not ok )' "$work/regress.log")
# pg_regress's exit status counts too: a non-zero status without a FAILED line (a crash, a missing database,
# an error before any test ran) is one failure.
if [ "$bad" -gt 0 ] || [ "$ok" -eq 0 ] || [ "$regress_status" -ne 0 ]; then
    cat "$work/regress.log" | tail -20; [ -f regression.diffs ] && head -80 regression.diffs
    [ "$bad" -eq 0 ] && bad=1
fi
record regress "$ok" "$bad"

say "pgTAP (tests/pgtap/)"
pg_prove -v -d aispend_test --set "mock_url=$AISPEND_MOCK_URL" --set "prices_path=$PRICES_PATH" \
    --set "focus_dir=$AISPEND_ROOT/tests/fixtures/focus" \
    tests/pgtap/*.sql >"$work/pgtap.log" 2>&1
status=$?
# Per file: every "ok" passes; every "not ok", and every planned test that never ran, fails.
read -r ok bad skip < <(awk '
    /^tests\/pgtap\/.*\.sql \.\./ { if (file) flush(); file = $1; plan = 0; seen = 0 }
    /^ *1\.\.[0-9]+/ { sub(/^ *1\.\./, ""); plan = $1 + 0 }
    /^ *ok [0-9]+.*# (skip|SKIP)/ { skip++; seen++; next }
    /^ *ok [0-9]+/ { ok++; seen++ }
    /^ *not ok [0-9]+/ { bad++; seen++ }
    function flush() { if (plan > seen) bad += plan - seen }
    END { if (file) flush(); print ok + 0, bad + 0, skip + 0 }' "$work/pgtap.log")
# Skipped tests are shown, never counted as passed (e.g. the price-feed import when shared/ is absent).
if [ "$skip" -gt 0 ]; then
    grep -E '^ *ok [0-9]+.*# (skip|SKIP)' "$work/pgtap.log" | sort -u | head -5
    skipped=$((skipped + skip))
fi
if [ "$status" -ne 0 ]; then
    grep -E 'not ok|Failed|Dubious|ERROR|psql:' "$work/pgtap.log" | head -40
    [ "$bad" -eq 0 ] && bad=1
fi
record pgtap "$ok" "$bad"

# run_counted SUITE COMMAND...: a suite that ends with its own "N passed, N failed" line.
run_counted() {
    local name=$1 log="$work/$1.log" line ok bad
    shift
    "$@" >"$log" 2>&1
    local status=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    ok=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    bad=$(echo "$line" | sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p')
    if [ -z "$line" ]; then ok=0; bad=1; fi
    if [ "$status" -ne 0 ] && [ "${bad:-0}" -eq 0 ]; then bad=1; fi
    # A suite's "ok - ... # SKIP reason" lines are shown and counted as skipped, not passed.
    local skip
    skip=$(grep -cE '^ok .*# (SKIP|skip)' "$log")
    if [ "$skip" -gt 0 ]; then
        grep -E '^ok .*# (SKIP|skip)' "$log" | sed 's/^/  /'
        ok=$((ok - skip))
        skipped=$((skipped + skip))
    fi
    [ "${bad:-0}" -gt 0 ] && grep -E '^not ok|ERROR|error' "$log" | head -20
    record "$name" "${ok:-0}" "${bad:-0}"
}

say "pg_cron: one real scheduled sync"
run_counted cron tests/cron/run.sh aispend_test "$AISPEND_MOCK_URL"

say "demo organisation for the report, BI and docs suites"
demo_port=$(free_port)
start_mock "$work" "$demo_port" demo || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
setup_demo_db aispend_test "http://127.0.0.1:$demo_port" >"$work/demo-sync.log" 2>&1 ||
    { tail -20 "$work/demo-sync.log"; record demo-sync 0 1; }

say "chart report (HTML checks, headless Chromium screenshot)"
run_counted report tests/report/run.sh aispend_test "$work/report.png"
say "BI readiness (JDBC metadata as the read-only role)"
run_counted jdbc tests/jdbc/run.sh aispend_test
say "documentation examples"
run_counted docs tests/docs/run.sh aispend_test
say "upgrade from each earlier release (ALTER EXTENSION UPDATE = a fresh install: objects, rows, dashboard)"
run_counted upgrade tests/upgrade/run.sh aispend_test "http://127.0.0.1:$demo_port"
say "pg_dump / pg_restore of the demo database (same dashboard, rollups rebuilt)"
run_counted dump-restore tests/upgrade/dump_restore.sh aispend_test
say "Citus: a coordinator and two workers, aispend.distribute(), the demo synced on both (../shared/vendor/citus)"
run_counted citus tests/citus/run.sh
say "packaging (make dist, reinstall gives the same objects)"
run_counted dist tests/packaging/test_dist.sh

echo
if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
