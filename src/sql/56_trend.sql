-- 56_trend.sql: the Trend column of every tab, one function so that every tab agrees.
--
--   previous = 0 and current = 0      -> 'flat', change 0
--   previous = 0 and current <> 0     -> 'new',  change NULL (no percentage from zero)
--   |change| < 1 percent              -> 'flat' (the tolerance: moves under 1% are noise)
--   change >= 1 percent               -> 'up'   (the dashboard's red arrow: spending more)
--   change <= -1 percent              -> 'down' (green arrow)
--   comparison period not synced      -> 'incomplete', change NULL (aispend.trend(current, previous, history_from))
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

-- The first UTC day from which every account in view (provider filter) has its history: the earliest of its
-- first synced window (a succeeded usage or costs run) and its first day with data. A trend compares with a
-- period; when that period starts before this day, some account was not synced that far back and the
-- comparison would read missing history as zero spend. An account never synced (facts loaded by hand) sets no
-- limit, as it settles every billed day (aispend.settled_before).
CREATE FUNCTION aispend.history_from(provider text DEFAULT 'all')
RETURNS date LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
BEGIN
    accounts := (aispend._provider_accounts(history_from.provider)).accounts;
    RETURN (SELECT max(LEAST(s.first_day, w.first_window))
            FROM aispend._rollup_state s
            JOIN (SELECT r.account, (min(r.window_start) AT TIME ZONE 'UTC')::date AS first_window
                  FROM aispend.sync_runs r
                  WHERE r.account = ANY (accounts) AND r.status = 'succeeded' AND r.endpoint IN ('usage', 'costs')
                  GROUP BY r.account) w ON w.account = s.account
            WHERE s.account = ANY (accounts));
END
$$;
COMMENT ON FUNCTION aispend.history_from(text) IS
    'The first UTC day from which every synced account of a provider filter (all, openai, anthropic, other) has '
    'history: per account the earlier of its first synced window and its first day with data; the latest of '
    'those. NULL: no synced account (facts loaded by hand set no limit).';

-- The day history starts, when a period's comparison period starts before it (its trends are incomplete);
-- NULL when the comparison period is covered.
CREATE FUNCTION aispend._incomplete_from(period daterange, provider text, compare_with daterange)
RETURNS date LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.d FROM (SELECT aispend.history_from(_incomplete_from.provider) AS d) h
    WHERE h.d > pg_catalog.lower(coalesce(_incomplete_from.compare_with, aispend.previous_period(_incomplete_from.period)));
END;
COMMENT ON FUNCTION aispend._incomplete_from(daterange, text, daterange) IS
    'Internal: the first day of history when a period''s comparison period is not fully covered by it, else NULL.';

-- The Trend of a figure whose comparison period may lie partly before the synced history: with history_from
-- set, no percentage (indicator 'incomplete', label 'history from <day>') rather than a growth from zero.
CREATE FUNCTION aispend.trend(current_value numeric, previous_value numeric, history_from date)
RETURNS TABLE (change_pct numeric, indicator text, label text)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT CASE WHEN history_from IS NULL THEN t.change_pct END,
           CASE WHEN history_from IS NULL THEN t.indicator ELSE 'incomplete' END,
           CASE WHEN history_from IS NULL THEN t.label ELSE 'history from ' || history_from::text END
    FROM aispend.trend(current_value, previous_value) t;
END;
COMMENT ON FUNCTION aispend.trend(numeric, numeric, date) IS
    'Trend as aispend.trend(current, previous), or, when history_from is given (the comparison period starts '
    'before the synced history), indicator ''incomplete'' with no change_pct and the label ''history from <day>''.';
