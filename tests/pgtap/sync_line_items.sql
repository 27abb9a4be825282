-- Provider strings change without notice (issue 12): the same organisation synced twice, once as the provider
-- serves it and once with every OpenAI cost kind rewritten (tests/mock fault=newkinds: "Input (standard)",
-- "output | priority", "cached input, flex", and "sparkle units v2" that no rule knows). Every model keeps its
-- cost, nothing moves into the tool fees row, and the unknown kind is listed with its amount. And Anthropic's
-- default workspace shows its own name and id. Autocommit (aispend.sync COMMITs), as sync_e2e.sql.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(18);

CREATE SERVER li_plain FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER li_plain OPTIONS (admin_key 'sk-admin-test-openai');
\set newkinds :mock_url/mock/fault=newkinds
CREATE SERVER li_new FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'newkinds');
CREATE USER MAPPING FOR CURRENT_USER SERVER li_new OPTIONS (admin_key 'sk-admin-test-openai');
CREATE SERVER li_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER li_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');

-- every sync evaluates the alert rules at its end: li_anthropic is stale after the first sync, synced after the last
SELECT aispend.set_alert_rule('li stale', 'stale_data') \gset
CALL aispend.sync('li_plain', '2026-09-01', '2026-10-01');
CALL aispend.sync('li_new', '2026-09-01', '2026-10-01');
CALL aispend.sync('li_anthropic', '2026-09-01', '2026-10-01');

-- ---- the parser, as SQL sees it
SELECT results_eq($$ SELECT p.surface, p.model, p.kind, p.token_class, p.tier
                     FROM unnest(ARRAY['gpt-4o-2024-08-06, input', 'evals | gpt-4o-mini-2024-07-18, cached input',
                                       'gpt-5, output | priority', 'batch | gpt-4o, Input (Batch)',
                                       'gpt-4o, cached input, flex', 'gpt-4o, sparkle units v2',
                                       'assistants api | file search', 'Image models', 'some product, 2024'])
                          WITH ORDINALITY AS l(line, n), aispend.parse_line_item(l.line) p ORDER BY l.n $$,
    $$ VALUES (NULL, 'gpt-4o-2024-08-06', 'input', 'input', NULL),
              ('evals', 'gpt-4o-mini-2024-07-18', 'cached input', 'cached_input', NULL),
              (NULL, 'gpt-5', 'output | priority', 'output', 'priority'),
              ('batch', 'gpt-4o', 'input (batch)', 'input', 'batch'),
              (NULL, 'gpt-4o', 'cached input, flex', 'cached_input', 'flex'),
              (NULL, 'gpt-4o', 'sparkle units v2', 'unrecognised', NULL),
              ('assistants api', NULL, NULL, 'tool', NULL),
              (NULL, NULL, NULL, 'unrecognised', NULL),
              (NULL, NULL, '2024', 'unrecognised', NULL) $$,
    'parse_line_item: the model whatever the kind, the class where a rule knows it, else unrecognised');
SELECT results_eq($$ SELECT aispend.token_class(t, c) FROM (VALUES ('uncached_input_tokens', NULL),
                         ('cache_read_input_tokens', NULL), ('cache_creation.ephemeral_1h_input_tokens', NULL),
                         ('output_tokens', 'tokens'), (NULL, 'web_search'), ('thinking_budget_tokens_v9', NULL)) v(t, c) $$,
    $$ VALUES ('input'), ('cached_input'), ('cache_write'), ('output'), ('tool'), ('unrecognised') $$,
    'token_class: Anthropic token types');

-- ---- the same organisation, its kinds rewritten
SELECT is((SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'li_new'),
          (SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'li_plain'), 'the same bill');
SELECT ok((SELECT count(*) > 0 FROM aispend.costs WHERE account = 'li_new' AND token_type = 'sparkle units v2'),
          'the rewritten kinds were served');
SELECT is_empty($$ SELECT model, sum(cost) FROM aispend.daily_facts WHERE account = 'li_plain' GROUP BY 1
                   EXCEPT SELECT model, sum(cost) FROM aispend.daily_facts WHERE account = 'li_new' GROUP BY 1 $$,
    'every model keeps its cost whatever its kinds look like (the tool fees row too)');
SELECT is_empty($$ SELECT model, sum(total_tokens), sum(requests) FROM aispend.daily_facts WHERE account = 'li_plain' GROUP BY 1
                   EXCEPT SELECT model, sum(total_tokens), sum(requests) FROM aispend.daily_facts WHERE account = 'li_new' GROUP BY 1 $$,
    'and its tokens and requests');
SELECT is_empty($$ SELECT 1 FROM aispend.unrecognised_line_items WHERE account IN ('li_plain', 'li_anthropic') $$,
    'every line of the provider as served today is read');
