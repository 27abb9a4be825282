-- aispend 0.4.0 -> 0.5.0: the background refresh, OpenRouter and FOCUS (docs/upgrading.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.5.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.5.0'" to load this file. \quit

-- ---- OpenRouter (issue 15)
-- A third provider, 'openrouter' (docs/providers.md): accepted as an account's provider (whole UTC days only),
-- selectable as provider => 'openrouter' in every tab (and still part of 'other'); a sync never deletes the days
-- before OpenRouter's 30-day window; BYOK inference is left out of the cost facts (aispend.billed_elsewhere lists it).

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
-- billed lines per day / workspace / key / model (lines without a model keep their label). OpenRouter's BYOK
-- inference is not OpenRouter's bill but the user's own provider key's: it is left to that provider's figures
-- (aispend.billed_elsewhere lists it), so that no total adds the same dollar twice.
c AS (
    SELECT (x.bucket_start AT TIME ZONE 'UTC')::date AS day, x.workspace_id, x.api_key_id, x.model,
           CASE WHEN x.model IS NULL THEN coalesce(x.line_item, x.cost_type, '(unlabelled)') END AS line_item,
           sum(x.amount_usd) AS billed
    FROM aispend.costs x
    WHERE x.account = cost_facts_between.account
      AND x.bucket_start >= aispend._utc_day_start(cost_facts_between.from_day)
      AND x.bucket_start < aispend._utc_day_start(cost_facts_between.to_day + 1)
      AND x.cost_type IS DISTINCT FROM 'byok_inference'
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
COMMENT ON COLUMN aispend.cost_facts.model IS 'Model; NULL for billed lines that have none (see line_item).';

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

-- (its report_html change is in the report below, with the refresh column)

-- ---- FOCUS (issue 15)
-- Accounts with provider 'focus' are imported, not synced: _account_settings says so (sync, request_refresh and
-- alert_conditions, which skip them, are replaced with the refresh's changes further down); then the import
-- (src/sql/68_focus.sql) and the export (src/sql/71_focus_export.sql), verbatim.

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
    IF provider = 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a FOCUS billing source: it is imported, not synced',
            _account_settings.account
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Load its export: SELECT * FROM aispend.import_focus(''' || _account_settings.account
                         || ''', :''focus''); (docs/focus.md).';
    END IF;
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

COMMENT ON COLUMN aispend.accounts.provider IS 'openai, anthropic, openrouter, or focus (a cloud billing source imported from FOCUS exports: docs/focus.md)';

-- 68_focus.sql: FOCUS billing exports of cloud-hosted models (AWS Bedrock, Azure OpenAI / AI Foundry, Google
-- Vertex AI / Gemini API) imported as accounts, and every synced cost exported as FOCUS 1.2 rows. See docs/focus.md.
--
-- A billing source is an account (a server of the wrapper aispend) with OPTIONS (provider 'focus'): it is never
-- fetched over HTTP (aispend.sync skips it) but loaded by aispend.import_focus(account, csv), which
--   1. parses the CSV text (columns found by header name, in any order; x_ columns other than the few read below
--      are ignored; NULL and empty cells are NULL),
--   2. keeps the AI rows (service name or AWS service code matching a pattern: aispend.focus_ai_services()),
--   3. reads model, token type, tier and routing from the SKU / meter / usage-type text (aispend.parse_focus_sku)
--      and keeps the raw text; a row it cannot read keeps its amount under the model '(unparsed)',
--   4. replaces, in one transaction, the account's charges of every (billing account, billing period) in the file
--      in aispend.focus_charges, rebuilds the account's aispend.costs rows of the days that changed (so the
--      rollups and every tab see them) and records a 'costs' run in aispend.sync_runs.
-- The research behind the rules: docs/focus.md ("Conventions per cloud").

-- ---------------------------------------------------------------- CSV

-- RFC 4180 CSV as cells: a cell is "quoted" ("" inside a quote is one ") or bare (no comma, quote or line break);
-- records end at LF or CRLF. Text the grammar does not cover (a quote inside a bare cell) is an error, never skipped.
CREATE FUNCTION aispend._csv_cells(csv text)
RETURNS TABLE (row_no bigint, col_no bigint, cell text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_len bigint;
BEGIN
    csv := pg_catalog.regexp_replace(csv, U&'^\FEFF', '');   -- a UTF-8 byte order mark (Azure's exports)
    IF pg_catalog.to_regclass('pg_temp.aispend_csv_matches') IS NOT NULL THEN
        DROP TABLE pg_temp.aispend_csv_matches;
    END IF;
    CREATE TEMP TABLE aispend_csv_matches (ord bigint, raw text, term text) ON COMMIT DROP;
    INSERT INTO pg_temp.aispend_csv_matches
    SELECT m.ord, m.g[1], m.g[2]
    FROM pg_catalog.regexp_matches(csv, '("(?:[^"]|"")*"|[^,"\r\n]*)(,|\r?\n|$)', 'g') WITH ORDINALITY AS m(g, ord);
    -- the regex matches once more at the end of the text: only the first end-of-text match is a cell
    DELETE FROM pg_temp.aispend_csv_matches x
     WHERE x.term = '' AND x.ord > (SELECT pg_catalog.min(y.ord) FROM pg_temp.aispend_csv_matches y WHERE y.term = '');
    -- every character must belong to a cell or a separator
    SELECT pg_catalog.sum(pg_catalog.length(x.raw) + pg_catalog.length(x.term)) INTO v_len FROM pg_temp.aispend_csv_matches x;
    IF coalesce(v_len, 0) <> pg_catalog.length(csv) THEN
        RAISE EXCEPTION 'aispend: malformed CSV: % of % characters read as cells', coalesce(v_len, 0), pg_catalog.length(csv)
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'A cell with a quote, a comma or a line break must be quoted ("a ""b"", c"); check the file is CSV, not Parquet or gzip bytes (decompress it with zcat).';
    END IF;
    RETURN QUERY
    SELECT r.rn, pg_catalog.row_number() OVER (PARTITION BY r.rn ORDER BY r.ord),
           CASE WHEN r.raw LIKE '"%' THEN pg_catalog.replace(pg_catalog.substr(r.raw, 2, pg_catalog.length(r.raw) - 2), '""', '"')
                ELSE r.raw END
    FROM (SELECT x.ord, x.raw,
                 1 + coalesce(pg_catalog.count(*) FILTER (WHERE x.term ~ '\n')
                              OVER (ORDER BY x.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rn
          FROM pg_temp.aispend_csv_matches x) r;
    DROP TABLE pg_temp.aispend_csv_matches;
END
$$;
COMMENT ON FUNCTION aispend._csv_cells(text) IS
    'Internal: CSV text (RFC 4180, LF or CRLF) as (row, column, cell), unquoted; malformed text raises 22P04.';
REVOKE ALL ON FUNCTION aispend._csv_cells(text) FROM PUBLIC;

-- ---------------------------------------------------------------- reading a charge

-- The cloud of a FOCUS row, from ProviderName (AWS: 'AWS' or 'Amazon Web Services'; Azure: 'Microsoft'; Google:
-- 'Google Cloud'); NULL for any other provider.
CREATE FUNCTION aispend.focus_cloud(provider_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN provider_name ~* '^(aws|amazon)' THEN 'aws'
            WHEN provider_name ~* '^(microsoft|azure)' THEN 'azure'
            WHEN provider_name ~* '^(google)' THEN 'gcp' END;
COMMENT ON FUNCTION aispend.focus_cloud(text) IS
    'The cloud of a FOCUS ProviderName: aws (AWS, Amazon Web Services...), azure (Microsoft), gcp (Google Cloud); '
    'NULL for another provider.';

-- The default AI rule: ServiceName or AWS x_ServiceCode matching one of these ILIKE patterns.
CREATE FUNCTION aispend.focus_ai_services()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['%Bedrock%', 'AmazonBedrock%', 'Azure OpenAI%', 'Azure AI Services', 'Azure AI Foundry%',
             'Foundry Models', 'Vertex AI', 'Gemini API'];
COMMENT ON FUNCTION aispend.focus_ai_services() IS
    'The ILIKE patterns aispend.import_focus keeps a FOCUS row by when called without ai_services: ServiceName or '
    'AWS x_ServiceCode of Amazon Bedrock (also Marketplace "(Amazon Bedrock Edition)" models), Azure OpenAI / AI '
    'Services / AI Foundry / Foundry Models, Vertex AI and the Gemini API.';

-- Model, token type (input, output, cache-read, cache-write, cache-storage), tier and routing of a SKU / meter /
-- usage-type text, by the rules of docs/focus.md; all NULL when no rule reads it.
CREATE FUNCTION aispend.parse_focus_sku(cloud text, sku text, service_name text DEFAULT NULL,
    OUT model text, OUT token_type text, OUT tier text, OUT routing text)
RETURNS record
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    m text[];
    words text[];
    i integer;
    d integer;
BEGIN
    IF sku IS NULL THEN
        RETURN;
    END IF;
    IF cloud = 'aws' THEN
        -- usage types {region}-{model}-{token type}[-{tier}|-cross-region-{scope}] (Bedrock user guide)
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-mantle-(input|output|cache-read|cache-write)-tokens-(standard|batch|flex|priority)$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := m[3]; routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens-cross-region-(global|geo)(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[4], 'standard'); routing := 'cross-region-' || m[3];
            RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[3], 'standard'); routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(cache-read|cache-write)-input-token-count$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := 'standard'; routing := 'in-region'; RETURN;
        END IF;
        -- AWS Marketplace models: the model is the product, 'Claude 3 Haiku (Amazon Bedrock Edition)'
        m := regexp_match(sku, '^[A-Z0-9]+-MP:[A-Z0-9]+_(Input|Output)TokenCount-Units$');
        IF m IS NOT NULL AND service_name ~ '\(Amazon Bedrock Edition\)$' THEN
            model := btrim(regexp_replace(service_name, '\s*\(Amazon Bedrock Edition\)$', ''));
            token_type := lower(m[1]); tier := 'standard'; routing := 'marketplace'; RETURN;
        END IF;
    ELSIF cloud = 'azure' THEN
        -- meter names: 'gpt 4o 0513 Input global Tokens', 'gpt-4o-mini-0718-Inp-glbl Tokens', 'gpt 4o 1120 cached
        -- Inp glbl', 'gpt-4-8K-Batch-Inp-glbl Tokens', 'GPT 5 Inpt Glbl': model words, [batch] [cached], direction,
        -- [scope], [tokens]
        words := regexp_split_to_array(lower(btrim(sku)), '[ -]+');
        IF words[array_length(words, 1)] = 'tokens' THEN
            words := words[1:array_length(words, 1) - 1];
        END IF;
        d := NULL;
        FOR i IN REVERSE coalesce(array_length(words, 1), 0)..1 LOOP
            IF words[i] IN ('inp', 'input', 'inpt', 'outp', 'output', 'outpt') THEN d := i; EXIT; END IF;
        END LOOP;
        IF d IS NULL OR d < 2 OR array_length(words, 1) - d > 1
           OR (array_length(words, 1) > d AND words[d + 1] NOT IN ('glbl', 'global', 'regnl', 'regional', 'dzone', 'datazone')) THEN
            RETURN;
        END IF;
        token_type := CASE WHEN words[d] LIKE 'o%' THEN 'output' ELSE 'input' END;
        routing := CASE words[d + 1] WHEN 'glbl' THEN 'global' WHEN 'regnl' THEN 'regional' WHEN 'dzone' THEN 'datazone'
                                     ELSE words[d + 1] END;
        tier := 'standard';
        i := d - 1;
        WHILE i >= 2 AND words[i] IN ('cached', 'batch') LOOP
            IF words[i] = 'cached' THEN token_type := 'cache-read'; ELSE tier := 'batch'; END IF;
            i := i - 1;
        END LOOP;
        model := array_to_string(words[1:i], '-');
        RETURN;
    ELSIF cloud = 'gcp' THEN
        -- Gemini API: 'Generate content input token count gemini 2.5 flash short input text'
        m := regexp_match(sku, '^Generate content (input|output|cached input) token count gemini ([0-9]+(?:\.[0-9]+)?(?: (?:pro|flash|lite|preview))*)', 'i');
        IF m IS NOT NULL THEN
            model := 'gemini-' || replace(lower(m[2]), ' ', '-');
            token_type := CASE lower(m[1]) WHEN 'cached input' THEN 'cache-read' ELSE lower(m[1]) END;
            tier := CASE WHEN sku ~* '\mflex\M' THEN 'flex' WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            RETURN;
        END IF;
        -- Vertex AI: 'Gemini 2.5 Flash GA Text Input - Predictions', '... Thinking Text Output ...', '... Caching'
        m := regexp_match(sku, '^Gemini ([0-9]+(?:\.[0-9]+)?) (Pro|Flash(?: Lite)?)\M');
        IF m IS NOT NULL THEN
            token_type := CASE WHEN sku ~* '\mcaching storage\M' THEN 'cache-storage'
                               WHEN sku ~* '\m(caching|cached)\M' THEN 'cache-read'
                               WHEN sku ~* '\moutput\M' THEN 'output'
                               WHEN sku ~* '\minput\M' THEN 'input' END;
            IF token_type IS NULL THEN
                RETURN;
            END IF;
            model := 'gemini-' || m[1] || '-' || replace(lower(m[2]), ' ', '-');
            tier := CASE WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            routing := CASE WHEN sku ~* '\mglobal\M' THEN 'global' END;
            RETURN;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION aispend.parse_focus_sku(text, text, text) IS
    'How aispend.import_focus reads a FOCUS SKU text (cloud aws: SkuMeter / x_UsageType; azure: SkuMeter / '
    'x_SkuMeterName; gcp: ChargeDescription): model (the cloud''s billing name, e.g. Claude4.6Sonnet, gpt-4o-0513, '
    'gemini-2.5-flash), token_type (input, output, cache-read, cache-write, cache-storage), tier (standard, batch, '
    'flex, priority) and routing; all NULL when no rule reads the text (the charge is then kept as (unparsed)).';

-- Tokens per unit of a FOCUS ConsumedUnit / PricingUnit that counts tokens ('Tokens', '1K Tokens', '1000 Tokens',
-- '1M Tokens', 'Million Tokens'); NULL for any other unit.
CREATE FUNCTION aispend.focus_token_multiplier(unit text)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN unit !~* '\mtokens?\M' THEN NULL
            WHEN unit ~* '^\s*(1\s*m|1\s*000\s*000|1,000,000|million|mtok)' THEN 1000000
            WHEN unit ~* '^\s*(1\s*k|1\s*000|1,000|thousand|ktok)' THEN 1000
            WHEN unit ~* '^\s*(1\s*)?tokens?\s*$' THEN 1 END;
COMMENT ON FUNCTION aispend.focus_token_multiplier(text) IS
    'Tokens per unit of a FOCUS unit that counts tokens: 1 (Tokens), 1000 (1K / 1000 Tokens), 1000000 (1M / '
    'Million Tokens); NULL for other units (Units, count, Requests, GB-Hours...).';

-- FOCUS date/times: '2024-09-01T00:00:00Z', '2024-09-01T00:00Z' (Azure 1.0), '2024-09-01 00:00:00' (no zone:
-- UTC), '2024-09-01', '2024-09-01 07:00:00 UTC' (BigQuery's CSV).
CREATE FUNCTION aispend._focus_ts(v text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN v ~ '( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN pg_catalog.regexp_replace(v, ' ?UTC$', 'Z')::timestamptz
            ELSE v::timestamp AT TIME ZONE 'UTC' END;
COMMENT ON FUNCTION aispend._focus_ts(text) IS 'Internal: a FOCUS date/time (no zone: UTC).';

-- ---------------------------------------------------------------- the imported charges

CREATE TABLE aispend.focus_charges (
    account              name        NOT NULL,
    billing_account_id   text        NOT NULL,
    billing_period_start timestamptz NOT NULL,
    source_row           integer     NOT NULL,
    billing_period_end   timestamptz NOT NULL,
    run_id               bigint      NOT NULL,
    cloud                text,
    charge_period_start  timestamptz NOT NULL,
    charge_period_end    timestamptz,
    charge_category      text        NOT NULL,
    charge_class         text,
    service_category     text,
    service_name         text        NOT NULL,
    sub_account_id       text,
    sub_account_name     text,
    region_id            text,
    sku_id               text,
    sku_text             text,
    charge_description   text,
    model                text,
    token_type           text,
    tier                 text,
    routing              text,
    parsed               boolean     NOT NULL,
    billed_cost          numeric     NOT NULL,
    effective_cost       numeric     NOT NULL,
    list_cost            numeric,
    billing_currency     text        NOT NULL,
    consumed_quantity    numeric,
    consumed_unit        text,
    tokens               numeric,
    CONSTRAINT focus_charges_pkey PRIMARY KEY (account, billing_account_id, billing_period_start, source_row)
);
CREATE INDEX focus_charges_day_idx ON aispend.focus_charges (account, charge_period_start);
COMMENT ON TABLE aispend.focus_charges IS
    'The AI rows of the FOCUS exports imported by aispend.import_focus, one per CSV row, with both costs and the raw '
    'SKU text; an import replaces the rows of each (account, billing account, billing period) in its file. '
    'aispend.costs holds the USD ones summed per UTC day for the dashboard (other currencies stay here only).';
COMMENT ON COLUMN aispend.focus_charges.account IS 'The account (server with provider ''focus'') the file was imported into.';
COMMENT ON COLUMN aispend.focus_charges.billing_account_id IS 'FOCUS BillingAccountId (AWS payer account, Azure billing account, GCP billing account).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_start IS 'FOCUS BillingPeriodStart (inclusive): with billing_account_id, the unit an import replaces.';
COMMENT ON COLUMN aispend.focus_charges.source_row IS 'Row number in the imported CSV (the header is row 1).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_end IS 'FOCUS BillingPeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.run_id IS 'The aispend.sync_runs row (endpoint costs) of the import.';
COMMENT ON COLUMN aispend.focus_charges.cloud IS 'aws, azure or gcp (the import''s cloud argument, else from ProviderName); NULL for another provider.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_start IS 'FOCUS ChargePeriodStart: its UTC day is the day on the dashboard.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_end IS 'FOCUS ChargePeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.charge_category IS 'FOCUS ChargeCategory: Usage, Purchase, Tax, Credit or Adjustment (as written).';
COMMENT ON COLUMN aispend.focus_charges.charge_class IS 'FOCUS ChargeClass: Correction or NULL.';
COMMENT ON COLUMN aispend.focus_charges.service_category IS 'FOCUS ServiceCategory (AI and Machine Learning, ...).';
COMMENT ON COLUMN aispend.focus_charges.service_name IS 'FOCUS ServiceName (Amazon Bedrock, Azure AI Services, Vertex AI, ...).';
COMMENT ON COLUMN aispend.focus_charges.sub_account_id IS 'FOCUS SubAccountId (AWS account, Azure subscription, GCP project): the workspace.';
COMMENT ON COLUMN aispend.focus_charges.sub_account_name IS 'FOCUS SubAccountName: the workspace''s name.';
COMMENT ON COLUMN aispend.focus_charges.region_id IS 'FOCUS RegionId.';
COMMENT ON COLUMN aispend.focus_charges.sku_id IS 'FOCUS SkuId.';
COMMENT ON COLUMN aispend.focus_charges.sku_text IS
    'The text the model was read from, verbatim: SkuMeter (else x_UsageType on AWS, x_SkuMeterName on Azure), '
    'ChargeDescription on Google Cloud and when there is no meter.';
COMMENT ON COLUMN aispend.focus_charges.charge_description IS 'FOCUS ChargeDescription, verbatim.';
COMMENT ON COLUMN aispend.focus_charges.model IS 'Model read from sku_text (the cloud''s billing name); NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.token_type IS 'input, output, cache-read, cache-write or cache-storage; NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.tier IS 'standard, batch, flex or priority.';
COMMENT ON COLUMN aispend.focus_charges.routing IS 'in-region, cross-region-global/geo, marketplace (AWS); global, regional, datazone (Azure).';
COMMENT ON COLUMN aispend.focus_charges.parsed IS 'Whether a rule of aispend.parse_focus_sku read the model; false rows are listed by aispend.focus_unparsed.';
COMMENT ON COLUMN aispend.focus_charges.billed_cost IS 'FOCUS BilledCost (the invoice basis), exact; negative for credits and refunds.';
COMMENT ON COLUMN aispend.focus_charges.effective_cost IS 'FOCUS EffectiveCost (amortized, after discounts and prepayments), exact.';
COMMENT ON COLUMN aispend.focus_charges.list_cost IS 'FOCUS ListCost.';
COMMENT ON COLUMN aispend.focus_charges.billing_currency IS 'FOCUS BillingCurrency, upper-cased.';
COMMENT ON COLUMN aispend.focus_charges.consumed_quantity IS 'FOCUS ConsumedQuantity as written.';
COMMENT ON COLUMN aispend.focus_charges.consumed_unit IS 'FOCUS ConsumedUnit as written (Tokens, 1K Tokens, Units, count...).';
COMMENT ON COLUMN aispend.focus_charges.tokens IS
    'Tokens, where the unit says so: ConsumedQuantity x 1, 1000 or 1000000 (Tokens, 1K / 1M Tokens, else '
    'PricingQuantity x its PricingUnit), or Google''s count of a token SKU; usage rows only (never credits or '
    'corrections). NULL otherwise (Azure''s Units).';
SELECT pg_catalog.pg_extension_config_dump('aispend.focus_charges', '');

CREATE VIEW aispend.focus_unparsed WITH (security_invoker = true) AS
SELECT c.account, c.cloud, c.service_name, c.sku_text, c.charge_category,
       pg_catalog.count(*) AS charges,
       (pg_catalog.min(c.charge_period_start) AT TIME ZONE 'UTC')::date AS first_day,
       (pg_catalog.max(c.charge_period_start) AT TIME ZONE 'UTC')::date AS last_day,
       pg_catalog.sum(c.billed_cost) AS billed_cost, c.billing_currency
FROM aispend.focus_charges c
WHERE NOT c.parsed
GROUP BY c.account, c.cloud, c.service_name, c.sku_text, c.charge_category, c.billing_currency;
COMMENT ON VIEW aispend.focus_unparsed IS
    'Imported FOCUS charges whose model no rule could read: per account and SKU text, the amount. They count in '
    'every total (usage under the model ''(unparsed)''); this lists what a new rule should read.';
COMMENT ON COLUMN aispend.focus_unparsed.account IS 'The account.';
COMMENT ON COLUMN aispend.focus_unparsed.cloud IS 'aws, azure or gcp.';
COMMENT ON COLUMN aispend.focus_unparsed.service_name IS 'FOCUS ServiceName.';
COMMENT ON COLUMN aispend.focus_unparsed.sku_text IS 'The SKU / meter / description text, verbatim.';
COMMENT ON COLUMN aispend.focus_unparsed.charge_category IS 'FOCUS ChargeCategory.';
COMMENT ON COLUMN aispend.focus_unparsed.charges IS 'Number of charges (CSV rows).';
COMMENT ON COLUMN aispend.focus_unparsed.first_day IS 'First UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.last_day IS 'Last UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.billed_cost IS 'Its BilledCost total, exact.';
COMMENT ON COLUMN aispend.focus_unparsed.billing_currency IS 'The currency of billed_cost.';

-- ---------------------------------------------------------------- the import

CREATE FUNCTION aispend.import_focus(account name, csv text, cloud text DEFAULT NULL, ai_services text[] DEFAULT NULL)
RETURNS TABLE (billing_account_id text, billing_period_start timestamptz, billing_period_end timestamptz,
               rows_read bigint, ai_rows bigint, unparsed_rows bigint, skipped_rows bigint,
               billed_cost numeric, effective_cost numeric, replaced_rows bigint, run_id bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_account name := import_focus.account;
    v_cloud text := pg_catalog.lower(import_focus.cloud);
    v_patterns text[] := coalesce(import_focus.ai_services, aispend.focus_ai_services());
    v_opts text[];
    v_h jsonb;
    v_ncols integer;
    v_col text;
    v_bad record;
    v_run bigint;
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_read bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_ts constant text := '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)?$';
    v_num constant text := '^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$';
BEGIN
    SELECT s.srvoptions INTO v_opts FROM aispend._servers() s WHERE s.srvname = v_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', v_account
            USING ERRCODE = 'undefined_object',
                  HINT = 'A FOCUS billing source is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''focus'').';
    END IF;
    IF aispend._option(v_opts, 'provider') IS DISTINCT FROM 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a % account, not a FOCUS billing source', v_account,
                        coalesce(aispend._option(v_opts, 'provider'), '(no provider)')
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Import into an account created with OPTIONS (provider ''focus''); '
                         'its synced accounts are filled by aispend.sync.';
    END IF;
    IF v_cloud IS NOT NULL AND v_cloud NOT IN ('aws', 'azure', 'gcp') THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": unknown cloud "%"', v_account, import_focus.cloud
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use aws, azure, gcp, or NULL to read ProviderName.';
    END IF;
    IF csv IS NULL OR pg_catalog.btrim(csv, E' \r\n') = '' THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": the file is empty', v_account
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'In psql: \set focus `zcat export.csv.gz` then SELECT * FROM aispend.import_focus(''account'', :''focus'');';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1634300784, aispend._lock_key(v_account)) THEN
        RAISE EXCEPTION 'aispend: an import or sync of account % is running', v_account
            USING ERRCODE = 'lock_not_available';
    END IF;

    -- the header: columns by name, in any order
    CREATE TEMP TABLE aispend_focus_cells ON COMMIT DROP AS SELECT * FROM aispend._csv_cells(csv);
    SELECT pg_catalog.jsonb_object_agg(pg_catalog.lower(pg_catalog.btrim(pg_catalog.replace(c.cell, U&'\FEFF', ''))), c.col_no),
           pg_catalog.count(*)
      INTO v_h, v_ncols
      FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1;
    FOREACH v_col IN ARRAY ARRAY['BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart',
                                 'ChargeCategory', 'ServiceName', 'BilledCost', 'EffectiveCost', 'BillingCurrency'] LOOP
        IF NOT v_h ? pg_catalog.lower(v_col) THEN
            RAISE EXCEPTION 'aispend: FOCUS import into account "%": the required column % is missing', v_account, v_col
                USING ERRCODE = 'bad_copy_file_format',
                      DETAIL = 'The header has: ' || (SELECT pg_catalog.string_agg(c.cell, ', ' ORDER BY c.col_no)
                                                       FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1),
                      HINT = 'Import a FOCUS 1.0, 1.1 or 1.2 export with its header row (docs/focus.md).';
        END IF;
    END LOOP;

    -- the rows: repeated header rows (several files concatenated) and blank lines are skipped
    CREATE TEMP TABLE aispend_focus_rows ON COMMIT DROP AS
    SELECT c.row_no::integer AS row_no, pg_catalog.array_agg(c.cell ORDER BY c.col_no) AS f
    FROM pg_temp.aispend_focus_cells c WHERE c.row_no > 1
    GROUP BY c.row_no;
    DELETE FROM pg_temp.aispend_focus_rows r
     WHERE (pg_catalog.array_length(r.f, 1) = 1 AND r.f[1] = '')
        OR r.f = (SELECT pg_catalog.array_agg(c.cell ORDER BY c.col_no) FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1);
    DROP TABLE pg_temp.aispend_focus_cells;
    SELECT r.row_no, pg_catalog.array_length(r.f, 1) AS n INTO v_bad
      FROM pg_temp.aispend_focus_rows r WHERE pg_catalog.array_length(r.f, 1) <> v_ncols ORDER BY r.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row % has % cells, the header %', v_account,
                        v_bad.row_no, v_bad.n, v_ncols
            USING ERRCODE = 'bad_copy_file_format', HINT = 'Every row of a CSV export has one cell per header column.';
    END IF;

    -- the cells aispend reads, by column index (one pass; a missing optional column is NULL)
    EXECUTE 'CREATE TEMP TABLE aispend_focus_text ON COMMIT DROP AS SELECT r.row_no, '
         || (SELECT pg_catalog.string_agg(
                        CASE WHEN v_h ? c
                             THEN pg_catalog.format('NULLIF(NULLIF(pg_catalog.btrim(r.f[%s]), %L), %L) AS %I',
                                                    v_h OPERATOR(pg_catalog.->>) c, '', 'NULL', c)
                             ELSE pg_catalog.format('NULL::text AS %I', c) END, ', ' ORDER BY o)
             FROM pg_catalog.unnest(ARRAY['providername', 'billingaccountid', 'billingperiodstart', 'billingperiodend',
                                          'chargeperiodstart', 'chargeperiodend', 'chargecategory', 'chargeclass',
                                          'servicecategory', 'servicename', 'subaccountid', 'subaccountname',
                                          'regionid', 'skuid', 'skumeter', 'x_usagetype', 'x_skumetername',
                                          'chargedescription', 'billedcost', 'effectivecost', 'listcost',
                                          'billingcurrency', 'consumedquantity', 'consumedunit', 'pricingquantity',
                                          'pricingunit', 'x_servicecode']) WITH ORDINALITY AS x(c, o))
         || ' FROM pg_temp.aispend_focus_rows r';
    DROP TABLE pg_temp.aispend_focus_rows;

    -- required cells and the syntax of dates and numbers, with the row and column of the first bad one
    SELECT x.row_no, x.col, x.val INTO v_bad
      FROM (SELECT CASE WHEN t.billingaccountid IS NULL THEN 'BillingAccountId'
                        WHEN t.billingperiodstart IS NULL OR t.billingperiodstart !~ v_ts THEN 'BillingPeriodStart'
                        WHEN t.billingperiodend IS NULL OR t.billingperiodend !~ v_ts THEN 'BillingPeriodEnd'
                        WHEN t.chargeperiodstart IS NULL OR t.chargeperiodstart !~ v_ts THEN 'ChargePeriodStart'
                        WHEN t.chargeperiodend !~ v_ts THEN 'ChargePeriodEnd'
                        WHEN t.chargecategory IS NULL THEN 'ChargeCategory'
                        WHEN t.servicename IS NULL THEN 'ServiceName'
                        WHEN t.billedcost IS NULL OR t.billedcost !~ v_num THEN 'BilledCost'
                        WHEN t.effectivecost IS NULL OR t.effectivecost !~ v_num THEN 'EffectiveCost'
                        WHEN t.billingcurrency IS NULL THEN 'BillingCurrency'
                        WHEN t.listcost !~ v_num THEN 'ListCost'
                        WHEN t.consumedquantity !~ v_num THEN 'ConsumedQuantity'
                        WHEN t.pricingquantity !~ v_num THEN 'PricingQuantity' END AS col,
                   t.*
              FROM pg_temp.aispend_focus_text t) x0
     CROSS JOIN LATERAL (SELECT x0.row_no, x0.col,
                                CASE x0.col WHEN 'BillingAccountId' THEN x0.billingaccountid
                                            WHEN 'BillingPeriodStart' THEN x0.billingperiodstart
                                            WHEN 'BillingPeriodEnd' THEN x0.billingperiodend
                                            WHEN 'ChargePeriodStart' THEN x0.chargeperiodstart
                                            WHEN 'ChargePeriodEnd' THEN x0.chargeperiodend
                                            WHEN 'ChargeCategory' THEN x0.chargecategory
                                            WHEN 'ServiceName' THEN x0.servicename
                                            WHEN 'BilledCost' THEN x0.billedcost
                                            WHEN 'EffectiveCost' THEN x0.effectivecost
                                            WHEN 'BillingCurrency' THEN x0.billingcurrency
                                            WHEN 'ListCost' THEN x0.listcost
                                            WHEN 'ConsumedQuantity' THEN x0.consumedquantity
                                            WHEN 'PricingQuantity' THEN x0.pricingquantity END AS val) x
     WHERE x0.col IS NOT NULL
     ORDER BY x0.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row %, column %: %', v_account, v_bad.row_no, v_bad.col,
                        CASE WHEN v_bad.val IS NULL THEN 'a required value is missing'
                             ELSE 'not a FOCUS value: "' || pg_catalog.left(v_bad.val, 60) || '"' END
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'Dates are ISO 8601 (2024-09-01T00:00:00Z), numbers plain decimals (-0.5, 1E-3).';
    END IF;

    -- typed, classified, parsed
    CREATE TEMP TABLE aispend_focus_typed ON COMMIT DROP AS
    SELECT t.*,
           aispend._utc_day_start((t.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
           CASE WHEN NOT t.is_ai OR t.charge_category IS DISTINCT FROM 'Usage' OR t.charge_class IS NOT NULL THEN NULL
                WHEN aispend.focus_token_multiplier(t.consumed_unit) IS NOT NULL
                     THEN t.consumed_quantity * aispend.focus_token_multiplier(t.consumed_unit)
                WHEN aispend.focus_token_multiplier(t.pricing_unit) IS NOT NULL
                     THEN t.pricing_quantity * aispend.focus_token_multiplier(t.pricing_unit)
                WHEN t.cloud = 'gcp' AND pg_catalog.lower(t.consumed_unit) = 'count' AND t.sku_text ~* '\mtoken'
                     THEN t.consumed_quantity END AS tokens,
           p.model, p.token_type, p.tier, p.routing
    FROM (SELECT x.row_no, x.cloud, x.billingaccountid AS billing_account_id,
                 aispend._focus_ts(x.billingperiodstart) AS billing_period_start,
                 aispend._focus_ts(x.billingperiodend) AS billing_period_end,
                 aispend._focus_ts(x.chargeperiodstart) AS charge_period_start,
                 aispend._focus_ts(x.chargeperiodend) AS charge_period_end,
                 -- FOCUS casing (Google's view writes usage, tax, adjustment)
                 CASE pg_catalog.lower(x.chargecategory) WHEN 'usage' THEN 'Usage' WHEN 'purchase' THEN 'Purchase'
                      WHEN 'tax' THEN 'Tax' WHEN 'credit' THEN 'Credit' WHEN 'adjustment' THEN 'Adjustment'
                      ELSE x.chargecategory END AS charge_category,
                 CASE WHEN pg_catalog.lower(x.chargeclass) = 'correction' THEN 'Correction' ELSE x.chargeclass END
                     AS charge_class,
                 x.servicecategory AS service_category, x.servicename AS service_name,
                 x.subaccountid AS sub_account_id, x.subaccountname AS sub_account_name, x.regionid AS region_id,
                 x.skuid AS sku_id,
                 CASE WHEN x.cloud = 'gcp' THEN coalesce(x.chargedescription, x.skumeter)
                      ELSE coalesce(x.skumeter, x.x_usagetype, x.x_skumetername, x.chargedescription) END AS sku_text,
                 x.chargedescription AS charge_description,
                 x.billedcost::numeric AS billed_cost, x.effectivecost::numeric AS effective_cost,
                 x.listcost::numeric AS list_cost, pg_catalog.upper(x.billingcurrency) AS billing_currency,
                 x.consumedquantity::numeric AS consumed_quantity, x.consumedunit AS consumed_unit,
                 x.pricingquantity::numeric AS pricing_quantity, x.pricingunit AS pricing_unit,
                 (x.servicename ILIKE ANY (v_patterns) OR coalesce(x.x_servicecode ILIKE ANY (v_patterns), false)) AS is_ai
          FROM (SELECT t.*, coalesce(v_cloud, aispend.focus_cloud(t.providername)) AS cloud
                FROM pg_temp.aispend_focus_text t) x) t
    LEFT JOIN LATERAL aispend.parse_focus_sku(t.cloud, t.sku_text, t.service_name) p ON t.is_ai;
    DROP TABLE pg_temp.aispend_focus_text;
    SELECT pg_catalog.count(*) INTO v_read FROM pg_temp.aispend_focus_typed;

    -- the run
    INSERT INTO aispend.sync_runs AS r (account, endpoint, window_start, window_end, bucket_width, started_at, status,
                                        rows_fetched, http_requests, retries, bytes)
    SELECT v_account, 'costs', pg_catalog.min(t.billing_period_start), pg_catalog.max(t.billing_period_end), '1d', v_now,
           'running', v_read, 0, 0, pg_catalog.octet_length(csv)
    FROM pg_temp.aispend_focus_typed t
    RETURNING r.id INTO v_run;

    -- the days whose costs change: those of the replaced periods and of the new rows
    CREATE TEMP TABLE aispend_focus_periods ON COMMIT DROP AS
    SELECT t.billing_account_id AS bai, t.billing_period_start AS bps, pg_catalog.max(t.billing_period_end) AS bpe
    FROM pg_temp.aispend_focus_typed t GROUP BY 1, 2;
    CREATE TEMP TABLE aispend_focus_days ON COMMIT DROP AS
    SELECT DISTINCT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day
      FROM aispend.focus_charges c JOIN pg_temp.aispend_focus_periods p
        ON c.billing_account_id = p.bai AND c.billing_period_start = p.bps
     WHERE c.account = v_account
    UNION
    SELECT t.day FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;

    CREATE TEMP TABLE aispend_focus_replaced ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM aispend.focus_charges c USING pg_temp.aispend_focus_periods p
         WHERE c.account = v_account AND c.billing_account_id = p.bai AND c.billing_period_start = p.bps
        RETURNING c.billing_account_id, c.billing_period_start)
    SELECT d.billing_account_id AS bai, d.billing_period_start AS bps, pg_catalog.count(*) AS n FROM d GROUP BY 1, 2;
    SELECT coalesce(pg_catalog.sum(x.n), 0) INTO v_deleted FROM pg_temp.aispend_focus_replaced x;

    INSERT INTO aispend.focus_charges
        (account, billing_account_id, billing_period_start, source_row, billing_period_end, run_id, cloud,
         charge_period_start, charge_period_end, charge_category, charge_class, service_category, service_name,
         sub_account_id, sub_account_name, region_id, sku_id, sku_text, charge_description, model, token_type, tier,
         routing, parsed, billed_cost, effective_cost, list_cost, billing_currency, consumed_quantity, consumed_unit,
         tokens)
    SELECT v_account, t.billing_account_id, t.billing_period_start, t.row_no, t.billing_period_end, v_run, t.cloud,
           t.charge_period_start, t.charge_period_end, t.charge_category, t.charge_class, t.service_category,
           t.service_name, t.sub_account_id, t.sub_account_name, t.region_id, t.sku_id, t.sku_text,
           t.charge_description, t.model, t.token_type, t.tier, t.routing, t.model IS NOT NULL, t.billed_cost,
           t.effective_cost, t.list_cost, t.billing_currency, t.consumed_quantity, t.consumed_unit, t.tokens
    FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    -- the dashboard's facts of those days, rebuilt from every imported charge of the account
    DELETE FROM aispend.costs c USING pg_temp.aispend_focus_days d
     WHERE c.account = v_account AND c.bucket_start = d.day;
    INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                               service_tier, context_window, cost_type, inference_geo, amount_usd, currency, quantity,
                               quantity_unit, token_class)
    SELECT v_account, x.day, x.workspace_id, NULL, x.line_item, x.model, x.token_type, x.tier, NULL, x.cost_type,
           x.routing, pg_catalog.sum(x.billed_cost), x.currency,
           pg_catalog.sum(x.quantity), x.quantity_unit, pg_catalog.max(x.token_class)
    FROM (SELECT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
                 coalesce(c.sub_account_id, '(default)') AS workspace_id,
                 coalesce(c.sku_text, c.charge_category) AS line_item,
                 CASE WHEN c.parsed THEN c.model WHEN c.charge_category = 'Usage' THEN '(unparsed)' END AS model,
                 c.token_type, c.tier, c.routing,
                 pg_catalog.lower(c.charge_category) || CASE WHEN c.charge_class = 'Correction' THEN ' correction' ELSE '' END
                     AS cost_type,
                 c.billed_cost, c.billing_currency AS currency,
                 coalesce(c.tokens, c.consumed_quantity) AS quantity,
                 CASE WHEN c.tokens IS NOT NULL THEN 'tokens' ELSE c.consumed_unit END AS quantity_unit,
                 CASE WHEN NOT c.parsed THEN CASE WHEN c.charge_category = 'Usage' THEN 'unrecognised' END
                      ELSE CASE c.token_type WHEN 'input' THEN 'input' WHEN 'output' THEN 'output'
                                             WHEN 'cache-read' THEN 'cached_input' WHEN 'cache-write' THEN 'cache_write'
                                             ELSE 'unrecognised' END END AS token_class
          FROM aispend.focus_charges c
          WHERE c.account = v_account AND c.billing_currency = 'USD'   -- the dashboard sums US dollars
            AND aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) IN
                (SELECT d.day FROM pg_temp.aispend_focus_days d)) x
    GROUP BY x.day, x.workspace_id, x.line_item, x.model, x.token_type, x.tier, x.cost_type, x.routing, x.currency,
             x.quantity_unit;

    IF EXISTS (SELECT 1 FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD') THEN
        RAISE WARNING 'aispend: FOCUS import into account "%": % AI rows billed in % are kept in aispend.focus_charges '
                      'but not shown on the dashboard, which sums US dollars', v_account,
                      (SELECT pg_catalog.count(*) FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD'),
                      (SELECT pg_catalog.string_agg(DISTINCT t.billing_currency, ', ') FROM pg_temp.aispend_focus_typed t
                        WHERE t.is_ai AND t.billing_currency <> 'USD')
            USING HINT = 'Export the bill in USD (Azure: x_BilledCostInUsd is not read), or read focus_charges directly.';
    END IF;

    -- sub-accounts are the workspaces, named as the export names them
    PERFORM aispend._note_fact_dimensions(v_account, 'focus', v_now,
        (SELECT pg_catalog.array_agg(DISTINCT coalesce(t.sub_account_id, '(default)')) FROM pg_temp.aispend_focus_typed t
          WHERE t.is_ai), NULL);
    UPDATE aispend.workspaces w SET provider_name = n.name
      FROM (SELECT DISTINCT ON (t.sub_account_id) t.sub_account_id, t.sub_account_name AS name
              FROM pg_temp.aispend_focus_typed t
             WHERE t.is_ai AND t.sub_account_id IS NOT NULL AND t.sub_account_name IS NOT NULL
             ORDER BY t.sub_account_id, t.row_no DESC) n
     WHERE w.account = v_account AND w.workspace_id = n.sub_account_id
       AND w.provider_name IS DISTINCT FROM n.name;
    PERFORM aispend._remember_provider(v_account, 'focus');

    -- complete through the end of the file's last charge: data_freshness shows how far the bill goes
    UPDATE aispend.sync_runs r
       SET status = 'succeeded', finished_at = pg_catalog.clock_timestamp(), rows_inserted = v_inserted,
           rows_updated = 0, rows_deleted = v_deleted,
           complete_through = (SELECT aispend._bucket_floor(pg_catalog.max(coalesce(t.charge_period_end,
                                                                                     t.charge_period_start)), '1d')
                                 FROM pg_temp.aispend_focus_typed t)
     WHERE r.account = v_account AND r.id = v_run;
    PERFORM aispend._reroll(v_account);

    RETURN QUERY
    SELECT p.bai, p.bps, p.bpe,
           pg_catalog.count(t.row_no),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai AND t.model IS NULL),
           pg_catalog.count(t.row_no) FILTER (WHERE NOT t.is_ai),
           coalesce(pg_catalog.sum(t.billed_cost) FILTER (WHERE t.is_ai), 0),
           coalesce(pg_catalog.sum(t.effective_cost) FILTER (WHERE t.is_ai), 0),
           coalesce((SELECT x.n FROM pg_temp.aispend_focus_replaced x WHERE x.bai = p.bai AND x.bps = p.bps), 0)::bigint,
           v_run
    FROM pg_temp.aispend_focus_periods p
    JOIN pg_temp.aispend_focus_typed t ON t.billing_account_id = p.bai AND t.billing_period_start = p.bps
    GROUP BY p.bai, p.bps, p.bpe
    ORDER BY p.bps, p.bai;
    DROP TABLE pg_temp.aispend_focus_typed, pg_temp.aispend_focus_periods,
               pg_temp.aispend_focus_days, pg_temp.aispend_focus_replaced;
END
$$;
COMMENT ON FUNCTION aispend.import_focus(name, text, text, text[]) IS
    'Imports a FOCUS 1.0-1.2 CSV export (its text: in psql \set focus `zcat export.csv.gz`) into a provider ''focus'' '
    'account, atomically: its AI rows (ServiceName / x_ServiceCode ILIKE one of ai_services, default '
    'aispend.focus_ai_services()) replace the account''s charges of each (BillingAccountId, BillingPeriodStart) in '
    'the file; model, token type and tokens read where the rules allow (aispend.parse_focus_sku), unparsed rows kept '
    'as (unparsed). cloud: aws, azure, gcp (NULL: from ProviderName). Returns one row per billing period: rows read, '
    'AI rows, unparsed and skipped (non-AI) rows, BilledCost and EffectiveCost of the AI rows, rows replaced, and '
    'the aispend.sync_runs id.';
REVOKE ALL ON FUNCTION aispend.import_focus(name, text, text, text[]) FROM PUBLIC;

-- 71_focus_export.sql: every cost of the dashboard as FOCUS 1.2 rows (docs/focus.md, "Export").
--
-- One row per UTC day, account, workspace, API key and model of aispend.daily_rollup (what every tab sums), so
-- that sum("BilledCost") over a period is the dashboard's total for it. The 57 FOCUS 1.2 columns in the
-- specification's order with its types (Decimal numeric, Date/Time timestamptz, JSON jsonb), the columns the
-- specification does not allow to be NULL never NULL, then aispend's own columns prefixed x_.

-- The display name of a provider for ProviderName / PublisherName / InvoiceIssuerName; a FOCUS account says which
-- cloud its imported charges came from.
CREATE FUNCTION aispend._focus_provider_name(account name, provider text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE provider WHEN 'openai' THEN 'OpenAI' WHEN 'anthropic' THEN 'Anthropic' WHEN 'openrouter' THEN 'OpenRouter'
                     WHEN 'focus' THEN coalesce(
                         (SELECT pg_catalog.string_agg(DISTINCT CASE c.cloud WHEN 'aws' THEN 'Amazon Web Services'
                                                                             WHEN 'azure' THEN 'Microsoft'
                                                                             WHEN 'gcp' THEN 'Google Cloud'
                                                                             ELSE 'Other' END, ', ')
                            FROM aispend.focus_charges c WHERE c.account OPERATOR(pg_catalog.=) _focus_provider_name.account),
                         'Imported FOCUS billing')
                     ELSE coalesce(provider, 'Unknown') END;
COMMENT ON FUNCTION aispend._focus_provider_name(name, text) IS
    'Internal: ProviderName of an account''s FOCUS rows (OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds).';

CREATE FUNCTION aispend.focus(period daterange DEFAULT aispend.period('last_30_days'), provider text DEFAULT 'all')
RETURNS TABLE (
    "AvailabilityZone" text, "BilledCost" numeric, "BillingAccountId" text, "BillingAccountName" text,
    "BillingAccountType" text, "BillingCurrency" text, "BillingPeriodEnd" timestamptz, "BillingPeriodStart" timestamptz,
    "CapacityReservationId" text, "CapacityReservationStatus" text, "ChargeCategory" text, "ChargeClass" text,
    "ChargeDescription" text, "ChargeFrequency" text, "ChargePeriodEnd" timestamptz, "ChargePeriodStart" timestamptz,
    "CommitmentDiscountCategory" text, "CommitmentDiscountId" text, "CommitmentDiscountName" text,
    "CommitmentDiscountQuantity" numeric, "CommitmentDiscountStatus" text, "CommitmentDiscountType" text,
    "CommitmentDiscountUnit" text, "ConsumedQuantity" numeric, "ConsumedUnit" text, "ContractedCost" numeric,
    "ContractedUnitPrice" numeric, "EffectiveCost" numeric, "InvoiceId" text, "InvoiceIssuerName" text,
    "ListCost" numeric, "ListUnitPrice" numeric, "PricingCategory" text, "PricingCurrency" text,
    "PricingCurrencyContractedUnitPrice" numeric, "PricingCurrencyEffectiveCost" numeric,
    "PricingCurrencyListUnitPrice" numeric, "PricingQuantity" numeric, "PricingUnit" text, "ProviderName" text,
    "PublisherName" text, "RegionId" text, "RegionName" text, "ResourceId" text, "ResourceName" text,
    "ResourceType" text, "ServiceCategory" text, "ServiceName" text, "ServiceSubcategory" text, "SkuId" text,
    "SkuMeter" text, "SkuPriceDetails" jsonb, "SkuPriceId" text, "SubAccountId" text, "SubAccountName" text,
    "SubAccountType" text, "Tags" jsonb,
    "x_Account" text, "x_Provider" text, "x_WorkspaceId" text, "x_ApiKeyId" text, "x_Model" text,
    "x_CostBasis" text, "x_BilledCost" numeric, "x_AllocatedCost" numeric, "x_EstimatedCost" numeric,
    "x_InputTokens" bigint, "x_OutputTokens" bigint, "x_Requests" bigint, "x_Unpriced" boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT NULL::text,                                                            -- AvailabilityZone
           r.cost,                                                                -- BilledCost
           r.account::text, r.account::text, 'aispend account',                  -- BillingAccountId, Name, Type
           'USD',                                                                 -- BillingCurrency
           aispend._utc_day_start((pg_catalog.date_trunc('month', r.day::timestamp) + interval '1 month')::date),
           aispend._utc_day_start(pg_catalog.date_trunc('month', r.day::timestamp)::date),
           NULL::text, NULL::text,                                                -- CapacityReservation*
           'Usage', NULL::text,                                                   -- ChargeCategory, ChargeClass
           CASE WHEN r.model = aispend._no_model_label() THEN 'Tool and service fees'
                ELSE r.model END || ' on ' || pv.provider_name || ' (' || coalesce(r.cost_basis, 'billed') || ')',
           'Usage-Based',                                                         -- ChargeFrequency
           aispend._utc_day_start(r.day + 1), aispend._utc_day_start(r.day),      -- ChargePeriodEnd, Start
           NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::text, NULL::text, NULL::text,  -- Commitment*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- ConsumedQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- ConsumedUnit
           r.cost, NULL::numeric,                                                 -- ContractedCost, UnitPrice
           r.cost,                                                                -- EffectiveCost
           NULL::text, pv.provider_name,                                          -- InvoiceId, InvoiceIssuerName
           r.cost, NULL::numeric,                                                 -- ListCost, ListUnitPrice
           CASE WHEN r.total_tokens > 0 THEN 'Standard' END,                      -- PricingCategory
           NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,               -- PricingCurrency*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- PricingQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- PricingUnit
           pv.provider_name, pv.provider_name,                                    -- ProviderName, PublisherName
           NULL::text, NULL::text,                                                -- RegionId, RegionName
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN r.api_key_id END,            -- ResourceId
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN coalesce(k.name, r.api_key_id) END,
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN 'API Key' END,               -- ResourceType
           'AI and Machine Learning',                                             -- ServiceCategory
           pv.provider_name || ' models',                                         -- ServiceName
           'Generative AI',                                                       -- ServiceSubcategory
           NULL::text,                                                            -- SkuId
           CASE WHEN r.model <> aispend._no_model_label() THEN r.model END,       -- SkuMeter
           NULL::jsonb, NULL::text,                                               -- SkuPriceDetails, SkuPriceId
           r.workspace_id, coalesce(w.name, r.workspace_id), 'Workspace',         -- SubAccountId, Name, Type
           pg_catalog.jsonb_build_object('aispend_workspace', coalesce(w.name, r.workspace_id),
                                         'aispend_model', r.model),               -- Tags
           r.account::text, pv.provider, r.workspace_id, r.api_key_id, r.model, r.cost_basis, r.billed_cost,
           r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.requests, r.unpriced
    FROM aispend.daily_rollup r
    JOIN (SELECT ap.account, ap.provider, aispend._focus_provider_name(ap.account, ap.provider) AS provider_name
          FROM aispend._account_providers() ap) pv ON pv.account = r.account
    LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
    LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
    WHERE r.day >= pg_catalog.lower(focus.period) AND r.day < pg_catalog.upper(focus.period)
      AND aispend._provider_matches(pv.provider, focus.provider)
    ORDER BY r.day, r.account, r.workspace_id, r.api_key_id, r.model
$$;
COMMENT ON FUNCTION aispend.focus(daterange, text) IS
    'Every cost of the dashboard in a period (default: the last 30 days) as FOCUS 1.2 rows: one per UTC day, '
    'account, workspace (SubAccount), API key (Resource) and model (SkuMeter), BilledCost = EffectiveCost = '
    'ListCost = ContractedCost = the dashboard''s cost (so its sum is the dashboard''s total), billing periods are '
    'UTC calendar months; aispend''s own figures in the x_ columns. provider: all, openai, anthropic, openrouter, '
    'other. \copy (SELECT * FROM aispend.focus(...)) TO ''focus.csv'' WITH (FORMAT csv, HEADER) writes a FOCUS CSV.';

CREATE VIEW aispend.focus_30d AS SELECT * FROM aispend.focus(aispend.period('last_30_days'));
COMMENT ON VIEW aispend.focus_30d IS 'aispend.focus() for the last 30 days (today UTC included): FOCUS 1.2 rows of every cost.';
COMMENT ON COLUMN aispend.focus_30d."AvailabilityZone" IS 'FOCUS: NULL (providers report none).';
COMMENT ON COLUMN aispend.focus_30d."BilledCost" IS 'FOCUS: the dashboard''s cost of the row, US dollars, exact (billed, allocated or estimated: x_CostBasis).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountId" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountName" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountType" IS 'FOCUS: ''aispend account''.';
COMMENT ON COLUMN aispend.focus_30d."BillingCurrency" IS 'FOCUS: USD.';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodEnd" IS 'FOCUS: first instant of the next UTC calendar month (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodStart" IS 'FOCUS: first instant of the row''s UTC calendar month.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ChargeCategory" IS 'FOCUS: Usage.';
COMMENT ON COLUMN aispend.focus_30d."ChargeClass" IS 'FOCUS: NULL (no corrections).';
COMMENT ON COLUMN aispend.focus_30d."ChargeDescription" IS 'FOCUS: model on provider (cost basis).';
COMMENT ON COLUMN aispend.focus_30d."ChargeFrequency" IS 'FOCUS: Usage-Based.';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodEnd" IS 'FOCUS: midnight UTC ending the day (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodStart" IS 'FOCUS: midnight UTC starting the day.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountCategory" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountQuantity" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountType" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountUnit" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedQuantity" IS 'FOCUS: tokens (input + output); NULL when none.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedUnit" IS 'FOCUS: Tokens; NULL when no tokens.';
COMMENT ON COLUMN aispend.focus_30d."ContractedCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."EffectiveCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceIssuerName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."ListCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCategory" IS 'FOCUS: Standard where tokens are priced; else NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrency" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyEffectiveCost" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingQuantity" IS 'FOCUS: = ConsumedQuantity.';
COMMENT ON COLUMN aispend.focus_30d."PricingUnit" IS 'FOCUS: = ConsumedUnit.';
COMMENT ON COLUMN aispend.focus_30d."ProviderName" IS 'FOCUS: OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds (Amazon Web Services, Microsoft, Google Cloud).';
COMMENT ON COLUMN aispend.focus_30d."PublisherName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."RegionId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."RegionName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ResourceId" IS 'FOCUS: the API key id; NULL for sentinels ((none), (console), (unattributed), ...).';
COMMENT ON COLUMN aispend.focus_30d."ResourceName" IS 'FOCUS: the API key name.';
COMMENT ON COLUMN aispend.focus_30d."ResourceType" IS 'FOCUS: API Key, when ResourceId is set.';
COMMENT ON COLUMN aispend.focus_30d."ServiceCategory" IS 'FOCUS: AI and Machine Learning.';
COMMENT ON COLUMN aispend.focus_30d."ServiceName" IS 'FOCUS: ''<provider> models''.';
COMMENT ON COLUMN aispend.focus_30d."ServiceSubcategory" IS 'FOCUS: Generative AI.';
COMMENT ON COLUMN aispend.focus_30d."SkuId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuMeter" IS 'FOCUS: the model; NULL for tool and service fees.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceDetails" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountId" IS 'FOCUS: the workspace id.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountName" IS 'FOCUS: the workspace name shown on the dashboard.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountType" IS 'FOCUS: Workspace.';
COMMENT ON COLUMN aispend.focus_30d."Tags" IS 'FOCUS: JSON object with aispend_workspace and aispend_model.';
COMMENT ON COLUMN aispend.focus_30d."x_Account" IS 'aispend: the account.';
COMMENT ON COLUMN aispend.focus_30d."x_Provider" IS 'aispend: the account''s provider (openai, anthropic, openrouter, focus).';
COMMENT ON COLUMN aispend.focus_30d."x_WorkspaceId" IS 'aispend: workspace id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_ApiKeyId" IS 'aispend: API key id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_Model" IS 'aispend: model as on the dashboard ((no model: tool & service fees) included).';
COMMENT ON COLUMN aispend.focus_30d."x_CostBasis" IS 'aispend: billed, allocated, estimated or mixed.';
COMMENT ON COLUMN aispend.focus_30d."x_BilledCost" IS 'aispend: cost billed at this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_AllocatedCost" IS 'aispend: billed cost allocated to this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_EstimatedCost" IS 'aispend: cost estimated from prices.';
COMMENT ON COLUMN aispend.focus_30d."x_InputTokens" IS 'aispend: input tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_OutputTokens" IS 'aispend: output tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_Requests" IS 'aispend: requests (NULL where not reported).';
COMMENT ON COLUMN aispend.focus_30d."x_Unpriced" IS 'aispend: some usage has no price.';

-- Nothing is executable by PUBLIC (99_privileges.sql); grant_admin / grant_reader decide (re-run them after upgrading).
REVOKE ALL ON FUNCTION aispend._csv_cells(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._focus_provider_name(name,text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._focus_ts(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.focus(daterange,text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.focus_ai_services() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.focus_cloud(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.focus_token_multiplier(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.import_focus(name,text,text,text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.parse_focus_sku(text,text,text) FROM PUBLIC;

-- ---- from 20_schema.sql: the refresh requests
-- The background refreshes (37_refresh.sql): one row per request and account. A request of several accounts
-- shares one id; a request for an account whose refresh is already queued or running 'joins' it.
CREATE SEQUENCE aispend.refresh_request_ids AS bigint;
COMMENT ON SEQUENCE aispend.refresh_request_ids IS 'Ids of aispend.refresh_requests (one per aispend.request_refresh call).';
CREATE TABLE aispend.refresh_requests (
    id             bigint      NOT NULL,
    account        name        NOT NULL,
    requested_by   name        NOT NULL DEFAULT CURRENT_USER,
    since          timestamptz,
    state          text        NOT NULL DEFAULT 'queued'
                               CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'joined')),
    joined_request bigint,
    requested_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at     timestamptz,
    finished_at    timestamptz,
    worker_pid     integer,
    steps_planned  jsonb,
    error_sqlstate text,
    error_message  text,
    error_detail   text,
    CONSTRAINT refresh_requests_pkey PRIMARY KEY (account, id),
    CONSTRAINT refresh_requests_joined CHECK ((state = 'joined') = (joined_request IS NOT NULL) OR state = 'cancelled')
);
CREATE INDEX refresh_requests_active_idx ON aispend.refresh_requests (requested_by, id)
    WHERE state IN ('queued', 'running');
COMMENT ON TABLE aispend.refresh_requests IS
    'One row per background refresh (aispend.request_refresh) and account: who asked, its state, the worker that '
    'ran it and how it ended. Progress: aispend.refresh_progress.';
COMMENT ON COLUMN aispend.refresh_requests.id IS 'The request id request_refresh returned (shared by its accounts).';
COMMENT ON COLUMN aispend.refresh_requests.requested_by IS
    'The role the worker runs as (the requesting role): its keys and privileges, never more.';
COMMENT ON COLUMN aispend.refresh_requests.since IS 'The since argument of the sync (NULL: the usual incremental window).';
COMMENT ON COLUMN aispend.refresh_requests.state IS
    'queued (waiting for a worker), running, succeeded, failed (the error below; also a worker that was '
    'terminated), cancelled (aispend.cancel_refresh), or joined: the account was already being refreshed by '
    'joined_request, whose outcome this request shares.';
COMMENT ON COLUMN aispend.refresh_requests.joined_request IS 'For a joined request: the request whose run it shares.';
COMMENT ON COLUMN aispend.refresh_requests.worker_pid IS 'The background worker''s process id, once it runs.';
COMMENT ON COLUMN aispend.refresh_requests.steps_planned IS
    'Sync steps (endpoint and month chunks) the refresh was to run, per endpoint, when it started.';
COMMENT ON COLUMN aispend.refresh_requests.error_message IS
    'The error that ended the refresh (it may quote a provider); readers see only error_sqlstate.';

-- What a request's state means now: a 'running' request whose worker is gone (killed, a crash: it could not
-- record anything) failed; so did a 'queued' one that no worker of its role took within a minute of being
-- visible (the workers were started before the request committed, and take every queued request of their role).
-- A live worker is a backend of the request's role in this database named 'aispend refresh': pg_stat_activity
-- shows the pid, user, database and application_name of every backend to every role, and only a session of
-- that role could pretend to be one.
CREATE FUNCTION aispend._refresh_workers(p_role name) RETURNS SETOF integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- pg_stat_activity is read once per transaction and kept: a loop waiting for a refresh (wait_refresh) would
    -- take a worker started after its first look for dead
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    RETURN QUERY
    SELECT a.pid FROM pg_catalog.pg_stat_activity a
     WHERE a.application_name = 'aispend refresh'
       AND a.usesysid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_role)
       AND a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
END
$$;
COMMENT ON FUNCTION aispend._refresh_workers(name) IS
    'Internal: the process ids of the background refresh workers of a role in this database.';

CREATE FUNCTION aispend._refresh_worker_alive(p_role name, p_pid integer) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM aispend._refresh_workers(p_role) AS w(pid) WHERE p_pid IS NULL OR w.pid = p_pid)
$$;
COMMENT ON FUNCTION aispend._refresh_worker_alive(name, integer) IS
    'Internal: whether a background refresh worker of the role runs in this database (that pid, or any when NULL).';

CREATE FUNCTION aispend._refresh_state(state text, worker_pid integer, requested_by name, requested_at timestamptz)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN state = 'running' AND NOT aispend._refresh_worker_alive(requested_by, worker_pid) THEN 'failed'
        WHEN state = 'queued' AND requested_at < pg_catalog.clock_timestamp() - interval '1 minute'
             AND NOT aispend._refresh_worker_alive(requested_by, NULL) THEN 'failed'
        ELSE state
    END
$$;
COMMENT ON FUNCTION aispend._refresh_state(text, integer, name, timestamptz) IS
    'Internal: a refresh request''s state as it stands: running or queued with no worker left to run it is failed.';

-- Who may change a request: its role (or a member of it). Everyone who may read the table sees every request.
ALTER TABLE aispend.refresh_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_requests_read ON aispend.refresh_requests FOR SELECT USING (true);
CREATE POLICY refresh_requests_own_insert ON aispend.refresh_requests FOR INSERT
    WITH CHECK (requested_by = CURRENT_USER);
CREATE POLICY refresh_requests_own_update ON aispend.refresh_requests FOR UPDATE
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')))
    WITH CHECK (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                         WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')));
CREATE POLICY refresh_requests_own_delete ON aispend.refresh_requests FOR DELETE
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')));

SELECT pg_catalog.pg_extension_config_dump('aispend.refresh_requests', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.refresh_request_ids', '');

-- ---- from 30_sync.sql: the sync runs the steps of _sync_plan, and tells LISTEN aispend_refresh of each
-- The steps a sync of one account runs, in order: workspaces, api_keys, then usage and costs in chunks of at
-- most one calendar month (UTC) of their windows. An endpoint with nothing to fetch has one row with
-- chunk_from >= chunk_to (the sync says so and skips it). aispend.sync runs these; a background refresh counts
-- them to show its progress.
CREATE FUNCTION aispend._sync_plan(p_account name, p_since timestamptz, p_until timestamptz, p_now timestamptz)
RETURNS TABLE (step integer, endpoint text, chunk_from timestamptz, chunk_to timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_cfg record;
    v_win record;
    v_from timestamptz;
BEGIN
    SELECT * INTO v_cfg FROM aispend._account_settings(p_account);
    step := 0;
    FOREACH endpoint IN ARRAY ARRAY['workspaces', 'api_keys', 'usage', 'costs'] LOOP
        IF endpoint IN ('workspaces', 'api_keys') THEN
            chunk_from := NULL; chunk_to := NULL;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO v_win FROM aispend._sync_window(p_account, endpoint, v_cfg.bucket_width, v_cfg.backfill_days,
                                                      v_cfg.resync_days, p_since, p_until, p_now);
        IF v_win.w_start >= v_win.w_end THEN
            chunk_from := v_win.w_start; chunk_to := v_win.w_end;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT pg_catalog.isfinite(v_win.w_start) OR NOT pg_catalog.isfinite(v_win.w_end) THEN
            RAISE EXCEPTION 'aispend: account %: the % window must be finite', p_account, endpoint
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_from := v_win.w_start;
        WHILE v_from < v_win.w_end LOOP
            chunk_from := v_from;
            chunk_to := LEAST(v_win.w_end, aispend._utc_add(aispend._bucket_floor(v_from, 'month'), interval '1 month'));
            step := step + 1;
            RETURN NEXT;
            v_from := chunk_to;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) IS
    'Internal: the steps (endpoint and month chunk) a sync of the account would run now, in order.';

-- LISTEN aispend_refresh: a JSON payload at each step of a sync and each state change of a refresh request,
-- delivered when its transaction commits. Names and states only: any role may LISTEN.
CREATE FUNCTION aispend._notify_refresh(payload jsonb) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT pg_catalog.pg_notify('aispend_refresh', payload::text);
END;
COMMENT ON FUNCTION aispend._notify_refresh(jsonb) IS
    'Internal: NOTIFY aispend_refresh with a payload (account, endpoint, run and status of a sync step; or '
    'request, account and state of a refresh request).';

CREATE OR REPLACE PROCEDURE aispend._sync_step(p_account name, p_provider text, p_endpoint text,
                                    p_since timestamptz, p_until timestamptz, p_width text,
                                    INOUT o_sqlstate text, INOUT o_message text,
                                    INOUT o_detail text, INOUT o_hint text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_run bigint;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_res record;
    v_http bigint;
    v_retries bigint;
    v_bytes bigint;
    v_resume timestamptz;
    v_complete timestamptz;
BEGIN
    o_sqlstate := NULL; o_message := NULL; o_detail := NULL; o_hint := NULL;
    INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at)
    VALUES (p_account, p_endpoint, p_since, p_until,
            CASE p_endpoint WHEN 'usage' THEN p_width WHEN 'costs' THEN '1d' END, v_t0)
    RETURNING id INTO v_run;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'running'));
    COMMIT;

    BEGIN
        CASE p_endpoint
            WHEN 'workspaces' THEN
                SELECT * INTO v_res FROM aispend._sync_workspaces(p_account, p_provider, v_t0);
            WHEN 'api_keys' THEN
                SELECT * INTO v_res FROM aispend._sync_api_keys(p_account, p_provider, v_t0);
            WHEN 'usage' THEN
                SELECT * INTO v_res FROM aispend._sync_usage(p_account, p_provider, p_since, p_until, p_width, v_t0);
            WHEN 'costs' THEN
                SELECT * INTO v_res FROM aispend._sync_costs(p_account, p_provider, p_since, p_until, v_t0);
        END CASE;
        SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes FROM aispend._last_fetch_stats() s;
        -- The dashboard's rollups of these days change in the same transaction as the facts. A large change
        -- is analyzed first: with the statistics of a much smaller table, the cost model's joins are planned
        -- as nested loops, and a backfill month of a large organisation then takes minutes instead of seconds.

        -- Complete through the last closed bucket, if this window continues the complete history (a window
        -- that starts after it would leave a gap, which the next sync must still fetch).
        IF p_endpoint IN ('usage', 'costs') THEN
            SELECT pg_catalog.max(r.complete_through) INTO v_resume FROM aispend.sync_runs r
            WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
            IF v_resume IS NULL OR p_since <= v_resume THEN
                v_complete := LEAST(p_until, GREATEST(p_since, aispend._bucket_floor(v_t0,
                                  CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END)));
            END IF;
        END IF;

        UPDATE aispend.sync_runs r
           SET status = 'succeeded', finished_at = pg_catalog.clock_timestamp(), complete_through = v_complete,
               rows_fetched = v_res.fetched, rows_inserted = v_res.inserted, rows_updated = v_res.updated,
               rows_deleted = v_res.deleted, http_requests = v_http, retries = v_retries, bytes = v_bytes
         WHERE r.account = p_account AND r.id = v_run;
        -- The facts' triggers (and, for costs, the run that settles its days) marked the days that changed; the
        -- dashboard's rollups of those days change in this transaction. A large change is analyzed first: with
        -- the statistics of a much smaller table, the cost model's joins are planned as nested loops, and a
        -- backfill month of a large organisation then takes minutes instead of seconds.
        IF p_endpoint IN ('usage', 'costs') THEN
            IF v_res.inserted + v_res.deleted >= 10000 THEN
                IF p_endpoint = 'usage' THEN ANALYZE aispend.usage; ELSE ANALYZE aispend.costs; END IF;
            END IF;
            PERFORM aispend._reroll(p_account);
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS o_sqlstate = RETURNED_SQLSTATE, o_message = MESSAGE_TEXT,
                                o_detail = PG_EXCEPTION_DETAIL, o_hint = PG_EXCEPTION_HINT;
    END;

    IF o_sqlstate IS NOT NULL THEN
        BEGIN
            SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes
            FROM aispend._last_fetch_stats() s;
        EXCEPTION WHEN OTHERS THEN
            v_http := NULL;
        END;
        UPDATE aispend.sync_runs r
           SET status = CASE o_sqlstate WHEN '57014' THEN 'aborted' ELSE 'failed' END,
               finished_at = pg_catalog.clock_timestamp(), http_requests = v_http, retries = v_retries,
               bytes = v_bytes, error_sqlstate = o_sqlstate, error_message = o_message,
               error_detail = NULLIF(o_detail, ''), error_hint = NULLIF(o_hint, '')
         WHERE r.account = p_account AND r.id = v_run;
        PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
            'run', v_run, 'status', CASE o_sqlstate WHEN '57014' THEN 'aborted' ELSE 'failed' END));
        COMMIT;
        o_detail := pg_catalog.concat_ws(E'\n', NULLIF(o_detail, ''),
            pg_catalog.format('aispend: account %s, %s%s (aispend.sync_runs id %s); nothing of this chunk was stored.',
                              p_account, p_endpoint, aispend._fmt_window(p_since, p_until), v_run));
        RETURN;
    END IF;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'succeeded'));
    COMMIT;
    RAISE NOTICE '%', pg_catalog.format('aispend: %s %s%s: %s rows (+%s ~%s -%s) in %s s', p_account, p_endpoint,
        aispend._fmt_window(p_since, p_until), v_res.fetched, v_res.inserted, v_res.updated, v_res.deleted,
        pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - v_t0)::numeric, 2));
END
$$;

CREATE OR REPLACE PROCEDURE aispend.sync(account name DEFAULT NULL, since timestamptz DEFAULT NULL,
                              until timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_only name := account;
    v_since timestamptz := since;
    v_until timestamptz := until;
    v_accounts name[];
    v_acct name;
    v_cfg record;
    v_now timestamptz;
    v_step record;
    v_state text; v_msg text; v_detail text; v_hint text;
    v_first_state text; v_first_msg text; v_first_detail text; v_first_hint text;
    v_failed name[] := '{}';
    v_mine boolean;
BEGIN
    IF NOT pg_catalog.isfinite(coalesce(v_since, '2000-01-01'::timestamptz))
       OR NOT pg_catalog.isfinite(coalesce(v_until, '2000-01-01'::timestamptz)) THEN
        RAISE EXCEPTION 'aispend: since and until must be finite times' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_since IS NOT NULL AND v_until IS NOT NULL AND v_since >= v_until THEN
        RAISE EXCEPTION 'aispend: since (%) must be before until (%)', v_since, v_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_only IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE NOTICE 'aispend: no accounts to sync (no server of the foreign-data wrapper aispend)';
            RETURN;
        END IF;
    ELSE
        PERFORM aispend._account_settings(v_only);   -- raises 42704 for an unknown account
        v_accounts := ARRAY[v_only];
    END IF;

    FOREACH v_acct IN ARRAY v_accounts LOOP
        <<one_account>>
        DECLARE
            v_cfg_ok boolean := true;
        BEGIN
            BEGIN
                SELECT * INTO v_cfg FROM aispend._account_settings(v_acct);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                        v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
                v_cfg_ok := false;
            END;
            IF NOT v_cfg_ok THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
                END IF;
                RAISE WARNING 'aispend: account % skipped: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                EXIT one_account;
            END IF;

            PERFORM aispend._remember_provider(v_acct, v_cfg.provider);

            -- One sync per account at a time (a session-level lock: it survives our COMMITs).
            v_mine := EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                              WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                                AND l.classid = 1634300784::oid AND l.objid = aispend._lock_key(v_acct)::oid
                                AND l.objsubid = 2);
            IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(1634300784, aispend._lock_key(v_acct)) THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION 'aispend: a sync of account % is already running', v_acct
                        USING ERRCODE = 'lock_not_available',
                              HINT = 'Wait for it to finish (SELECT * FROM aispend.freshness), or cancel it: '
                                     'SELECT pg_cancel_backend(pid) FROM pg_locks WHERE locktype = ''advisory'' '
                                     'AND classid = 1634300784 AND objid = aispend._lock_key(' ||
                                     pg_catalog.quote_literal(v_acct) || ')::oid;';
                END IF;
                RAISE WARNING 'aispend: account % skipped: a sync of it is already running', v_acct;
                EXIT one_account;
            END IF;

            -- Runs still 'running' belong to a sync that died (crash, cancel, lost session): we hold the lock.
            UPDATE aispend.sync_runs r
               SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(),
                   error_message = coalesce(r.error_message,
                                            'interrupted: the sync was cancelled or its session ended before it finished')
             WHERE r.account = v_acct AND r.status = 'running';
            COMMIT;

            v_now := pg_catalog.clock_timestamp();
            FOR v_step IN SELECT * FROM aispend._sync_plan(v_acct, v_since, v_until, v_now) p ORDER BY p.step LOOP
                IF v_step.chunk_from >= v_step.chunk_to THEN
                    RAISE NOTICE 'aispend: % %: nothing to sync in%', v_acct, v_step.endpoint,
                        aispend._fmt_window(v_step.chunk_from, v_step.chunk_to);
                    CONTINUE;
                END IF;
                CALL aispend._sync_step(v_acct, v_cfg.provider, v_step.endpoint, v_step.chunk_from, v_step.chunk_to,
                                        v_cfg.bucket_width, v_state, v_msg, v_detail, v_hint);
                EXIT WHEN v_state IS NOT NULL;
            END LOOP;

            PERFORM pg_catalog.pg_advisory_unlock(1634300784, aispend._lock_key(v_acct));

            IF v_state IS NOT NULL THEN
                IF v_only IS NOT NULL OR v_state = '57014' THEN
                    IF v_state <> '57014' THEN
                        CALL aispend._after_sync();
                    END IF;
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail,
                                          HINT = coalesce(NULLIF(v_hint, ''),
                                                          'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
                END IF;
                RAISE WARNING 'aispend: sync of account % failed: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                v_state := NULL;
            END IF;
        END one_account;
    END LOOP;

    CALL aispend._after_sync();
    IF v_first_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = v_first_state, MESSAGE = v_first_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(v_first_detail, ''),
                pg_catalog.format('aispend: %s of %s accounts failed: %s; the others were synced.',
                                  pg_catalog.cardinality(v_failed), pg_catalog.cardinality(v_accounts),
                                  pg_catalog.array_to_string(v_failed, ', '))),
            HINT = coalesce(NULLIF(v_first_hint, ''), 'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
    END IF;
END
$$;
COMMENT ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) IS
    'Syncs workspaces, API keys, usage and costs of one account (default: every aispend server) for a window '
    '(default: backfill on the first sync, then resync_days plus everything since the last complete bucket). '
    'COMMITs per endpoint and month chunk; CALL it outside a transaction block. See docs/sync.md.';

CREATE OR REPLACE VIEW aispend.freshness AS
WITH accounts AS (
    SELECT s.srvname AS account,
           aispend._option(s.srvoptions, 'provider') AS provider,
           true AS server_exists
    FROM aispend._servers() s
    UNION ALL
    SELECT DISTINCT r.account, NULL, false
    FROM aispend.sync_runs r
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server s WHERE s.srvname = r.account)
)
SELECT a.account, a.provider, e.endpoint,
       ok.complete_through,
       ok.last_success_at,
       last.status AS last_status,
       last.started_at AS last_attempt_at,
       err.finished_at AS last_error_at,
       err.error_sqlstate AS last_error_sqlstate,
       -- the provider's own words only for roles that may read them (admins); readers see the SQLSTATE
       CASE WHEN pg_catalog.has_column_privilege('aispend.sync_runs', 'error_message', 'SELECT')
            THEN err.error_message END AS last_error_message,
       (run.started_at IS NOT NULL) AS running,
       run.started_at AS running_since,
       a.server_exists,
       rq.id AS refresh_request,
       rq.state AS refresh_state
FROM accounts a
CROSS JOIN (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS e(ord, endpoint)
LEFT JOIN LATERAL (
    SELECT max(r.complete_through) AS complete_through, max(r.finished_at) AS last_success_at
    FROM aispend.sync_runs r
    WHERE r.account = a.account AND r.endpoint = e.endpoint AND r.status = 'succeeded') ok ON true
LEFT JOIN LATERAL (
    SELECT r.status, r.started_at FROM aispend.sync_runs r
    WHERE r.account = a.account AND r.endpoint = e.endpoint
    ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT r.finished_at, r.error_sqlstate, r.error_message FROM aispend.sync_runs r
    WHERE r.account = a.account AND r.endpoint = e.endpoint AND r.status IN ('failed', 'aborted')
    ORDER BY r.started_at DESC, r.id DESC LIMIT 1) err ON true
LEFT JOIN LATERAL (
    SELECT min(r.started_at) AS started_at FROM aispend.sync_runs r
    WHERE r.account = a.account AND r.endpoint = e.endpoint AND r.status = 'running'
      AND aispend._sync_lock_held(a.account)) run ON true
LEFT JOIN LATERAL (
    SELECT q.id, q.state FROM aispend.refresh_requests q
    WHERE q.account = a.account AND q.state IN ('queued', 'running')
      AND aispend._refresh_state(q.state, q.worker_pid, q.requested_by, q.requested_at) IN ('queued', 'running')
    ORDER BY q.id LIMIT 1) rq ON true
ORDER BY a.account, e.ord;
COMMENT ON VIEW aispend.freshness IS
    'Per account and endpoint: data complete through which bucket, last success, last error, and whether a sync is running now.';
COMMENT ON COLUMN aispend.freshness.refresh_request IS
    'The background refresh of this account queued or running now (aispend.request_refresh), if any.';
COMMENT ON COLUMN aispend.freshness.refresh_state IS 'Its state: queued or running (aispend.refresh_progress has the detail).';
REVOKE ALL ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_refresh(jsonb) FROM PUBLIC;

-- ---- 37_refresh.sql (new)
-- 37_refresh.sql: "Refresh Data" from any client (issue 13). SELECT aispend.request_refresh() returns at once
-- with a request id, from any transaction or function; background workers (src/pg/refresh_worker.cpp), started
-- on demand and connected as the requesting role, sync the accounts, one account per worker at a time, up to
-- aispend.refresh_workers at once. aispend.refresh_progress shows each request, account and endpoint as it
-- goes; LISTEN aispend_refresh is told of each step and state change; aispend.cancel_refresh(id) stops it.
--
-- A request's rows (20_schema.sql: aispend.refresh_requests) go queued -> running -> succeeded, failed or
-- cancelled. The workers wait for the requesting transaction to end, then each runs CALL aispend._refresh_work()
-- outside any transaction block (the sync COMMITs), taking its role's queued rows in order until none is left.

CREATE FUNCTION aispend._start_refresh_workers(wanted integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'aispend_start_refresh_workers' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._start_refresh_workers(integer) IS
    'Internal: starts up to min(wanted, aispend.refresh_workers) background workers connected to this database as '
    'the current role (which must be able to log in); each waits for this transaction to end, then CALLs '
    'aispend._refresh_work(). Returns how many started; raises 53400 when none could (max_worker_processes).';

-- A request's row changed state: tell the listeners (on commit).
CREATE FUNCTION aispend._notify_request(p_id bigint, p_account name, p_state text) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT aispend._notify_refresh(pg_catalog.jsonb_build_object('request', p_id, 'account', p_account,
                                                                 'state', p_state));
END;
COMMENT ON FUNCTION aispend._notify_request(bigint, name, text) IS
    'Internal: NOTIFY aispend_refresh of a refresh request''s new state.';

-- Marks the requests whose worker is gone failed (aispend._refresh_state), so that no row stays running.
-- SECURITY DEFINER: it closes other roles' requests too (row-level security lets a role change only its own),
-- and only those whose worker is gone.
CREATE FUNCTION aispend._refresh_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    n integer := 0;
BEGIN
    FOR v IN
        UPDATE aispend.refresh_requests q
           SET state = 'failed', finished_at = pg_catalog.clock_timestamp(), error_sqlstate = '57P01',
               error_message = CASE q.state
                   WHEN 'running' THEN 'the refresh''s worker ended without recording an outcome (killed, or a crash)'
                   ELSE 'no worker took the request (it could not connect as its role, or was killed)' END
         WHERE q.state IN ('queued', 'running')
           AND aispend._refresh_state(q.state, q.worker_pid, q.requested_by, q.requested_at) = 'failed'
        RETURNING q.id, q.account
    LOOP
        PERFORM aispend._notify_request(v.id, v.account, 'failed');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._refresh_sweep() IS
    'Internal: marks failed the refresh requests left running or queued by a worker that is gone; returns how many.';

-- What every worker CALLs. A procedure (it COMMITs), so it cannot pin search_path: every name is qualified.
CREATE PROCEDURE aispend._refresh_work()
LANGUAGE plpgsql
AS $$
DECLARE
    v record;
BEGIN
    LOOP
        -- The role's oldest queued account; a request another worker holds is skipped, not waited for.
        UPDATE aispend.refresh_requests q
           SET state = 'running', started_at = pg_catalog.clock_timestamp(), worker_pid = pg_catalog.pg_backend_pid()
         WHERE (q.account, q.id) = (SELECT n.account, n.id FROM aispend.refresh_requests n
                                     WHERE n.state = 'queued' AND n.requested_by = CURRENT_USER
                                     ORDER BY n.id, n.account LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING q.id, q.account, q.since INTO v;
        EXIT WHEN NOT FOUND;
        PERFORM aispend._notify_request(v.id, v.account, 'running');
        COMMIT;

        -- The steps to come, for the progress (an error here, e.g. the server dropped meanwhile, fails the request).
        UPDATE aispend.refresh_requests q
           SET steps_planned = (SELECT pg_catalog.jsonb_object_agg(p.endpoint, p.n)
                                  FROM (SELECT s.endpoint,
                                               pg_catalog.count(*) FILTER (WHERE NOT s.chunk_from >= s.chunk_to
                                                                              OR s.chunk_from IS NULL) AS n
                                          FROM aispend._sync_plan(v.account, v.since, NULL,
                                                                  pg_catalog.clock_timestamp()) s
                                         GROUP BY s.endpoint) p)
         WHERE q.account = v.account AND q.id = v.id;
        COMMIT;

        -- A sync of the account already running (a scheduled one, a CALL) is waited for, not failed on: the sync
        -- then sees it holds the account's lock, and releases it when done.
        PERFORM pg_catalog.pg_advisory_lock(1634300784, aispend._lock_key(v.account));
        CALL aispend.sync(v.account, v.since);

        UPDATE aispend.refresh_requests q
           SET state = 'succeeded', finished_at = pg_catalog.clock_timestamp()
         WHERE q.account = v.account AND q.id = v.id AND q.state = 'running';
        PERFORM aispend._notify_request(v.id, v.account, 'succeeded');
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE aispend._refresh_work() IS
    'Internal: run by each background refresh worker: takes the role''s queued refresh requests one account at a '
    'time (running, CALL aispend.sync, succeeded) until none is left. An error propagates to the worker, which '
    'records it (aispend._refresh_failed) and CALLs again.';

-- Called by a worker, in a new transaction, after the sync of the account in hand failed and was rolled back.
CREATE FUNCTION aispend._refresh_failed(p_sqlstate text, p_message text, p_detail text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_marked boolean := false;
BEGIN
    FOR v IN
        UPDATE aispend.refresh_requests q
           SET state = CASE WHEN p_sqlstate = '57014' THEN 'cancelled' ELSE 'failed' END,
               finished_at = pg_catalog.clock_timestamp(), error_sqlstate = p_sqlstate, error_message = p_message,
               error_detail = NULLIF(p_detail, '')
         WHERE q.state = 'running' AND q.worker_pid = pg_catalog.pg_backend_pid() AND q.requested_by = CURRENT_USER
        RETURNING q.id, q.account, q.state
    LOOP
        PERFORM aispend._notify_request(v.id, v.account, v.state);
        v_marked := true;
    END LOOP;
    RETURN v_marked;
END
$$;
COMMENT ON FUNCTION aispend._refresh_failed(text, text, text) IS
    'Internal: a background worker records how the refresh request it was running ended in error (57014: '
    'cancelled); false when it was running none.';

-- ---------------------------------------------------------------- the public API

CREATE FUNCTION aispend.request_refresh(accounts name[] DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id bigint;
    v_accounts name[];
    v_acct name;
    v_missing name[] := '{}';
    v_active record;
    v_queued integer;
BEGIN
    IF since IS NOT NULL AND (since >= pg_catalog.clock_timestamp() OR NOT pg_catalog.isfinite(since)) THEN
        RAISE EXCEPTION 'aispend: since (%) must be a time in the past', since USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF accounts IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no accounts to refresh (no server of the foreign-data wrapper aispend)'
                USING ERRCODE = 'no_data_found', HINT = 'Create one first: docs/accounts.md.';
        END IF;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT a ORDER BY a) INTO v_accounts FROM pg_catalog.unnest(accounts) a
         WHERE a IS NOT NULL;
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no account named' USING ERRCODE = 'null_value_not_allowed',
                HINT = 'Pass accounts => NULL for every account, or ARRAY[''name''].';
        END IF;
    END IF;
    -- Each account exists (42704 otherwise) and this role has a key for it: refused now, not in the worker.
    FOREACH v_acct IN ARRAY v_accounts LOOP
        PERFORM aispend._account_settings(v_acct);
        IF NOT coalesce((SELECT k.has_key FROM pg_catalog.pg_foreign_server s
                                     CROSS JOIN LATERAL aispend._key_status(s.oid) k
                                     WHERE s.srvname = v_acct), false) THEN
            v_missing := v_missing || v_acct;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'aispend: role % has no admin key for account %', CURRENT_USER,
                        pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A background refresh runs as the role that requests it, with that role''s keys.',
                  HINT = 'Give the role a key (CREATE USER MAPPING FOR ... SERVER ... OPTIONS (admin_key ...)), '
                         'or name only the accounts it has keys for: docs/accounts.md.';
    END IF;

    PERFORM aispend._refresh_sweep();
    v_id := pg_catalog.nextval('aispend.refresh_request_ids');
    FOREACH v_acct IN ARRAY v_accounts LOOP
        -- Two requests for one account at once: the second waits here for the first's transaction, then joins.
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300786, aispend._lock_key(v_acct));
        SELECT q.id, q.since, q.state INTO v_active FROM aispend.refresh_requests q
         WHERE q.account = v_acct AND q.state IN ('queued', 'running')
         ORDER BY q.id LIMIT 1;
        IF FOUND AND NOT (since IS NULL OR coalesce(since >= v_active.since, false)) THEN
            RAISE EXCEPTION 'aispend: account % is already being refreshed (request %) from a later start', v_acct,
                            v_active.id
                USING ERRCODE = 'lock_not_available',
                      HINT = pg_catalog.format('Request again when it ends, or cancel it: SELECT aispend.cancel_refresh(%s);',
                                               v_active.id);
        END IF;
        IF FOUND THEN
            INSERT INTO aispend.refresh_requests (id, account, since, state, joined_request)
            VALUES (v_id, v_acct, since, 'joined', v_active.id);
            PERFORM aispend._notify_request(v_id, v_acct, 'joined');
        ELSE
            INSERT INTO aispend.refresh_requests (id, account, since) VALUES (v_id, v_acct, since);
            PERFORM aispend._notify_request(v_id, v_acct, 'queued');
        END IF;
    END LOOP;

    -- Workers for the role's queued accounts; they take queued requests of the role, so none is left waiting.
    SELECT pg_catalog.count(*) INTO v_queued FROM aispend.refresh_requests q
     WHERE q.state = 'queued' AND q.requested_by = CURRENT_USER;
    -- Workers already running for the role count against aispend.refresh_workers (the library is loaded: its
    -- _key_status ran above); one is started anyway, to wait for this transaction's requests.
    IF v_queued > 0 THEN
        PERFORM aispend._start_refresh_workers(GREATEST(1, LEAST(v_queued,
            pg_catalog.current_setting('aispend.refresh_workers')::integer
            - (SELECT pg_catalog.count(*)::integer FROM aispend._refresh_workers(CURRENT_USER)))));
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION aispend.request_refresh(name[], timestamptz) IS
    'The dashboard''s "Refresh Data" from any client: queues a sync of the accounts (default: all) and returns its '
    'request id at once; background workers running as this role sync them, up to aispend.refresh_workers '
    'accounts at a time, once this transaction commits. An account already being refreshed is joined. Progress: '
    'aispend.refresh_progress, LISTEN aispend_refresh. See docs/sync.md.';

CREATE FUNCTION aispend.cancel_refresh(request bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v record;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found',
            HINT = 'SELECT DISTINCT request, state FROM aispend.refresh_progress;';
    END IF;
    -- The row lock keeps a worker from finishing this account and starting the next one under our cancel.
    -- Row-level security leaves out the rows of roles this one is not a member of.
    FOR v IN SELECT q.* FROM aispend.refresh_requests q
              WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')
              ORDER BY q.account FOR UPDATE
    LOOP
        IF v.state = 'running' THEN
            -- The worker rolls the step back and records the request cancelled itself.
            -- only that role's live worker: a pid left by a dead one may belong to another process by now
            IF NOT aispend._refresh_worker_alive(v.requested_by, v.worker_pid)
               OR NOT pg_catalog.pg_cancel_backend(v.worker_pid) THEN
                RAISE WARNING 'aispend: the worker of request % (account %) is gone', request, v.account;
            END IF;
        ELSE
            UPDATE aispend.refresh_requests q
               SET state = 'cancelled', finished_at = pg_catalog.clock_timestamp(), error_sqlstate = '57014',
                   error_message = CASE v.state WHEN 'queued' THEN 'cancelled before it started'
                                   ELSE pg_catalog.format('cancelled; request %s, which it had joined, goes on',
                                                          v.joined_request) END
             WHERE q.account = v.account AND q.id = v.id;
            PERFORM aispend._notify_request(v.id, v.account, 'cancelled');
        END IF;
        n := n + 1;
    END LOOP;
    IF n = 0 AND EXISTS (SELECT 1 FROM aispend.refresh_requests q
                          WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')) THEN
        RAISE EXCEPTION 'aispend: refresh request % is another role''s', request
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the role that requested it (or a member of that role) may cancel it.';
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend.cancel_refresh(bigint) IS
    'Cancels a refresh request: its queued accounts at once, its running ones by cancelling their worker''s '
    'statement (the step in flight rolls back, as when a sync is cancelled). Returns how many accounts it '
    'cancelled; a joined account stops sharing the other request, which goes on. Only the requesting role (or a '
    'member of it) may.';

-- ---------------------------------------------------------------- progress

CREATE VIEW aispend.refresh_progress AS
WITH req AS (
    SELECT r.id AS request, r.account, r.requested_by, r.requested_at, r.since,
           CASE WHEN r.state = 'joined' THEN x.id END AS joined_request,
           aispend._refresh_state(x.state, x.worker_pid, x.requested_by, x.requested_at) AS state,
           x.started_at, x.finished_at, x.steps_planned, x.error_sqlstate
    FROM aispend.refresh_requests r
    JOIN aispend.refresh_requests x
      ON x.account = r.account AND x.id = CASE WHEN r.state = 'joined' THEN r.joined_request ELSE r.id END
), steps AS (
    SELECT req.*, e.ord, e.endpoint,
           (req.steps_planned ->> e.endpoint)::integer AS steps_planned_ep,
           s.steps_done, s.busy, s.in_flight, s.failed, s.rows_fetched, s.http_requests, s.retries
    FROM req
    CROSS JOIN (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS e(ord, endpoint)
    LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded')::integer AS steps_done,
               pg_catalog.bool_or(r.status = 'running') AS busy,
               pg_catalog.max(CASE WHEN r.status = 'running'
                                   THEN NULLIF(pg_catalog.ltrim(aispend._fmt_window(r.window_start, r.window_end)), '')
                              END) AS in_flight,
               pg_catalog.bool_or(r.status IN ('failed', 'aborted')) AS failed,
               pg_catalog.sum(r.rows_fetched) AS rows_fetched, pg_catalog.sum(r.http_requests) AS http_requests,
               pg_catalog.sum(r.retries) AS retries
        FROM aispend.sync_runs r
        WHERE r.account = req.account AND r.endpoint = e.endpoint AND r.started_at >= req.started_at
          AND (req.finished_at IS NULL OR r.started_at <= req.finished_at)) s ON true
)
SELECT st.request, st.account, st.requested_by, st.state, st.endpoint,
       CASE WHEN st.busy THEN CASE WHEN st.state = 'running' THEN 'running' ELSE 'interrupted' END
            WHEN st.failed THEN 'failed'
            WHEN st.steps_planned_ep = 0 THEN 'nothing to fetch'
            WHEN st.steps_done >= st.steps_planned_ep THEN 'done'
            WHEN st.state IN ('queued', 'running') THEN 'waiting'
            ELSE 'not reached' END AS endpoint_state,
       st.in_flight AS chunk_in_flight,
       st.steps_done, st.steps_planned_ep AS steps_planned,
       coalesce(st.rows_fetched, 0) AS rows_fetched,
       coalesce(st.http_requests, 0) AS http_requests,
       coalesce(st.retries, 0) AS retries,
       st.requested_at, st.started_at, st.finished_at,
       coalesce(st.finished_at, pg_catalog.clock_timestamp()) - st.started_at AS elapsed,
       -- the time per step so far times the steps still to run (NULL before the first step ends)
       CASE WHEN st.state NOT IN ('queued', 'running') THEN interval '0'
            WHEN pg_catalog.sum(st.steps_done) OVER w > 0
                THEN (pg_catalog.clock_timestamp() - st.started_at) / (pg_catalog.sum(st.steps_done) OVER w)
                     * GREATEST(0, pg_catalog.sum(st.steps_planned_ep) OVER w - pg_catalog.sum(st.steps_done) OVER w)
       END AS remaining,
       st.joined_request, st.error_sqlstate
FROM steps st
WINDOW w AS (PARTITION BY st.request, st.account)
ORDER BY st.request DESC, st.account, st.ord;
COMMENT ON VIEW aispend.refresh_progress IS
    'Background refreshes as they go, per request, account and endpoint: state, the chunk in flight, steps done of '
    'those planned, rows, HTTP requests and retries so far, elapsed time and an estimate of what remains. Counts '
    'grow as each step commits. No secret: readers may watch it. LISTEN aispend_refresh to hear of each change.';
COMMENT ON COLUMN aispend.refresh_progress.request IS 'The id aispend.request_refresh returned.';
COMMENT ON COLUMN aispend.refresh_progress.state IS
    'The account''s refresh: queued, running, succeeded, failed or cancelled (a joined request shows the state of '
    'the request it joined).';
COMMENT ON COLUMN aispend.refresh_progress.endpoint_state IS
    'running, waiting, done, nothing to fetch, failed, interrupted (the refresh ended during it) or not reached.';
COMMENT ON COLUMN aispend.refresh_progress.chunk_in_flight IS 'The window of the step being fetched now (usage, costs).';
COMMENT ON COLUMN aispend.refresh_progress.steps_done IS 'Steps (month chunks) of this endpoint committed so far.';
COMMENT ON COLUMN aispend.refresh_progress.steps_planned IS 'Steps of this endpoint planned when the refresh started.';
COMMENT ON COLUMN aispend.refresh_progress.rows_fetched IS 'Rows the provider returned in the committed steps.';
COMMENT ON COLUMN aispend.refresh_progress.http_requests IS 'HTTP requests of the committed and failed steps.';
COMMENT ON COLUMN aispend.refresh_progress.retries IS 'Of which retried (429, 5xx, network; Retry-After honoured).';
COMMENT ON COLUMN aispend.refresh_progress.elapsed IS 'Since the account''s refresh started (to its end once ended).';
COMMENT ON COLUMN aispend.refresh_progress.remaining IS
    'Estimate: the time per committed step so far times the steps still planned for the account; NULL until a step '
    'ends, 0 once ended.';
COMMENT ON COLUMN aispend.refresh_progress.joined_request IS 'For a joined request: the request whose run it shows.';
COMMENT ON COLUMN aispend.refresh_progress.error_sqlstate IS
    'How it failed (the message: aispend.refresh_requests.error_message, for admins).';

-- For psql and scripts: wait for a request to end, a NOTICE at each change of its progress.
CREATE FUNCTION aispend.wait_refresh(request bigint, timeout interval DEFAULT interval '10 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_deadline timestamptz := pg_catalog.clock_timestamp() + timeout;
    v_line text;
    v_key text;
    v_last text;
    v_state text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found';
    END IF;
    -- The workers wait for the requesting transaction to end: waiting inside it would wait forever.
    IF EXISTS (SELECT 1 FROM aispend.refresh_requests q
                WHERE q.id = request
                  AND q.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())) THEN
        RAISE EXCEPTION 'aispend: refresh request % is not committed yet, so it has not started', request
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'COMMIT the transaction that requested it (or request it in autocommit mode), then wait.';
    END IF;
    LOOP
        -- one statement, one snapshot: what the workers have committed by now
        SELECT pg_catalog.string_agg(DISTINCT p.state, '/'),
               pg_catalog.string_agg(pg_catalog.format('%s %s%s (%s/%s steps, %s rows%s)', p.account, p.endpoint,
                                                       coalesce(' ' || p.chunk_in_flight, ''), t.done, t.planned,
                                                       t.rows_fetched,
                                                       coalesce(', ~' || pg_catalog.ceil(EXTRACT(epoch FROM p.remaining))
                                                                || ' s left', '')), '; '
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running'),
               -- what changed, the estimate aside
               pg_catalog.string_agg(p.account || p.endpoint || coalesce(p.chunk_in_flight, '') || t.done, ';'
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running')
          INTO v_state, v_line, v_key
          FROM aispend.refresh_progress p
          CROSS JOIN LATERAL (SELECT pg_catalog.sum(a.steps_done) AS done, pg_catalog.sum(a.steps_planned) AS planned,
                                     pg_catalog.sum(a.rows_fetched) AS rows_fetched
                                FROM aispend.refresh_progress a
                               WHERE a.request = p.request AND a.account = p.account) t
         WHERE p.request = request;
        EXIT WHEN v_state !~ '(queued|running)';
        v_line := coalesce(v_line, CASE WHEN v_state ~ 'running' THEN 'between steps' ELSE 'waiting for a worker' END);
        IF coalesce(v_key, v_line) IS DISTINCT FROM v_last THEN
            RAISE NOTICE 'aispend: refresh %: %', request, v_line;
            v_last := coalesce(v_key, v_line);
        END IF;
        IF pg_catalog.clock_timestamp() >= v_deadline THEN
            RAISE NOTICE 'aispend: refresh % still %s after %; it goes on in the background', request, v_state, timeout;
            RETURN v_state;
        END IF;
        PERFORM pg_catalog.pg_sleep(0.2);
    END LOOP;
    RAISE NOTICE 'aispend: refresh %: %', request,
        (SELECT pg_catalog.string_agg(DISTINCT p.account || ' ' || p.state || coalesce(' (' || p.error_sqlstate || ')', ''),
                                      ', ')
           FROM aispend.refresh_progress p WHERE p.request = request);
    RETURN v_state;
END
$$;
COMMENT ON FUNCTION aispend.wait_refresh(bigint, interval) IS
    'Waits for a refresh request (committed) to end, with a NOTICE at each step (account, endpoint, chunk, steps, '
    'rows, time left); returns its state (succeeded, failed, cancelled, or several joined by /). After timeout it '
    'returns the state so far; the refresh goes on. For psql and scripts; a BI tool reads aispend.refresh_progress.';

REVOKE ALL ON FUNCTION aispend._start_refresh_workers(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_request(bigint, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_sweep() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._refresh_work() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_failed(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.request_refresh(name[], timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.cancel_refresh(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.wait_refresh(bigint, interval) FROM PUBLIC;

-- ---- from 69_data_freshness.sql: a refresh under way
CREATE OR REPLACE VIEW aispend.data_freshness WITH (security_invoker = true) AS
SELECT a.account, a.provider,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'usage') AS usage_day,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'costs') AS costs_day,
       aispend.settled_before(a.account) - 1 AS settled_day,
       (SELECT max(f.last_success_at) FROM aispend.freshness f WHERE f.account = a.account) AS last_sync,
       (SELECT f.last_status FROM aispend.freshness f WHERE f.account = a.account
         ORDER BY f.last_attempt_at DESC NULLS LAST LIMIT 1) AS status,
       (SELECT max(f.refresh_state) FROM aispend.freshness f WHERE f.account = a.account) AS refresh_state
FROM aispend._account_providers() a;
COMMENT ON COLUMN aispend.data_freshness.refresh_state IS
    'running or queued: a background refresh of the account is under way (aispend.refresh_progress); else NULL.';

-- ---- from 70_report.sql: the report shows a refresh under way
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
                      || '</td><td>' || aispend.html_escape(coalesce(f.status, '—'))
                      || '</td><td>' || aispend.html_escape(coalesce(f.refresh_state, '—')) || '</td></tr>', ''
                      ORDER BY f.account)
      INTO part
      FROM aispend.data_freshness f
     WHERE aispend._provider_matches(f.provider, prov);
    html := html || '<section id="freshness"><h2>Data Freshness</h2>'
        || '<table data-check="data_freshness"><thead><tr><th>Account</th><th>Provider</th><th>Usage complete through</th>'
        || '<th>Costs complete through</th><th>Costs settled through</th><th>Last sync</th><th>Last status</th>'
        || '<th>Refresh now</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
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

-- ---- 68_billed_elsewhere.sql (new)
-- 68_billed_elsewhere.sql: spend one source reports on behalf of another, shown where it was billed and never
-- added twice. OpenRouter's BYOK inference ("byok_usage_inference") is billed by the user's own provider key: it
-- is on that provider's bill, and in aispend's figures of that provider's account when it is synced. The cost
-- facts leave it out (47_cost_facts.sql); this lists it, with who billed it and where aispend counts it.

CREATE FUNCTION aispend.billed_elsewhere(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all')
RETURNS TABLE (day date, account name, provider text, workspace text, model text, amount_usd numeric,
               billed_by text, counted_in text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (c.bucket_start AT TIME ZONE 'UTC')::date AS day, c.account, ap.provider,
           coalesce(w.name, c.workspace_id) AS workspace, c.model, sum(c.amount_usd) AS amount_usd,
           pg_catalog.split_part(c.line_item, ' | ', 2) AS billed_by,
           (SELECT pg_catalog.string_agg(o.account, ', ' ORDER BY o.account) FROM aispend._account_providers() o
             WHERE o.provider = pg_catalog.lower(pg_catalog.split_part(c.line_item, ' | ', 2))) AS counted_in
    FROM aispend.costs c
    JOIN aispend._account_providers() ap ON ap.account = c.account
    LEFT JOIN aispend.workspaces w ON w.account = c.account AND w.workspace_id = c.workspace_id
    WHERE c.cost_type = 'byok_inference'
      AND c.bucket_start >= aispend._utc_day_start(pg_catalog.lower(aispend._check_period(billed_elsewhere.period)))
      AND c.bucket_start < aispend._utc_day_start(pg_catalog.upper(billed_elsewhere.period))
      AND aispend._provider_matches(ap.provider, billed_elsewhere.provider)
    GROUP BY 1, 2, 3, 4, 5, 7, 8
    ORDER BY 1, 2, 4, 5;
END;
COMMENT ON FUNCTION aispend.billed_elsewhere(daterange, text) IS
    'Spend a source reported that another bills (OpenRouter BYOK inference, billed by your own provider key): '
    'per UTC day, account, workspace and model, with the provider that billed it and the aispend accounts of that '
    'provider, where it is counted (NULL: not synced here). Never part of any total: no dollar is added twice.';

-- ---- from 72_period_names.sql: its overload taking a period by name
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset,
               pg_catalog.pg_get_function_arguments(p.oid) AS args,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               p.proargnames[1:x.k - 1] AS before, p.proargnames[x.k + 1:p.pronargs] AS rest
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL (SELECT pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') AS k) x
        WHERE p.pronamespace = 'aispend'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
          AND x.k IS NOT NULL AND p.proargtypes[x.k - 1] = 'daterange'::regtype
          AND p.proname IN ('billed_elsewhere', 'focus')   -- the new functions taking a period
        ORDER BY p.proname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION aispend.%I(%s) RETURNS %s LANGUAGE sql STABLE BEGIN ATOMIC %s aispend.%I(%s); END',
            f.proname,
            -- the arguments before period as declared, period as text (no default), those after as declared
            pg_catalog.substr(f.args, 1, pg_catalog.strpos(f.args, 'period daterange') - 1) || 'period text'
            || CASE WHEN pg_catalog.cardinality(f.rest) > 0
                    THEN pg_catalog.substr(f.args, pg_catalog.strpos(f.args, ', ' || f.rest[1] || ' '))
                    ELSE '' END,
            f.result,
            CASE WHEN f.proretset THEN 'SELECT * FROM' ELSE 'SELECT' END,
            f.proname,
            pg_catalog.array_to_string(
                ARRAY(SELECT pg_catalog.quote_ident(a) || ' => ' || pg_catalog.quote_ident(a)
                      FROM pg_catalog.unnest(f.before) AS a)
                || ARRAY['period => aispend.period(period)']
                || ARRAY(SELECT pg_catalog.quote_ident(a) || ' => '
                                || CASE WHEN a = 'compare_with'
                                        THEN 'coalesce(compare_with, aispend.previous_period(period))'
                                        ELSE pg_catalog.quote_ident(a) END
                         FROM pg_catalog.unnest(f.rest) AS a), ', '));
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION aispend.%I(%s) IS %L', f.proname,
            pg_catalog.replace(pg_catalog.pg_get_function_identity_arguments(f.oid), 'period daterange',
                               'period text'),
            'aispend.' || f.proname || ' with the period given by name (aispend.period(period)): '
            || 'last_7_days, last_30_days, month_to_date, previous_month, ... compared with '
            || 'aispend.previous_period(period) unless compare_with says otherwise. See that function.');
    END LOOP;
END
$$;


-- ---- from 73_alerts.sql: the same body, stored again (its SELECT f.* of aispend.freshness has two more columns)
CREATE OR REPLACE FUNCTION aispend.alert_conditions(as_of date DEFAULT aispend.utc_today(), at_time timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rule text, kind text, alert_key text, scope text, observed numeric, threshold numeric, message text,
               details jsonb)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH r AS (SELECT * FROM aispend.alert_rules r WHERE r.enabled),
    budget AS MATERIALIZED (
        SELECT s.*, b.thresholds
        FROM aispend.budgets_status(alert_conditions.as_of) s JOIN aispend.budgets b ON b.name = s.name
        -- a custom budget whose days are over has no current period: its alerts resolve
        WHERE s.period @> alert_conditions.as_of
          AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('budget_threshold', 'budget_forecast'))),
    spikes AS MATERIALIZED (
        SELECT a.*, r.name AS rule
        FROM r CROSS JOIN LATERAL aispend.anomalies(pg_catalog.daterange(alert_conditions.as_of - 2, alert_conditions.as_of),
                                                    r.anomaly_kind, 'all', r.min_score, r.min_cost) a
        WHERE r.kind = 'anomaly'),
    -- one condition per rule and key, workspace or model: its latest flagged day
    latest AS (
        SELECT DISTINCT ON (s.rule, s.kind, s.account, s.entity_id) s.*
        FROM spikes s ORDER BY s.rule, s.kind, s.account, s.entity_id, s.day DESC),
    -- FOCUS accounts (provider 'focus') are imported when a cloud publishes its bill, never synced: no sync alerts
    fresh AS MATERIALIZED (
        SELECT f.* FROM aispend.freshness f
        WHERE f.server_exists AND f.provider IS DISTINCT FROM 'focus' AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('sync_failure', 'stale_data')))
    -- a threshold of a budget reached in its current period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period), t.pct),
           'budget ' || b.name, b.spent, pg_catalog.round(b.amount_usd * t.pct / 100, 2),
           pg_catalog.format('Budget "%s" has used %s%% of $%s (threshold %s%%): $%s spent, %s days left',
                             b.name, b.pct_used, b.amount_usd, t.pct, b.spent, b.days_left),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'pct_used', b.pct_used, 'threshold_pct', t.pct)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    -- each threshold once (80 and 80.0 are one), reached as budgets_status says
    CROSS JOIN LATERAL (SELECT DISTINCT pg_catalog.trim_scale(x) AS pct FROM pg_catalog.unnest(b.thresholds) AS x) t
    WHERE r.kind = 'budget_threshold' AND t.pct <= b.threshold_reached
    UNION ALL
    -- a budget forecast to exceed its amount by the end of its period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period)),
           'budget ' || b.name, b.forecast, b.amount_usd,
           pg_catalog.format('Budget "%s" is forecast to reach $%s (band $%s to $%s) of $%s by %s',
                             b.name, b.forecast, b.forecast_low, b.forecast_high, b.amount_usd,
                             pg_catalog.upper(b.period) - 1),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'forecast', b.forecast, 'forecast_low', b.forecast_low,
                                         'forecast_high', b.forecast_high, 'days_left', b.days_left)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    WHERE r.kind = 'budget_forecast' AND b.will_exceed
    UNION ALL
    -- a spike (or new spending) of a key, workspace or model on one of the last two complete days
    SELECT s.rule, 'anomaly', pg_catalog.concat_ws('|', s.kind, s.account, s.entity_id),
           pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
               || coalesce(' (' || s.account || ')', ''),
           s.observed, s.expected,
           pg_catalog.format('%s %s: $%s on %s, expected $%s (%s)',
                             CASE s.flag WHEN 'new' THEN 'New spending of' ELSE 'Spike of' END,
                             pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
                                 || coalesce(' (' || s.account || ')', ''),
                             s.observed, s.day, s.expected,
                             CASE WHEN s.ratio IS NULL THEN 'new' ELSE s.ratio || 'x, score ' || coalesce(s.score::text, '-') END),
           pg_catalog.jsonb_build_object('day', s.day, 'kind', s.kind, 'entity', s.entity, 'account', s.account,
                                         'provider', s.provider, 'observed', s.observed, 'expected', s.expected,
                                         'ratio', s.ratio, 'score', s.score, 'flag', s.flag)
    FROM latest s
    UNION ALL
    -- an account's endpoint failed after its last success (a run in progress changes nothing)
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', f.account, f.endpoint), 'account ' || f.account, NULL, NULL,
           pg_catalog.format('Sync of %s %s failed (SQLSTATE %s)', f.account, f.endpoint,
                             coalesce(f.last_error_sqlstate, '-')),
           pg_catalog.jsonb_build_object('account', f.account, 'endpoint', f.endpoint,
                                         'sqlstate', f.last_error_sqlstate, 'at', f.last_error_at)
    FROM r, fresh f
    WHERE r.kind = 'sync_failure' AND f.last_error_at > coalesce(f.last_success_at, '-infinity')
    UNION ALL
    -- no successful sync of an account for too long (or never)
    SELECT r.name, r.kind, x.account, 'account ' || x.account, x.hours, r.max_age_hours,
           CASE WHEN x.hours IS NULL THEN pg_catalog.format('No successful sync of %s yet', x.account)
                ELSE pg_catalog.format('No successful sync of %s for %s hours', x.account, x.hours) END,
           pg_catalog.jsonb_build_object('account', x.account, 'last_success_at', x.last_success_at,
                                         'max_age_hours', r.max_age_hours)
    FROM r, (SELECT f.account, max(f.last_success_at) AS last_success_at,
                    pg_catalog.round((pg_catalog.date_part('epoch', alert_conditions.at_time - max(f.last_success_at))
                                      / 3600)::numeric, 1) AS hours
             FROM fresh f GROUP BY f.account) x
    WHERE r.kind = 'stale_data' AND (x.hours IS NULL OR x.hours > r.max_age_hours);
END;
-- ---- from 74_default_views.sql: the new views' columns get their comments from the dictionary
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

-- ---- from 90_roles.sql (readers do not see the refresh requests' error texts)
CREATE OR REPLACE FUNCTION aispend.grant_reader(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    FOR obj IN SELECT c.oid::regclass AS rel
                 FROM pg_class AS c
                WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
                  AND c.relname NOT IN ('accounts', 'sync_runs', 'refresh_requests', 'webhooks')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.rel, role_name);
    END LOOP;
    -- The run log and the refresh requests without the providers' error texts (readers see the SQLSTATE;
    -- aispend.freshness likewise).
    FOR obj IN SELECT t::regclass AS rel FROM unnest(ARRAY['aispend.sync_runs', 'aispend.refresh_requests']) AS t LOOP
        EXECUTE format('GRANT SELECT (%s) ON %s TO %I',
                       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                          FROM pg_attribute AS a
                         WHERE a.attrelid = obj.rel AND a.attnum > 0 AND NOT a.attisdropped
                           AND a.attname NOT IN ('error_message', 'error_detail', 'error_hint')),
                       obj.rel, role_name);
    END LOOP;
    FOR obj IN SELECT f AS fn FROM aispend._reader_functions() AS f LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.fn, role_name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.grant_reader(name) IS 'Lets an existing role read the dashboard: SELECT on aispend tables and views (except accounts, webhooks, and the providers'' error texts in sync_runs and refresh_requests), EXECUTE on read-only functions; no sync, no renames, no keys.';

-- ---- privileges as a fresh install sets them, and for the roles that had them
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    -- a role granted the dashboard (grant_reader or grant_admin) gets the new objects too; admins can write facts
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::name AS role_name,
               EXISTS (SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x
                       WHERE c.oid = 'aispend.usage'::regclass AND x.grantee = a.grantee
                         AND x.privilege_type = 'INSERT') AS admin
        FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'aispend.trend(numeric, numeric)'::regprocedure
          AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        IF r.admin THEN
            PERFORM aispend.grant_admin(r.role_name);
        ELSIF EXISTS (SELECT 1 FROM aispend.teams t WHERE t.team = r.role_name) THEN
            PERFORM aispend.grant_team(r.role_name);   -- a reader's grants less the live cost model, as before
        ELSE
            PERFORM aispend.grant_reader(r.role_name);
        END IF;
    END LOOP;
END
$$;
