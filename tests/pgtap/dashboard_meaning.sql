-- Every figure means what the product description says (issue 12), on the dashboard fixture plus: a key the
-- provider deleted that still has usage, a fee line with no key behind it (and 10 decimals), an embedding model
-- (it must not take the chat models' star), a workspace with a creation date. Hand-computed figures.
-- Period: 2026-09-01..07 (rolling: compared with 08-25..31). Rolled back.
BEGIN;
SELECT plan(52);
\ir include/dashboard_fixture.psql
CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-09-01', '2026-09-07') AS period;

INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, owner) VALUES
    ('fx_openai', 'openai', 'key_gone', 'gone-key', 'sk-...g0ne', 'deleted', NULL, 'erin');
UPDATE aispend.workspaces SET created_at = '2026-05-20 10:00+00' WHERE account = 'fx_openai' AND workspace_id = 'proj_b';
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, output_tokens, requests) VALUES
    ('fx_openai', 'completions', '2026-09-06 00:00+00', '1d', 'proj_b', 'key_gone', 'gpt-4o', 100000, 50000, 5),
    ('fx_openai', 'embeddings', '2026-09-05 00:00+00', '1d', 'proj_b', 'key_b1', 'text-embedding-3-small', 2000000, 0, 10);
INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, amount_usd, currency,
                           token_class) VALUES
    ('fx_openai', '2026-09-06 00:00+00', 'proj_b', NULL, 'gpt-4o, input and output', 'gpt-4o', 1.50, 'USD', 'unrecognised'),
    ('fx_openai', '2026-09-05 00:00+00', 'proj_b', NULL, 'text-embedding-3-small, input', 'text-embedding-3-small', 0.04,
     'USD', 'input'),
    ('fx_openai', '2026-09-03 00:00+00', 'proj_a', NULL, 'assistants api | file search', NULL, 0.2512345678, 'USD', 'tool');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- ---- 1. line items: what could not be read stays visible, with its amount
SELECT results_eq($$ SELECT line_item, model, days, first_day, amount_usd FROM aispend.unrecognised_line_items WHERE account = 'fx_openai' $$,
    $$ VALUES ('gpt-4o, input and output', 'gpt-4o', 1, '2026-09-06'::date, 1.50) $$,
    'unrecognised line items: the line, its model, days and amount');

-- ---- 2. API keys: rows that are not keys sit apart; listed keys without use are shown; deleted keys say so
SELECT results_eq($$ SELECT api_key, kind, workspace, status, cost, tokens, requests, last_active_day
                     FROM aispend.api_keys_table((SELECT period FROM p)) $$,
    $$ VALUES ('prod-key', 'key', 'proj_abc123xyz', 'active', 10.00, 1000000::bigint, 100::bigint, '2026-09-10'::date),
              ('support-key', 'key', 'Support Bot', 'active', 6.00, 1000000, NULL, '2026-09-04'),
              ('batch-key', 'key', 'Batch Jobs', 'active', 5.04, 2500000, 60, '2026-09-05'),
              ('gone-key', 'deleted key', 'Batch Jobs', 'deleted', 1.50, 150000, 5, '2026-09-06'),
              ('dev-key', 'key', 'proj_abc123xyz', 'inactive', 0.60, 2000000, 200, '2026-09-03'),
              ('old-key', 'key', 'Batch Jobs', 'active', 0.00, 0, 0, NULL),
              ('(no API key: Console)', 'console', '(default workspace)', NULL, 0.40, 400000, NULL, '2026-09-07'),
              ('(fees without an API key)', 'fees without a key', 'proj_abc123xyz', NULL, 0.25, 0, 0, NULL) $$,
    'API keys table in its default order: keys (unused included), then the rows that are not keys');
SELECT is((SELECT sum(pct_of_total) FROM aispend.api_keys_table((SELECT period FROM p))), 100.00, 'API keys: % of total sums to 100');
SELECT is_empty($$ SELECT 1 FROM aispend.api_keys_table((SELECT period FROM p), include_unused => false) WHERE api_key = 'old-key' $$,
    'include_unused => false leaves out keys without use');
