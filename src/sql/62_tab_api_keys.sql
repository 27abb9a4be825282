-- 62_tab_api_keys.sql: the API Key Analytics tab. See docs/dashboard-api-keys.md.
-- A row is an API key within a workspace. Rows that are not keys keep their cost but sit apart, after the keys,
-- with a kind saying what they are and no status: 'console' (Anthropic Console usage), 'no key' (OpenAI usage
-- the provider attributes to no key), 'fees without a key' (billed lines no key can be given). Keys are not
-- combined by name. Listed keys without anything in either period appear too, with cost 0 (include_unused).
-- Drill-down filters: workspace (a workspace name, case-insensitive: every workspace with that name, or an id)
-- and api_key (a key name, case-insensitive, or an id).
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

CREATE FUNCTION aispend.api_key_kind(api_key_id text, status text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN api_key_id = '(console)' THEN 'console'
            WHEN api_key_id = '(none)' THEN 'no key'
            WHEN api_key_id = '(unattributed)' THEN 'fees without a key'
            WHEN api_key_id LIKE '(%' THEN 'not a key'
            WHEN status = 'deleted' THEN 'deleted key'
            WHEN status IS NULL OR status = 'unlisted' THEN 'unlisted key'
            ELSE 'key' END;
COMMENT ON FUNCTION aispend.api_key_kind(text, text) IS
    'What a row of the API keys tab is, from its api_key_id and aispend.api_keys.status: key (listed by the '
    'provider), deleted key (listed once, gone now), unlisted key (seen in usage or costs only), console '
    '(Anthropic Console usage, no key), no key (usage the provider attributes to no key), fees without a key '
    '(billed lines no key can be given).';

-- The status shown: the provider's, summarised; none for rows that are not keys.
CREATE FUNCTION aispend._api_key_status(api_key_id text, status text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN api_key_id LIKE '(%' THEN NULL
            WHEN status = 'active' THEN 'active'
            WHEN status = 'deleted' THEN 'deleted'
            WHEN status IS NULL OR status = 'unlisted' THEN 'unlisted'
            ELSE 'inactive' END;
COMMENT ON FUNCTION aispend._api_key_status(text, text) IS
    'Internal: active, inactive (the provider''s inactive, archived, expired), deleted, unlisted; NULL for rows '
    'that are not keys.';

CREATE FUNCTION aispend._api_key_label(api_key_id text, key_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(key_name, CASE api_key_id WHEN '(unattributed)' THEN '(fees without an API key)'
                                          WHEN '(console)' THEN '(no API key: Console)'
                                          WHEN '(none)' THEN '(no API key)'
                                          ELSE api_key_id END);
COMMENT ON FUNCTION aispend._api_key_label(text, text) IS 'Internal: the name shown for a key row.';

-- The last UTC day with usage (tokens or requests) of each key with any, from the daily rollup: of one account,
-- of one key, or of all (NULL). The tabs join it once rather than asking per key: asked per key, 120,000 keys
-- took minutes. PL/pgSQL: on Citus a query of one shard, or grouped on each shard, with the arguments' values.
-- (The key is compared in the column's collation: called with an account, of type name, a text argument may
-- come in as collation "C", and the index on the key would not be used.)
CREATE FUNCTION aispend._last_active_days(p_account name, p_api_key_id text)
RETURNS TABLE (account name, api_key_id text, day date)
LANGUAGE plpgsql STABLE ROWS 5000
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
        SELECT r.account, r.api_key_id, max(r.day) FROM aispend.daily_rollup r
        WHERE (p_account IS NULL OR r.account = p_account)
          AND (p_api_key_id IS NULL OR r.api_key_id = p_api_key_id COLLATE "default")
          AND (r.total_tokens > 0 OR r.requests > 0)
        GROUP BY r.account, r.api_key_id;
END
$$;
COMMENT ON FUNCTION aispend._last_active_days(name, text) IS
    'Internal: (account, api_key_id, last UTC day with usage) of every key with usage in the synced data, of one '
    'account or one key (NULL: all).';

CREATE FUNCTION aispend.api_key_last_active(account name, api_key_id text)
RETURNS date LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF api_key_last_active.account IS NULL OR api_key_last_active.api_key_id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT d.day FROM aispend._last_active_days(api_key_last_active.account, api_key_last_active.api_key_id) d);
END
$$;
COMMENT ON FUNCTION aispend.api_key_last_active(name, text) IS
    'The last UTC day with usage (tokens or requests) of an API key in the synced data; NULL: none.';

-- Per key and workspace, exact, with the rows that are not keys and (include_unused) the listed keys without use.
CREATE FUNCTION aispend._api_key_rows(period daterange, provider text, search text, min_cost numeric,
                                      max_cost numeric, workspace text, api_key text, include_unused boolean,
                                      compare_with daterange)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, account name, workspace_id text, api_key_id text, owner text,
               last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH a AS (
        SELECT * FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with)),
    t AS (
        SELECT a.account, a.provider, a.workspace_id, a.api_key_id, a.cost, a.tokens, a.requests, a.previous_cost,
               a.previous_tokens, a.previous_requests
        FROM a
        UNION ALL
        -- listed keys with nothing in either period
        SELECT k.account, k.provider, k.workspace_id, k.api_key_id, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END
        FROM aispend._api_keys() k
        LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
        WHERE include_unused AND k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
          AND aispend._provider_matches(k.provider, _api_key_rows.provider)
          AND aispend._workspace_is(w.name, k.workspace_id, _api_key_rows.workspace)
          AND aispend._api_key_is(k.name, k.api_key_id, _api_key_rows.api_key)
          AND NOT EXISTS (SELECT 1 FROM a WHERE a.account = k.account AND a.api_key_id = k.api_key_id)),
    e AS (
        SELECT aispend._api_key_label(t.api_key_id, k.name) AS api_key, aispend.api_key_kind(t.api_key_id, k.status) AS kind,
               coalesce(w.name, t.workspace_id) AS workspace, k.key_hint, t.provider,
               aispend._api_key_status(t.api_key_id, k.status) AS status,
               t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens, t.previous_requests,
               t.account, t.workspace_id, t.api_key_id, k.owner, k.last_used_at
        FROM t
        LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
        WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
          AND (min_cost IS NULL OR t.cost >= min_cost)
          AND (max_cost IS NULL OR t.cost <= max_cost))
    SELECT e.api_key, e.kind, e.workspace, e.key_hint, e.provider, e.status, e.cost, e.tokens, e.requests,
           e.previous_cost, e.previous_tokens, e.previous_requests, e.account, e.workspace_id, e.api_key_id,
           e.owner, e.last_used_at
    FROM e;
END;
COMMENT ON FUNCTION aispend._api_key_rows(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'Internal: the API keys tab''s rows with exact figures (the tab rounds them; its pie, unused keys and sums '
    'read these).';

CREATE FUNCTION aispend.api_keys_table(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       include_unused boolean DEFAULT true,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, cost_per_1m numeric, pct_of_total numeric, trend text,
               change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, last_active_day date, account name, workspace_id text, api_key_id text,
               owner text, last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT * FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key,
                                            include_unused, compare_with)),
    o AS (
        -- keys first, then the rows that are not keys
        SELECT e.*, pg_catalog.row_number() OVER (ORDER BY e.api_key_id LIKE '(%', e.cost DESC, e.api_key, e.account,
                                                          e.workspace_id, e.api_key_id) AS ord
        FROM e)
    SELECT o.api_key, o.kind, o.workspace, o.key_hint, o.provider, o.status, pg_catalog.round(o.cost, 2), o.tokens,
           o.requests, pg_catalog.round(1000000 * o.cost / NULLIF(o.tokens, 0), 4), pc.pct,
           tr.indicator, tr.change_pct, tr.label, pg_catalog.round(o.previous_cost, 2), o.previous_tokens,
           o.previous_requests, la.day, o.account, o.workspace_id, o.api_key_id, o.owner, o.last_used_at
    FROM o
    LEFT JOIN aispend._last_active_days(NULL, NULL) la ON la.account = o.account AND la.api_key_id = o.api_key_id
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_table.period, api_keys_table.provider,
                                                 api_keys_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.api_keys_table(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'API Key Analytics table: one row per API key and workspace, keys first, then the rows that are not keys '
    '(kind: see aispend.api_key_kind; no status). Arguments: period, provider, search (key name, workspace name, '
    'hint, id, owner), min_cost, max_cost, workspace (name or id: drill-down), api_key (name or id), '
    'include_unused (listed keys with nothing in either period, cost 0). Money rounded to the cent, Cost/1M = '
    'cost per million tokens (4 decimals). last_active_day: the key''s last day with usage. Rows come in the '
    'default order: keys before other rows, then cost DESC, api_key.';

CREATE FUNCTION aispend.api_keys_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                         compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_keys integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, not_key_cost numeric, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.round(s.total, 2), s.active, s.requests, s.tokens,
           pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4), pg_catalog.round(s.not_key, 2),
           pg_catalog.round(s.previous, 2), tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.api_key_id NOT LIKE '(%'
                                     AND (t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0)))::integer
                     AS active,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.cost) FILTER (WHERE t.api_key_id LIKE '(%'), 0) AS not_key,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with) t
          LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
          LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
          WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
            AND (min_cost IS NULL OR t.cost >= min_cost)
            AND (max_cost IS NULL OR t.cost <= max_cost)) s
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_summary.period, api_keys_summary.provider,
                                                 api_keys_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total, s.previous, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.api_keys_summary(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics summary: Total Cost (every row, keys or not), Active API Keys (keys with cost, tokens or '
    'requests in the period; rows that are not keys never count), Total Requests (providers that report them), '
    'Average Cost per 1M Tokens (total cost / total tokens), not_key_cost (the cost of rows that are not keys), trend.';

CREATE FUNCTION aispend.api_keys_top(period daterange DEFAULT aispend.period('last_30_days'), top_n integer DEFAULT 10,
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE (rank integer, label text, api_key text, workspace text, cost numeric, pct_of_total numeric,
               keys integer)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH t AS (
        SELECT x.*, pg_catalog.row_number() OVER (ORDER BY x.cost DESC, x.api_key, x.account, x.workspace_id,
                                                            x.api_key_id) AS rn
        FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key, false,
                                   compare_with) x
        WHERE x.cost <> 0 AND x.api_key_id NOT LIKE '(%'),
    slices AS (
        SELECT LEAST(t.rn, top_n + 1) AS ord,
               CASE WHEN t.rn <= top_n THEN t.api_key || ' (' || t.workspace || ')' ELSE 'Other keys' END AS label,
               CASE WHEN t.rn <= top_n THEN min(t.api_key) END AS api_key,
               CASE WHEN t.rn <= top_n THEN min(t.workspace) END AS workspace,
               sum(t.cost) AS cost, count(*)::integer AS keys
        FROM t
        GROUP BY 1, 2, t.rn <= top_n
        UNION ALL
        -- what no key carries, as one slice, so that the pie adds up to the total
        SELECT top_n + 2, 'Not an API key', NULL, NULL, sum(x.cost), 0
        FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key, false,
                                   compare_with) x
        WHERE x.cost <> 0 AND x.api_key_id LIKE '(%'
        HAVING count(*) > 0),
    p AS (
        SELECT s.*, pg_catalog.row_number() OVER (ORDER BY s.ord) AS pos FROM slices s)
    SELECT p.pos::integer, p.label, p.api_key, p.workspace, pg_catalog.round(p.cost, 2), pc.pct, p.keys
    FROM p
    JOIN aispend._pct_of_total(ARRAY(SELECT p2.cost FROM p p2 ORDER BY p2.pos)) pc ON pc.ord = p.pos
    ORDER BY p.pos;
END;
COMMENT ON FUNCTION aispend.api_keys_top(daterange, integer, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics pie chart "Cost Distribution by API Key": the top_n keys by cost, then "Other keys" with '
    'the rest (keys = how many), then "Not an API key" with the cost of rows that are not keys (console, usage '
    'or fees without a key), so that the slices add up to the total; "% of Total" as in the tables. Rows come in '
    'the default order: rank.';

CREATE FUNCTION aispend.api_keys_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                             provider text DEFAULT 'all', search text DEFAULT NULL,
                                             min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                             workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                             compare_with daterange DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, provider text, current_cost numeric, previous_cost numeric,
               change numeric, change_pct numeric, trend text, account name, workspace_id text, api_key_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct,
           t.trend, t.account, t.workspace_id, t.api_key_id
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace, api_key, false, compare_with) t
    WHERE t.api_key_id NOT LIKE '(%'
    ORDER BY t.cost DESC, t.api_key, t.account, t.workspace_id, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_vs_previous(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics bar chart "API Key Cost Comparison": current vs previous period per key (keys only). '
    'Default order: current_cost DESC (ORDER BY change DESC: the keys driving an increase).';

CREATE FUNCTION aispend.api_keys_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     include_unused boolean DEFAULT true,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE ("API Key" text, "Kind" text, "Workspace" text, "Key Hint" text, "Provider" text, "Status" text,
               "Cost" numeric, "Tokens" bigint, "Requests" bigint, "Cost/1M" numeric, "Trend" text,
               "Last Active" date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.api_key), t.kind, aispend.csv_cell(t.workspace), aispend.csv_cell(t.key_hint),
           t.provider, t.status, t.cost, t.tokens, t.requests, t.cost_per_1m, t.trend_label, t.last_active_day
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace, api_key, include_unused, compare_with) t
    ORDER BY t.api_key_id LIKE '(%', t.cost DESC, t.api_key, t.account, t.workspace_id, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_csv(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'API Key Analytics table with the dashboard''s column titles ("API Key" is the key name, "Workspace" its '
    'workspace; listed keys without use included with cost 0): '
    '\copy (SELECT * FROM aispend.api_keys_csv(''last_30_days'')) TO ''api_keys.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the order of aispend.api_keys_table.';

-- Listed, enabled keys with nothing in the period.
CREATE FUNCTION aispend.api_keys_unused(period daterange DEFAULT aispend.period('last_30_days'),
                                        provider text DEFAULT 'all', search text DEFAULT NULL,
                                        workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, previous_cost numeric,
               account name, workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.key_hint, t.provider, t.status, k.created_at, t.last_used_at, t.last_active_day,
           -- from the end of the period: 0 when the key was used after it
           GREATEST(pg_catalog.upper(period) - 1 - t.last_use, 0)::integer,
           pg_catalog.round(t.previous_cost, 2), t.account, t.workspace_id, t.api_key_id, t.owner
    FROM (SELECT r.*, a.day AS last_active_day, GREATEST((r.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use
          FROM aispend._api_key_rows(period, provider, search, NULL, NULL, workspace, NULL, true, NULL) r
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = r.account AND a.api_key_id = r.api_key_id) t
    JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
    WHERE t.kind = 'key' AND t.status = 'active'
      AND t.cost = 0 AND t.tokens = 0 AND coalesce(t.requests, 0) = 0
    ORDER BY t.last_use NULLS FIRST, t.api_key, t.account, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_unused(daterange, text, text, text) IS
    'Unused API keys: keys the provider lists as active with 0 requests, no tokens and no cost in the period '
    '(candidates for deactivation; deleted keys are not listed any more and never appear; tokens and cost are '
    'checked too, as Anthropic reports no requests). last_active_day: the last day with usage in the synced data; '
    'days_since_last_use counts from the later of it and the provider''s last_used_at to the end of the period. '
    'Default order: last use NULLS FIRST, api_key.';

CREATE FUNCTION aispend.api_keys_idle(days integer DEFAULT 30, provider text DEFAULT 'all',
                                      as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, account name,
               workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.api_key, x.workspace, x.key_hint, x.provider, x.status, x.created_at, x.last_used_at, x.last_active_day,
           (as_of - x.last_use)::integer, x.account, x.workspace_id, x.api_key_id, x.owner
    FROM (SELECT aispend._api_key_label(k.api_key_id, k.name) AS api_key, coalesce(w.name, k.workspace_id) AS workspace,
                 k.key_hint, k.provider, aispend._api_key_status(k.api_key_id, k.status) AS status, k.created_at,
                 k.last_used_at, a.day AS last_active_day,
                 GREATEST((k.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use,
                 k.account, k.workspace_id, k.api_key_id, k.owner
          FROM aispend._api_keys() k
          LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = k.account AND a.api_key_id = k.api_key_id
          WHERE k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
            AND aispend._provider_matches(k.provider, api_keys_idle.provider)) x
    WHERE x.last_use IS NULL OR x.last_use <= as_of - api_keys_idle.days
    ORDER BY x.last_use NULLS FIRST, x.api_key, x.account, x.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_idle(integer, text, date) IS
    'Listed API keys (not deleted) whose last use is at least `days` days before as_of: the later of the '
    'provider''s last_used_at and the last day with usage in the synced data (NULL: never used). Default order: '
    'last use NULLS FIRST.';
