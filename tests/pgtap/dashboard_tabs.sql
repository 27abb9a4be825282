-- The dashboard tabs on a hand-checked fixture (docs/dashboard-*.md): two accounts (OpenAI, Anthropic), the
-- period 2026-09-01..2026-09-07 and its previous period 2026-08-25..2026-08-31. One key per (day, workspace,
-- model), so that the cost of each fact is its billed cost whatever the allocation. Rolled back.
BEGIN;
SELECT plan(51);
\ir include/dashboard_fixture.psql
CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-09-01', '2026-09-07') AS period;

-- ---- periods and trend
SELECT is(aispend.previous_period((SELECT period FROM p)), daterange('2026-08-25', '2026-09-01'), 'previous period of 7 days');
SELECT is(aispend.period('last_7_days', '2026-09-07'), daterange('2026-09-01', '2026-09-08'), 'last 7 days ends today');
SELECT is(aispend.period('Previous month', '2026-09-07'), daterange('2026-08-01', '2026-09-01'), 'previous month');
SELECT is(aispend.period('month_to_date', '2026-09-07'), daterange('2026-09-01', '2026-09-08'), 'month to date');
SELECT is(aispend.period('year_to_date', '2026-09-07'), daterange('2026-01-01', '2026-09-08'), 'year to date');
SELECT is(aispend.period('last_90_days', '2026-09-07'), daterange('2026-06-10', '2026-09-08'), 'last 90 days');
SELECT results_eq($$ SELECT t.change_pct, t.indicator, t.label FROM (VALUES (12.0, 10.0), (9.0, 10.0), (10.05, 10.0),
                                                                      (5.0, 0.0), (0.0, 0.0), (0.0, 4.0)) v(c, pr),
                                                            aispend.trend(v.c, v.pr) t $$,
    $$ VALUES (20.0, 'up', '↑ 20.0%'), (-10.0, 'down', '↓ 10.0%'), (0.5, 'flat', '→ 0.5%'), (NULL, 'new', 'new'),
              (0.0, 'flat', '→ 0.0%'), (-100.0, 'down', '↓ 100.0%') $$, 'trend: up, down, flat within 1%, new, zero');

-- ---- Workspaces tab
SELECT results_eq($$ SELECT name, provider, cost, pct_of_total, requests, tokens, trend, change_pct
                     FROM aispend.workspaces_table((SELECT period FROM p)) ORDER BY cost DESC, name $$,
    $$ VALUES ('proj_abc123xyz', 'openai', 10.60, 48.18, 300::bigint, 3000000::bigint, 'up', 32.5),
              ('Support Bot', 'anthropic', 6.00, 27.27, NULL, 1000000, 'down', -50.0),
              ('Batch Jobs', 'openai', 5.00, 22.73, 50, 500000, 'flat', 0.0),
              ('(default workspace)', 'anthropic', 0.40, 1.82, NULL, 400000, 'new', NULL) $$,
    'workspaces table: exact figures, % of total, trends');
SELECT is((SELECT sum(pct_of_total) FROM aispend.workspaces_table((SELECT period FROM p))), 100.00, '% of Total sums to 100');
SELECT results_eq($$ SELECT total_cost, active_workspaces, openai_cost, anthropic_cost, other_cost, requests, tokens,
                            previous_total_cost, trend, change_pct FROM aispend.workspaces_summary((SELECT period FROM p)) $$,
    $$ VALUES (22.00, 4, 15.60, 6.40, 0::numeric, 350::bigint, 4900000::bigint, 25.00, 'down', -12.0) $$,
    'workspaces summary');
SELECT results_eq($$ SELECT provider, cost, pct_of_total FROM aispend.workspaces_by_provider((SELECT period FROM p)) ORDER BY cost DESC $$,
    $$ VALUES ('openai', 15.60, 70.91), ('anthropic', 6.40, 29.09) $$, 'cost by provider (pie)');
