#!/usr/bin/env bash
# The API keys tab with very many keys (issue 16): ACCOUNTS accounts of the mock providers' large organisation
# (half OpenAI, half Anthropic, about 2,500 keys each), one day each, synced into a database that has the
# previous release; every function of the tab is timed there, then after ALTER EXTENSION aispend UPDATE on the
# same rows, in one run. Each function's rows are read whole (an md5 of their text), and the two releases must
# print the same rows. Prints a table and writes tests/bench/results/api-keys-scale.txt.
# Usage: tests/bench/api_keys_bench.sh [ACCOUNTS]   (default 12: about 30,000 keys; several minutes, most of them
#        the previous release's). Needs what scripts/test.sh installs.
set -euo pipefail
AISPEND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$AISPEND_ROOT"
source scripts/lib.sh

accounts=${1:-12}
previous=$(for f in src/sql/releases/aispend--*.sql; do f=${f##*aispend--}; echo "${f%.sql}"; done | sort -V | tail -1)
current=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" aispend.control)
work=$(mktemp -d /tmp/aispend-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/pg"; stop_mock "$work"; rm -rf "$work"' EXIT

build_and_install ""
pg_port=$(free_port)
mock_port=$(free_port)
start_cluster "$work/pg" "$pg_port" bench
start_mock "$work" "$mock_port" large
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d bench "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE bench" >/dev/null
psql_ -c "SET client_min_messages = warning" -c "CREATE EXTENSION aispend VERSION '$previous'"
# One day per page keeps a large organisation's page far below the body cap; one day synced per account.
psql_ -v url="http://127.0.0.1:$mock_port" -v n="$accounts" >/dev/null <<'SQL'
SELECT format('CREATE SERVER a%s FOREIGN DATA WRAPPER aispend OPTIONS (provider %L, base_url %L, page_buckets ''1'');
               CREATE USER MAPPING FOR CURRENT_USER SERVER a%s OPTIONS (admin_key %L);',
              i, p, :'url', i, CASE p WHEN 'openai' THEN 'sk-admin-test-openai' ELSE 'sk-ant-admin01-test' END)
FROM generate_series(1, :n) AS i, LATERAL (SELECT CASE i % 2 WHEN 1 THEN 'openai' ELSE 'anthropic' END AS p) AS x
\gexec
SET client_min_messages = warning;
SELECT format('CALL aispend.sync(%L, since => %L, until => %L)', 'a' || i,
              date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day',
              date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
FROM generate_series(1, :n) AS i
\gexec
ANALYZE;
SQL
keys=$(psql_ -At -c "SELECT count(*) FROM aispend.api_keys")
rows=$(psql_ -At -c "SELECT count(*) FROM aispend.daily_rollup")

calls=("api_keys_table(aispend.period('last_7_days'))" "api_keys_csv(aispend.period('last_7_days'))"
       "api_keys_summary(aispend.period('last_7_days'))" "api_keys_top(aispend.period('last_7_days'))"
       "api_keys_vs_previous(aispend.period('last_7_days'))" "api_keys_unused(aispend.period('last_7_days'))"
       "api_keys_idle(30)")
# time_calls RELEASE: "seconds md5" per call, one line each, in $work/RELEASE
time_calls() {
    local c t0 t1 sum
    : >"$work/$1"
    for c in "${calls[@]}"; do
        t0=$(date +%s.%N)
        sum=$(psql_ -At -c "SELECT md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')) FROM aispend.$c x")
        t1=$(date +%s.%N)
        python3 -c "print(f'{$t1 - $t0:.2f} $sum')" >>"$work/$1"
    done
}
time_calls "$previous"
psql_ -c "ALTER EXTENSION aispend UPDATE"
psql_ -c "ANALYZE" >/dev/null
time_calls "$current"

out=tests/bench/results/api-keys-scale.txt
{
    echo "The API keys tab with many keys: $accounts accounts of the large mock organisation, one day each"
    echo "($keys keys, $rows daily rollup rows; one 2-core machine; every row read whole)"
    echo "aispend $previous, then ALTER EXTENSION aispend UPDATE to $current on the same rows, in one run"
    echo
    printf '| %-55s | %12s | %12s | %8s | %s |\n' "function" "$previous (s)" "$current (s)" "speed-up" "same rows"
    printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..57})" "--------------" "--------------" "----------" "-----------"
    paste -d' ' "$work/$previous" "$work/$current" | while read -r t_old m_old t_new m_new; do
        c=${calls[0]}; calls=("${calls[@]:1}")
        same=no; [ "$m_old" = "$m_new" ] && same=yes
        printf '| %-55s | %12s | %12s | %7sx | %-9s |\n' "$c" "$t_old" "$t_new" \
            "$(python3 -c "print(f'{$t_old / max($t_new, 0.01):.1f}')")" "$same"
    done
} | tee "$out"
