-- aispend 0.4.0 -> 0.5.0: the background refresh (docs/upgrading.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.5.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.5.0'" to load this file. \quit

-- ---- OpenRouter (issue 15)
-- A third provider, 'openrouter' (docs/providers.md): accepted as an account's provider (whole UTC days only),
-- selectable as provider => 'openrouter' in every tab (and still part of 'other'); a sync never deletes the days
-- before OpenRouter's 30-day window; BYOK inference is kept apart in the cost facts as '<model> (BYOK)'.

CREATE OR REPLACE FUNCTION aispend._account_settings(account name,
    OUT provider text, OUT backfill_days integer, OUT resync_days integer, OUT bucket_width text)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    opts text[];
BEGIN
    SELECT s.srvoptions INTO opts FROM aispend._servers() s WHERE s.srvname = _account_settings.account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', _account_settings.account
            USING ERRCODE = 'undefined_object',
                  HINT = 'An account is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''openai''). '
                         'See SELECT srvname FROM pg_foreign_server.';
    END IF;
    provider := aispend._option(opts, 'provider');
    backfill_days := aispend._option(opts, 'backfill_days')::integer;
    resync_days := aispend._option(opts, 'resync_days')::integer;
    bucket_width := aispend._option(opts, 'bucket_width');
    backfill_days := coalesce(backfill_days, 90);
    resync_days := coalesce(resync_days, 3);
    bucket_width := coalesce(bucket_width, '1d');
    IF provider IS NULL OR provider NOT IN ('openai', 'anthropic', 'openrouter') THEN
        RAISE EXCEPTION 'aispend: account "%" has no valid provider option', _account_settings.account
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ALTER SERVER ... OPTIONS (ADD provider ''openai'') (or ''anthropic'', ''openrouter'').';
    END IF;
    IF bucket_width NOT IN ('1d', '1h') THEN
        RAISE EXCEPTION 'aispend: account "%": bucket_width must be ''1d'' or ''1h'', not "%"',
            _account_settings.account, bucket_width
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF provider = 'openrouter' AND bucket_width <> '1d' THEN
        RAISE EXCEPTION 'aispend: account "%": OpenRouter reports whole UTC days, bucket_width must be ''1d''',
            _account_settings.account
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ALTER SERVER ... OPTIONS (DROP bucket_width).';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION aispend._provider_matches(provider text, filter text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    CASE pg_catalog.lower(coalesce(filter, 'all'))
        WHEN 'all', '' THEN RETURN true;
        WHEN 'openai' THEN RETURN provider = 'openai';
        WHEN 'anthropic' THEN RETURN provider = 'anthropic';
        WHEN 'other' THEN RETURN provider NOT IN ('openai', 'anthropic');
        WHEN 'openrouter' THEN RETURN provider = 'openrouter';
        ELSE RAISE EXCEPTION 'aispend: unknown provider filter "%"', filter
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all, openai, anthropic, openrouter or other.';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend._provider_matches(text, text) IS
    'Internal: the provider filter (all, openai, anthropic, openrouter, or other: any provider but OpenAI and Anthropic).';

-- The first day a provider still reports at p_now: OpenRouter's /activity covers the last 30 completed UTC days,
-- so a sync never deletes a stored day before them (the API is silent about it, not restating it). -infinity
-- for the providers whose reports reach back as far as asked.
CREATE FUNCTION aispend._retained_since(p_provider text, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
RETURN CASE WHEN p_provider = 'openrouter'
            THEN aispend._utc_add(aispend._bucket_floor(p_now, '1d'), pg_catalog.make_interval(days => -30))
            ELSE '-infinity'::timestamptz END;
COMMENT ON FUNCTION aispend._retained_since(text, timestamptz) IS
    'Internal: the first UTC day a provider still reports at a time (OpenRouter: 30 completed days back; others: '
    '-infinity). A sync deletes no stored fact before it.';

-- Replaces the usage of [p_since, p_until) with what the provider returns now, touching only rows that differ:
-- rows gone upstream are deleted, changed rows updated, new rows inserted, identical rows left alone.
CREATE OR REPLACE FUNCTION aispend._sync_usage(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_width text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- Normalised and de-duplicated (a natural key seen twice is summed; NULL stays NULL).
    CREATE TEMP TABLE aispend_stage_usage ON COMMIT DROP AS
    SELECT f.endpoint, f.bucket_start,
           coalesce(f.workspace_id, '(default)') AS workspace_id,
           coalesce(f.api_key_id, CASE p_provider WHEN 'anthropic' THEN '(console)' ELSE '(none)' END) AS api_key_id,
           f.model, f.service_tier, f.batch, f.context_window, f.inference_geo,
           sum(f.uncached_input_tokens)::bigint AS uncached_input_tokens,
           sum(f.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(f.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
           sum(f.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
           sum(f.output_tokens)::bigint AS output_tokens,
           sum(f.input_audio_tokens)::bigint AS input_audio_tokens,
           sum(f.output_audio_tokens)::bigint AS output_audio_tokens,
           sum(f.input_image_tokens)::bigint AS input_image_tokens,
           sum(f.output_image_tokens)::bigint AS output_image_tokens,
           sum(f.requests)::bigint AS requests,
           sum(f.web_search_requests)::bigint AS web_search_requests
    FROM aispend._fetch_usage(p_account, p_since, p_until, p_width) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_usage;

    -- OpenRouter reports only its last 30 completed UTC days: older days it no longer sends are history, kept.
    DELETE FROM aispend.usage u
     WHERE u.account = p_account AND u.bucket_start >= p_since AND u.bucket_start < p_until
       AND u.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND NOT EXISTS (
           SELECT 1 FROM pg_temp.aispend_stage_usage s
           WHERE ROW(s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model, s.service_tier,
                     s.batch, s.context_window, s.inference_geo)::text
               = ROW(u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model,
                     u.service_tier, u.batch, u.context_window, u.inference_geo)::text);
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.usage AS u
            (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier, batch,
             context_window, inference_geo, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens, output_tokens, input_audio_tokens, output_audio_tokens, input_image_tokens,
             output_image_tokens, requests, web_search_requests)
        SELECT p_account, s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model, s.service_tier,
               s.batch, s.context_window, s.inference_geo, s.uncached_input_tokens, s.cache_read_tokens,
               s.cache_write_5m_tokens, s.cache_write_1h_tokens, s.output_tokens, s.input_audio_tokens,
               s.output_audio_tokens, s.input_image_tokens, s.output_image_tokens, s.requests, s.web_search_requests
        FROM pg_temp.aispend_stage_usage s
        ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE
           SET uncached_input_tokens = excluded.uncached_input_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_5m_tokens = excluded.cache_write_5m_tokens,
               cache_write_1h_tokens = excluded.cache_write_1h_tokens,
               output_tokens = excluded.output_tokens,
               input_audio_tokens = excluded.input_audio_tokens,
               output_audio_tokens = excluded.output_audio_tokens,
               input_image_tokens = excluded.input_image_tokens,
               output_image_tokens = excluded.output_image_tokens,
               requests = excluded.requests,
               web_search_requests = excluded.web_search_requests
         WHERE (u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                u.output_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens,
                u.output_image_tokens, u.requests, u.web_search_requests)
               IS DISTINCT FROM
               (excluded.uncached_input_tokens, excluded.cache_read_tokens, excluded.cache_write_5m_tokens,
                excluded.cache_write_1h_tokens, excluded.output_tokens, excluded.input_audio_tokens,
                excluded.output_audio_tokens, excluded.input_image_tokens, excluded.output_image_tokens,
                excluded.requests, excluded.web_search_requests)
        RETURNING u.xmax = 0 AS is_new)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new) INTO inserted, updated FROM up;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_usage s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_usage s));
    DROP TABLE pg_temp.aispend_stage_usage;
END
$$;

-- Same for the billed costs of the UTC days [p_since, p_until).
CREATE OR REPLACE FUNCTION aispend._sync_costs(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    CREATE TEMP TABLE aispend_stage_costs ON COMMIT DROP AS
    SELECT f.bucket_start, coalesce(f.workspace_id, '(default)') AS workspace_id, f.api_key_id, f.line_item,
           f.model, f.token_type, f.service_tier, f.context_window, f.cost_type, f.inference_geo,
           coalesce(pg_catalog.upper(f.currency), 'USD') AS currency, f.quantity_unit,
           sum(f.amount_usd) AS amount_usd, sum(f.quantity) AS quantity, max(f.token_class) AS token_class
    FROM aispend._fetch_costs(p_account, p_since, p_until) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_costs;

    DELETE FROM aispend.costs c
     WHERE c.account = p_account AND c.bucket_start >= p_since AND c.bucket_start < p_until
       AND c.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND NOT EXISTS (
           SELECT 1 FROM pg_temp.aispend_stage_costs s
           WHERE ROW(s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
                     s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.currency,
                     s.quantity_unit)::text
               = ROW(c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
                     c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency,
                     c.quantity_unit)::text);
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.costs AS c
            (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type, service_tier,
             context_window, cost_type, inference_geo, amount_usd, currency, quantity, quantity_unit, token_class)
        SELECT p_account, s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
               s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.amount_usd, s.currency,
               s.quantity, s.quantity_unit, s.token_class
        FROM pg_temp.aispend_stage_costs s
        ON CONFLICT ON CONSTRAINT costs_natural_key DO UPDATE
           SET amount_usd = excluded.amount_usd, quantity = excluded.quantity, token_class = excluded.token_class
         -- compared as text: numeric equality ignores scale (1.50 = 1.5), and the digits as sent are kept
         WHERE c.amount_usd::text <> excluded.amount_usd::text
            OR c.quantity::text IS DISTINCT FROM excluded.quantity::text
            OR c.token_class IS DISTINCT FROM excluded.token_class
        RETURNING c.xmax = 0 AS is_new)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new) INTO inserted, updated FROM up;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_costs s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_costs s));
    DROP TABLE pg_temp.aispend_stage_costs;
