-- Two syncs of one account never run at once; runs left 'running' by a dead sync are marked 'aborted'.
-- pg_prove --set mock_url=http://127.0.0.1:PORT; needs dblink (postgresql-contrib) and a superuser with local
-- trust (the second session connects through the server's Unix socket). Autocommit structure as in sync_e2e.sql.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(9);

-- a tag unique to this run: the mock counts count=/after= per options string for its whole life
SELECT 'cc' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS run_tag \gset
\set slow_url :mock_url/mock/fault=slow;delay_ms=3000;count=1;tag=:run_tag/
CREATE SERVER cc_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'slow_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER cc_openai OPTIONS (admin_key 'sk-admin-test-openai');

-- Session 2 starts a sync whose first response is slow.
SELECT dblink_connect('cc', format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                                   coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
                                            '127.0.0.1'), current_user)) AS connected \gset
SELECT dblink_send_query('cc', $$CALL aispend.sync('cc_openai', '2026-09-01', '2026-10-01')$$) AS sent \gset
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN aispend._sync_lock_held('cc_openai');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;

SELECT ok(aispend._sync_lock_held('cc_openai'), 'the first sync holds the account lock');
SELECT throws_ok($$ CALL aispend.sync('cc_openai', '2026-09-01', '2026-10-01') $$, '55P03',
                 'aispend: a sync of account cc_openai is already running', 'a second sync of the account: 55P03');
SELECT ok((SELECT bool_or(running) FROM aispend.freshness WHERE account = 'cc_openai'),
          'freshness shows the account running');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account = 'cc_openai' AND status = 'running'), 1::bigint,
          'the running step is visible (committed) in sync_runs');

SELECT count(*) AS results FROM dblink_get_result('cc') AS t(status text) \gset
SELECT dblink_disconnect('cc') AS disconnected \gset

SELECT ok(NOT aispend._sync_lock_held('cc_openai'), 'the lock is released at the end');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account = 'cc_openai' AND status = 'succeeded'), 4::bigint,
          'the first sync finished all four steps');

-- A run left 'running' by a crashed sync is marked aborted by the next sync of the account.
INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, status)
VALUES ('cc_openai', 'usage', '2026-09-01', '2026-10-01', 'running');
SELECT max(id) AS stale_id FROM aispend.sync_runs \gset
SELECT ok(NOT (SELECT bool_or(running) FROM aispend.freshness WHERE account = 'cc_openai'),
          'a stale running row without the lock is not shown as running');
ALTER SERVER cc_openai OPTIONS (SET base_url :'mock_url');
CALL aispend.sync('cc_openai', '2026-09-01', '2026-10-01');
SELECT is((SELECT status FROM aispend.sync_runs WHERE id = :stale_id), 'aborted', 'the stale run is marked aborted');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account = 'cc_openai' AND status = 'running'), 0::bigint,
          'nothing is left running');

SELECT * FROM finish();

DROP SERVER cc_openai CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('cc_openai') \gset
