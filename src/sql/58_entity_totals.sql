-- 58_entity_totals.sql: what every tab shares: the period and filter checks, the period totals of any
-- entity kind from the cumulative rollups (52_rollup.sql), and "% of Total".
--
-- Every tab function takes (period daterange, provider text, search text, min_cost numeric, max_cost numeric)
-- with defaults (last 30 days, all providers, no search, no cost range), the API keys and models tabs also
-- workspace and api_key (drill-down), and compares the period with aispend.previous_period(period). Each has an
-- overload taking the period by name (text). Rows are every entity with cost, tokens or requests in the period
-- or in the previous period (an entity whose spend stopped shows Cost 0 and Trend down 100%). "% of Total" is the share
-- of the rows shown (after every filter), in percent with two decimals, rounded by the largest-remainder
-- method so that the column sums to exactly 100.00 (when no cost is negative).
-- The tab functions have SQL-standard bodies: bound to their objects when created (no search_path hijack) and
-- inlined into the caller's query, which is planned with the actual period (as one query, ~2x faster than
-- as nested function calls planned without their arguments).

CREATE FUNCTION aispend._check_period(period daterange)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend.previous_period(period);   -- raises for NULL, empty and unbounded ranges
    RETURN period;
END
$$;
COMMENT ON FUNCTION aispend._check_period(daterange) IS 'Internal: validates a period.';

-- The arguments every tab shares: the period, what it is compared with and the provider filter, checked once per
-- call (an InitPlan)...
CREATE FUNCTION aispend._check_filters(period daterange, provider text, compare_with daterange)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._check_period(period);
    IF compare_with IS NOT NULL THEN
        PERFORM aispend._check_period(compare_with);
    END IF;
    PERFORM aispend._provider_matches('openai', provider);   -- raises for an unknown filter
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_filters(daterange, text, daterange) IS
    'Internal: validates the period, compare_with and the provider filter every tab shares (22023).';

-- ... and the cost range, as a plain condition: with literal bounds it is evaluated while the query is planned,
-- before the planner can prove "cost >= 5 AND cost <= 1" empty and skip every check of the query.
CREATE FUNCTION aispend._check_cost_range(min_cost numeric, max_cost numeric)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF min_cost > max_cost THEN
        RAISE EXCEPTION 'aispend: min_cost % is greater than max_cost %', min_cost, max_cost
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give min_cost <= max_cost, or NULL for no bound.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_cost_range(numeric, numeric) IS
    'Internal: 22023 when a tab''s min_cost is greater than its max_cost (which would silently show nothing).';

