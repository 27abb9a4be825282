#!/usr/bin/env bash
# Forecast backtest: in a database synced from a mock organisation (e.g. setup_demo_db in scripts/lib.sh, or
# scripts/demo.sh's), for every full calendar month with 28 days of history before it and every day of that month
# from the 2nd on, the month-end forecast made that day (aispend.forecast, as_of = the day) against what the month
# then cost, next to naive linear extrapolation; prints the mean absolute percentage error (MAPE) of both, per
# scope (the organisation, each provider, each workspace name with a cost) and in all, and writes
# tests/bench/results/forecast-backtest.txt.
# Usage: PGHOST=... PGPORT=... PGUSER=... tests/bench/forecast_backtest.sh DB
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
db=${1:?usage: tests/bench/forecast_backtest.sh DB}
out="$here/results/forecast-backtest.txt"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL' | tee "$out"
\pset footer off
CREATE TEMP TABLE months AS
SELECT m::date AS first_day, (m + interval '1 month')::date AS next_first
FROM (SELECT min(day) AS lo, max(day) AS hi FROM aispend.daily_rollup) r,
     pg_catalog.generate_series(date_trunc('month', r.lo + 28) , date_trunc('month', r.hi), interval '1 month') m
WHERE m::date >= r.lo + 28 AND (m + interval '1 month')::date <= r.hi + 1;
CREATE TEMP TABLE scopes AS
SELECT 'organisation' AS scope_kind, NULL::text AS scope
UNION ALL SELECT DISTINCT 'provider', ap.provider FROM aispend._account_providers() ap
UNION ALL SELECT DISTINCT 'workspace', w.name FROM aispend.workspaces w
          WHERE EXISTS (SELECT 1 FROM aispend.daily_rollup r WHERE r.account = w.account AND r.workspace_id = w.workspace_id
                          AND r.cost > 0);
CREATE TEMP TABLE bt AS
SELECT s.scope_kind, s.scope, m.first_day, d::date AS as_of, f.forecast, f.naive,
       (SELECT sum(c.cost) FROM aispend.scope_daily_cost(s.scope_kind, s.scope, m.first_day, m.next_first - 1) c) AS actual
FROM months m CROSS JOIN scopes s
CROSS JOIN pg_catalog.generate_series(m.first_day + 1, m.next_first - 1, interval '1 day') d
CROSS JOIN LATERAL aispend.forecast(pg_catalog.daterange(m.first_day, m.next_first), s.scope_kind, s.scope, d::date) f;
SELECT format('forecast backtest: %s forecasts, months %s; %s', count(*),
              (SELECT string_agg(to_char(first_day, 'YYYY-MM'), ', ' ORDER BY first_day) FROM months),
              to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')) AS " "
FROM bt WHERE actual > 0;
SELECT coalesce(scope_kind || coalesce(': ' || scope, ''), 'all scopes') AS scope, count(*) AS forecasts,
       round(100 * avg(abs(forecast - actual) / actual), 1) AS mape_forecast,
       round(100 * avg(abs(naive - actual) / actual), 1) AS mape_naive_linear,
       CASE WHEN avg(abs(forecast - actual) / actual) < avg(abs(naive - actual) / actual) THEN 'beats naive'
            ELSE 'does not beat naive' END AS verdict
FROM bt WHERE actual > 0
GROUP BY GROUPING SETS ((scope_kind, scope), ())
ORDER BY scope_kind IS NULL, scope_kind, scope;
SQL
echo "results: $out"