SELECT results_eq($$ SELECT name, current_cost, previous_cost, change FROM aispend.workspaces_vs_previous((SELECT period FROM p)) ORDER BY change DESC $$,
    $$ VALUES ('proj_abc123xyz', 10.60, 8.00, 2.60), ('(default workspace)', 0.40, 0, 0.40), ('Batch Jobs', 5.00, 5.00, 0.00),
              ('Support Bot', 6.00, 12.00, -6.00) $$, 'current vs previous (bars)');
SELECT results_eq($$ SELECT name FROM aispend.workspaces_table((SELECT period FROM p), 'anthropic') ORDER BY name $$,
    $$ VALUES ('(default workspace)'), ('Support Bot') $$, 'provider filter anthropic');
SELECT is_empty($$ SELECT 1 FROM aispend.workspaces_table((SELECT period FROM p), 'other') $$, 'provider filter other');
SELECT results_eq($$ SELECT name FROM aispend.workspaces_table((SELECT period FROM p), search => 'BATCH') $$,
    $$ VALUES ('Batch Jobs') $$, 'search is case-insensitive');
SELECT results_eq($$ SELECT name FROM aispend.workspaces_table((SELECT period FROM p), min_cost => 1, max_cost => 8) ORDER BY name $$,
    $$ VALUES ('Batch Jobs'), ('Support Bot') $$, 'cost range');
SELECT throws_ok($$ SELECT * FROM aispend.workspaces_table((SELECT period FROM p), 'azure') $$, '22023', NULL, 'unknown provider filter');
SELECT results_eq($$ SELECT "Name", "Provider", "Cost", "% of Total", "Requests", "Tokens", "Trend"
                     FROM aispend.workspaces_csv((SELECT period FROM p)) ORDER BY "Cost" DESC LIMIT 2 $$,
    $$ VALUES ('proj_abc123xyz', 'openai', 10.60, 48.18, 300::bigint, 3000000::bigint, '↑ 32.5%'),
              ('Support Bot', 'anthropic', 6.00, 27.27, NULL, 1000000, '↓ 50.0%') $$, 'workspaces CSV columns');

-- ---- API Key Analytics tab
SELECT results_eq($$ SELECT api_key, workspace, key_hint, provider, status, cost, tokens, requests, cost_per_1m, trend, change_pct
                     FROM aispend.api_keys_table((SELECT period FROM p)) ORDER BY cost DESC $$,
    $$ VALUES ('prod-key', 'proj_abc123xyz', 'sk-...a1a1', 'openai', 'active', 10.00, 1000000::bigint, 100::bigint, 10.0000, 'up', 25.0),
              ('support-key', 'Support Bot', 'sk-ant-api03-Z4C...EQAA', 'anthropic', 'active', 6.00, 1000000, NULL, 6.0000, 'down', -50.0),
              ('batch-key', 'Batch Jobs', 'sk-...b1b1', 'openai', 'active', 5.00, 500000, 50, 10.0000, 'flat', 0.0),
              ('dev-key', 'proj_abc123xyz', 'sk-...a2a2', 'openai', 'inactive', 0.60, 2000000, 200, 0.3000, 'new', NULL),
              ('(no API key: Console)', '(default workspace)', NULL, 'anthropic', NULL, 0.40, 400000, NULL, 1.0000, 'new', NULL),
              ('old-key', 'Batch Jobs', 'sk-...0ld0', 'openai', 'active', 0.00, 0, 0, NULL, 'flat', 0.0) $$,
    'api keys table (console usage has no status; a listed key without use shows 0)');
SELECT results_eq($$ SELECT total_cost, active_keys, total_requests, avg_cost_per_1m, trend FROM aispend.api_keys_summary((SELECT period FROM p)) $$,
    $$ VALUES (22.00, 4, 350::bigint, 4.4898, 'down') $$, 'api keys summary (Console usage is not a key)');
