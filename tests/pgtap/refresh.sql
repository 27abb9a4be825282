-- The background refresh (issue 13): aispend.request_refresh from inside a transaction and from a function, the
-- workers running as the requesting role, two clients asking for one account (joined), cancel_refresh in the
-- middle of a step, a worker's session ending, a worker that vanished, a role without a key, what a reader may
-- do, the progress view and NOTIFY aispend_refresh. Checked from this session while the workers run.
-- pg_prove --set mock_url=http://127.0.0.1:PORT (the mock serves the demo organisation through org=demo).
-- Needs four free background worker slots (max_worker_processes), dblink and a superuser.
-- Autocommit structure, as in sync_concurrency.sql: the workers see only what this session commits.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(56);

-- a tag unique to this run: the mock counts faults per options string for its whole life
SELECT 'rf' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS run_tag \gset
\set demo_url :mock_url/mock/org=demo;tag=:run_tag/
\set slow_url :mock_url/mock/org=demo;fault=slow;delay_ms=30000;tag=:run_tag/

-- Roles are global: remove what an interrupted earlier run left behind.
DO $$
DECLARE
    r name;
BEGIN
    FOREACH r IN ARRAY ARRAY['rf_admin', 'rf_other', 'rf_nologin', 'rf_reader']::name[] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END $$;
DROP SERVER IF EXISTS rf_demo, rf_demo2, rf_nokey, rf_slow, rf_slow2 CASCADE;
CREATE ROLE rf_admin LOGIN;
CREATE ROLE rf_other LOGIN;
CREATE ROLE rf_nologin NOLOGIN;
CREATE ROLE rf_reader LOGIN;

CREATE SERVER rf_demo FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'demo_url', backfill_days '7');
CREATE SERVER rf_demo2 FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'anthropic', base_url :'demo_url', backfill_days '7');
CREATE SERVER rf_nokey FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'demo_url', backfill_days '7');
CREATE SERVER rf_slow FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'slow_url', backfill_days '7');
CREATE SERVER rf_slow2 FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'anthropic', base_url :'slow_url', backfill_days '7');
SELECT aispend.grant_admin(r) FROM unnest(ARRAY['rf_admin', 'rf_other', 'rf_nologin']::name[]) AS r;
SELECT aispend.grant_reader('rf_reader') AS granted \gset
CREATE USER MAPPING FOR rf_admin SERVER rf_demo OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR rf_admin SERVER rf_demo2 OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE USER MAPPING FOR rf_admin SERVER rf_slow OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR rf_admin SERVER rf_slow2 OPTIONS (admin_key 'sk-ant-admin01-test');
CREATE USER MAPPING FOR rf_other SERVER rf_slow OPTIONS (admin_key 'sk-admin-test-openai');
CREATE USER MAPPING FOR rf_nologin SERVER rf_demo OPTIONS (admin_key 'sk-admin-test-openai');

-- How a request's account ended, polled from this session (each statement of a volatile function sees new
-- commits).
CREATE FUNCTION pg_temp.wait_done(p_id bigint, p_account name, p_seconds integer DEFAULT 60) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    FOR i IN 1 .. p_seconds * 20 LOOP
        SELECT DISTINCT p.state INTO v FROM aispend.refresh_progress p WHERE p.request = p_id AND p.account = p_account;
        IF v IN ('succeeded', 'failed', 'cancelled') THEN
            RETURN v;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN coalesce(v, 'no request') || ' after ' || p_seconds || ' s';
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
-- Whether a process has exited.
CREATE FUNCTION pg_temp.wait_gone(p_pid integer, p_seconds integer DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_seconds * 20 LOOP
        PERFORM pg_stat_clear_snapshot();
        IF NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p_pid) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;

-- A second session listens, as a client showing a progress bar would.
CREATE FUNCTION pg_temp.conninfo(p_user name) RETURNS text LANGUAGE sql AS $$
    SELECT format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                  coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), '127.0.0.1'),
                  p_user)
$$;
SELECT dblink_connect('rf_listen', pg_temp.conninfo(current_user)) AS connected \gset
SELECT dblink_exec('rf_listen', 'LISTEN aispend_refresh') AS listening \gset

