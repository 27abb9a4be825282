#!/usr/bin/env bash
# aispend on a running Citus cluster (issue 16). By hand: tests/citus/run.sh   (root or the cluster's user)
#   PG_BIN=/path/to/postgresql/15/bin tests/citus/run.sh   (a PostgreSQL 15 other than the system one)
# Starts a Citus coordinator and two workers on loopback ports (Citus 13.2 built from ../shared/vendor/citus with
# its build-citus.sh when it is not installed), aispend on every node, and the mock providers' demo organisation.
# On the coordinator: aispend.distribute(), then the demo's sync (OpenAI, Anthropic, OpenRouter) and its FOCUS
# import; the same on a single-node database of the same server (no Citus). Checks that every table is
# distributed or a reference table as planned (aispend.undistributed_tables() is empty), where the rows are, that
# every table (rollups included) holds the same rows on both, that an account's sync and re-roll touch one shard,
# the upgrade of a distributed installation of the previous release, that the dashboard (tests/citus/tabs.sql)
# prints the same on both, a pg_cron run of the sync and a background refresh on the coordinator, and roles that
# are not superusers (a reader, an admin, a team) (docs/scaling.md).
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

# shellcheck source=tests/citus/cluster.sh
source "$here/cluster.sh"
if ! citus_build; then
    not_ok "Citus builds and installs (../shared/vendor/citus/build-citus.sh)"
    finish
fi

work=$(mktemp -d /tmp/aispend-citus.XXXXXX)
chmod 755 "$work"
cleanup() {
    citus_stop
    stop_mock "$work"
    if [ -n "${KEEP_CITUS_DIR:-}" ]; then echo "# kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

started=1
citus_start || started=0
if [ "$started" -eq 0 ]; then
    not_ok "a coordinator and two workers start with Citus preloaded" "$(ls "$work"/start-*.log | head -1)"
    finish
fi
ok "a coordinator and two workers start with Citus preloaded (ports ${port[coord]}, ${port[worker1]}, ${port[worker2]})"

# aispend on every node, then the workers join the coordinator.
setup_ok=1
citus_setup "$db" || setup_ok=0
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

if qn coord "$db" "SELECT table_name, distribution, colocated_with FROM aispend.distribute(shard_count => 8)" \
       >"$work/distribute.log" 2>&1 && ! grep -q WARNING "$work/distribute.log"; then
    ok "aispend.distribute(shard_count => 8) on the coordinator, aispend preloaded ($(grep -c '|distributed|' "$work/distribute.log") distributed, $(grep -c '|reference|' "$work/distribute.log") reference tables)"
else
    not_ok "aispend.distribute(shard_count => 8) on the coordinator, with no warning" "$work/distribute.log"
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
# The policies a worker checks are the cluster's on every node: its shards' and its own copies of the tables'.
stale_policies() {  # stale_policies DB: per node, the policies of aispend's tables and shards still the single node's
    local n
    for n in "${citus_nodes[@]}"; do
        qn "$n" "$1" "SET citus.override_table_visibility = off;
                      SELECT count(*) FROM pg_catalog.pg_policy
                       WHERE polname IN ('team_scope', 'refresh_requests_own_update', 'refresh_requests_own_delete')
                         AND pg_catalog.pg_get_expr(polqual, polrelid) !~ '_citus_is_team|_may_act_as'" 2>&1 | tail -1
    done | tr '\n' ' '
}
no_stale=$(printf '0 %.0s' "${citus_nodes[@]}")
stale=$(stale_policies "$db")
if [ "$stale" = "$no_stale" ]; then
    ok "the row-level policies are the cluster's on every node, on its shards and its own copies of the tables"
else
    not_ok "the row-level policies are the cluster's on every node (left per node: $stale)"
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

# The demo organisation, synced on both databases from the same mock: the accounts in parallel sessions, up to
# today's UTC midnight (the same windows on both, whenever each runs).
mock_port=$(free_port)
start_mock "$work" "$mock_port" demo >"$work/mock-start.log" 2>&1 || { not_ok "the demo mock starts" "$work/mock-start.log"; finish; }
mock_url="http://127.0.0.1:$mock_port"
demo_focus_csv >"$work/focus.csv"
accounts=(demo_openai demo_anthropic demo_openrouter)
prices=$(cd "$AISPEND_ROOT/.." && pwd)/shared/data/genai-prices/data.json   # the real price feed
psql_coord() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[coord]}" -U postgres "$@"; }
as_role() { psql -X -q -At -h 127.0.0.1 -p "${port[coord]}" -U "$1" -d "$2" "${@:3}"; }
demo_sync() {  # demo_sync DB: the servers, one session per account, then the FOCUS import
    local a pids=() rc=0
    psql_coord -d "$1" -v mock_url="$mock_url" <<'SQL' || return 1
SET client_min_messages = warning;
CREATE SERVER demo_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER demo_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE SERVER demo_openrouter FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openrouter', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE USER MAPPING FOR CURRENT_USER SERVER demo_openrouter OPTIONS (admin_key 'sk-or-v1-mgmt-test');
CREATE SERVER demo_bedrock FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
SQL
    for a in "${accounts[@]}"; do
        psql_coord -d "$1" -c "SET client_min_messages = warning" \
            -c "CALL aispend.sync('$a', until => pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')" &
        pids+=($!)
    done
    for a in "${pids[@]}"; do wait "$a" || rc=1; done
    psql_coord -d "$1" -v focus="$(cat "$work/focus.csv")" >/dev/null <<'SQL' || rc=1
SET client_min_messages = warning;
SELECT count(*) FROM aispend.import_focus('demo_bedrock', :'focus');
SQL
    # then a price import, which reprices the synced usage: on the cluster import_prices() rebuilds the rollups
    psql_coord -d "$1" -v prices="$prices" >/dev/null <<'SQL' || rc=1
SET client_min_messages = warning;
\set feed `cat :prices`
SELECT count(*) FROM aispend.import_prices(:'feed'::jsonb);
SQL
    return $rc
}
for d in "$db" "$single"; do
    if demo_sync "$d" >"$work/sync-$d.log" 2>&1 && ! grep -qE 'WARNING|ERROR' "$work/sync-$d.log"; then
        ok "$d: the demo's three accounts synced in parallel sessions, its FOCUS import and a price import"
    else
        not_ok "$d: the demo's three accounts synced in parallel sessions, its FOCUS import and a price import" "$work/sync-$d.log"
    fi