SELECT results_eq($$ SELECT rank, label, cost, keys FROM aispend.api_keys_top((SELECT period FROM p), 2) ORDER BY rank $$,
    $$ VALUES (1, 'prod-key (proj_abc123xyz)', 10.00, 1), (2, 'support-key (Support Bot)', 6.00, 1), (3, 'Other keys', 5.60, 2),
              (4, 'Not an API key', 0.40, 0) $$,
    'top keys with Other keys and what no key carries (pie)');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_table((SELECT period FROM p), workspace => 'PROJ_ABC123XYZ') ORDER BY api_key $$,
    $$ VALUES ('dev-key'), ('prod-key') $$, 'workspace drill-down (name, case-insensitive)');
SELECT results_eq($$ SELECT api_key, current_cost, previous_cost FROM aispend.api_keys_vs_previous((SELECT period FROM p), workspace => 'proj_b') $$,
    $$ VALUES ('batch-key', 5.00, 5.00) $$, 'workspace drill-down by id, bars');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_table((SELECT period FROM p), search => 'support') ORDER BY api_key $$,
    $$ VALUES ('support-key') $$, 'key search matches key and workspace names');
SELECT results_eq($$ SELECT api_key, days_since_last_use FROM aispend.api_keys_unused((SELECT period FROM p)) WHERE account LIKE 'fx\_%' ORDER BY api_key $$,
    $$ VALUES ('old-key', 98) $$, 'unused keys: 0 requests in the period');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_idle(30, as_of => '2026-09-07') WHERE account LIKE 'fx\_%' ORDER BY api_key $$,
    $$ VALUES ('old-key') $$, 'keys not used for 30 days (support-key reports no last_used_at but was used on 09-04)');
SELECT results_eq($$ SELECT "API Key", "Workspace", "Key Hint", "Cost/1M", "Trend" FROM aispend.api_keys_csv((SELECT period FROM p))
                     WHERE "Kind" = 'console' $$,
    $$ VALUES ('(no API key: Console)', '(default workspace)', NULL, 1.0000, 'new') $$, 'api keys CSV columns');

-- ---- Model Efficiency tab
SELECT results_eq($$ SELECT model, most_efficient, provider, cost_per_1m, cost, tokens, requests, pct_of_total, trend, change_pct
                     FROM aispend.models_table((SELECT period FROM p)) ORDER BY cost DESC $$,
    $$ VALUES ('gpt-4o', false, 'openai', 10.0000, 15.00, 1500000::bigint, 150::bigint, 68.18, 'up', 15.4),
              ('claude-sonnet-4-5', false, 'anthropic', 6.0000, 6.00, 1000000, NULL, 27.27, 'down', -50.0),
              ('gpt-4o-mini', true, 'openai', 0.3000, 0.60, 2000000, 200, 2.73, 'new', NULL),
              ('claude-haiku-4-5', false, 'anthropic', 1.0000, 0.40, 400000, NULL, 1.82, 'new', NULL) $$,
    'models table with the star');
SELECT results_eq($$ SELECT total_cost, model_count, total_requests, avg_cost_per_1m, most_efficient_model FROM aispend.models_summary((SELECT period FROM p)) $$,
    $$ VALUES (22.00, 4, 350::bigint, 4.4898, 'gpt-4o-mini') $$, 'models summary');
SELECT results_eq($$ SELECT model FROM aispend.models_table((SELECT period FROM p), 'anthropic') WHERE most_efficient $$,
    $$ VALUES ('claude-haiku-4-5') $$, 'the star follows the filter');
SELECT results_eq($$ SELECT "Model", "Cost/1M" FROM aispend.models_csv((SELECT period FROM p)) ORDER BY "Cost/1M" LIMIT 1 $$,
    $$ VALUES ('gpt-4o-mini ⭐', 0.3000) $$, 'models CSV: star in the Model column');