SELECT results_eq($$ SELECT total_cost, active_keys, total_requests, tokens, not_key_cost FROM aispend.api_keys_summary((SELECT period FROM p)) $$,
    $$ VALUES (23.79, 5, 365::bigint, 7050000::bigint, 0.65) $$,
    'Active API Keys counts keys with activity, never console or fee rows');
SELECT results_eq($$ SELECT rank, label, cost, pct_of_total, keys FROM aispend.api_keys_top((SELECT period FROM p), 3) $$,
    $$ VALUES (1, 'prod-key (proj_abc123xyz)', 10.00, 42.03, 1), (2, 'support-key (Support Bot)', 6.00, 25.22, 1),
              (3, 'batch-key (Batch Jobs)', 5.04, 21.18, 1), (4, 'Other keys', 2.10, 8.83, 2),
              (5, 'Not an API key', 0.65, 2.74, 0) $$,
    'the pie shows keys, then Other keys, then one slice for what no key carries (adds up to the total; shares of the exact costs)');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_vs_previous((SELECT period FROM p)) $$,
    $$ VALUES ('prod-key'), ('support-key'), ('batch-key'), ('gone-key'), ('dev-key') $$,
    'the bars show keys only (those with cost or tokens in either period), by cost');
SELECT results_eq($$ SELECT api_key, last_active_day, days_since_last_use FROM aispend.api_keys_unused((SELECT period FROM p))
                     WHERE account LIKE 'fx\_%' $$,
    $$ VALUES ('old-key', NULL::date, 98) $$, 'unused: listed, active, nothing in the period (the deleted key is not)');
SELECT results_eq($$ SELECT api_key, last_active_day FROM aispend.api_keys_idle(3, as_of => '2026-09-07') WHERE account LIKE 'fx\_%' $$,
    $$ VALUES ('old-key', NULL::date), ('dev-key', '2026-09-03'), ('support-key', '2026-09-04') $$,
    'idle: by the later of last_used_at and the last day of usage (support-key has no last_used_at)');
SELECT is_empty($$ SELECT 1 FROM aispend.api_keys_idle(30, as_of => '2026-09-07') WHERE api_key = 'support-key' $$,
    'a key without last_used_at but with usage 3 days ago is not idle for 30 days');
SELECT is_empty($$ SELECT 1 FROM aispend.api_keys_table((SELECT period FROM p)) t
                   WHERE aispend.api_key_last_active(t.account, t.api_key_id) IS DISTINCT FROM t.last_active_day $$,
    'aispend.api_key_last_active() gives every row the tab''s last active day (one derivation)');
SELECT is(aispend.api_key_last_active(NULL, 'key_b1'), NULL::date, 'aispend.api_key_last_active() without an account: NULL');
SELECT results_eq($$ SELECT "API Key", "Kind", "Status", "Cost", "Last Active" FROM aispend.api_keys_csv((SELECT period FROM p)) $$,
    $$ SELECT api_key, kind, status, cost, last_active_day FROM aispend.api_keys_table((SELECT period FROM p)) $$,
    'the keys CSV has the same rows in the same order, unused keys included');

-- ---- 3. Workspace Management: Created, First Seen (first detected), Last Seen (latest activity), history kinds
SELECT results_eq($$ SELECT workspace_name, status, created, first_seen, last_seen FROM aispend.workspace_management_table()
                     WHERE account LIKE 'fx\_%' $$,
    $$ VALUES ('(default workspace)', 'active', NULL::date, '2026-09-07'::date, '2026-09-07'::date),
              ('Batch Jobs', 'active', '2026-05-20', '2026-05-20', '2026-09-06'),
              ('Old Team', 'archived', NULL, '2026-06-01', NULL),
              ('Support Bot', 'active', NULL, '2026-08-30', '2026-09-04'),
              ('proj_abc123xyz', 'active', NULL, '2026-07-15', '2026-09-10') $$,
    'workspace dates: created, first seen, last seen (none for a workspace never active)');