done
runs=$(qn coord "$db" "SELECT count(*) FILTER (WHERE status <> 'succeeded') || ' of ' || count(*) FROM aispend.sync_runs")
case "$runs" in
    "0 of 0"|"") not_ok "the coordinator's sync recorded its runs (failed of all: ${runs:-none})" ;;
    "0 of "*) ok "every sync run on the cluster succeeded ($runs failed)" ;;
    *) not_ok "every sync run on the cluster succeeded ($runs failed)" ;;
esac

# Renames and their history: a custom name, a second one, then the first change reverted, the same on both.
renames() {
    psql_coord -d "$1" -At <<'SQL'
SET client_min_messages = warning;
-- ids read first: a function called in a query of a distributed table would run on a shard
SELECT min(x.workspace_id) AS ws FROM aispend.workspaces x WHERE x.account = 'demo_openai' \gset
SELECT aispend.rename_workspace('demo_openai', :'ws', 'Research (renamed)');
SELECT aispend.rename_workspace('demo_openai', :'ws', 'Research (renamed again)');
SELECT max(x.id) AS change FROM aispend.workspace_name_history x WHERE x.account = 'demo_openai' \gset
SELECT aispend.revert_workspace_name('demo_openai', :change);
SELECT string_agg(x.action || ':' || coalesce(x.new_name, '-'), ' ' ORDER BY x.id)
  FROM aispend.workspace_name_history x WHERE x.account = 'demo_openai';
SQL
}
r1=$(renames "$db" 2>&1); r2=$(renames "$single" 2>&1)
if [ "$r1" = "$r2" ] && grep -q 'rename:Research (renamed) rename:Research (renamed again) revert:Research (renamed)' <<<"$r1"; then
    ok "renames, a revert and the name history on the cluster as on the single node"
else
    echo "cluster: $r1" >"$work/renames.diff"; echo "single node: $r2" >>"$work/renames.diff"
    not_ok "renames, a revert and the name history on the cluster as on the single node" "$work/renames.diff"
fi

# Changes made by hand, the same on both: a price rule changed and one added, usage rows added (a model never
# seen) and deleted, costs changed in a transaction that reads its own change, costs copied in. On the cluster the
# shards' triggers mark the days and the session re-rolls them after each statement (docs/scaling.md): the rollups
# and models are then what a rebuild from scratch gives, no day is left marked, and the tables and tabs compared
# below hold the same as the single node's.
hand_edits() {
    psql_coord -d "$1" -At <<'SQL'
SET client_min_messages = warning;
UPDATE aispend.model_prices SET output_per_mtok = output_per_mtok * 2
 WHERE provider = 'openai' AND origin = 'import' AND pattern LIKE '%gpt-4o-mini%';
INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, output_per_mtok, valid_from)
VALUES ('anthropic', 'prefix', 'claude', 7, 70, (pg_catalog.now() AT TIME ZONE 'UTC')::date - 10);
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           output_tokens, requests)
SELECT u.account, u.endpoint, u.bucket_start - interval '40 days', u.bucket_width, u.workspace_id, u.api_key_id,
       'gpt-by-hand', 1000000, 3
  FROM aispend.usage u WHERE u.account = 'demo_openai'
 ORDER BY u.bucket_start, u.workspace_id, u.api_key_id, u.model LIMIT 2;
-- a model name too long for what the shards' triggers keep per statement (192 bytes): noted at once
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           output_tokens, requests)
SELECT u.account, u.endpoint, u.bucket_start - interval '41 days', u.bucket_width, u.workspace_id, u.api_key_id,
       'gpt-' || pg_catalog.repeat('long', 50), 1000, 1
  FROM aispend.usage u WHERE u.account = 'demo_openai'
 ORDER BY u.bucket_start, u.workspace_id, u.api_key_id, u.model LIMIT 1;
-- a change in a block that commits in its middle, as a procedure may: re-rolled after the block
DO $$
BEGIN
    UPDATE aispend.usage u SET requests = u.requests + 1
     WHERE u.account = 'demo_openai' AND u.bucket_start < pg_catalog.now() - interval '60 days';
    COMMIT;
END
$$;
DELETE FROM aispend.usage u WHERE u.account = 'demo_anthropic'
   AND u.bucket_start >= pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '30 days'
   AND u.bucket_start < pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '28 days';
BEGIN;
UPDATE aispend.costs c SET amount_usd = c.amount_usd + 1
 WHERE c.account = 'demo_anthropic' AND c.bucket_start < pg_catalog.now() - interval '10 days';
