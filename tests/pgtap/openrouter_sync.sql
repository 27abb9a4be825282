-- OpenRouter end to end against the mock (tests/mock/openrouter_api.py, org "small", seed 42):
-- pg_prove --set mock_url=http://127.0.0.1:PORT. Autocommit structure, as in sync_e2e.sql (aispend.sync COMMITs).
-- The mock's /activity reports the 30 completed UTC days before the day after its anchor; the anchor is given in
-- the base URL (/mock/anchor=...), so moving it makes the window slide. Expected figures come from the mock's
-- /mock/totals?provider=openrouter for the same days.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT plan(30);

\set sept :mock_url/mock/anchor=2026-09-30
\set oct :mock_url/mock/anchor=2026-10-15
CREATE SERVER or_e2e FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openrouter', base_url :'sept');
CREATE USER MAPPING FOR CURRENT_USER SERVER or_e2e OPTIONS (admin_key 'sk-or-v1-mgmt-test');

-- ---- 1. the window 2026-09-01 .. 2026-09-30 (30 days: all of /activity)
CALL aispend.sync('or_e2e', '2026-09-01', '2026-10-01');

SELECT is(aispend.account_provider('or_e2e'), 'openrouter', 'the account''s provider is openrouter');
SELECT results_eq($$ SELECT count(*), sum(uncached_input_tokens)::bigint, sum(output_tokens)::bigint,
                            sum(requests)::bigint, count(cache_read_tokens)
                     FROM aispend.usage WHERE account = 'or_e2e' $$,
                  $$ VALUES (149::bigint, 5627393::bigint, 1689936::bigint, 3431::bigint, 0::bigint) $$,
                  'usage: rows, prompt tokens (as all input; no cache split: NULL), completion tokens (reasoning '
                  'inside, not added) and requests equal the mock''s totals');
SELECT results_eq($$ SELECT DISTINCT api_key_id FROM aispend.usage WHERE account = 'or_e2e' $$,
                  $$ VALUES ('(all keys)'::text) $$, 'usage is not split by key: ''(all keys)'', not ''(none)''');
SELECT is((SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'or_e2e' AND cost_type = 'credits'),
          13.267724850, 'credits spent: exact');
SELECT is((SELECT sum(amount_usd)::text FROM aispend.costs WHERE account = 'or_e2e' AND cost_type = 'byok_inference'),
          '7.175727000', 'BYOK inference: exact, digits as sent');
SELECT results_eq($$ SELECT cost_type, count(*) FROM aispend.costs WHERE account = 'or_e2e' GROUP BY 1 ORDER BY 1 $$,
                  $$ VALUES ('byok_inference'::text, 26::bigint), ('credits', 149) $$,
                  'one credits line per activity row, a BYOK line where BYOK is not zero');
SELECT is_empty($$ SELECT 1 FROM aispend.costs WHERE account = 'or_e2e' AND cost_type = 'byok_inference'
                   AND line_item NOT LIKE 'byok inference | Anthropic | %' $$,
                'the BYOK lines name the serving provider (the mock''s BYOK lane is Anthropic)');
SELECT is((SELECT count(DISTINCT split_part(line_item, ' | ', 3)) FROM aispend.costs WHERE account = 'or_e2e'), 6::bigint,
          'the six endpoints are kept apart on the cost lines');
SELECT is((SELECT min(bucket_start) FROM aispend.costs WHERE account = 'or_e2e'), '2026-09-01 00:00+00'::timestamptz,
          'first day 2026-09-01');
SELECT is((SELECT max(bucket_start) FROM aispend.costs WHERE account = 'or_e2e'), '2026-09-30 00:00+00'::timestamptz,
          'last day 2026-09-30: the anchor, the open day after it is never reported');
SELECT results_eq($$ SELECT provider_name, status FROM aispend.workspaces WHERE account = 'or_e2e' ORDER BY 1 $$,
                  $$ VALUES ('Agents'::text, 'active'::text), ('Default', 'active'), ('Evaluation', 'active') $$,
                  'the three workspaces');
