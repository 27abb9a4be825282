-- docs/scenarios.md run on the fixture of dashboard_tabs.sql (period: 2026-09-01..07 as "this month"). Rolled back.
-- period 2026-09-01..2026-09-07 and its previous period 2026-08-25..2026-08-31. One key per (day, workspace,
-- model), so that the cost of each fact is its billed cost whatever the allocation. Rolled back.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;

CREATE SERVER fx_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
CREATE SERVER fx_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');

INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, first_seen, last_seen) VALUES
    ('fx_openai', 'openai', 'proj_a', 'proj_abc123xyz', 'active', '2026-06-01', '2026-09-07'),
    ('fx_openai', 'openai', 'proj_b', 'Batch Jobs', 'active', '2026-06-01', '2026-09-07'),
    ('fx_anthropic', 'anthropic', 'wrk_c', 'Support Bot', 'active', '2026-06-01', '2026-09-07'),
    ('fx_anthropic', 'anthropic', '(default)', '(default workspace)', 'active', '2026-06-01', '2026-09-07'),
    ('fx_anthropic', 'anthropic', 'wrk_old', 'Old Team', 'archived', '2026-06-01', '2026-07-01');
INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, owner, last_used_at) VALUES
    ('fx_openai', 'openai', 'key_a1', 'prod-key', 'sk-...a1a1', 'active', 'proj_a', 'alice', '2026-09-10 08:00+00'),
    ('fx_openai', 'openai', 'key_a2', 'dev-key', 'sk-...a2a2', 'inactive', 'proj_a', 'bob', '2026-09-03 12:00+00'),
    ('fx_openai', 'openai', 'key_b1', 'batch-key', 'sk-...b1b1', 'active', 'proj_b', 'svc', '2026-09-05 10:00+00'),
    ('fx_openai', 'openai', 'key_old', 'old-key', 'sk-...0ld0', 'active', 'proj_b', 'carol', '2026-06-01 10:00+00'),
    ('fx_anthropic', 'anthropic', 'ak_c1', 'support-key', 'sk-ant-api03-Z4C...EQAA', 'active', 'wrk_c', 'dave', NULL),
    ('fx_anthropic', 'anthropic', '(console)', '(no API key: Console)', NULL, 'active', '(default)', NULL, NULL);

-- day, account, workspace, key, model, input, output, requests, billed cost
CREATE TEMP TABLE fx (day date, account name, ws text, key text, model text, inp bigint, outp bigint, req bigint, cost numeric);
INSERT INTO fx VALUES
    ('2026-07-15', 'fx_openai', 'proj_a', 'key_a1', 'gpt-4o', 60000, 40000, 10, 1.00),
    ('2026-08-26', 'fx_openai', 'proj_a', 'key_a1', 'gpt-4o', 500000, 300000, 80, 8.00),
    ('2026-08-28', 'fx_openai', 'proj_b', 'key_b1', 'gpt-4o', 300000, 200000, 50, 5.00),
    ('2026-08-30', 'fx_anthropic', 'wrk_c', 'ak_c1', 'claude-sonnet-4-5', 1600000, 400000, NULL, 12.00),
    ('2026-09-02', 'fx_openai', 'proj_a', 'key_a1', 'gpt-4o', 600000, 400000, 100, 10.00),
    ('2026-09-03', 'fx_openai', 'proj_a', 'key_a2', 'gpt-4o-mini', 1500000, 500000, 200, 0.60),
    ('2026-09-04', 'fx_anthropic', 'wrk_c', 'ak_c1', 'claude-sonnet-4-5', 800000, 200000, NULL, 6.00),
    ('2026-09-05', 'fx_openai', 'proj_b', 'key_b1', 'gpt-4o', 300000, 200000, 50, 5.00),
    ('2026-09-07', 'fx_anthropic', '(default)', '(console)', 'claude-haiku-4-5', 300000, 100000, NULL, 0.40),
    ('2026-09-10', 'fx_openai', 'proj_a', 'key_a1', 'gpt-4o', 200000, 100000, 30, 3.00);
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, output_tokens, requests)
SELECT account, CASE WHEN account = 'fx_openai' THEN 'completions' ELSE 'messages' END,
       day::timestamp AT TIME ZONE 'UTC', '1d', ws, key, model, inp, outp, req FROM fx;
INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, amount_usd, currency)
SELECT account, day::timestamp AT TIME ZONE 'UTC', ws, NULL, model || ', input and output', model, cost, 'USD' FROM fx;
SELECT aispend._refresh_rollup('fx_openai', '2026-07-01', '2026-09-30');
SELECT aispend._refresh_rollup('fx_anthropic', '2026-07-01', '2026-09-30');

CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-09-01', '2026-09-07') AS period;
-- Scenario 1
SELECT results_eq($$ SELECT total_cost, previous_total_cost, trend_label FROM aispend.workspaces_summary((SELECT period FROM p)) $$,
    $$ VALUES (22.00, 25.00, '↓ 12.0%') $$, 'S1: total and trend');
SELECT results_eq($$ SELECT name, change FROM aispend.workspaces_vs_previous((SELECT period FROM p)) ORDER BY change DESC LIMIT 1 $$,
    $$ VALUES ('proj_abc123xyz', 2.60) $$, 'S1: the workspace that grew most');
SELECT results_eq($$ SELECT api_key, change FROM aispend.api_keys_vs_previous((SELECT period FROM p), workspace => 'proj_abc123xyz') ORDER BY change DESC $$,
    $$ VALUES ('prod-key', 2.00), ('dev-key', 0.60) $$, 'S1: its keys driving the increase');
SELECT results_eq($$ SELECT model, trend FROM aispend.models_vs_previous((SELECT period FROM p)) ORDER BY current_cost - previous_cost DESC LIMIT 2 $$,
    $$ VALUES ('gpt-4o', 'up'), ('gpt-4o-mini', 'new') $$, 'S1: model mix: gpt-4o-mini is new');
-- Scenario 2
UPDATE aispend.workspaces SET display_name = 'Team Platform' WHERE account = 'fx_openai' AND workspace_id = 'proj_a';
SELECT results_eq($$ SELECT api_key, cost FROM aispend.api_keys_table((SELECT period FROM p), search => 'platform') ORDER BY cost DESC $$,
    $$ VALUES ('prod-key', 10.00), ('dev-key', 0.60) $$, 'S2: the team''s keys by its workspace name');
SELECT results_eq($$ SELECT api_key FROM aispend.api_keys_unused((SELECT period FROM p)) WHERE account IN ('fx_openai', 'fx_anthropic') $$, $$ VALUES ('old-key') $$, 'S2: unused keys');
SELECT results_eq($$ SELECT "API Key", "Workspace", "Cost" FROM aispend.api_keys_csv((SELECT period FROM p), search => 'platform') ORDER BY "Cost" DESC $$,
    $$ VALUES ('prod-key', 'Team Platform', 10.00), ('dev-key', 'Team Platform', 0.60) $$, 'S2: export rows');
-- Scenario 3 (previous month = August 2026)
SELECT results_eq($$ SELECT "Name", "Cost", "% of Total", "Trend" FROM aispend.workspaces_csv(aispend.period('previous_month', '2026-09-15')) ORDER BY "Cost" DESC $$,
    $$ VALUES ('Support Bot', 12.00, 48.00, 'new'), ('Team Platform', 8.00, 32.00, '↑ 700.0%'), ('Batch Jobs', 5.00, 20.00, 'new') $$,
    'S3: workspaces of the previous month with trends vs July');
SELECT results_eq($$ SELECT "Model", "Cost/1M", "Cost" FROM aispend.models_csv(aispend.period('previous_month', '2026-09-15')) ORDER BY "Cost" DESC $$,
    $$ VALUES ('gpt-4o', 10.0000, 13.00), ('claude-sonnet-4-5 ⭐', 6.0000, 12.00) $$, 'S3: models of the previous month');
SELECT * FROM finish();
ROLLBACK;