-- ---- 1. requested inside an open transaction: nothing runs before the COMMIT, then the workers sync
SET ROLE rf_admin;
BEGIN;
SELECT aispend.request_refresh(ARRAY['rf_demo', 'rf_demo2']) AS demo_id \gset
SELECT is((SELECT string_agg(account || ':' || state, ',' ORDER BY account) FROM aispend.refresh_requests
            WHERE id = :demo_id), 'rf_demo:queued,rf_demo2:queued',
          'request_refresh returns at once, inside the transaction: one queued row per account');
SELECT pg_sleep(0.5);
SELECT is((SELECT count(*)::int FROM aispend.sync_runs WHERE account IN ('rf_demo', 'rf_demo2')), 0,
          'the workers wait for the requesting transaction: nothing is fetched before it commits');
COMMIT;
RESET ROLE;
SELECT is(pg_temp.wait_done(:demo_id, 'rf_demo'), 'succeeded', 'after the COMMIT the OpenAI account is refreshed');
SELECT is(pg_temp.wait_done(:demo_id, 'rf_demo2'), 'succeeded', 'and the Anthropic one');
-- why a request did not succeed (seen once under load, unexplained): its error, and the sync_runs' errors
SELECT diag(account || ': ' || state || ', ' || coalesce(error_sqlstate, '-') || ' ' || coalesce(error_message, '-'))
  FROM aispend.refresh_requests WHERE id = :demo_id AND state <> 'succeeded';
SELECT diag(account || ' ' || endpoint || ': ' || status || ', ' || coalesce(error_message, '-'))
  FROM aispend.sync_runs WHERE account IN ('rf_demo', 'rf_demo2') AND status <> 'succeeded';
SELECT is((SELECT count(DISTINCT worker_pid)::int FROM aispend.refresh_requests WHERE id = :demo_id), 2,
          'by two workers at once (one per account)');
SELECT is((SELECT string_agg(DISTINCT requested_by, ',') FROM aispend.refresh_requests WHERE id = :demo_id),
          'rf_admin', 'as the requesting role');
SELECT is((SELECT string_agg(endpoint || ':' || endpoint_state || ':' || steps_done || '/' || steps_planned, ','
                             ORDER BY endpoint)
           FROM aispend.refresh_progress WHERE request = :demo_id AND account = 'rf_demo'),
          'api_keys:done:1/1,costs:done:2/2,usage:done:2/2,workspaces:done:1/1',
          'the progress shows each endpoint done, its steps (a 7-day backfill spans two months) all run');
SELECT is((SELECT row(sum(rows_fetched), sum(http_requests), bool_and(remaining = '0'), bool_and(elapsed > '0'))::text
           FROM aispend.refresh_progress WHERE request = :demo_id AND account = 'rf_demo'),
          (SELECT row(sum(rows_fetched), sum(http_requests), true, true)::text FROM aispend.sync_runs
            WHERE account = 'rf_demo'),
          'rows and HTTP requests are the sync_runs'' of the refresh; nothing remains; the time it took');
SELECT ok((SELECT count(*) FROM aispend.costs WHERE account = 'rf_demo') > 0
          AND (SELECT count(*) FROM aispend.usage WHERE account = 'rf_demo2') > 0, 'usage and costs were stored');
SELECT is((SELECT string_agg(DISTINCT refresh_state, ',') FROM aispend.freshness
            WHERE account IN ('rf_demo', 'rf_demo2')), NULL, 'aispend.freshness shows no refresh under way any more');

-- What the listener heard: each request state and each step, names and states only.
SELECT is((SELECT string_agg(n.extra::jsonb ->> 'state', ',' ORDER BY n.extra::jsonb ->> 'state')
           FROM dblink_get_notify('rf_listen') AS n
          WHERE n.extra::jsonb ->> 'request' = :'demo_id' AND n.extra::jsonb ->> 'account' = 'rf_demo'),
          'queued,running,succeeded', 'LISTEN aispend_refresh hears the request queued, running and succeeded');

