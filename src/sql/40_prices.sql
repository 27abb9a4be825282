-- 40_prices.sql: the effective-dated price catalogue aispend.model_prices and the rule that picks a price.
-- See docs/costs.md. 41_price_import.sql loads the genai-prices v2 feed, 42_price_seed.sql ships list prices.
--
-- aispend.model_prices is the one global table of aispend (no account column: a Citus reference table); the
-- catalog test tests/pgtap/schema_catalog.sql exempts it by name.

CREATE TABLE aispend.model_prices (
    id                     bigint  GENERATED ALWAYS AS IDENTITY,
    provider               text    NOT NULL,
    match_kind             text    NOT NULL CHECK (match_kind IN ('exact', 'prefix', 'regex')),
    pattern                text    NOT NULL,
    model_label            text,
    valid_from             date    NOT NULL DEFAULT '-infinity',
    valid_to               date,
    min_input_tokens       bigint  NOT NULL DEFAULT 0 CHECK (min_input_tokens >= 0),
    input_per_mtok         numeric CHECK (input_per_mtok >= 0),
    cache_read_per_mtok    numeric CHECK (cache_read_per_mtok >= 0),
    cache_write_5m_per_mtok numeric CHECK (cache_write_5m_per_mtok >= 0),
    cache_write_1h_per_mtok numeric CHECK (cache_write_1h_per_mtok >= 0),
    output_per_mtok        numeric CHECK (output_per_mtok >= 0),
    input_audio_per_mtok   numeric CHECK (input_audio_per_mtok >= 0),
    output_audio_per_mtok  numeric CHECK (output_audio_per_mtok >= 0),
    input_image_per_mtok   numeric CHECK (input_image_per_mtok >= 0),
    output_image_per_mtok  numeric CHECK (output_image_per_mtok >= 0),
    web_search_per_k       numeric CHECK (web_search_per_k >= 0),
    batch_multiplier       numeric NOT NULL DEFAULT 0.5 CHECK (batch_multiplier >= 0),
    tier_multipliers       jsonb   NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(tier_multipliers) = 'object'),
    geo_multipliers        jsonb   NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(geo_multipliers) = 'object'),
    currency               text    NOT NULL DEFAULT 'USD',
    origin                 text    NOT NULL DEFAULT 'manual' CHECK (origin IN ('shipped', 'import', 'manual')),
    source                 text    NOT NULL DEFAULT 'manual',
    checked_on             date,
    note                   text,
    CONSTRAINT model_prices_pkey PRIMARY KEY (id),
    CONSTRAINT model_prices_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT model_prices_regex_ok CHECK (match_kind <> 'regex' OR '' ~ pattern OR NOT '' ~ pattern)
);
CREATE INDEX model_prices_lookup_idx ON aispend.model_prices (provider, match_kind, pattern);
COMMENT ON TABLE aispend.model_prices IS
    'Price catalogue: per provider and model match rule, effective-dated list prices in USD per million tokens. '
    'Global (no account; a reference table). Rows of origin manual are never touched by aispend.import_prices.';
COMMENT ON COLUMN aispend.model_prices.id IS 'Surrogate key; aispend.usage_costed.price_id names the row used.';
COMMENT ON COLUMN aispend.model_prices.provider IS 'openai or anthropic (the provider option of the account).';
COMMENT ON COLUMN aispend.model_prices.match_kind IS
    'exact (model = pattern), prefix (model starts with pattern) or regex (model ~ pattern, POSIX ARE).';
COMMENT ON COLUMN aispend.model_prices.pattern IS 'The model id, model id prefix or regular expression.';
COMMENT ON COLUMN aispend.model_prices.model_label IS 'Human name of the priced model (feed model id, display name).';
COMMENT ON COLUMN aispend.model_prices.valid_from IS 'First UTC usage day the row applies to (-infinity: always).';
COMMENT ON COLUMN aispend.model_prices.valid_to IS 'First UTC usage day the row no longer applies to (exclusive); NULL: open.';
COMMENT ON COLUMN aispend.model_prices.min_input_tokens IS
    '0 for the base prices; N > 0 for a long-context tier row (prompts of N or more input tokens incl. cache reads '
    'and writes). Used for usage rows the provider marks long-context (Anthropic context_window 200k-1M).';
COMMENT ON COLUMN aispend.model_prices.input_per_mtok IS 'USD per million uncached input (text) tokens.';
COMMENT ON COLUMN aispend.model_prices.cache_read_per_mtok IS 'USD per million cached-input / cache-hit tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.cache_write_5m_per_mtok IS
    'USD per million 5-minute cache-write tokens (OpenAI''s only cache write); NULL: 1.25 x input.';
COMMENT ON COLUMN aispend.model_prices.cache_write_1h_per_mtok IS 'USD per million 1-hour cache-write tokens; NULL: 2 x input.';
COMMENT ON COLUMN aispend.model_prices.output_per_mtok IS 'USD per million output tokens (reasoning included).';
COMMENT ON COLUMN aispend.model_prices.input_audio_per_mtok IS 'USD per million audio input tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.output_audio_per_mtok IS 'USD per million audio output tokens; NULL: output price.';
COMMENT ON COLUMN aispend.model_prices.input_image_per_mtok IS 'USD per million image input tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.output_image_per_mtok IS 'USD per million image output tokens; NULL: output price.';
COMMENT ON COLUMN aispend.model_prices.web_search_per_k IS 'USD per 1,000 server-side web searches; NULL: searches unpriced.';
COMMENT ON COLUMN aispend.model_prices.batch_multiplier IS
    'Factor on token prices for batch usage (OpenAI batch = true, Anthropic service_tier batch); 0.5 = 50% off.';
