-- 66_coverage.sql: middleware coverage. Spend captured by your own gateway or middleware is loaded into
-- aispend.middleware_spend (COPY or INSERT); aispend.middleware_coverage compares it with the spend the
-- providers bill (aispend.costs), per provider and overall: "what percentage of spending is captured".

CREATE TABLE aispend.middleware_spend (
    account      name,
    day          date        NOT NULL,
    provider     text        NOT NULL,
    workspace_id text,
    api_key_id   text,
    model        text,
    cost         numeric     NOT NULL,
    source       text,
    loaded_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX middleware_spend_day_idx ON aispend.middleware_spend (day, provider);
COMMENT ON TABLE aispend.middleware_spend IS
    'Spend captured by your own gateway / middleware, loaded by you: '
    '\copy aispend.middleware_spend (day, provider, workspace_id, api_key_id, model, cost) FROM ''spend.csv'' WITH (FORMAT csv, HEADER)';
COMMENT ON COLUMN aispend.middleware_spend.account IS 'The account (aispend server) when known; NULL: matched by provider only.';
COMMENT ON COLUMN aispend.middleware_spend.day IS 'UTC day of the spend.';
COMMENT ON COLUMN aispend.middleware_spend.provider IS 'openai, anthropic, ... (lower case).';
COMMENT ON COLUMN aispend.middleware_spend.workspace_id IS 'Provider workspace / project id, where the gateway knows it.';
COMMENT ON COLUMN aispend.middleware_spend.api_key_id IS 'Provider API key id, where the gateway knows it.';
COMMENT ON COLUMN aispend.middleware_spend.model IS 'Model, where known.';
COMMENT ON COLUMN aispend.middleware_spend.cost IS 'Spend in US dollars as the gateway measured it.';
COMMENT ON COLUMN aispend.middleware_spend.source IS 'Free text: which gateway / load.';
COMMENT ON COLUMN aispend.middleware_spend.loaded_at IS 'When the row was loaded.';
SELECT pg_catalog.pg_extension_config_dump('aispend.middleware_spend', '');

-- The spend the middleware captured in a period, per provider. PL/pgSQL: the table is distributed on Citus, where
-- an SQL function (like the one below) cannot read it.
CREATE FUNCTION aispend._middleware_captured(p_period daterange, p_accounts name[], p_provider text)
RETURNS TABLE (provider text, captured numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT pg_catalog.lower(s.provider), sum(s.cost)
    FROM aispend.middleware_spend s
    WHERE s.day >= pg_catalog.lower(p_period) AND s.day < pg_catalog.upper(p_period)
      AND (p_accounts IS NULL OR s.account IS NULL OR s.account = ANY (p_accounts))
      AND aispend._provider_matches(pg_catalog.lower(s.provider), p_provider)
    GROUP BY 1;
END
$$;
COMMENT ON FUNCTION aispend._middleware_captured(daterange, name[], text) IS
    'Internal: the middleware''s captured spend of a period per provider (aispend.middleware_coverage).';

CREATE FUNCTION aispend.middleware_coverage(period daterange DEFAULT aispend.period('last_30_days'),
                                            accounts name[] DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (provider text, billed_cost numeric, captured_cost numeric, captured_pct numeric,
               uncaptured_cost numeric, uncaptured_pct numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH b AS (
        SELECT t.provider, sum(t.cost) AS billed
        FROM aispend._entity_totals('w', middleware_coverage.period, middleware_coverage.provider) t
        WHERE accounts IS NULL OR t.account = ANY (accounts)
        GROUP BY t.provider),
    m AS (
        SELECT c.provider, c.captured
        FROM aispend._middleware_captured(middleware_coverage.period, middleware_coverage.accounts,
                                          middleware_coverage.provider) c),
    j AS (
        SELECT coalesce(b.provider, m.provider) AS provider, coalesce(b.billed, 0) AS billed,
               coalesce(m.captured, 0) AS captured
        FROM b FULL JOIN m ON m.provider = b.provider),
    a AS (
        SELECT j.provider, j.billed, j.captured, 1 AS ord FROM j
        UNION ALL
        SELECT 'all', coalesce(sum(j.billed), 0), coalesce(sum(j.captured), 0), 2 FROM j)
    SELECT a.provider, pg_catalog.round(a.billed, 2), pg_catalog.round(a.captured, 2),
           pg_catalog.round(100 * a.captured / NULLIF(a.billed, 0), 2),
           pg_catalog.round(GREATEST(a.billed - a.captured, 0), 2),
           pg_catalog.round(100 * GREATEST(a.billed - a.captured, 0) / NULLIF(a.billed, 0), 2)
    FROM a ORDER BY a.ord, a.provider;
END;
COMMENT ON FUNCTION aispend.middleware_coverage(daterange, name[], text) IS
    'Share of the spend the dashboard shows (the Workspaces tab''s cost: billed, allocated or estimated) that your '
    'middleware captured (aispend.middleware_spend) in a period, per provider and overall (provider ''all''); '
    'accounts: only these accounts'' spend (middleware rows '
    'without an account always count); provider: all, openai, anthropic, other, as on the tabs. Money rounded to the cent; billed_cost of provider ''all'' is the '
    'Workspaces tab''s Total Cost for the same period. captured_pct can exceed 100 if the gateway over-counts.';

CREATE VIEW aispend.middleware_coverage_30d AS
SELECT * FROM aispend.middleware_coverage(aispend.period('last_30_days'));
COMMENT ON VIEW aispend.middleware_coverage_30d IS 'aispend.middleware_coverage for the last 30 days (for BI tools).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.provider IS 'Provider, or ''all'' for the overall row.';
COMMENT ON COLUMN aispend.middleware_coverage_30d.billed_cost IS 'Spend the dashboard shows for the provider (the Workspaces tab''s cost).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.captured_cost IS 'Spend your middleware captured (aispend.middleware_spend).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.captured_pct IS 'captured / billed, percent, two decimals.';
COMMENT ON COLUMN aispend.middleware_coverage_30d.uncaptured_cost IS 'Billed spend not captured (other sources).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.uncaptured_pct IS 'Uncaptured share, percent.';
