-- The background refresh worker (issue 13, foundation): aispend._start_sync_worker, called inside an open
-- transaction, starts a dynamic background worker that runs as the calling role, waits for that transaction to
-- end, then CALLs aispend._refresh_account (which COMMITs as aispend.sync does). Checked from this session:
-- success, a failure recorded (not left running), pg_terminate_backend and pg_cancel_backend of a worker in the
-- middle of a step (the step rolled back, its sync_runs row 'aborted', the request 'cancelled'), a request
-- rolled back before the worker could run it, a role that cannot log in, and what a reader may see.
-- pg_prove --set mock_url=http://127.0.0.1:PORT (the mock serves the demo organisation through org=demo).
-- Needs two free background worker slots (max_worker_processes) and a superuser; no pg_cron, no dblink.
-- Autocommit structure, as in sync_concurrency.sql: the workers see only what this session commits.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(29);

-- a tag unique to this run: the mock counts faults per options string for its whole life
SELECT 'rw' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS run_tag \gset
\set demo_url :mock_url/mock/org=demo;tag=:run_tag/
\set slow_url :mock_url/mock/org=demo;fault=slow;delay_ms=30000;tag=:run_tag/

-- Roles are global: remove what an interrupted earlier run left behind.
DO $$
DECLARE
    r name;
BEGIN
    FOREACH r IN ARRAY ARRAY['rw_admin', 'rw_nologin', 'rw_reader']::name[] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END $$;
CREATE ROLE rw_admin LOGIN;
CREATE ROLE rw_nologin NOLOGIN;
CREATE ROLE rw_reader LOGIN;

CREATE SERVER rw_demo FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'demo_url', backfill_days '7');
CREATE SERVER rw_nokey FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'demo_url', backfill_days '7');
CREATE SERVER rw_slow FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'slow_url', backfill_days '7');
CREATE SERVER rw_slow2 FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'anthropic', base_url :'slow_url', backfill_days '7');
CREATE SERVER rw_rollback FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'demo_url', backfill_days '7');
SELECT aispend.grant_admin('rw_admin') AS granted \gset
SELECT aispend.grant_admin('rw_nologin') AS granted \gset
SELECT aispend.grant_reader('rw_reader') AS granted \gset
CREATE USER MAPPING FOR rw_admin SERVER rw_demo OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR rw_admin SERVER rw_slow OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR rw_admin SERVER rw_slow2 OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE USER MAPPING FOR rw_admin SERVER rw_rollback OPTIONS (admin_key 'sk-admin-test-openai');

-- How a request ended, polled from this session (each statement of a volatile function sees new commits).
CREATE FUNCTION pg_temp.wait_state(p_id bigint, p_seconds integer DEFAULT 60) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    FOR i IN 1 .. p_seconds * 20 LOOP
        SELECT r.state INTO v FROM aispend.refresh_requests r WHERE r.id = p_id;
        IF v IN ('succeeded', 'failed', 'cancelled') THEN
            RETURN v;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN coalesce(v, 'no request') || ' after ' || p_seconds || ' s';
