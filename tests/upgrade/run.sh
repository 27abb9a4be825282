#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/upgrade/run.sh DB_PREFIX MOCK_URL
#          (aispend installed with `make install`; MOCK_URL serves the demo organisation:
#           python3 tests/mock/mock_providers.py --port N --org demo)
# The upgrade test. For each earlier release X (every frozen install script src/sql/releases/aispend--X.sql, or
# UPGRADE_FROM="X [Y...]"), in database DB_PREFIX_from_X:
#   CREATE EXTENSION aispend VERSION 'X', the demo accounts demo_openai / demo_anthropic on MOCK_URL,
#   CALL aispend.sync(), a custom workspace name; rows of every table marked with pg_extension_config_dump
#   counted and checksummed; ALTER EXTENSION aispend UPDATE; then: extversion is the control file's
#   default_version, no row lost or changed, and compared with a fresh CREATE EXTENSION aispend synced from the
#   same mock and renamed the same way (DB_PREFIX_fresh): the same extension objects (members, function
#   definitions, columns, constraints, indexes, triggers, privileges, comments) and the same output of every
#   dashboard function and view for several periods (tests/upgrade/compare.sh).
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed". KEEP_UPGRADE_DBS=1 keeps the
# databases and the work directory (printed) for a look.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${1:?usage: tests/upgrade/run.sh DB_PREFIX MOCK_URL}
mock_url=${2:?usage: tests/upgrade/run.sh DB_PREFIX MOCK_URL}
# shellcheck source=tests/upgrade/compare.sh
source "$here/compare.sh"
work=$(mktemp -d /tmp/aispend-upgrade.XXXXXX)
fresh="${prefix}_fresh"
passed=0
failed=0
skipped=0
dbs=()

