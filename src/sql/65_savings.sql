-- 65_savings.sql: the savings advisor. What a scope's actual usage would have cost at another model's list
-- prices on the same days, each token kind priced as that model prices it; the cheaper models of the same class
-- per key; what prompt caching saves and could save. A re-pricing of token counts, never a judgement of quality.
-- See docs/savings.md.

-- The tokens a scope sent in a period, per day, model and what sets their price (batch, service tier, inference
-- geography, long context), by kind. Usage rows only: billed lines without usage cannot be re-priced.
-- PL/pgSQL (on Citus an SQL function cannot read a distributed table), with the accounts of the provider filter
-- read first.
CREATE FUNCTION aispend._token_mix_rows(p_period daterange, p_provider text, p_workspace text, p_api_key text,
                                        p_model text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint,
               cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint,
               output_audio bigint, input_image bigint, output_image bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    providers text[];
BEGIN
    PERFORM aispend._check_period(p_period);
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    SELECT u.account, ap.provider, u.workspace_id, u.api_key_id, u.model, (u.bucket_start AT TIME ZONE 'UTC')::date,
           coalesce(u.batch, false), u.service_tier, u.inference_geo, aispend._long_context(u.context_window),
           sum(u.uncached_input_tokens)::bigint, sum(u.cache_read_tokens)::bigint,
           sum(u.cache_write_5m_tokens)::bigint, sum(u.cache_write_1h_tokens)::bigint, sum(u.output_tokens)::bigint,
           sum(u.input_audio_tokens)::bigint, sum(u.output_audio_tokens)::bigint,
           sum(u.input_image_tokens)::bigint, sum(u.output_image_tokens)::bigint
    FROM (-- everything in the period
          SELECT u.* FROM aispend.usage u
          WHERE p_workspace IS NULL AND p_api_key IS NULL
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
          UNION ALL
          -- a key's rows, found by the (account, api_key_id, bucket_start) index (in one workspace, if given)
          SELECT u.* FROM aispend.api_keys k
          JOIN aispend.usage u ON u.account = k.account AND u.api_key_id = k.api_key_id
          WHERE p_api_key IS NOT NULL AND aispend._api_key_is(k.name, k.api_key_id, p_api_key)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
            AND (p_workspace IS NULL OR u.workspace_id = p_workspace
                 OR EXISTS (SELECT 1 FROM aispend.workspaces w WHERE w.account = u.account
                              AND w.workspace_id = u.workspace_id
                              AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)))
          UNION ALL
          -- a workspace's rows, found by the (account, workspace_id, bucket_start) index
          SELECT u.* FROM aispend.workspaces w
          JOIN aispend.usage u ON u.account = w.account AND u.workspace_id = w.workspace_id
          WHERE p_api_key IS NULL AND p_workspace IS NOT NULL
            AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))) u
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
      ON ap.account = u.account
    WHERE u.model IS NOT NULL
      AND (p_model IS NULL OR u.model = p_model)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
END
$$;
COMMENT ON FUNCTION aispend._token_mix_rows(daterange, text, text, text, text) IS
    'Internal (savings): what aispend._token_mix returns.';

