-- 58_entity_totals.sql: what every tab shares: the provider filter, the period check, the period totals of any
-- entity kind from the cumulative rollups (52_rollup.sql), and "% of Total".
--
-- Every tab function takes (period daterange, provider text, search text, min_cost numeric, max_cost numeric)
-- with defaults (last 30 days, all providers, no search, no cost range) and compares the period with
-- aispend.previous_period(period). Rows are every entity with cost, tokens or requests in the period or in the
-- previous period (an entity whose spend stopped shows Cost 0 and Trend down 100%). "% of Total" is the share
-- of the rows shown (after every filter), in percent with two decimals, rounded by the largest-remainder
-- method so that the column sums to exactly 100.00 (when no cost is negative).
-- The tab functions have SQL-standard bodies: bound to their objects when created (no search_path hijack) and
-- inlined into the caller's query, which is planned with the actual period (as one query, ~2x faster than
-- as nested function calls planned without their arguments).

CREATE FUNCTION aispend._provider_matches(provider text, filter text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    CASE pg_catalog.lower(coalesce(filter, 'all'))
        WHEN 'all', '' THEN RETURN true;
        WHEN 'openai' THEN RETURN provider = 'openai';
        WHEN 'anthropic' THEN RETURN provider = 'anthropic';
        WHEN 'other' THEN RETURN provider NOT IN ('openai', 'anthropic');
        ELSE RAISE EXCEPTION 'aispend: unknown provider filter "%"', filter
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all, openai, anthropic or other.';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend._provider_matches(text, text) IS 'Internal: the provider filter (all, openai, anthropic, other).';

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

-- The three cumulative boundaries of a period and its previous period, per account (clamped to the account's
-- last day with data: nothing happens after it).
-- PL/pgSQL with ROWS 6 on purpose: not inlined, so the planner knows there are a handful of boundaries and
-- reads the cumulative table by its (account, grain, at, kind) primary key prefix instead of scanning it.
CREATE FUNCTION aispend._boundaries(p_period daterange, p_provider text)
RETURNS TABLE (account name, provider text, slot integer, day date, month date)
LANGUAGE plpgsql STABLE ROWS 6
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT s.account, ap.provider, p.slot, LEAST(p.b, s.last_day),
           pg_catalog.date_trunc('month', LEAST(p.b, s.last_day)::timestamp)::date
    FROM aispend._rollup_state s
    JOIN aispend._account_providers() ap ON ap.account = s.account,
         (SELECT 1, pg_catalog.upper(aispend._check_period(p_period)) - 1
          UNION ALL SELECT 2, pg_catalog.lower(p_period) - 1
          UNION ALL SELECT 3, pg_catalog.lower(aispend.previous_period(p_period)) - 1) AS p(slot, b)
    WHERE aispend._provider_matches(ap.provider, p_provider);
END
$$;
COMMENT ON FUNCTION aispend._boundaries(daterange, text) IS 'Internal: boundary days of a period and its previous period.';

-- What _entity_totals returns for a team: the sums of its own rows of the daily rollup (row-level security
-- keeps the others out), for the period and the previous one. Nothing for a role that is not a team. Not
-- inlined (SET): its plan stays out of the tabs' plans, which therefore stay cheap (no JIT).
CREATE FUNCTION aispend._team_entity_totals(kind "char", period daterange, provider text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, aispend, pg_temp SET jit = off
AS $$
    SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
           o.previous_cost, o.previous_tokens, o.previous_requests
    FROM (SELECT r.account, ap.provider,
                 CASE WHEN _team_entity_totals.kind = 'm' THEN '' ELSE r.workspace_id END AS workspace_id,
                 CASE WHEN _team_entity_totals.kind = 'k' THEN r.api_key_id ELSE '' END AS api_key_id,
                 CASE WHEN _team_entity_totals.kind = 'm' THEN r.model ELSE '' END AS model,
                 coalesce(sum(r.cost) FILTER (WHERE r.day >= lower(_team_entity_totals.period)), 0) AS cost,
                 coalesce(sum(r.total_tokens) FILTER (WHERE r.day >= lower(_team_entity_totals.period)), 0)::bigint AS tokens,
                 sum(r.requests) FILTER (WHERE r.day >= lower(_team_entity_totals.period))::bigint AS requests,
                 coalesce(sum(r.cost) FILTER (WHERE r.day < lower(_team_entity_totals.period)), 0) AS previous_cost,
                 coalesce(sum(r.total_tokens) FILTER (WHERE r.day < lower(_team_entity_totals.period)), 0)::bigint
                     AS previous_tokens,
                 sum(r.requests) FILTER (WHERE r.day < lower(_team_entity_totals.period))::bigint AS previous_requests,
                 -- as the cumulative path: left out when nothing moved in either period
                 bool_or(r.day >= lower(_team_entity_totals.period)) AND
                     (sum(r.cost) FILTER (WHERE r.day >= lower(_team_entity_totals.period)) <> 0
                      OR sum(r.total_tokens) FILTER (WHERE r.day >= lower(_team_entity_totals.period)) <> 0
                      OR sum(r.requests) FILTER (WHERE r.day >= lower(_team_entity_totals.period)) <> 0)
                 OR bool_or(r.day < lower(_team_entity_totals.period)) AND
                     (sum(r.cost) FILTER (WHERE r.day < lower(_team_entity_totals.period)) <> 0
                      OR sum(r.total_tokens) FILTER (WHERE r.day < lower(_team_entity_totals.period)) <> 0
                      OR sum(r.requests) FILTER (WHERE r.day < lower(_team_entity_totals.period)) <> 0) AS moved
          FROM (-- the team's rows, found by their workspaces (index daily_rollup_workspace_idx): those of its
                -- workspaces, and those of its keys in other workspaces
                SELECT r.* FROM aispend._team_workspaces(CURRENT_USER) w
                JOIN aispend.daily_rollup r ON r.account = w.account AND r.workspace_id = w.workspace_id
                UNION ALL
                SELECT r.* FROM aispend._team_keys(CURRENT_USER) k
                JOIN aispend.daily_rollup r ON r.account = k.account AND r.workspace_id = k.workspace_id
                                           AND r.api_key_id = k.api_key_id
                WHERE (k.account, k.workspace_id) NOT IN (SELECT w.account, w.workspace_id
                                                          FROM aispend._team_workspaces(CURRENT_USER) w)) r
          JOIN aispend._account_providers() ap ON ap.account = r.account
          WHERE (SELECT aispend._team_restricted())
            AND r.day >= lower(aispend.previous_period(aispend._check_period(_team_entity_totals.period)))
            AND r.day < upper(_team_entity_totals.period)
            AND aispend._provider_matches(ap.provider, _team_entity_totals.provider)
          GROUP BY 1, 2, 3, 4, 5) o
    WHERE o.moved
$$;
COMMENT ON FUNCTION aispend._team_entity_totals("char", daterange, text) IS
    'Internal: _entity_totals for a team (57_teams.sql), from its own rows of the daily rollup.';

-- Cost, tokens and requests of every entity of one kind ('w' workspace, 'k' API key, 'm' model) in a period
-- and its previous period. Entities without anything in either period are left out.
CREATE FUNCTION aispend._entity_totals(kind "char", period daterange, provider text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH v AS (
        SELECT b.account, b.provider, b.slot, c.workspace_id, c.api_key_id, c.model, c.cost, c.tokens, c.requests
        FROM aispend._boundaries(_entity_totals.period, _entity_totals.provider) b
        JOIN aispend._cum c ON c.account = b.account AND c.grain = 'd' AND c.at = b.day
                           AND c.kind = _entity_totals.kind
        UNION ALL
        SELECT b.account, b.provider, b.slot, c.workspace_id, c.api_key_id, c.model, c.cost, c.tokens, c.requests
        FROM aispend._boundaries(_entity_totals.period, _entity_totals.provider) b
        JOIN aispend._cum c ON c.account = b.account AND c.grain = 'm' AND c.at = b.month
                           AND c.kind = _entity_totals.kind),
    t AS (
        SELECT v.account, min(v.provider) AS provider, v.workspace_id, v.api_key_id, v.model,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 1), 0) AS c1,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 2), 0) AS c2,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 3), 0) AS c3,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 1), 0) AS t1,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 2), 0) AS t2,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 3), 0) AS t3,
               sum(v.requests) FILTER (WHERE v.slot = 1) AS r1,
               sum(v.requests) FILTER (WHERE v.slot = 2) AS r2,
               sum(v.requests) FILTER (WHERE v.slot = 3) AS r3
        FROM v GROUP BY v.account, v.workspace_id, v.api_key_id, v.model)
    -- Requests: a count (0 when none) for providers that report them, NULL for those that do not (Anthropic)
    SELECT e.account, e.provider, e.workspace_id, e.api_key_id, e.model, e.cost, e.tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.requests, 0) END,
           e.previous_cost, e.previous_tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.previous_requests, 0) END
    FROM (
        SELECT t.account, t.provider, t.workspace_id, t.api_key_id, t.model, t.c1 - t.c2 AS cost,
               (t.t1 - t.t2)::bigint AS tokens, (t.r1 - coalesce(t.r2, 0))::bigint AS requests,
               t.c2 - t.c3 AS previous_cost, (t.t2 - t.t3)::bigint AS previous_tokens,
               (t.r2 - coalesce(t.r3, 0))::bigint AS previous_requests
        FROM t
        -- in either period: a change in one that the other cancels out still shows
        WHERE (t.c1 <> t.c2 OR t.c2 <> t.c3 OR t.t1 <> t.t2 OR t.t2 <> t.t3
               OR t.r1 IS DISTINCT FROM t.r2 OR t.r2 IS DISTINCT FROM t.r3)
          AND NOT (SELECT aispend._team_restricted())
        UNION ALL
        -- a team (57_teams.sql) cannot read the cumulative sums: it adds up its own rows of the daily rollup
        SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
               o.previous_cost, o.previous_tokens, o.previous_requests
        FROM aispend._team_entity_totals(_entity_totals.kind, _entity_totals.period, _entity_totals.provider) o) e;
END;
COMMENT ON FUNCTION aispend._entity_totals("char", daterange, text) IS
    'Internal: cost, tokens, requests per entity of a kind (w workspace, k API key, m model) in a period and its '
    'previous period, from the cumulative rollups (for a team: from its own rows of the daily rollup); every tab '
    'reads it.';

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
