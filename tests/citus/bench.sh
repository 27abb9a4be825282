#!/usr/bin/env bash
# Citus benchmark (issue 16): the large benchmark organisation of the mock providers, loaded once per account into
# ACCOUNTS accounts (default 8, alternately OpenAI and Anthropic, DAYS days each, default 2), on a Citus cluster (a
# coordinator and two workers on this machine, aispend.distribute()) and on a single node (a database of the
# coordinator's server without Citus), in one run: the first sync of every account with 1, 2 and 4 sessions
# syncing accounts in parallel (fresh accounts each round), rows per second; then the per-account statements of
# a sync on the cluster under EXPLAIN: each must be router (one shard, one task). Prints a table and writes
# tests/bench/results/citus-scale.txt. Each sync step re-rolls the rollups on both. Then one account's queries,
# the dashboard's tabs across all accounts, and a team's tabs (a role given one workspace name), on both. (The
# report is left out: with this many keys it takes minutes on a single node, in its comparisons with the
# previous period and its daily series per provider; docs/scaling.md.)
# Usage: tests/citus/bench.sh [ACCOUNTS] [DAYS]     PG_BIN=/path/to/postgresql/15/bin for another PostgreSQL 15.
# Needs what scripts/test.sh installs and ../shared/vendor/citus.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AISPEND_ROOT=$(cd "$here/../.." && pwd)
export AISPEND_ROOT
cd "$AISPEND_ROOT"
pg_bin_env=${PG_BIN:-}
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
PG_BIN=${pg_bin_env:-$PG_BIN}
# shellcheck source=tests/citus/cluster.sh
source "$here/cluster.sh"

accounts=${1:-8}
days=${2:-2}
db=aispend_bench
single=aispend_bench_single
out="$AISPEND_ROOT/tests/bench/results/citus-scale.txt"
work=$(mktemp -d /tmp/aispend-citus-bench.XXXXXX)
chmod 755 "$work"
trap 'citus_stop; stop_mock "$work"; rm -rf "$work"' EXIT

citus_build
make -s -j2 PG_CONFIG="$PG_BIN/pg_config" >/dev/null
as_root make -s PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
citus_start || { cat "$work"/start-*.log; exit 1; }
citus_setup "$db" || { cat "$work/setup.log"; exit 1; }
qn coord postgres "CREATE DATABASE $single" >/dev/null
qn coord "$single" "SET client_min_messages = warning; CREATE EXTENSION aispend" >/dev/null
qn coord "$db" "SET client_min_messages = warning; SELECT count(*) FROM aispend.distribute(shard_count => 32, experimental => true)" >/dev/null
mock_port=$(free_port)
start_mock "$work" "$mock_port" large >/dev/null

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[coord]}" -U postgres -d "$@"; }
now() { date +%s.%N; }

# add_accounts DB ROUND: ACCOUNTS servers rROUND_a1.. on the mock (one day per page, as tests/bench/sync_bench.sh)
add_accounts() {
    psql_db "$1" -v url="http://127.0.0.1:$mock_port" -v n="$accounts" -v r="$2" >/dev/null <<'SQL'
SELECT format('CREATE SERVER r%s_a%s FOREIGN DATA WRAPPER aispend OPTIONS (provider %L, base_url %L, page_buckets ''1'');
               CREATE USER MAPPING FOR CURRENT_USER SERVER r%s_a%s OPTIONS (admin_key %L);',
              :r, i, p, :'url', :r, i, CASE p WHEN 'openai' THEN 'sk-admin-test-openai' ELSE 'sk-ant-admin01-test' END)
FROM generate_series(1, :n) AS i, LATERAL (SELECT CASE i % 2 WHEN 1 THEN 'openai' ELSE 'anthropic' END AS p) AS x
\gexec
SQL
}

