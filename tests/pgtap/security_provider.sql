-- A hostile provider (issue 11, findings 4, 5, 6, 8, 9, 11), driven through the mock's fault prefix: it echoes the
-- key back, pages forever, sends a page of millions of tiny values, long multibyte or non-UTF-8 text, and
-- numbers that do not fit. Each sync fails with a clear error, promptly, in bounded memory, and what
-- sync_runs stores is valid UTF-8 without the key. Autocommit structure as in sync_faults.sql.
-- pg_prove --set mock_url=http://127.0.0.1:PORT
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT plan(21);

CREATE SERVER hp_openai FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'mock_url', max_retries '0', timeout_ms '20000');
CREATE USER MAPPING FOR CURRENT_USER SERVER hp_openai OPTIONS (admin_key 'sk-admin-test-openai');
SELECT pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS run \gset
-- the latest run's error message, and whether it is valid UTF-8 (convert_from checks the encoding)
CREATE FUNCTION pg_temp.last_error() RETURNS text LANGUAGE sql AS $$
    SELECT error_message FROM aispend.sync_runs WHERE account = 'hp_openai' ORDER BY id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.valid_utf8(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(convert_to(t, 'UTF8'), 'UTF8') = t;
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN false;
END
$$;

\set ON_ERROR_STOP 0

-- finding 9: echoes of the key (cased, cut, base64) reached the error, the log and sync_runs
\set u :mock_url/mock/fault=keyecho;tag=a:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS002', 'a provider echoing the key: AS002');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/projects: HTTP 401 invalid_request_error: Invalid key [redacted]; KEY=[redacted]; key=[redacted]; starts [redacted]...; ends ...[redacted]; b64 [redacted]; header QmVhcmVyIHNr[redacted] (after 0 retries)',
          'every echo is masked in sync_runs');
SELECT ok(pg_temp.last_error() !~* '(test-openai|sk-admin-test|c2stYWRtaW4tdGVzdC1vcGVuYWk)',
          'no form of the key is left');

-- finding 4: a fresh cursor on every page ran until statement_timeout
\set u :mock_url/mock/fault=endless;tag=b:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u', ADD max_pages '30');
SELECT clock_timestamp() AS t0 \gset
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS008', 'endless pagination: AS008');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/projects: too many pages: the provider still had more after 30 pages in one sync step (server option max_pages)',
          'the error names the page budget');
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '10 seconds', 'and comes promptly');
ALTER SERVER hp_openai OPTIONS (DROP max_pages);

-- finding 5: a page just under the size cap, of many tiny values, took the backend to 5 GB
\set u :mock_url/mock/fault=manysmall;after=5;tag=c:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS006', 'a page of millions of tiny values: AS006');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/usage/completions: response too large: parsing it needs more than 512 MiB (aispend.max_parse_mb) (after 0 retries)',
          'the error names the parse budget');
SELECT cmp_ok(substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmHWM:\s+(\d+)')::bigint,
              '<', 1024 * 1024::bigint, 'the backend''s peak memory stayed under 1 GiB (64 MiB body + 512 MiB parse)');

-- finding 11: a statement_timeout during a long parse landed 3-7 s late
SET aispend.max_parse_mb = 4096;  -- let the parse run long enough to be interrupted
\set u :mock_url/mock/fault=manysmall;after=5;tag=d:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
SET statement_timeout = '1500ms';
SELECT clock_timestamp() AS t0 \gset
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
RESET statement_timeout;
RESET aispend.max_parse_mb;
SELECT is(:'st'::text, '57014', 'statement_timeout during the parse: 57014');
SELECT cmp_ok(clock_timestamp() - :'t0'::timestamptz, '<', interval '3 seconds',
              'the cancel lands within 1.5 s of the timeout');
SELECT is((SELECT string_agg(endpoint || ' ' || status, ',' ORDER BY id) FROM aispend.sync_runs
           WHERE account = 'hp_openai' AND started_at >= :'t0' AND status IN ('running', 'aborted')),
          'usage aborted', 'the interrupted step is recorded as aborted, none is left running');

-- finding 6: multibyte text cut by bytes stored invalid UTF-8
\set u :mock_url/mock/fault=multibyte;after=5;tag=e:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS001', 'a long multibyte error message: AS001');
SELECT is(length(substring(pg_temp.last_error() FROM 'server_error: (.*)\.\.\. \(after 0 retries\)$')), 300,
          'the provider''s message is cut at 300 characters, not bytes');
SELECT ok(pg_temp.valid_utf8(pg_temp.last_error()), 'and stored as valid UTF-8');

\set u :mock_url/mock/fault=badutf8;tag=f:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS003', 'a body that is not UTF-8: AS003');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/projects: HTTP 200; invalid JSON at line 1 column 85: unable to decode byte 0xe9',
          'its bytes are not echoed into sync_runs');

-- finding 8: numbers past int64 wrapped silently (2 x INT64_MAX tokens became -2, a huge created_at 1969)
\set u :mock_url/mock/fault=overflow;tag=g:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/projects: HTTP 200; data[0].created_at: time 100000000000000000 is outside the years 0001 to 9999',
          'a creation time beyond any calendar is an error naming the field');
\set u :mock_url/mock/fault=overflow;after=5;tag=h:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/usage/completions: HTTP 200; data[0].results[0]: input_audio_tokens + input_cached_audio_tokens overflows a 64-bit integer',
          'token sums past int64 are an error naming the fields');
\set u :mock_url/mock/fault=negative;after=5;tag=i:run/
ALTER SERVER hp_openai OPTIONS (SET base_url :'u');
CALL aispend.sync('hp_openai', '2026-09-01', '2026-10-01');
SELECT is(pg_temp.last_error(),
          'aispend account "hp_openai": openai GET ' || rtrim(:'u', '/') || '/v1/organization/usage/completions: HTTP 200; data[0].results[0].input_tokens: must not be negative, got -5',
          'a negative token count is an error naming the field');

\set ON_ERROR_STOP 1
SELECT is_empty($$ SELECT 1 FROM aispend.usage WHERE account = 'hp_openai' $$,
                'no usage row of the hostile provider was stored');

SELECT * FROM finish();

DROP SERVER hp_openai CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('hp_openai') \gset
