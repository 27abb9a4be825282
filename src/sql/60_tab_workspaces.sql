-- 60_tab_workspaces.sql: shared tab internals (provider filter, period totals from the cumulative rollups)
-- and the Workspaces tab. See docs/dashboard-workspaces.md.
--
-- Every tab function takes (period daterange, provider text, search text, min_cost numeric, max_cost numeric)
-- with defaults (last 30 days, all providers, no search, no cost range) and compares the period with
-- aispend.previous_period(period). Rows are every entity with cost, tokens or requests in the period or in the
-- previous period (an entity whose spend stopped shows Cost 0 and Trend down 100%). Sorting is the caller's
-- ORDER BY. "% of Total" is the share of the rows shown (after every filter), in percent with two decimals,
-- rounded by the largest-remainder method so that the column sums to exactly 100.00 (when no cost is negative).

CREATE FUNCTION aispend._provider_matches(provider text, filter text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    CASE pg_catalog.lower(coalesce(filter, 'all'))
        WHEN 'all', '' THEN RETURN true;
        WHEN 'openai' THEN RETURN provider = 'openai';
        WHEN 'anthropic' THEN RETURN provider = 'anthropic';
        WHEN 'other' THEN RETURN provider NOT IN ('openai', 'anthropic');
        ELSE RAISE EXCEPTION 'aispend: unknown provider filter "%"', filter
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all, openai, anthropic or other.';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend._provider_matches(text, text) IS 'Internal: the provider filter (all, openai, anthropic, other).';

CREATE FUNCTION aispend._check_period(period daterange)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    PERFORM aispend.previous_period(period);   -- raises for NULL, empty and unbounded ranges
    RETURN period;
END
$$;
COMMENT ON FUNCTION aispend._check_period(daterange) IS 'Internal: validates a period.';

-- The three cumulative boundaries of a period and its previous period, per account (clamped to the account's
-- last day with data: nothing happens after it).
-- PL/pgSQL with ROWS 6 on purpose: not inlined, so the planner knows there are a handful of boundaries and
-- reads the cumulative tables by their (account, day | month) primary keys instead of scanning them.
CREATE FUNCTION aispend._boundaries(p_period daterange, p_provider text)
RETURNS TABLE (account name, provider text, slot integer, day date, month date)
LANGUAGE plpgsql STABLE ROWS 6
AS $$
BEGIN
    RETURN QUERY
    SELECT s.account, s.provider, p.slot, LEAST(p.b, s.last_day),
           pg_catalog.date_trunc('month', LEAST(p.b, s.last_day)::timestamp)::date
    FROM aispend._rollup_state s,
         (SELECT 1, pg_catalog.upper(aispend._check_period(p_period)) - 1
          UNION ALL SELECT 2, pg_catalog.lower(p_period) - 1
          UNION ALL SELECT 3, pg_catalog.lower(aispend.previous_period(p_period)) - 1) AS p(slot, b)
    WHERE aispend._provider_matches(s.provider, p_provider);
END
$$;
COMMENT ON FUNCTION aispend._boundaries(daterange, text) IS 'Internal: boundary days of a period and its previous period.';

CREATE FUNCTION aispend._workspace_totals(period daterange, provider text)
RETURNS TABLE (account name, provider text, workspace_id text, cost numeric, tokens bigint, requests bigint,
               previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
AS $$
    WITH v AS (
        SELECT b.account, b.provider, b.slot, d.workspace_id, d.cost, d.tokens, d.requests
        FROM aispend._boundaries(period, provider) b
        JOIN aispend._cum_workspace_day d ON d.account = b.account AND d.day = b.day
        UNION ALL
        SELECT b.account, b.provider, b.slot, m.workspace_id, m.cost, m.tokens, m.requests
        FROM aispend._boundaries(period, provider) b
        JOIN aispend._cum_workspace_month m ON m.account = b.account AND m.month = b.month),
    t AS (
        SELECT v.account, min(v.provider) AS provider, v.workspace_id,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 1), 0) AS c1,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 2), 0) AS c2,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 3), 0) AS c3,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 1), 0) AS t1,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 2), 0) AS t2,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 3), 0) AS t3,
               sum(v.requests) FILTER (WHERE v.slot = 1) AS r1,
               sum(v.requests) FILTER (WHERE v.slot = 2) AS r2,
               sum(v.requests) FILTER (WHERE v.slot = 3) AS r3
        FROM v GROUP BY v.account, v.workspace_id)
    SELECT t.account, t.provider, t.workspace_id, t.c1 - t.c2, (t.t1 - t.t2)::bigint,
           (t.r1 - coalesce(t.r2, 0))::bigint,
           t.c2 - t.c3, (t.t2 - t.t3)::bigint, (t.r2 - coalesce(t.r3, 0))::bigint
    FROM t
    WHERE t.c1 <> t.c3 OR t.t1 <> t.t3 OR t.r1 IS DISTINCT FROM t.r3
