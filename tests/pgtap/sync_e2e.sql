-- End-to-end sync against the mock providers (tests/mock, org "small", seed 42): pg_prove --set mock_url=http://127.0.0.1:PORT
--
-- Structure: aispend.sync is a PROCEDURE that COMMITs per chunk, so it cannot run inside BEGIN ... ROLLBACK.
-- This file therefore runs in autocommit mode: plan() first, CALLs as top-level statements between the
-- assertions (pgTAP keeps its state in session temp tables), finish(), then explicit cleanup
-- (DROP SERVER, aispend.forget_account). Expected figures come from the mock's /mock/totals for the window
-- (deterministic for a fixed window).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(24);

CREATE SERVER e2e_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER e2e_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE SERVER e2e_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER e2e_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');

-- A checksum of every synced table for some accounts (dimensions without last_seen, which every listing moves).
CREATE FUNCTION pg_temp.snap(accts name[]) RETURNS TABLE (tbl text, md5 text) LANGUAGE sql AS $$
    SELECT 'usage', md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM aispend.usage t WHERE account = ANY (accts)
    UNION ALL
    SELECT 'costs', md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM aispend.costs t WHERE account = ANY (accts)
    UNION ALL
    SELECT 'models', md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM aispend.models t WHERE account = ANY (accts)
    UNION ALL
    SELECT 'workspaces', md5(coalesce(string_agg(ROW(t.account, t.provider, t.workspace_id, t.provider_name, t.display_name,
               t.status, t.created_at, t.archived_at, t.first_seen)::text, ',' ORDER BY t.workspace_id), ''))
      FROM aispend.workspaces t WHERE account = ANY (accts)
    UNION ALL
    SELECT 'api_keys', md5(coalesce(string_agg(ROW(t.account, t.provider, t.api_key_id, t.name, t.key_hint, t.status,
               t.workspace_id, t.owner, t.created_at, t.last_used_at, t.first_seen)::text, ',' ORDER BY t.api_key_id), ''))
      FROM aispend.api_keys t WHERE account = ANY (accts)
$$;
CREATE TEMP TABLE snaps (label text, tbl text, md5 text);

-- ---- 1. full sync of September 2026
CALL aispend.sync('e2e_openai', '2026-09-01', '2026-10-01');
CALL aispend.sync('e2e_anthropic', '2026-09-01', '2026-10-01');

SELECT results_eq($$
    SELECT count(*), sum(uncached_input_tokens)::bigint, sum(cache_read_tokens)::bigint,
           sum(cache_write_5m_tokens)::bigint, sum(output_tokens)::bigint, sum(requests)::bigint
    FROM aispend.usage WHERE account = 'e2e_openai' $$,
    $$ VALUES (491::bigint, 72408653::bigint, 29308020::bigint, 2537944::bigint, 25841017::bigint, 60061::bigint) $$,
    'OpenAI usage: rows and token sums equal the mock''s totals');
SELECT results_eq($$
    SELECT count(*), sum(uncached_input_tokens)::bigint, sum(cache_read_tokens)::bigint,
           sum(cache_write_5m_tokens)::bigint, sum(cache_write_1h_tokens)::bigint, sum(output_tokens)::bigint,
           sum(web_search_requests)::bigint
    FROM aispend.usage WHERE account = 'e2e_anthropic' $$,
    $$ VALUES (467::bigint, 90495429::bigint, 54646004::bigint, 7540596::bigint, 0::bigint, 31532854::bigint, 7::bigint) $$,
    'Anthropic usage: rows and token sums equal the mock''s totals');
SELECT is((SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'e2e_openai'),
          236.137272126241097131930, 'OpenAI billed cost is exact');
SELECT is((SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'e2e_anthropic'),
          820.827531360, 'Anthropic billed cost is exact (cents / 100)');
SELECT is((SELECT count(*) FROM aispend.usage WHERE account = 'e2e_anthropic' AND requests IS NOT NULL), 0::bigint,
          'Anthropic requests are NULL, never 0');
SELECT is_empty($$ SELECT 1 FROM aispend.usage WHERE workspace_id IS NULL OR api_key_id IS NULL $$,
                'no NULL workspace / key in usage (sentinels)');
SELECT is_empty($$
    SELECT u.workspace_id FROM aispend.usage u
    WHERE u.account IN ('e2e_openai', 'e2e_anthropic')
      AND NOT EXISTS (SELECT 1 FROM aispend.workspaces w WHERE w.account = u.account AND w.workspace_id = u.workspace_id)
    UNION ALL
    SELECT u.api_key_id FROM aispend.usage u
    WHERE u.account IN ('e2e_openai', 'e2e_anthropic')
      AND NOT EXISTS (SELECT 1 FROM aispend.api_keys k WHERE k.account = u.account AND k.api_key_id = u.api_key_id) $$,
    'every usage row joins to a workspace and a key row');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account IN ('e2e_openai', 'e2e_anthropic') AND status = 'succeeded'),
          8::bigint, 'one succeeded sync_runs row per account and endpoint');
SELECT is((SELECT complete_through FROM aispend.freshness WHERE account = 'e2e_openai' AND endpoint = 'usage'),
          '2026-10-01 00:00+00'::timestamptz, 'freshness: usage complete through the window end');
SELECT ok((SELECT sum(http_requests) > 0 FROM aispend.sync_runs WHERE account = 'e2e_openai'),
          'sync_runs records the HTTP requests');

