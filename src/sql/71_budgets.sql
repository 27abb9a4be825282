-- 71_budgets.sql: budgets as rows, the spend of any scope per day, the month-end (period-end) forecast and the
-- budgets' status. See docs/budgets.md; their alerts are in 73_alerts.sql.
--
-- aispend.budgets has no account column: a budget may span accounts (the organisation, a provider, a workspace
-- name shown in several accounts). Like aispend.model_prices it is a shared table (a Citus reference table).

CREATE TABLE aispend.budgets (
    name          text        NOT NULL,
    scope_kind    text        NOT NULL DEFAULT 'organisation'
                              CHECK (scope_kind IN ('organisation', 'provider', 'account', 'workspace', 'api_key',
                                                    'model')),
    scope         text,
    period_kind   text        NOT NULL DEFAULT 'month' CHECK (period_kind IN ('month', 'week', 'day', 'custom')),
    custom_period daterange,
    amount_usd    numeric     NOT NULL CHECK (amount_usd > 0),
    thresholds    numeric[]   NOT NULL DEFAULT '{50,80,100}',
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by    name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT budgets_pkey PRIMARY KEY (name),
    CONSTRAINT budgets_scope_given CHECK ((scope_kind = 'organisation') = (scope IS NULL)),
    CONSTRAINT budgets_custom_period CHECK ((period_kind = 'custom') = (custom_period IS NOT NULL)
                                           AND (custom_period IS NULL OR NOT (pg_catalog.isempty(custom_period)
                                                OR pg_catalog.lower_inf(custom_period)
                                                OR pg_catalog.upper_inf(custom_period)))),
    CONSTRAINT budgets_thresholds CHECK (0 < ALL (thresholds))
);
COMMENT ON TABLE aispend.budgets IS
    'Budgets: an amount in US dollars for a scope and a period, with alert thresholds in percent. Managed with '
    'aispend.set_budget / aispend.drop_budget or plain SQL; read with aispend.budgets_status().';
COMMENT ON COLUMN aispend.budgets.name IS 'The budget''s name (unique).';
COMMENT ON COLUMN aispend.budgets.scope_kind IS
    'organisation (everything), provider (openai, anthropic, other), account, workspace (a name shown, so combined '
    'workspaces count together, or an id), api_key (a name or an id), model.';
COMMENT ON COLUMN aispend.budgets.scope IS 'The provider, account, workspace, key or model; NULL for the organisation.';
COMMENT ON COLUMN aispend.budgets.period_kind IS
    'month, week (Monday to Sunday), day (calendar, UTC) or custom (custom_period).';
COMMENT ON COLUMN aispend.budgets.custom_period IS 'The days of a custom budget (a bounded daterange).';
COMMENT ON COLUMN aispend.budgets.amount_usd IS 'The amount of the budget per period, US dollars.';
COMMENT ON COLUMN aispend.budgets.thresholds IS 'Alert thresholds in percent of the amount (e.g. 50, 80, 100).';
COMMENT ON COLUMN aispend.budgets.created_at IS 'When the budget was set.';
COMMENT ON COLUMN aispend.budgets.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.budgets', '');

CREATE FUNCTION aispend.set_budget(name text, amount_usd numeric, scope_kind text DEFAULT 'organisation',
                                   scope text DEFAULT NULL, period_kind text DEFAULT 'month',
                                   thresholds numeric[] DEFAULT '{50,80,100}', custom_period daterange DEFAULT NULL)
RETURNS aispend.budgets LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO aispend.budgets AS b (name, amount_usd, scope_kind, scope, period_kind, thresholds, custom_period)
    VALUES (set_budget.name, set_budget.amount_usd, set_budget.scope_kind, set_budget.scope, set_budget.period_kind,
            set_budget.thresholds, set_budget.custom_period)
    ON CONFLICT (name) DO UPDATE
       SET amount_usd = excluded.amount_usd, scope_kind = excluded.scope_kind, scope = excluded.scope,
           period_kind = excluded.period_kind, thresholds = excluded.thresholds,
           custom_period = excluded.custom_period
    RETURNING b.*;