-- The drill-down filters: a workspace by its shown name (case-insensitive: every workspace with that name, i.e.
-- a combined row of the Workspaces tab) or its id; an API key by its name (case-insensitive) or its id.
CREATE FUNCTION aispend._workspace_is(workspace_name text, workspace_id text, filter text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN filter IS NULL OR pg_catalog.lower(coalesce(workspace_name, workspace_id)) = pg_catalog.lower(filter)
    OR workspace_id = filter;
COMMENT ON FUNCTION aispend._workspace_is(text, text, text) IS 'Internal: the workspace drill-down filter.';

CREATE FUNCTION aispend._api_key_is(key_name text, api_key_id text, filter text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN filter IS NULL OR pg_catalog.lower(coalesce(key_name, api_key_id)) = pg_catalog.lower(filter)
    OR api_key_id = filter;
COMMENT ON FUNCTION aispend._api_key_is(text, text, text) IS 'Internal: the API key drill-down filter.';

-- The four cumulative boundaries of a period and of what it is compared with, per account (clamped to the
-- account's last day with data: nothing happens after it). Slots: 1 the period's last day, 2 the day before
-- it, 3 the previous period's last day, 4 the day before that.
-- PL/pgSQL (ROWS 8: a handful of rows per account), as every function the tabs read a table through: on Citus
-- a query of an SQL function over a distributed table cannot be planned.
CREATE FUNCTION aispend._boundaries(p_period daterange, p_provider text, p_compare daterange)
RETURNS TABLE (account name, provider text, slot integer, day date, month date)
LANGUAGE plpgsql STABLE ROWS 8
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    prev daterange := aispend._check_period(coalesce(p_compare, aispend.previous_period(p_period)));
    accounts name[];
    last_days date[];
BEGIN
    -- the rolled-up accounts first, then their providers: on Citus a query of the shards cannot call
    -- aispend._account_providers() (it reads another distributed table)
    SELECT pg_catalog.array_agg(s.account), pg_catalog.array_agg(s.last_day) INTO accounts, last_days
      FROM aispend._rollup_state s;
    RETURN QUERY
    SELECT s.account, ap.provider, p.slot, LEAST(p.b, s.last_day),
           pg_catalog.date_trunc('month', LEAST(p.b, s.last_day)::timestamp)::date
    FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(last_days)) AS s(account, last_day)
    JOIN aispend._account_providers() ap ON ap.account = s.account,
         (VALUES (1, pg_catalog.upper(p_period) - 1), (2, pg_catalog.lower(p_period) - 1),
                 (3, pg_catalog.upper(prev) - 1), (4, pg_catalog.lower(prev) - 1)) AS p(slot, b)
    WHERE aispend._provider_matches(ap.provider, p_provider);
END
$$;
COMMENT ON FUNCTION aispend._boundaries(daterange, text, daterange) IS
    'Internal: boundary days of a period and of what it is compared with (default aispend.previous_period).';

-- The cumulative rows of one entity kind at those boundaries (with their account's provider and slot).
CREATE FUNCTION aispend._cum_at_boundaries(p_kind "char", p_period daterange, p_provider text,
                                           p_compare daterange)
RETURNS TABLE (account name, provider text, slot integer, workspace_id text, api_key_id text, model text,
               cost numeric, tokens bigint, requests bigint)
LANGUAGE plpgsql STABLE ROWS 200
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
    providers text[];
    slots integer[];
    grains "char"[];
    ats date[];
BEGIN
    -- the boundaries first (each: a day row, and the month row of everything before its month), then the
    -- cumulative rows at them: on Citus a query of the shards, calling no function that reads a table
    SELECT pg_catalog.array_agg(b.account), pg_catalog.array_agg(b.provider), pg_catalog.array_agg(b.slot),
           pg_catalog.array_agg(g.grain), pg_catalog.array_agg(g.at)
      INTO accounts, providers, slots, grains, ats
      FROM aispend._boundaries(p_period, p_provider, p_compare) b
     CROSS JOIN LATERAL (VALUES ('d'::"char", b.day), ('m'::"char", b.month)) AS g(grain, at);
    RETURN QUERY
    SELECT b.account, b.provider, b.slot, c.workspace_id, c.api_key_id, c.model, c.cost, c.tokens, c.requests
    FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers), pg_catalog.unnest(slots),
                    pg_catalog.unnest(grains), pg_catalog.unnest(ats)) AS b(account, provider, slot, grain, at)
    JOIN aispend._cum c ON c.account = b.account AND c.grain = b.grain AND c.at = b.at AND c.kind = p_kind;
END
$$;
COMMENT ON FUNCTION aispend._cum_at_boundaries("char", daterange, text, daterange) IS
    'Internal: the cumulative rows (aispend._cum) of an entity kind at the boundaries of a period and of what it is '
    'compared with (aispend._boundaries); what aispend._entity_totals adds up.';

-- The daily rollup rows of a drill-down to a workspace or an API key (by name or id; a key's id also within a
-- named workspace) on the UTC days [lo, hi) of some accounts; none for a team or without a filter.
CREATE FUNCTION aispend._drilldown_rows(p_accounts name[], lo date, hi date, p_workspace text, p_api_key text)
RETURNS SETOF aispend.daily_rollup
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF aispend._team_restricted() OR (p_workspace IS NULL AND p_api_key IS NULL) THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT r.* FROM aispend.daily_rollup r
    WHERE r.account = ANY (p_accounts) AND r.day >= lo AND r.day < hi
      AND (p_workspace IS NULL
           OR EXISTS (SELECT 1 FROM aispend.workspaces w
                      WHERE w.account = r.account AND w.workspace_id = r.workspace_id
                        AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)))
      AND (p_api_key IS NULL
           OR EXISTS (SELECT 1 FROM aispend.api_keys k
                      WHERE k.account = r.account AND k.api_key_id = r.api_key_id
                        AND aispend._api_key_is(k.name, k.api_key_id, p_api_key))
           OR p_workspace IS NOT NULL AND r.api_key_id = p_api_key);
END
$$;
COMMENT ON FUNCTION aispend._drilldown_rows(name[], date, date, text, text) IS
    'Internal: the daily rollup rows of a drill-down to a workspace or an API key (none for a team).';

