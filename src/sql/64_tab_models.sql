-- 64_tab_models.sql: the Model Efficiency tab. See docs/dashboard-models.md.
-- A row is a model name (the same model in several accounts is one row). Cost/1M = cost per million tokens.
-- The star (⭐) marks the most cost-efficient model among the rows shown: the lowest Cost/1M among models with
-- cost > 0 and tokens > 0 in the period (ties: the model with more tokens, then the name).
-- '(no model: tool & service fees)' collects cost lines without a model (e.g. tool calls billed on their own).

CREATE FUNCTION aispend._model_totals(period daterange, provider text)
RETURNS TABLE (account name, provider text, model text, cost numeric, tokens bigint, requests bigint,
               previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
AS $$
    WITH v AS (
        SELECT b.account, b.provider, b.slot, d.model, d.cost, d.tokens, d.requests
        FROM aispend._boundaries(period, provider) b
        JOIN aispend._cum_model_day d ON d.account = b.account AND d.day = b.day
        UNION ALL
        SELECT b.account, b.provider, b.slot, m.model, m.cost, m.tokens, m.requests
        FROM aispend._boundaries(period, provider) b
        JOIN aispend._cum_model_month m ON m.account = b.account AND m.month = b.month),
    t AS (
        SELECT v.account, min(v.provider) AS provider, v.model,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 1), 0) AS c1,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 2), 0) AS c2,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 3), 0) AS c3,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 1), 0) AS t1,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 2), 0) AS t2,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 3), 0) AS t3,
               sum(v.requests) FILTER (WHERE v.slot = 1) AS r1,
               sum(v.requests) FILTER (WHERE v.slot = 2) AS r2,
               sum(v.requests) FILTER (WHERE v.slot = 3) AS r3
        FROM v GROUP BY v.account, v.model)
    SELECT t.account, t.provider, t.model, t.c1 - t.c2, (t.t1 - t.t2)::bigint, (t.r1 - coalesce(t.r2, 0))::bigint,
           t.c2 - t.c3, (t.t2 - t.t3)::bigint, (t.r2 - coalesce(t.r3, 0))::bigint
    FROM t
    WHERE t.c1 <> t.c3 OR t.t1 <> t.t3 OR t.r1 IS DISTINCT FROM t.r3
$$;
COMMENT ON FUNCTION aispend._model_totals(daterange, text) IS
    'Internal: cost, tokens, requests per account and model in a period and its previous period.';

CREATE FUNCTION aispend.models_table(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, most_efficient boolean, provider text, cost_per_1m numeric, cost numeric, tokens bigint,
               requests bigint, pct_of_total numeric, trend text, change_pct numeric, trend_label text,
               previous_cost numeric, previous_tokens bigint, previous_requests bigint, accounts name[])
LANGUAGE sql STABLE
AS $$
    WITH g AS (
        SELECT t.model, pg_catalog.string_agg(DISTINCT t.provider, ', ') AS provider, sum(t.cost) AS cost,
               sum(t.tokens)::bigint AS tokens, sum(t.requests)::bigint AS requests,
               sum(t.previous_cost) AS previous_cost, sum(t.previous_tokens)::bigint AS previous_tokens,
               sum(t.previous_requests)::bigint AS previous_requests,
               pg_catalog.array_agg(DISTINCT t.account) AS accounts
        FROM aispend._model_totals(period, provider) t
        WHERE search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(t.model), pg_catalog.lower(search)) > 0
        GROUP BY t.model),
    f AS (
        SELECT g.* FROM g
        WHERE (min_cost IS NULL OR g.cost >= min_cost) AND (max_cost IS NULL OR g.cost <= max_cost)),
    q AS (
        SELECT f.*, CASE WHEN sum(f.cost) OVER () > 0 AND min(f.cost) OVER () >= 0
                         THEN 10000 * f.cost / sum(f.cost) OVER () END AS raw,
               sum(f.cost) OVER () AS total,
               CASE WHEN f.cost > 0 AND f.tokens > 0 THEN f.cost / f.tokens END AS eff
        FROM f),
    p AS (
        SELECT q.*, 10000 - sum(pg_catalog.floor(q.raw)) OVER () AS units,
               pg_catalog.row_number() OVER (ORDER BY q.raw - pg_catalog.floor(q.raw) DESC, q.cost DESC, q.model) AS rk,
               pg_catalog.row_number() OVER (ORDER BY q.eff NULLS LAST, q.tokens DESC, q.model) AS erk
        FROM q)
    SELECT p.model, p.eff IS NOT NULL AND p.erk = 1, p.provider,
           pg_catalog.round(1000000 * p.cost / NULLIF(p.tokens, 0), 4), p.cost, p.tokens, p.requests,
           CASE WHEN p.raw IS NOT NULL
                THEN pg_catalog.round((pg_catalog.floor(p.raw) + CASE WHEN p.rk <= p.units THEN 1 ELSE 0 END) / 100, 2)
                WHEN p.total <> 0 THEN pg_catalog.round(100 * p.cost / p.total, 2) END,
           tr.indicator, tr.change_pct, tr.label, p.previous_cost, p.previous_tokens, p.previous_requests,
           p.accounts
    FROM p, aispend.trend(p.cost, p.previous_cost) tr