END $$;
-- Whether a condition on the worker's pg_stat_activity row becomes true (the row is read afresh each time).
CREATE FUNCTION pg_temp.wait_worker(p_pid integer, p_condition text, p_seconds integer DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v boolean;
BEGIN
    FOR i IN 1 .. p_seconds * 20 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXECUTE format('SELECT %s FROM (SELECT NULL) AS dummy LEFT JOIN pg_stat_activity a ON a.pid = %s',
                       p_condition, p_pid) INTO v;
        IF v THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;
-- Whether the account's sync has a step in flight (its 'running' sync_runs row is committed first).
CREATE FUNCTION pg_temp.wait_step(p_account name, p_seconds integer DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_seconds * 20 LOOP
        IF EXISTS (SELECT 1 FROM aispend.sync_runs r WHERE r.account = p_account AND r.status = 'running') THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;

-- ---- 1. requested inside an open transaction: the worker waits for it, runs as the role, syncs, succeeds
SET ROLE rw_admin;
BEGIN;
INSERT INTO aispend.refresh_requests (account) VALUES ('rw_demo') RETURNING id AS demo_id \gset
SELECT aispend._start_sync_worker(:demo_id, 'rw_demo') AS demo_pid \gset
RESET ROLE;
SELECT ok(:demo_pid > 0, 'the worker starts from inside a transaction; its pid is returned');
SELECT ok(pg_temp.wait_worker(:demo_pid, $$a.wait_event = 'transactionid'$$),
          'it waits for the requesting transaction to end (the request row is not committed yet)');
SELECT is((SELECT row(usename, backend_type, datname)::text FROM pg_stat_activity WHERE pid = :demo_pid),
          row('rw_admin', 'aispend refresh', current_database())::text,
          'it runs as the requesting role (not a superuser), in this database');
COMMIT;

SELECT is(pg_temp.wait_state(:demo_id), 'succeeded', 'after the COMMIT the worker syncs the demo account: succeeded');
SELECT is((SELECT row(requested_by, worker_pid, started_at IS NOT NULL, finished_at >= started_at, error_sqlstate)::text
           FROM aispend.refresh_requests WHERE id = :demo_id),
          row('rw_admin', :demo_pid, true, true, NULL::text)::text,
          'the request names its role and worker, when it started and finished, and no error');
SELECT is((SELECT count(DISTINCT endpoint)::int FROM aispend.sync_runs WHERE account = 'rw_demo' AND status = 'succeeded'),
          4, 'another session sees the four endpoints'' sync_runs succeeded (the worker''s COMMITs)');
SELECT is((SELECT count(*)::int FROM aispend.sync_runs WHERE account = 'rw_demo' AND status <> 'succeeded'), 0,
          'and no step failed or was left running');
SELECT ok((SELECT count(*) FROM aispend.usage WHERE account = 'rw_demo') > 0
          AND (SELECT count(*) FROM aispend.costs WHERE account = 'rw_demo') > 0, 'usage and costs were stored');
SELECT ok(pg_temp.wait_worker(:demo_pid, 'a.pid IS NULL'), 'the worker has exited');

-- ---- 2. an account without a key: the failure is recorded, nothing is left running
SET ROLE rw_admin;
INSERT INTO aispend.refresh_requests (account) VALUES ('rw_nokey') RETURNING id AS nokey_id \gset
SELECT aispend._start_sync_worker(:nokey_id, 'rw_nokey') AS nokey_pid \gset
RESET ROLE;
SELECT is(pg_temp.wait_state(:nokey_id), 'failed', 'no key for the role: the request is marked failed');
SELECT is((SELECT row(error_sqlstate, error_message LIKE '%no admin key%', finished_at IS NOT NULL)::text
           FROM aispend.refresh_requests WHERE id = :nokey_id), '(28000,t,t)',
          'with the error''s SQLSTATE (28000) and message, and when it ended');
SELECT is((SELECT string_agg(status, ',') FROM aispend.sync_runs WHERE account = 'rw_nokey'), 'failed',
          'the sync recorded its failed step; nothing is left running');

-- ---- 3. pg_terminate_backend of a worker in the middle of a step
SET ROLE rw_admin;
INSERT INTO aispend.refresh_requests (account) VALUES ('rw_slow') RETURNING id AS slow_id \gset
SELECT aispend._start_sync_worker(:slow_id, 'rw_slow') AS slow_pid \gset
RESET ROLE;
SELECT ok(pg_temp.wait_step('rw_slow'), 'the worker is in the middle of a step (the provider answers slowly)');
SELECT is((SELECT state FROM aispend.refresh_requests WHERE id = :slow_id), 'running', 'the request is running');
SELECT ok(pg_terminate_backend(:slow_pid), 'pg_terminate_backend of the worker');
SELECT is(pg_temp.wait_state(:slow_id, 30), 'cancelled', 'the request is marked cancelled');
SELECT is((SELECT row(error_sqlstate, error_message LIKE '%terminated%')::text FROM aispend.refresh_requests
           WHERE id = :slow_id), '(57014,t)', 'with SQLSTATE 57014 and the reason');
SELECT is((SELECT string_agg(status, ',') FROM aispend.sync_runs WHERE account = 'rw_slow'), 'aborted',
          'the interrupted step is marked aborted, nothing is left running');
SELECT is((SELECT count(*)::int FROM aispend.workspaces WHERE account = 'rw_slow'), 0,
          'and the interrupted step stored nothing (rolled back)');
SELECT ok(pg_temp.wait_worker(:slow_pid, 'a.pid IS NULL'), 'the terminated worker has exited');

-- ---- 4. pg_cancel_backend likewise
SET ROLE rw_admin;
INSERT INTO aispend.refresh_requests (account) VALUES ('rw_slow2') RETURNING id AS slow2_id \gset
SELECT aispend._start_sync_worker(:slow2_id, 'rw_slow2') AS slow2_pid \gset
RESET ROLE;
SELECT ok(pg_temp.wait_step('rw_slow2'), 'another worker is in the middle of a step');
SELECT ok(pg_cancel_backend(:slow2_pid), 'pg_cancel_backend of the worker');
SELECT is(pg_temp.wait_state(:slow2_id, 30), 'cancelled', 'the request is marked cancelled');
SELECT is((SELECT string_agg(status, ',') FROM aispend.sync_runs WHERE account = 'rw_slow2'), 'aborted',
          'the interrupted step is marked aborted');

-- ---- 5. a request rolled back before the worker could run it: nothing is synced
SET ROLE rw_admin;
BEGIN;
INSERT INTO aispend.refresh_requests (account) VALUES ('rw_rollback') RETURNING id AS rb_id \gset
SELECT aispend._start_sync_worker(:rb_id, 'rw_rollback') AS rb_pid \gset
ROLLBACK;
RESET ROLE;
SELECT ok(pg_temp.wait_worker(:rb_pid, 'a.pid IS NULL')
          AND NOT EXISTS (SELECT 1 FROM aispend.sync_runs WHERE account = 'rw_rollback'),
          'a request rolled back: its worker ends without syncing anything');

-- ---- 6. who may start a worker, and what a reader sees
SET ROLE rw_nologin;
SELECT throws_ok($$SELECT aispend._start_sync_worker(0, 'rw_demo')$$, '28000', NULL,
                 'a role that cannot log in cannot run a worker (refused at once, 28000)');
RESET ROLE;
SET ROLE rw_reader;
SELECT throws_ok($$SELECT aispend._start_sync_worker(0, 'rw_demo')$$, '42501', NULL, 'a reader cannot start a worker');
SELECT throws_ok($$SELECT error_message FROM aispend.refresh_requests$$, '42501', NULL,
                 'a reader cannot read the error texts of refresh requests');
SELECT is((SELECT state FROM aispend.refresh_requests WHERE id = :nokey_id), 'failed',
          'but sees the states');
RESET ROLE;

SELECT * FROM finish();

DELETE FROM aispend.refresh_requests WHERE account IN ('rw_demo', 'rw_nokey', 'rw_slow', 'rw_slow2', 'rw_rollback');
DROP SERVER rw_demo, rw_nokey, rw_slow, rw_slow2, rw_rollback CASCADE;
SELECT count(*) >= 0 AS forgotten
FROM unnest(ARRAY['rw_demo', 'rw_nokey', 'rw_slow', 'rw_slow2', 'rw_rollback']::name[]) AS a,
     aispend.forget_account(a) \gset
DROP OWNED BY rw_admin, rw_nologin, rw_reader;
DROP ROLE rw_admin, rw_nologin, rw_reader;
