-- 45_estimates.sql: estimated cost of every usage row (aispend.usage_costed) and the models without a price
-- (aispend.unpriced_models). See docs/costs.md "Estimated cost" and "Unpriced".

-- The provider of a fact row: its workspace's provider (every synced fact names a workspace row), else the
-- provider implied by the usage endpoint (messages is Anthropic's only usage endpoint).
CREATE FUNCTION aispend._fact_provider(account name, workspace_id text, endpoint text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT w.provider FROM aispend.workspaces w
                 WHERE w.account = _fact_provider.account AND w.workspace_id = _fact_provider.workspace_id),
                (SELECT w.provider FROM aispend.workspaces w WHERE w.account = _fact_provider.account
                 ORDER BY w.workspace_id LIMIT 1),
                CASE WHEN _fact_provider.endpoint = 'messages' THEN 'anthropic'
                     WHEN _fact_provider.endpoint IS NOT NULL THEN 'openai' END);

CREATE VIEW aispend.usage_costed AS
SELECT u.account, x.provider, x.day, u.bucket_start, u.bucket_width, u.endpoint, u.workspace_id, u.api_key_id,
       u.model, u.service_tier, u.batch, u.context_window, u.inference_geo,
       u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
       u.output_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens, u.output_image_tokens,
       u.requests, u.web_search_requests,
       x.input_tokens,
       x.input_tokens + coalesce(u.output_tokens, 0) AS total_tokens,
       p.id AS price_id, p.match_kind AS price_match_kind, p.pattern AS price_pattern, p.origin AS price_origin,
       pg_catalog.trim_scale(c.token_cost) AS estimated_token_cost,
       pg_catalog.trim_scale(c.web_search_cost) AS estimated_web_search_cost,
       pg_catalog.trim_scale(c.token_cost + c.web_search_cost) AS estimated_cost,
       (c.token_cost + c.web_search_cost) IS NOT NULL AS priced
FROM aispend.usage u
CROSS JOIN LATERAL (
    SELECT aispend._fact_provider(u.account, u.workspace_id, u.endpoint) AS provider,
           (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
           coalesce(u.uncached_input_tokens, 0) + coalesce(u.cache_read_tokens, 0)
           + coalesce(u.cache_write_5m_tokens, 0) + coalesce(u.cache_write_1h_tokens, 0) AS input_tokens,
           u.context_window IS NOT NULL AND u.context_window NOT IN ('0-200k', '') AS long_context
) x
LEFT JOIN LATERAL aispend.price_for(x.provider, u.model, x.day, x.long_context) p ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.id IS NOT NULL THEN
               aispend._token_cost(p, u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                   u.cache_write_1h_tokens, u.output_tokens, u.input_audio_tokens,
                                   u.output_audio_tokens, u.input_image_tokens, u.output_image_tokens,
                                   u.batch, u.service_tier, u.inference_geo) END AS token_cost,
           CASE WHEN p.id IS NULL THEN NULL
                WHEN coalesce(u.web_search_requests, 0) = 0 THEN 0
                ELSE u.web_search_requests * p.web_search_per_k / 1000 END AS web_search_cost
) c;
COMMENT ON VIEW aispend.usage_costed IS
    'Every usage row with its estimated cost: tokens of each kind x the price row valid on the usage day '
    '(aispend.price_for), batch / service-tier / inference_geo multipliers applied. Unpriced rows have '
    'estimated_cost NULL and priced false, never 0.';
COMMENT ON COLUMN aispend.usage_costed.provider IS 'openai or anthropic (from the workspace row of the account).';
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

CREATE VIEW aispend.unpriced_models AS
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