END
$$;

CREATE OR REPLACE FUNCTION aispend.cost_facts_between(account name, from_day date, to_day date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
WITH
-- usage, costed, per day / workspace / key / model
u AS (
    SELECT uc.day, uc.workspace_id, uc.api_key_id, uc.model,
           sum(uc.estimated_cost) AS est, sum(uc.estimated_token_cost) AS est_tok,
           bool_or(NOT uc.priced) AS unpriced,
           sum(uc.input_tokens) AS inp, sum(uc.output_tokens) AS outp, sum(uc.total_tokens) AS tot,
           sum(uc.requests) AS req, sum(uc.web_search_requests) AS wsr
    FROM aispend._usage_costed_between(cost_facts_between.account, aispend._utc_day_start(cost_facts_between.from_day),
                                       aispend._utc_day_start(cost_facts_between.to_day + 1)) uc
    GROUP BY 1, 2, 3, 4
),
-- billed lines per day / workspace / key / model (lines without a model keep their label); OpenRouter's BYOK
-- inference (billed by the user's own provider key, not in credits) is kept apart as the model '<model> (BYOK)'
c AS (
    SELECT (x.bucket_start AT TIME ZONE 'UTC')::date AS day, x.workspace_id, x.api_key_id,
           CASE WHEN x.cost_type = 'byok_inference' AND x.model IS NOT NULL THEN x.model || ' (BYOK)'
                ELSE x.model END AS model,
           CASE WHEN x.model IS NULL THEN coalesce(x.line_item, x.cost_type, '(unlabelled)') END AS line_item,
           sum(x.amount_usd) AS billed
    FROM aispend.costs x
    WHERE x.account = cost_facts_between.account
      AND x.bucket_start >= aispend._utc_day_start(cost_facts_between.from_day)
      AND x.bucket_start < aispend._utc_day_start(cost_facts_between.to_day + 1)
    GROUP BY 1, 2, 3, 4, 5
),
-- a day is settled when the account has billed lines for it that were fetched after it ended (see
-- aispend.settled_before): a property of the synced data, never of the clock
settled_days AS (
    SELECT DISTINCT c.day FROM c
    WHERE c.day < (SELECT coalesce(aispend.settled_before(cost_facts_between.account), 'infinity'))
),
-- model lines the provider does not attribute to a key: shared among the keys of (day, workspace, model)
slices AS (
    SELECT c.day, c.workspace_id, c.model, sum(c.billed) AS b
    FROM c WHERE c.api_key_id IS NULL AND c.model IS NOT NULL
    GROUP BY 1, 2, 3
),
-- each slice's bill beside the usage rows of its keys, by window functions over a union rather than a join:
-- right after a sync the planner's row estimates for these CTEs are ~1, and a join became a nested loop
-- (minutes for a month of a large organisation)
slice_rows AS (
    SELECT x.*, max(x.bill) OVER w AS b, count(x.api_key_id) OVER w AS keys,
           sum(x.est_tok) OVER w AS sum_est, sum(x.tot) OVER w AS sum_tot
    FROM (SELECT u.day, u.workspace_id, u.model, u.api_key_id, u.est_tok, u.tot, NULL::numeric AS bill
          FROM u WHERE u.model IS NOT NULL
          UNION ALL
          SELECT s.day, s.workspace_id, s.model, NULL, NULL, NULL, s.b FROM slices s) x
    WINDOW w AS (PARTITION BY x.day, x.workspace_id, x.model)
),
weights AS (
    SELECT r.day, r.workspace_id, r.api_key_id, r.model, r.b,
           CASE WHEN r.sum_est > 0 THEN coalesce(r.est_tok, 0)
                WHEN r.sum_tot > 0 THEN coalesce(r.tot, 0)::numeric
                ELSE 1 END AS wt
    FROM slice_rows r
    WHERE r.api_key_id IS NOT NULL AND r.b IS NOT NULL
),
shares AS (
    SELECT wg.day, wg.workspace_id, wg.api_key_id, wg.model, wg.b,
           pg_catalog.round(wg.b * wg.wt / sum(wg.wt) OVER w, 12) AS r,
           row_number() OVER (PARTITION BY wg.day, wg.workspace_id, wg.model ORDER BY wg.wt DESC, wg.api_key_id) AS rk
    FROM weights wg
    WINDOW w AS (PARTITION BY wg.day, wg.workspace_id, wg.model)
),
alloc AS (
    SELECT sh.day, sh.workspace_id, sh.api_key_id, sh.model,
           CASE WHEN sh.rk = 1 THEN sh.b - (sum(sh.r) OVER w - sh.r) ELSE sh.r END AS allocated
    FROM shares sh
    WINDOW w AS (PARTITION BY sh.day, sh.workspace_id, sh.model)
),
-- one row per fact: the usage, a bill at key grain and an allocated share of (day, workspace, key, model) meet
-- in one row through FULL JOINs (never planned as nested loops, whatever the estimates); the billed lines
-- that no usage row can take keep rows of their own
g AS (
    SELECT day, workspace_id, api_key_id, model, NULL::text AS line_item, kb.billed, aa.allocated, uu.est,
           coalesce(uu.unpriced, false) AS unpriced, uu.inp::bigint AS inp, uu.outp::bigint AS outp,
           uu.tot::bigint AS tot, uu.req::bigint AS req, uu.wsr::bigint AS wsr, uu.has_usage IS NOT NULL AS has_usage
    FROM (SELECT u.*, true AS has_usage FROM u) AS uu
    FULL JOIN (SELECT a.day, a.workspace_id, a.api_key_id, a.model, a.allocated FROM alloc a) AS aa
         USING (day, workspace_id, api_key_id, model)
    FULL JOIN (SELECT c.day, c.workspace_id, c.api_key_id, c.model, c.billed
               FROM c WHERE c.api_key_id IS NOT NULL AND c.model IS NOT NULL) AS kb   -- newer OpenAI costs
         USING (day, workspace_id, api_key_id, model)
    UNION ALL
    -- billed lines without a model: their own rows, under their key (newer OpenAI costs) or '(unattributed)'
    SELECT c.day, c.workspace_id, coalesce(c.api_key_id, '(unattributed)'), NULL, c.line_item, c.billed, NULL,
           NULL, false, NULL, NULL, NULL, NULL, NULL, false
    FROM c WHERE c.model IS NULL
    UNION ALL
    -- billed model with no usage behind it in its slice
    SELECT r.day, r.workspace_id, '(unattributed)', r.model, NULL, r.bill, NULL, NULL, false, NULL, NULL, NULL,
           NULL, NULL, false
    FROM slice_rows r
    WHERE r.api_key_id IS NULL AND r.keys = 0
)
SELECT g.day, cost_facts_between.account, pv.provider, g.workspace_id, g.api_key_id, g.model, g.line_item,
       g.billed,
       CASE WHEN sd.day IS NOT NULL AND g.billed IS NULL THEN coalesce(g.allocated, 0) ELSE g.allocated END,
       g.est,
       CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage THEN coalesce(g.billed, 0) + coalesce(g.allocated, 0)
            ELSE g.est END,
       CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage
            THEN CASE WHEN g.allocated IS NOT NULL OR g.billed IS NULL THEN 'allocated' ELSE 'billed' END
            ELSE 'estimated' END,
       g.inp, g.outp, g.tot, g.req, g.wsr, g.unpriced, sd.day IS NOT NULL
FROM g LEFT JOIN settled_days sd ON sd.day = g.day
CROSS JOIN (SELECT aispend.account_provider(cost_facts_between.account) AS provider OFFSET 0) pv;
END;
COMMENT ON COLUMN aispend.cost_facts.provider IS 'openai, anthropic or openrouter: the account''s provider (aispend.account_provider).';
COMMENT ON COLUMN aispend.cost_facts.model IS
    'Model; NULL for billed lines that have none (see line_item). OpenRouter BYOK inference: ''<model> (BYOK)''.';