SELECT results_eq($$ SELECT workspace_name FROM aispend.workspace_management_table('BATCH') $$, $$ VALUES ('Batch Jobs') $$,
    'workspace management search');
SELECT results_eq($$ SELECT "Workspace Name", "Created", "First Seen", "Last Seen", "Name Changes"
                     FROM aispend.workspace_management_csv('batch') $$,
    $$ VALUES ('Batch Jobs', '2026-05-20'::date, '2026-05-20'::date, '2026-09-06'::date, 0::bigint) $$,
    'the workspace management CSV carries the same columns');
SELECT aispend.rename_workspace('fx_openai', 'proj_b', 'Batch');
SELECT aispend.reset_workspace_name('fx_openai', 'proj_b');
SELECT aispend.revert_workspace_name('fx_openai', (SELECT max(id) FROM aispend.workspace_name_history WHERE account = 'fx_openai'));
UPDATE aispend.workspaces SET provider_name = 'Batch Jobs v2' WHERE account = 'fx_openai' AND workspace_id = 'proj_b';
SELECT results_eq($$ SELECT action, old_name, new_name FROM aispend.workspace_history WHERE account = 'fx_openai' ORDER BY id $$,
    $$ VALUES ('rename', 'Batch Jobs', 'Batch'), ('reset', 'Batch', 'Batch Jobs'), ('revert', 'Batch Jobs', 'Batch'),
              ('provider rename', 'Batch', 'Batch') $$,
    'history says rename, reset, revert or provider rename');
SELECT aispend.reset_workspace_name('fx_openai', 'proj_b');
UPDATE aispend.workspaces SET provider_name = 'Batch Jobs' WHERE account = 'fx_openai' AND workspace_id = 'proj_b';

-- ---- 4. periods and trends
SELECT is(aispend.previous_period((SELECT period FROM p)), daterange('2026-08-25', '2026-09-01'), 'a range is compared with as many days before');
SELECT is(aispend.previous_period(aispend.period('previous_month', '2026-09-07')), daterange('2026-07-01', '2026-08-01'),
    'previous month is compared with the month before it (31 days, not 31 days before)');
SELECT is(aispend.previous_period(aispend.period('previous_month', '2026-03-07')), daterange('2026-01-01', '2026-02-01'),
    'February is compared with January');
SELECT is(aispend.previous_period('month_to_date', '2026-09-07'), daterange('2026-08-01', '2026-08-08'), 'month to date: same days of last month');
SELECT is(aispend.previous_period('month_to_date', '2026-03-31'), daterange('2026-02-01', '2026-03-01'), 'month to date on the 31st: clamped to February');
SELECT is(aispend.previous_period('year_to_date', '2026-09-07'), daterange('2025-01-01', '2025-09-08'), 'year to date: same days of last year');
SELECT is(aispend.previous_period('previous_year', '2026-09-07'), daterange('2024-01-01', '2025-01-01'), 'previous year: the year before');
SELECT is(aispend.previous_period('last_30_days', '2026-09-07'), daterange('2026-07-10', '2026-08-09'), 'last 30 days: the 30 days before');
SELECT is(aispend.previous_period('last_30_days', '2026-09-30'), daterange('2026-08-02', '2026-09-01'),
    'last 30 days on September 30th stays rolling (by name), though its days are a whole month');
SELECT is(aispend.period('[2026-09-01,2026-09-08)'), daterange('2026-09-01', '2026-09-08'),
    'a range written as text is that range (a quoted range still works as a tab''s period)');
SELECT results_eq($$ SELECT name, cost FROM aispend.workspaces_table('[2026-09-01,2026-09-08)') $$,
    $$ SELECT name, cost FROM aispend.workspaces_table((SELECT period FROM p)) $$, 'the same tab by range text');
SELECT throws_ok($$ SELECT * FROM aispend.workspaces_table((SELECT period FROM p), compare_with => 'empty') $$, '22023',
    NULL, 'an empty comparison period is refused');
SELECT throws_ok($$ SELECT * FROM aispend.models_table((SELECT period FROM p), workspace => 'Batch Jobs',
                                                       compare_with => '[2026-01-01,)') $$, '22023',
    NULL, 'on the drill-down path too');
