-- 62_tab_api_keys.sql: the API Key Analytics tab. See docs/dashboard-api-keys.md.
-- A row is an API key within a workspace: the sentinels '(console)' (Anthropic Console usage) and '(none)'
-- (OpenAI usage without a key) appear once per workspace they were used in. Keys are not combined by name.
-- Extra filter: workspace (the drill-down of scenario 1): a workspace name (case-insensitive, exact; every
-- workspace with that name, i.e. a combined row of the Workspaces tab) or a workspace id.
-- Search matches the key name, its workspace name, key hint, id or owner (case-insensitive substring).

-- STABLE, not IMMUTABLE: concat_ws is STABLE, and a function declared stricter than its body is never inlined.
CREATE FUNCTION aispend._key_matches(key_name text, workspace_name text, key_hint text, api_key_id text,
                                     owner text, search text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
RETURN search IS NULL OR search = ''
    OR pg_catalog.strpos(pg_catalog.lower(pg_catalog.concat_ws(E'\x1f', key_name, workspace_name, key_hint,
                                                                api_key_id, owner)),
                         pg_catalog.lower(search)) > 0;
COMMENT ON FUNCTION aispend._key_matches(text, text, text, text, text, text) IS 'Internal: the API keys tab''s search.';

CREATE FUNCTION aispend.api_keys_table(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, cost_per_1m numeric, pct_of_total numeric, trend text,
               change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, account name, workspace_id text, api_key_id text, owner text,
               last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT coalesce(k.name, t.api_key_id) AS api_key, coalesce(w.name, t.workspace_id) AS workspace,
               k.key_hint, t.provider,
               CASE WHEN k.status IS NULL OR k.status = 'active' THEN 'active' ELSE 'inactive' END AS status,
               t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens, t.previous_requests,
               t.account, t.workspace_id, t.api_key_id, k.owner, k.last_used_at
        FROM aispend._entity_totals('k', period, provider) t
        LEFT JOIN aispend.api_keys k ON k.account = t.account AND k.api_key_id = t.api_key_id
        LEFT JOIN aispend.workspaces w ON w.account = t.account AND w.workspace_id = t.workspace_id
        WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
          AND (min_cost IS NULL OR t.cost >= min_cost)
          AND (max_cost IS NULL OR t.cost <= max_cost)
          AND (workspace IS NULL OR pg_catalog.lower(coalesce(w.name, t.workspace_id)) = pg_catalog.lower(workspace)
               OR t.workspace_id = workspace)),
    o AS (
        SELECT e.*, pg_catalog.row_number() OVER (ORDER BY e.cost DESC, e.api_key, e.account, e.workspace_id,
                                                          e.api_key_id) AS ord
        FROM e)
    SELECT o.api_key, o.workspace, o.key_hint, o.provider, o.status, o.cost, o.tokens, o.requests,
           pg_catalog.round(1000000 * o.cost / NULLIF(o.tokens, 0), 4), pc.pct,
           tr.indicator, tr.change_pct, tr.label, o.previous_cost, o.previous_tokens, o.previous_requests,
           o.account, o.workspace_id, o.api_key_id, o.owner, o.last_used_at
    FROM o
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    CROSS JOIN aispend.trend(o.cost, o.previous_cost) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.api_keys_table(daterange, text, text, numeric, numeric, text) IS
    'API Key Analytics table: one row per API key and workspace. Arguments: period, provider, search (key name, '
    'workspace name, hint, id, owner), min_cost, max_cost, workspace (name or id: drill-down). Cost/1M = '
    'cost per million tokens (4 decimals). Rows come in the default order: cost DESC, api_key.';

CREATE FUNCTION aispend.api_keys_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         workspace text DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_keys integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, previous_total_cost numeric, trend text, change_pct numeric,
               trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.total, s.active, s.requests, s.tokens, pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4),
           s.previous, tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0))::integer AS active,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace) t) s
    CROSS JOIN aispend.trend(s.total, s.previous) tr;
END;
COMMENT ON FUNCTION aispend.api_keys_summary(daterange, text, text, numeric, numeric, text) IS
    'API Key Analytics summary: Total Cost, Active API Keys (with cost, tokens or requests in the period), '
    'Total Requests (providers that report them), Average Cost per 1M Tokens (total cost / total tokens), trend.';

CREATE FUNCTION aispend.api_keys_top(period daterange DEFAULT aispend.period('last_30_days'), top_n integer DEFAULT 10,
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL)
RETURNS TABLE (rank integer, label text, api_key text, workspace text, cost numeric, pct_of_total numeric,
               keys integer)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH t AS (
        SELECT x.*, pg_catalog.row_number() OVER (ORDER BY x.cost DESC, x.api_key, x.account, x.workspace_id,
                                                            x.api_key_id) AS rn
        FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace) x
        WHERE x.cost <> 0),
    slices AS (
        SELECT LEAST(t.rn, top_n + 1) AS ord,
               CASE WHEN t.rn <= top_n THEN t.api_key || ' (' || t.workspace || ')' ELSE 'Other' END AS label,
               CASE WHEN t.rn <= top_n THEN min(t.api_key) END AS api_key,
               CASE WHEN t.rn <= top_n THEN min(t.workspace) END AS workspace,
               sum(t.cost) AS cost, count(*)::integer AS keys
        FROM t
        GROUP BY 1, 2, t.rn <= top_n)
    SELECT s.ord::integer, s.label, s.api_key, s.workspace, s.cost, pc.pct, s.keys
    FROM slices s
    JOIN aispend._pct_of_total(ARRAY(SELECT s2.cost FROM slices s2 ORDER BY s2.ord)) pc ON pc.ord = s.ord
    ORDER BY s.ord;
