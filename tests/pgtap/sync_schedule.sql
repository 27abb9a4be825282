-- aispend.schedule_sync / unschedule_sync write the expected pg_cron rows. Needs pg_cron preloaded and created in
-- this database (the test harness does both; cron.database_name = this database). No job is waited for:
-- real runs are the harness's business. One transaction, rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(10);

SELECT ok(aispend.schedule_sync() > 0, 'schedule_sync() returns the job id');
SELECT is((SELECT concat_ws('|', schedule, command, database, username) FROM cron.job WHERE jobname = 'aispend-sync'),
    concat_ws('|', '0 * * * *', 'CALL aispend.sync()', current_database(), current_user),
    'hourly job in this database, as this role, running CALL aispend.sync()');

SELECT lives_ok($$ SELECT aispend.schedule_sync('*/15 * * * *') $$, 'scheduling again replaces the job');
SELECT is((SELECT string_agg(schedule::text, ',') FROM cron.job WHERE jobname = 'aispend-sync'),
          '*/15 * * * *', 'one job, with the new schedule');

SELECT lives_ok($$ SELECT aispend.schedule_sync('0 3 * * *', 'aispend-other-db', 'template1') $$,
                'a job for another database (cron.schedule_in_database)');
SELECT is((SELECT concat_ws('|', database, command) FROM cron.job WHERE jobname = 'aispend-other-db'),
          'template1|CALL aispend.sync()', 'it runs in that database');

SELECT ok(aispend.unschedule_sync(), 'unschedule_sync() removes the job');
SELECT ok(aispend.unschedule_sync('aispend-other-db'), 'and the other one');
SELECT is_empty($$ SELECT 1 FROM cron.job WHERE jobname IN ('aispend-sync', 'aispend-other-db') $$, 'no job left');
SELECT ok(NOT aispend.unschedule_sync(), 'unscheduling a missing job returns false');

SELECT * FROM finish();
ROLLBACK;
