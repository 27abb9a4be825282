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
REVOKE ALL ON FUNCTION aispend._retained_since(text, timestamptz) FROM PUBLIC;

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
           -- OpenRouter's activity report is not split by key: '(all keys)', not '(none)' (it was keys' usage)
           coalesce(f.api_key_id, CASE p_provider WHEN 'anthropic' THEN '(console)' WHEN 'openrouter' THEN '(all keys)'
                                                  ELSE '(none)' END) AS api_key_id,
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

COMMENT ON COLUMN aispend.usage.api_key_id IS
    'API key; ''(console)'' (Anthropic), ''(all keys)'' (OpenRouter: its activity report is not split by key) or '
    '''(none)'' (OpenAI) when the provider sent none.';

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

-- The class of a model, from its name: the providers' naming conventions, checked against the shipped price
-- catalogue (embedding and audio models are priced by input only or by audio tokens). A vendor prefix as in
-- OpenRouter's slugs ('openai/gpt-4.1', 'meta-llama/llama-3.3-70b-instruct') is looked through.
CREATE OR REPLACE FUNCTION aispend.model_class(model text)
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

-- The report shows the other-providers card for provider => 'openrouter' too.
CREATE OR REPLACE FUNCTION aispend.report_html(period daterange DEFAULT aispend.period('last_30_days'),
                                    provider text DEFAULT 'all', compare_with daterange DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    max_rows constant integer := 50;   -- table rows shown per tab; the rest is counted below the table
    prev daterange;
    ws record;
    ak record;
    md record;
    html text;
    part text;
    n integer;
    labels text[];
    a numeric[];
    b numeric[];
    c numeric[];
    prov text := lower(coalesce(nullif(btrim(provider), ''), 'all'));
    call_args text;
    n_ws integer;
    n_active integer;
    n_renamed integer;
    est_pct numeric;
    days date[];
BEGIN
    prev := aispend._check_period(coalesce(compare_with, aispend.previous_period(aispend._check_period(period))));
    PERFORM aispend._provider_matches('openai', prov);   -- raises for an unknown provider filter
    call_args := format('%L::daterange, %L', period, prov)
                 || CASE WHEN compare_with IS NOT NULL THEN format(', compare_with => %L::daterange', prev) ELSE '' END;

    SELECT * INTO ws FROM aispend.workspaces_summary(period, prov, compare_with => prev);
    SELECT * INTO ak FROM aispend.api_keys_summary(period, prov, compare_with => prev);
    SELECT * INTO md FROM aispend.models_summary(period, prov, compare_with => prev);
    SELECT b.pct_of_cost INTO est_pct FROM aispend.cost_basis_split(period, prov) b WHERE b.cost_basis = 'estimated';
    est_pct := coalesce(est_pct, 0);

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<title>aispend report ' || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</title><style>'
        || 'body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#f6f7f9}'
        || 'h1{margin:0 0 4px;font-size:26px}h2{margin:0 0 12px;font-size:20px;border-bottom:2px solid #4e79a7;padding-bottom:4px}'
        || 'header p{margin:2px 0;color:#555}section{background:#fff;border:1px solid #dde;border-radius:8px;padding:16px 20px;margin:18px 0}'
        || '.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}'
        || '.card{border:1px solid #dde;border-radius:6px;padding:10px 14px;min-width:150px;background:#fbfcfe}'
        || '.card-title{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}'
        || '.card-value{font-size:22px;font-weight:600;margin-top:4px}.card-note{font-size:12px;margin-top:4px;color:#555}'
        || '.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0 0 12px}figcaption{font-weight:600;margin-bottom:4px}'
        || 'svg text{font-size:12px;fill:#222}svg text.num{text-anchor:end}svg text.small{font-size:11px}svg text.muted{fill:#777}'
        || 'table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}'
        || 'th,td{border-bottom:1px solid #e4e6eb;padding:4px 8px;text-align:left}th{background:#f0f2f6}'
        || 'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
        || '.trend{font-weight:600;white-space:nowrap}.trend.up{color:#c62828}.trend.down{color:#2e7d32}'
        || '.trend.flat{color:#777}.trend.new{color:#1565c0}.trend.incomplete{color:#777;font-style:italic;font-weight:400}'
        || '.star{vertical-align:-2px}.muted{color:#777}'
        || '.note{font-size:12px;color:#666}footer{font-size:12px;color:#666;margin-top:20px}code{font-size:12px}'
        || '</style></head><body>'
        || '<header><h1>aispend · Provider Dashboard</h1>'
        || '<p data-check="period" data-value="' || aispend.html_escape(period::text) || '">Period: <b>'
        || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</b> ('
        || (upper(period) - lower(period)) || ' UTC days), compared with '
        || aispend.html_escape(aispend.period_first_day(prev)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(prev)::text) || '</p>'
        || '<p>Provider: <b>' || aispend.html_escape(prov) || '</b> · generated '
        || aispend.html_escape(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC') || '</p></header>';

    -- ---- Workspaces
    html := html || '<section id="workspaces"><h2>Workspaces</h2><div class="cards">'
        || aispend._report_card('workspaces_summary.total_cost', 'Total Cost', aispend._report_money(ws.total_cost),
                                ws.total_cost::text,
                                aispend._report_trend(ws.trend, ws.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ws.previous_total_cost)))
        || aispend._report_card('workspaces_summary.active_workspaces', 'Active Workspaces',
                                aispend._report_int(ws.active_workspaces), ws.active_workspaces::text)
        -- a card per provider in view (none for a provider the filter leaves out; other only when it has cost)
        || CASE WHEN prov IN ('all', 'openai')
                THEN aispend._report_card('workspaces_summary.openai_cost', 'OpenAI',
                                          aispend._report_money(ws.openai_cost), ws.openai_cost::text)
                ELSE '' END
        || CASE WHEN prov IN ('all', 'anthropic')
                THEN aispend._report_card('workspaces_summary.anthropic_cost', 'Anthropic',
                                          aispend._report_money(ws.anthropic_cost), ws.anthropic_cost::text)
                ELSE '' END
        || CASE WHEN prov NOT IN ('all', 'openai', 'anthropic') OR prov = 'all' AND ws.other_cost <> 0
                THEN aispend._report_card('workspaces_summary.other_cost', 'Other providers',
                                          aispend._report_money(ws.other_cost), ws.other_cost::text)
                ELSE '' END
        || aispend._report_card('cost_basis.estimated_pct', 'Estimated',
                                aispend._report_pct(est_pct), coalesce(est_pct::text, ''),
                                'of the cost is estimated from list prices (bill not settled yet)')
        || aispend._report_card('workspaces_summary.requests', 'Requests', aispend._report_int(ws.requests),
                                coalesce(ws.requests::text, ''))
        || aispend._report_card('workspaces_summary.tokens', 'Tokens', aispend._report_int(ws.tokens), ws.tokens::text)
        || '</div><div class="charts">';
    SELECT array_agg(t.provider ORDER BY t.cost DESC, t.provider), array_agg(t.cost ORDER BY t.cost DESC, t.provider),
           array_agg(t.pct_of_total ORDER BY t.cost DESC, t.provider)
      INTO labels, a, c
      FROM aispend.workspaces_by_provider(period, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by Provider', 'workspaces_by_provider', labels, a, c);
    SELECT array_agg(t.name ORDER BY t.current_cost DESC, t.name), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.name),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.name)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.workspaces_vs_previous(period, prov, compare_with => prev) v
            ORDER BY v.current_cost DESC, v.name LIMIT 10) t;
    html := html || aispend._report_bars('Current vs Previous Period (top 10 workspaces)', 'workspaces_vs_previous',
                                         labels, a, b);
    SELECT array_agg(d.day ORDER BY d.day), array_agg(d.cost ORDER BY d.day) INTO days, a
      FROM aispend.daily_series(period, prov) d;
    html := html || aispend._report_daily('Cost per Day (red: a spike, aispend.anomalies)', 'daily_series', days, a,
                                          ARRAY(SELECT DISTINCT x.day FROM aispend.anomalies(period, NULL, prov) x))
                 || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.name) || '</td><td>' || aispend.html_escape(t.provider)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.cost DESC, t.name),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.workspaces_table(period, prov, compare_with => prev) x
            ORDER BY x.cost DESC, x.name LIMIT max_rows) t;
    html := html || '<table data-check="workspaces_table"><thead><tr><th>Name</th><th>Provider</th>'
        || '<th class="num">Cost</th><th class="num">% of Total</th><th class="num">Requests</th>'
        || '<th class="num">Tokens</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.workspaces_table(' || aispend.html_escape(call_args) || ') ORDER BY cost DESC, name;</p>'
                ELSE '' END
        || '</section>';

    -- ---- API keys
    html := html || '<section id="api-keys"><h2>API Keys</h2><div class="cards">'
        || aispend._report_card('api_keys_summary.total_cost', 'Total Cost', aispend._report_money(ak.total_cost),
                                ak.total_cost::text,
                                aispend._report_trend(ak.trend, ak.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ak.previous_total_cost)))
        || aispend._report_card('api_keys_summary.active_keys', 'Active API Keys', aispend._report_int(ak.active_keys),
                                ak.active_keys::text)
        || aispend._report_card('api_keys_summary.total_requests', 'Total Requests',
                                aispend._report_int(ak.total_requests), coalesce(ak.total_requests::text, ''))
        || aispend._report_card('api_keys_summary.tokens', 'Tokens', aispend._report_int(ak.tokens), ak.tokens::text)
        || aispend._report_card('api_keys_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(ak.avg_cost_per_1m), coalesce(ak.avg_cost_per_1m::text, ''))
        || '</div><div class="charts">';
    SELECT array_agg(CASE WHEN t.label = 'Other keys' THEN 'Other keys (' || t.keys || ')' ELSE t.label END ORDER BY t.rank),
           array_agg(t.cost ORDER BY t.rank), array_agg(t.pct_of_total ORDER BY t.rank)
      INTO labels, a, c
      FROM aispend.api_keys_top(period, 10, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by API Key (top 10)', 'api_keys_top', labels, a, c);
    SELECT array_agg(t.api_key || ' (' || t.workspace || ')' ORDER BY t.rn), array_agg(t.current_cost ORDER BY t.rn),
           array_agg(t.previous_cost ORDER BY t.rn)
      INTO labels, a, b
      FROM (SELECT v.*, row_number() OVER (ORDER BY v.current_cost DESC, v.api_key, v.account, v.workspace_id,
                                                    v.api_key_id) AS rn
            FROM aispend.api_keys_vs_previous(period, prov, compare_with => prev) v) t
     WHERE t.rn <= 10;
    html := html || aispend._report_bars('API Key Cost Comparison (top 10 keys)', 'api_keys_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.api_key) || '</td><td>' || aispend.html_escape(t.kind)
                      || '</td><td>' || aispend.html_escape(t.workspace)
                      || '</td><td><code>' || aispend.html_escape(t.key_hint) || '</code></td><td>'
                      || aispend.html_escape(t.provider) || '</td><td>' || aispend.html_escape(t.status)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_int(t.tokens) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.rn),
           max(t.total)
      INTO part, n
      -- the tab's own order (WITH ORDINALITY); keys without use are left out, so that 50 rows always reach
      -- the rows that are not keys
      FROM (SELECT x.*, x.ordinality AS rn, count(*) OVER () AS total
            FROM aispend.api_keys_table(period, prov, include_unused => false, compare_with => prev)
                 WITH ORDINALITY AS x) t
     WHERE t.rn <= max_rows;
    html := html || '<table data-check="api_keys_table"><thead><tr><th>API Key</th><th>Kind</th><th>Workspace</th><th>Key Hint</th>'
        || '<th>Provider</th><th>Status</th><th class="num">Cost</th><th class="num">Tokens</th>'
        || '<th class="num">Requests</th><th class="num">Cost/1M</th><th class="num">% of Total</th><th>Trend</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.api_keys_table(' || aispend.html_escape(call_args) || ', include_unused => false);</p>'
                ELSE '' END
        || '</section>';

    -- ---- Models
    html := html || '<section id="models"><h2>Models</h2><div class="cards">'
        || aispend._report_card('models_summary.total_cost', 'Total Cost', aispend._report_money(md.total_cost),
                                md.total_cost::text,
                                aispend._report_trend(md.trend, md.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(md.previous_total_cost)))
        || aispend._report_card('models_summary.model_count', 'Models', aispend._report_int(md.model_count),
                                md.model_count::text)
        || aispend._report_card('models_summary.total_requests', 'Total Requests',
                                aispend._report_int(md.total_requests), coalesce(md.total_requests::text, ''))
        || aispend._report_card('models_summary.tokens', 'Tokens', aispend._report_int(md.tokens), md.tokens::text)
        || aispend._report_card('models_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(md.avg_cost_per_1m), coalesce(md.avg_cost_per_1m::text, ''))
        || aispend._report_card('models_summary.most_efficient_model', 'Most Efficient',
                                coalesce(md.most_efficient_model, '—'), coalesce(md.most_efficient_model, ''),
                                aispend._report_star() || ' lowest cost per 1M tokens (chat models)')
        || '</div><div class="charts">';
    -- The pie shows the nine costliest models; the rest is one grey slice.
    SELECT array_agg(t.label ORDER BY t.grp), array_agg(t.cost ORDER BY t.grp), array_agg(t.pct ORDER BY t.grp)
      INTO labels, a, c
      FROM (SELECT g.grp, CASE WHEN g.grp <= 9 OR count(*) = 1 THEN min(g.model)
                               ELSE 'Other (' || count(*) || ' models)' END AS label,
                   sum(g.cost) AS cost, sum(g.pct_of_total) AS pct
              FROM (SELECT x.model, x.cost, x.pct_of_total,
                           LEAST(row_number() OVER (ORDER BY x.cost DESC, x.model), 10) AS grp
                      FROM aispend.models_by_cost(period, prov, compare_with => prev) x) g
             GROUP BY g.grp) t;
    html := html || aispend._report_pie('Cost Distribution by Model', 'models_by_cost', labels, a, c);
    SELECT array_agg(t.model ORDER BY t.current_cost DESC, t.model), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.model),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.model)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.models_vs_previous(period, prov, compare_with => prev) v ORDER BY v.current_cost DESC, v.model LIMIT 10) t;
    html := html || aispend._report_bars('Model Cost Comparison (top 10 models)', 'models_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.model)
                      || CASE WHEN t.most_efficient THEN ' ' || aispend._report_star() ELSE '' END
                      || '</td><td>' || aispend.html_escape(t.class)
                      || '</td><td>' || aispend.html_escape(t.provider) || '</td><td class="num">'
                      || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">' || aispend._report_money(t.cost)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td class="num">'
                      || aispend._report_int(t.requests) || '</td><td class="num">' || aispend._report_pct(t.pct_of_total)
                      || '</td><td>' || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', ''
                      ORDER BY t.cost_per_1m NULLS LAST, t.model),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.models_table(period, prov, compare_with => prev) x
            ORDER BY x.cost_per_1m NULLS LAST, x.model LIMIT max_rows) t;
    html := html || '<table data-check="models_table"><thead><tr><th>Model</th><th>Class</th><th>Provider</th>'
        || '<th class="num">Cost/1M</th><th class="num">Cost</th><th class="num">Tokens</th><th class="num">Requests</th>'
        || '<th class="num">% of Total</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_star() || ' marks the most cost-efficient model of each class: the lowest cost per '
        || 'million tokens among the class''s models with cost and tokens in the period.</p>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.models_table(' || aispend.html_escape(call_args) || ') ORDER BY cost_per_1m NULLS LAST, model;</p>'
                ELSE '' END
        || '</section>';

    -- ---- Savings: what the same tokens would have cost on cheaper models of the same class, and caching
    SELECT string_agg('<tr><td>' || aispend.html_escape(o.api_key) || '</td><td>' || aispend.html_escape(o.workspace)
                      || '</td><td>' || aispend.html_escape(o.model) || '</td><td>' || aispend.html_escape(o.alternative)
                      || '</td><td class="num">' || aispend._report_money(o.list_cost) || '</td><td class="num">'
                      || aispend._report_money(o.repriced_cost) || '</td><td class="num">'
                      || aispend._report_money(o.saving) || '</td><td class="num">' || aispend._report_pct(o.saving_pct)
                      || '</td></tr>', '' ORDER BY o.ordinality)
      INTO part
      FROM aispend.savings_opportunities(period, prov) WITH ORDINALITY AS o
     WHERE o.ordinality <= 10;
    html := html || '<section id="savings"><h2>Savings Opportunities</h2>'
        || '<p class="note">What each key''s own token mix would have cost at the list prices of a cheaper model of the '
        || 'same class that the organisation uses: a re-pricing of token counts, not a judgement of quality.</p>'
        || '<table data-check="savings_opportunities"><thead><tr><th>API Key</th><th>Workspace</th><th>Model</th>'
        || '<th>Alternative</th><th class="num">List cost</th><th class="num">Re-priced</th><th class="num">Saving</th>'
        || '<th class="num">Saving %</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(c.api_key) || '</td><td>' || aispend.html_escape(c.model)
                      || '</td><td class="num">' || aispend._report_int(c.input_tokens) || '</td><td class="num">'
                      || aispend._report_pct(c.cached_pct) || '</td><td class="num">'
                      || aispend._report_money(c.caching_saved) || '</td><td class="num">'
                      || aispend._report_money(c.saving_at_hit_rate) || '</td><td>'
                      || CASE WHEN c.uncached_heavy THEN 'no caching' ELSE '' END || '</td></tr>', ''
                      ORDER BY c.ordinality)
      INTO part
      FROM aispend.cache_efficiency(period, prov) WITH ORDINALITY AS c
     WHERE c.ordinality <= 10;
    html := html || '<table data-check="cache_efficiency"><thead><tr><th>API Key</th><th>Model</th>'
        || '<th class="num">Input tokens</th><th class="num">Cached</th><th class="num">Caching saved</th>'
        || '<th class="num">At a 50% hit rate</th><th>Flag</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table><p class="note">aispend.savings_opportunities and aispend.cache_efficiency have the rest '
        || '(docs/savings.md).</p></section>';

    -- ---- Budgets (their current period, not the report's) and the open alerts
    SELECT string_agg('<tr><td>' || aispend.html_escape(b.name) || '</td><td>' || aispend.html_escape(b.period::text)
                      || '</td><td class="num">' || aispend._report_money(b.amount_usd) || '</td><td class="num">'
                      || aispend._report_money(b.spent) || '</td><td class="num">' || aispend._report_pct(b.pct_used)
                      || '</td><td class="num">' || aispend._report_money(b.forecast) || '</td><td class="num">'
                      || aispend._report_money(b.forecast_low) || ' – ' || aispend._report_money(b.forecast_high)
                      || '</td><td>' || aispend._report_budget_bar(b.amount_usd, b.spent, b.forecast, b.forecast_low,
                                                                    b.forecast_high) || '</td></tr>', '' ORDER BY b.ordinality)
      INTO part
      FROM aispend.budgets_status() WITH ORDINALITY AS b;
    html := html || '<section id="budgets"><h2>Budgets and Alerts</h2>'
        || '<table data-check="budgets_status"><thead><tr><th>Budget</th><th>Period</th><th class="num">Amount</th>'
        || '<th class="num">Spent</th><th class="num">Used</th><th class="num">Forecast</th><th class="num">Band</th>'
        || '<th>Spent (blue), forecast band (grey), amount (line)</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(x.state) || '</td><td>' || aispend.html_escape(x.rule)
                      || '</td><td>' || aispend.html_escape(x.message) || '</td><td>'
                      || aispend.html_escape(to_char(x.first_fired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) || ' UTC'
                      || '</td></tr>', '' ORDER BY x.first_fired, x.id)
      INTO part
      FROM aispend.alerts x WHERE x.state <> 'resolved';
    html := html || '<table data-check="alerts"><thead><tr><th>State</th><th>Rule</th><th>Alert</th><th>Since</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table><p class="note">Budgets in their current '
        || 'period (aispend.budgets_status, docs/budgets.md); alerts firing or acknowledged (aispend.alerts, '
        || 'docs/alerts.md).</p></section>';

    -- ---- Workspace management (the names; not period-dependent)
    SELECT string_agg('<tr><td>' || aispend.html_escape(m.workspace_name)
                      || CASE WHEN m.display_name IS NOT NULL THEN ' <span class="muted">(renamed)</span>' ELSE '' END
                      || '</td><td>' || aispend.html_escape(m.provider) || '</td><td><code>'
                      || aispend.html_escape(m.workspace_id) || '</code></td><td>' || aispend.html_escape(m.provider_name)
                      || '</td><td>' || aispend.html_escape(m.status) || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.created, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.first_seen, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.last_seen, 'YYYY-MM-DD')), '—')
                      || '</td><td class="num">' || m.name_changes || '</td></tr>', ''
                      ORDER BY m.workspace_name, m.account, m.workspace_id),
           count(*), count(*) FILTER (WHERE m.status = 'active'), count(*) FILTER (WHERE m.display_name IS NOT NULL)
      INTO part, n_ws, n_active, n_renamed
      FROM aispend.workspace_management_table(NULL, prov) m;
    html := html || '<section id="workspace-management"><h2>Workspace Management</h2><div class="cards">'
        || aispend._report_card('workspace_management.count', 'Workspaces', aispend._report_int(n_ws), n_ws::text)
        || aispend._report_card('workspace_management.active', 'Active', aispend._report_int(n_active), n_active::text)
        || aispend._report_card('workspace_management.renamed', 'Custom Names', aispend._report_int(n_renamed), n_renamed::text)
        || '</div><table data-check="workspace_management"><thead><tr><th>Workspace Name</th><th>Provider</th>'
        || '<th>Workspace ID</th><th>Provider Name</th><th>Status</th><th>Created</th><th>First Seen</th>'
        || '<th>Last Seen</th><th class="num">Name Changes</th></tr></thead>'
        || '<tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">Created: the provider''s creation date; First Seen: the earlier of Created and the first day '
        || 'with usage or cost; Last Seen: the last day with usage or cost. Rename a workspace: <code>SELECT '
        || 'aispend.rename_workspace(account, workspace_id, ''new name'');</code> (docs/workspace-management.md).</p></section>';

    -- ---- Data freshness: how far each account in view is synced, and what is still an estimate
    SELECT string_agg('<tr><td>' || aispend.html_escape(f.account) || '</td><td>' || aispend.html_escape(f.provider)
                      || '</td><td>' || coalesce(to_char(f.usage_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.costs_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.settled_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(aispend.html_escape(to_char(f.last_sync AT TIME ZONE 'UTC',
                                                                              'YYYY-MM-DD HH24:MI') || ' UTC'), '—')
                      || '</td><td>' || aispend.html_escape(coalesce(f.status, '—')) || '</td></tr>', ''
                      ORDER BY f.account)
      INTO part
      FROM aispend.data_freshness f
     WHERE aispend._provider_matches(f.provider, prov);
    html := html || '<section id="freshness"><h2>Data Freshness</h2>'
        || '<table data-check="data_freshness"><thead><tr><th>Account</th><th>Provider</th><th>Usage complete through</th>'
        || '<th>Costs complete through</th><th>Costs settled through</th><th>Last sync</th><th>Last status</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_pct(est_pct) || ' of the cost in this period is estimated from list prices '
        || '(days whose bill is not settled yet: docs/costs.md). A trend marked "history from" compares with a period '
        || 'older than the synced history.</p></section>';

    html := html || '<footer>Figures from aispend.workspaces_summary / _table / _by_provider / _vs_previous, '
        || 'aispend.api_keys_summary / _table / _top / _vs_previous, aispend.models_summary / _table / _by_cost / '
        || '_vs_previous, aispend.anomalies, aispend.budgets_status, aispend.alerts, '
        || 'aispend.workspace_management_table, aispend.data_freshness and aispend.cost_basis_split '
        || 'for the period above; costs in US dollars, days in UTC. '
        || 'Made with <code>psql -Atc "SELECT aispend.report_html(' || aispend.html_escape(call_args)
        || ')" &gt; report.html</code>.</footer></body></html>' || E'\n';
    RETURN html;
END
$$;