-- A team's own daily rollup rows on the UTC days [lo, hi) (row-level security keeps the others out), found by
-- their workspaces (index daily_rollup_workspace_idx): those of its workspaces, and those of its keys in other
-- workspaces; with the drill-down filters. None for a role that is not a team. The scope is read first (on Citus
-- a query of the workers; the query of the rollup then names the accounts it reads).
CREATE FUNCTION aispend._team_rollup_rows(lo date, hi date, p_workspace text, p_api_key text)
RETURNS SETOF aispend.daily_rollup
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_ws_accounts name[];
    v_ws_ids text[];
    v_key_accounts name[];
    v_key_workspaces text[];
    v_key_ids text[];
BEGIN
    IF NOT aispend._team_restricted() THEN
        RETURN;
    END IF;
    SELECT coalesce(pg_catalog.array_agg(w.account), '{}'), coalesce(pg_catalog.array_agg(w.workspace_id), '{}')
      INTO v_ws_accounts, v_ws_ids
      FROM aispend._team_workspaces(CURRENT_USER) w;
    SELECT coalesce(pg_catalog.array_agg(k.account), '{}'), coalesce(pg_catalog.array_agg(k.workspace_id), '{}'),
           coalesce(pg_catalog.array_agg(k.api_key_id), '{}')
      INTO v_key_accounts, v_key_workspaces, v_key_ids
      FROM aispend._team_keys(CURRENT_USER) k
     WHERE (k.account, k.workspace_id) NOT IN (SELECT w.account, w.workspace_id
                                               FROM unnest(v_ws_accounts, v_ws_ids) AS w(account, workspace_id));
    RETURN QUERY
    SELECT r.* FROM aispend.daily_rollup r
    WHERE r.day >= lo AND r.day < hi
      -- each pair checked exactly; the arrays alone let the index (and on Citus the shards) narrow it first
      AND ((r.account = ANY (v_ws_accounts) AND r.workspace_id = ANY (v_ws_ids)
            AND (r.account, r.workspace_id) IN (SELECT w.account, w.workspace_id
                                                FROM unnest(v_ws_accounts, v_ws_ids) AS w(account, workspace_id)))
           OR (r.account = ANY (v_key_accounts) AND r.workspace_id = ANY (v_key_workspaces)
               AND (r.account, r.workspace_id, r.api_key_id)
                   IN (SELECT k.account, k.workspace_id, k.api_key_id
                       FROM unnest(v_key_accounts, v_key_workspaces, v_key_ids) AS k(account, workspace_id, api_key_id))))
    -- the names are looked up only for a filter (a team's whole scope would pay for them on every row)
      AND (p_workspace IS NULL
           OR EXISTS (SELECT 1 FROM aispend.workspaces w
                      WHERE w.account = r.account AND w.workspace_id = r.workspace_id
                        AND aispend._workspace_is(w.name, w.workspace_id, p_workspace))
           OR r.workspace_id = p_workspace)
      AND (p_api_key IS NULL
           OR EXISTS (SELECT 1 FROM aispend.api_keys k
                      WHERE k.account = r.account AND k.api_key_id = r.api_key_id
                        AND aispend._api_key_is(k.name, k.api_key_id, p_api_key))
           OR r.api_key_id = p_api_key);
END
$$;
COMMENT ON FUNCTION aispend._team_rollup_rows(date, date, text, text) IS
    'Internal: a team''s own daily rollup rows, with the drill-down filters (none for another role).';

-- What _entity_totals returns from the daily rollup rather than the cumulative sums: for a team and for a
-- drill-down. PL/pgSQL: its plan stays out of the tabs' plans (no JIT), and its rows are read through the two
-- functions above, with the accounts of the provider filter read first (on Citus, no query of the shards calls a
-- function that reads a table).
CREATE FUNCTION aispend._rollup_entity_rows(p_kind "char", p_period daterange, p_provider text, p_workspace text,
                                            p_api_key text, p_compare daterange)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE plpgsql STABLE ROWS 100
SET search_path = pg_catalog, aispend, pg_temp SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    prev daterange := coalesce(p_compare, aispend.previous_period(p_period));
    -- the bounds as dates: compared with every row, a date is cheaper than a range
    cur_lo date := pg_catalog.lower(p_period);
    cur_hi date := pg_catalog.upper(p_period);
    prev_lo date := pg_catalog.lower(prev);
    prev_hi date := pg_catalog.upper(prev);
    accounts name[];
    providers text[];
BEGIN
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    WITH r AS (
        SELECT * FROM aispend._drilldown_rows(accounts, LEAST(cur_lo, prev_lo), GREATEST(cur_hi, prev_hi),
                                              p_workspace, p_api_key)
        UNION ALL
        SELECT * FROM aispend._team_rollup_rows(LEAST(cur_lo, prev_lo), GREATEST(cur_hi, prev_hi), p_workspace,
                                                p_api_key)),
    f AS (
        SELECT r.account, ap.provider, r.workspace_id, r.api_key_id, r.model, r.cost, r.total_tokens, r.requests,
               r.day >= cur_lo AND r.day < cur_hi AS cur, r.day >= prev_lo AND r.day < prev_hi AS prev
        FROM r
        JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
          ON ap.account = r.account
        WHERE r.day >= cur_lo AND r.day < cur_hi OR r.day >= prev_lo AND r.day < prev_hi)
    SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
           o.previous_cost, o.previous_tokens, o.previous_requests
    FROM (SELECT f.account, f.provider,
                 CASE WHEN p_kind = 'm' THEN '' ELSE f.workspace_id END AS workspace_id,
                 CASE WHEN p_kind = 'k' THEN f.api_key_id ELSE '' END AS api_key_id,
                 CASE WHEN p_kind = 'm' THEN f.model ELSE '' END AS model,
                 coalesce(sum(f.cost) FILTER (WHERE f.cur), 0) AS cost,
                 coalesce(sum(f.total_tokens) FILTER (WHERE f.cur), 0)::bigint AS tokens,
                 sum(f.requests) FILTER (WHERE f.cur)::bigint AS requests,
                 coalesce(sum(f.cost) FILTER (WHERE f.prev), 0) AS previous_cost,
                 coalesce(sum(f.total_tokens) FILTER (WHERE f.prev), 0)::bigint AS previous_tokens,
                 sum(f.requests) FILTER (WHERE f.prev)::bigint AS previous_requests,
                 -- as the cumulative path: left out when nothing moved in either period
                 bool_or(f.cur) AND (sum(f.cost) FILTER (WHERE f.cur) <> 0
                                     OR sum(f.total_tokens) FILTER (WHERE f.cur) <> 0
                                     OR sum(f.requests) FILTER (WHERE f.cur) <> 0)
                 OR bool_or(f.prev) AND (sum(f.cost) FILTER (WHERE f.prev) <> 0
                                            OR sum(f.total_tokens) FILTER (WHERE f.prev) <> 0
                                            OR sum(f.requests) FILTER (WHERE f.prev) <> 0) AS moved
          FROM f
          GROUP BY 1, 2, 3, 4, 5) o
    WHERE o.moved;
END
$$;
COMMENT ON FUNCTION aispend._rollup_entity_rows("char", daterange, text, text, text, daterange) IS
    'Internal: what aispend._rollup_entity_totals returns.';

CREATE FUNCTION aispend._rollup_entity_totals(kind "char", period daterange, provider text, workspace text,
                                              api_key text, compare_with daterange)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT o.* FROM aispend._rollup_entity_rows(_rollup_entity_totals.kind, _rollup_entity_totals.period,
                                                _rollup_entity_totals.provider, _rollup_entity_totals.workspace,
                                                _rollup_entity_totals.api_key, _rollup_entity_totals.compare_with) o;
END;
COMMENT ON FUNCTION aispend._rollup_entity_totals("char", daterange, text, text, text, daterange) IS
    'Internal: _entity_totals from the daily rollup: for a team (57_teams.sql, its own rows) or a drill-down to a '
    'workspace or an API key.';

-- Cost, tokens and requests of every entity of one kind ('w' workspace, 'k' API key, 'm' model) in a period
-- and in what it is compared with (compare_with; default aispend.previous_period(period)), optionally within one workspace or API key (the drill-down filters). Entities
-- without anything in either period are left out. min_cost and max_cost are only checked here (each tab applies
-- them to its own rows).
CREATE FUNCTION aispend._entity_totals(kind "char", period daterange, provider text, workspace text DEFAULT NULL,
                                       api_key text DEFAULT NULL, min_cost numeric DEFAULT NULL,
                                       max_cost numeric DEFAULT NULL, compare_with daterange DEFAULT NULL)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH v AS (
        SELECT b.account, b.provider, b.slot, b.workspace_id, b.api_key_id, b.model, b.cost, b.tokens, b.requests
        FROM aispend._cum_at_boundaries(_entity_totals.kind, _entity_totals.period, _entity_totals.provider,
                                        _entity_totals.compare_with) b),
    t AS (
        SELECT v.account, min(v.provider) AS provider, v.workspace_id, v.api_key_id, v.model,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 1), 0) AS c1,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 2), 0) AS c2,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 3), 0) AS c3,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 4), 0) AS c4,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 1), 0) AS t1,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 2), 0) AS t2,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 3), 0) AS t3,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 4), 0) AS t4,
               sum(v.requests) FILTER (WHERE v.slot = 1) AS r1,
               sum(v.requests) FILTER (WHERE v.slot = 2) AS r2,
               sum(v.requests) FILTER (WHERE v.slot = 3) AS r3,
               sum(v.requests) FILTER (WHERE v.slot = 4) AS r4
        FROM v GROUP BY v.account, v.workspace_id, v.api_key_id, v.model)
    -- Requests: a count (0 when none) for providers that report them, NULL for those that do not (Anthropic)
    SELECT e.account, e.provider, e.workspace_id, e.api_key_id, e.model, e.cost, e.tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.requests, 0) END,
           e.previous_cost, e.previous_tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.previous_requests, 0) END
    FROM (
        SELECT t.account, t.provider, t.workspace_id, t.api_key_id, t.model, t.c1 - t.c2 AS cost,
               (t.t1 - t.t2)::bigint AS tokens, (t.r1 - coalesce(t.r2, 0))::bigint AS requests,
               t.c3 - t.c4 AS previous_cost, (t.t3 - t.t4)::bigint AS previous_tokens,
               (t.r3 - coalesce(t.r4, 0))::bigint AS previous_requests
        FROM t
        -- in either period: a change in one that the other cancels out still shows
        WHERE (t.c1 <> t.c2 OR t.c3 <> t.c4 OR t.t1 <> t.t2 OR t.t3 <> t.t4
               OR t.r1 IS DISTINCT FROM t.r2 OR t.r3 IS DISTINCT FROM t.r4)
          AND NOT (SELECT aispend._team_restricted())
          AND _entity_totals.workspace IS NULL AND _entity_totals.api_key IS NULL
        UNION ALL
        -- a team (57_teams.sql) cannot read the cumulative sums, and a drill-down has none: both add up rows
        -- of the daily rollup
        SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
               o.previous_cost, o.previous_tokens, o.previous_requests
        FROM aispend._rollup_entity_totals(_entity_totals.kind, _entity_totals.period, _entity_totals.provider,
                                           _entity_totals.workspace, _entity_totals.api_key,
                                           _entity_totals.compare_with) o
        WHERE (SELECT aispend._team_restricted()) OR _entity_totals.workspace IS NOT NULL
           OR _entity_totals.api_key IS NOT NULL) e
    WHERE (SELECT aispend._check_filters(_entity_totals.period, _entity_totals.provider, _entity_totals.compare_with))
      AND aispend._check_cost_range(_entity_totals.min_cost, _entity_totals.max_cost);