-- ---- 2. re-sync of the same window changes nothing
INSERT INTO snaps SELECT 'first', * FROM pg_temp.snap('{e2e_openai,e2e_anthropic}');
SELECT max(id) AS before_id FROM aispend.sync_runs \gset
CALL aispend.sync('e2e_openai', '2026-09-01', '2026-10-01');
CALL aispend.sync('e2e_anthropic', '2026-09-01', '2026-10-01');
INSERT INTO snaps SELECT 'resync', * FROM pg_temp.snap('{e2e_openai,e2e_anthropic}');
SELECT set_eq($$ SELECT tbl, md5 FROM snaps WHERE label = 'resync' $$, $$ SELECT tbl, md5 FROM snaps WHERE label = 'first' $$,
              're-sync: every table checksum unchanged');
SELECT is((SELECT sum(rows_inserted + rows_updated + rows_deleted) FROM aispend.sync_runs WHERE id > :before_id),
          0::numeric, 're-sync: sync_runs report 0 inserted / updated / deleted');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE id > :before_id AND status = 'succeeded'), 8::bigint,
          're-sync: all 8 steps succeeded');

-- ---- 3. a provider-side change of one past day changes that day only
\set bump_url :mock_url/mock/bump=2026-09-15/
SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS other_days FROM aispend.usage t
 WHERE account = 'e2e_openai' AND bucket_start <> '2026-09-15 00:00+00' \gset
SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS the_day FROM aispend.usage t
 WHERE account = 'e2e_openai' AND bucket_start = '2026-09-15 00:00+00' \gset
SELECT max(id) AS before_id FROM aispend.sync_runs \gset
ALTER SERVER e2e_openai OPTIONS (SET base_url :'bump_url');
CALL aispend.sync('e2e_openai', '2026-09-01', '2026-10-01');
ALTER SERVER e2e_openai OPTIONS (SET base_url :'mock_url');
SELECT is((SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM aispend.usage t
            WHERE account = 'e2e_openai' AND bucket_start <> '2026-09-15 00:00+00'), :'other_days',
          'bump: the other days are unchanged');
SELECT isnt((SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM aispend.usage t
              WHERE account = 'e2e_openai' AND bucket_start = '2026-09-15 00:00+00'), :'the_day',
            'bump: the bumped day changed');
SELECT ok((SELECT sum(rows_inserted + rows_updated + rows_deleted) > 0 FROM aispend.sync_runs
            WHERE id > :before_id AND endpoint = 'usage'), 'bump: sync_runs count the changes');
-- and syncing the original data again restores the first state exactly
CALL aispend.sync('e2e_openai', '2026-09-01', '2026-10-01');
INSERT INTO snaps SELECT 'restored', * FROM pg_temp.snap('{e2e_openai,e2e_anthropic}');
SELECT set_eq($$ SELECT tbl, md5 FROM snaps WHERE label = 'restored' $$, $$ SELECT tbl, md5 FROM snaps WHERE label = 'first' $$,
              'bump undone: every table back to the first checksum');

-- ---- 4. windows and chunks: a 2-month window is committed as two monthly chunks
SELECT max(id) AS before_id FROM aispend.sync_runs \gset
CALL aispend.sync('e2e_anthropic', '2026-08-01', '2026-10-01');
SELECT results_eq($$ SELECT window_start, window_end FROM aispend.sync_runs
                     WHERE id > $$ || :before_id || $$ AND endpoint = 'usage' ORDER BY id $$,
    $$ VALUES ('2026-08-01 00:00+00'::timestamptz, '2026-09-01 00:00+00'::timestamptz),
              ('2026-09-01 00:00+00', '2026-10-01 00:00+00') $$,
    'a long window is split into calendar-month chunks');
SELECT is((SELECT rows_inserted + rows_updated + rows_deleted FROM aispend.sync_runs
            WHERE id > :before_id AND endpoint = 'usage' AND window_start = '2026-09-01 00:00+00'), 0::bigint,
          'the already-synced chunk reports no change');
-- unaligned since/until are widened to whole UTC days
SELECT max(id) AS before_id FROM aispend.sync_runs \gset
CALL aispend.sync('e2e_anthropic', '2026-09-10 13:00+00', '2026-09-11 01:00+00');
SELECT results_eq($$ SELECT window_start, window_end FROM aispend.sync_runs
                     WHERE id > $$ || :before_id || $$ AND endpoint = 'costs' $$,
    $$ VALUES ('2026-09-10 00:00+00'::timestamptz, '2026-09-12 00:00+00'::timestamptz) $$,
    'since / until are aligned down / up to the bucket width');
SELECT throws_ok($$ CALL aispend.sync('e2e_nope') $$, '42704', NULL, 'unknown account: 42704');
SELECT throws_ok($$ CALL aispend.sync('e2e_openai', '2026-10-01', '2026-09-01') $$, '22023', NULL,
                 'since after until: 22023');

-- ---- 5. a dropped server keeps its data until forget_account
DROP SERVER e2e_anthropic CASCADE;
SELECT ok((SELECT count(*) > 0 FROM aispend.usage WHERE account = 'e2e_anthropic'), 'dropping the server keeps its data');
SELECT ok((SELECT sum(rows_deleted) > 0 FROM aispend.forget_account('e2e_anthropic')), 'forget_account deletes it');

SELECT * FROM finish();

-- cleanup
DROP SERVER e2e_openai CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('e2e_openai') \gset