cleanup() {
    if [ -n "${KEEP_UPGRADE_DBS:-}" ]; then
        echo "# kept: databases ${dbs[*]}, work directory $work"; return
    fi
    local d
    for d in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {  # not_ok WHAT [FILE with the details]
    echo "not ok - $1"; failed=$((failed + 1))
    [ -n "${2:-}" ] && [ -s "$2" ] && sed 's/^/#   /' "$2" | head -"${3:-15}"
    return 0
}
skip() { echo "ok - $1 # SKIP $2"; passed=$((passed + 1)); skipped=$((skipped + 1)); }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

default_version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/aispend.control")
if [ -n "${UPGRADE_FROM:-}" ]; then
    read -r -a versions <<<"$UPGRADE_FROM"
else
    mapfile -t versions < <(ls "$root"/src/sql/releases/aispend--*.sql 2>/dev/null |
                            sed 's|.*/aispend--\(.*\)\.sql$|\1|' | sort -V)
fi
if [ ${#versions[@]} -eq 0 ]; then
    not_ok "no earlier release to upgrade from: no src/sql/releases/aispend--X.sql (and UPGRADE_FROM unset)"
    finish
fi
echo "# upgrading from ${versions[*]} to $default_version (aispend.control)"

# What a released version is installed as: the install script on disk must be the frozen copy, else the test
# would "upgrade" from something that was never released (src/sql/ changed without a version bump).
installed=$(q postgres "SELECT string_agg(version, ' ') FROM pg_available_extension_versions WHERE name = 'aispend'")
installed_default=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'aispend'")
if [ "$installed_default" = "$default_version" ]; then
    ok "the installed aispend.control's default_version is $default_version"
else
    echo "not ok - the installed default_version is '${installed_default:-none}', aispend.control says $default_version (make install)"
    failed=$((failed + 1))
fi
runnable=()
for v in "${versions[@]}"; do
    if ! tr ' ' '\n' <<<"$installed" | grep -qxF "$v"; then
        echo "not ok - aispend $v is not installed (installed: ${installed:-none}): make install puts src/sql/releases/ in place"
        failed=$((failed + 1)); continue
    fi
    frozen="$root/src/sql/releases/aispend--$v.sql"
    # read by the server (pg_read_file: superuser), from the directory it loads extensions from
    installed_path="(SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR') || '/extension/aispend--$v.sql'"
    if [ ! -f "$frozen" ]; then
        skip "the installed script of $v is the frozen release" "$v is not a frozen release of this repository"
    elif ! installed_md5=$(q postgres "SELECT md5(pg_catalog.pg_read_file($installed_path))" 2>"$work/installed-$v.err"); then
        skip "the installed script of $v is the frozen release" "cannot read it: $(head -1 "$work/installed-$v.err")"
    elif [ "$installed_md5" = "$(md5sum <"$frozen" | cut -d' ' -f1)" ]; then
        ok "the installed script of $v is the frozen release src/sql/releases/aispend--$v.sql"
    else
        if [ "$v" = "$default_version" ]; then hint="src/sql/ changed since $v was released: bump the version"
        else hint="an older install? make install"; fi
        echo "not ok - the installed aispend--$v.sql is not the frozen release src/sql/releases/aispend--$v.sql ($hint)"
        failed=$((failed + 1))
        q postgres "SELECT pg_catalog.pg_read_file($installed_path)" >"$work/installed-$v.sql" 2>/dev/null
        diff -u "$frozen" "$work/installed-$v.sql" | sed -n '3,$p' | grep '^[-+]' | head -8 | sed 's/^/#   /'
    fi
    runnable+=("$v")
done
[ ${#runnable[@]} -eq 0 ] && finish

# setup DB [VERSION]: a new database with aispend (VERSION, else the default), the demo accounts on the mock,
# one sync and one custom workspace name (the workspace with the largest bill over the past full days).
setup() {
    local db=$1 version=${2:-} log="$work/setup-$1.log"
    dbs+=("$db")
    {
        PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" &&
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" &&
        psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v mock_url="$mock_url" -v version="${version:-}" <<'SQL' &&
SET client_min_messages = warning;
SELECT CASE WHEN :'version' = '' THEN 'CREATE EXTENSION aispend'
            ELSE pg_catalog.format('CREATE EXTENSION aispend VERSION %L', :'version') END \gexec
CREATE SERVER demo_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER demo_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
SQL
        psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CALL aispend.sync()" &&
        psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
UPDATE aispend.workspaces w SET display_name = 'Renamed before the upgrade'
FROM (SELECT c.account, c.workspace_id FROM aispend.costs c
      WHERE c.bucket_start < pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      GROUP BY 1, 2 ORDER BY sum(c.amount_usd) DESC, 1, 2 LIMIT 1) top
WHERE w.account = top.account AND w.workspace_id = top.workspace_id;
SELECT 'renamed: ' || account || ' ' || workspace_id || ' (' || provider_name || ')'
FROM aispend.workspaces WHERE display_name IS NOT NULL;
SQL
    } >"$log" 2>&1 || return 1
    [ "$(grep -c '^renamed: ' "$log")" -eq 1 ] || { echo "expected one renamed workspace" >>"$log"; return 1; }
}

# The mock's current day holds the UTC hours elapsed so far: every sync (setups and resyncs, about two minutes
# in all) must see the same hour.
to_hour=$((3600 - $(date -u +%s) % 3600))
if [ "$to_hour" -lt 240 ]; then
    echo "# waiting ${to_hour}s for the next UTC hour (the mock's current day grows by the hour)"
    sleep $((to_hour + 2))
fi
hour_before=$(date -u +%Y-%m-%dT%H)
upgradable=()
for v in "${runnable[@]}"; do
    db="${prefix}_from_${v//[^0-9A-Za-z]/_}"
    if setup "$db" "$v"; then
        ok "CREATE EXTENSION aispend VERSION '$v', demo accounts, CALL aispend.sync(), a rename ($db)"
        upgradable+=("$v")
    else
        not_ok "CREATE EXTENSION aispend VERSION '$v', demo accounts, CALL aispend.sync(), a rename ($db)" \
            "$work/setup-$db.log"
    fi
done
fresh_ok=""
fresh_resynced=""
if setup "$fresh"; then
    ok "CREATE EXTENSION aispend ($default_version), demo accounts, CALL aispend.sync(), the same rename ($fresh)"
    fresh_ok=1
else
    not_ok "CREATE EXTENSION aispend ($default_version), demo accounts, CALL aispend.sync(), the same rename ($fresh)" \
        "$work/setup-$fresh.log"
fi
hour_after=$(date -u +%Y-%m-%dT%H)
[ "$hour_before" != "$hour_after" ] &&
    echo "# note: the UTC hour changed during the syncs ($hour_before -> $hour_after): today's figures may differ"

# Rows of the config tables (with their dump condition) and values of the config sequences, as queries built
# from the catalog before the upgrade (the columns of then), one per line.
config_queries() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT CASE WHEN c.relkind = 'S'
            THEN pg_catalog.format('SELECT %L, ''sequence at '' || last_value FROM %s', c.oid::regclass, c.oid::regclass)
            ELSE pg_catalog.format(
                'SELECT %L, count(*) || '' rows, checksum '' || md5(coalesce(string_agg(r.t, E''\n'' ORDER BY r.t COLLATE "C"), '''')) '
                'FROM (SELECT ROW(%s)::text AS t FROM %s x %s) r',
                c.oid::regclass,
                (SELECT pg_catalog.string_agg(pg_catalog.format('x.%I', a.attname), ', ' ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                c.oid::regclass, coalesce(x.cond, '')) END
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
JOIN pg_class c ON c.oid = x.rel
WHERE e.extname = 'aispend'
ORDER BY c.relkind = 'S', c.relname COLLATE "C";
SQL
}
# run_config_queries DB QUERIES OUT: "relation|value" per query, "relation|ERROR: ..." when it fails.
run_config_queries() {
    local db=$1 queries=$2 out=$3 sql res
    : >"$out"
    while IFS= read -r sql; do
        if res=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=terse -d "$db" -c "$sql" 2>&1); then
            echo "$res" >>"$out"
        else
            echo "$(sed -n "s/^SELECT '\([^']*\)'.*/\1/p" <<<"$sql")|${res//$'\n'/ }" >>"$out"
        fi
    done <"$queries"
}

if [ -n "$fresh_ok" ]; then
    schema_snapshot "$fresh" "$work/schema-fresh" 2>"$work/schema-fresh.err" ||
        not_ok "schema of the fresh install ($fresh)" "$work/schema-fresh.err"
    today=$(q "$fresh" "SELECT (pg_catalog.now() AT TIME ZONE 'UTC')::date")
    tab_queries "$fresh" "$today" 1 >"$work/tabs.manifest" 2>"$work/tabs.err" ||
        not_ok "the dashboard's functions and views of the fresh install" "$work/tabs.err"
fi

for v in "${upgradable[@]}"; do
    db="${prefix}_from_${v//[^0-9A-Za-z]/_}"
    echo "# ---- from $v ($db)"
    config_queries "$db" >"$work/config-$db.sql" 2>"$work/config-$db.err" ||
        { not_ok "list the config tables of $v" "$work/config-$db.err"; continue; }
    run_config_queries "$db" "$work/config-$db.sql" "$work/before-$db.txt"
    if PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=default -d "$db" \
           -c "ALTER EXTENSION aispend UPDATE" >"$work/alter-$db.log" 2>&1; then
        ok "ALTER EXTENSION aispend UPDATE from $v"
    else
        # e.g. "extension "aispend" has no update path from version "0.1.0" to version "0.2.0"": no upgrade script
        echo "not ok - ALTER EXTENSION aispend UPDATE from $v to $default_version failed:" \
             "$(grep -m1 'ERROR' "$work/alter-$db.log" | sed 's/^.*ERROR: *//')"
        failed=$((failed + 1))
        sed 's/^/#   /' "$work/alter-$db.log" | head -8
        echo "# the checks of the upgraded database were not run"
        continue
    fi
    got=$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'aispend'")
    if [ "$got" = "$default_version" ]; then
        ok "extversion after the update is $default_version (default_version of aispend.control)"
    else
        echo "not ok - extversion after the update is '$got', not $default_version"; failed=$((failed + 1))
    fi

    # No synced row lost or changed: the same count and checksum per config table (the columns it had before).
    run_config_queries "$db" "$work/config-$db.sql" "$work/after-$db.txt"
    # A sequence may only move forward (an update may add rows, e.g. shipped prices); a table must be unchanged.
    while IFS='|' read -r rel before; do
        after=$(awk -F'|' -v r="$rel" '$1 == r { sub(/^[^|]*\|/, ""); print; exit }' "$work/after-$db.txt")
        if [[ "$before" == *ERROR* ]]; then
            echo "not ok - $rel before the update: $before"; failed=$((failed + 1))
        elif [ "$before" = "$after" ]; then
            ok "$rel kept by the update ($before)"
        elif [[ "$before" == "sequence at "* && "$after" == "sequence at "* ]] &&
             [ "${after#sequence at }" -ge "${before#sequence at }" ]; then
            ok "$rel not set back by the update (${before#sequence at } -> ${after#sequence at })"
        else
            echo "not ok - $rel changed by the update: before $before, after ${after:-nothing}"; failed=$((failed + 1))
        fi
    done <"$work/before-$db.txt"

    [ -n "$fresh_ok" ] || { echo "# no fresh install to compare $v with"; continue; }

    # Compared as users see them after their next sync: some facts only a provider can tell (e.g. the name of
    # Anthropic's default workspace, fetched since 0.3.0). The fresh install is synced again too, once.
    if [ -z "$fresh_resynced" ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d "$fresh" -c "CALL aispend.sync()" >"$work/resync-fresh.log" 2>&1 ||
            not_ok "CALL aispend.sync() again in the fresh install" "$work/resync-fresh.log"
        fresh_resynced=1
    fi
    if psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CALL aispend.sync()" >"$work/resync-$db.log" 2>&1; then
        ok "CALL aispend.sync() after the update from $v"
    else
        not_ok "CALL aispend.sync() after the update from $v" "$work/resync-$db.log"
    fi

    # The same objects as a fresh install.
    if schema_snapshot "$db" "$work/schema-$db" 2>"$work/schema-$db.err"; then
        for kind in members functions relations others; do
            case $kind in
                members) what="extension members and config tables" ;;
                functions) what="function definitions, volatility, privileges, comments" ;;
                relations) what="tables, views, sequences: columns, definitions, privileges, comments" ;;
                others) what="constraints, indexes, triggers, policies, types, wrapper, schema privileges" ;;
            esac
            if diff -u "$work/schema-$db/$kind.txt" "$work/schema-fresh/$kind.txt" >"$work/diff-$db-$kind.txt"; then
                ok "upgraded from $v = fresh install: $what ($(grep -c '' "$work/schema-fresh/$kind.txt") lines)"
            else
                {
                    echo "--- upgraded from $v, +++ fresh install of $default_version (full diff: $work/diff-$db-$kind.txt)"
                    sed -n '3,$p' "$work/diff-$db-$kind.txt" | grep -E '^[-+]|^@@' | cut -c1-240
                } >"$work/diff-$db-$kind.short"
                not_ok "upgraded from $v differs from a fresh install: $what" "$work/diff-$db-$kind.short" 40
            fi
        done
    else
        not_ok "schema of the database upgraded from $v" "$work/schema-$db.err"
    fi

    # The same dashboard.
    if [ -s "$work/tabs.manifest" ]; then
        run_tab_queries "$db" "$work/tabs.manifest" "$work/tabs-$db"
        [ -d "$work/tabs-fresh" ] || run_tab_queries "$fresh" "$work/tabs.manifest" "$work/tabs-fresh"
        compare_tab_outputs "$work/tabs.manifest" "$work/tabs-$db" "upgraded-from-$v" "$work/tabs-fresh" "fresh"
        passed=$((passed + cmp_passed))
        failed=$((failed + cmp_failed))
    fi
done

[ "$hour_before" != "$(date -u +%Y-%m-%dT%H)" ] &&
    echo "# note: the UTC hour changed before the last resync: a difference in today's figures may come from it"
[ "$skipped" -gt 0 ] && echo "# $skipped check(s) skipped"
finish