-- ---- 2. requested from a function, in one statement (as a BI tool's button runs it)
SET ROLE rf_admin;
CREATE FUNCTION pg_temp.refresh_button() RETURNS bigint LANGUAGE sql AS $$
    SELECT aispend.request_refresh(ARRAY['rf_demo'])
$$;
SELECT pg_temp.refresh_button() AS fn_id \gset
RESET ROLE;
SET ROLE rf_admin;
SELECT is(aispend.wait_refresh(:fn_id), 'succeeded',
          'a refresh requested from a function runs too: aispend.wait_refresh waits for it and returns its state');
BEGIN;
SELECT aispend.request_refresh(ARRAY['rf_demo']) AS uncommitted_id \gset
SELECT throws_ok(format('SELECT aispend.wait_refresh(%s)', :uncommitted_id), '55000',
                 format('aispend: refresh request %s is not committed yet, so it has not started', :uncommitted_id),
                 'waiting inside the requesting transaction is refused (it would wait forever)');
ROLLBACK;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM dblink_get_notify('rf_listen') AS n
            WHERE n.extra::jsonb ->> 'account' = 'rf_demo' AND n.extra::jsonb ? 'endpoint'
              AND n.extra::jsonb ->> 'status' = 'succeeded'), 6,
          'and the listener hears each of its 6 steps succeed');

-- ---- 3. two clients, one account: the second joins the running refresh
SET ROLE rf_admin;
SELECT aispend.request_refresh(ARRAY['rf_slow']) AS slow_id \gset
RESET ROLE;
SELECT ok(pg_temp.wait_step('rf_slow'), 'a refresh of a slow account is in the middle of a step');
SELECT is((SELECT row(refresh_request, refresh_state)::text FROM aispend.freshness
            WHERE account = 'rf_slow' AND endpoint = 'workspaces'), row(:slow_id, 'running')::text,
          'aispend.freshness shows the refresh under way');
SELECT is((SELECT row(endpoint, endpoint_state, steps_done, remaining IS NULL)::text FROM aispend.refresh_progress
            WHERE request = :slow_id AND endpoint_state = 'running'), '(workspaces,running,0,t)',
          'the progress shows the endpoint in flight, no step done yet, no estimate yet');
SELECT dblink_connect('rf_client2', pg_temp.conninfo('rf_other')) AS connected \gset
SELECT id AS joined_id FROM dblink('rf_client2', 'SELECT aispend.request_refresh(ARRAY[''rf_slow''])') AS t(id bigint) \gset
SELECT is((SELECT row(state, joined_request)::text FROM aispend.refresh_requests WHERE id = :joined_id),
          row('joined', :slow_id)::text, 'a second client (another role) asking for the same account joins it');
SELECT is((SELECT row(state, joined_request)::text FROM aispend.refresh_progress
            WHERE request = :joined_id AND endpoint = 'workspaces'), row('running', :slow_id)::text,
          'and its progress is that of the running refresh');
SELECT is((SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'aispend refresh' AND usename = 'rf_other'), 0,
          'no second worker was started for it');
SET ROLE rf_admin;
SELECT throws_ok($$SELECT aispend.request_refresh(ARRAY['rf_slow'], since => now() - interval '30 days')$$,
                 '55P03', NULL, 'a request reaching further back than the running one is refused (55P03), not queued');
RESET ROLE;

-- ---- 4. cancel_refresh in the middle of a step: the step rolls back, the request is cancelled
SET ROLE rf_other;
SELECT throws_ok(format('SELECT aispend.cancel_refresh(%s)', :slow_id), '42501', NULL,
                 'another role cannot cancel it');
RESET ROLE;
SET ROLE rf_admin;
SELECT is(aispend.cancel_refresh(:slow_id), 1, 'its role cancels it: one account');
RESET ROLE;
SELECT is(pg_temp.wait_done(:slow_id, 'rf_slow', 30), 'cancelled', 'the request is marked cancelled');
SELECT is(pg_temp.wait_done(:joined_id, 'rf_slow', 30), 'cancelled', 'and so is the one that joined it');
SELECT is((SELECT string_agg(status, ',') FROM aispend.sync_runs WHERE account = 'rf_slow'), 'aborted',
          'the interrupted step is marked aborted, nothing is left running');
SELECT is((SELECT count(*)::int FROM aispend.workspaces WHERE account = 'rf_slow'), 0,
          'and the interrupted step stored nothing (rolled back)');
SELECT is((SELECT endpoint_state FROM aispend.refresh_progress WHERE request = :slow_id AND endpoint = 'workspaces'),
          'failed', 'the progress shows where it stopped');
