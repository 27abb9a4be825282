-- 45_estimates.sql: estimated cost of every usage row (aispend.usage_costed) and the models without a price
-- (aispend.unpriced_models). See docs/costs.md "Estimated cost" and "Unpriced".

-- All input tokens of a usage row: uncached + cache reads + cache writes (5 minutes and 1 hour).
CREATE FUNCTION aispend._input_tokens(uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(uncached, 0) + coalesce(cache_read, 0) + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0);
COMMENT ON FUNCTION aispend._input_tokens(bigint, bigint, bigint, bigint) IS
    'Internal: all input tokens of a usage row (uncached + cache reads + cache writes).';

-- The estimate of one usage row at its price row (no price row: both NULL): its tokens, its web searches.
-- The one place a usage row is costed; pure, so Citus runs it on the shard beside the row.
CREATE FUNCTION aispend._usage_estimate(p aispend.model_prices, uncached bigint, cache_read bigint,
    cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint, output_audio bigint,
    input_image bigint, output_image bigint, batch boolean, service_tier text, inference_geo text,
    web_search_requests bigint, OUT token_cost numeric, OUT web_search_cost numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN p.id IS NOT NULL THEN
                aispend._token_cost(p, uncached, cache_read, cache_write_5m, cache_write_1h, output, input_audio,
                                    output_audio, input_image, output_image, batch, service_tier, inference_geo) END,
           CASE WHEN p.id IS NULL THEN NULL
                WHEN coalesce(web_search_requests, 0) = 0 THEN 0
                ELSE web_search_requests * p.web_search_per_k / 1000 END;
END;
COMMENT ON FUNCTION aispend._usage_estimate(aispend.model_prices, bigint, bigint, bigint, bigint, bigint, bigint,
                                            bigint, bigint, bigint, boolean, text, text, bigint) IS
    'Internal: the estimated USD of one usage row''s tokens and web searches at a price row (NULL without one).';

-- The price row of every (model, UTC day, long context) the usage of an account has in [lo, hi). The keys are
-- read first, then priced here: on Citus the first is a query of the account's shard, and aispend.price_for
-- (which reads the price catalogue) cannot run inside one.
CREATE FUNCTION aispend._usage_prices(account name, provider text, lo timestamptz, hi timestamptz)
RETURNS TABLE (model text, day date, long_context boolean, price aispend.model_prices)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    models text[];
    days date[];
    long_contexts boolean[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context)
      INTO models, days, long_contexts
      FROM (SELECT DISTINCT u.model, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                   aispend._long_context(u.context_window) AS long_context
              FROM aispend.usage u
             WHERE u.account = _usage_prices.account
               AND u.bucket_start >= _usage_prices.lo AND u.bucket_start < _usage_prices.hi) k;
    RETURN QUERY
        SELECT k.model, k.day, k.long_context, p
          FROM ROWS FROM (pg_catalog.unnest(models), pg_catalog.unnest(days), pg_catalog.unnest(long_contexts))
               AS k(model, day, long_context)
          LEFT JOIN LATERAL aispend.price_for(_usage_prices.provider, k.model, k.day, k.long_context) p ON true;
END
$$;
COMMENT ON FUNCTION aispend._usage_prices(name, text, timestamptz, timestamptz) IS
    'Internal: the price row (aispend.price_for) of each model, UTC day and long-context flag in an account''s '
    'usage in [lo, hi): what aispend._cost_facts and aispend._usage_costed_rows cost its usage at.';

-- The priced keys of aispend._usage_prices, as rows again, from its arrays (by subscript: unnest() would spread
-- the price rows into their columns). Pure: inside a query of an account's shard it runs there.
CREATE FUNCTION aispend._price_keys(models text[], days date[], long_contexts boolean[],
                                    prices aispend.model_prices[])
RETURNS TABLE (model text, day date, long_context boolean, price aispend.model_prices)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT models[i], days[i], long_contexts[i], prices[i] FROM pg_catalog.generate_subscripts(models, 1) AS i
    OFFSET 0;
END;
COMMENT ON FUNCTION aispend._price_keys(text[], date[], boolean[], aispend.model_prices[]) IS
    'Internal: the (model, day, long context, price row) rows of arrays built from aispend._usage_prices.';

-- Usage rows of one account in [lo, hi) with their estimated cost. The price rule is looked up once per
-- distinct (provider, model, day, long context), not once per row: a month of a large organisation has
-- hundreds of thousands of rows but only a few hundred such keys.
-- PL/pgSQL, with the account's provider and prices read first: on Citus the query is then one of the account's
-- shard, calling only pure functions.
CREATE FUNCTION aispend._usage_costed_rows(p_account name, p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE (account name, provider text, day date, bucket_start timestamptz, bucket_width text, endpoint text,
               workspace_id text, api_key_id text, model text, service_tier text, batch boolean,
               context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
               input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
               output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint,
               total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text,
               estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric,
               priced boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_provider text := aispend.account_provider(p_account);
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(p_account, v_provider, p_lo, p_hi) k;
    RETURN QUERY
    SELECT r.account, v_provider, r.day, r.bucket_start, r.bucket_width, r.endpoint, r.workspace_id, r.api_key_id,
           r.model, r.service_tier, r.batch, r.context_window, r.inference_geo,
           r.uncached_input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
           r.output_tokens, r.input_audio_tokens, r.output_audio_tokens, r.input_image_tokens, r.output_image_tokens,
           r.requests, r.web_search_requests,
           r.input_tokens,
           r.input_tokens + coalesce(r.output_tokens, 0),
           (pr.price).id, (pr.price).match_kind, (pr.price).pattern, (pr.price).origin,
           pg_catalog.trim_scale(e.token_cost),
           pg_catalog.trim_scale(e.web_search_cost),
           pg_catalog.trim_scale(e.token_cost + e.web_search_cost),
           (e.token_cost + e.web_search_cost) IS NOT NULL
    FROM (SELECT u.*, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                 aispend._input_tokens(u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                       u.cache_write_1h_tokens) AS input_tokens
          FROM aispend.usage u
          WHERE u.account = p_account AND u.bucket_start >= p_lo AND u.bucket_start < p_hi) r
    JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
      ON pr.day = r.day AND pr.long_context = aispend._long_context(r.context_window)
     AND coalesce(pr.model, '') = coalesce(r.model, '')
    CROSS JOIN LATERAL aispend._usage_estimate(pr.price, r.uncached_input_tokens, r.cache_read_tokens,
        r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.input_audio_tokens, r.output_audio_tokens,
        r.input_image_tokens, r.output_image_tokens, r.batch, r.service_tier, r.inference_geo, r.web_search_requests) e;
END
$$;
COMMENT ON FUNCTION aispend._usage_costed_rows(name, timestamptz, timestamptz) IS
    'Internal: what aispend._usage_costed_between returns.';

CREATE FUNCTION aispend._usage_costed_between(account name, lo timestamptz, hi timestamptz)
RETURNS TABLE (account name, provider text, day date, bucket_start timestamptz, bucket_width text, endpoint text,
               workspace_id text, api_key_id text, model text, service_tier text, batch boolean,
               context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
               input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
               output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint,
               total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text,
               estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric,
               priced boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.* FROM aispend._usage_costed_rows(_usage_costed_between.account, _usage_costed_between.lo,
                                               _usage_costed_between.hi) x;
END;
COMMENT ON FUNCTION aispend._usage_costed_between(name, timestamptz, timestamptz) IS
    'Internal: aispend.usage_costed for one account and buckets in [lo, hi).';

-- The accounts with usage, read through a function: the view below then reads no distributed table itself
-- (on Citus its per-account function would otherwise run on the shards).
CREATE FUNCTION aispend._usage_accounts()
RETURNS TABLE (account name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT u.account FROM aispend.usage u;
END
$$;
COMMENT ON FUNCTION aispend._usage_accounts() IS 'Internal: the accounts that have usage rows.';

CREATE VIEW aispend.usage_costed WITH (security_invoker = true) AS
SELECT uc.*
FROM aispend._usage_accounts() a
CROSS JOIN LATERAL aispend._usage_costed_between(a.account, '-infinity', 'infinity') uc;
COMMENT ON VIEW aispend.usage_costed IS
    'Every usage row with its estimated cost: tokens of each kind x the price row valid on the usage day '
    '(aispend.price_for), batch / service-tier / inference_geo multipliers applied. Unpriced rows have '
    'estimated_cost NULL and priced false, never 0.';
COMMENT ON COLUMN aispend.usage_costed.provider IS 'openai or anthropic: the account''s provider (aispend.account_provider).';
COMMENT ON COLUMN aispend.usage_costed.day IS 'UTC day of the bucket.';
COMMENT ON COLUMN aispend.usage_costed.input_tokens IS 'All input: uncached + cache read + cache write 5m + cache write 1h.';
COMMENT ON COLUMN aispend.usage_costed.total_tokens IS 'input_tokens + output tokens (design.md section 7).';
COMMENT ON COLUMN aispend.usage_costed.price_id IS 'aispend.model_prices.id of the price row used; NULL = unpriced.';
COMMENT ON COLUMN aispend.usage_costed.price_match_kind IS 'exact, prefix or regex: how the price row matched.';
COMMENT ON COLUMN aispend.usage_costed.price_pattern IS 'The pattern of the price row used.';
COMMENT ON COLUMN aispend.usage_costed.price_origin IS 'shipped, import or manual.';
COMMENT ON COLUMN aispend.usage_costed.estimated_token_cost IS 'USD for the tokens (multipliers applied); NULL when unpriced.';
COMMENT ON COLUMN aispend.usage_costed.estimated_web_search_cost IS 'USD for server-side web searches (per 1,000 price); NULL when unpriced.';
COMMENT ON COLUMN aispend.usage_costed.estimated_cost IS
    'estimated_token_cost + estimated_web_search_cost, exact numeric USD; NULL (never 0) when the model or a '
    'needed price is missing.';
COMMENT ON COLUMN aispend.usage_costed.priced IS 'false: no price row, or a price for a token kind the row uses is missing.';

CREATE VIEW aispend.unpriced_models WITH (security_invoker = true) AS
SELECT uc.provider, uc.account, uc.model, min(uc.day) AS first_day, max(uc.day) AS last_day,
       count(*) AS usage_rows,
       sum(uc.input_tokens)::bigint AS input_tokens, sum(uc.output_tokens)::bigint AS output_tokens,
       sum(uc.total_tokens)::bigint AS total_tokens,
       sum(uc.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(uc.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
       sum(uc.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(uc.requests)::bigint AS requests, sum(uc.web_search_requests)::bigint AS web_search_requests,
       bool_or(uc.price_id IS NOT NULL) AS has_price_row
FROM aispend.usage_costed uc
WHERE NOT uc.priced
GROUP BY uc.provider, uc.account, uc.model;
COMMENT ON VIEW aispend.unpriced_models IS
    'Models whose usage could not be priced (no matching price row on the day, or a missing price for a token '
    'kind used), with their volumes: they are excluded from estimates, never counted as $0. Add a row to '
    'aispend.model_prices (origin manual) or import the feed to price them.';
COMMENT ON COLUMN aispend.unpriced_models.model IS 'Model id as the provider reports it (NULL: usage not grouped by model).';
COMMENT ON COLUMN aispend.unpriced_models.first_day IS 'First UTC day with unpriced usage of the model.';
COMMENT ON COLUMN aispend.unpriced_models.last_day IS 'Last UTC day with unpriced usage of the model.';
COMMENT ON COLUMN aispend.unpriced_models.requests IS 'Model requests (OpenAI); NULL for Anthropic.';
COMMENT ON COLUMN aispend.unpriced_models.has_price_row IS
    'true: a price row matched but lacks a price for a token kind used (e.g. web searches, cache writes).';