CREATE FUNCTION aispend._token_mix(period daterange, provider text, workspace text, api_key text, model text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint,
               cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint,
               output_audio bigint, input_image bigint, output_image bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.* FROM aispend._token_mix_rows(_token_mix.period, _token_mix.provider, _token_mix.workspace,
                                            _token_mix.api_key, _token_mix.model) x;
END;
COMMENT ON FUNCTION aispend._token_mix(daterange, text, text, text, text) IS
    'Internal (savings): the tokens of a scope per day, model and price modifiers, by kind.';

-- The kinds of tokens a price row cannot price as the model would: none of its own price for a kind the usage
-- has. 'input' or 'output' leave the cost unknown; the others are priced by aispend's stated defaults (cache
-- reads at the input price, cache writes at 1.25 x / 2 x input, audio and image at the text price, an unknown
-- service tier at 1 x) and named so that nobody takes them for the model's own price.
CREATE FUNCTION aispend._missing_prices(p aispend.model_prices, uncached bigint, cache_read bigint,
                                        cache_write_5m bigint, cache_write_1h bigint, output bigint,
                                        input_audio bigint, output_audio bigint, input_image bigint,
                                        output_image bigint, batch boolean, service_tier text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN p.id IS NULL THEN ARRAY['no price']
       ELSE pg_catalog.array_remove(ARRAY[
           CASE WHEN p.input_per_mtok IS NULL AND coalesce(uncached, 0) + coalesce(cache_read, 0)
                     + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0) > 0 THEN 'input' END,
           CASE WHEN p.output_per_mtok IS NULL AND output > 0 THEN 'output' END,
           CASE WHEN p.cache_read_per_mtok IS NULL AND cache_read > 0 THEN 'cache read (priced as input)' END,
           CASE WHEN p.cache_write_5m_per_mtok IS NULL AND cache_write_5m > 0
                THEN 'cache write 5m (priced at 1.25 x input)' END,
           CASE WHEN p.cache_write_1h_per_mtok IS NULL AND cache_write_1h > 0
                THEN 'cache write 1h (priced at 2 x input)' END,
           CASE WHEN p.input_audio_per_mtok IS NULL AND input_audio > 0 THEN 'audio input (priced as text)' END,
           CASE WHEN p.output_audio_per_mtok IS NULL AND output_audio > 0 THEN 'audio output (priced as text)' END,
           CASE WHEN p.input_image_per_mtok IS NULL AND input_image > 0 THEN 'image input (priced as text)' END,
           CASE WHEN p.output_image_per_mtok IS NULL AND output_image > 0 THEN 'image output (priced as text)' END,
           CASE WHEN NOT coalesce(batch, false) AND service_tier IS NOT NULL AND service_tier <> 'batch'
                     AND NOT p.tier_multipliers ? service_tier
                     AND service_tier NOT IN ('default', 'standard', 'standard_only', 'auto')
                THEN 'service tier ' || service_tier || ' (priced at 1 x)' END], NULL) END;
COMMENT ON FUNCTION aispend._missing_prices(aispend.model_prices, bigint, bigint, bigint, bigint, bigint, bigint,
                                            bigint, bigint, bigint, boolean, text) IS
    'Internal (savings): the token kinds a price row has no price of its own for (input or output: the cost is '
    'unknown; the others: priced by a stated default).';

-- The missing prices that leave a re-priced cost unknown (the others are stated defaults).
CREATE FUNCTION aispend._unknown_cost()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['input', 'output', 'no price'];
COMMENT ON FUNCTION aispend._unknown_cost() IS 'Internal (savings): the missing prices that leave a cost unknown.';

