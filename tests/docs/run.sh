#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/docs/run.sh DB      (DB from setup_demo_db)
# Runs every ```sql block of README.md and docs/*.md against the demo database through psql (so \copy and other
# meta-commands work): inside BEGIN; ... ROLLBACK; where possible, else (CALL, VACUUM, CREATE DATABASE...) as is
# on a scratch copy of DB. A block preceded by <!-- not-tested: reason --> is listed as skipped, not run; a block
# that shows its error as a comment ("-- ERROR:  message") must fail with that message.
# Prints "ok - docs/x.md block N" / "not ok - ...: error" per block and ends with "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
db=${1:?usage: tests/docs/run.sh DB}
scratch="${db}_docs_scratch"
work=$(mktemp -d /tmp/aispend-docs.XXXXXX)
passed=0
failed=0
skipped=0
scratch_ready=""

cleanup() {
    [ -n "$scratch_ready" ] && psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# A scratch copy of the demo database for blocks that cannot run in a transaction: a template copy when no one
# else is connected to DB, else a fresh setup_demo_db against the mock the demo accounts point at.
make_scratch() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1
    if psql -X -q -d postgres -c "CREATE DATABASE $scratch TEMPLATE $db" >/dev/null 2>"$work/scratch.log"; then
        scratch_ready=1; return 0
    fi
    local url
    url=$(psql -X -d "$db" -Atc "SELECT substring(array_to_string(srvoptions, ',') FROM 'base_url=([^,]*)')
                                   FROM pg_foreign_server WHERE srvname = 'demo_openai'")
    [ -n "$url" ] || return 1
    # shellcheck source=scripts/lib.sh
    (AISPEND_ROOT=$root; source "$root/scripts/lib.sh"; setup_demo_db "$scratch" "$url") >"$work/scratch.log" 2>&1 &&
        scratch_ready=1
}

python3 "$here/extract_sql.py" "$root" "$work/blocks" >"$work/manifest" || { echo "not ok - extract_sql.py"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$work/cwd"   # \copy ... TO 'file.csv' writes here

# Blocks of one page build on each other as a reader's session would: a block runs after the page's earlier
# transactional blocks that passed (all inside the same BEGIN; ... ROLLBACK;, so nothing is kept).
prefix="$work/prefix.sql"
current_file=""
while IFS=$'\t' read -r id file block line mode reason expected; do
    what="$file block $block (line $line)"
    [ "$reason" = - ] && reason=""
    [ "$expected" = - ] && expected=""
    if [ "$file" != "$current_file" ]; then : >"$prefix"; current_file=$file; fi
    if [ "$mode" = skip ]; then
        echo "ok - $what # SKIP not-tested: $reason"
        skipped=$((skipped + 1)); passed=$((passed + 1))
        continue
    fi
    target=$db
    if [ "$mode" = notx ]; then
        if [ -z "$scratch_ready" ] && ! make_scratch; then
            echo "not ok - $what: no scratch copy of $db for a block that cannot run in a transaction"
            sed 's/^/#   /' "$work/scratch.log" | head -5; failed=$((failed + 1)); continue
        fi
        target=$scratch
        cp "$work/blocks/$id.sql" "$work/run.sql"
    else
        { echo "BEGIN;"; cat "$prefix"; cat "$work/blocks/$id.sql"; echo;
          echo "ROLLBACK;"; } >"$work/run.sql"
    fi
    (cd "$work/cwd" && PGOPTIONS="-c statement_timeout=60s -c lock_timeout=10s" \
        timeout 120 psql -X -q -v ON_ERROR_STOP=1 -d "$target" -f "$work/run.sql" >"$work/out.log" 2>&1)
    rc=$?
    err=$(grep -m1 -E 'ERROR|FATAL|error:' "$work/out.log" | sed 's/^psql:[^:]*:[0-9]*: //')
    if [ -n "$expected" ]; then
        # The page shows the error this block raises: it must raise exactly that one.
        if [ "$rc" -ne 0 ] && grep -qF "ERROR:  $expected" "$work/out.log"; then
            echo "ok - $what (fails as documented: $expected)"; passed=$((passed + 1))
        else
            echo "not ok - $what: documented error \"$expected\" not raised${err:+ (got: $err)}"; failed=$((failed + 1))
        fi
    elif [ "$rc" -eq 0 ]; then
        echo "ok - $what"; passed=$((passed + 1))
        if [ "$mode" = tx ]; then cat "$work/blocks/$id.sql" >>"$prefix"; echo >>"$prefix"; fi
    else
        echo "not ok - $what: ${err:-$(tail -1 "$work/out.log")}"
        failed=$((failed + 1))
    fi
done <"$work/manifest"

[ "$skipped" -gt 0 ] && echo "# $skipped block(s) opted out with <!-- not-tested: ... -->"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