SELECT results_eq($$ SELECT name, status FROM aispend.api_keys WHERE account = 'or_e2e' AND api_key_id NOT LIKE '(%'
                     ORDER BY 1 $$,
                  $$ VALUES ('or-key-0000'::text, 'active'::text), ('or-key-0001', 'active'), ('or-key-0002', 'active'),
                            ('or-key-0003', 'active'), ('or-key-0004', 'disabled'), ('or-key-0005', 'active') $$,
                  'the keys of every workspace, the disabled one included');

-- ---- 2. the dashboard: its own provider name and under other; BYOK inference billed elsewhere, never added
SELECT results_eq($$ SELECT total_cost, openai_cost, anthropic_cost, other_cost, requests, tokens
                     FROM aispend.workspaces_summary(daterange('2026-09-01', '2026-10-01'), provider => 'openrouter') $$,
                  $$ VALUES (13.27, 0.00, 0.00, 13.27, 3431::bigint, 7317329::bigint) $$,
                  'workspaces summary, provider openrouter: the credits spent (BYOK inference is not OpenRouter''s bill), in other_cost');
SELECT results_eq($$ SELECT total_cost, other_cost
                     FROM aispend.workspaces_summary(daterange('2026-09-01', '2026-10-01'), provider => 'other') $$,
                  $$ VALUES (13.27, 13.27) $$, 'provider other shows it too');
SELECT is_empty($$ SELECT 1 FROM aispend.workspaces_table(daterange('2026-09-01', '2026-10-01'), provider => 'openai')
                   WHERE 'or_e2e' = ANY (accounts) $$, 'provider openai does not');
SELECT results_eq($$ SELECT name, cost FROM aispend.workspaces_table(daterange('2026-09-01', '2026-10-01'),
                                                                     provider => 'openrouter') ORDER BY 1 $$,
                  $$ VALUES ('Agents'::text, 4.00), ('Default', 8.22), ('Evaluation', 1.04) $$,
                  'workspaces tab, provider openrouter');
SELECT is((SELECT sum(cost) FROM aispend.cost_facts_between('or_e2e', '2026-09-01', '2026-09-30')),
          (SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'or_e2e' AND cost_type = 'credits'
              AND bucket_start < '2026-10-01'), 'cost facts: the credits spent, to the digit, and nothing of BYOK');
CREATE SERVER or_upstream FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
SELECT results_eq($$ SELECT account, provider, billed_by, counted_in, sum(amount_usd), count(DISTINCT model)
                     FROM aispend.billed_elsewhere(daterange('2026-09-01', '2026-10-01'), 'openrouter')
                     GROUP BY 1, 2, 3, 4 $$,
                  $$ VALUES ('or_e2e'::name, 'openrouter'::text, 'Anthropic'::text, 'or_upstream'::text, 7.175727000,
                             1::bigint) $$,
                  'billed_elsewhere lists the BYOK inference exactly, billed by Anthropic, counted in its account');
SELECT is((SELECT count(*)::int FROM aispend.models_table(daterange('2026-09-01', '2026-10-01'), provider => 'all')
            WHERE model LIKE '%BYOK%'), 0, 'no tab has a BYOK row: no dollar is added twice');
DROP SERVER or_upstream;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('or_upstream') \gset
SELECT ok((SELECT count(*) FROM aispend.api_keys_table(daterange('2026-09-01', '2026-10-01'), provider => 'openrouter')) > 0,
          'API keys tab, provider openrouter, has rows');
SELECT results_eq($$ SELECT model, class FROM aispend.models_table(daterange('2026-09-01', '2026-10-01'),
                                                                   provider => 'openrouter') ORDER BY 1 $$,
                  $$ VALUES ('anthropic/claude-sonnet-4.5'::text, 'chat'::text),
                            ('deepseek/deepseek-r1', 'chat'),
                            ('google/gemini-2.5-flash', 'chat'), ('meta-llama/llama-3.3-70b-instruct', 'chat'),
                            ('openai/gpt-4.1', 'chat') $$,
                  'models tab: the vendor prefix of a slug is looked through for the class');