END;
COMMENT ON FUNCTION aispend.api_keys_top(daterange, integer, text, text, numeric, numeric, text) IS
    'API Key Analytics pie chart "Cost Distribution by API Key": the top_n keys by cost, then one "Other" row '
    'with the rest (keys = how many); "% of Total" as in the tables. Rows come in the default order: rank.';

CREATE FUNCTION aispend.api_keys_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                             provider text DEFAULT 'all', search text DEFAULT NULL,
                                             min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                             workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, provider text, current_cost numeric, previous_cost numeric,
               change numeric, change_pct numeric, trend text, account name, workspace_id text, api_key_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct,
           t.trend, t.account, t.workspace_id, t.api_key_id
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace) t;
END;
COMMENT ON FUNCTION aispend.api_keys_vs_previous(daterange, text, text, numeric, numeric, text) IS
    'API Key Analytics bar chart "API Key Cost Comparison": current vs previous period per key. Default order: '
    'current_cost DESC (change DESC: the keys driving an increase).';

CREATE FUNCTION aispend.api_keys_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL)
RETURNS TABLE ("API Key" text, "Workspace" text, "Key Hint" text, "Provider" text, "Status" text, "Cost" numeric,
               "Tokens" bigint, "Requests" bigint, "Cost/1M" numeric, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.api_key), aispend.csv_cell(t.workspace), aispend.csv_cell(t.key_hint), t.provider,
           t.status, pg_catalog.round(t.cost, 2), t.tokens,
           t.requests, t.cost_per_1m, t.trend_label
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace) t;
END;
COMMENT ON FUNCTION aispend.api_keys_csv(daterange, text, text, numeric, numeric, text) IS
    'API Key Analytics table with the dashboard''s column titles ("API Key" is the key name, "Workspace" its '
    'workspace): \copy (SELECT * FROM aispend.api_keys_csv(aispend.period(''last_30_days'')) ORDER BY "Cost" DESC) '
    'TO ''api_keys.csv'' WITH (FORMAT csv, HEADER)';

CREATE FUNCTION aispend.api_keys_unused(period daterange DEFAULT aispend.period('last_30_days'),
                                        provider text DEFAULT 'all', search text DEFAULT NULL,
                                        workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, days_since_last_use integer, previous_cost numeric, account name,
               workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(k.name, k.api_key_id), coalesce(w.name, k.workspace_id), k.key_hint, k.provider,
           CASE WHEN k.status = 'active' THEN 'active' ELSE 'inactive' END, k.created_at, k.last_used_at,
           (pg_catalog.upper(period) - 1 - (k.last_used_at AT TIME ZONE 'UTC')::date)::integer,
           coalesce(u.prev, 0), k.account, k.workspace_id, k.api_key_id, k.owner
    FROM aispend.api_keys k
    LEFT JOIN aispend.workspaces w ON w.account = k.account AND w.workspace_id = k.workspace_id
    LEFT JOIN (SELECT t.account, t.api_key_id, sum(t.requests) AS req, sum(t.tokens) AS tok, sum(t.cost) AS cost,
                      sum(t.previous_cost) AS prev
               FROM aispend._entity_totals('k', period, api_keys_unused.provider) t GROUP BY t.account, t.api_key_id) u
           ON u.account = k.account AND u.api_key_id = k.api_key_id
    WHERE k.api_key_id NOT LIKE '(%'
      AND aispend._provider_matches(k.provider, api_keys_unused.provider)
      AND coalesce(u.req, 0) = 0 AND coalesce(u.tok, 0) = 0 AND coalesce(u.cost, 0) = 0
      AND aispend._key_matches(k.name, w.name, k.key_hint, k.api_key_id, k.owner, search)
      AND (api_keys_unused.workspace IS NULL OR pg_catalog.lower(coalesce(w.name, k.workspace_id)) = pg_catalog.lower(api_keys_unused.workspace)
           OR k.workspace_id = api_keys_unused.workspace);
END;
COMMENT ON FUNCTION aispend.api_keys_unused(daterange, text, text, text) IS
    'Unused API keys: listed keys with 0 requests (and no tokens, no cost) in the period: candidates for '
    'deactivation. Default order: last_used_at NULLS FIRST, api_key.';

CREATE FUNCTION aispend.api_keys_idle(days integer DEFAULT 30, provider text DEFAULT 'all',
                                      as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, days_since_last_use integer, account name, workspace_id text,
               api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(k.name, k.api_key_id), coalesce(w.name, k.workspace_id), k.key_hint, k.provider,
           CASE WHEN k.status = 'active' THEN 'active' ELSE 'inactive' END, k.created_at, k.last_used_at,
           (as_of - (k.last_used_at AT TIME ZONE 'UTC')::date)::integer, k.account, k.workspace_id, k.api_key_id,
           k.owner
    FROM aispend.api_keys k
    LEFT JOIN aispend.workspaces w ON w.account = k.account AND w.workspace_id = k.workspace_id
    WHERE k.api_key_id NOT LIKE '(%'
      AND aispend._provider_matches(k.provider, api_keys_idle.provider)
      AND (k.last_used_at IS NULL OR (k.last_used_at AT TIME ZONE 'UTC')::date <= as_of - api_keys_idle.days);
END;
COMMENT ON FUNCTION aispend.api_keys_idle(integer, text, date) IS
    'API keys not used for at least `days` days by the provider''s last-used date (last_used_at; NULL = never used '
    'or not reported). Default order: last_used_at NULLS FIRST.';