SELECT is((SELECT endpoint_state FROM aispend.refresh_progress WHERE request = :slow_id AND endpoint = 'costs'),
          'not reached', 'and what it did not reach');

-- ---- 5. a queued request cancelled before it started; a joined one cancelled alone
SET ROLE rf_admin;
BEGIN;
SELECT aispend.request_refresh(ARRAY['rf_demo']) AS queued_id \gset
SELECT is(aispend.cancel_refresh(:queued_id), 1, 'a request cancelled before its worker took it');
COMMIT;
RESET ROLE;
SELECT is((SELECT row(state, error_message)::text FROM aispend.refresh_requests WHERE id = :queued_id),
          '(cancelled,"cancelled before it started")', 'is cancelled and never runs');

-- ---- 6. the worker's session ends (pg_terminate_backend): failed, nothing left running
SET ROLE rf_admin;
SELECT aispend.request_refresh(ARRAY['rf_slow2']) AS term_id \gset
RESET ROLE;
SELECT ok(pg_temp.wait_step('rf_slow2'), 'another refresh is in the middle of a step');
SELECT worker_pid AS term_pid FROM aispend.refresh_requests WHERE id = :term_id \gset
SELECT ok(pg_terminate_backend(:term_pid), 'its worker''s session is terminated');
SELECT is(pg_temp.wait_done(:term_id, 'rf_slow2', 30), 'failed', 'the request is marked failed');
SELECT is((SELECT row(error_sqlstate, error_message LIKE '%terminated%')::text FROM aispend.refresh_requests
           WHERE id = :term_id), '(57P01,t)', 'with SQLSTATE 57P01 and the reason');
SELECT is((SELECT string_agg(status, ',') FROM aispend.sync_runs WHERE account = 'rf_slow2'), 'aborted',
          'its step is marked aborted, nothing is left running');
SELECT ok(pg_temp.wait_gone(:term_pid), 'the worker has exited');

-- ---- 7. a worker that vanished without a word (a crash): its request shows failed, and is marked so
INSERT INTO aispend.refresh_requests (id, account, requested_by, state, started_at, worker_pid)
VALUES (nextval('aispend.refresh_request_ids'), 'rf_demo2', 'rf_admin', 'running', now(), :term_pid)
RETURNING id AS ghost_id \gset
SELECT is((SELECT DISTINCT state FROM aispend.refresh_progress WHERE request = :ghost_id), 'failed',
          'a request left running by a worker that is gone shows failed');
SET ROLE rf_admin;
SELECT aispend.request_refresh(ARRAY['rf_demo2']) AS after_id \gset
RESET ROLE;
SELECT is((SELECT row(state, error_sqlstate)::text FROM aispend.refresh_requests WHERE id = :ghost_id), '(failed,57P01)',
          'the next request marks it failed, and is not joined to it');
SELECT is(pg_temp.wait_done(:after_id, 'rf_demo2'), 'succeeded', 'the next request runs');

-- ---- 8. refused at request time
SET ROLE rf_admin;
SELECT throws_ok($$SELECT aispend.request_refresh(ARRAY['rf_nokey'])$$, '28000',
                 'aispend: role rf_admin has no admin key for account rf_nokey',
                 'a role without a key for the account gets a clear error at once (28000)');
SELECT throws_ok($$SELECT aispend.request_refresh(ARRAY['rf_nosuch'])$$, '42704', NULL, 'an unknown account: 42704');
SELECT throws_ok($$SELECT aispend.request_refresh(since => now() + interval '1 day')$$, '22023', NULL,
                 'a since in the future: 22023');
SELECT throws_ok($$SELECT aispend.cancel_refresh(-1)$$, 'P0002', NULL, 'cancelling no request: P0002');
SELECT throws_ok($$SELECT aispend.request_refresh(since => '-infinity')$$, '22023', NULL,
                 'since => -infinity: 22023 (a window without a start would never end)');
SELECT throws_ok($$CALL aispend.sync('rf_demo', since => '-infinity')$$, '22023', NULL,
                 'and so does a sync from -infinity');
