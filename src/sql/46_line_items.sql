-- 46_line_items.sql: how aispend reads a provider's cost line, and the lines it could not fully read.
-- The parser is the sync's own (src/core/line_item.cpp): an OpenAI line "[<surface> | ]<model>, <kind>" keeps
-- its model whatever the kind looks like, and the kind is classified where a rule knows it. A line whose model
-- or kind could not be read keeps its amount (it counts in every total) and is listed by
-- aispend.unrecognised_line_items, never re-filed silently.

CREATE FUNCTION aispend.parse_line_item(line_item text, OUT surface text, OUT model text, OUT kind text,
                                        OUT token_class text, OUT tier text)
RETURNS record
AS 'MODULE_PATHNAME', 'aispend_parse_line_item' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend.parse_line_item(text) IS
    'How the sync reads an OpenAI cost line_item "[<surface> | ]<model>, <kind>": surface (evals, batch api, ...), '
    'model, kind (lower-cased, verbatim), token_class (input, cached_input, cache_write, output, audio_input, '
    'audio_output, image_input, image_output, tool, unrecognised) and tier (batch, priority, flex, scale).';

CREATE FUNCTION aispend.token_class(token_type text, cost_type text)
RETURNS text
AS 'MODULE_PATHNAME', 'aispend_token_class' LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend.token_class(text, text) IS
    'How the sync classifies an Anthropic cost line: its token_type (uncached_input_tokens, output_tokens, '
    'cache_read_input_tokens, cache_creation.ephemeral_1h_input_tokens, ...) as in aispend.parse_line_item; '
    '''tool'' for a line with a cost_type (web_search, code_execution) and no token type; else ''unrecognised''.';

CREATE VIEW aispend.unrecognised_line_items WITH (security_invoker = true) AS
SELECT c.account, aispend.account_provider(c.account) AS provider, c.line_item, c.model, c.token_type, c.cost_type,
       CASE WHEN c.model IS NULL THEN 'no model: counted in the "(no model: tool & service fees)" row'
            ELSE 'kind not classified: counted with its model' END AS effect,
       count(DISTINCT c.bucket_start)::integer AS days,
       (min(c.bucket_start) AT TIME ZONE 'UTC')::date AS first_day,
       (max(c.bucket_start) AT TIME ZONE 'UTC')::date AS last_day,
       sum(c.amount_usd) AS amount_usd
FROM aispend.costs c
WHERE c.token_class = 'unrecognised'
GROUP BY c.account, c.line_item, c.model, c.token_type, c.cost_type;
COMMENT ON VIEW aispend.unrecognised_line_items IS
    'Billed cost lines aispend could not fully read (token_class ''unrecognised''): per account and line, the '
    'days and the amount. Their amounts count in every total; this lists what to check (a new provider string).';
COMMENT ON COLUMN aispend.unrecognised_line_items.account IS 'The account.';
COMMENT ON COLUMN aispend.unrecognised_line_items.provider IS 'The account''s provider.';
COMMENT ON COLUMN aispend.unrecognised_line_items.line_item IS 'The line as the provider wrote it (OpenAI line_item, Anthropic description).';
COMMENT ON COLUMN aispend.unrecognised_line_items.model IS 'The model read from it (NULL: none could be read).';
COMMENT ON COLUMN aispend.unrecognised_line_items.token_type IS 'The kind read from it, verbatim (lower-cased).';
COMMENT ON COLUMN aispend.unrecognised_line_items.cost_type IS 'OpenAI surface (the part before " | ") or Anthropic cost_type.';
COMMENT ON COLUMN aispend.unrecognised_line_items.effect IS 'Where its amount is counted on the dashboard.';
COMMENT ON COLUMN aispend.unrecognised_line_items.days IS 'Number of UTC days with this line.';
COMMENT ON COLUMN aispend.unrecognised_line_items.first_day IS 'First UTC day with it.';
COMMENT ON COLUMN aispend.unrecognised_line_items.last_day IS 'Last UTC day with it.';
COMMENT ON COLUMN aispend.unrecognised_line_items.amount_usd IS 'Its total amount, US dollars (exact).';
