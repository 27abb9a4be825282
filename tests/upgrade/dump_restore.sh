#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/upgrade/dump_restore.sh DB     (DB from setup_demo_db)
# pg_dump / pg_restore round trip (docs/upgrading.md "Dump and restore"): the output of every dashboard function
# and view of the synced database DB for several periods (tests/upgrade/compare.sh) is recorded, DB is dumped
# with pg_dump -Fc and restored with a plain pg_restore -d (no --disable-triggers, no extra step) into a new
# database DB_restored; then every output must be identical and aispend.daily_rollup must hold as many rows as
# in DB: the rollups are rebuilt by the restore, never read empty. DB_restored is dropped at the end.
# pg_cron, when DB has it, is left out of the restore: it can only be created in cron.database_name.
# KEEP_DUMP_DIR=1 keeps the work directory (dump, outputs, diffs) and prints it.
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
db=${1:?usage: tests/upgrade/dump_restore.sh DB}
restored="${db}_restored"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=tests/upgrade/compare.sh
source "$here/compare.sh"
work=$(mktemp -d /tmp/aispend-dump.XXXXXX)
chmod 755 "$work"
passed=0
failed=0

cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $restored" >/dev/null 2>&1
    if [ -n "${KEEP_DUMP_DIR:-}" ]; then echo "# kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

check() {  # check WHAT COMMAND...: the command's output is shown when it fails
    local what=$1; shift
    if "$@" >"$work/last.log" 2>&1; then
        echo "ok - $what"; passed=$((passed + 1))
    else
        echo "not ok - $what"; sed 's/^/#   /' "$work/last.log" | head -15; failed=$((failed + 1))
    fi
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

version=$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'aispend'" 2>"$work/version.err")
if [ -z "$version" ]; then
    echo "not ok - $db has aispend installed"; sed 's/^/#   /' "$work/version.err"; failed=$((failed + 1)); finish
fi
rollup_rows() { q "$1" "SELECT count(*) FROM aispend.daily_rollup"; }
source_rollups=$(rollup_rows "$db" 2>&1)
usage_rows=$(q "$db" "SELECT count(*) FROM aispend.usage" 2>&1)
echo "# $db: aispend $version, $usage_rows usage rows, $source_rollups daily_rollup rows"

# What the dashboard shows in the source, for periods ending today (passed explicitly: the same days after).
today=$(q "$db" "SELECT (pg_catalog.now() AT TIME ZONE 'UTC')::date")
check "the dashboard's functions and views of $db are listed" \
    bash -c "source '$here/compare.sh' && tab_queries '$db' '$today' 0 >'$work/tabs.manifest' &&
             echo \"\$(wc -l <'$work/tabs.manifest') queries\" && [ -s '$work/tabs.manifest' ]"
run_tab_queries "$db" "$work/tabs.manifest" "$work/tabs-source"
schema_snapshot "$db" "$work/schema-source" 2>"$work/schema-source.err"

check "pg_dump -Fc $db" "$PG_BIN/pg_dump" -Fc -f "$work/db.dump" "$db"
check "CREATE DATABASE $restored" bash -c "
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS $restored' &&
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE $restored'"

# The restore's table of contents, without pg_cron's entries (the extension, its comment, its tables' rows).
"$PG_BIN/pg_restore" -l "$work/db.dump" >"$work/toc.full" 2>"$work/toc.err"
grep -vE '^[0-9]+; [0-9]+ [0-9]+ (EXTENSION - pg_cron|COMMENT - EXTENSION pg_cron|TABLE DATA cron |SEQUENCE SET cron )' \
    "$work/toc.full" >"$work/toc.list"
left_out=$(($(grep -cv '^;' "$work/toc.full") - $(grep -cv '^;' "$work/toc.list")))
[ "$left_out" -gt 0 ] &&
    echo "# left out of the restore: $left_out entries of pg_cron (it can only be created in cron.database_name)"
check "pg_restore -d $restored exits 0 without errors" bash -c "
    '$PG_BIN/pg_restore' -d '$restored' -L '$work/toc.list' '$work/db.dump' >'$work/restore.log' 2>&1
    status=\$?; cat '$work/restore.log'; [ \$status -eq 0 ] && ! grep -q 'error' '$work/restore.log'"

got=$(q "$restored" "SELECT extversion FROM pg_extension WHERE extname = 'aispend'" 2>&1)
check "the restored database has aispend $version" test "$got" = "$version"
check "the restored database has every synced row ($usage_rows usage rows)" \
    test "$(q "$restored" "SELECT count(*) FROM aispend.usage" 2>&1)" = "$usage_rows"

restored_rollups=$(rollup_rows "$restored" 2>&1)
check "aispend.daily_rollup is rebuilt by the restore: $restored_rollups rows, $source_rollups in $db" \
    test "$restored_rollups" = "$source_rollups"

# The same extension objects (privileges granted to roles included) ...
if schema_snapshot "$restored" "$work/schema-restored" 2>"$work/schema-restored.err" && [ ! -s "$work/schema-source.err" ]; then
    for kind in members functions relations others; do
        if diff -u "$work/schema-source/$kind.txt" "$work/schema-restored/$kind.txt" >"$work/diff-$kind.txt"; then
            echo "ok - the restored extension's $kind are the source's ($(grep -c '' "$work/schema-source/$kind.txt") lines)"
            passed=$((passed + 1))
        else
            echo "not ok - the restored extension's $kind differ from the source's (- $db, + $restored)"
            sed -n '3,$p' "$work/diff-$kind.txt" | grep -E '^[-+]' | cut -c1-240 | head -20 | sed 's/^/#   /'
            failed=$((failed + 1))
        fi
    done
else
    echo "not ok - schema of $db and $restored"; cat "$work/schema-source.err" "$work/schema-restored.err" |
        head -5 | sed 's/^/#   /'
    failed=$((failed + 1))
fi

# ... and the same dashboard.
if [ -s "$work/tabs.manifest" ]; then
    run_tab_queries "$restored" "$work/tabs.manifest" "$work/tabs-restored"
    compare_tab_outputs "$work/tabs.manifest" "$work/tabs-source" "$db" "$work/tabs-restored" "$restored"
    passed=$((passed + cmp_passed))
    failed=$((failed + cmp_failed))
fi

finish