SELECT results_eq($$ SELECT model, current_cost, previous_cost FROM aispend.models_vs_previous((SELECT period FROM p)) ORDER BY model $$,
    $$ VALUES ('claude-haiku-4-5', 0.40, 0::numeric), ('claude-sonnet-4-5', 6.00, 12.00), ('gpt-4o', 15.00, 13.00), ('gpt-4o-mini', 0.60, 0) $$,
    'models current vs previous');

-- ---- rollup == naive GROUP BY over cost_facts_between
CREATE FUNCTION pg_temp.naive_ws(per daterange) RETURNS TABLE (name text, cost numeric, tokens bigint, requests bigint, prev numeric)
LANGUAGE sql AS $$
    SELECT w.name, coalesce(sum(f.cost) FILTER (WHERE f.day <@ per), 0), coalesce(sum(f.total_tokens) FILTER (WHERE f.day <@ per), 0)::bigint,
           coalesce(sum(f.requests) FILTER (WHERE f.day <@ per), 0)::bigint,
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ aispend.previous_period(per)), 0)
    FROM (SELECT * FROM aispend.cost_facts_between('fx_openai', lower(aispend.previous_period(per)), upper(per))
          UNION ALL SELECT * FROM aispend.cost_facts_between('fx_anthropic', lower(aispend.previous_period(per)), upper(per))) f
    JOIN aispend.workspaces w ON w.account = f.account AND w.workspace_id = f.workspace_id
    WHERE f.day >= lower(aispend.previous_period(per)) AND f.day < upper(per)
    GROUP BY w.name $$;
SELECT is_empty($$
    SELECT x.d, x.n FROM (SELECT d::date, n FROM generate_series('2026-07-10'::date, '2026-09-12', '3 days') d,
                                                  (VALUES (0), (2), (6), (29), (60)) v(n)) x
    WHERE EXISTS (
        (SELECT name, cost, tokens, coalesce(requests, 0), previous_cost FROM aispend.workspaces_table(aispend.custom_period(x.d, x.d + x.n))
         EXCEPT SELECT * FROM pg_temp.naive_ws(aispend.custom_period(x.d, x.d + x.n)) WHERE cost <> 0 OR tokens <> 0 OR prev <> 0)
        UNION ALL
        (SELECT * FROM pg_temp.naive_ws(aispend.custom_period(x.d, x.d + x.n)) WHERE cost <> 0 OR tokens <> 0 OR prev <> 0
         EXCEPT SELECT name, cost, tokens, coalesce(requests, 0), previous_cost FROM aispend.workspaces_table(aispend.custom_period(x.d, x.d + x.n))))
$$, 'workspaces tab == naive query for 110 periods');
SELECT is_empty($$
    SELECT x.d FROM (SELECT d::date, n FROM generate_series('2026-07-10'::date, '2026-09-12', '5 days') d, (VALUES (0), (6), (45)) v(n)) x
    WHERE EXISTS (
        (SELECT account, workspace_id, api_key_id, cost, tokens, coalesce(requests, 0), previous_cost
         FROM aispend.api_keys_table(aispend.custom_period(x.d, x.d + x.n), include_unused => false)
         EXCEPT
         SELECT f.account, f.workspace_id, f.api_key_id, coalesce(sum(f.cost) FILTER (WHERE f.day BETWEEN x.d AND x.d + x.n), 0),
                coalesce(sum(f.total_tokens) FILTER (WHERE f.day BETWEEN x.d AND x.d + x.n), 0)::bigint,
                coalesce(sum(f.requests) FILTER (WHERE f.day BETWEEN x.d AND x.d + x.n), 0)::bigint,
                coalesce(sum(f.cost) FILTER (WHERE f.day < x.d), 0)
         FROM aispend.daily_facts f WHERE f.day BETWEEN x.d - x.n - 1 AND x.d + x.n
         GROUP BY 1, 2, 3
         HAVING sum(f.cost) <> 0 OR sum(f.total_tokens) <> 0))
$$, 'api keys tab == naive query over the daily facts');
SELECT is_empty($$
    SELECT x.d FROM (SELECT d::date, n FROM generate_series('2026-07-10'::date, '2026-09-12', '5 days') d, (VALUES (0), (6), (45)) v(n)) x
    WHERE EXISTS (
        (SELECT model, cost, tokens FROM aispend.models_table(aispend.custom_period(x.d, x.d + x.n))
         EXCEPT
         SELECT f.model, coalesce(sum(f.cost) FILTER (WHERE f.day BETWEEN x.d AND x.d + x.n), 0),
                coalesce(sum(f.total_tokens) FILTER (WHERE f.day BETWEEN x.d AND x.d + x.n), 0)::bigint
         FROM aispend.daily_facts f WHERE f.day BETWEEN x.d - x.n - 1 AND x.d + x.n GROUP BY 1
         HAVING sum(f.cost) <> 0 OR sum(f.total_tokens) <> 0))
$$, 'models tab == naive query over the daily facts');