SELECT results_eq($$ SELECT name, cost, previous_cost, trend FROM aispend.workspaces_table((SELECT period FROM p),
                                                                 compare_with => aispend.custom_period('2026-08-28', '2026-08-30')) $$,
    $$ VALUES ('proj_abc123xyz', 10.85, 0.00, 'new'), ('Batch Jobs', 6.54, 5.00, 'up'), ('Support Bot', 6.00, 12.00, 'down'),
              ('(default workspace)', 0.40, 0.00, 'new') $$,
    'compare_with: any comparison period');
INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, complete_through, started_at,
                               finished_at, status)
VALUES ('fx_anthropic', 'usage', '2026-08-28 00:00+00', '2026-09-08 00:00+00', '1d', '2026-09-08 00:00+00',
        '2026-09-08 01:00+00', '2026-09-08 01:00+00', 'succeeded');
SELECT is(aispend.history_from(), '2026-08-28'::date, 'history from: the latest first synced day of the accounts in view');
SELECT results_eq($$ SELECT total_cost, trend, change_pct, trend_label FROM aispend.workspaces_summary((SELECT period FROM p)) $$,
    $$ VALUES (23.79, 'incomplete', NULL::numeric, 'history from 2026-08-28') $$,
    'a trend against a period before the synced history is incomplete, not a percentage');
SELECT results_eq($$ SELECT total_cost, trend, change_pct FROM aispend.workspaces_summary((SELECT period FROM p), 'openai') $$,
    $$ VALUES (17.39, 'up', 33.8) $$, 'an account without sync runs (facts loaded by hand) sets no history limit');
SELECT results_eq($$ SELECT DISTINCT trend FROM aispend.models_table((SELECT period FROM p), 'anthropic') $$,
    $$ VALUES ('incomplete') $$, 'every row of the tab is incomplete too');
DELETE FROM aispend.sync_runs WHERE account = 'fx_anthropic';

-- ---- 5. models: classes, a star per class, drill-down, daily series
SELECT results_eq($$ SELECT model, class, most_efficient, cost_per_1m, cost, tokens FROM aispend.models_table((SELECT period FROM p)) $$,
    $$ VALUES ('text-embedding-3-small', 'embedding', true, 0.0200, 0.04, 2000000::bigint),
              ('gpt-4o-mini', 'chat', true, 0.3000, 0.60, 2000000),
              ('claude-haiku-4-5', 'chat', false, 1.0000, 0.40, 400000),
              ('claude-sonnet-4-5', 'chat', false, 6.0000, 6.00, 1000000),
              ('gpt-4o', 'chat', false, 10.0000, 16.50, 1650000),
              ('(no model: tool & service fees)', 'other', false, NULL, 0.25, 0) $$,
    'models: class, one star per class (the embedding model does not take the chat star), default order');
SELECT is((SELECT most_efficient_model FROM aispend.models_summary((SELECT period FROM p))), 'gpt-4o-mini',
    'the summary names the chat models'' star');
SELECT results_eq($$ SELECT model, cost, tokens, previous_cost FROM aispend.models_table((SELECT period FROM p), workspace => 'batch jobs') $$,
    $$ VALUES ('text-embedding-3-small', 0.04, 2000000::bigint, 0.00), ('gpt-4o', 6.50, 650000, 5.00) $$,
    'models of one workspace (scenario 1: did the mix change?)');
SELECT results_eq($$ SELECT "Model", "Cost" FROM aispend.models_csv((SELECT period FROM p), api_key => 'gone-key') $$,
    $$ VALUES ('gpt-4o ⭐', 1.50) $$, 'models CSV of one API key');
SELECT results_eq($$ SELECT day, cost, tokens, requests FROM aispend.daily_series((SELECT period FROM p), workspace => 'Batch Jobs') $$,
    $$ VALUES ('2026-09-01'::date, 0.00, 0::bigint, 0::bigint), ('2026-09-02', 0.00, 0, 0), ('2026-09-03', 0.00, 0, 0),
              ('2026-09-04', 0.00, 0, 0), ('2026-09-05', 5.04, 2500000, 60), ('2026-09-06', 1.50, 150000, 5),
              ('2026-09-07', 0.00, 0, 0) $$, 'daily series of a workspace: every day, zeros included');
