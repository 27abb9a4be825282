-- 50_periods.sql: the dashboard's periods. A period is a daterange of UTC days, '[first, last]' inclusive
-- (canonical form '[first, last+1)'). Every tab compares a period with aispend.previous_period(period): the
-- previous calendar period of the same kind, or the same number of days before a rolling period. See docs/dashboard-workspaces.md ("Periods").

CREATE FUNCTION aispend.utc_today()
RETURNS date LANGUAGE sql STABLE PARALLEL SAFE
RETURN (pg_catalog.now() AT TIME ZONE 'UTC')::date;
COMMENT ON FUNCTION aispend.utc_today() IS 'Today''s date in UTC (the day the dashboard''s periods end on).';

CREATE FUNCTION aispend.custom_period(first_day date, last_day date)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF first_day IS NULL OR last_day IS NULL OR first_day > last_day THEN
        RAISE EXCEPTION 'aispend: a period needs first_day <= last_day (got % .. %)', first_day, last_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_catalog.daterange(first_day, last_day, '[]');
END
$$;
COMMENT ON FUNCTION aispend.custom_period(date, date) IS
    'A custom period: the UTC days first_day..last_day, both included (a daterange).';

-- Named periods, relative to "today" (UTC, included: the current day is partial until it ends).
CREATE FUNCTION aispend.period(name text, today date DEFAULT aispend.utc_today())
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    k text := pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(name)), '[^a-z0-9]+', '_', 'g');
    n integer;
BEGIN
    IF today IS NULL THEN
        RAISE EXCEPTION 'aispend: period: today must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a range written as text ('[2026-09-01,2026-10-01)'): what a quoted range meant before periods had names
    IF pg_catalog.btrim(name) ~ '^[\[\(]' THEN
        RETURN aispend._check_period(pg_catalog.btrim(name)::daterange);
    END IF;
    IF k ~ '^last_[0-9]+_days?$' THEN
        n := (pg_catalog.regexp_match(k, '[0-9]+'))[1]::integer;
        IF n < 1 THEN
            RAISE EXCEPTION 'aispend: period "%" has no days', name USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN pg_catalog.daterange(today - (n - 1), today, '[]');
    END IF;
    CASE k
        WHEN 'today' THEN RETURN pg_catalog.daterange(today, today, '[]');
        WHEN 'yesterday' THEN RETURN pg_catalog.daterange(today - 1, today - 1, '[]');
        WHEN 'month_to_date', 'mtd', 'this_month' THEN
            RETURN pg_catalog.daterange(pg_catalog.date_trunc('month', today::timestamp)::date, today, '[]');
        WHEN 'previous_month', 'last_month' THEN
            RETURN pg_catalog.daterange((pg_catalog.date_trunc('month', today::timestamp) - interval '1 month')::date,
                                        pg_catalog.date_trunc('month', today::timestamp)::date, '[)');
        WHEN 'year_to_date', 'ytd', 'this_year' THEN
            RETURN pg_catalog.daterange(pg_catalog.date_trunc('year', today::timestamp)::date, today, '[]');
        WHEN 'previous_year', 'last_year' THEN
            RETURN pg_catalog.daterange((pg_catalog.date_trunc('year', today::timestamp) - interval '1 year')::date,
                                        pg_catalog.date_trunc('year', today::timestamp)::date, '[)');
        ELSE
            RAISE EXCEPTION 'aispend: unknown period "%"', name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use last_7_days, last_30_days, last_90_days, last_<N>_days, month_to_date, '
                             'previous_month, year_to_date, previous_year, today, yesterday, '
                             'or aispend.custom_period(first_day, last_day).';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend.period(text, date) IS
    'A named period of UTC days ending on today (included): last_7_days, last_30_days, last_90_days, last_<N>_days, '
    'month_to_date, previous_month, year_to_date, previous_year, today, yesterday. Spaces and dashes work too '
    '(''Last 30 days''); a range written as text (''[2026-09-01,2026-10-01)'') is that range.';

-- What a period is compared with, when the caller does not say (every tab takes compare_with):
--   whole calendar months (a month, a quarter, a year) -> as many whole months just before it;
--   any other range                                    -> the same number of days just before it (rolling).
-- A range cannot say whether "September 1st to 7th" is month to date or the last 7 days: by name it can, see
-- aispend.previous_period(name text).
CREATE FUNCTION aispend.previous_period(period daterange)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    f date := pg_catalog.lower(period);
    l date := pg_catalog.upper(period) - 1;
    months integer;
