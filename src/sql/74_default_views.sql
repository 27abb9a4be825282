-- 74_default_views.sql: default-period views (last 30 days vs the 30 days before, today UTC included) for BI
-- tools that cannot pass parameters, and the tidy daily fact view for ad-hoc questions.

CREATE VIEW aispend.workspaces_summary_30d AS SELECT * FROM aispend.workspaces_summary('last_30_days');
CREATE VIEW aispend.workspaces_by_provider_30d AS SELECT * FROM aispend.workspaces_by_provider('last_30_days');
CREATE VIEW aispend.workspaces_vs_previous_30d AS SELECT * FROM aispend.workspaces_vs_previous('last_30_days');
CREATE VIEW aispend.workspaces_table_30d AS SELECT * FROM aispend.workspaces_table('last_30_days');
CREATE VIEW aispend.api_keys_summary_30d AS SELECT * FROM aispend.api_keys_summary('last_30_days');
CREATE VIEW aispend.api_keys_top_30d AS SELECT * FROM aispend.api_keys_top('last_30_days');
CREATE VIEW aispend.api_keys_vs_previous_30d AS SELECT * FROM aispend.api_keys_vs_previous('last_30_days');
CREATE VIEW aispend.api_keys_table_30d AS SELECT * FROM aispend.api_keys_table('last_30_days');
CREATE VIEW aispend.api_keys_unused_30d AS SELECT * FROM aispend.api_keys_unused('last_30_days');
CREATE VIEW aispend.models_summary_30d AS SELECT * FROM aispend.models_summary('last_30_days');
CREATE VIEW aispend.models_by_cost_30d AS SELECT * FROM aispend.models_by_cost('last_30_days');
CREATE VIEW aispend.models_vs_previous_30d AS SELECT * FROM aispend.models_vs_previous('last_30_days');
CREATE VIEW aispend.models_table_30d AS SELECT * FROM aispend.models_table('last_30_days');
CREATE VIEW aispend.savings_opportunities_30d AS SELECT * FROM aispend.savings_opportunities('last_30_days');
CREATE VIEW aispend.cache_efficiency_30d AS SELECT * FROM aispend.cache_efficiency('last_30_days');

COMMENT ON VIEW aispend.workspaces_summary_30d IS 'Workspaces tab summary, last 30 days vs the 30 days before (aispend.workspaces_summary()).';
COMMENT ON VIEW aispend.workspaces_by_provider_30d IS 'Workspaces tab pie "Cost Distribution by Provider", last 30 days.';
COMMENT ON VIEW aispend.workspaces_vs_previous_30d IS 'Workspaces tab bars "Current vs Previous Period", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.workspaces_table_30d IS 'Workspaces tab table, last 30 days (aispend.workspaces_table()).';
COMMENT ON VIEW aispend.api_keys_summary_30d IS 'API Key Analytics summary, last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.api_keys_top_30d IS 'API Key Analytics pie "Cost Distribution by API Key" (top 10 + Other), last 30 days.';
COMMENT ON VIEW aispend.api_keys_vs_previous_30d IS 'API Key Analytics bars "API Key Cost Comparison", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.api_keys_table_30d IS 'API Key Analytics table, last 30 days (aispend.api_keys_table()).';
COMMENT ON VIEW aispend.api_keys_unused_30d IS 'Listed, active API keys with 0 requests, tokens and cost in the last 30 days.';
COMMENT ON VIEW aispend.models_summary_30d IS 'Model Efficiency summary, last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.models_by_cost_30d IS 'Model Efficiency pie "Cost Distribution by Model", last 30 days.';
COMMENT ON VIEW aispend.models_vs_previous_30d IS 'Model Efficiency bars "Model Cost Comparison", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.models_table_30d IS 'Model Efficiency table, last 30 days (aispend.models_table()).';
COMMENT ON VIEW aispend.savings_opportunities_30d IS
    'Savings advisor, last 30 days: cheaper models of the same class per key (aispend.savings_opportunities; same '
    'provider, saving of at least $0.01). A re-pricing of token counts, not a judgement of quality.';
