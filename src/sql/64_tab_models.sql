-- 64_tab_models.sql: the Model Efficiency tab. See docs/dashboard-models.md.
-- A row is a model name (the same model in several accounts is one row). Cost/1M = cost per million tokens.
-- Each model has a class (chat, embedding, audio, image, other: aispend.model_class). The star (⭐) marks the
-- most cost-efficient model of each class among the rows shown: the lowest Cost/1M among the class's models
-- with cost > 0 and tokens > 0 in the period (ties: the model with more tokens, then the name); comparing an
-- embedding model with a chat model says nothing.
-- '(no model: tool & service fees)' collects cost lines without a model (e.g. tool calls billed on their own).
-- Drill-down filters: workspace (name or id) and api_key (name or id), as on the API keys tab.

-- The class of a model, from its name: the providers' naming conventions, checked against the shipped price
-- catalogue (embedding and audio models are priced by input only or by audio tokens). A vendor prefix as in
-- OpenRouter's slugs ('openai/gpt-4.1', 'meta-llama/llama-3.3-70b-instruct') is looked through.
CREATE FUNCTION aispend.model_class(model text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN model IS NULL OR model LIKE '(%' THEN 'other'
            WHEN model ~* 'embed' THEN 'embedding'
            WHEN model ~* '(whisper|tts|transcribe|speech|audio)' THEN 'audio'
            WHEN model ~* '(dall-e|gpt-image|image|imagen|sora|video)' THEN 'image'
            WHEN model ~* 'moderation' THEN 'other'
            WHEN model ~* '^([a-z0-9._-]+/)?(gpt|chatgpt|o[0-9]|claude|codex|computer-use|text-davinci|davinci|babbage|gemini|gemma|llama|mistral|mixtral|command|deepseek|grok|qwen|phi)'
                THEN 'chat'
            ELSE 'other' END;
COMMENT ON FUNCTION aispend.model_class(text) IS
    'The class of a model, from its name: chat (chat and text generation), embedding, audio (speech, '
    'transcription, audio models), image (image and video generation), other (moderation, unknown names, and the '
    'tool & service fees row). The Model Efficiency star compares models of one class.';

-- Per model name (all accounts combined), exact, restricted to the rows that pass search and cost range.
CREATE FUNCTION aispend._model_rows(period daterange, provider text, search text, min_cost numeric,
                                    max_cost numeric, workspace text, api_key text,
                                    compare_with daterange)
RETURNS TABLE (model text, provider text, cost numeric, tokens bigint, requests bigint, previous_cost numeric,
               previous_tokens bigint, previous_requests bigint, accounts name[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH g AS (
        SELECT t.model, pg_catalog.string_agg(DISTINCT t.provider, ', ') AS provider, sum(t.cost) AS cost,
               sum(t.tokens)::bigint AS tokens, sum(t.requests)::bigint AS requests,
               sum(t.previous_cost) AS previous_cost, sum(t.previous_tokens)::bigint AS previous_tokens,
               sum(t.previous_requests)::bigint AS previous_requests,
               pg_catalog.array_agg(DISTINCT t.account ORDER BY t.account) AS accounts
        FROM aispend._entity_totals('m', period, provider, workspace, api_key, min_cost, max_cost, compare_with) t
        WHERE search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(t.model), pg_catalog.lower(search)) > 0
        GROUP BY t.model)
    SELECT g.model, g.provider, g.cost, g.tokens, g.requests, g.previous_cost, g.previous_tokens,
           g.previous_requests, g.accounts
    FROM g
    WHERE (min_cost IS NULL OR g.cost >= min_cost) AND (max_cost IS NULL OR g.cost <= max_cost);
END;
COMMENT ON FUNCTION aispend._model_rows(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Internal: exact totals per model name, filtered by search and by the cost range of the combined row.';

CREATE FUNCTION aispend.models_table(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, most_efficient boolean, provider text, cost_per_1m numeric, cost numeric,
               tokens bigint, requests bigint, pct_of_total numeric, trend text, change_pct numeric,
               trend_label text, previous_cost numeric, previous_tokens bigint, previous_requests bigint,
               accounts name[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH f AS (
        SELECT * FROM aispend._model_rows(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with)),
    o AS (
        SELECT f.*, aispend.model_class(f.model) AS class,
               CASE WHEN f.cost > 0 AND f.tokens > 0 THEN f.cost / f.tokens END AS eff,
               pg_catalog.row_number() OVER (ORDER BY f.cost DESC, f.model) AS ord
        FROM f),
    e AS (
        SELECT o.*, pg_catalog.row_number() OVER (PARTITION BY o.class ORDER BY o.eff NULLS LAST, o.tokens DESC,
                                                                          o.model) AS erk
        FROM o)
    SELECT e.model, e.class, e.eff IS NOT NULL AND e.erk = 1 AND e.class <> 'other', e.provider,
           pg_catalog.round(1000000 * e.cost / NULLIF(e.tokens, 0), 4), pg_catalog.round(e.cost, 2), e.tokens,
           e.requests, pc.pct, tr.indicator, tr.change_pct, tr.label, pg_catalog.round(e.previous_cost, 2),
           e.previous_tokens, e.previous_requests, e.accounts
    FROM e
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = e.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(models_table.period, models_table.provider,
                                                 models_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(e.cost, e.previous_cost, inc.since) tr
    ORDER BY 1000000 * e.cost / NULLIF(e.tokens, 0) NULLS LAST, e.model;
END;
COMMENT ON FUNCTION aispend.models_table(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency table: one row per model, with its class (aispend.model_class). most_efficient is the star: '
    'the lowest Cost/1M within the class among models with cost and tokens (none for class other). Arguments: '
    'period, provider, search (model name substring), min_cost, max_cost, workspace (name or id), api_key (name or '
    'id). Money rounded to the cent, Cost/1M to 4 places. Rows come in the default order: cost_per_1m NULLS LAST, '
    'model.';

CREATE FUNCTION aispend.models_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, model_count integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, most_efficient_model text, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.round(s.total, 2), s.models, s.requests, s.tokens,
           pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4),
           (SELECT t.model FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
            WHERE t.most_efficient
            ORDER BY t.class = 'chat' DESC, t.cost DESC, t.model LIMIT 1),
           pg_catalog.round(s.previous, 2), tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0))::integer AS models,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend._model_rows(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t) s
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(models_summary.period, models_summary.provider,
                                                 models_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total, s.previous, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.models_summary(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency summary: Total Cost, Model count (models with cost, tokens or requests in the period), Total '
    'Requests, Average Cost per 1M Tokens, the most efficient model (the chat class''s star; else the star of '
    'the class with the most cost), trend.';

CREATE FUNCTION aispend.models_by_cost(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, provider text, cost numeric, pct_of_total numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.class, t.provider, t.cost, t.pct_of_total
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    WHERE t.cost <> 0
    ORDER BY t.cost DESC, t.model;
END;
COMMENT ON FUNCTION aispend.models_by_cost(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency pie chart "Cost Distribution by Model". Default order: cost DESC, model.';

CREATE FUNCTION aispend.models_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                           workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                           compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text, current_tokens bigint, previous_tokens bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.class, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend,
           t.tokens, t.previous_tokens
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    ORDER BY t.cost DESC, t.model;
END;
COMMENT ON FUNCTION aispend.models_vs_previous(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency bar chart "Model Cost Comparison": current vs previous period per model (tokens too, to see '
    'a change of model mix; with workspace => ..., within one workspace). Default order: current_cost DESC, model.';

CREATE FUNCTION aispend.models_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                   provider text DEFAULT 'all', search text DEFAULT NULL,
                                   min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                   workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                   compare_with daterange DEFAULT NULL)
RETURNS TABLE ("Model" text, "Class" text, "Provider" text, "Cost/1M" numeric, "Cost" numeric, "Tokens" bigint,
               "Requests" bigint, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.model || CASE WHEN t.most_efficient THEN ' ⭐' ELSE '' END), t.class, t.provider,
           t.cost_per_1m, t.cost, t.tokens, t.requests, t.trend_label
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    ORDER BY t.cost_per_1m NULLS LAST, t.model;
END;
COMMENT ON FUNCTION aispend.models_csv(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency table with the dashboard''s column titles (each class''s starred model ends with '' ⭐''): '
    '\copy (SELECT * FROM aispend.models_csv(''previous_month'')) TO ''models.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the order of aispend.models_table.';

-- Exact cost, tokens and requests per UTC day of any slice (provider, account, workspace, key, model): every day
-- of the period, 0 on days without anything. What the daily series and the budgets' forecasts read.
CREATE FUNCTION aispend._slice_daily(period daterange, provider text, account name, workspace text, api_key text,
                                     model text)
RETURNS TABLE (day date, cost numeric, tokens bigint, requests bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    counts_requests boolean;
BEGIN
    PERFORM aispend._check_period(_slice_daily.period);
    -- the accounts of the provider filter first (on Citus a query of the shards cannot call
    -- aispend._account_providers()); requests are counted (0 on empty days) when one of them reports them, else
    -- NULL (Anthropic only)
    SELECT pg_catalog.array_agg(ap.account) FILTER (WHERE _slice_daily.account IS NULL
                                                       OR ap.account = _slice_daily.account),
           bool_or(aispend.reports_requests(ap.provider))
      INTO accounts, counts_requests
      FROM aispend._account_providers() ap
     WHERE aispend._provider_matches(ap.provider, _slice_daily.provider);
    RETURN QUERY
    WITH r AS (
        SELECT r.day, r.cost, r.total_tokens, r.requests
        FROM aispend.daily_rollup r
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(_slice_daily.period) AND r.day < pg_catalog.upper(_slice_daily.period)
          AND aispend._workspace_is(w.name, r.workspace_id, _slice_daily.workspace)
          AND aispend._api_key_is(k.name, r.api_key_id, _slice_daily.api_key)
          AND (_slice_daily.model IS NULL OR pg_catalog.lower(r.model) = pg_catalog.lower(_slice_daily.model)))
    SELECT d.day::date, coalesce(sum(r.cost), 0), coalesce(sum(r.total_tokens), 0)::bigint,
           CASE WHEN counts_requests THEN coalesce(sum(r.requests), 0)::bigint END
    FROM pg_catalog.generate_series(pg_catalog.lower(_slice_daily.period)::timestamp,
                                    (pg_catalog.upper(_slice_daily.period) - 1)::timestamp, interval '1 day') AS d(day)
    LEFT JOIN r ON r.day = d.day::date
    GROUP BY d.day
    ORDER BY d.day;
END
$$;
COMMENT ON FUNCTION aispend._slice_daily(daterange, text, name, text, text, text) IS
    'Internal: exact cost, tokens and requests per UTC day of a slice (daily_series rounds it; budgets read it).';

-- Cost, tokens and requests per UTC day for any slice: every day of the period, 0 on days without anything.
CREATE FUNCTION aispend.daily_series(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                     api_key text DEFAULT NULL, model text DEFAULT NULL)
RETURNS TABLE (day date, cost numeric, tokens bigint, requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.day, pg_catalog.round(x.cost, 2), x.tokens, x.requests
    FROM aispend._slice_daily(daily_series.period, daily_series.provider, NULL, daily_series.workspace,
                              daily_series.api_key, daily_series.model) x
    ORDER BY x.day;
END;
COMMENT ON FUNCTION aispend.daily_series(daterange, text, text, text, text) IS
    'Cost (to the cent), tokens and requests per UTC day of a period for any slice: provider, workspace (name or '
    'id), api_key (name or id), model (name, case-insensitive); every day of the period, 0 on days without '
    'anything. For line charts: model cost trends over time. Default order: day.';