-- a single node re-rolls at COMMIT, or now when asked; a cluster has re-rolled after the statement
SET CONSTRAINTS ALL IMMEDIATE;
SELECT 'read in the transaction: ' || sum(r.cost) FROM aispend.daily_rollup r WHERE r.account = 'demo_anthropic';
COMMIT;
SELECT pg_catalog.min(c.bucket_start) AS first_bill FROM aispend.costs c WHERE c.account = 'demo_openai' \gset
COPY (SELECT * FROM aispend.costs c WHERE c.account = 'demo_openai' AND c.bucket_start = :'first_bill') TO STDOUT CSV \g hand-costs.csv
DELETE FROM aispend.costs c WHERE c.account = 'demo_openai' AND c.bucket_start = :'first_bill';
\copy aispend.costs FROM 'hand-costs.csv' CSV
SELECT min(w.workspace_id) AS named FROM aispend.workspaces w WHERE w.account = 'demo_anthropic' \gset
UPDATE aispend.workspaces w SET display_name = 'Named by hand' WHERE w.account = 'demo_anthropic' AND w.workspace_id = :'named';
SELECT 'history: ' || h.action || ' ' || h.old_name || ' -> ' || h.new_name || ' by ' || h.changed_by
  FROM aispend.workspace_name_history h WHERE h.account = 'demo_anthropic' AND h.new_name = 'Named by hand';
SQL
}
runs_edit() {  # runs_edit DB STATUS: the costs runs of demo_anthropic of the last 20 days set to STATUS (its
               # settlement horizon moves back a month, or forward again)
    psql_coord -d "$1" -At -v status="$2" <<'SQL'
SET client_min_messages = warning;
-- in a savepoint: the rows it writes carry a subtransaction's id, still this transaction's
BEGIN;
SAVEPOINT edit;
UPDATE aispend.sync_runs r SET status = :'status'
 WHERE r.account = 'demo_anthropic' AND r.endpoint = 'costs' AND r.complete_through > pg_catalog.now() - interval '20 days';
RELEASE SAVEPOINT edit;
COMMIT;
SELECT 'settled before ' || coalesce(aispend.settled_before('demo_anthropic')::text, 'none');
SQL
}
fresh() {  # fresh DB: whether the rollups and models are what a rebuild gives, and the days left marked
    psql_coord -d "$1" -At <<'SQL'
SET client_min_messages = error;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT (SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM aispend.daily_rollup r) || ' '
        || (SELECT md5(string_agg(m::text, ',' ORDER BY m::text)) FROM aispend.models m) $$;
SELECT pg_temp.state() AS before \gset
BEGIN;
SELECT count(*) FROM aispend.refresh_rollups() \g /dev/null
SELECT CASE WHEN pg_temp.state() = :'before' THEN 'fresh' ELSE 'stale' END
       || ', ' || (SELECT count(*) FROM aispend._dirty_days) || ' days marked';
ROLLBACK;
SQL
}
h1=$( (cd "$work" && hand_edits "$db") 2>&1); h2=$( (cd "$work" && hand_edits "$single") 2>&1)
f1=$(fresh "$db" 2>&1)
if [ "$h1" = "$h2" ] && grep -q '^read in the transaction: [0-9]' <<<"$h1" && grep -q '^history: rename .* -> Named by hand by postgres$' <<<"$h1" &&
   [ "$f1" = "fresh, 0 days marked" ]; then
    ok "changes made by hand (prices, usage with a new and a very long model, costs, COPY, a block that commits, a custom name) are rolled up and recorded on the cluster as on the single node ($f1)"
else
    printf 'cluster: %s\nsingle node: %s\ncluster after: %s\n' "$h1" "$h2" "$f1" >"$work/hand.diff"
    not_ok "changes made by hand are rolled up and recorded on the cluster as on the single node" "$work/hand.diff"
fi
# A TRUNCATE of the costs (rolled back): every day of every account re-rolled after it, no bill left in the rollups.
truncated=$(psql_coord -d "$db" -At 2>&1 <<'SQL'
SET client_min_messages = error;
SELECT 'billed before: ' || (sum(r.billed_cost) > 0) FROM aispend.daily_rollup r;
BEGIN;
TRUNCATE aispend.costs;
SELECT 'billed after: ' || (SELECT coalesce(sum(r.billed_cost), 0) FROM aispend.daily_rollup r) || ', '
       || (SELECT count(*) FROM aispend._dirty_days) || ' days marked';
ROLLBACK;
SQL
)
if [ "$truncated" = "$(printf 'billed before: true\nbilled after: 0, 0 days marked')" ]; then
    ok "a TRUNCATE of the costs on the cluster re-rolls every day after it (no bill left in the rollups; rolled back)"
else
    echo "$truncated" >"$work/truncate.log"
    not_ok "a TRUNCATE of the costs on the cluster re-rolls every day after it" "$work/truncate.log"
fi
# The sync log changed by hand: the last costs runs marked failed move the settlement horizon back, then
# succeeded again forward; after each the cluster's rollups are what a rebuild gives.
r1=$(runs_edit "$db" failed 2>&1); r2=$(runs_edit "$single" failed 2>&1); f2=$(fresh "$db" 2>&1)
r3=$(runs_edit "$db" succeeded 2>&1); r4=$(runs_edit "$single" succeeded 2>&1); f3=$(fresh "$db" 2>&1)
if [ "$r1" = "$r2" ] && [ "$r3" = "$r4" ] && [ "$r1" != "$r3" ] && [ "$f2 $f3" = "fresh, 0 days marked fresh, 0 days marked" ]; then
    ok "a costs run changed by hand moves the settlement horizon and is rolled up on the cluster ($r1, then $r3)"