$$;
COMMENT ON FUNCTION aispend._workspace_totals(daterange, text) IS
    'Internal: cost, tokens, requests per workspace in a period and its previous period (from the cumulative rollups).';

-- Per workspace, with the shown name, restricted to the names (combined rows) that pass search and cost range.
CREATE FUNCTION aispend._workspace_rows(period daterange, provider text, search text, min_cost numeric,
                                        max_cost numeric)
RETURNS TABLE (name text, account name, provider text, workspace_id text, cost numeric, tokens bigint,
               requests bigint, previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
AS $$
    WITH e AS (
        SELECT coalesce(w.name, t.workspace_id) AS name, t.*
        FROM aispend._workspace_totals(period, provider) t
        LEFT JOIN aispend.workspaces w ON w.account = t.account AND w.workspace_id = t.workspace_id),
    g AS (
        SELECT e.name, sum(e.cost) AS cost FROM e GROUP BY e.name)
    SELECT e.name, e.account, e.provider, e.workspace_id, e.cost, e.tokens, e.requests, e.previous_cost,
           e.previous_tokens, e.previous_requests
    FROM e JOIN g ON g.name = e.name
    WHERE (search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(e.name), pg_catalog.lower(search)) > 0)
      AND (min_cost IS NULL OR g.cost >= min_cost)
      AND (max_cost IS NULL OR g.cost <= max_cost)
$$;
COMMENT ON FUNCTION aispend._workspace_rows(daterange, text, text, numeric, numeric) IS
    'Internal: workspace totals with names, filtered by search and cost range of the combined (same-name) row.';

CREATE FUNCTION aispend.workspaces_table(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (name text, provider text, cost numeric, pct_of_total numeric, requests bigint, tokens bigint,
               trend text, change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, workspaces integer, accounts name[], workspace_ids text[])
LANGUAGE sql STABLE
AS $$
    WITH g AS (
        SELECT r.name, pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider,
               sum(r.cost) AS cost, sum(r.requests)::bigint AS requests, sum(r.tokens)::bigint AS tokens,
               sum(r.previous_cost) AS previous_cost, sum(r.previous_tokens)::bigint AS previous_tokens,
               sum(r.previous_requests)::bigint AS previous_requests, count(*)::integer AS workspaces,
               pg_catalog.array_agg(DISTINCT r.account) AS accounts,
               pg_catalog.array_agg(r.workspace_id ORDER BY r.account, r.workspace_id) AS workspace_ids
        FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost) r
        GROUP BY r.name),
    q AS (
        SELECT g.*, CASE WHEN sum(g.cost) OVER () > 0 AND min(g.cost) OVER () >= 0
                         THEN 10000 * g.cost / sum(g.cost) OVER () END AS raw,
               sum(g.cost) OVER () AS total
        FROM g),
    p AS (
        SELECT q.*, 10000 - sum(pg_catalog.floor(q.raw)) OVER () AS units,
               pg_catalog.row_number() OVER (ORDER BY q.raw - pg_catalog.floor(q.raw) DESC, q.cost DESC, q.name) AS rk
        FROM q)
    SELECT p.name, p.provider, p.cost,
           CASE WHEN p.raw IS NOT NULL
                THEN pg_catalog.round((pg_catalog.floor(p.raw) + CASE WHEN p.rk <= p.units THEN 1 ELSE 0 END) / 100, 2)
                WHEN p.total <> 0 THEN pg_catalog.round(100 * p.cost / p.total, 2) END,
           p.requests, p.tokens, tr.indicator, tr.change_pct, tr.label, p.previous_cost, p.previous_tokens,
           p.previous_requests, p.workspaces, p.accounts, p.workspace_ids
    FROM p, aispend.trend(p.cost, p.previous_cost) tr
