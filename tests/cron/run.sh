#!/usr/bin/env bash
# By hand: PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres tests/cron/run.sh CRON_DB MOCK_URL
# One real pg_cron run, end to end: a job scheduled with aispend.schedule_sync() from pg_cron's database
# (CRON_DB, = cron.database_name) for a separate database runs CALL aispend.sync() there within two minutes
# (pg_cron 1.4 has minute granularity) and leaves succeeded sync_runs and synced usage.
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed".
set -uo pipefail
cron_db=$1
mock_url=$2
target=aispend_cron_run
job=aispend-cron-e2e
passed=0
failed=0

check() {  # check DESCRIPTION CONDITION-RESULT(0/1)
    if [ "$2" -eq 0 ]; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi
}
q() { psql -X -q -tA -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $target" -c "CREATE DATABASE $target" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$target" -v url="$mock_url" >/dev/null <<'SQL'
CREATE EXTENSION aispend;
CREATE SERVER cron_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'url', backfill_days '3');
CREATE USER MAPPING FOR CURRENT_USER SERVER cron_openai OPTIONS (admin_key 'sk-admin-test-openai');
SQL
check "the target database has an account and no sync yet" \
    "$([ "$(q "$target" "SELECT count(*) FROM aispend.sync_runs")" = 0 ]; echo $?)"

jobid=$(q "$cron_db" "SET client_min_messages = warning; SELECT aispend.schedule_sync('* * * * *', '$job', '$target')")
check "schedule_sync() from pg_cron's database creates a job for $target (id $jobid)" \
    "$([ "$(q "$cron_db" "SELECT database || '|' || command FROM cron.job WHERE jobid = $jobid")" = "$target|CALL aispend.sync()" ]; echo $?)"

status=""
for _ in $(seq 1 150); do
    status=$(q "$cron_db" "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
check "pg_cron ran the job and it succeeded (status: ${status:-none within 150 s})" "$([ "$status" = succeeded ]; echo $?)"
[ "$status" = failed ] && q "$cron_db" "SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid"
check "the scheduled run recorded succeeded syncs of every endpoint" \
    "$([ "$(q "$target" "SELECT count(DISTINCT endpoint) FROM aispend.sync_runs WHERE status = 'succeeded'")" = 4 ]; echo $?)"
check "the scheduled run stored usage" "$([ "$(q "$target" "SELECT count(*) > 0 FROM aispend.usage")" = t ]; echo $?)"
check "unschedule_sync() removes the job" \
    "$([ "$(q "$cron_db" "SET client_min_messages = warning; SELECT aispend.unschedule_sync('$job')")" = t ]; echo $?)"

# Let a run that may have started in the meantime finish before the database goes.
for _ in $(seq 1 30); do
    [ "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$target'")" = 0 ] && break
    sleep 1
done
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $target" >/dev/null
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
