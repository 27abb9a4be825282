-- 60_tab_workspaces.sql: the Workspaces tab. See docs/dashboard-workspaces.md; arguments and row rules in
-- 58_entity_totals.sql.

-- Per workspace, with the shown name, restricted to the names (combined rows) that pass search and cost range.
CREATE FUNCTION aispend._workspace_rows(period daterange, provider text, search text, min_cost numeric,
                                        max_cost numeric,
                                        compare_with daterange)
RETURNS TABLE (name text, account name, provider text, workspace_id text, cost numeric, tokens bigint,
               requests bigint, previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT coalesce(w.name, t.workspace_id) AS name, t.account, t.provider, t.workspace_id, t.cost, t.tokens,
               t.requests, t.previous_cost, t.previous_tokens, t.previous_requests
        FROM aispend._entity_totals('w', period, provider, NULL, NULL, min_cost, max_cost, compare_with) t
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id),
    g AS (
        SELECT e.name, sum(e.cost) AS cost FROM e GROUP BY e.name)
    SELECT e.name, e.account, e.provider, e.workspace_id, e.cost, e.tokens, e.requests, e.previous_cost,
           e.previous_tokens, e.previous_requests
    FROM e JOIN g ON g.name = e.name
    WHERE (search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(e.name), pg_catalog.lower(search)) > 0)
      AND (min_cost IS NULL OR g.cost >= min_cost)
      AND (max_cost IS NULL OR g.cost <= max_cost);
END;
COMMENT ON FUNCTION aispend._workspace_rows(daterange, text, text, numeric, numeric, daterange) IS
    'Internal: workspace totals with names, filtered by search and cost range of the combined (same-name) row.';

CREATE FUNCTION aispend.workspaces_table(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         compare_with daterange DEFAULT NULL)
RETURNS TABLE (name text, provider text, cost numeric, pct_of_total numeric, requests bigint, tokens bigint,
               trend text, change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, workspaces integer, accounts name[], workspace_ids text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH g AS (
        SELECT r.name, pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider,
               sum(r.cost) AS cost, sum(r.requests)::bigint AS requests, sum(r.tokens)::bigint AS tokens,
               sum(r.previous_cost) AS previous_cost, sum(r.previous_tokens)::bigint AS previous_tokens,
               sum(r.previous_requests)::bigint AS previous_requests, count(*)::integer AS workspaces,
               pg_catalog.array_agg(DISTINCT r.account) AS accounts,
               pg_catalog.array_agg(r.workspace_id ORDER BY r.account, r.workspace_id) AS workspace_ids
        FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with) r
        GROUP BY r.name),
    o AS (
        SELECT g.*, pg_catalog.row_number() OVER (ORDER BY g.cost DESC, g.name) AS ord FROM g)
    SELECT o.name, o.provider, pg_catalog.round(o.cost, 2), pc.pct, o.requests, o.tokens, tr.indicator,
           tr.change_pct, tr.label, pg_catalog.round(o.previous_cost, 2), o.previous_tokens, o.previous_requests,
           o.workspaces, o.accounts, o.workspace_ids
    FROM o
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(workspaces_table.period, workspaces_table.provider,
                                                 workspaces_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.workspaces_table(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab table: one row per workspace name (workspaces of any account and provider with the same '
    'name are combined). Arguments: period, provider (all|openai|anthropic|other), search (case-insensitive '
    'substring of the name), min_cost, max_cost (of the combined row, before rounding). Money is rounded to the cent '
    '(exact figures: aispend.daily_facts). Rows come in the default order: cost DESC, name.';

CREATE FUNCTION aispend.workspaces_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                           compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_workspaces integer, openai_cost numeric, anthropic_cost numeric,
               other_cost numeric, requests bigint, tokens bigint, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH r AS (SELECT * FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with)),
    s AS (
        SELECT coalesce(sum(r.cost), 0) AS total_cost,
               (SELECT count(*) FROM (SELECT 1 FROM r r2 GROUP BY r2.name
                                      HAVING sum(r2.cost) <> 0 OR sum(r2.tokens) <> 0
                                          OR coalesce(sum(r2.requests), 0) <> 0) a)::integer AS active,
               coalesce(sum(r.cost) FILTER (WHERE r.provider = 'openai'), 0) AS openai_cost,
               coalesce(sum(r.cost) FILTER (WHERE r.provider = 'anthropic'), 0) AS anthropic_cost,
               coalesce(sum(r.cost) FILTER (WHERE r.provider NOT IN ('openai', 'anthropic')), 0) AS other_cost,
               sum(r.requests)::bigint AS requests, coalesce(sum(r.tokens), 0)::bigint AS tokens,
               coalesce(sum(r.previous_cost), 0) AS previous_cost
        FROM r)
    SELECT pg_catalog.round(s.total_cost, 2), s.active, pg_catalog.round(s.openai_cost, 2),
           pg_catalog.round(s.anthropic_cost, 2), pg_catalog.round(s.other_cost, 2), s.requests, s.tokens,
           pg_catalog.round(s.previous_cost, 2), tr.indicator, tr.change_pct, tr.label
    -- the history check once per query (inlined into trend() it would run per row and column)
    FROM s CROSS JOIN (SELECT aispend._incomplete_from(workspaces_summary.period, workspaces_summary.provider,
                                                 workspaces_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total_cost, s.previous_cost, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.workspaces_summary(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab summary: Total Cost, Active Workspaces (names with cost, tokens or requests in the period), '
    'cost per provider, and the total''s trend. Same arguments and filters as aispend.workspaces_table.';

CREATE FUNCTION aispend.workspaces_by_provider(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                               compare_with daterange DEFAULT NULL)
RETURNS TABLE (provider text, cost numeric, pct_of_total numeric, previous_cost numeric, trend text,
               change_pct numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH o AS (
        SELECT r.provider, sum(r.cost) AS cost, sum(r.previous_cost) AS previous_cost,
               pg_catalog.row_number() OVER (ORDER BY sum(r.cost) DESC, r.provider) AS ord
        FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with) r
        GROUP BY r.provider)
    SELECT o.provider, pg_catalog.round(o.cost, 2), pc.pct, pg_catalog.round(o.previous_cost, 2), tr.indicator,
           tr.change_pct
    FROM o
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(workspaces_by_provider.period, workspaces_by_provider.provider,
                                                 workspaces_by_provider.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.workspaces_by_provider(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab pie chart "Cost Distribution by Provider": cost and share per provider (largest-remainder "% of Total", as '
    'the tables). Rows come in the default order: cost DESC.';

CREATE FUNCTION aispend.workspaces_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                               compare_with daterange DEFAULT NULL)
RETURNS TABLE (name text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.name, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost, compare_with) t
    ORDER BY t.cost DESC, t.name;
END;
COMMENT ON FUNCTION aispend.workspaces_vs_previous(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab bar chart "Current vs Previous Period" per workspace name. Default order: current_cost DESC '
    '(or change DESC to find the workspaces that grew most).';

CREATE FUNCTION aispend.workspaces_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE ("Name" text, "Provider" text, "Cost" numeric, "% of Total" numeric, "Requests" bigint,
               "Tokens" bigint, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.name), t.provider, t.cost, t.pct_of_total, t.requests, t.tokens, t.trend_label
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost, compare_with) t
    ORDER BY t.cost DESC, t.name;
END;
COMMENT ON FUNCTION aispend.workspaces_csv(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces table with the dashboard''s column titles (Cost in dollars to the cent): '
    '\copy (SELECT * FROM aispend.workspaces_csv(''last_30_days'')) TO ''workspaces.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the default order: cost DESC, name.';
