#!/usr/bin/env bash
# Savings advisor speed: loads the synthetic organisation of tests/bench/dashboard_load.sql (triggers off: the
# advisor reads aispend.usage and the price catalogue, not the rollups), then times, for the key with the most
# usage rows, aispend.reprice over 365 days at another model, aispend.savings_opportunities and
# aispend.cache_efficiency of that key (median of 7 runs each, in one run); prints a table and writes
# tests/bench/results/savings-<scale>.txt. Target: reprice of one key over a year of the large organisation
# under 200 ms.
# Usage: tests/bench/savings_bench.sh [small|medium|large]   (default large: 200 workspaces, 5,000 keys, 730 days)
#        connection from PGHOST / PGPORT / PGUSER (a superuser) / PGDATABASE (default aispend_test);
#        SKIP_LOAD=1 reuses the data a previous run (or dashboard_bench.sh with KEEP=1) left.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
default_scale=large
# shellcheck source=tests/bench/scale.sh
source "$here/scale.sh"
if [ -z "${SKIP_LOAD:-}" ]; then
    echo "loading $scale org: $ws workspaces, $keys keys, $days days ..."
    PGOPTIONS="-c session_replication_role=replica" \
        psql_ -v ws="$ws" -v keys="$keys" -v days="$days" -v anchor="$anchor" -f "$here/dashboard_load.sql" >/dev/null
    psql_ -c "ANALYZE aispend.usage" -c "INSERT INTO aispend.models (account, provider, model, first_seen, last_seen)
              SELECT account, aispend.account_provider(account), model, min(bucket_start), max(bucket_start)
              FROM aispend.usage WHERE account IN ('bench_openai', 'bench_anthropic') AND model IS NOT NULL
              GROUP BY 1, 3 ON CONFLICT DO NOTHING" >/dev/null
fi
out="$here/results/savings-$scale.txt"
# The key is passed as a setting (a DO block has no psql variables).
key=$(psql_ -At -v anchor="$anchor" -c "SELECT u.api_key_id FROM aispend.usage u WHERE u.account = 'bench_anthropic'
        AND u.bucket_start >= ('$anchor'::date - 364)::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
PGOPTIONS="-c bench.key=$key" psql_ -v anchor="$anchor" -v scale="$scale" -v key="$key" <<'SQL' | tee "$out"
\pset footer off
\t on
SELECT format('savings bench, scale %s: key %s of bench_anthropic, %s usage rows over 365 days; 2 cores; %s',
              :'scale', :'key', (SELECT count(*) FROM aispend.usage u WHERE u.account = 'bench_anthropic'
                                  AND u.api_key_id = :'key'
                                  AND u.bucket_start >= (:'anchor'::date - 364)::timestamp AT TIME ZONE 'UTC'),
              to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'));
\t off
CREATE TEMP TABLE per AS SELECT aispend.custom_period(:'anchor'::date - 364, :'anchor'::date) AS p;
CREATE TEMP TABLE t (what text, run int, ms numeric);
DO $$
DECLARE
    t0 timestamptz;
    i int;
BEGIN
    FOR i IN 1 .. 7 LOOP
        t0 := clock_timestamp();
        PERFORM * FROM aispend.reprice('claude-haiku-4-5', (SELECT p FROM per), api_key => current_setting('bench.key'));
        INSERT INTO t VALUES ('reprice (one key, 365 days, at another model)', i,
                              extract(epoch FROM clock_timestamp() - t0) * 1000);
        t0 := clock_timestamp();
        PERFORM * FROM aispend.savings_opportunities((SELECT p FROM per), api_key => current_setting('bench.key'));
        INSERT INTO t VALUES ('savings_opportunities (one key, 365 days)', i,
                              extract(epoch FROM clock_timestamp() - t0) * 1000);
        t0 := clock_timestamp();
        PERFORM * FROM aispend.cache_efficiency((SELECT p FROM per), api_key => current_setting('bench.key'));
        INSERT INTO t VALUES ('cache_efficiency (one key, 365 days)', i,
                              extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
END $$;
SELECT what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(min(ms), 1) AS min_ms, round(max(ms), 1) AS max_ms,
       CASE WHEN what LIKE 'reprice%' THEN CASE WHEN percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) < 200
                                                THEN 'ok (< 200 ms)' ELSE 'MISS (< 200 ms)' END END AS target
FROM t GROUP BY what ORDER BY what DESC;
SQL
echo "results: $out"