-- ---- Workspace Management: rename, combine, history, revert, reset
UPDATE aispend.workspaces SET display_name = 'Customer Support' WHERE account LIKE 'fx\_%' AND workspace_id IN ('proj_a', 'wrk_c');
SELECT results_eq($$ SELECT name, provider, cost, requests, tokens, previous_cost, trend, change_pct, workspaces
                     FROM aispend.workspaces_table((SELECT period FROM p)) ORDER BY cost DESC LIMIT 1 $$,
    $$ VALUES ('Customer Support', 'anthropic, openai', 16.60, 300::bigint, 4000000::bigint, 20.00, 'down', -17.0, 2) $$,
    'same display name across providers: one combined row, both providers, at once');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_table((SELECT period FROM p), workspace => 'customer support') ORDER BY api_key $$,
    $$ VALUES ('dev-key'), ('prod-key'), ('support-key') $$, 'drill-down into a combined workspace');
SELECT results_eq($$ SELECT workspace_name, provider, workspace_id, provider_name, status FROM aispend.workspace_management
                     WHERE account IN ('fx_openai', 'fx_anthropic') ORDER BY workspace_name, workspace_id $$,
    $$ VALUES ('(default workspace)', 'anthropic', '(default)', '(default workspace)', 'active'),
              ('Batch Jobs', 'openai', 'proj_b', 'Batch Jobs', 'active'),
              ('Customer Support', 'openai', 'proj_a', 'proj_abc123xyz', 'active'),
              ('Customer Support', 'anthropic', 'wrk_c', 'Support Bot', 'active'),
              ('Old Team', 'anthropic', 'wrk_old', 'Old Team', 'archived') $$, 'workspace management metadata');
SELECT is((SELECT last_seen FROM aispend.workspace_management WHERE account = 'fx_openai' AND workspace_id = 'proj_a'), '2026-09-10'::date,
          'Last Seen: last activity day');
SELECT aispend.rename_workspace('fx_openai', 'proj_a', 'Production API');
UPDATE aispend.workspaces SET provider_name = 'proj renamed upstream' WHERE account = 'fx_openai' AND workspace_id = 'proj_a';
SELECT is((SELECT name FROM aispend.workspaces WHERE account = 'fx_openai' AND workspace_id = 'proj_a'), 'Production API',
          'a provider-side rename keeps the custom name');
SELECT results_eq($$ SELECT source, old_name, new_name, old_display_name, new_display_name, new_provider_name, changed_by
                     FROM aispend.workspace_history WHERE account = 'fx_openai' AND workspace_id = 'proj_a' ORDER BY id $$,
    $$ VALUES ('custom', 'proj_abc123xyz', 'Customer Support', NULL, 'Customer Support', 'proj_abc123xyz', current_user),
              ('custom', 'Customer Support', 'Production API', 'Customer Support', 'Production API', 'proj_abc123xyz', current_user),
              ('provider', 'Production API', 'Production API', 'Production API', 'Production API', 'proj renamed upstream', current_user) $$,
    'history: every change with old, new, who');
