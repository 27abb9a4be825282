-- What the demo prints after its sync: the four dashboard tabs for the last 30 UTC days.
\pset footer off
\pset null '-'

\echo '━━ 1. Workspaces ━━ last 30 days vs the 30 before'
SELECT round(total_cost, 2) AS "Total Cost", active_workspaces AS "Active Workspaces",
       round(openai_cost, 2) AS "OpenAI", round(anthropic_cost, 2) AS "Anthropic", trend_label AS "Trend"
  FROM aispend.workspaces_summary();
SELECT * FROM aispend.workspaces_csv() ORDER BY "Cost" DESC;

\echo '━━ 2. API Key Analytics ━━'
SELECT round(total_cost, 2) AS "Total Cost", active_keys AS "Active Keys", total_requests AS "Total Requests",
       avg_cost_per_1m AS "Avg Cost/1M", trend_label AS "Trend"
  FROM aispend.api_keys_summary();
SELECT * FROM aispend.api_keys_csv() ORDER BY "Cost" DESC LIMIT 15;
\echo 'Unused keys (0 requests in the period):'
SELECT api_key AS "API Key", workspace AS "Workspace", provider AS "Provider", status AS "Status"
  FROM aispend.api_keys_unused() ORDER BY 1;

\echo '━━ 3. Model Efficiency ━━ (⭐ = lowest cost per 1M tokens)'
SELECT round(total_cost, 2) AS "Total Cost", model_count AS "Models", total_requests AS "Total Requests",
       avg_cost_per_1m AS "Avg Cost/1M", trend_label AS "Trend"
  FROM aispend.models_summary();
SELECT * FROM aispend.models_csv() ORDER BY "Cost" DESC;

\echo '━━ 4. Workspace Management ━━ rename with: SELECT aispend.rename_workspace(account, workspace_id, new_name)'
SELECT * FROM aispend.workspace_management_csv ORDER BY "Provider", "Workspace Name";