SELECT ok(aispend.report_html(daterange('2026-09-01', '2026-10-01'), 'openrouter') LIKE '%Other providers%$13.27%',
          'the report, provider openrouter: the other-providers card');
SELECT results_eq($$ SELECT "Provider", count(*), sum("Cost")
                     FROM aispend.workspaces_csv(daterange('2026-09-01', '2026-10-01'), provider => 'openrouter') GROUP BY 1 $$,
                  $$ VALUES ('openrouter'::text, 3::bigint, 13.26) $$,
                  'workspaces CSV, provider openrouter: the three workspaces under their provider name');

-- ---- 3. retention: a later sync (the window slid to 2026-09-16 .. 2026-10-15) deletes none of the older days
ALTER SERVER or_e2e OPTIONS (SET base_url :'oct');
CALL aispend.sync('or_e2e', '2026-09-01', '2026-10-16');
SELECT is((SELECT sum(r.rows_fetched) FROM (SELECT rows_fetched FROM aispend.sync_runs
                                           WHERE account = 'or_e2e' AND endpoint = 'usage' ORDER BY id DESC LIMIT 2) r),
          148::numeric, 'the second sync (a September and an October chunk) saw only the slid window: 148 rows');
SELECT results_eq($$ SELECT count(*), sum(requests)::bigint FROM aispend.usage
                     WHERE account = 'or_e2e' AND bucket_start < '2026-09-16' $$,
                  $$ VALUES (77::bigint, 1802::bigint) $$, 'the 15 days it no longer reports are kept');
SELECT results_eq($$ SELECT count(*), sum(amount_usd) FILTER (WHERE cost_type = 'credits'),
                            sum(amount_usd) FILTER (WHERE cost_type = 'byok_inference')
                     FROM aispend.costs WHERE account = 'or_e2e' $$,
                  $$ VALUES (265::bigint, 19.712426100, 10.156014000) $$,
                  'costs after the second sync: the kept days (7.497113680 + 3.752787000) plus the window''s');
SELECT results_eq($$ SELECT aispend._retained_since('openrouter', '2026-12-01 22:10+00'),
                            aispend._retained_since('openai', '2026-12-01 22:10+00') $$,
                  $$ VALUES ('2026-11-01 00:00+00'::timestamptz, '-infinity'::timestamptz) $$,
                  'OpenRouter keeps days before the last 30 completed UTC days; other providers report back as far as asked');

-- ---- 4. a key that is not a management key, hourly buckets
ALTER USER MAPPING FOR CURRENT_USER SERVER or_e2e OPTIONS (SET admin_key 'sk-or-v1-inference');
\set ON_ERROR_STOP 0
CALL aispend.sync('or_e2e', '2026-09-01', '2026-10-01');
\set ON_ERROR_STOP 1
SELECT :'SQLSTATE' AS st \gset
SELECT is(:'st'::text, 'AS002', 'an inference key: the provider''s 403, AS002 (auth)');
SELECT is((SELECT error_message FROM aispend.sync_runs WHERE account = 'or_e2e' ORDER BY id DESC LIMIT 1) LIKE
          '%Only management keys can perform this operation%', true, 'the provider''s message is kept');
ALTER SERVER or_e2e OPTIONS (ADD bucket_width '1h');
SELECT throws_ok($$ SELECT * FROM aispend._account_settings('or_e2e') $$, '22023',
                 'aispend: account "or_e2e": OpenRouter reports whole UTC days, bucket_width must be ''1d''',
                 'hourly buckets are refused for OpenRouter');

SELECT * FROM finish();

DROP SERVER or_e2e CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('or_e2e') \gset