BEGIN
    IF period IS NULL OR pg_catalog.isempty(period) OR pg_catalog.lower_inf(period) OR pg_catalog.upper_inf(period) THEN
        RAISE EXCEPTION 'aispend: a period must be a non-empty, bounded daterange (got %)', period
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use aispend.period(''last_30_days'') or aispend.custom_period(first_day, last_day).';
    END IF;
    IF pg_catalog.date_part('day', f) = 1 AND pg_catalog.date_part('day', l + 1) = 1 THEN
        months := (pg_catalog.date_part('year', l)::integer * 12 + pg_catalog.date_part('month', l)::integer)
                - (pg_catalog.date_part('year', f)::integer * 12 + pg_catalog.date_part('month', f)::integer) + 1;
        RETURN pg_catalog.daterange((f - pg_catalog.make_interval(months => months))::date, f, '[)');
    END IF;
    RETURN pg_catalog.daterange(f - (l + 1 - f), f, '[)');
END
$$;
COMMENT ON FUNCTION aispend.previous_period(daterange) IS
    'What a period''s Trend compares with by default: whole calendar months with as many whole months before them '
    '(previous_month with the month before it), any other range with the same number of days just before it.';

-- The comparison period of a named period: month to date with the same days of the previous month (clamped to
-- its end), year to date with the same days of the previous year, the rolling ones (last_<N>_days, today,
-- yesterday) with as many days just before (last_30_days on September 30th is not "September"); the others
-- (previous_month, previous_year, a range written as text) as aispend.previous_period(range).
CREATE FUNCTION aispend.previous_period(name text, today date DEFAULT aispend.utc_today())
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    k text := pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(name)), '[^a-z0-9]+', '_', 'g');
    p daterange := aispend.period(name, today);
    step interval;
BEGIN
    step := CASE WHEN k IN ('month_to_date', 'mtd', 'this_month') THEN interval '1 month'
                 WHEN k IN ('year_to_date', 'ytd', 'this_year') THEN interval '1 year' END;
    IF k ~ '^(last_[0-9]+_days?|today|yesterday)$' THEN    -- rolling, even on a day it spans a whole month
        RETURN pg_catalog.daterange(pg_catalog.lower(p) - (pg_catalog.upper(p) - pg_catalog.lower(p)),
                                    pg_catalog.lower(p), '[)');
    END IF;
    IF step IS NULL THEN
        RETURN aispend.previous_period(p);
    END IF;
    RETURN pg_catalog.daterange((pg_catalog.lower(p) - step)::date, (pg_catalog.upper(p) - 1 - step)::date, '[]');
END
$$;
COMMENT ON FUNCTION aispend.previous_period(text, date) IS
    'What the named period (aispend.period(name, today)) is compared with: month_to_date with the same days of the '
    'previous month, year_to_date with the same days of the previous year, last_<N>_days, today and yesterday with '
    'as many days before, the others as aispend.previous_period(daterange). The tabs called with a period name use it.';

CREATE FUNCTION aispend.period_first_day(period daterange)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.lower(period);
COMMENT ON FUNCTION aispend.period_first_day(daterange) IS 'First UTC day of a period.';

CREATE FUNCTION aispend.period_last_day(period daterange)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.upper(period) - 1;
COMMENT ON FUNCTION aispend.period_last_day(daterange) IS 'Last UTC day of a period (included).';

CREATE VIEW aispend.periods AS
SELECT p.ord, p.name, p.label, aispend.period(p.name) AS period,
       aispend.period_first_day(aispend.period(p.name)) AS first_day,
       aispend.period_last_day(aispend.period(p.name)) AS last_day,
       pg_catalog.upper(aispend.period(p.name)) - pg_catalog.lower(aispend.period(p.name)) AS days,
       aispend.previous_period(p.name) AS previous_period
FROM (VALUES (1, 'last_7_days', 'Last 7 days'), (2, 'last_30_days', 'Last 30 days'),
             (3, 'last_90_days', 'Last 90 days'), (4, 'month_to_date', 'Month to date'),
             (5, 'previous_month', 'Previous month'), (6, 'year_to_date', 'Year to date'),
             (7, 'last_365_days', 'Last 365 days')) AS p(ord, name, label);
COMMENT ON VIEW aispend.periods IS 'The named periods as of today (UTC) with their previous period: a picker for BI tools.';
COMMENT ON COLUMN aispend.periods.name IS 'Argument of aispend.period(name).';
COMMENT ON COLUMN aispend.periods.label IS 'What the dashboard''s period picker shows.';
COMMENT ON COLUMN aispend.periods.period IS 'The UTC days of the period (daterange, canonical [first, last+1)).';
COMMENT ON COLUMN aispend.periods.first_day IS 'First day (UTC).';
COMMENT ON COLUMN aispend.periods.last_day IS 'Last day (UTC, included).';
COMMENT ON COLUMN aispend.periods.days IS 'Number of days.';
COMMENT ON COLUMN aispend.periods.previous_period IS 'What Trend compares the period with (aispend.previous_period).';
COMMENT ON COLUMN aispend.periods.ord IS 'Display order.';
