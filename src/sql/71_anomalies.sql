-- 71_anomalies.sql: spike detection. The cost of every API key, workspace (by the name shown) and model per UTC
-- day against a robust baseline of its own recent history. See docs/alerts.md "Spikes".
--
-- For a day d of an entity:
--   window     the 28 days before d;
--   expected   the median of the window's days of d's type (weekdays, or Saturdays and Sundays), or of all 28 when
--              fewer than 6 of them have spend (a weekend-only key, a young key);
--   scale      1.4826 x the median absolute deviation from it (the standard deviation of normal noise), at least
--              a tenth of expected and a cent;
--   score      (observed - expected) / scale;
--   spike      score >= min_score, observed - expected >= min_cost and observed >= min_ratio x expected;
--   new        fewer than 7 days with spend in the window and observed >= min_cost (and min_ratio x expected):
--              a key or workspace that starts spending heavily, or comes back after weeks;
--   recurring  (not listed) a spike on a day of the month whose cost was over both cost thresholds (min_ratio x
--              expected, min_cost over it) on that day of each of the two months before: a monthly job is a
--              pattern, not an anomaly.

-- The baselines of days idx (indexes into costs; costs[1] is first_day's cost), set-based. The exact median of
-- a group is the mean of percentile_disc(0.5) read upwards and downwards (percentile_cont computes in floats).
CREATE FUNCTION aispend._baselines(costs numeric[], first_day date, idx integer[])
RETURNS TABLE (i integer, expected numeric, scale numeric, active_days integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH w AS (
        SELECT x.i, costs[j] AS c,
               (pg_catalog.date_part('isodow', first_day + j - 1) >= 6)
                   = (pg_catalog.date_part('isodow', first_day + x.i - 1) >= 6) AS same_type
        FROM pg_catalog.unnest(idx) AS x(i)
        CROSS JOIN LATERAL pg_catalog.generate_series(GREATEST(1, x.i - 28), x.i - 1) AS j),
    g AS (
        SELECT w.i, count(*) FILTER (WHERE w.same_type AND w.c <> 0) >= 6 AS by_type,
               (count(*) FILTER (WHERE w.c <> 0))::integer AS active
        FROM w GROUP BY w.i),
    s AS (
        SELECT w.i, w.c FROM w JOIN g ON g.i = w.i WHERE w.same_type OR NOT g.by_type),
    m AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c)
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c DESC)) / 2 AS med
        FROM s GROUP BY s.i),
    d AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med))
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med) DESC)) / 2 AS mad
        FROM s JOIN m ON m.i = s.i GROUP BY s.i)
    SELECT m.i, m.med, GREATEST(1.4826 * d.mad, m.med / 10, 0.01), g.active
    FROM m JOIN d ON d.i = m.i JOIN g ON g.i = m.i;
END;
COMMENT ON FUNCTION aispend._baselines(numeric[], date, integer[]) IS
    'Internal: for days idx of a daily series (costs[1] is first_day), the expected cost (the exact median of the '
    '28 days before, of the day''s type: weekday or weekend, all 28 when fewer than 6 of that type have spend), the '
    'scale (1.4826 x MAD, at least a tenth of expected and a cent) and the days with spend in the 28.';