END;
COMMENT ON FUNCTION aispend._entity_totals("char", daterange, text, text, text, numeric, numeric, daterange) IS
    'Internal: cost, tokens, requests per entity of a kind (w workspace, k API key, m model) in a period and its '
    'comparison period (compare_with, default aispend.previous_period), from the cumulative rollups (for a team or a drill-down to a '
    'workspace or key: from the daily rollup); every tab reads it.';

-- "% of Total" of a list of costs given in tie-break order: percent with two decimals, largest remainder first
-- (ties: the earlier position), so that the shares add up to exactly 100.00 when no cost is negative; plain
-- rounding otherwise. Returns the position (1-based) and the share.
CREATE FUNCTION aispend._pct_of_total(costs numeric[])
RETURNS TABLE (ord bigint, pct numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp SET jit = off
AS $$
    WITH q AS (
        SELECT u.ord, u.cost, sum(u.cost) OVER () AS total,
               CASE WHEN sum(u.cost) OVER () > 0 AND min(u.cost) OVER () >= 0
                    THEN 10000 * u.cost / sum(u.cost) OVER () END AS raw
        FROM pg_catalog.unnest(costs) WITH ORDINALITY AS u(cost, ord)),
    p AS (
        SELECT q.*, 10000 - sum(pg_catalog.floor(q.raw)) OVER () AS units,
               pg_catalog.row_number() OVER (ORDER BY q.raw - pg_catalog.floor(q.raw) DESC, q.ord) AS rk
        FROM q)
    SELECT p.ord,
           CASE WHEN p.raw IS NOT NULL
                THEN pg_catalog.round((pg_catalog.floor(p.raw) + CASE WHEN p.rk <= p.units THEN 1 ELSE 0 END) / 100, 2)
                WHEN p.total <> 0 THEN pg_catalog.round(100 * p.cost / p.total, 2) END
    FROM p
$$;
COMMENT ON FUNCTION aispend._pct_of_total(numeric[]) IS
    'Internal: "% of Total" of every row of a table or pie (largest-remainder rounding to 2 decimals).';