else
    printf 'cluster: %s / %s\nsingle node: %s / %s\ncluster after: %s / %s\n' "$r1" "$r3" "$r2" "$r4" "$f2" "$f3" >"$work/runs.diff"
    not_ok "a costs run changed by hand is rolled up on the cluster" "$work/runs.diff"
fi

# Each account's rows are in the one shard its name hashes to (per table), so its work is single-shard.
placed=$(qn coord "$db" "
    SELECT count(*) FILTER (WHERE x.shardid <> pg_catalog.get_shard_id_for_distribution_column(x.tbl, x.account))
           || ' misplaced, ' || count(DISTINCT x.account) || ' accounts in ' || count(DISTINCT x.shardid) || ' shards'
      FROM (SELECT t.tbl, r.shardid, a.account
              FROM (VALUES ('aispend.usage'::regclass), ('aispend.costs'), ('aispend.workspaces'), ('aispend.api_keys'),
                           ('aispend.sync_runs'), ('aispend.focus_charges')) t(tbl)
             CROSS JOIN LATERAL pg_catalog.run_command_on_shards(t.tbl, 'SELECT string_agg(DISTINCT account, '','') FROM %s') r
             CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.string_to_array(r.result, ',')) a(account)
             WHERE r.success AND r.result <> '') x" 2>&1)
if [[ "$placed" == "0 misplaced, 4 accounts in "* ]]; then
    ok "each account's rows (usage, costs, workspaces, keys, runs, FOCUS charges) are in the one shard its name hashes to ($placed)"
else
    not_ok "each account's rows are in the one shard its name hashes to (${placed:-nothing})"
fi