$$;
COMMENT ON FUNCTION aispend.models_table(daterange, text, text, numeric, numeric) IS
    'Model Efficiency table: one row per model. most_efficient is the star (lowest Cost/1M among models with cost '
    'and tokens). Arguments: period, provider, search (model name substring), min_cost, max_cost. '
    'Default order: ORDER BY cost_per_1m NULLS LAST, model (or cost DESC).';

CREATE FUNCTION aispend.models_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (total_cost numeric, model_count integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, most_efficient_model text, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(sum(t.cost), 0),
           (count(*) FILTER (WHERE t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0))::integer,
           sum(t.requests)::bigint, coalesce(sum(t.tokens), 0)::bigint,
           pg_catalog.round(1000000 * sum(t.cost) / NULLIF(sum(t.tokens), 0), 4),
           min(t.model) FILTER (WHERE t.most_efficient),
           coalesce(sum(t.previous_cost), 0),
           (aispend.trend(coalesce(sum(t.cost), 0), coalesce(sum(t.previous_cost), 0))).indicator,
           (aispend.trend(coalesce(sum(t.cost), 0), coalesce(sum(t.previous_cost), 0))).change_pct,
           (aispend.trend(coalesce(sum(t.cost), 0), coalesce(sum(t.previous_cost), 0))).label
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t
$$;
COMMENT ON FUNCTION aispend.models_summary(daterange, text, text, numeric, numeric) IS
    'Model Efficiency summary: Total Cost, Model count (models with cost, tokens or requests in the period), Total '
    'Requests, Average Cost per 1M Tokens, the starred model, trend.';

CREATE FUNCTION aispend.models_by_cost(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, provider text, cost numeric, pct_of_total numeric)
LANGUAGE sql STABLE
AS $$
    SELECT t.model, t.provider, t.cost, t.pct_of_total
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t
    WHERE t.cost <> 0
$$;
COMMENT ON FUNCTION aispend.models_by_cost(daterange, text, text, numeric, numeric) IS
    'Model Efficiency pie chart "Cost Distribution by Model". Default order: cost DESC.';

CREATE FUNCTION aispend.models_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text, current_tokens bigint, previous_tokens bigint)
LANGUAGE sql STABLE
AS $$
    SELECT t.model, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend,
           t.tokens, t.previous_tokens
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t
$$;
COMMENT ON FUNCTION aispend.models_vs_previous(daterange, text, text, numeric, numeric) IS
    'Model Efficiency bar chart "Model Cost Comparison": current vs previous period per model (tokens too, to see '
    'a change of model mix). Default order: current_cost DESC.';

CREATE FUNCTION aispend.models_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                   provider text DEFAULT 'all', search text DEFAULT NULL,
                                   min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE ("Model" text, "Provider" text, "Cost/1M" numeric, "Cost" numeric, "Tokens" bigint,
               "Requests" bigint, "Trend" text)
LANGUAGE sql STABLE
AS $$
    SELECT t.model || CASE WHEN t.most_efficient THEN ' ⭐' ELSE '' END, t.provider, t.cost_per_1m,
           pg_catalog.round(t.cost, 2), t.tokens, t.requests, t.trend_label
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t
$$;
COMMENT ON FUNCTION aispend.models_csv(daterange, text, text, numeric, numeric) IS
    'Model Efficiency table with the dashboard''s column titles (the starred model ends with '' ⭐''): '
    '\copy (SELECT * FROM aispend.models_csv(aispend.period(''previous_month'')) ORDER BY "Cost" DESC) '
    'TO ''models.csv'' WITH (FORMAT csv, HEADER)';
