-- Faults during a second sync leave every table exactly as it was and leave a failed sync_runs row.
-- pg_prove --set mock_url=http://127.0.0.1:PORT. Autocommit structure, as in sync_e2e.sql: aispend.sync COMMITs,
-- so it runs as top-level CALLs between assertions; a failing CALL is allowed with ON_ERROR_STOP off and its
-- SQLSTATE read from psql's :SQLSTATE. Each fault URL carries its own tag= so the mock counts it afresh;
-- after=K lets the first K requests through, so faults hit different endpoints of the sync.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT plan(23);

CREATE SERVER flt_openai FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'mock_url', max_retries '1', timeout_ms '1500');
CREATE USER MAPPING FOR CURRENT_USER SERVER flt_openai OPTIONS (admin_key 'sk-admin-test-openai');

CREATE FUNCTION pg_temp.snap() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM aispend.usage t WHERE account = 'flt_openai'),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM aispend.costs t WHERE account = 'flt_openai'),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM aispend.models t WHERE account = 'flt_openai'),
        (SELECT string_agg(ROW(t.workspace_id, t.provider_name, t.display_name, t.status, t.created_at, t.archived_at,
                               t.first_seen)::text, ',' ORDER BY t.workspace_id)
           FROM aispend.workspaces t WHERE account = 'flt_openai'),
        (SELECT string_agg(ROW(t.api_key_id, t.name, t.key_hint, t.status, t.workspace_id, t.owner, t.created_at,
                               t.last_used_at, t.first_seen)::text, ',' ORDER BY t.api_key_id)
           FROM aispend.api_keys t WHERE account = 'flt_openai')))
$$;

CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT pg_temp.snap() AS good \gset
-- a tag unique to this run: the mock counts after= / count= per options string for its whole life
SELECT pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS run \gset

-- One fault: point the server at the fault URL, sync, point it back; then check.
\set ON_ERROR_STOP 0

\set u :mock_url/mock/fault=500;after=5;tag=a:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS001', '500 beyond retries: AS001');
SELECT is(pg_temp.snap(), :'good', '500: tables unchanged');

\set u :mock_url/mock/fault=429;retry_after=0;tag=b:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS005', '429 beyond the retry budget: AS005');
SELECT is(pg_temp.snap(), :'good', '429: tables unchanged');

\set u :mock_url/mock/fault=timeout;delay_ms=5000;after=7;tag=c:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS004', 'timeout: AS004');
SELECT is(pg_temp.snap(), :'good', 'timeout: tables unchanged');

\set u :mock_url/mock/fault=truncate;after=5;tag=d:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT ok(:'st' IN ('AS003', 'AS004'), 'truncated body: AS003 or AS004 (got ' || :'st' || ')');
SELECT is(pg_temp.snap(), :'good', 'truncate: tables unchanged');

\set u :mock_url/mock/fault=malformed;after=1;tag=e:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS003', 'malformed JSON: AS003');
SELECT is(pg_temp.snap(), :'good', 'malformed: tables unchanged');

\set u :mock_url/mock/fault=wrongtype;after=5;tag=f:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS003', 'mistyped field: AS003');
SELECT is(pg_temp.snap(), :'good', 'wrongtype: tables unchanged');

\set u :mock_url/mock/fault=cursorloop;after=5;tag=g:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS007', 'pagination cursor loop: AS007');
SELECT is(pg_temp.snap(), :'good', 'cursorloop: tables unchanged');

\set u :mock_url/mock/fault=401;tag=h:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url');
SELECT is(:'st'::text, 'AS002', '401: AS002');
SELECT is(pg_temp.snap(), :'good', '401: tables unchanged');

-- statement_timeout in the middle of a sync (a slow usage response): 57014, tables unchanged, run 'aborted'.
\set u :mock_url/mock/fault=slow;delay_ms=4000;after=5;tag=i:run/
ALTER SERVER flt_openai OPTIONS (SET base_url :'u', SET timeout_ms '20000');
SET statement_timeout = '1500ms';
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
RESET statement_timeout;
ALTER SERVER flt_openai OPTIONS (SET base_url :'mock_url', SET timeout_ms '1500');
SELECT is(:'st'::text, '57014', 'statement_timeout mid-sync: 57014');
SELECT is(pg_temp.snap(), :'good', 'statement_timeout: tables unchanged');
SELECT is((SELECT status FROM aispend.sync_runs WHERE account = 'flt_openai' ORDER BY id DESC LIMIT 1), 'aborted',
          'statement_timeout: the run is recorded as aborted');

\set ON_ERROR_STOP 1

SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account = 'flt_openai' AND status = 'failed'), 8::bigint,
          'one failed sync_runs row per fault');
SELECT is_empty($$ SELECT id FROM aispend.sync_runs WHERE account = 'flt_openai' AND status = 'failed'
                   AND (error_sqlstate IS NULL OR error_message NOT LIKE '%flt_openai%' OR finished_at IS NULL) $$,
                'failed rows carry SQLSTATE, a message naming the account, and a finish time');
SELECT is_empty($$ SELECT id FROM aispend.sync_runs WHERE account = 'flt_openai'
                   AND (error_message LIKE '%sk-admin%' OR error_detail LIKE '%sk-admin%') $$,
                'no admin key in sync_runs');
-- after the faults, a normal sync still works and changes nothing
CALL aispend.sync('flt_openai', '2026-09-01', '2026-10-01');
SELECT is(pg_temp.snap(), :'good', 'a clean sync after the faults changes nothing');

SELECT * FROM finish();

DROP SERVER flt_openai CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('flt_openai') \gset