END;
COMMENT ON FUNCTION aispend.set_budget(text, numeric, text, text, text, numeric[], daterange) IS
    'Sets (or replaces) a budget: SELECT aispend.set_budget(''AI total'', 5000) for the organisation per month, '
    'aispend.set_budget(''Support'', 800, ''workspace'', ''Customer Support Bot'').';

CREATE FUNCTION aispend.drop_budget(name text)
RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    WITH d AS (DELETE FROM aispend.budgets b WHERE b.name = drop_budget.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d);
END;
COMMENT ON FUNCTION aispend.drop_budget(text) IS 'Removes a budget; false when there was none of that name.';

-- A budget scope, checked: a kind aispend knows, and a value where the kind needs one.
CREATE FUNCTION aispend._check_scope(scope_kind text, scope text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF scope_kind IS NULL OR scope_kind NOT IN ('organisation', 'provider', 'account', 'workspace', 'api_key', 'model')
       OR (scope_kind = 'organisation') <> (scope IS NULL) THEN
        RAISE EXCEPTION 'aispend: invalid budget scope % %', coalesce(scope_kind, 'NULL'), coalesce(scope, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use organisation (with no scope), or provider, account, workspace, api_key, model with '
                         'its name or id.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_scope(text, text) IS 'Internal: 22023 for an unknown or incomplete budget scope.';

-- The cost of a scope per UTC day, every day of [from_day, to_day] (0 on days without anything), from the
-- daily rollup (row-level security applies: a team sees its own spend).
CREATE FUNCTION aispend.scope_daily_cost(scope_kind text, scope text, from_day date, to_day date)
RETURNS TABLE (day date, cost numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.day, x.cost
    FROM aispend._slice_daily(pg_catalog.daterange(scope_daily_cost.from_day, scope_daily_cost.to_day, '[]'),
                              CASE WHEN scope_daily_cost.scope_kind = 'provider' THEN scope_daily_cost.scope
                                   ELSE 'all' END,
                              CASE WHEN scope_daily_cost.scope_kind = 'account' THEN scope_daily_cost.scope::name END,
                              CASE WHEN scope_daily_cost.scope_kind = 'workspace' THEN scope_daily_cost.scope END,
                              CASE WHEN scope_daily_cost.scope_kind = 'api_key' THEN scope_daily_cost.scope END,
                              CASE WHEN scope_daily_cost.scope_kind = 'model' THEN scope_daily_cost.scope END) x
    WHERE aispend._check_scope(scope_daily_cost.scope_kind, scope_daily_cost.scope)
    ORDER BY x.day;
END;
COMMENT ON FUNCTION aispend.scope_daily_cost(text, text, date, date) IS
    'The cost of a budget scope (organisation, provider, account, workspace, api_key, model) per UTC day of '
    '[from_day, to_day], 0 on days without anything. Exact figures.';

-- The period of a budget that contains a day.
CREATE FUNCTION aispend._budget_period(period_kind text, custom_period daterange, day date)
RETURNS daterange LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE period_kind
    WHEN 'month' THEN pg_catalog.daterange(pg_catalog.date_trunc('month', day::timestamp)::date,
                                           (pg_catalog.date_trunc('month', day::timestamp) + interval '1 month')::date)
    WHEN 'week' THEN pg_catalog.daterange(pg_catalog.date_trunc('week', day::timestamp)::date,
                                          (pg_catalog.date_trunc('week', day::timestamp) + interval '7 days')::date)
    WHEN 'day' THEN pg_catalog.daterange(day, day + 1)
    ELSE custom_period END;
COMMENT ON FUNCTION aispend._budget_period(text, daterange, date) IS
    'Internal: the period (month, Monday-to-Sunday week, day, or the custom range) of a budget containing a day.';

-- The spend of a scope at the end of a period, forecast on as_of (see docs/budgets.md "Forecast"):
--   spent      the complete days of the period before as_of (today is still being billed);
--   forecast   spent + for every remaining day (as_of included) the level of the last 7 days (their mean cost)
--              times the day's weekday factor: the median cost of that weekday over the 28 days before as_of
--              relative to the mean of the seven medians (weekends and weekdays differ; a trend shows in the level);
--   low, high  the same with the 25th and 75th percentiles of each weekday: the recent variation;
--   naive      spent / elapsed days x the period's days (linear extrapolation), for comparison.
-- A day with no data counts as 0: a scope that just started has a low forecast, and says so (history_days).
CREATE FUNCTION aispend.forecast(period daterange DEFAULT aispend._budget_period('month', NULL, aispend.utc_today()),
                                 scope_kind text DEFAULT 'organisation', scope text DEFAULT NULL,
                                 as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (period daterange, spent numeric, forecast numeric, low numeric, high numeric, naive numeric,
               days_elapsed integer, days_left integer, history_days integer)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH p AS (
        SELECT pg_catalog.lower(aispend._check_period(forecast.period)) AS f, pg_catalog.upper(forecast.period) AS u,
               LEAST(GREATEST(forecast.as_of, pg_catalog.lower(forecast.period)), pg_catalog.upper(forecast.period)) AS t),
    hist AS (
        SELECT pg_catalog.date_part('isodow', h.day)::integer AS dow, h.cost
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.t - 28, p.t - 1) h),
    -- the weekly shape: each weekday's median over the 28 days, relative to their mean (1 when all are 0) ...
    per_dow AS (
        SELECT hist.dow, pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY hist.cost) AS mid,
               pg_catalog.percentile_cont(0.25) WITHIN GROUP (ORDER BY hist.cost) AS lo,
               pg_catalog.percentile_cont(0.75) WITHIN GROUP (ORDER BY hist.cost) AS hi
        FROM hist GROUP BY hist.dow),
    shape AS (
        SELECT d.dow, CASE WHEN m.mean > 0 THEN d.mid / m.mean ELSE 1 END AS mid,
               CASE WHEN m.mean > 0 THEN d.lo / m.mean ELSE 1 END AS lo,
               CASE WHEN m.mean > 0 THEN d.hi / m.mean ELSE 1 END AS hi
        FROM per_dow d, (SELECT avg(per_dow.mid) AS mean FROM per_dow) m),
    -- ... times the level of the last 7 days (a trend shows in it)
    level AS (
        SELECT coalesce(avg(h.cost), 0) AS v
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.t - 7, p.t - 1) h),
    rest AS (
        SELECT coalesce(sum(level.v * d.mid), 0) AS mid, coalesce(sum(level.v * d.lo), 0) AS lo,
               coalesce(sum(level.v * d.hi), 0) AS hi
        FROM p, level, pg_catalog.generate_series(p.t::timestamp, (p.u - 1)::timestamp, interval '1 day') AS r(day)
        JOIN shape d ON d.dow = pg_catalog.date_part('isodow', r.day)::integer),
    s AS (
        SELECT coalesce(sum(c.cost), 0) AS spent
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.f, p.t - 1) c
        WHERE p.t > p.f),
    h AS (
        SELECT (count(*) FILTER (WHERE hist.cost <> 0))::integer AS n FROM hist)
    SELECT forecast.period, pg_catalog.round(s.spent, 2),
           pg_catalog.round(s.spent + rest.mid::numeric, 2), pg_catalog.round(s.spent + rest.lo::numeric, 2),
           pg_catalog.round(s.spent + rest.hi::numeric, 2),
           CASE WHEN p.t > p.f THEN pg_catalog.round(s.spent / (p.t - p.f) * (p.u - p.f), 2) END,
           (p.t - p.f)::integer, (p.u - p.t)::integer, h.n
    FROM p, s, rest, h;