-- The models of the same class a model could be swapped for: those the organisation uses (so its accounts can
-- call them), of the same provider unless across_providers. Class 'other' (unknown names, fees) has none.
CREATE FUNCTION aispend._alternatives_of(p_provider text, p_model text, p_across_providers boolean)
RETURNS TABLE (provider text, model text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT DISTINCT m.provider, m.model FROM aispend.models m
    WHERE m.model <> p_model AND aispend.model_class(p_model) <> 'other'
      AND aispend.model_class(m.model) = aispend.model_class(p_model)
      AND (p_across_providers OR m.provider = p_provider);
END
$$;
COMMENT ON FUNCTION aispend._alternatives_of(text, text, boolean) IS
    'Internal (savings): what aispend._alternatives returns (PL/pgSQL: on Citus the models are a distributed table).';

CREATE FUNCTION aispend._alternatives(provider text, model text, across_providers boolean)
RETURNS TABLE (provider text, model text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.* FROM aispend._alternatives_of(_alternatives.provider, _alternatives.model,
                                             _alternatives.across_providers) a;
END;
COMMENT ON FUNCTION aispend._alternatives(text, text, boolean) IS
    'Internal (savings): the models of the same class a model could be swapped for (used by the organisation).';

-- Every row of a token mix priced at list prices: at target_model's (target NULL: each row at its own model's,
-- what aispend estimates), and with alternatives also at every alternative of its model. The price rule is
-- looked up once per (provider, model, day, long context).
CREATE FUNCTION aispend._priced_mix(period daterange, provider text, workspace text, api_key text, model text,
                                    target_provider text, target_model text, alternatives boolean DEFAULT false,
                                    across_providers boolean DEFAULT false)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               price_provider text, price_model text, tokens bigint, input_tokens bigint, cache_read bigint,
               cost numeric, missing text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH x AS MATERIALIZED (
        SELECT * FROM aispend._token_mix(_priced_mix.period, _priced_mix.provider, _priced_mix.workspace,
                                         _priced_mix.api_key, _priced_mix.model)),
    m AS MATERIALIZED (
        SELECT x.*, coalesce(_priced_mix.target_provider, x.provider) AS price_provider,
               coalesce(_priced_mix.target_model, x.model) AS price_model
        FROM x
        UNION ALL
        SELECT x.*, a.provider, a.model
        FROM (SELECT DISTINCT x.provider, x.model FROM x) s
        CROSS JOIN LATERAL aispend._alternatives(s.provider, s.model, _priced_mix.across_providers) a
        JOIN x ON x.provider = s.provider AND x.model = s.model
        WHERE _priced_mix.alternatives),
    prices AS MATERIALIZED (
        SELECT k.price_provider, k.price_model, k.day, k.long_context, p AS price
        FROM (SELECT DISTINCT m.price_provider, m.price_model, m.day, m.long_context FROM m) k
        LEFT JOIN LATERAL aispend.price_for(k.price_provider, k.price_model, k.day, k.long_context) p ON true)
    SELECT m.account, m.provider, m.workspace_id, m.api_key_id, m.model, m.day, m.price_provider, m.price_model,
           coalesce(m.uncached, 0) + coalesce(m.cache_read, 0) + coalesce(m.cache_write_5m, 0)
           + coalesce(m.cache_write_1h, 0) + coalesce(m.output, 0),
           coalesce(m.uncached, 0) + coalesce(m.cache_read, 0) + coalesce(m.cache_write_5m, 0)
           + coalesce(m.cache_write_1h, 0),
           coalesce(m.cache_read, 0),
           CASE WHEN (pr.price).id IS NOT NULL
                THEN aispend._token_cost(pr.price, m.uncached, m.cache_read, m.cache_write_5m, m.cache_write_1h,
                                         m.output, m.input_audio, m.output_audio, m.input_image, m.output_image,
                                         m.batch, m.service_tier, m.inference_geo) END,
           aispend._missing_prices(pr.price, m.uncached, m.cache_read, m.cache_write_5m, m.cache_write_1h, m.output,
                                   m.input_audio, m.output_audio, m.input_image, m.output_image, m.batch,
                                   m.service_tier)
    FROM m
    JOIN prices pr ON pr.price_provider = m.price_provider AND pr.price_model = m.price_model AND pr.day = m.day
                  AND pr.long_context = m.long_context;
END;
COMMENT ON FUNCTION aispend._priced_mix(daterange, text, text, text, text, text, text, boolean, boolean) IS
    'Internal (savings): a scope''s token mix priced at list prices day by day: at a target model''s (NULL: each '
    'row at its own model''s), and with alternatives at every alternative of its model too.';

-- A re-pricing needs a model to re-price at.
CREATE FUNCTION aispend._check_target_model(target_model text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF target_model IS NULL OR pg_catalog.btrim(target_model) = '' THEN
        RAISE EXCEPTION 'aispend: reprice needs a target_model' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. aispend.reprice(''last_30_days'', ''claude-haiku-4-5'', api_key => ''my-key'').';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_target_model(text) IS 'Internal: 22023 when reprice is given no target model.';

-- The provider whose price list a model is re-priced at: the one it is used with here, else the one whose
-- catalogue prices it.
CREATE FUNCTION aispend._model_provider(model text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN coalesce((SELECT min(m.provider) FROM aispend.models m WHERE m.model = _model_provider.model),
                    (SELECT min(p.provider) FROM aispend.model_prices p
                     WHERE aispend._price_rule_matches(p.match_kind, p.pattern, _model_provider.model)));
END
$$;
COMMENT ON FUNCTION aispend._model_provider(text) IS
    'Internal (savings): the provider a model belongs to (where it is used, else whose price list has it).';

CREATE FUNCTION aispend.reprice(target_model text, period daterange DEFAULT aispend.period('last_30_days'),
                                provider text DEFAULT 'all',
                                workspace text DEFAULT NULL, api_key text DEFAULT NULL, model text DEFAULT NULL,
                                target_provider text DEFAULT NULL)
RETURNS TABLE (target_model text, target_provider text, models text[], tokens bigint, list_cost numeric,
               repriced_cost numeric, saving numeric, saving_pct numeric, missing_prices text[],
               unpriced_list boolean, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH t AS (
        SELECT reprice.target_model AS model,
               coalesce(reprice.target_provider, aispend._model_provider(reprice.target_model)) AS provider),
    own AS (
        SELECT sum(o.cost) AS cost, bool_or(o.cost IS NULL) AS unpriced, sum(o.tokens)::bigint AS tokens,
               pg_catalog.array_agg(DISTINCT o.model ORDER BY o.model) AS models
        FROM aispend._priced_mix(reprice.period, reprice.provider, reprice.workspace, reprice.api_key,
                                 reprice.model, NULL, NULL) o),
    tx AS MATERIALIZED (
        SELECT x.* FROM t, aispend._priced_mix(reprice.period, reprice.provider, reprice.workspace,
                                               reprice.api_key, reprice.model, t.provider, t.model) x),
    tgt AS (
        SELECT sum(tx.cost) AS cost, bool_or(tx.cost IS NULL) AS unpriced,
               (SELECT pg_catalog.array_agg(DISTINCT k.kind ORDER BY k.kind)
                FROM tx tx2, pg_catalog.unnest(tx2.missing) AS k(kind)) AS missing
        FROM tx)
    SELECT t.model, t.provider, own.models, coalesce(own.tokens, 0), pg_catalog.round(coalesce(own.cost, 0), 2),
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(coalesce(tgt.cost, 0), 2) END,
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(own.unpriced, false)
                     AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(coalesce(own.cost, 0) - coalesce(tgt.cost, 0), 2) END,
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(own.unpriced, false) AND own.cost > 0
                     AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(100 * (own.cost - tgt.cost) / own.cost, 1) END,
           coalesce(tgt.missing, '{}'), coalesce(own.unpriced, false),
           'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM t, own, tgt
    WHERE aispend._check_period(reprice.period) IS NOT NULL AND aispend._check_target_model(reprice.target_model);
END;
COMMENT ON FUNCTION aispend.reprice(text, daterange, text, text, text, text, text) IS
    'What the usage of a scope (provider, workspace, api_key, model: the usage of that model only; all of it by '
    'default) in a period would have cost at '
    'target_model''s list prices on the same days: every token kind (uncached input, cache reads, cache writes of '
    '5 minutes and 1 hour, output, audio, image), batch and service-tier multipliers, long-context rates, as that '
    'model prices them; dated price changes apply day by day. list_cost is the same usage at its own models'' '
    'list prices (as aispend estimates it); saving = list_cost - repriced_cost. missing_prices names the kinds the '
    'target has no price of its own for: input or output (then repriced_cost is NULL, not a guess), or a stated '
    'default (cache reads as input, ...). A re-pricing of token counts, not a judgement of quality.';

-- Per key and workspace and model used: the cheaper models of the same class, each the same usage re-priced.
CREATE FUNCTION aispend.savings_opportunities(period daterange DEFAULT aispend.period('last_30_days'),
                                              provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                              api_key text DEFAULT NULL, across_providers boolean DEFAULT false,
                                              min_saving numeric DEFAULT 0.01)
RETURNS TABLE (account name, workspace text, api_key text, model text, class text, alternative text,
               alternative_provider text, list_cost numeric, repriced_cost numeric, saving numeric,
               saving_pct numeric, share_of_key_pct numeric, assumptions text[], workspace_id text,
               api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH px AS MATERIALIZED (
        SELECT * FROM aispend._priced_mix(savings_opportunities.period, savings_opportunities.provider,
                                          savings_opportunities.workspace, savings_opportunities.api_key, NULL, NULL,
                                          NULL, true, savings_opportunities.across_providers)),
    p AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.provider, x.model, x.price_provider, x.price_model,
               sum(x.cost) AS cost, bool_or(x.cost IS NULL OR x.missing && aispend._unknown_cost()) AS unknown,
               (SELECT coalesce(pg_catalog.array_agg(DISTINCT k.kind ORDER BY k.kind), '{}')
                FROM px y, pg_catalog.unnest(y.missing) AS k(kind)
                WHERE y.account = x.account AND y.workspace_id = x.workspace_id AND y.api_key_id = x.api_key_id
                  AND y.model = x.model AND y.price_model = x.price_model
                  AND y.price_provider = x.price_provider) AS assumptions
        FROM px x
        GROUP BY 1, 2, 3, 4, 5, 6, 7),
    own AS (
        SELECT p.*, sum(p.cost) OVER (PARTITION BY p.account, p.workspace_id, p.api_key_id) AS key_cost
        FROM p WHERE p.price_model = p.model AND p.price_provider = p.provider),
    o AS (
        SELECT a.account, a.workspace_id, a.api_key_id, a.model, a.price_model, a.price_provider, own.cost AS list_cost,
               a.cost AS repriced, own.key_cost, a.assumptions
        FROM p a
        JOIN own ON own.account = a.account AND own.workspace_id = a.workspace_id AND own.api_key_id = a.api_key_id
                AND own.model = a.model
        WHERE NOT (a.price_model = a.model AND a.price_provider = a.provider)
          AND NOT a.unknown AND NOT own.unknown
          AND own.cost - a.cost >= coalesce(savings_opportunities.min_saving, 0))
    SELECT o.account, coalesce(w.name, o.workspace_id), aispend._api_key_label(o.api_key_id, k.name), o.model,
           aispend.model_class(o.model), o.price_model, o.price_provider, pg_catalog.round(o.list_cost, 2),
           pg_catalog.round(o.repriced, 2), pg_catalog.round(o.list_cost - o.repriced, 2),
           pg_catalog.round(100 * (o.list_cost - o.repriced) / NULLIF(o.list_cost, 0), 1),
           pg_catalog.round(100 * o.list_cost / NULLIF(o.key_cost, 0), 1), o.assumptions, o.workspace_id,
           o.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM o
    LEFT JOIN aispend._workspaces() w ON w.account = o.account AND w.workspace_id = o.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = o.account AND k.api_key_id = o.api_key_id
    ORDER BY o.list_cost - o.repriced DESC, o.account, o.workspace_id, o.api_key_id, o.model, o.price_model;
END;
COMMENT ON FUNCTION aispend.savings_opportunities(daterange, text, text, text, boolean, numeric) IS
    'Per API key (and workspace) and model used in a period: every cheaper model of the same class '
    '(aispend.model_class) that the organisation uses, of the same provider unless across_providers, with the '
    'key''s usage of that model at its own list prices (list_cost) and re-priced at the alternative''s '
    '(repriced_cost), the saving in dollars and percent, and the share of the key''s list cost the model has. '
    'Alternatives without a price of their own for input or output are left out; stated defaults are named in '
    'assumptions. Sorted by saving. A re-pricing of token counts, not a judgement of quality.';

-- Prompt caching per key and model: how much of the input was read from the cache, what that saved against the
-- model's uncached input price, and what a stated cache-hit rate would save on top.
CREATE FUNCTION aispend.cache_efficiency(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                         api_key text DEFAULT NULL, hit_rate numeric DEFAULT 0.5,
                                         min_input_tokens bigint DEFAULT 1000000)
RETURNS TABLE (account name, workspace text, api_key text, model text, input_tokens bigint, cache_read_tokens bigint,
               cached_pct numeric, caching_saved numeric, saving_at_hit_rate numeric, uncached_heavy boolean,
               workspace_id text, api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH x AS MATERIALIZED (
        SELECT * FROM aispend._token_mix(cache_efficiency.period, cache_efficiency.provider,
                                         cache_efficiency.workspace, cache_efficiency.api_key, NULL)),
    prices AS MATERIALIZED (
        SELECT k.provider, k.model, k.day, k.long_context, p AS price
        FROM (SELECT DISTINCT x.provider, x.model, x.day, x.long_context FROM x) k
        LEFT JOIN LATERAL aispend.price_for(k.provider, k.model, k.day, k.long_context) p ON true),
    -- a cache read costs (input - cache read price) less than the same token uncached, times the row's multipliers
    r AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.model,
               coalesce(x.uncached, 0) + coalesce(x.cache_read, 0) + coalesce(x.cache_write_5m, 0)
               + coalesce(x.cache_write_1h, 0) AS input,
               coalesce(x.cache_read, 0) AS cache_read,
               (pr.price).cache_read_per_mtok IS NOT NULL AS caches,
               aispend._token_cost(pr.price, 1000000, 0, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier, x.inference_geo)
               - aispend._token_cost(pr.price, 0, 1000000, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier,
                                     x.inference_geo) AS per_mtok_saved
        FROM x
        JOIN prices pr ON pr.provider = x.provider AND pr.model = x.model AND pr.day = x.day
                      AND pr.long_context = x.long_context),
    g AS (
        SELECT r.account, r.workspace_id, r.api_key_id, r.model, sum(r.input)::bigint AS input,
               sum(r.cache_read)::bigint AS cache_read, bool_or(r.caches) AS caches,
               sum(r.cache_read * r.per_mtok_saved) / 1000000 AS saved,
               -- uncached input moved to the cache until the stated hit rate is reached (priced day by day)
               sum(GREATEST(cache_efficiency.hit_rate * r.input - r.cache_read, 0) * r.per_mtok_saved) / 1000000
                   AS would_save
        FROM r GROUP BY 1, 2, 3, 4)
    SELECT g.account, coalesce(w.name, g.workspace_id), aispend._api_key_label(g.api_key_id, k.name), g.model, g.input,
           g.cache_read, pg_catalog.round(100.0 * g.cache_read / NULLIF(g.input, 0), 1),
           pg_catalog.round(g.saved, 2), pg_catalog.round(g.would_save, 2),
           coalesce(g.caches, false) AND g.cache_read = 0 AND g.input >= cache_efficiency.min_input_tokens,
           g.workspace_id, g.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM g
    LEFT JOIN aispend._workspaces() w ON w.account = g.account AND w.workspace_id = g.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = g.account AND k.api_key_id = g.api_key_id
    WHERE g.input > 0
    ORDER BY g.would_save DESC NULLS LAST, g.account, g.workspace_id, g.api_key_id, g.model;
END;
COMMENT ON FUNCTION aispend.cache_efficiency(daterange, text, text, text, numeric, bigint) IS
    'Prompt caching per API key and model in a period: input tokens, those read from the cache (cached_pct), what '
    'the cache reads saved against the model''s uncached input price (caching_saved, list prices with the row''s '
    'batch / tier / geography multipliers), what reaching hit_rate (share of input read from the cache) would save '
    'on top (saving_at_hit_rate, 0 where it is reached), and uncached_heavy: at least min_input_tokens of input, '
    'no cache read, on a model with a cache price. A re-pricing of token counts, not a judgement of quality.';
