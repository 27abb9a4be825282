#!/usr/bin/env bash
# Dashboard speed: loads a synthetic organisation into aispend.usage / aispend.costs with generate_series,
# refreshes the rollups, then times every tab's table and summary for 7, 30 and 365 days (median of 7 runs)
# against the naive GROUP BY over the raw facts, prints a table and writes tests/bench/results/dashboard-<scale>.txt.
# Usage: tests/bench/dashboard_bench.sh [small|medium|large]   (default medium; large = the mock's large org:
#        200 workspaces, 5,000 keys, 730 days, ~10M usage rows, several minutes)
#        connection from PGHOST / PGPORT / PGUSER / PGDATABASE (default aispend_test); KEEP=1 keeps the data.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scale=${1:-medium}
case "$scale" in
    small)  ws=10;  keys=100;  days=90 ;;
    medium) ws=50;  keys=1000; days=365 ;;
    large)  ws=200; keys=5000; days=730 ;;
    *) echo "usage: $0 [small|medium|large]" >&2; exit 2 ;;
esac
anchor=${ANCHOR:-2026-09-30}
db=${PGDATABASE:-aispend_test}
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
t0=$(date +%s)
echo "loading $scale org: $ws workspaces, $keys keys, $days days ..."
psql_ -v ws="$ws" -v keys="$keys" -v days="$days" -v anchor="$anchor" -f "$here/dashboard_load.sql"
t1=$(date +%s)
echo "refreshing rollups ..."
# month by month, oldest first, as the sync's hook does after each monthly window
for acct in bench_openai bench_anthropic; do
    for m in $(psql_ -At -c "SELECT to_char(m, 'YYYY-MM-DD') FROM generate_series(date_trunc('month', '$anchor'::date - ($days - 1)), '$anchor'::date, interval '1 month') m"); do
        psql_ -At -c "SELECT aispend._refresh_rollup('$acct', '$m', LEAST('$anchor'::date, ('$m'::date + interval '1 month' - interval '1 day')::date))" >/dev/null
    done
done
psql_ -c "ANALYZE aispend.daily_rollup, aispend._cum_workspace_day, aispend._cum_workspace_month, aispend._cum_key_day,
                  aispend._cum_key_month, aispend._cum_model_day, aispend._cum_model_month;"
t2=$(date +%s)
rows=$(psql_ -At -c "SELECT count(*) FROM aispend.usage WHERE account LIKE 'bench\_%'")
rrows=$(psql_ -At -c "SELECT count(*) FROM aispend.daily_rollup WHERE account LIKE 'bench\_%'")
mkdir -p "$here/results"
out="$here/results/dashboard-$scale.txt"
{
    echo "dashboard bench, scale $scale ($ws workspaces, $keys keys, $days days): $rows usage rows, $rrows rollup rows"
    echo "load $((t1 - t0)) s, rollup refresh $((t2 - t1)) s; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "medians in ms (tab functions: 7 runs; naive GROUP BY over aispend.usage + aispend.costs: 3 runs); target: < 100 ms and >= 10x naive"
    PGOPTIONS="-c bench.anchor=$anchor" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -P pager=off -f "$here/dashboard_timing.sql"
} | tee "$out"
if [ -z "${KEEP:-}" ]; then
    psql_ -c "SET client_min_messages = warning;
              DELETE FROM aispend.usage WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.costs WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.workspaces WHERE account IN ('bench_openai', 'bench_anthropic');
              DELETE FROM aispend.api_keys WHERE account IN ('bench_openai', 'bench_anthropic');
              SELECT count(*) FROM aispend.refresh_rollups('bench_openai');
              SELECT count(*) FROM aispend.refresh_rollups('bench_anthropic');
              DROP SERVER bench_openai CASCADE; DROP SERVER bench_anthropic CASCADE;" >/dev/null
fi
