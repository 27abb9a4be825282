#!/usr/bin/env bash
# Background refresh benchmark (issue 13): the mock providers answer every request after 300 ms (--latency-ms), as
# a distant provider does. For the demo's two accounts and for an organisation of eight (four OpenAI, four
# Anthropic), a first sync and an incremental refresh, serial (CALL aispend.sync(account), one account after
# another, each timed) against parallel (SELECT aispend.request_refresh(), the background workers, timed from the
# request to the last account's end), in fresh databases of one cluster, in one run. Prints a table and writes
# tests/bench/results/refresh-parallel.txt. Then the same first sync of eight accounts with no latency at all: the
# work itself (PostgreSQL's CPU), which on a machine of few cores bounds what running in parallel can gain.
# Usage: tests/bench/refresh_bench.sh [LATENCY_MS]     (default 300). Needs what scripts/test.sh installs.
set -euo pipefail
AISPEND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$AISPEND_ROOT"
source scripts/lib.sh

latency=${1:-300}
out="$AISPEND_ROOT/tests/bench/results/refresh-parallel.txt"
work=$(mktemp -d /tmp/aispend-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/pg"; stop_mock "$work"; rm -rf "$work"' EXIT

build_and_install ""
pg_port=$(free_port)
mock_port=$(free_port)
start_cluster "$work/pg" "$pg_port" bench
fast_port=$(free_port)
start_mock "$work" "$mock_port" demo --latency-ms "$latency"
start_mock "$work" "$fast_port" demo
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
psql -X -q -d postgres -c "LOAD 'aispend'" -c "ALTER SYSTEM SET aispend.refresh_workers = 8" -c "SELECT pg_reload_conf()" >/dev/null

# make_db DB N [PORT]: a database with N accounts on the mock (alternately OpenAI and Anthropic), nothing synced.
make_db() {
    local db=$1 n=$2 port=${3:-$mock_port}
    psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v url="http://127.0.0.1:$port" -v n="$n" >/dev/null <<'SQL'
CREATE EXTENSION aispend;
SELECT format('CREATE SERVER acct%s FOREIGN DATA WRAPPER aispend OPTIONS (provider %L, base_url %L);
               CREATE USER MAPPING FOR CURRENT_USER SERVER acct%s OPTIONS (admin_key %L);',
              i, p, :'url', i, CASE p WHEN 'openai' THEN 'sk-admin-test-openai' ELSE 'sk-ant-admin01-test' END)
FROM generate_series(1, :n) AS i, LATERAL (SELECT CASE i % 2 WHEN 1 THEN 'openai' ELSE 'anthropic' END AS p) AS x
\gexec
SQL
}

# serial DB: each account synced on its own, one after another; prints "total slowest" in seconds.
serial() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "SELECT srvname FROM aispend._servers() ORDER BY srvname" |
    while read -r acct; do
        local t0 t1
        t0=$(date +%s.%N)
        psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "SET client_min_messages = warning" -c "CALL aispend.sync('$acct')"
        t1=$(date +%s.%N)
        python3 -c "print($t1 - $t0)"
    done | python3 -c "import sys; t = [float(x) for x in sys.stdin]; print(f'{sum(t):.2f} {max(t):.2f}')"
}

# parallel DB: one request for every account, waited for; prints its wall time (request to the last end).
parallel() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT aispend.request_refresh() AS id \gset
DO $$
BEGIN
    WHILE EXISTS (SELECT 1 FROM aispend.refresh_progress WHERE state IN ('queued', 'running')) LOOP
        PERFORM pg_sleep(0.02);
    END LOOP;
END $$;
SELECT CASE WHEN bool_and(state = 'succeeded')
            THEN round(extract(epoch FROM max(finished_at) - min(requested_at))::numeric, 2)::text
            ELSE 'failed: ' || string_agg(account || ' ' || state, ', ') END
FROM aispend.refresh_requests WHERE id = :id;
SQL
}

rows=()
for n in 2 8; do
    make_db "serial$n" "$n"
    make_db "parallel$n" "$n"
    for kind in "first sync" "incremental"; do
        read -r s_total s_max < <(serial "serial$n")
        p_wall=$(parallel "parallel$n")
        rows+=("$n|$kind|$s_total|$s_max|$p_wall")
    done
done
make_db serial_cpu 8 "$fast_port"
make_db parallel_cpu 8 "$fast_port"
read -r s_total s_max < <(serial serial_cpu)
p_wall=$(parallel parallel_cpu)
rows+=("8|first, 0 ms|$s_total|$s_max|$p_wall")

{
    echo "Background refresh: serial vs parallel, mock providers at ${latency} ms per request; $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "aispend.refresh_workers = 8; $(nproc) cores. Serial: CALL aispend.sync(account) for each account in turn;"
    echo "parallel: SELECT aispend.request_refresh() to the end of the last account (worker start included)."
    echo
    printf '%-9s %-12s %10s %16s %12s %9s %19s\n' accounts refresh "serial s" "slowest alone s" "parallel s" speed-up "parallel / slowest"
    for r in "${rows[@]}"; do
        IFS='|' read -r n kind s_total s_max p_wall <<<"$r"
        python3 - "$n" "$kind" "$s_total" "$s_max" "$p_wall" <<'PY'
import sys
n, kind, total, slowest, par = sys.argv[1:]
try:
    p = float(par)
    print(f"{n:<9} {kind:<12} {float(total):>10.2f} {float(slowest):>16.2f} {p:>12.2f} {float(total) / p:>8.1f}x {p / float(slowest):>18.2f}x")
except ValueError:
    print(f"{n:<9} {kind:<12} {float(total):>10.2f} {float(slowest):>16.2f} {par}")
PY
    done
} | tee "$out"
