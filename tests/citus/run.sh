#!/usr/bin/env bash
# aispend on a running Citus cluster (issue 16). By hand: tests/citus/run.sh   (root or the cluster's user)
#   PG_BIN=/path/to/postgresql/15/bin tests/citus/run.sh   (a PostgreSQL 15 other than the system one)
# Starts a Citus coordinator and two workers on loopback ports (Citus 13.2 built from ../shared/vendor/citus with
# its build-citus.sh when it is not installed), aispend on every node, and the mock providers' demo organisation.
# On the coordinator: aispend.distribute(), then the demo's sync (OpenAI, Anthropic, OpenRouter) and its FOCUS
# import; the same on a single-node database of the same server (no Citus). Checks that every table is
# distributed or a reference table as planned (aispend.undistributed_tables() is empty), where the rows are,
# and that every dashboard tab prints the same on both (scripts/demo_tabs.sql).
# Prints "ok - ..." / "not ok - ..." and ends with "N passed, N failed"; without ../shared/vendor/citus it prints
# one "ok - ... # SKIP ..." line. KEEP_CITUS_DIR=1 keeps the work directory (printed).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AISPEND_ROOT=$(cd "$here/../.." && pwd)
export AISPEND_ROOT
pg_bin_env=${PG_BIN:-}
# shellcheck source=scripts/lib.sh
source "$AISPEND_ROOT/scripts/lib.sh"
PG_BIN=${pg_bin_env:-$PG_BIN}
vendor=$(cd "$AISPEND_ROOT/.." && pwd)/shared/vendor/citus
db=aispend_citus
single=aispend_single
passed=0
failed=0

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {  # not_ok WHAT [FILE with the details]
    echo "not ok - $1"; failed=$((failed + 1))
    [ -n "${2:-}" ] && [ -s "$2" ] && sed 's/^/#   /' "$2" | head -"${3:-20}"
    return 0
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

if [ ! -f "$vendor/build-citus.sh" ]; then
    echo "ok - aispend on a Citus cluster # SKIP ../shared/vendor/citus is absent (no Citus source to build)"
    passed=1
    finish
fi

pg_config="$PG_BIN/pg_config"
[ -x "$pg_config" ] || pg_config=$(command -v pg_config)
if [ ! -f "$("$pg_config" --pkglibdir)/citus.so" ]; then
    echo "# building Citus with ../shared/vendor/citus/build-citus.sh for $pg_config"
    if ! as_root env PG_CONFIG="$pg_config" "$vendor/build-citus.sh"; then
        not_ok "Citus builds and installs (../shared/vendor/citus/build-citus.sh)"
        finish
    fi
fi

work=$(mktemp -d /tmp/aispend-citus.XXXXXX)
chmod 755 "$work"
nodes=(coord worker1 worker2)
declare -A port
cleanup() {
    local n
    for n in "${nodes[@]}"; do stop_cluster "$work/$n"; done
    stop_mock "$work"
    if [ -n "${KEEP_CITUS_DIR:-}" ]; then echo "# kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# start_citus_node DIR PORT: initdb + start with Citus (and pg_cron, for aispend's schedules) preloaded, trust
# auth on loopback, the socket in DIR; prepared transactions on (Citus commits across nodes with 2PC).
start_citus_node() {
    local dir=$1 p=$2
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_cluster_user "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >/dev/null || return 1
    as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus,pg_cron'
cron.database_name = '$db'
max_worker_processes = 32
max_prepared_transactions = 100
log_min_messages = warning
fsync = off
aispend.allow_loopback = on
CONF
    as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null || {
        tail -20 "$dir/postgres.log"; return 1; }
}

# psql on a node: qn NODE DB SQL
qn() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[$1]}" -U postgres -d "$2" -c "$3"; }

started=1
for n in "${nodes[@]}"; do
    port[$n]=$(free_port)
    start_citus_node "$work/$n" "${port[$n]}" >"$work/start-$n.log" 2>&1 || started=0
done
if [ "$started" -eq 0 ]; then
    not_ok "a coordinator and two workers start with Citus preloaded" "$(ls "$work"/start-*.log | head -1)"
    finish
fi
ok "a coordinator and two workers start with Citus preloaded (ports ${port[coord]}, ${port[worker1]}, ${port[worker2]})"

# aispend on every node, then the workers join the coordinator.
setup_ok=1
for n in "${nodes[@]}"; do
    { qn "$n" postgres "CREATE DATABASE $db" &&
      qn "$n" "$db" "SET client_min_messages = warning; CREATE EXTENSION citus; CREATE EXTENSION pg_cron; CREATE EXTENSION aispend"
    } >>"$work/setup.log" 2>&1 || setup_ok=0
done
{ qn coord "$db" "SELECT pg_catalog.citus_set_coordinator_host('127.0.0.1', ${port[coord]})" &&
  qn coord "$db" "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[worker1]})" &&
  qn coord "$db" "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[worker2]})"
} >>"$work/setup.log" 2>&1 || setup_ok=0
if [ "$setup_ok" -eq 1 ] && [ "$(qn coord "$db" "SELECT count(*) FROM pg_catalog.citus_get_active_worker_nodes()")" = 2 ]; then
    ok "citus and aispend on every node, two active workers"
else
    not_ok "citus and aispend on every node, two active workers" "$work/setup.log"
    finish
fi

# Before distribute(): every table is listed as left undistributed (the catalog check sees them).
n_tables=$(qn coord "$db" "SELECT count(*) FROM aispend._distribution_plan()")
n_left=$(qn coord "$db" "SELECT count(*) FROM aispend.undistributed_tables()")
if [ "$n_tables" -gt 0 ] && [ "$n_tables" = "$n_left" ]; then
    ok "before aispend.distribute(), aispend.undistributed_tables() lists all $n_tables tables"
else
    not_ok "before aispend.distribute(), aispend.undistributed_tables() lists all $n_tables tables (it lists $n_left)"
fi

if qn coord "$db" "SET client_min_messages = warning; SELECT table_name, distribution, colocated_with FROM aispend.distribute(shard_count => 8)" \
       >"$work/distribute.log" 2>&1; then
    ok "aispend.distribute(shard_count => 8) on the coordinator ($(grep -c '|distributed|' "$work/distribute.log") distributed, $(grep -c '|reference|' "$work/distribute.log") reference tables)"
else
    not_ok "aispend.distribute(shard_count => 8) on the coordinator" "$work/distribute.log"
    finish
fi
qn coord "$db" "SELECT table_name, expected, actual FROM aispend.undistributed_tables()" >"$work/left.log" 2>&1
if [ ! -s "$work/left.log" ]; then
    ok "catalog: no table of aispend is left undistributed (every table with an account column is distributed by account, the others are reference tables)"
else
    not_ok "catalog: tables left undistributed" "$work/left.log"
fi
# every distributed table in one co-location group, with the requested shard count
groups=$(qn coord "$db" "SELECT count(DISTINCT p.colocationid) || ' ' || min(n.shards) || ' ' || max(n.shards)
                          FROM pg_catalog.pg_dist_partition p
                          JOIN (SELECT s.logicalrelid, count(*) AS shards FROM pg_catalog.pg_dist_shard s
                                 GROUP BY s.logicalrelid) n ON n.logicalrelid = p.logicalrelid
                         WHERE p.partmethod = 'h' AND p.logicalrelid::text LIKE 'aispend.%'")
if [ "$groups" = "1 8 8" ]; then
    ok "the distributed tables are co-located (one co-location group of 8 shards)"
else
    not_ok "the distributed tables are co-located in one group of 8 shards (groups, min, max shards: $groups)"
fi
if qn coord "$db" "SELECT count(*) FROM aispend.distribute()" >"$work/again.log" 2>&1 && [ "$(cat "$work/again.log")" = 0 ]; then
    ok "aispend.distribute() again does nothing"
else
    not_ok "aispend.distribute() again does nothing" "$work/again.log"
fi
# Without Citus: a clear refusal.
qn coord postgres "CREATE DATABASE $single" >>"$work/setup.log" 2>&1
qn coord "$single" "SET client_min_messages = warning; CREATE EXTENSION aispend" >>"$work/setup.log" 2>&1
if qn coord "$single" "SELECT aispend.distribute()" >"$work/refuse.log" 2>&1; then
    not_ok "aispend.distribute() refuses when Citus is absent"
elif grep -q 'needs Citus' "$work/refuse.log"; then
    ok "aispend.distribute() refuses when Citus is absent (SQLSTATE 0A000, with a hint)"
else
    not_ok "aispend.distribute() refuses when Citus is absent with a clear message" "$work/refuse.log"
fi

# The demo organisation, synced on both databases from the same mock.
mock_port=$(free_port)
start_mock "$work" "$mock_port" demo >"$work/mock-start.log" 2>&1 || { not_ok "the demo mock starts" "$work/mock-start.log"; finish; }
mock_url="http://127.0.0.1:$mock_port"
focus_csv=$(demo_focus_csv)
demo_sync() {  # demo_sync DB
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[coord]}" -U postgres -d "$1" -v mock_url="$mock_url" \
         -v focus="$focus_csv" <<'SQL'
SET client_min_messages = warning;
CREATE SERVER demo_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER demo_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE SERVER demo_openrouter FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openrouter', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openrouter OPTIONS (admin_key 'sk-or-v1-mgmt-test');
CREATE SERVER demo_bedrock FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CALL aispend.sync();
SELECT count(*) FROM aispend.import_focus('demo_bedrock', :'focus');
SQL
}
for d in "$db" "$single"; do
    if demo_sync "$d" >"$work/sync-$d.log" 2>&1 && ! grep -qE 'WARNING|ERROR' "$work/sync-$d.log"; then
        ok "$d: CALL aispend.sync() of the demo organisation and its FOCUS import"
    else
        not_ok "$d: CALL aispend.sync() of the demo organisation and its FOCUS import" "$work/sync-$d.log"
    fi
done
runs=$(qn coord "$db" "SELECT count(*) FILTER (WHERE status <> 'succeeded') || ' of ' || count(*) FROM aispend.sync_runs")
case "$runs" in
    "0 of 0"|"") not_ok "the coordinator's sync recorded its runs (failed of all: ${runs:-none})" ;;
    "0 of "*) ok "every sync run on the cluster succeeded ($runs failed)" ;;
    *) not_ok "every sync run on the cluster succeeded ($runs failed)" ;;