# sync_round DB ROUND SESSIONS: the round's accounts split over SESSIONS parallel sessions, each syncing its
# accounts one after another (DAYS days up to today's UTC midnight). Prints "seconds rows step-seconds".
sync_round() {
    local d=$1 r=$2 s=$3 i pids=() t0 t1 rows
    add_accounts "$d" "$r"
    t0=$(now)
    for ((i = 0; i < s; i++)); do
        psql_db "$d" -v r="$r" -v s="$s" -v i="$i" -v n="$accounts" -v days="$days" >/dev/null 2>"$work/sync-$d-$r-$i.log" <<'SQL' &
SET client_min_messages = warning;
SELECT format('CALL aispend.sync(%L, since => %L, until => %L)', 'r' || :r || '_a' || a,
              date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => :days),
              date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
FROM generate_series(1, :n) AS a WHERE a % :s = :i
\gexec
SQL
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    t1=$(now)
    rows=$(qn coord "$d" "SELECT (SELECT count(*) FROM aispend.usage WHERE account LIKE 'r${r}\_%')
                               + (SELECT count(*) FROM aispend.costs WHERE account LIKE 'r${r}\_%')")
    # the steps' own time: fetch and write, without the re-roll that follows each step (finished_at is set before)
    steps=$(qn coord "$d" "SELECT round(sum(extract(epoch FROM finished_at - started_at))::numeric, 2)
                             FROM aispend.sync_runs WHERE account LIKE 'r${r}\_%'")
    failed=$(qn coord "$d" "SELECT count(*) FROM aispend.sync_runs WHERE account LIKE 'r${r}\_%' AND status <> 'succeeded'")
    [ "$failed" = 0 ] || { echo "round $r on $d: $failed runs failed" >&2; cat "$work"/sync-"$d"-"$r"-*.log >&2; exit 1; }
    python3 -c "print(f'{$t1 - $t0:.2f} $rows $steps')"
}

{
    echo "aispend on Citus: $accounts accounts of the large mock organisation, $days days each"
    echo "(coordinator + 2 workers on one 2-core machine; single node = a database of the coordinator's server)"
    echo
    printf '%-12s %8s | %9s %9s %7s | %9s %9s %7s | %9s %9s\n' "sessions" "rows" "single s" "cluster s" "ratio" \
           "single" "cluster" "ratio" "single" "cluster"
    printf '%-12s %8s | %27s | %27s | %19s\n' "" "" "wall clock, seconds" "sync steps only, seconds" "rows/s, wall clock"
} | tee "$out"
round=0
for s in 1 2 4; do
    round=$((round + 1))
    read -r t_single rows_single steps_single < <(sync_round "$single" "$round" "$s")
    read -r t_cluster rows_cluster steps_cluster < <(sync_round "$db" "$round" "$s")
    [ "$rows_single" = "$rows_cluster" ] || { echo "rows differ: single $rows_single, cluster $rows_cluster" >&2; exit 1; }
    python3 - "$s" "$rows_single" "$t_single" "$t_cluster" "$steps_single" "$steps_cluster" <<'PY' | tee -a "$out"
import sys
s, rows = int(sys.argv[1]), int(sys.argv[2])
ts, tc, ss, sc = (float(x) for x in sys.argv[3:7])
label = f"{s} session{'s' if s > 1 else ''}"
print(f"{label:<12} {rows:>8} | {ts:>9.1f} {tc:>9.1f} {tc / ts:>7.2f} | {ss:>9.1f} {sc:>9.1f} {sc / ss:>7.2f} |"
      f" {rows / ts:>9.0f} {rows / tc:>9.0f}")
PY
done
echo "(ratio = cluster / single node. Wall clock: the syncs, each step followed by its re-roll of the rollups. Sync" | tee -a "$out"
echo " steps only: fetch and write, without the re-roll, summed over the runs.)" | tee -a "$out"

# The per-account statements of a sync, as aispend runs them, under EXPLAIN on the cluster: router, one task.
acct="r1_a1"
explain() {  # explain LABEL SQL: "LABEL: <Citus node> tasks=N" from the plan
    local plan
    plan=$(psql_db "$db" -At -c "SET client_min_messages = warning" -c "EXPLAIN (COSTS OFF) $2" 2>&1)
    printf '  %-58s %s; %s\n' "$1" \
        "$(grep -oE 'Custom Scan \(Citus [A-Za-z ]+\)' <<<"$plan" | head -1 | sed 's/Custom Scan (\(.*\))/\1/')" \
        "$(grep -oE 'Task Count: [0-9]+' <<<"$plan" | head -1)"
    echo "$plan" >>"$work/plans.txt"
}
{
    echo
    echo "hot per-account statements on the cluster (EXPLAIN): executor; tasks"
    explain "usage of one account, a day range (sync, re-roll)" \
        "SELECT * FROM aispend.usage u WHERE u.account = '$acct' AND u.bucket_start >= now() - interval '2 days'"
    explain "costs of one account, a day range" \
        "SELECT * FROM aispend.costs c WHERE c.account = '$acct' AND c.bucket_start >= now() - interval '2 days'"
    explain "the resume point (max complete_through)" \
        "SELECT max(r.complete_through) FROM aispend.sync_runs r WHERE r.account = '$acct' AND r.endpoint = 'usage' AND r.status = 'succeeded'"
    explain "a run's end (UPDATE sync_runs)" \
        "UPDATE aispend.sync_runs r SET status = 'succeeded' WHERE r.account = '$acct' AND r.id = 1"
    explain "usage upsert of one account" \
        "INSERT INTO aispend.usage AS u (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier, batch, context_window, inference_geo, requests) VALUES ('$acct', 'completions', now(), '1d', 'w', 'k', 'm', 'default', false, '', '', 1) ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE SET requests = excluded.requests"
    explain "gone usage rows deleted" \
        "DELETE FROM aispend.usage u WHERE u.account = '$acct' AND u.bucket_start = now() AND u.model = 'm'"
    explain "a workspace renamed" \
        "UPDATE aispend.workspaces w SET display_name = 'x' WHERE w.account = '$acct' AND w.workspace_id = 'w'"
    explain "the days marked for the rollups" \
        "INSERT INTO aispend._dirty_days (account, day) VALUES ('$acct', current_date) ON CONFLICT (account, day) DO NOTHING"
    explain "the models of the usage of a day range (re-roll)" \
        "SELECT DISTINCT u.model, (u.bucket_start AT TIME ZONE 'UTC')::date FROM aispend.usage u WHERE u.account = '$acct' AND u.bucket_start >= now() - interval '2 days'"
    explain "the day rows of a month (re-roll)" \
        "SELECT r.day, sum(r.cost) FROM aispend.daily_rollup r WHERE r.account = '$acct' AND r.day >= current_date - 30 GROUP BY GROUPING SETS ((r.day, r.workspace_id), (r.day, r.model))"
    explain "the cumulative rows of a boundary day (tabs)" \
        "SELECT * FROM aispend._cum c WHERE c.account = '$acct' AND c.grain = 'd' AND c.at = current_date AND c.kind = 'w'"
    echo "  (full plans: EXPLAIN of the same statements; repartition joins: $(grep -c -i 'repartition' "$work/plans.txt"))"
    echo "  (every statement of a sync and its re-roll is single-shard: tests/citus/run.sh runs them with"
    echo "   citus.multi_task_query_log_level = error)"
} | tee -a "$out"

# The dashboard on both, once every round's accounts are synced: across all accounts (the tabs) and for one
# account (its cost model for the whole period, its daily series), the second of two runs, in milliseconds.
tab_ms() {  # tab_ms DB SQL: the wall time of a second run (the first warms the caches)
    local t0 t1
    psql_db "$1" -At -c "$2" >/dev/null
    t0=$(now)
    psql_db "$1" -At -c "$2" >/dev/null
    t1=$(now)
    python3 -c "print(round(($t1 - $t0) * 1000))"
}
# a team: a role given the name of one workspace (every account has it), the same on both; and a reader. (LOGIN:
# Citus connects to the workers as the current role, SET ROLE included.)
team=aispend_bench_team
team_ws=$(qn coord "$single" "SELECT min(w.name) FROM aispend.workspaces w WHERE w.account = 'r1_a1'")
reader=aispend_bench_reader
qn coord "$db" "CREATE ROLE $team LOGIN" >/dev/null
qn coord "$db" "CREATE ROLE $reader LOGIN" >/dev/null
for d in "$single" "$db"; do
    qn coord "$d" "SELECT aispend.grant_team('$team', ARRAY['$team_ws']), aispend.grant_reader('$reader')" >/dev/null
done
{
    echo
    echo "the dashboard, $((accounts * round)) accounts (second of two runs, ms)       single   cluster   ratio"
    while IFS='|' read -r label q; do
        q=${q//@team/$team}
        q=${q//@reader/$reader}
        ms_single=$(tab_ms "$single" "$q")
        ms_cluster=$(tab_ms "$db" "$q")
        python3 -c "print(f'  {\"$label\":<60} {$ms_single:>7} {$ms_cluster:>9} {$ms_cluster / max($ms_single, 1):>7.2f}')"
    done <<'TABS'
one account: its cost model for 7 days (cost_facts_between)|SELECT count(*) FROM aispend.cost_facts_between('r1_a1', current_date - 7, current_date)
one account: its daily series (_slice_daily)|SELECT * FROM aispend._slice_daily(aispend.period('last_7_days'), 'all', 'r1_a1', NULL, NULL, NULL)
Workspaces tab, all accounts (workspaces_csv)|SELECT * FROM aispend.workspaces_csv('last_7_days')
Models tab, all accounts (models_csv)|SELECT * FROM aispend.models_csv('last_7_days')
Workspace Management, all accounts|SELECT * FROM aispend.workspace_management_csv
API keys tab, all accounts (api_keys_csv)|SELECT * FROM aispend.api_keys_csv('last_7_days')
unused API keys, all accounts (api_keys_unused)|SELECT * FROM aispend.api_keys_unused('last_7_days')
a team, one workspace name: Workspaces tab|SET ROLE @team; SELECT * FROM aispend.workspaces_csv('last_7_days')
a team, one workspace name: API keys tab|SET ROLE @team; SELECT * FROM aispend.api_keys_csv('last_7_days')
a team, one workspace name: its usage rows (row-level security)|SET ROLE @team; SELECT count(*) FROM aispend.usage
every usage row counted by a superuser (no row-level security)|SELECT count(*) FROM aispend.usage
the same by a reader (the team_scope policy on every row)|SET ROLE @reader; SELECT count(*) FROM aispend.usage
TABS
} | tee -a "$out"

echo "written: $out"
