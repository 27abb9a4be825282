# shellcheck shell=bash disable=SC2154  # $db and $work are the sourcing script's
# Shared by tests/citus/run.sh and tests/citus/bench.sh: Citus built when missing, a coordinator and two workers
# on loopback ports, aispend on every node. Source it after scripts/lib.sh; it defines functions only.
# Uses: $PG_BIN, $work (the work directory), $db (the database); sets port[coord], port[worker1], port[worker2].

citus_nodes=(coord worker1 worker2)
declare -A port

# citus_build: Citus 13.2 for this PostgreSQL, built from ../shared/vendor/citus when missing.
citus_build() {
    local pg_config="$PG_BIN/pg_config" vendor
    vendor=$(cd "$AISPEND_ROOT/.." && pwd)/shared/vendor/citus
    [ -x "$pg_config" ] || pg_config=$(command -v pg_config)
    [ -f "$("$pg_config" --pkglibdir)/citus.so" ] && return 0
    echo "# building Citus with ../shared/vendor/citus/build-citus.sh for $pg_config"
    as_root env PG_CONFIG="$pg_config" "$vendor/build-citus.sh"
}

# start_citus_node DIR PORT: a cluster as scripts/lib.sh starts one, with Citus preloaded too and prepared
# transactions on (Citus commits across nodes with two-phase commit).
start_citus_node() {
    start_cluster "$1" "$2" "$db" "shared_preload_libraries = 'citus,pg_cron,aispend'" "max_worker_processes = 32" \
        "max_prepared_transactions = 100"
}

# psql on a node: qn NODE DB SQL
qn() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[$1]}" -U postgres -d "$2" -c "$3"; }

# citus_start: the three nodes started (logs in $work/start-NODE.log); non-zero when one does not start.
citus_start() {
    local n rc=0
    for n in "${citus_nodes[@]}"; do
        port[$n]=$(free_port)
        start_citus_node "$work/$n" "${port[$n]}" >"$work/start-$n.log" 2>&1 || rc=1
    done
    return $rc
}

# citus_setup DB [VERSION]: the database on every node with citus and aispend (that VERSION, default the newest),
# and pg_cron in $db (its cron.database_name); the workers joined (log: setup.log).
citus_setup() {
    local n rc=0 cron="" version=""
    [ "$1" = "$db" ] && cron="CREATE EXTENSION pg_cron;"
    [ -n "${2:-}" ] && version="VERSION '$2'"
    for n in "${citus_nodes[@]}"; do
        { qn "$n" postgres "CREATE DATABASE $1" &&
          qn "$n" "$1" "SET client_min_messages = warning; CREATE EXTENSION citus; $cron CREATE EXTENSION aispend $version"
        } >>"$work/setup.log" 2>&1 || rc=1
    done
    { qn coord "$1" "SELECT pg_catalog.citus_set_coordinator_host('127.0.0.1', ${port[coord]})" &&
      qn coord "$1" "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[worker1]})" &&
      qn coord "$1" "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[worker2]})"
    } >>"$work/setup.log" 2>&1 || rc=1
    return $rc
}

citus_stop() {
    local n
    for n in "${citus_nodes[@]}"; do stop_cluster "$work/$n"; done
}