SELECT results_eq($$ SELECT day, cost FROM aispend.daily_series((SELECT period FROM p), model => 'claude-sonnet-4-5', provider => 'anthropic') WHERE cost <> 0 $$,
    $$ VALUES ('2026-09-04'::date, 6.00) $$, 'daily series of a model');

-- ---- 6. output: cents, default order, names, errors
SELECT results_eq($$ SELECT name, cost FROM aispend.workspaces_table((SELECT period FROM p)) $$,
    $$ VALUES ('proj_abc123xyz', 10.85), ('Batch Jobs', 6.54), ('Support Bot', 6.00), ('(default workspace)', 0.40) $$,
    'money rounded to the cent, rows in the default order without ORDER BY');
SELECT is((SELECT sum(cost) FROM aispend.daily_facts WHERE workspace_id = 'proj_a' AND day <@ (SELECT period FROM p)),
    10.8512345678, 'exact figures stay in daily_facts');
SELECT throws_ok($$ SELECT * FROM aispend.workspaces_table((SELECT period FROM p), min_cost => 5, max_cost => 1) $$, '22023',
    'aispend: min_cost 5 is greater than max_cost 1', 'an inverted cost range is an error, not an empty table');
SELECT throws_ok($$ SELECT * FROM aispend.models_summary((SELECT period FROM p), min_cost => 5, max_cost => 1) $$, '22023',
    NULL, 'the same in every tab');
SELECT lives_ok($$ SELECT * FROM aispend.workspaces_table('last_30_days') $$, 'a period by name (0.2.0: malformed range literal)');
SELECT is_empty($$
    SELECT p.proname, pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace AND p.proname !~ '^_' AND (p.proretset OR p.proname = 'report_html')
      AND p.proargtypes[pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') - 1] = 'daterange'::regtype
    EXCEPT
    SELECT p.proname, pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace
      AND p.proargtypes[pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') - 1] = 'text'::regtype $$,
    'every tab function takes its period by name too, with the same result');
SELECT is_empty($$
    SELECT p.proname FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace AND p.proname ~ '^(workspaces|api_keys|models)_(table|summary|top|by_cost|by_provider|vs_previous|csv)$'
      AND NOT (p.proargnames[1:5] = ARRAY['period', 'provider', 'search', 'min_cost', 'max_cost']
               OR p.proargnames[1:6] = ARRAY['period', 'top_n', 'provider', 'search', 'min_cost', 'max_cost'])
      AND p.proargtypes[0] = 'daterange'::regtype $$,
    'every tab function names its arguments alike');

-- ---- 7. one total
INSERT INTO aispend.middleware_spend (day, provider, cost) VALUES ('2026-09-02', 'openai', 10.00), ('2026-09-04', 'anthropic', 3.00);
SELECT results_eq($$ SELECT provider, billed_cost, captured_cost FROM aispend.middleware_coverage((SELECT period FROM p)) $$,
    $$ VALUES ('anthropic', 6.40, 3.00), ('openai', 17.39, 10.00), ('all', 23.79, 13.00) $$, 'coverage per provider');
SELECT is((SELECT billed_cost FROM aispend.middleware_coverage((SELECT period FROM p)) WHERE provider = 'all'),
          (SELECT total_cost FROM aispend.workspaces_summary((SELECT period FROM p))), 'coverage and the Workspaces tab agree');
SELECT is((SELECT total_cost FROM aispend.api_keys_summary((SELECT period FROM p))),
          (SELECT total_cost FROM aispend.models_summary((SELECT period FROM p))), 'the API keys and models tabs agree');
SELECT ok(aispend.report_html((SELECT period FROM p)) LIKE '%data-check="workspaces_summary.total_cost" data-value="23.79"%',
    'the report shows the same total');

SELECT * FROM finish();
ROLLBACK;
