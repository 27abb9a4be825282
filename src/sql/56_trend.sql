-- 56_trend.sql: the Trend column of every tab, one function so that every tab agrees.
--
--   previous = 0 and current = 0      -> 'flat', change 0
--   previous = 0 and current <> 0     -> 'new',  change NULL (no percentage from zero)
--   |change| < 1 percent              -> 'flat' (the tolerance: moves under 1% are noise)
--   change >= 1 percent               -> 'up'   (the dashboard's red arrow: spending more)
--   change <= -1 percent              -> 'down' (green arrow)
-- change_pct = 100 * (current - previous) / |previous|, rounded to one decimal (half away from zero).

-- Declared as a one-row table function so that PostgreSQL inlines it into each tab's query: called once per
-- row as an ordinary function it cost ~9 us a row, 45 ms of the API keys tab at 5,000 keys. A SQL-standard body
-- (bound to its functions and operators when created) rather than a SET search_path, which would stop inlining.
CREATE FUNCTION aispend.trend(current_value numeric, previous_value numeric)
RETURNS TABLE (change_pct numeric, indicator text, label text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT t.pct, t.ind,
           CASE t.ind WHEN 'new' THEN 'new'
                      WHEN 'up' THEN '↑ ' || t.pct::text || '%'
                      WHEN 'down' THEN '↓ ' || pg_catalog.abs(t.pct)::text || '%'
                      ELSE '→ ' || t.pct::text || '%' END
    FROM (SELECT r.pct,
                 CASE WHEN coalesce(previous_value, 0) = 0 AND coalesce(current_value, 0) = 0 THEN 'flat'
                      WHEN coalesce(previous_value, 0) = 0 THEN 'new'
                      WHEN pg_catalog.abs(r.exact) < 1 THEN 'flat'
                      WHEN r.exact > 0 THEN 'up'
                      ELSE 'down' END AS ind
          FROM (SELECT x.exact,
                       CASE WHEN coalesce(previous_value, 0) = 0 AND coalesce(current_value, 0) = 0 THEN 0.0
                            ELSE pg_catalog.round(x.exact, 1) END AS pct
                FROM (SELECT 100 * (coalesce(current_value, 0) - previous_value)
                             / NULLIF(pg_catalog.abs(previous_value), 0) AS exact) x) r) t;
END;
COMMENT ON FUNCTION aispend.trend(numeric, numeric) IS
    'Trend of a figure against the previous period: change_pct (one decimal; NULL when the previous was 0), '
    'indicator up / down / flat (|change| < 1%) / new (previous 0), label (''↑ 12.5%'', ''↓ 3.0%'', ''→ 0.4%'', ''new''). '
    'Every tab uses it.';