$$;
COMMENT ON FUNCTION aispend.workspaces_table(daterange, text, text, numeric, numeric) IS
    'Workspaces tab table: one row per workspace name (workspaces of any account and provider with the same '
    'name are combined). Arguments: period, provider (all|openai|anthropic|other), search (case-insensitive '
    'substring of the name), min_cost, max_cost. Default order: ORDER BY cost DESC, name.';

CREATE FUNCTION aispend.workspaces_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_workspaces integer, openai_cost numeric, anthropic_cost numeric,
               other_cost numeric, requests bigint, tokens bigint, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
AS $$
    WITH r AS (SELECT * FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost)),
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
    SELECT s.total_cost, s.active, s.openai_cost, s.anthropic_cost, s.other_cost, s.requests, s.tokens,
           s.previous_cost, tr.indicator, tr.change_pct, tr.label
    FROM s, aispend.trend(s.total_cost, s.previous_cost) tr
$$;
COMMENT ON FUNCTION aispend.workspaces_summary(daterange, text, text, numeric, numeric) IS
    'Workspaces tab summary: Total Cost, Active Workspaces (names with cost, tokens or requests in the period), '
    'cost per provider, and the total''s trend. Same arguments and filters as aispend.workspaces_table.';

CREATE FUNCTION aispend.workspaces_by_provider(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (provider text, cost numeric, pct_of_total numeric, previous_cost numeric, trend text,
               change_pct numeric)
LANGUAGE sql STABLE
AS $$
    SELECT r.provider, sum(r.cost),
           pg_catalog.round(100 * sum(r.cost) / NULLIF(sum(sum(r.cost)) OVER (), 0), 2),
           sum(r.previous_cost), (aispend.trend(sum(r.cost), sum(r.previous_cost))).indicator,
           (aispend.trend(sum(r.cost), sum(r.previous_cost))).change_pct
    FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost) r
    GROUP BY r.provider
$$;
COMMENT ON FUNCTION aispend.workspaces_by_provider(daterange, text, text, numeric, numeric) IS
    'Workspaces tab pie chart "Cost Distribution by Provider": cost and share per provider. Default order: cost DESC.';

CREATE FUNCTION aispend.workspaces_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (name text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text)
LANGUAGE sql STABLE
AS $$
    SELECT t.name, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost) t
$$;
COMMENT ON FUNCTION aispend.workspaces_vs_previous(daterange, text, text, numeric, numeric) IS
    'Workspaces tab bar chart "Current vs Previous Period" per workspace name. Default order: current_cost DESC '
    '(or change DESC to find the workspaces that grew most).';

CREATE FUNCTION aispend.workspaces_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE ("Name" text, "Provider" text, "Cost" numeric, "% of Total" numeric, "Requests" bigint,
               "Tokens" bigint, "Trend" text)
LANGUAGE sql STABLE
AS $$
    SELECT t.name, t.provider, pg_catalog.round(t.cost, 2), t.pct_of_total, t.requests, t.tokens, t.trend_label
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost) t
$$;
COMMENT ON FUNCTION aispend.workspaces_csv(daterange, text, text, numeric, numeric) IS
    'Workspaces table with the dashboard''s column titles (Cost in dollars to the cent): '
    '\copy (SELECT * FROM aispend.workspaces_csv(aispend.period(''last_30_days'')) ORDER BY "Cost" DESC) '
    'TO ''workspaces.csv'' WITH (FORMAT csv, HEADER)';