COMMENT ON COLUMN aispend.model_prices.tier_multipliers IS
    'Factor per other service_tier, e.g. {"flex": 0.5, "priority": 1.75}; a tier not named costs 1 x.';
COMMENT ON COLUMN aispend.model_prices.geo_multipliers IS 'Factor per inference_geo, e.g. {"us": 1.1}; a geo not named costs 1 x.';
COMMENT ON COLUMN aispend.model_prices.currency IS 'Currency of the prices (USD).';
COMMENT ON COLUMN aispend.model_prices.origin IS
    'shipped (installed with aispend), import (aispend.import_prices; replaced by the next import) or manual (yours; '
    'wins over the others and survives imports).';
COMMENT ON COLUMN aispend.model_prices.source IS 'Where the price comes from: a URL, or ''manual''.';
COMMENT ON COLUMN aispend.model_prices.checked_on IS 'When the price was last checked against its source.';
COMMENT ON COLUMN aispend.model_prices.note IS 'Free text (caveats, confidence).';

-- pg_dump keeps imported and hand-made prices; shipped rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('aispend.model_prices', 'WHERE origin <> ''shipped''');
SELECT pg_catalog.pg_extension_config_dump('aispend.model_prices_id_seq', '');

-- Whether a usage row's context window is priced at the long-context rates (Anthropic: above 200K input tokens).
CREATE FUNCTION aispend._long_context(context_window text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN context_window IS NOT NULL AND context_window NOT IN ('0-200k', '');
COMMENT ON FUNCTION aispend._long_context(text) IS 'Internal: a usage row priced at the long-context rates.';

-- True when a rule matches a model id (not STRICT: a STRICT function with a CASE is never inlined).
CREATE FUNCTION aispend._price_rule_matches(match_kind text, pattern text, model text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE match_kind WHEN 'exact' THEN model = pattern
                       WHEN 'prefix' THEN pg_catalog.starts_with(model, pattern)
                       WHEN 'regex' THEN model ~ pattern END;

-- The price row for a model on a UTC day: the most specific matching rule valid that day. Order:
--   1. origin manual before the others (a person's override wins),
--   2. exact, then prefix, then regex,
--   3. the longer pattern,
--   4. origin import before shipped (the fresher feed),
--   5. for long-context usage the highest long-context tier row of that rule (else its base row),
--   6. the latest valid_from, then the lowest id.
CREATE FUNCTION aispend.price_for(provider text, model text, day date, long_context boolean DEFAULT false)
RETURNS SETOF aispend.model_prices
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT p.*
    FROM aispend.model_prices p
    WHERE p.provider = price_for.provider
      AND aispend._price_rule_matches(p.match_kind, p.pattern, price_for.model)
      AND p.valid_from <= price_for.day AND (p.valid_to IS NULL OR price_for.day < p.valid_to)
      AND (p.min_input_tokens = 0 OR coalesce(price_for.long_context, false))
    ORDER BY p.origin = 'manual' DESC,
             CASE p.match_kind WHEN 'exact' THEN 0 WHEN 'prefix' THEN 1 ELSE 2 END,
             pg_catalog.length(p.pattern) DESC,
             p.origin = 'import' DESC,
             p.min_input_tokens DESC,
             p.valid_from DESC,
             p.id
    LIMIT 1
$$;
COMMENT ON FUNCTION aispend.price_for(text, text, date, boolean) IS
    'The price row for a model on a UTC usage day (no row: unpriced). Most specific rule wins: manual first, then '
    'exact > prefix > regex, longer pattern, import before shipped, long-context tier row when long_context, '
    'latest valid_from, lowest id.';

-- Estimated cost in USD of one usage row's tokens at one price row (NULL when a needed price is missing).
-- All input = uncached + cache_read + cache_write_5m + cache_write_1h; audio and image tokens are subsets of
-- uncached input and of output, priced at their own price where the row has one.
CREATE FUNCTION aispend._token_cost(p aispend.model_prices,
    uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint,
    input_audio bigint, output_audio bigint, input_image bigint, output_image bigint,
    batch boolean, service_tier text, inference_geo text)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    CASE WHEN coalesce(batch, false) OR service_tier = 'batch' THEN p.batch_multiplier
         ELSE coalesce((p.tier_multipliers ->> service_tier)::numeric, 1) END
    * coalesce((p.geo_multipliers ->> inference_geo)::numeric, 1)
    * ( CASE WHEN coalesce(uncached, 0) - coalesce(input_audio, 0) - coalesce(input_image, 0) > 0
             THEN (uncached - coalesce(input_audio, 0) - coalesce(input_image, 0)) * p.input_per_mtok ELSE 0 END
      + CASE WHEN input_audio > 0 THEN input_audio * coalesce(p.input_audio_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN input_image > 0 THEN input_image * coalesce(p.input_image_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN cache_read > 0 THEN cache_read * coalesce(p.cache_read_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN cache_write_5m > 0 THEN cache_write_5m * coalesce(p.cache_write_5m_per_mtok, 1.25 * p.input_per_mtok)
             ELSE 0 END
      + CASE WHEN cache_write_1h > 0 THEN cache_write_1h * coalesce(p.cache_write_1h_per_mtok, 2 * p.input_per_mtok)
             ELSE 0 END
      + CASE WHEN coalesce(output, 0) - coalesce(output_audio, 0) - coalesce(output_image, 0) > 0
             THEN (output - coalesce(output_audio, 0) - coalesce(output_image, 0)) * p.output_per_mtok ELSE 0 END
      + CASE WHEN output_audio > 0 THEN output_audio * coalesce(p.output_audio_per_mtok, p.output_per_mtok) ELSE 0 END
      + CASE WHEN output_image > 0 THEN output_image * coalesce(p.output_image_per_mtok, p.output_per_mtok) ELSE 0 END
      ) / 1000000
);