END;
COMMENT ON FUNCTION aispend.forecast(daterange, text, text, date) IS
    'The spend of a scope at the end of a period, forecast on as_of: spent (complete days before as_of), forecast '
    '(spent + each remaining day at the level of the last 7 days times its weekday factor over the 28 days before), '
    'low / high (with the 25th and 75th percentiles of each weekday), naive (linear extrapolation, for comparison), the days elapsed and left, '
    'and history_days (days with data among the 28). US dollars to the cent. See docs/budgets.md.';

CREATE FUNCTION aispend.budgets_status(as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (name text, scope_kind text, scope text, period daterange, amount_usd numeric, spent numeric,
               pct_used numeric, forecast numeric, forecast_low numeric, forecast_high numeric,
               forecast_pct numeric, will_exceed boolean, threshold_reached numeric, days_left integer)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    SELECT b.name, b.scope_kind, b.scope, f.period, b.amount_usd, f.spent,
           pg_catalog.round(100 * f.spent / b.amount_usd, 1), f.forecast, f.low, f.high,
           pg_catalog.round(100 * f.forecast / b.amount_usd, 1), f.forecast > b.amount_usd,
           (SELECT max(x) FROM pg_catalog.unnest(b.thresholds) AS x WHERE 100 * f.spent / b.amount_usd >= x),
           f.days_left
    FROM aispend.budgets b
    CROSS JOIN LATERAL aispend.forecast(aispend._budget_period(b.period_kind, b.custom_period, budgets_status.as_of),
                                       b.scope_kind, b.scope, budgets_status.as_of) f
    ORDER BY pg_catalog.round(100 * f.forecast / b.amount_usd, 1) DESC, b.name;
END;
COMMENT ON FUNCTION aispend.budgets_status(date) IS
    'Every budget in its current period (as of a day): amount, spent, % used, forecast with its low / high band, '
    'forecast in % of the amount, whether it will exceed, the highest threshold reached, the days left. Default '
    'order: forecast % DESC.';

CREATE VIEW aispend.budgets_current AS SELECT * FROM aispend.budgets_status();
COMMENT ON VIEW aispend.budgets_current IS 'aispend.budgets_status() as of today (UTC), for BI tools.';
COMMENT ON COLUMN aispend.budgets_current.name IS 'The budget.';
COMMENT ON COLUMN aispend.budgets_current.scope_kind IS 'organisation, provider, account, workspace, api_key, model.';
COMMENT ON COLUMN aispend.budgets_current.scope IS 'The provider, account, workspace, key or model (NULL: organisation).';
COMMENT ON COLUMN aispend.budgets_current.period IS 'The budget''s current period (UTC days).';
COMMENT ON COLUMN aispend.budgets_current.amount_usd IS 'The amount, US dollars.';
COMMENT ON COLUMN aispend.budgets_current.spent IS 'Spent in the complete days of the period so far, US dollars.';
COMMENT ON COLUMN aispend.budgets_current.pct_used IS 'spent in percent of the amount.';
COMMENT ON COLUMN aispend.budgets_current.forecast IS 'Forecast spend at the end of the period (docs/budgets.md).';
COMMENT ON COLUMN aispend.budgets_current.forecast_low IS 'Low end of the forecast band (25th percentile per weekday).';
COMMENT ON COLUMN aispend.budgets_current.forecast_high IS 'High end of the forecast band (75th percentile per weekday).';
COMMENT ON COLUMN aispend.budgets_current.forecast_pct IS 'The forecast in percent of the amount.';
COMMENT ON COLUMN aispend.budgets_current.will_exceed IS 'The forecast exceeds the amount.';
COMMENT ON COLUMN aispend.budgets_current.threshold_reached IS 'The highest threshold (percent) the spend has reached.';
COMMENT ON COLUMN aispend.budgets_current.days_left IS 'Days left in the period, today included.';

REVOKE ALL ON FUNCTION aispend.set_budget(text, numeric, text, text, text, numeric[], daterange) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.drop_budget(text) FROM PUBLIC;
