-- What the demo prints after its sync: the four dashboard tabs for the last 30 UTC days, in each function's
-- default order, and what a finance user checks before trusting them.
\pset footer off
\pset null '-'

\echo '━━ 1. Workspaces ━━ last 30 days vs the 30 before'
SELECT total_cost AS "Total Cost", active_workspaces AS "Active Workspaces", openai_cost AS "OpenAI",
       anthropic_cost AS "Anthropic", trend_label AS "Trend"
  FROM aispend.workspaces_summary('last_30_days');
SELECT * FROM aispend.workspaces_csv('last_30_days');

\echo '━━ 2. API Key Analytics ━━ (keys first; console usage and fees without a key after them)'
SELECT total_cost AS "Total Cost", active_keys AS "Active Keys", total_requests AS "Total Requests",
       avg_cost_per_1m AS "Avg Cost/1M", trend_label AS "Trend"
  FROM aispend.api_keys_summary('last_30_days');
SELECT * FROM aispend.api_keys_csv('last_30_days') LIMIT 15;
\echo 'Unused keys (listed, active, 0 requests in the period):'
SELECT api_key AS "API Key", workspace AS "Workspace", provider AS "Provider", last_active_day AS "Last Active"
  FROM aispend.api_keys_unused('last_30_days');

\echo '━━ 3. Model Efficiency ━━ (⭐ = lowest cost per 1M tokens within a class)'
SELECT total_cost AS "Total Cost", model_count AS "Models", total_requests AS "Total Requests",
       avg_cost_per_1m AS "Avg Cost/1M", most_efficient_model AS "Most Efficient (chat)", trend_label AS "Trend"
  FROM aispend.models_summary('last_30_days');
SELECT * FROM aispend.models_csv('last_30_days');

\echo '━━ Savings advisor ━━ top 3: the same tokens at a cheaper model''s list prices (a re-pricing, not a judgement of quality)'
SELECT api_key AS "API Key", model AS "Model", alternative AS "Alternative", list_cost AS "List cost",
       repriced_cost AS "Re-priced", saving AS "Saving", saving_pct AS "%"
  FROM aispend.savings_opportunities('last_30_days') LIMIT 3;

\echo '━━ Budgets ━━ one of $1,500 for this month, against the month-end forecast (docs/budgets.md)'
SELECT aispend.set_budget('Demo: all AI spend', 1500) \g /dev/null
SELECT name AS "Budget", amount_usd AS "Amount", spent AS "Spent", forecast AS "Forecast",
       forecast_low AS "Low", forecast_high AS "High", will_exceed AS "Will exceed", days_left AS "Days left"
  FROM aispend.budgets_status();

\echo '━━ Spikes ━━ the first day each key, workspace or model spiked in the last 30 days (docs/alerts.md)'
SELECT DISTINCT ON (kind, entity) day AS "First day", kind AS "Kind", entity AS "Entity", observed AS "Cost",
       expected AS "Expected", ratio AS "x", score AS "Score"
  FROM aispend.anomalies('last_30_days') ORDER BY kind, entity, day;

\echo '━━ Alerts ━━ rules on the budget''s forecast and on spikes, evaluated now (every sync does it at its end)'
SELECT aispend.set_alert_rule('Demo: over budget', 'budget_forecast') \g /dev/null
SELECT aispend.set_alert_rule('Demo: spikes', 'anomaly') \g /dev/null
SELECT event AS "Event", rule AS "Rule", message AS "Alert" FROM aispend.evaluate_alerts();

\echo '━━ 4. Workspace Management ━━ rename with: SELECT aispend.rename_workspace(account, workspace_id, new_name)'
SELECT * FROM aispend.workspace_management_csv();

\echo '━━ Data freshness ━━ (and the share of the last 30 days'' cost that is still an estimate)'
SELECT account AS "Account", usage_day AS "Usage through", costs_day AS "Costs through",
       settled_day AS "Settled through" FROM aispend.data_freshness;
SELECT cost_basis AS "Basis", cost AS "Cost", pct_of_cost AS "%" FROM aispend.cost_basis_split('last_30_days');
\echo 'Cost lines aispend could not fully read (their amounts are counted):'
SELECT account AS "Account", line_item AS "Line", effect AS "Counted", amount_usd AS "Amount"
  FROM aispend.unrecognised_line_items;
