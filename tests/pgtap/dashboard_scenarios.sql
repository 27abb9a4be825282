-- docs/scenarios.md run on the dashboard fixture (period 2026-09-01..07 as "this month"). Rolled back.
BEGIN;
SELECT plan(9);
\ir include/dashboard_fixture.psql
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