SELECT throws_ok($$INSERT INTO aispend.refresh_requests (id, account, requested_by) VALUES (-2, 'rf_slow', 'rf_other')$$,
                 '42501', NULL, 'an admin cannot queue work under another role''s name (row-level security)');
SET ROLE rf_other;
UPDATE aispend.refresh_requests SET state = 'queued' WHERE account = 'rf_demo';
RESET ROLE;
SELECT is((SELECT count(*)::int FROM aispend.refresh_requests WHERE account = 'rf_demo' AND state = 'queued'), 0,
          'another role''s requests are not its to change (row-level security: its UPDATE sees none)');
SET ROLE rf_nologin;
SELECT throws_ok($$SELECT aispend.request_refresh(ARRAY['rf_demo'])$$, '28000', NULL,
                 'a role that cannot log in cannot run a worker (refused at once, 28000)');
RESET ROLE;

-- ---- 9. a reader watches, but cannot request or cancel
SET ROLE rf_reader;
SELECT throws_ok($$SELECT aispend.request_refresh()$$, '42501', NULL, 'a reader cannot request a refresh');
SELECT throws_ok(format('SELECT aispend.cancel_refresh(%s)', :demo_id), '42501', NULL, 'nor cancel one');
SELECT is((SELECT DISTINCT state FROM aispend.refresh_progress WHERE request = :demo_id AND account = 'rf_demo'),
          'succeeded', 'but watches the progress');
SELECT throws_ok($$SELECT error_message FROM aispend.refresh_requests$$, '42501', NULL,
                 'and cannot read the error texts of refresh requests');
RESET ROLE;

-- ---- 10. a transaction that looked at pg_stat_activity before a worker started still sees it alive
BEGIN;
SELECT count(*) >= 0 AS looked FROM pg_stat_activity \gset
SELECT id AS late_id FROM dblink('rf_client2', 'SELECT aispend.request_refresh(ARRAY[''rf_slow''])') AS t(id bigint) \gset
SELECT ok(pg_temp.wait_step('rf_slow'), 'another session''s refresh is in the middle of a step');
SELECT is((SELECT DISTINCT state FROM aispend.refresh_progress WHERE request = :late_id), 'running',
          'and shows running here, though this transaction read pg_stat_activity before its worker started');
COMMIT;
SELECT n AS cancelled FROM dblink('rf_client2', format('SELECT aispend.cancel_refresh(%s)', :late_id)) AS t(n integer) \gset
SELECT is(pg_temp.wait_done(:late_id, 'rf_slow', 30), 'cancelled', 'its role cancels it');
-- why it was not (seen once in the test command, unexplained): the request and its sync runs
SELECT diag('late request: ' || account || ' ' || state || ', worker ' || coalesce(worker_pid::text, '-') || ', ' ||
            coalesce(error_sqlstate, '-') || ' ' || coalesce(error_message, '-') || ', cancelled: ' || :cancelled)
  FROM aispend.refresh_requests WHERE id = :late_id AND state <> 'cancelled';
SELECT diag('late run: ' || endpoint || ' ' || status || ' ' || coalesce(error_message, '-'))
  FROM aispend.sync_runs WHERE account = 'rf_slow' AND started_at > (SELECT requested_at FROM aispend.refresh_requests
                                                                     WHERE id = :late_id LIMIT 1)
   AND EXISTS (SELECT 1 FROM aispend.refresh_requests WHERE id = :late_id AND state <> 'cancelled');

SELECT * FROM finish();

SELECT dblink_disconnect('rf_listen') AS closed \gset
SELECT dblink_disconnect('rf_client2') AS closed \gset
DELETE FROM aispend.refresh_requests WHERE account IN ('rf_demo', 'rf_demo2', 'rf_nokey', 'rf_slow', 'rf_slow2');
DROP SERVER rf_demo, rf_demo2, rf_nokey, rf_slow, rf_slow2 CASCADE;
SELECT count(*) >= 0 AS forgotten
FROM unnest(ARRAY['rf_demo', 'rf_demo2', 'rf_nokey', 'rf_slow', 'rf_slow2']::name[]) AS a,
     aispend.forget_account(a) \gset
DROP OWNED BY rf_admin, rf_other, rf_nologin, rf_reader;
DROP ROLE rf_admin, rf_other, rf_nologin, rf_reader;
