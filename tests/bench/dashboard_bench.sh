#!/usr/bin/env bash
# Dashboard speed: loads a synthetic organisation into aispend.usage / aispend.costs with generate_series (with
# aispend's triggers off, as a bulk load would), rolls it up from scratch with aispend.refresh_rollups(), then
# times what keeps the rollups current (a price change of one model over the whole history, the trailing days of
# an incremental sync, each committed) and every tab's table and summary for 7, 30 and 365 days (median of 7
# runs) against the naive GROUP BY over the raw facts; prints a table and writes
# tests/bench/results/dashboard-<scale>.txt. The rollup / load ratio is measured in the same run.
# Usage: tests/bench/dashboard_bench.sh [small|medium|large]   (default medium; large = the mock's large org:
#        200 workspaces, 5,000 keys, 730 days, ~10M usage rows, several minutes)
#        connection from PGHOST / PGPORT / PGUSER (a superuser) / PGDATABASE (default aispend_test); KEEP=1 keeps the data.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
default_scale=medium
# shellcheck source=tests/bench/scale.sh
source "$here/scale.sh"
t0=$(date +%s.%N)
echo "loading $scale org: $ws workspaces, $keys keys, $days days ..."
# the facts alone: aispend's triggers off (session_replication_role = replica), as pg_restore --disable-triggers
PGOPTIONS="-c session_replication_role=replica" \
    psql_ -v ws="$ws" -v keys="$keys" -v days="$days" -v anchor="$anchor" -f "$here/dashboard_load.sql"
t1=$(date +%s.%N)
echo "rolling up from scratch ..."
psql_ -c "SELECT * FROM aispend.refresh_rollups('bench_openai');" -c "SELECT * FROM aispend.refresh_rollups('bench_anthropic');" \
      -c "ANALYZE aispend.daily_rollup, aispend._cum;" >/dev/null
t2=$(date +%s.%N)
echo "a price change of one model over the whole history ..."
psql_ -c "INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, output_per_mtok, note)
          VALUES ('openai', 'exact', 'gpt-4o', 25, 100, 'bench: 10x gpt-4o');" >/dev/null
t3=$(date +%s.%N)
echo "an incremental sync: the last 3 days of one account replaced ..."
psql_ >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE re AS SELECT * FROM aispend.usage
 WHERE account = 'bench_openai' AND bucket_start >= ('$anchor'::date - 2)::timestamp AT TIME ZONE 'UTC';
DELETE FROM aispend.usage WHERE account = 'bench_openai' AND bucket_start >= ('$anchor'::date - 2)::timestamp AT TIME ZONE 'UTC';
INSERT INTO aispend.usage SELECT * FROM re;
COMMIT;
SQL
t4=$(date +%s.%N)
rows=$(psql_ -At -c "SELECT count(*) FROM aispend.usage WHERE account LIKE 'bench\_%'")
rrows=$(psql_ -At -c "SELECT count(*) FROM aispend.daily_rollup WHERE account LIKE 'bench\_%'")
mkdir -p "$here/results"
out="$here/results/dashboard-$scale.txt"
{
    echo "dashboard bench, scale $scale ($ws workspaces, $keys keys, $days days): $rows usage rows, $rrows rollup rows"
    awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v t4="$t4" 'BEGIN {
        l = t1 - t0; r = t2 - t1; p = t3 - t2; i = t4 - t3
        printf "load %.1f s, rollup from scratch %.1f s: rollup / load = %.2f (target <= 1.00)\n", l, r, r / l
        printf "price change of gpt-4o over the whole history, committed: %.1f s (target < 10 s)\n", p
        printf "incremental sync (last 3 days of bench_openai replaced), committed: %.1f s (target < 30 s)\n", i }'
    echo "$(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "medians in ms (tab functions: 7 runs, as the owner, as a reader and as a team of five workspaces, both with"
    echo "row-level security on; naive GROUP BY over aispend.usage + aispend.costs: 3 runs); target: < 100 ms and >= 10x naive"
    PGOPTIONS="-c bench.anchor=$anchor" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -P pager=off -f "$here/dashboard_timing.sql"
} | tee "$out"
if [ -z "${KEEP:-}" ]; then
    psql_ -c "SET client_min_messages = warning;
              DELETE FROM aispend.usage WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.costs WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.workspaces WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.api_keys WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.model_prices WHERE note = 'bench: 10x gpt-4o';
              DROP SERVER bench_openai CASCADE; DROP SERVER bench_anthropic CASCADE;" >/dev/null
fi
