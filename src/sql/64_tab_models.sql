-- 64_tab_models.sql: the Model Efficiency tab. See docs/dashboard-models.md.
-- A row is a model name (the same model in several accounts is one row). Cost/1M = cost per million tokens.
-- The star (⭐) marks the most cost-efficient model among the rows shown: the lowest Cost/1M among models with
-- cost > 0 and tokens > 0 in the period (ties: the model with more tokens, then the name).
-- '(no model: tool & service fees)' collects cost lines without a model (e.g. tool calls billed on their own).

CREATE FUNCTION aispend.models_table(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, most_efficient boolean, provider text, cost_per_1m numeric, cost numeric, tokens bigint,
               requests bigint, pct_of_total numeric, trend text, change_pct numeric, trend_label text,
               previous_cost numeric, previous_tokens bigint, previous_requests bigint, accounts name[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH g AS (
        SELECT t.model, pg_catalog.string_agg(DISTINCT t.provider, ', ') AS provider, sum(t.cost) AS cost,
               sum(t.tokens)::bigint AS tokens, sum(t.requests)::bigint AS requests,
               sum(t.previous_cost) AS previous_cost, sum(t.previous_tokens)::bigint AS previous_tokens,
               sum(t.previous_requests)::bigint AS previous_requests,
               pg_catalog.array_agg(DISTINCT t.account) AS accounts
        FROM aispend._entity_totals('m', period, provider) t
        WHERE search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(t.model), pg_catalog.lower(search)) > 0
        GROUP BY t.model),
    f AS (
        SELECT g.* FROM g
        WHERE (min_cost IS NULL OR g.cost >= min_cost) AND (max_cost IS NULL OR g.cost <= max_cost)),
    o AS (
        SELECT f.*, CASE WHEN f.cost > 0 AND f.tokens > 0 THEN f.cost / f.tokens END AS eff,
               pg_catalog.row_number() OVER (ORDER BY f.cost DESC, f.model) AS ord
        FROM f),
    e AS (
        SELECT o.*, pg_catalog.row_number() OVER (ORDER BY o.eff NULLS LAST, o.tokens DESC, o.model) AS erk FROM o)
    SELECT e.model, e.eff IS NOT NULL AND e.erk = 1, e.provider,
           pg_catalog.round(1000000 * e.cost / NULLIF(e.tokens, 0), 4), e.cost, e.tokens, e.requests, pc.pct,
           tr.indicator, tr.change_pct, tr.label, e.previous_cost, e.previous_tokens, e.previous_requests,
           e.accounts
    FROM e
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = e.ord
    CROSS JOIN aispend.trend(e.cost, e.previous_cost) tr
    ORDER BY 1000000 * e.cost / NULLIF(e.tokens, 0) NULLS LAST, e.model;
END;
COMMENT ON FUNCTION aispend.models_table(daterange, text, text, numeric, numeric) IS
    'Model Efficiency table: one row per model. most_efficient is the star (lowest Cost/1M among models with cost '
    'and tokens). Arguments: period, provider, search (model name substring), min_cost, max_cost. '
    'Rows come in the default order: cost_per_1m NULLS LAST, model.';

CREATE FUNCTION aispend.models_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (total_cost numeric, model_count integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, most_efficient_model text, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.total, s.models, s.requests, s.tokens, pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4),
           s.star, s.previous, tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0))::integer AS models,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 min(t.model) FILTER (WHERE t.most_efficient) AS star, coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend.models_table(period, provider, search, min_cost, max_cost) t) s
    CROSS JOIN aispend.trend(s.total, s.previous) tr;
END;
COMMENT ON FUNCTION aispend.models_summary(daterange, text, text, numeric, numeric) IS
    'Model Efficiency summary: Total Cost, Model count (models with cost, tokens or requests in the period), Total '
    'Requests, Average Cost per 1M Tokens, the starred model, trend.';

CREATE FUNCTION aispend.models_by_cost(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, provider text, cost numeric, pct_of_total numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.provider, t.cost, t.pct_of_total
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t
    WHERE t.cost <> 0;
END;
COMMENT ON FUNCTION aispend.models_by_cost(daterange, text, text, numeric, numeric) IS
    'Model Efficiency pie chart "Cost Distribution by Model". Default order: cost DESC.';

CREATE FUNCTION aispend.models_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE (model text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text, current_tokens bigint, previous_tokens bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend,
           t.tokens, t.previous_tokens
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t;
END;
COMMENT ON FUNCTION aispend.models_vs_previous(daterange, text, text, numeric, numeric) IS
    'Model Efficiency bar chart "Model Cost Comparison": current vs previous period per model (tokens too, to see '
    'a change of model mix). Default order: current_cost DESC.';

CREATE FUNCTION aispend.models_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                   provider text DEFAULT 'all', search text DEFAULT NULL,
                                   min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL)
RETURNS TABLE ("Model" text, "Provider" text, "Cost/1M" numeric, "Cost" numeric, "Tokens" bigint,
               "Requests" bigint, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.model || CASE WHEN t.most_efficient THEN ' ⭐' ELSE '' END), t.provider, t.cost_per_1m,
           pg_catalog.round(t.cost, 2), t.tokens, t.requests, t.trend_label
    FROM aispend.models_table(period, provider, search, min_cost, max_cost) t;
END;
COMMENT ON FUNCTION aispend.models_csv(daterange, text, text, numeric, numeric) IS
    'Model Efficiency table with the dashboard''s column titles (the starred model ends with '' ⭐''): '
    '\copy (SELECT * FROM aispend.models_csv(aispend.period(''previous_month'')) ORDER BY "Cost" DESC) '
    'TO ''models.csv'' WITH (FORMAT csv, HEADER)';