SELECT is((SELECT sum(amount_usd) FROM aispend.unrecognised_line_items WHERE account = 'li_new'),
          (SELECT sum(amount_usd) FROM aispend.costs WHERE account = 'li_plain' AND token_type = 'cache write'),
    'the unknown kind is listed with exactly the amount of the lines it replaced');
SELECT is((SELECT count(DISTINCT effect) || ':' || min(effect) FROM aispend.unrecognised_line_items WHERE account = 'li_new'),
          '1:kind not classified: counted with its model', 'and says where its amount is counted');
SELECT results_eq($$ SELECT token_class, service_tier, count(*)::integer > 0 FROM aispend.costs
                     WHERE account = 'li_new' AND token_type IN ('input (standard)', 'output | priority', 'cached input, flex')
                     GROUP BY 1, 2 ORDER BY 1 $$,
    $$ VALUES ('cached_input', 'flex', true), ('input', NULL, true), ('output', 'priority', true) $$,
    'new kinds are classified, with their tier');
SELECT is_empty($$ SELECT 1 FROM aispend.costs WHERE account IN ('li_plain', 'li_new', 'li_anthropic') AND token_class IS NULL $$,
    'every synced line has a class');

-- ---- Anthropic's default workspace: its own name and id (the reports leave it unnamed)
SELECT results_eq($$ SELECT provider_name, provider_workspace_id LIKE 'wrkspc_01%', status FROM aispend.workspaces
                     WHERE account = 'li_anthropic' AND workspace_id = '(default)' $$,
    $$ VALUES ('Default', true, 'active') $$, 'the default workspace is named as the provider names it');
SELECT is((SELECT count(*)::integer FROM aispend.workspaces WHERE account = 'li_anthropic'
             AND workspace_id = (SELECT provider_workspace_id FROM aispend.workspaces
                                 WHERE account = 'li_anthropic' AND workspace_id = '(default)')), 0,
    'and is not listed twice (under its real id too)');
SELECT ok((SELECT count(*) > 0 FROM aispend.usage WHERE account = 'li_anthropic' AND workspace_id = '(default)'),
    'its usage is the default workspace''s');

-- ---- the library serves an install whose ALTER EXTENSION UPDATE has not run yet (0.2.0's declarations)
CREATE FUNCTION pg_temp.old_fetch_workspaces(account name)
    RETURNS TABLE(workspace_id text, name text, status text, created_at timestamptz, archived_at timestamptz)
    AS '$libdir/aispend', 'aispend_fetch_workspaces' LANGUAGE C STRICT;
CREATE FUNCTION pg_temp.old_fetch_costs(account name, since timestamptz, until timestamptz)
    RETURNS TABLE(bucket_start timestamptz, bucket_end timestamptz, workspace_id text, api_key_id text,
                  line_item text, model text, token_type text, service_tier text, context_window text,
                  cost_type text, inference_geo text, amount_usd numeric, currency text, quantity numeric,
                  quantity_unit text)
    AS '$libdir/aispend', 'aispend_fetch_costs' LANGUAGE C STRICT;
SELECT is((SELECT count(*)::integer FROM pg_temp.old_fetch_workspaces('li_anthropic')),
          (SELECT count(*)::integer FROM aispend._fetch_workspaces('li_anthropic') WHERE NOT is_default),
    'the old declaration gets the workspaces it always got: the default one is left out, not listed twice');
SELECT is((SELECT sum(amount_usd) FROM pg_temp.old_fetch_costs('li_plain', '2026-09-01', '2026-09-03')),
          (SELECT sum(amount_usd) FROM aispend._fetch_costs('li_plain', '2026-09-01', '2026-09-03')),
    'the old costs declaration gets every line (without the class column)');

-- ---- a base URL written as the SDKs write it
\set v1 :mock_url/v1
ALTER SERVER li_plain OPTIONS (SET base_url :'v1');
CALL aispend.sync('li_plain', '2026-09-01', '2026-09-02');
SELECT is((SELECT status FROM aispend.sync_runs WHERE account = 'li_plain' ORDER BY id DESC LIMIT 1), 'succeeded',
    'a base_url ending in /v1 works');

SELECT results_eq($$ SELECT state, message FROM aispend.alerts WHERE rule = 'li stale' AND scope = 'account li_anthropic' $$,
    $$ VALUES ('resolved', 'No successful sync of li_anthropic yet') $$,
    'the end of a sync fires an alert (li_anthropic never synced) and a later sync''s end resolves it');

SELECT * FROM finish();

-- cleanup
SELECT aispend.drop_alert_rule('li stale') \gset
DELETE FROM aispend.alerts WHERE rule = 'li stale';
DROP SERVER li_plain CASCADE;
DROP SERVER li_new CASCADE;
DROP SERVER li_anthropic CASCADE;
SELECT count(*) >= 0 AS forgotten FROM unnest(ARRAY['li_plain', 'li_new', 'li_anthropic']::name[]) a,
       aispend.forget_account(a) \gset