# Every table holds the same rows on both, rollups included, but for what the clock or a sequence sets (ids, times
# of the run, sync times of names and keys, the runs' HTTP counters).
content() {  # content DB TABLE: rows x md5 of the comparable columns
    local cols
    cols=$(qn coord "$1" "SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
                            FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = 'aispend.$2'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                             AND a.attname NOT IN ('id', 'run_id', 'bytes', 'http_requests', 'retries')
                             AND NOT (a.attname ~ '^(.*_)?at$' AND a.atttypid = 'timestamptz'::regtype)
                             AND a.attname !~ '_request$'
                             AND NOT ('$2' IN ('workspaces', 'api_keys') AND a.attname IN ('first_seen', 'last_seen'))")
    qn coord "$1" "SELECT count(*) || ' rows, ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-')
                     FROM (SELECT $cols FROM aispend.$2) x"
}
compared=0
: >"$work/rows.diff"
for t in $(qn coord "$db" "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'aispend'::regnamespace
                             AND c.relkind = 'r' ORDER BY 1"); do
    a=$(content "$db" "$t" 2>&1)
    b=$(content "$single" "$t" 2>&1)
    compared=$((compared + 1))
    [ "$a" = "$b" ] || echo "aispend.$t: cluster $a; single node $b" >>"$work/rows.diff"
done
if [ ! -s "$work/rows.diff" ]; then
    ok "all $compared tables hold the same rows on the cluster as on the single node (facts, names, keys, models, runs, FOCUS charges, the rollups)"
else
    not_ok "the tables hold the same rows on the cluster as on the single node" "$work/rows.diff" 30
fi
# docs/scaling.md's blocks for a coordinator, run on this one.
python3 "$AISPEND_ROOT/tests/docs/extract_sql.py" "$AISPEND_ROOT" "$work/doc-blocks" >"$work/doc-manifest"
doc_blocks=0
: >"$work/docs.log"
while IFS=$'\t' read -r id file block line mode reason expected; do
    [ "$file" = docs/scaling.md ] && [[ "$reason" == "run on a Citus coordinator"* ]] || continue
    doc_blocks=$((doc_blocks + 1))
    psql_coord -d "$db" -f "$work/doc-blocks/$id.sql" >>"$work/docs.log" 2>&1 ||
        echo "docs/scaling.md block $block (line $line) failed" >>"$work/docs.log"
done <"$work/doc-manifest"
if [ "$doc_blocks" -gt 0 ] && ! grep -qE 'failed|ERROR' "$work/docs.log"; then
    ok "docs/scaling.md: its $doc_blocks blocks for a coordinator run on this one"
else
    not_ok "docs/scaling.md: its blocks for a coordinator run on this one ($doc_blocks found)" "$work/docs.log"
fi
# The syncs rolled their days up on the cluster: the rollups are there (compared above), no day is left marked.
rolled=$(qn coord "$db" "SELECT (SELECT count(*) FROM aispend.daily_rollup) || ' daily rows, '
                                || (SELECT count(*) FROM aispend._cum) || ' cumulative rows, '
                                || (SELECT count(*) FROM aispend._dirty_days) || ' days marked'" 2>&1)
if [[ "$rolled" =~ ^[1-9][0-9]*\ daily\ rows,\ [1-9][0-9]*\ cumulative\ rows,\ 0\ days\ marked$ ]]; then
    ok "the syncs rolled their days up on the cluster ($rolled)"
else
    not_ok "the syncs rolled their days up on the cluster (${rolled:-nothing})"
fi

# Every statement of an account's sync and of its re-roll reads or writes one shard: with Citus told to refuse
# any query of several shards, an incremental sync of each account, then a re-roll of all its days, run.
: >"$work/single-shard.log"
for a in "${accounts[@]}"; do
    psql_coord -d "$db" >>"$work/single-shard.log" 2>&1 <<SQL || echo "$a: failed" >>"$work/single-shard.log"
SET client_min_messages = warning;
SET citus.multi_task_query_log_level = error;
CALL aispend.sync('$a', until => pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
INSERT INTO aispend._dirty_days (account, day) SELECT r.account, r.day FROM aispend.daily_rollup r
 WHERE r.account = '$a' GROUP BY r.account, r.day ON CONFLICT DO NOTHING;
SELECT aispend._reroll('$a') \g /dev/null
SELECT count(*) = 0 AS rerolled FROM aispend._dirty_days d WHERE d.account = '$a' \gset
\if :rerolled
\else
\echo '$a: days left marked after its re-roll'
\endif
SQL
done
if [ ! -s "$work/single-shard.log" ]; then
    ok "an account's sync and the re-roll of all its days run only single-shard statements (citus.multi_task_query_log_level = error)"
else
    not_ok "an account's sync and the re-roll of all its days run only single-shard statements" "$work/single-shard.log"
fi
# A distributed installation of the previous release, synced, then upgraded on the coordinator: Citus runs the
# ALTER EXTENSION on the workers too, distribute() has nothing left to do, and the rollups of the days the old
# release left marked are then computed, equal to the single node's.
upgraded=aispend_citus_upgraded
previous=$(for f in "$AISPEND_ROOT"/src/sql/releases/aispend--*.sql; do f=${f##*aispend--}; echo "${f%.sql}"; done | sort -V | tail -1)
old_reader=aispend_citus_old_reader
if citus_setup "$upgraded" "$previous" &&
   qn coord "$upgraded" "SET client_min_messages = warning; SELECT count(*) FROM aispend.distribute(shard_count => 8, experimental => true)" >/dev/null &&
   demo_sync "$upgraded" >"$work/sync-upgraded.log" 2>&1 &&
   qn coord "$upgraded" "CREATE ROLE $old_reader LOGIN" &&
   qn coord "$upgraded" "SET citus.multi_shard_modify_mode = sequential; SELECT aispend.grant_reader('$old_reader')" >/dev/null &&
   qn coord "$upgraded" "ALTER EXTENSION aispend UPDATE" >>"$work/sync-upgraded.log" 2>&1; then
    versions=$(for n in "${citus_nodes[@]}"; do qn "$n" "$upgraded" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'aispend'"; done | sort -u | tr '\n' ' ')
    newest=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$AISPEND_ROOT/aispend.control")
    added=$(qn coord "$upgraded" "SELECT count(*) FROM aispend.undistributed_tables()" 2>&1)   # tables the update added
    again=$(qn coord "$upgraded" "SELECT count(*) FROM aispend.distribute(experimental => true)" 2>&1)
    # the old release's team_scope policies (which read Citus tables on the shards) are replaced on every node
    team_policies=$(stale_policies "$upgraded")
    if [ "$team_policies" = "$no_stale" ]; then
        ok "after the update, distribute() replaces the team_scope policies of every node's tables and shards"
    else
        not_ok "after the update, distribute() replaces the team_scope policies (left per node: $team_policies)"
    fi
    # a reader granted on the old release reads, after the update and distribute(), what a superuser reads
    : >"$work/old-reader.diff"
    for q in "SELECT * FROM aispend.workspaces_table('last_30_days')" "SELECT * FROM aispend.api_keys_table('last_30_days')" \
             "SELECT * FROM aispend.cost_facts x ORDER BY x::text"; do
        a=$(as_role "$old_reader" "$upgraded" -c "$q" 2>&1); b=$(qn coord "$upgraded" "$q" 2>&1)
        { [ "$a" = "$b" ] && [ -n "$a" ] && ! grep -q ERROR <<<"$a"; } || { echo "$q"; diff <(echo "$a") <(echo "$b") | head -4; } >>"$work/old-reader.diff"
    done
    if [ ! -s "$work/old-reader.diff" ]; then
        ok "a reader granted on $previous reads the tabs and the cost model on the updated cluster as a superuser does"
    else
        not_ok "a reader granted on $previous reads on the updated cluster what a superuser reads" "$work/old-reader.diff"
    fi
    left=$(qn coord "$upgraded" "SELECT count(*) FROM aispend.undistributed_tables()" 2>&1)
    if [ "$versions" = "$newest " ] && [ "$again" = "$added" ] && [ "$left" = 0 ]; then
        ok "$previous distributed and synced, then ALTER EXTENSION aispend UPDATE on the coordinator: $newest on every node, distribute() again distributes the $added table(s) it added, nothing left"
    else
        not_ok "$previous distributed and synced, then updated on the coordinator (versions: $versions; distribute() again: $again; left: $left)"
    fi
    # the single node's changes by hand, made on the updated cluster too (whose shards have their triggers now)
    h3=$( (cd "$work" && hand_edits "$upgraded") 2>&1)
    qn coord "$upgraded" "SELECT count(*) FROM aispend.refresh_rollups()" >"$work/refresh-upgraded.log" 2>&1
    : >"$work/rollups-upgraded.diff"
    [ "$h3" = "$h2" ] || echo "changes by hand: upgraded cluster $h3; single node $h2" >>"$work/rollups-upgraded.diff"
    for t in daily_rollup _cum _dirty_days; do
        a=$(content "$upgraded" "$t" 2>&1); b=$(content "$single" "$t" 2>&1)
        [ "$a" = "$b" ] || echo "aispend.$t: upgraded cluster $a; single node $b" >>"$work/rollups-upgraded.diff"
    done
    if [ ! -s "$work/rollups-upgraded.diff" ] && [ "$(cat "$work/refresh-upgraded.log")" = 4 ]; then
        ok "after the update and the same changes by hand, aispend.refresh_rollups() computes the 4 accounts' rollups on the cluster, equal to the single node's"
    else
        cat "$work/refresh-upgraded.log" >>"$work/rollups-upgraded.diff"
        not_ok "after the update, aispend.refresh_rollups() computes the rollups on the cluster, equal to the single node's" "$work/rollups-upgraded.diff"
    fi
else
    not_ok "$previous distributed and synced on the cluster, then updated" "$work/sync-upgraded.log"
    tail -5 "$work/setup.log"
fi
# The dashboard: every tab, its CSV, drill-downs, savings, spikes, budgets, alerts, freshness, the cost model's
# views, the FOCUS export and the report print the same on the cluster as on the single node (tests/citus/tabs.sql).
: >"$work/tabs.diff"
compared=0
while IFS= read -r q; do
    [ -z "$q" ] || [[ "$q" == --* ]] && continue
    compared=$((compared + 1))
    a=$(psql_coord -d "$db" -At -c "$q" 2>&1 </dev/null)
    b=$(psql_coord -d "$single" -At -c "$q" 2>&1 </dev/null)
    if [ "$a" != "$b" ] || grep -q '^ERROR' <<<"$a$b"; then
        { echo "$q"; diff <(echo "$a") <(echo "$b") | head -6 | cut -c1-300; } >>"$work/tabs.diff"
    fi
done <"$here/tabs.sql"
if [ "$compared" -gt 0 ] && [ ! -s "$work/tabs.diff" ]; then
    ok "the dashboard on the cluster prints what the single node prints: all $compared statements of tests/citus/tabs.sql (tabs, CSVs, drill-downs, savings, spikes, budgets, alerts, freshness, FOCUS export, report)"
else
    not_ok "the dashboard on the cluster prints what the single node prints (tests/citus/tabs.sql, $compared statements)" "$work/tabs.diff" 40
fi
# Roles that are not superusers. Citus propagates their privileges on tables, not on aispend's functions, which a
# worker runs as the role (the policies, the cost model's helpers): grant_reader(), grant_admin() and revoke_all()
# copy them to the workers. A reader reads the dashboard on the cluster as on the single node, an admin syncs an
# account, and revoke_all() takes both back on every node.
reader=aispend_citus_reader
admin=aispend_citus_admin
worker_grants() {  # worker_grants ROLE: its EXECUTE privileges on aispend's routines, per worker
    for n in worker1 worker2; do
        qn "$n" "$db" "SELECT count(*) FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
                       WHERE p.pronamespace = 'aispend'::regnamespace AND a.grantee = '$1'::regrole"
    done | tr '\n' ' '
}
if qn coord "$db" "CREATE ROLE $reader LOGIN" && qn coord "$db" "CREATE ROLE $admin LOGIN" &&
   qn coord "$db" "SELECT aispend.grant_reader('$reader'), aispend.grant_admin('$admin')" >/dev/null &&
   qn coord "$single" "SELECT aispend.grant_reader('$reader')" >/dev/null &&
   qn coord "$db" "CREATE USER MAPPING FOR $admin SERVER demo_openai OPTIONS (admin_key 'sk-admin-test-openai')"; then
    : >"$work/reader.diff"
    compared=0
    while IFS= read -r q; do
        [ -z "$q" ] || [[ "$q" == --* ]] || [[ "$q" =~ aispend\.set_|evaluate_alerts ]] && continue
        compared=$((compared + 1))
        a=$(as_role "$reader" "$db" -c "$q" 2>&1 </dev/null)
        b=$(as_role "$reader" "$single" -c "$q" 2>&1 </dev/null)
        if [ "$a" != "$b" ] || grep -q '^ERROR' <<<"$a$b"; then
            { echo "$q"; diff <(echo "$a") <(echo "$b") | head -6 | cut -c1-300; } >>"$work/reader.diff"
        fi
    done <"$here/tabs.sql"
    if [ "$compared" -gt 40 ] && [ ! -s "$work/reader.diff" ]; then
        ok "a reader (aispend.grant_reader(), not a superuser) reads on the cluster what it reads on the single node: all $compared read-only statements of tests/citus/tabs.sql (workers hold its function privileges: $(worker_grants "$reader"))"
    else
        not_ok "a reader (aispend.grant_reader()) reads on the cluster what it reads on the single node ($compared statements)" "$work/reader.diff" 40
    fi
    before=$(qn coord "$db" "SELECT max(id) FROM aispend.sync_runs WHERE account = 'demo_openai'")
    as_role "$admin" "$db" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "CALL aispend.sync('demo_openai', until => pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')" >"$work/admin.log" 2>&1
    runs=$(qn coord "$db" "SELECT count(*) FILTER (WHERE status = 'succeeded') || ' of ' || count(*)
                            FROM aispend.sync_runs WHERE account = 'demo_openai' AND id > ${before:-0}")
    if [ "${runs%% of *}" = "${runs##* of }" ] && [ "${runs%% of *}" -gt 0 ] && ! grep -q ERROR "$work/admin.log"; then
        ok "an admin (aispend.grant_admin(), not a superuser) syncs an account on the cluster ($runs runs succeeded)"
    else
        not_ok "an admin (aispend.grant_admin()) syncs an account on the cluster (runs succeeded: $runs)" "$work/admin.log"
    fi
    qn coord "$db" "SELECT aispend.revoke_all('$reader'), aispend.revoke_all('$admin')" >/dev/null
    left=$(worker_grants "$reader")$(worker_grants "$admin")
    denied=$(as_role "$reader" "$db" -c "SELECT count(*) FROM aispend.usage" 2>&1)
    if [ "$left" = "0 0 0 0 " ] && grep -q 'permission denied' <<<"$denied"; then
        ok "aispend.revoke_all() takes the function privileges back on every worker, and the reader reads nothing"
    else
        not_ok "aispend.revoke_all() takes the privileges back on every worker (routines still granted per worker: $left; reader: $denied)"
    fi
else
    not_ok "a reader and an admin role on the cluster (created, granted)"
fi
# A team (a role given a workspace name and a key of another workspace) reads only its scope on the cluster, as on
# the single node: every read-only statement of tabs.sql prints the same on both (the live cost model, which a
# team may not run, fails alike), and so do its counts of the tables' rows.
team=aispend_citus_team
team_key=$(qn coord "$single" "SELECT min(k.api_key_id) FROM aispend.api_keys k JOIN aispend.workspaces w
                                 ON w.account = k.account AND w.workspace_id = k.workspace_id
                              WHERE w.name <> 'Research Assistant' AND k.api_key_id NOT LIKE '(%'")
if qn coord "$db" "CREATE ROLE $team LOGIN" &&
   qn coord "$db" "SELECT aispend.grant_team('$team', ARRAY['Research Assistant'], ARRAY['$team_key'])" >/dev/null &&
   qn coord "$single" "SELECT aispend.grant_team('$team', ARRAY['Research Assistant'], ARRAY['$team_key'])" >/dev/null; then
    : >"$work/team.diff"
    compared=0
    counts="SELECT concat_ws(' ', (SELECT count(*) FROM aispend.usage), (SELECT count(*) FROM aispend.costs),"
    counts+=" (SELECT count(*) FROM aispend.daily_rollup), (SELECT count(*) FROM aispend._cum),"
    counts+=" (SELECT count(*) FROM aispend.workspaces), (SELECT count(*) FROM aispend.api_keys),"
    counts+=" (SELECT count(*) FROM aispend.workspace_name_history))"
    while IFS= read -r q; do
        [ -z "$q" ] || [[ "$q" == --* ]] || [[ "$q" =~ aispend\.set_|evaluate_alerts ]] && continue
        compared=$((compared + 1))
        a=$(as_role "$team" "$db" -c "$q" 2>&1 </dev/null)
        b=$(as_role "$team" "$single" -c "$q" 2>&1 </dev/null)
        # an error is compared by its first line (the cluster's names the worker it ran on)
        [[ "$a" == ERROR* ]] && a=${a%%$'\n'*}
        [[ "$b" == ERROR* ]] && b=${b%%$'\n'*}
        [ "$a" = "$b" ] || { echo "$q"; diff <(echo "$a") <(echo "$b") | head -6 | cut -c1-300; } >>"$work/team.diff"
    done < <(cat "$here/tabs.sql"; echo "$counts")
    mine=$(as_role "$team" "$db" -c "$counts" 2>&1)
    all=$(qn coord "$db" "$counts" 2>&1)
    if [ "$compared" -gt 40 ] && [ ! -s "$work/team.diff" ] && [ "$mine" != "$all" ]; then
        ok "a team (aispend.grant_team(): a workspace name and a key) reads on the cluster what it reads on the single node: all $compared read-only statements of tests/citus/tabs.sql and its rows of the tables ($mine of $all)"
    else
        not_ok "a team reads on the cluster what it reads on the single node ($compared statements; its rows: $mine of $all)" "$work/team.diff" 40
    fi
    qn coord "$db" "SELECT aispend.revoke_team('$team')" >/dev/null
    gone=$(as_role "$team" "$db" -c "SELECT count(*) FROM aispend.usage" 2>&1)
    if grep -q 'permission denied' <<<"$gone" && [ "$(worker_grants "$team")" = "0 0 " ]; then
        ok "aispend.revoke_team() ends the team on every node"
    else
        not_ok "aispend.revoke_team() ends the team on every node (it reads: $gone; its routines per worker: $(worker_grants "$team"))"
    fi
else
    not_ok "a team on the cluster (created, granted)"
fi
# pg_cron on the coordinator (cron.database_name is this database): a job scheduled with aispend.schedule_sync()
# runs CALL aispend.sync() on the cluster (pg_cron has minute granularity: up to two minutes).
jobid=$(qn coord "$db" "SET client_min_messages = warning; SELECT aispend.schedule_sync('* * * * *', 'aispend-citus-cron')" 2>&1)
status=""
for _ in $(seq 1 150); do
    status=$(qn coord "$db" "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1" 2>&1)
    [ -n "$status" ] && break
    sleep 1
done
qn coord "$db" "SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid" >"$work/cron.log" 2>&1
qn coord "$db" "SET client_min_messages = warning; SELECT aispend.unschedule_sync('aispend-citus-cron')" >>"$work/cron.log" 2>&1
failed_runs=$(qn coord "$db" "SELECT count(*) FROM aispend.sync_runs WHERE status <> 'succeeded'" 2>&1)
if [ "$status" = succeeded ] && [ "$failed_runs" = 0 ]; then
    ok "pg_cron on the coordinator ran a job of aispend.schedule_sync(): CALL aispend.sync() of every account succeeded"
else
    not_ok "pg_cron on the coordinator ran a job of aispend.schedule_sync() (status: ${status:-none within 150 s}; runs not succeeded: $failed_runs)" "$work/cron.log"
fi
# aispend.request_refresh() on the coordinator: its background workers (one per account, connected as the
# requesting role, here a superuser) sync every account on the cluster once the request commits.
request=$(qn coord "$db" "SELECT aispend.request_refresh()" 2>&1)
states=""
for _ in $(seq 1 120); do
    states=$(qn coord "$db" "SELECT pg_catalog.string_agg(state || ' ' || n, ', ' ORDER BY state)
                               FROM (SELECT state, count(*) AS n FROM aispend.refresh_requests
                                      WHERE id = ${request:-0} GROUP BY state) s" 2>&1)
    [[ "$states" =~ queued|running ]] || break
    sleep 1
done
qn coord "$db" "SELECT account, state, error_sqlstate, error_message FROM aispend.refresh_requests
                 WHERE id = ${request:-0} AND state <> 'succeeded'" >"$work/refresh.log" 2>&1
if [ "$states" = "succeeded ${#accounts[@]}" ] && [ ! -s "$work/refresh.log" ]; then
    ok "aispend.request_refresh() on the coordinator: background workers synced the ${#accounts[@]} accounts on the cluster"
else
    not_ok "aispend.request_refresh() on the coordinator syncs every account in the background (request ${request:-none}: ${states:-nothing})" "$work/refresh.log"
fi
# On a worker node a refresh is refused: its workers would run there, out of sight of the coordinator's sweep.
before=$(qn coord "$db" "SELECT count(*) FROM aispend.refresh_requests")
if qn worker1 "$db" "SELECT aispend.request_refresh()" >"$work/worker-refresh.log" 2>&1; then
    not_ok "aispend.request_refresh() on a worker node is refused" "$work/worker-refresh.log"
elif grep -q 'request a refresh on the Citus coordinator, not on a worker node' "$work/worker-refresh.log" &&
     [ "$(qn coord "$db" "SELECT count(*) FROM aispend.refresh_requests")" = "$before" ]; then
    ok "aispend.request_refresh() on a worker node is refused (0A000), and queues nothing"
else
    not_ok "aispend.request_refresh() on a worker node is refused with a clear message, and queues nothing" "$work/worker-refresh.log"
fi
# A refresh held up by a slow provider, requested by an admin that is not a superuser (row-level security and its
# function privileges on the workers apply): aispend.refresh_progress shows it running (its worker is a process of
# the coordinator, where the view looks for it), another admin may not cancel it, and aispend.cancel_refresh() by its
# role stops it and records it cancelled.
refresher=aispend_citus_refresher
other=aispend_citus_other_admin
qn coord "$db" "CREATE ROLE $refresher LOGIN; CREATE ROLE $other LOGIN" >"$work/slow.log" 2>&1
qn coord "$db" "SET client_min_messages = warning;
                CREATE SERVER demo_slow FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', backfill_days '7',
                    base_url '$mock_url/mock/org=demo;fault=slow;delay_ms=30000;tag=citus/');
                SELECT aispend.grant_admin('$refresher'), aispend.grant_admin('$other');
                CREATE USER MAPPING FOR $refresher SERVER demo_slow OPTIONS (admin_key 'sk-admin-test-openai')" \
    >>"$work/slow.log" 2>&1
slow=$(as_role "$refresher" "$db" -c "SELECT aispend.request_refresh(ARRAY['demo_slow'])" 2>>"$work/slow.log")
shown=""
for _ in $(seq 1 60); do
    shown=$(as_role "$refresher" "$db" -c "SELECT pg_catalog.string_agg(DISTINCT state || '/' || endpoint_state, ',')
                                             FROM aispend.refresh_progress
                                            WHERE request = ${slow:-0} AND endpoint = 'workspaces'" 2>&1)
    [ "$shown" = running/running ] && break
    sleep 0.5
done
refused=$(as_role "$other" "$db" -c "SELECT aispend.cancel_refresh(${slow:-0})" 2>&1)
cancelled=$(as_role "$refresher" "$db" -c "SELECT aispend.cancel_refresh(${slow:-0})" 2>&1)
ended=""
for _ in $(seq 1 60); do
    ended=$(qn coord "$db" "SELECT state || ' ' || coalesce(error_sqlstate, '-') FROM aispend.refresh_requests
                             WHERE id = ${slow:-0}" 2>&1)
    [[ "$ended" == running* ]] || break
    sleep 0.5
done
echo "shown: $shown; another admin's cancel: $refused; its role's cancel: $cancelled; ended: $ended" >>"$work/slow.log"
if [ "$shown" = running/running ] && [[ "$refused" == *"is another role's"* ]] && [ "$cancelled" = 1 ] &&
   [ "$ended" = "cancelled 57014" ]; then
    ok "an admin's slow background refresh on the cluster: aispend.refresh_progress shows it running, another admin may not cancel it, its role's aispend.cancel_refresh() stops it (cancelled, 57014)"
else
    not_ok "an admin's slow background refresh on the cluster shows as running, and is cancelled by its role only" "$work/slow.log"
fi
# Wait for a run that may have started meanwhile, so that the cluster stops cleanly.
for _ in $(seq 1 30); do
    [ "$(qn coord postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'pg_cron'")" = 0 ] && break
    sleep 1
done
finish
