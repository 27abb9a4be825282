-- The dashboard on a Citus cluster (tests/citus/run.sh): each statement below runs on the cluster and on a single
-- node synced from the same mock organisation, and must print the same there. One statement a line; lines starting
-- with -- are comments. Clock times and ids (set by the clock or a sequence) are left out; rows are ordered
-- completely where a function's own order is not.
SELECT aispend.set_budget('Demo: all AI spend', 1500) IS NOT NULL
SELECT aispend.set_alert_rule('Demo: over budget', 'budget_forecast') IS NOT NULL
SELECT aispend.set_alert_rule('Demo: spikes', 'anomaly') IS NOT NULL
-- 1. Workspaces
SELECT * FROM aispend.workspaces_summary('last_30_days')
SELECT * FROM aispend.workspaces_table('last_30_days')
SELECT * FROM aispend.workspaces_by_provider('last_30_days')
SELECT * FROM aispend.workspaces_vs_previous('last_30_days')
SELECT * FROM aispend.workspaces_csv('last_30_days')
SELECT * FROM aispend.workspaces_csv('this_month', 'anthropic')
SELECT * FROM aispend.workspaces_csv('last_7_days', search => 'co', min_cost => 1)
SELECT * FROM aispend.workspaces_table_30d
-- 2. API keys, with the drill-downs
SELECT * FROM aispend.api_keys_summary('last_30_days')
SELECT * FROM aispend.api_keys_table('last_30_days')
SELECT * FROM aispend.api_keys_top('last_30_days')
SELECT * FROM aispend.api_keys_vs_previous('last_30_days')
SELECT * FROM aispend.api_keys_csv('last_30_days')
SELECT * FROM aispend.api_keys_unused('last_30_days')
SELECT * FROM aispend.api_keys_idle(7)
SELECT * FROM aispend.api_keys_table('last_30_days', workspace => 'Research Assistant')
SELECT * FROM aispend.api_keys_table('last_30_days', api_key => 'research-batch-runner')
SELECT * FROM aispend.api_keys_summary('last_30_days', 'openai', workspace => 'Customer Support Bot')
SELECT * FROM aispend.api_keys_table_30d
-- 3. Models
SELECT * FROM aispend.models_summary('last_30_days')
SELECT * FROM aispend.models_table('last_30_days')
SELECT * FROM aispend.models_by_cost('last_30_days')
SELECT * FROM aispend.models_vs_previous('last_30_days')
SELECT * FROM aispend.models_csv('last_30_days')
SELECT * FROM aispend.models_table('last_30_days', workspace => 'Code Review')
SELECT * FROM aispend.daily_series('last_30_days')
SELECT * FROM aispend.daily_series('last_30_days', 'openai', model => 'gpt-4o')
SELECT * FROM aispend.models_table_30d
-- 4. Workspace Management and the name history (renamed and reverted by the test before)
SELECT * FROM aispend.workspace_management
SELECT * FROM aispend.workspace_management_csv
SELECT account, workspace_id, provider, current_name, source, old_name, new_name, action FROM aispend.workspace_history ORDER BY account, workspace_id, changed_at, id
-- savings, caching, spikes, budgets, alerts
SELECT * FROM aispend.savings_opportunities('last_30_days')
SELECT * FROM aispend.savings_opportunities('last_30_days', workspace => 'Research Assistant')
SELECT * FROM aispend.reprice('gpt-4o-mini', 'last_30_days')
SELECT * FROM aispend.cache_efficiency('last_30_days')
SELECT * FROM aispend.anomalies('last_30_days')
SELECT * FROM aispend.budgets_status()
SELECT event, rule, scope, message FROM aispend.evaluate_alerts()
SELECT rule, kind, alert_key, scope, observed, threshold, message, state FROM aispend.alerts ORDER BY rule, alert_key
-- freshness, the cost basis, the cost model's views, FOCUS export, middleware coverage
SELECT account, provider, usage_day, costs_day, settled_day, status FROM aispend.data_freshness
SELECT account, provider, endpoint, complete_through, last_status, last_error_sqlstate, running, server_exists FROM aispend.freshness
SELECT * FROM aispend.cost_basis_split('last_30_days')
SELECT * FROM aispend.unrecognised_line_items ORDER BY 1, 2, 3, 4
SELECT * FROM aispend.daily_facts x ORDER BY x::text
SELECT * FROM aispend.cost_facts x ORDER BY x::text
SELECT * FROM aispend.usage_costed x ORDER BY x::text
SELECT * FROM aispend.unpriced_models x ORDER BY x::text
SELECT * FROM aispend.reconciliation x ORDER BY x::text
SELECT * FROM aispend.focus_30d x ORDER BY x::text
SELECT * FROM aispend.middleware_coverage_30d
-- the report (every chart and table of the dashboard in one page), its clock times (generated, last sync, alerts) left out
SELECT regexp_replace(aispend.report_html(aispend.period('last_30_days')), '\d{4}-\d\d-\d\d \d\d:\d\d UTC', '(time)', 'g')