-- Whether day i of a series is flagged against its baseline (the rule of this file's header).
CREATE FUNCTION aispend._is_flagged(observed numeric, expected numeric, scale numeric, active_days integer,
                                    min_score numeric, min_cost numeric, min_ratio numeric)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN observed - expected >= min_cost AND observed >= min_ratio * expected
       AND (active_days < 7 OR (observed - expected) / scale >= min_score);
COMMENT ON FUNCTION aispend._is_flagged(numeric, numeric, numeric, integer, numeric, numeric, numeric) IS
    'Internal: a day is a spike (or new spending, with fewer than 7 days of spend before) above the thresholds.';

-- The flagged days (from index from_i on) of one entity's daily series starting on first_day.
CREATE FUNCTION aispend._anomaly_points(costs numeric[], first_day date, from_i integer, min_score numeric,
                                        min_cost numeric, min_ratio numeric)
RETURNS TABLE (day date, observed numeric, expected numeric, ratio numeric, score numeric, flag text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH f AS (
        SELECT b.i, first_day + b.i - 1 AS day, costs[b.i] AS observed, b.expected, b.scale,
               CASE WHEN b.active_days < 7 THEN 'new' ELSE 'spike' END AS flag
        FROM aispend._baselines(costs, first_day,
                                ARRAY(SELECT pg_catalog.generate_series(GREATEST(2, from_i),
                                                                        pg_catalog.cardinality(costs)))) b
        WHERE aispend._is_flagged(costs[b.i], b.expected, b.scale, b.active_days, min_score, min_cost, min_ratio)),
    -- the same day of the month, one and two months before each spike: over both cost thresholds in both, a pattern
    before AS (
        SELECT f.i, ((f.day - pg_catalog.make_interval(months => m.n))::date - first_day + 1) AS j
        FROM f CROSS JOIN (VALUES (1), (2)) AS m(n)
        WHERE f.flag = 'spike'),
    recurring AS (
        SELECT before.i
        FROM before
        JOIN aispend._baselines(costs, first_day, ARRAY(SELECT DISTINCT before.j FROM before WHERE before.j >= 2)) b
          ON b.i = before.j
        WHERE costs[b.i] >= min_ratio * b.expected AND costs[b.i] - b.expected >= min_cost AND b.active_days >= 7
        GROUP BY before.i HAVING count(*) = 2)
    SELECT f.day, f.observed, f.expected,
           CASE WHEN f.expected > 0 THEN pg_catalog.round(f.observed / f.expected, 2) END,
           CASE WHEN f.flag = 'spike' THEN pg_catalog.round((f.observed - f.expected) / f.scale, 1) END,
           f.flag
    FROM f
    WHERE f.i NOT IN (SELECT recurring.i FROM recurring)
    ORDER BY f.day;
END;
COMMENT ON FUNCTION aispend._anomaly_points(numeric[], date, integer, numeric, numeric, numeric) IS
    'Internal: the spikes and new spending of one daily cost series (costs[1] is first_day) on the days from index '
    'from_i on, by the method of docs/alerts.md; a spike whose day of the month was over both cost thresholds in each '
    'of the two months before is a monthly pattern and is left out.';

-- The cost per UTC day of every API key, workspace name and model in [from_day, to_day], zero-filled, one array
-- per entity (row-level security applies: a team sees its own). PL/pgSQL (on Citus, an SQL function cannot read
-- a distributed table), with the accounts of the provider filter read first.
CREATE FUNCTION aispend._entity_series_of(p_from date, p_to date, p_kind text, p_provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    providers text[];
BEGIN
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    WITH r AS (
        SELECT e.kind, e.id, e.entity, e.account, ap.provider, r.account AS source, r.day, r.cost
        FROM aispend.daily_rollup r
        JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
          ON ap.account = r.account
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        -- a key is itself (its account and id: two keys of one name stay apart, a renamed key stays one); a
        -- workspace name and a model combine across accounts, as on the dashboard
        CROSS JOIN LATERAL (VALUES ('api_key', r.api_key_id, coalesce(k.name, r.api_key_id), r.account),
                                   ('workspace', coalesce(w.name, r.workspace_id), coalesce(w.name, r.workspace_id), NULL::name),
                                   ('model', r.model, r.model, NULL::name)) AS e(kind, id, entity, account)
        WHERE r.day >= p_from AND r.day <= p_to
          AND (p_kind IS NULL OR e.kind = p_kind)),
    per_day AS (
        SELECT r.kind, r.id, r.account, r.day, sum(r.cost) AS cost
        FROM r GROUP BY r.kind, r.id, r.account, r.day),
    -- an account's history starts on its first day of spend (a first sync's backfill)
    starts AS (
        SELECT x.account, min(x.day) AS first_day
        FROM aispend.daily_rollup x WHERE x.account = ANY (accounts) GROUP BY x.account),
    ents AS (
        SELECT r.kind, r.id, r.account, min(r.entity) AS entity,
               pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider, max(starts.first_day) AS history_from
        FROM r JOIN starts ON starts.account = r.source GROUP BY r.kind, r.id, r.account)
    SELECT ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from,
           pg_catalog.array_agg(coalesce(per_day.cost, 0) ORDER BY d.day)
    FROM ents
    CROSS JOIN pg_catalog.generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN per_day ON per_day.kind = ents.kind AND per_day.id = ents.id
                     AND per_day.account IS NOT DISTINCT FROM ents.account AND per_day.day = d.day::date
    GROUP BY ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from;
END
$$;
COMMENT ON FUNCTION aispend._entity_series_of(date, date, text, text) IS
    'Internal: what aispend._entity_series returns.';

CREATE FUNCTION aispend._entity_series(from_day date, to_day date, kind text, provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.* FROM aispend._entity_series_of(_entity_series.from_day, _entity_series.to_day, _entity_series.kind,
                                              _entity_series.provider) s;
END;
COMMENT ON FUNCTION aispend._entity_series(date, date, text, text) IS
    'Internal: the exact cost per UTC day of [from_day, to_day] of every API key (by account and id, with its name), '
    'workspace name and model, zero-filled, as one array per entity, and the first day of data of its accounts (the '
    'latest of them).';

CREATE FUNCTION aispend._check_anomaly_kind(kind text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF kind IS NOT NULL AND kind NOT IN ('api_key', 'workspace', 'model') THEN
        RAISE EXCEPTION 'aispend: unknown kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use api_key, workspace, model, or NULL for all three.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_anomaly_kind(text) IS 'Internal: 22023 unless kind is api_key, workspace, model or NULL.';

-- Spikes and new spending on the complete days of a period (today, still being billed, is left out).
CREATE FUNCTION aispend.anomalies(period daterange DEFAULT aispend.period('last_30_days'), kind text DEFAULT NULL,
                                  provider text DEFAULT 'all', min_score numeric DEFAULT 3.5,
                                  min_cost numeric DEFAULT 10, min_ratio numeric DEFAULT 1.5)
RETURNS TABLE (day date, kind text, entity text, account name, provider text, observed numeric, expected numeric,
               ratio numeric, score numeric, flag text, entity_id text)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH p AS (
        SELECT pg_catalog.lower(aispend._check_period(anomalies.period)) AS f,
               LEAST(pg_catalog.upper(anomalies.period), aispend.utc_today()) - 1 AS t
        WHERE aispend._check_anomaly_kind(anomalies.kind)
          AND aispend._check_filters(anomalies.period, anomalies.provider, NULL)),
    -- 28 days of baseline before the period, and two months more for the monthly pattern
    s AS (
        SELECT s.*, p.f - 90 AS first_day, p.f
        FROM p, aispend._entity_series(p.f - 90, p.t, anomalies.kind, anomalies.provider) s
        WHERE p.t >= p.f)
    SELECT a.day, s.kind, s.entity, s.account, s.provider, pg_catalog.round(a.observed, 2),
           pg_catalog.round(a.expected, 2), a.ratio, a.score, a.flag, s.entity_id
    FROM s
    -- a day is judged only with 28 days of its accounts' history before it
    CROSS JOIN LATERAL aispend._anomaly_points(s.costs, s.first_day, GREATEST(s.f, s.history_from + 28) - s.first_day + 1,
                                               anomalies.min_score, anomalies.min_cost,
                                               anomalies.min_ratio) a
    ORDER BY a.day DESC, a.observed - a.expected DESC, s.kind, s.entity;
END;
COMMENT ON FUNCTION aispend.anomalies(daterange, text, text, numeric, numeric, numeric) IS
    'Spikes and new spending per UTC day of a period (complete days) for every API key, workspace name and model '
    '(kind narrows it): observed cost, expected (the median of the 28 days before, of the same day type: weekday or '
    'weekend), ratio, score (robust z-score: excess over 1.4826 x MAD), flag spike or new, entity_id (a key''s id; '
    'the workspace name or the model otherwise). Flagged only above '
    'min_score, min_cost dollars over expected and min_ratio x expected. See docs/alerts.md. Default order: day DESC, '
    'excess DESC.';