esac

# The rows are in the workers' shards, spread by account: each worker holds some.
spread=$(qn coord "$db" "SELECT string_agg(n || ':' || c, ' ' ORDER BY n) FROM (
            SELECT s.nodeport AS n, sum(r.result::bigint) AS c
              FROM pg_catalog.citus_shards s
              CROSS JOIN LATERAL pg_catalog.run_command_on_shards('aispend.usage', 'SELECT count(*) FROM %s') r
             WHERE s.table_name = 'aispend.usage'::regclass AND r.shardid = s.shardid GROUP BY s.nodeport) x")
if [ "$(echo "$spread" | wc -w)" -eq 2 ] && ! grep -qE ':0( |$)' <<<"$spread"; then
    ok "aispend.usage's rows are on both workers (port:rows $spread)"
else
    not_ok "aispend.usage's rows are on both workers (port:rows ${spread:-none})"
fi

# Every table holds the same rows (but for ids, times of the run and the runs' timings).
for t in $(qn coord "$db" "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'aispend'::regnamespace
                                AND c.relkind = 'r' ORDER BY 1"); do
    a=$(qn coord "$db" "SELECT count(*) FROM aispend.$t")
    b=$(qn coord "$single" "SELECT count(*) FROM aispend.$t")
    [ "$a" = "$b" ] || { echo "aispend.$t: $a rows on the cluster, $b on the single node" >>"$work/rows.diff"; }
done
if [ ! -s "$work/rows.diff" ]; then
    ok "every table holds as many rows on the cluster as on the single node"
else
    not_ok "every table holds as many rows on the cluster as on the single node" "$work/rows.diff" 30
fi
facts=$(qn coord "$db" "SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
            SELECT account, day, workspace_id, api_key_id, model, cost FROM aispend.daily_rollup) x" 2>&1)
facts1=$(qn coord "$single" "SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
            SELECT account, day, workspace_id, api_key_id, model, cost FROM aispend.daily_rollup) x" 2>&1)
if [ -n "$facts" ] && [ "$facts" = "$facts1" ]; then
    ok "the daily rollups are identical on the cluster and the single node"
else
    not_ok "the daily rollups are identical on the cluster and the single node ($facts vs $facts1)"
fi

# Every tab: scripts/demo_tabs.sql on both.
tabs() {
    psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[coord]}" -U postgres -d "$1" \
         -f "$AISPEND_ROOT/scripts/demo_tabs.sql" >"$2" 2>&1
}
tabs "$single" "$work/tabs-single.txt" || not_ok "scripts/demo_tabs.sql runs on the single node" "$work/tabs-single.txt"
if ! tabs "$db" "$work/tabs-cluster.txt"; then
    not_ok "scripts/demo_tabs.sql runs on the cluster" "$work/tabs-cluster.txt"
elif diff -u "$work/tabs-single.txt" "$work/tabs-cluster.txt" >"$work/tabs.diff"; then
    ok "every tab of scripts/demo_tabs.sql prints the same on the cluster and the single node ($(wc -l <"$work/tabs-cluster.txt") lines)"
else
    not_ok "every tab of scripts/demo_tabs.sql prints the same on the cluster and the single node" "$work/tabs.diff" 40
fi
finish
