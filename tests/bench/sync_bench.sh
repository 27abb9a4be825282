#!/usr/bin/env bash
# Sync benchmark (issue 4): ingest of a synthetic organisation from the mock providers (latency 0), the same
# rows by plain COPY into the same tables, an incremental sync of the trailing days, and the backend's peak
# private memory. Prints a table and writes tests/bench/results/sync-<org>-<days>d.txt.
# Usage: tests/bench/sync_bench.sh [ORG] [DAYS]      ORG = small | medium | large (default large), DAYS = history
#        synced (default: the organisation's size: 90 / 365 / 730). Needs what scripts/test.sh installs.
set -euo pipefail
AISPEND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$AISPEND_ROOT"
source scripts/lib.sh

org=${1:-large}
case "$org" in small) days=${2:-90} ;; medium) days=${2:-365} ;; large) days=${2:-730} ;; *) exit 2 ;; esac
work=$(mktemp -d /tmp/aispend-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/pg"; stop_mock "$work"; rm -rf "$work"' EXIT

build_and_install ""
pg_port=$(free_port)
mock_port=$(free_port)
start_cluster "$work/pg" "$pg_port" bench
start_mock "$work" "$mock_port" "$org"
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
psql -X -q -d postgres -c "CREATE DATABASE bench" >/dev/null
# One day per page keeps a large organisation's page (~7,000 rows per provider) far below the body cap.
psql -X -q -v ON_ERROR_STOP=1 -d bench -v url="http://127.0.0.1:$mock_port" >/dev/null <<'SQL'
CREATE EXTENSION aispend;
CREATE SERVER b_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'url', page_buckets '1');
CREATE SERVER b_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'url', page_buckets '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER b_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR CURRENT_USER SERVER b_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
SQL

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# Runs SQL in one session while sampling that backend's private memory (RssAnon) every 100 ms.
run_sampled() {
    local sql=$1 peak_file=$2
    psql -X -q -v ON_ERROR_STOP=1 -d bench -o /dev/null >"$work/session.log" 2>&1 <<SQL &
\pset tuples_only on
\o $work/backend.pid
SELECT pg_backend_pid();
\o /dev/null
$sql
SQL
    local psql_pid=$! peak=0 pid="" kb
    while kill -0 "$psql_pid" 2>/dev/null; do
        [ -z "$pid" ] && [ -s "$work/backend.pid" ] && pid=$(tr -dc 0-9 <"$work/backend.pid")
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "${kb:-0}" -gt "$peak" ] && peak=$kb
        fi
        sleep 0.1
    done
    rm -f "$work/backend.pid"
    wait "$psql_pid" || { cat "$work/session.log"; return 1; }
    echo $((peak / 1024)) >"$peak_file"
}

since=$(date -u -d "today - $days days" +%F)
say "full ingest: $org organisation, $days days, both providers"
t0=$(now)
run_sampled "CALL aispend.sync(since => '$since');" "$work/peak_full"
t1=$(now)
rows=$(psql -X -tA -d bench -c "SELECT (SELECT count(*) FROM aispend.usage) + (SELECT count(*) FROM aispend.costs)")
usage_rows=$(psql -X -tA -d bench -c "SELECT count(*) FROM aispend.usage")

say "fetch only (mock + HTTP + parse, no table writes)"
f0=$(now)
psql -X -q -d bench -c "SELECT count(*) FROM aispend._fetch_usage('b_openai', '$since', date_trunc('day', now(), 'UTC') + interval '1 day', '1d');
                       SELECT count(*) FROM aispend._fetch_usage('b_anthropic', '$since', date_trunc('day', now(), 'UTC') + interval '1 day', '1d');
                       SELECT count(*) FROM aispend._fetch_costs('b_openai', '$since', date_trunc('day', now(), 'UTC') + interval '1 day');
                       SELECT count(*) FROM aispend._fetch_costs('b_anthropic', '$since', date_trunc('day', now(), 'UTC') + interval '1 day');" >/dev/null
f1=$(now)

say "plain COPY of the same rows into the same tables"
psql -X -q -d bench -c "\copy aispend.usage TO '$work/usage.copy'" -c "\copy aispend.costs TO '$work/costs.copy'"
c0=$(now)
psql -X -q -v ON_ERROR_STOP=1 -d bench <<SQL
BEGIN;
DELETE FROM aispend.usage;
DELETE FROM aispend.costs;
\copy aispend.usage FROM '$work/usage.copy'
\copy aispend.costs FROM '$work/costs.copy'
COMMIT;
SQL
c1=$(now)
d0=$(now)
psql -X -q -d bench -c "BEGIN; DELETE FROM aispend.usage; DELETE FROM aispend.costs; ROLLBACK;" >/dev/null
d1=$(now)

say "incremental sync (resync_days 3 and the open day)"
i0=$(now)
run_sampled "CALL aispend.sync();" "$work/peak_incr"
i1=$(now)

full=$(elapsed "$t0" "$t1"); fetch=$(elapsed "$f0" "$f1"); copy=$(elapsed "$c0" "$c1"); del=$(elapsed "$d0" "$d1")
incr=$(elapsed "$i0" "$i1")
copy_net=$(python3 -c "print(f'{max($copy - $del, 0.01):.2f}')")
result=$(cat <<TABLE
aispend sync benchmark: org=$org days=$days usage_rows=$usage_rows total_rows=$rows ($(date -u +%FT%TZ), $(nproc) cores)

| measurement                                   | seconds | rows/s    | note |
|-----------------------------------------------|---------|-----------|------|
| full sync (mock -> HTTP -> parse -> tables)   | $(printf '%7s' "$full") | $(python3 -c "print(f'{$rows/$full:9.0f}')") | peak backend private memory $(cat "$work/peak_full") MiB |
| fetch only (mock -> HTTP -> parse, no writes) | $(printf '%7s' "$fetch") | $(python3 -c "print(f'{$rows/$fetch:9.0f}')") | the mock (Python) is most of this |
| table writes of the sync (full - fetch)       | $(printf '%7s' "$(python3 -c "print(f'{max($full-$fetch,0.01):.2f}')")") | $(python3 -c "print(f'{$rows/max($full-$fetch,0.01):9.0f}')") | |
| plain COPY of the same rows (minus delete)    | $(printf '%7s' "$copy_net") | $(python3 -c "print(f'{$rows/$copy_net:9.0f}')") | |
| incremental sync (3 trailing days + today)    | $(printf '%7s' "$incr") |           | peak backend private memory $(cat "$work/peak_incr") MiB; target < 30 s |

sync / COPY, end to end: $(python3 -c "print(f'{$full/$copy_net:.1f}x')")   sync writes / COPY: $(python3 -c "print(f'{max($full-$fetch,0.01)/$copy_net:.1f}x')")   (target: within 3x)
TABLE
)
echo "$result"
mkdir -p tests/bench/results
echo "$result" >"tests/bench/results/sync-$org-${days}d.txt"