COMMENT ON VIEW aispend.cache_efficiency_30d IS
    'Prompt caching per key and model, last 30 days, at a 50% hit rate (aispend.cache_efficiency).';

CREATE VIEW aispend.daily_facts WITH (security_invoker = true) AS
SELECT r.day, r.account, ap.provider, r.workspace_id, coalesce(w.name, r.workspace_id) AS workspace,
       r.api_key_id, coalesce(k.name, r.api_key_id) AS api_key, k.key_hint, r.model, r.cost, r.cost_basis,
       r.billed_cost, r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.total_tokens,
       r.requests, r.unpriced
FROM aispend.daily_rollup r
LEFT JOIN aispend._account_providers() ap ON ap.account = r.account
LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id;
COMMENT ON VIEW aispend.daily_facts IS
    'Tidy daily facts for ad-hoc BI: one row per UTC day, account, workspace, API key and model, with the current '
    'names, cost and tokens. Filter on day (e.g. WHERE day >= current_date - 90) and group as you like.';
COMMENT ON COLUMN aispend.daily_facts.cost IS
    'Cost of the day and grain, US dollars, exact (the cost model''s cost: billed, allocated or estimated; the tabs '
    'round their sums to the cent).';

-- Column comments of every dashboard view, from one dictionary.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        WITH dict(col, txt) AS (VALUES
            ('name', 'Name: the workspace name shown (custom name, else the provider''s); same names are combined.'),
            ('provider', 'Provider (several, comma-separated, for a combined row).'),
            ('cost', 'Cost in the period, US dollars rounded to the cent (the cost model''s cost: billed, allocated or estimated; exact in daily_facts).'),
            ('pct_of_total', '% of Total: share of the rows shown, percent, 2 decimals, largest-remainder rounded (sums to 100).'),
            ('requests', 'Requests in the period (providers that report them; NULL for Anthropic only).'),
            ('tokens', 'Tokens in the period (input + output).'),
            ('trend', 'Trend indicator vs the previous period: up, down, flat (|change| < 1%), new (previous 0), incomplete (the previous period is older than the synced history).'),
            ('change_pct', 'Trend: percent change vs the previous period, 1 decimal; NULL when the previous was 0 or the trend is incomplete.'),
            ('trend_label', 'Trend as shown: ''↑ 12.5%'', ''↓ 3.0%'', ''→ 0.4%'', ''new'' or ''history from <day>''.'),
            ('previous_cost', 'Cost in the period compared with (aispend.previous_period: the previous calendar period, or as many days before).'),
            ('previous_tokens', 'Tokens in the previous period.'),
            ('previous_requests', 'Requests in the previous period.'),
            ('workspaces', 'Number of workspaces combined in this row.'),
            ('accounts', 'Accounts (aispend servers) of the row.'),
            ('workspace_ids', 'Provider workspace ids combined in this row.'),
            ('total_cost', 'Total Cost of the rows.'),
            ('active_workspaces', 'Active Workspaces: names with cost, tokens or requests in the period.'),
            ('openai_cost', 'Cost of OpenAI workspaces.'),
            ('anthropic_cost', 'Cost of Anthropic workspaces.'),
            ('other_cost', 'Cost of other providers.'),
            ('previous_total_cost', 'Total cost of the previous period.'),
            ('current_cost', 'Cost in the period.'),
            ('change', 'current_cost - previous_cost.'),
            ('api_key', 'API Key: the key''s name (id when unnamed; sentinels for usage without a key).'),
            ('workspace', 'Workspace / project of the key (name shown).'),
            ('key_hint', 'Key Hint: the redacted key the provider shows.'),
            ('status', 'Status: active, inactive, deleted (gone from the provider''s list), unlisted (seen in facts only); NULL for rows that are not keys.'),
            ('kind', 'What the row is (aispend.api_key_kind): key, deleted key, unlisted key, console, no key, fees without a key.'),
            ('class', 'Model class (aispend.model_class): chat, embedding, audio, image, other.'),
            ('last_active_day', 'Last UTC day with usage (tokens or requests) in the synced data.'),
            ('not_key_cost', 'Cost of the rows that are not keys (console, usage or fees without a key).'),
            ('cost_per_1m', 'Cost/1M: cost per million tokens, 4 decimals.'),
            ('account', 'The account (aispend server).'),
            ('workspace_id', 'Provider workspace id.'),
            ('api_key_id', 'Provider API key id.'),
            ('owner', 'Owner of the key, as the provider reports it.'),
            ('last_used_at', 'Last use according to the provider (NULL: never, or not reported).'),
            ('active_keys', 'Active API Keys: keys (not console, usage or fees without a key) with cost, tokens or requests in the period.'),
            ('total_requests', 'Total Requests.'),
            ('avg_cost_per_1m', 'Average Cost per 1M Tokens: total cost / total tokens x 1,000,000.'),
            ('rank', 'Pie slice order: the top keys, then Other keys, then Not an API key.'),
            ('label', 'Slice label: key (workspace), Other keys, or Not an API key.'),
            ('keys', 'Keys in the slice.'),
            ('created_at', 'Creation time at the provider.'),
            ('days_since_last_use', 'Days since the last use: the later of the provider''s last_used_at and last_active_day.'),
            ('model', 'Model (''(no model: tool & service fees)'': cost lines without a model).'),
            ('most_efficient', 'The star: lowest Cost/1M within the model''s class among models with cost and tokens.'),
            ('model_count', 'Models with cost, tokens or requests in the period.'),
            ('most_efficient_model', 'The starred chat model (else the star of the class with the most cost).'),
            ('current_tokens', 'Tokens in the period.'),
            ('day', 'UTC day.'),
            ('billed_cost', 'Cost as billed by the provider at this grain.'),
            ('allocated_cost', 'Billed cost allocated to this grain by usage.'),
            ('estimated_cost', 'Cost estimated from list prices.'),
            ('cost_basis', 'billed, allocated or estimated.'),
            ('input_tokens', 'Input tokens (uncached + cache reads + cache writes).'),
            ('output_tokens', 'Output tokens.'),
            ('total_tokens', 'Input + output tokens.'),
            ('unpriced', 'Some usage had no price: cost incomplete.'),
            ('alternative', 'A cheaper model of the same class the organisation uses.'),
            ('alternative_provider', 'The provider whose list prices the alternative is re-priced at.'),
            ('list_cost', 'The usage at its own model''s list prices (as aispend estimates it), US dollars.'),
            ('repriced_cost', 'The same usage re-priced at the alternative''s list prices, day by day, US dollars.'),
            ('saving', 'list_cost - repriced_cost, US dollars.'),
            ('saving_pct', 'The saving in percent of list_cost.'),
            ('share_of_key_pct', 'The share of the key''s list cost this model has, percent.'),
            ('assumptions', 'Token kinds the alternative has no price of its own for, priced by a stated default.'),
            ('note', 'What the figures are: a re-pricing of token counts at list prices, not a judgement of quality.'),
            ('cache_read_tokens', 'Input tokens read from the prompt cache.'),
            ('cached_pct', 'Cache reads in percent of all input tokens.'),
            ('caching_saved', 'What the cache reads saved against the uncached input price, US dollars.'),
            ('saving_at_hit_rate', 'What reaching the stated cache-hit rate would save on top, US dollars.'),
            ('uncached_heavy', 'Much input, no cache read, on a model that offers caching.'))
        SELECT cl.oid::regclass AS rel, a.attname, d.txt
        FROM pg_catalog.pg_class cl
        JOIN pg_catalog.pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN dict d ON d.col = a.attname
        WHERE cl.relnamespace = 'aispend'::regnamespace AND cl.relkind = 'v'
          AND pg_catalog.col_description(cl.oid, a.attnum) IS NULL
    LOOP
        EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', c.rel, c.attname, c.txt);
    END LOOP;
END
$$;
