-- 41_price_import.sql: aispend.import_prices(feed jsonb) loads the genai-prices v2 feed
-- (github.com/pydantic/genai-prices, prices/new_data/v2/data.json) into aispend.model_prices as origin 'import'.
-- See docs/costs.md "Importing the genai-prices feed".

-- A literal as an ARE regular expression.
CREATE FUNCTION aispend._regex_literal(s text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.regexp_replace(s, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g');

-- One feed match clause (equals, starts_with, ends_with, contains, regex, or, and) as one regular expression.
CREATE FUNCTION aispend._feed_clause_regex(clause jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF clause ? 'equals' THEN
        RETURN '^' || aispend._regex_literal(clause ->> 'equals') || '$';
    ELSIF clause ? 'starts_with' THEN
        RETURN '^' || aispend._regex_literal(clause ->> 'starts_with');
    ELSIF clause ? 'ends_with' THEN
        RETURN aispend._regex_literal(clause ->> 'ends_with') || '$';
    ELSIF clause ? 'contains' THEN
        RETURN aispend._regex_literal(clause ->> 'contains');
    ELSIF clause ? 'regex' THEN
        RETURN clause ->> 'regex';
    ELSIF clause ? 'or' THEN
        RETURN (SELECT '(?:' || pg_catalog.string_agg('(?:' || aispend._feed_clause_regex(c) || ')', '|' ORDER BY o) || ')'
                FROM pg_catalog.jsonb_array_elements(clause -> 'or') WITH ORDINALITY AS e(c, o));
    ELSIF clause ? 'and' THEN
        -- every part must match somewhere: one lookahead per part, anchored at the start
        RETURN (SELECT '^' || pg_catalog.string_agg('(?=.*?(?:' || aispend._feed_clause_regex(c) || '))', '' ORDER BY o)
                FROM pg_catalog.jsonb_array_elements(clause -> 'and') WITH ORDINALITY AS e(c, o));
    END IF;
    RAISE EXCEPTION 'aispend: unknown match clause in the price feed: %', clause
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

-- A feed match as catalogue rules: a top-level or is split into its alternatives; equals becomes an exact
-- rule, starts_with a prefix rule, anything else one regex rule.
CREATE FUNCTION aispend._feed_rules(clause jsonb)
RETURNS TABLE (match_kind text, pattern text, ord integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT CASE WHEN c ? 'equals' THEN 'exact' WHEN c ? 'starts_with' THEN 'prefix' ELSE 'regex' END,
           CASE WHEN c ? 'equals' THEN c ->> 'equals' WHEN c ? 'starts_with' THEN c ->> 'starts_with'
                ELSE aispend._feed_clause_regex(c) END,
           o::integer
    FROM pg_catalog.jsonb_array_elements(CASE WHEN clause ? 'or' THEN clause -> 'or'
                                              ELSE pg_catalog.jsonb_build_array(clause) END)
         WITH ORDINALITY AS e(c, o)
$$;

-- One price of a feed price object at a prompt size: a number, or {base, tiers: [{start, price}]} where the
-- tier with the greatest start <= min_input applies (start 0: base).
CREATE FUNCTION aispend._feed_price(v jsonb, min_input bigint)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v IS NULL OR pg_catalog.jsonb_typeof(v) = 'null' THEN NULL
            WHEN pg_catalog.jsonb_typeof(v) = 'number' THEN v::text::numeric
            ELSE coalesce((SELECT (t ->> 'price')::numeric
                           FROM pg_catalog.jsonb_array_elements(v -> 'tiers') t
                           WHERE (t ->> 'start')::bigint <= min_input AND min_input > 0
                           ORDER BY (t ->> 'start')::bigint DESC LIMIT 1),
                          (v ->> 'base')::numeric) END;

CREATE FUNCTION aispend.import_prices(feed jsonb, feed_date date DEFAULT CURRENT_DATE)
RETURNS TABLE (provider text, models integer, price_rows integer, replaced_rows integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    prov record;
    n_models integer;
    n_rows integer;
    n_old integer;
BEGIN
    IF pg_catalog.jsonb_typeof(feed) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'aispend: the genai-prices v2 feed is a JSON array of providers'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR prov IN
        SELECT p ->> 'id' AS id, p AS body
        FROM pg_catalog.jsonb_array_elements(feed) p
        WHERE p ->> 'id' IN ('openai', 'anthropic')
    LOOP
        DELETE FROM aispend.model_prices mp WHERE mp.origin = 'import' AND mp.provider = prov.id;
        GET DIAGNOSTICS n_old = ROW_COUNT;

        WITH m AS (
            SELECT m.body, m.o AS model_ord
            FROM pg_catalog.jsonb_array_elements(prov.body -> 'models') WITH ORDINALITY AS m(body, o)
        ),
        -- price entries: one object, or a list of {constraint: {start_date}, prices}; entries with other
        -- constraints (time of day) are skipped. The first entry applies before every start_date.
        entries AS (
            SELECT m.body AS model, m.model_ord, e.body -> 'prices' AS prices,
                   (e.body -> 'constraint' ->> 'start_date')::date AS start_date, e.o AS entry_ord
            FROM m
            CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                CASE WHEN pg_catalog.jsonb_typeof(m.body -> 'prices') = 'array' THEN m.body -> 'prices'
                     ELSE pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('prices', m.body -> 'prices'))
                END) WITH ORDINALITY AS e(body, o)
            WHERE NOT coalesce(e.body -> 'constraint', '{}') ?| ARRAY['start_time', 'end_time']
        ),
        dated AS (
            SELECT en.*,
                   CASE WHEN row_number() OVER (PARTITION BY en.model_ord ORDER BY en.entry_ord) = 1
                        THEN '-infinity'::date ELSE coalesce(en.start_date, '-infinity') END AS valid_from
            FROM entries en
        ),
        ranged AS (
            SELECT d.*, lead(d.valid_from) OVER (PARTITION BY d.model_ord ORDER BY d.valid_from, d.entry_ord) AS valid_to
            FROM dated d
        ),
        -- tier rows: 0 (base) and every tier start named by any price of the entry
        tiers AS (
            SELECT r.*, t.min_input
            FROM ranged r
            CROSS JOIN LATERAL (
                SELECT 0::bigint AS min_input
                UNION
                SELECT (tr ->> 'start')::bigint
                FROM pg_catalog.jsonb_each(r.prices) kv, pg_catalog.jsonb_array_elements(kv.value -> 'tiers') tr
                WHERE pg_catalog.jsonb_typeof(kv.value) = 'object'
            ) t
            WHERE r.valid_to IS NULL OR r.valid_to > r.valid_from
        ),
        ins AS (
            INSERT INTO aispend.model_prices
                (provider, match_kind, pattern, model_label, valid_from, valid_to, min_input_tokens,
                 input_per_mtok, cache_read_per_mtok, cache_write_5m_per_mtok, cache_write_1h_per_mtok,
                 output_per_mtok, input_audio_per_mtok, output_audio_per_mtok, input_image_per_mtok,
                 output_image_per_mtok, web_search_per_k, batch_multiplier, tier_multipliers, geo_multipliers,
                 currency, origin, source, checked_on, note)
            SELECT prov.id, ru.match_kind, ru.pattern, t.model ->> 'id', t.valid_from, t.valid_to, t.min_input,
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'input_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'cache_read_mtok', t.min_input),
                   aispend._feed_price(coalesce(t.prices -> 'cache_write_5m_mtok', t.prices -> 'cache_write_mtok'),
                                       t.min_input),
                   aispend._feed_price(t.prices -> 'cache_write_1h_mtok', t.min_input),
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'output_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'input_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'input_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'web_searches_kcount', 0),
                   0.5,
                   CASE prov.id WHEN 'openai' THEN '{"flex": 0.5}'::jsonb ELSE '{}'::jsonb END,
                   CASE prov.id WHEN 'anthropic' THEN '{"us": 1.1}'::jsonb ELSE '{}'::jsonb END,
                   'USD', 'import',
                   coalesce(prov.body -> 'pricing_urls' ->> 0, 'https://github.com/pydantic/genai-prices'),
                   import_prices.feed_date,
                   'genai-prices v2 feed, model ' || (t.model ->> 'id')
                   || CASE WHEN t.prices = '{}' THEN ' (free: empty price object)' ELSE '' END
            FROM tiers t
            CROSS JOIN LATERAL aispend._feed_rules(t.model -> 'match') ru
            ORDER BY t.model_ord, ru.ord, t.valid_from, t.min_input
            RETURNING 1
        )
        SELECT count(*) INTO n_rows FROM ins;
        SELECT pg_catalog.jsonb_array_length(prov.body -> 'models') INTO n_models;

        provider := prov.id;
        models := n_models;
        price_rows := n_rows;
        replaced_rows := n_old;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.import_prices(jsonb, date) IS
    'Loads the genai-prices v2 feed (a JSON array of providers) for providers openai and anthropic (others are '
    'ignored): replaces every origin = import row of those providers, never touches shipped or manual rows. '
    'Match rules: equals -> exact, starts_with -> prefix, others -> regex; date-constrained prices -> valid_from '
    '/ valid_to; tiered prices -> long-context rows (min_input_tokens). feed_date becomes checked_on.';