SELECT is(aispend.revert_workspace_name('fx_openai',
              (SELECT id FROM aispend.workspace_history WHERE account = 'fx_openai' AND workspace_id = 'proj_a' AND new_name = 'Production API' AND source = 'custom')),
          'Customer Support', 'revert to an earlier name');
SELECT is(aispend.reset_workspace_name('fx_openai', 'proj_a'), 'proj renamed upstream', 'reset to the provider''s name');
SELECT is((SELECT count(*) FROM aispend.workspace_history WHERE account = 'fx_openai' AND workspace_id = 'proj_a'), 5::bigint, 'revert and reset are recorded');
SELECT results_eq($$ SELECT name FROM aispend.workspaces_table((SELECT period FROM p)) ORDER BY cost DESC LIMIT 1 $$,
    $$ VALUES ('proj renamed upstream') $$, 'renames show at once (no stale rollup)');
UPDATE aispend.workspaces SET display_name = 'Team ' || upper(workspace_id) WHERE account = 'fx_openai';
SELECT results_eq($$ SELECT name FROM aispend.workspaces_table((SELECT period FROM p), 'openai') ORDER BY name $$,
    $$ VALUES ('Team PROJ_A'), ('Team PROJ_B') $$, 'bulk rename with one UPDATE');

-- ---- middleware coverage
INSERT INTO aispend.middleware_spend (day, provider, model, cost) VALUES
    ('2026-09-02', 'openai', 'gpt-4o', 7.80), ('2026-09-04', 'anthropic', NULL, 1.60), ('2026-08-01', 'openai', NULL, 99);
SELECT results_eq($$ SELECT provider, billed_cost, captured_cost, captured_pct, uncaptured_cost
                     FROM aispend.middleware_coverage((SELECT period FROM p), '{fx_openai,fx_anthropic}') WHERE billed_cost > 0 OR captured_cost > 0 $$,
    $$ VALUES ('anthropic', 6.40, 1.60, 25.00, 4.80), ('openai', 15.60, 7.80, 50.00, 7.80), ('all', 22.00, 9.40, 42.73, 12.60) $$,
    'middleware coverage per provider and overall');

-- ---- incremental refresh keeps the rollup equal to a full rebuild
CREATE TEMP TABLE before AS SELECT * FROM aispend.api_keys_table(aispend.custom_period('2026-08-01', '2026-09-30'));
UPDATE aispend.costs SET amount_usd = amount_usd + 1 WHERE account = 'fx_openai' AND bucket_start = '2026-08-26 00:00+00';
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT cost FROM aispend.api_keys_table(aispend.custom_period('2026-08-01', '2026-09-30')) WHERE api_key_id = 'key_a1'),
          22.00, 'a changed past day is re-rolled (the change marked it)');
SELECT is((SELECT previous_cost FROM aispend.workspaces_table((SELECT period FROM p), search => 'proj_a')), 9.00,
          'and later periods see it (cumulative sums rewritten)');
DELETE FROM aispend.usage WHERE account = 'fx_openai' AND bucket_start >= '2026-09-10 00:00+00';
DELETE FROM aispend.costs WHERE account = 'fx_openai' AND bucket_start >= '2026-09-10 00:00+00';
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT last_day FROM aispend._rollup_state WHERE account = 'fx_openai'), '2026-09-05'::date, 'trailing days removed');
SELECT is((SELECT cost FROM aispend.api_keys_table(aispend.custom_period('2026-08-01', '2026-09-30')) WHERE api_key_id = 'key_a1'),
          19.00, 'and their cost is gone');

SELECT * FROM finish();
ROLLBACK;
