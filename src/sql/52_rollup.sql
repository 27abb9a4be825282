-- 52_rollup.sql: the dashboard's maintained rollups, one entity layer for every tab.
--
-- 1. aispend.daily_rollup: aispend.cost_facts_between aggregated to day x account x workspace x key x model.
--    No names and no provider: workspaces and keys are joined by id at query time (a rename shows at once on
--    every tab) and the provider comes from aispend.account_provider.
-- 2. aispend._cum: cumulative sums per tab entity, so that any period costs the same to read (three boundary
--    days, whatever its length). An entity is a (kind, workspace_id, api_key_id, model): kind 'w' a workspace
--    (api_key_id = model = ''), 'k' an API key within its workspace (model = ''), 'm' a model
--    (workspace_id = api_key_id = ''). For entity e and day X:
--      total(e, first..X) = row(e, grain 'm', month(X)) + row(e, grain 'd', X)
--    grain 'm' at month M: everything before M (a row for every month after the entity's first active month,
--                          up to the month of the account's last day with data);
--    grain 'd' at day X:   month to date (a row for every day from the entity's first active day in the month
--                          to the end of that calendar month).
--    A period [f, l] is total(l) - total(f - 1), with both days clamped to the account's last day.
-- 3. aispend._reroll(account) re-rolls exactly the days marked in aispend._dirty_days (53_invalidation.sql):
--    their daily_rollup rows, the day rows of their months, and the month rows from the earliest of them on.

CREATE TABLE aispend.daily_rollup (
    account        name    NOT NULL,
    day            date    NOT NULL,
    workspace_id   text    NOT NULL,
    api_key_id     text    NOT NULL,
    model          text    NOT NULL,
    billed_cost    numeric,
    allocated_cost numeric,
    estimated_cost numeric,
    cost           numeric NOT NULL,
    cost_basis     text,
    input_tokens   bigint,
    output_tokens  bigint,
    total_tokens   bigint,
    requests       bigint,
    unpriced       boolean NOT NULL DEFAULT false,
    CONSTRAINT daily_rollup_pkey PRIMARY KEY (account, day, workspace_id, api_key_id, model)
);
CREATE INDEX daily_rollup_workspace_idx ON aispend.daily_rollup (account, workspace_id, day);
-- a key's drill-down and its last day of use (aispend._last_active_days)
CREATE INDEX daily_rollup_api_key_idx ON aispend.daily_rollup (account, api_key_id, day);
COMMENT ON TABLE aispend.daily_rollup IS
    'aispend.cost_facts_between per UTC day, account, workspace, API key and model, re-rolled in the transaction '
    'of every change that moves a figure (53_invalidation.sql). Ids only: names and the provider are joined at '
    'query time (aispend.daily_facts).';
COMMENT ON COLUMN aispend.daily_rollup.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.daily_rollup.day IS 'UTC day.';
COMMENT ON COLUMN aispend.daily_rollup.workspace_id IS 'Workspace / project id (''(default)'' sentinel included).';
COMMENT ON COLUMN aispend.daily_rollup.api_key_id IS 'API key id (''(console)'', ''(none)'' sentinels included).';
COMMENT ON COLUMN aispend.daily_rollup.model IS 'Model; ''(no model: tool & service fees)'' for cost lines without a model (web search, code execution, file search, ...).';
COMMENT ON COLUMN aispend.daily_rollup.billed_cost IS 'Cost as billed by the provider at this grain (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.allocated_cost IS 'Billed cost allocated to this grain by usage (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.estimated_cost IS 'Cost estimated from prices where nothing is billed yet (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.cost IS 'The cost the dashboard shows (cost model''s cost), US dollars.';
COMMENT ON COLUMN aispend.daily_rollup.cost_basis IS 'billed, allocated, estimated, or mixed.';
COMMENT ON COLUMN aispend.daily_rollup.input_tokens IS 'All input tokens (uncached + cache reads + cache writes).';
COMMENT ON COLUMN aispend.daily_rollup.output_tokens IS 'All output tokens.';
COMMENT ON COLUMN aispend.daily_rollup.total_tokens IS 'input_tokens + output_tokens (the dashboard''s Tokens).';
COMMENT ON COLUMN aispend.daily_rollup.requests IS 'Requests; NULL where the provider does not report them (Anthropic).';
COMMENT ON COLUMN aispend.daily_rollup.unpriced IS 'Some usage of this grain has no price: its cost is incomplete.';

CREATE TABLE aispend._rollup_state (
    account      name        NOT NULL,
    first_day    date        NOT NULL,
    last_day     date        NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _rollup_state_pkey PRIMARY KEY (account)
);
COMMENT ON TABLE aispend._rollup_state IS
    'Internal: per account, the first and last day of aispend.daily_rollup (the cumulative rows reach last_day).';

CREATE TABLE aispend._cum (
    account      name    NOT NULL,
    grain        "char"  NOT NULL CHECK (grain IN ('d', 'm')),
    at           date    NOT NULL,
    kind         "char"  NOT NULL CHECK (kind IN ('w', 'k', 'm')),
    workspace_id text    NOT NULL,
    api_key_id   text    NOT NULL,
    model        text    NOT NULL,
    cost         numeric NOT NULL,
    tokens       bigint  NOT NULL,
    requests     bigint,
    CONSTRAINT _cum_pkey PRIMARY KEY (account, grain, at, kind, workspace_id, api_key_id, model)
);
COMMENT ON TABLE aispend._cum IS
    'Internal: cumulative cost, tokens and requests per tab entity (kind w / k / m); grain d = month to date at '
    'day `at`, grain m = everything before month `at` (see 52_rollup.sql).';

-- The label of cost lines without a model, in the rollup and every tab.
CREATE FUNCTION aispend._no_model_label()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '(no model: tool & service fees)';

-- Replaces the daily_rollup rows of the UTC days from_day..to_day of an account; returns the rows written.
CREATE FUNCTION aispend._reroll_days(p_account name, from_day date, to_day date)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
    new_rows aispend.daily_rollup[];
BEGIN
    -- The new rows, computed once. A fact with a model is already one rollup row; the lines without one are
    -- added up per key. (A statement of its own: on Citus the cost model runs here, and the writes below are
    -- statements of the account's shard.)
    WITH f AS MATERIALIZED (SELECT * FROM aispend._cost_facts(p_account, from_day, to_day))
    SELECT pg_catalog.array_agg(ROW(p_account, nr.*)::aispend.daily_rollup) INTO new_rows
    FROM (SELECT f.day, f.workspace_id, f.api_key_id, f.model, f.billed_cost, f.allocated_cost, f.estimated_cost,
                 coalesce(f.cost, 0) AS cost, f.cost_basis, f.input_tokens, f.output_tokens, f.total_tokens,
                 f.requests, f.unpriced
          FROM f WHERE f.model IS NOT NULL
          UNION ALL
          SELECT f.day, f.workspace_id, f.api_key_id, aispend._no_model_label(),
                 sum(f.billed_cost), sum(f.allocated_cost), sum(f.estimated_cost), coalesce(sum(f.cost), 0),
                 CASE WHEN min(f.cost_basis) <> max(f.cost_basis) THEN 'mixed' ELSE min(f.cost_basis) END,
                 sum(f.input_tokens), sum(f.output_tokens), sum(f.total_tokens), sum(f.requests),
                 coalesce(bool_or(f.unpriced), false)
          FROM f WHERE f.model IS NULL
          GROUP BY f.day, f.workspace_id, f.api_key_id) nr;
    DELETE FROM aispend.daily_rollup r
    WHERE r.account = p_account AND r.day BETWEEN from_day AND to_day
      -- NOT IN (no column is NULL on either side), hashed: right after a first sync the rollup's statistics
      -- say one row, and a NOT EXISTS became a nested loop over the new rows per rollup row (minutes for a
      -- large account)
      AND (r.day, r.workspace_id, r.api_key_id, r.model) NOT IN
          (SELECT x.day, x.workspace_id, x.api_key_id, x.model FROM pg_catalog.unnest(new_rows) x);
    -- Only rows that change are written (a re-roll of many days mostly rewrites the same figures; fewer dead rows).
    INSERT INTO aispend.daily_rollup AS r
    SELECT x.* FROM pg_catalog.unnest(new_rows) x
    ON CONFLICT ON CONSTRAINT daily_rollup_pkey DO UPDATE
       SET billed_cost = excluded.billed_cost, allocated_cost = excluded.allocated_cost,
           estimated_cost = excluded.estimated_cost, cost = excluded.cost, cost_basis = excluded.cost_basis,
           input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
           total_tokens = excluded.total_tokens, requests = excluded.requests, unpriced = excluded.unpriced
     -- compared as text: 1.0 and 1.00 are equal numbers but not the same figure on the page (column by column:
     -- the row-to-text cast is STABLE, which Citus refuses in ON CONFLICT ... WHERE; the columns' casts are not)
     WHERE (r.billed_cost::text, r.allocated_cost::text, r.estimated_cost::text, r.cost::text, r.cost_basis,
            r.input_tokens::text, r.output_tokens::text, r.total_tokens::text, r.requests::text, r.unpriced::text)
           IS DISTINCT FROM
           (excluded.billed_cost::text, excluded.allocated_cost::text, excluded.estimated_cost::text,
            excluded.cost::text, excluded.cost_basis, excluded.input_tokens::text, excluded.output_tokens::text,
            excluded.total_tokens::text, excluded.requests::text, excluded.unpriced::text);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._reroll_days(name, date, date) IS
    'Internal: makes the daily_rollup rows of an account for the UTC days from_day..to_day (included) those of '
    'the cost model, writing only the rows that change; returns the rows written.';

-- Rewrites the day rows (grain d) of every entity of an account for one calendar month.
CREATE FUNCTION aispend._reroll_month_days(p_account name, p_month date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    WITH d AS (
        SELECT r.day,
               (CASE WHEN GROUPING(r.api_key_id) = 0 THEN 'k' WHEN GROUPING(r.model) = 0 THEN 'm' ELSE 'w' END)::"char"
                   AS kind,
               coalesce(r.workspace_id, '') AS workspace_id, coalesce(r.api_key_id, '') AS api_key_id,
               coalesce(r.model, '') AS model,
               sum(r.cost) AS cost, coalesce(sum(r.total_tokens), 0) AS tokens, sum(r.requests) AS requests
        FROM aispend.daily_rollup r
        WHERE r.account = p_account AND r.day >= p_month AND r.day < (p_month + interval '1 month')::date
        GROUP BY GROUPING SETS ((r.day, r.workspace_id), (r.day, r.workspace_id, r.api_key_id), (r.day, r.model))),
    g AS (
        SELECT e.kind, e.workspace_id, e.api_key_id, e.model, gd::date AS day
        FROM (SELECT d.kind, d.workspace_id, d.api_key_id, d.model, min(d.day) AS first
              FROM d GROUP BY d.kind, d.workspace_id, d.api_key_id, d.model) e,
             pg_catalog.generate_series(e.first::timestamp, p_month + interval '1 month' - interval '1 day',
                                        interval '1 day') AS gd),
    -- every day of every entity with its figures (none on a day without data), by grouping a union rather than
    -- a join: right after a first sync the rollup's statistics say a few rows, and the join became a nested loop
    -- (minutes for a large account on a Citus worker)
    nr AS MATERIALIZED (
        SELECT x.day, x.kind, x.workspace_id, x.api_key_id, x.model,
               coalesce(sum(sum(x.cost)) OVER w, 0) AS cost, coalesce(sum(sum(x.tokens)) OVER w, 0) AS tokens,
               sum(sum(x.requests)) OVER w AS requests
        FROM (SELECT g.day, g.kind, g.workspace_id, g.api_key_id, g.model, NULL::numeric AS cost,
                     NULL::numeric AS tokens, NULL::numeric AS requests
              FROM g
              UNION ALL
              SELECT d.day, d.kind, d.workspace_id, d.api_key_id, d.model, d.cost, d.tokens, d.requests FROM d) x
        GROUP BY x.day, x.kind, x.workspace_id, x.api_key_id, x.model
        WINDOW w AS (PARTITION BY x.kind, x.workspace_id, x.api_key_id, x.model ORDER BY x.day)),
    gone AS (
        DELETE FROM aispend._cum x
        WHERE x.account = p_account AND x.grain = 'd' AND x.at >= p_month AND x.at < (p_month + interval '1 month')::date
          -- NOT IN, hashed (see aispend._reroll_days)
          AND (x.at, x.kind, x.workspace_id, x.api_key_id, x.model) NOT IN
              (SELECT nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model FROM nr))
    INSERT INTO aispend._cum AS c (account, grain, at, kind, workspace_id, api_key_id, model, cost, tokens, requests)
    SELECT p_account, 'd', nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model, nr.cost, nr.tokens, nr.requests
    FROM nr
    -- stored day by day: a tab reads the rows of one day, which then share a few pages
    ORDER BY nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model
    ON CONFLICT (account, grain, at, kind, workspace_id, api_key_id, model) DO UPDATE
       SET cost = excluded.cost, tokens = excluded.tokens, requests = excluded.requests
     WHERE (c.cost::text, c.tokens::text, c.requests::text)
           IS DISTINCT FROM (excluded.cost::text, excluded.tokens::text, excluded.requests::text);
END
$$;
COMMENT ON FUNCTION aispend._reroll_month_days(name, date) IS
    'Internal: rewrites the month-to-date rows of every entity of an account for one calendar month.';

-- Rewrites the month rows (grain m) of an account after month p_from up to month p_last. The rows at p_from
-- (everything before it) are the base; month totals are the day rows at each month's last day.
CREATE FUNCTION aispend._reroll_months(p_account name, p_from date, p_last date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    WITH t AS (
        SELECT c.kind, c.workspace_id, c.api_key_id, c.model, pg_catalog.date_trunc('month', c.at)::date AS m,
               c.cost, c.tokens, c.requests
        FROM aispend._cum c
        WHERE c.account = p_account AND c.grain = 'd'
          AND c.at = ANY (ARRAY(SELECT (gm + interval '1 month' - interval '1 day')::date
                                FROM pg_catalog.generate_series(p_from::timestamp, p_last - interval '1 month',
                                                                interval '1 month') AS gm))
        UNION ALL
        SELECT c.kind, c.workspace_id, c.api_key_id, c.model, (p_from - interval '1 month')::date,
               c.cost, c.tokens, c.requests
        FROM aispend._cum c
        WHERE c.account = p_account AND c.grain = 'm' AND c.at = p_from),
    g AS (
        SELECT f.kind, f.workspace_id, f.api_key_id, f.model, gm::date AS m
        FROM (SELECT t.kind, t.workspace_id, t.api_key_id, t.model, min(t.m) AS first
              FROM t GROUP BY t.kind, t.workspace_id, t.api_key_id, t.model) f,
             pg_catalog.generate_series(f.first::timestamp, p_last::timestamp, interval '1 month') AS gm),
    -- by grouping a union rather than a join, as in aispend._reroll_month_days
    s AS (
        SELECT x.kind, x.workspace_id, x.api_key_id, x.model, x.m,
               coalesce(sum(sum(x.cost)) OVER w, 0) AS cost, coalesce(sum(sum(x.tokens)) OVER w, 0) AS tokens,
               sum(sum(x.requests)) OVER w AS requests, sum(count(x.cost)) OVER w AS months_before
        FROM (SELECT g.kind, g.workspace_id, g.api_key_id, g.model, g.m, NULL::numeric AS cost,
                     NULL::numeric AS tokens, NULL::numeric AS requests
              FROM g
              UNION ALL
              SELECT t.kind, t.workspace_id, t.api_key_id, t.model, t.m, t.cost, t.tokens, t.requests FROM t) x
        GROUP BY x.kind, x.workspace_id, x.api_key_id, x.model, x.m
        WINDOW w AS (PARTITION BY x.kind, x.workspace_id, x.api_key_id, x.model ORDER BY x.m
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    -- an entity has a row from the month after its first one: none for its first month (nothing is before
    -- it), whether the re-roll starts there (a first roll-up) or earlier (a later one)
    nr AS MATERIALIZED (SELECT s.kind, s.workspace_id, s.api_key_id, s.model, s.m, s.cost, s.tokens, s.requests
                        FROM s WHERE s.m > p_from AND s.months_before > 0),
    gone AS (
        DELETE FROM aispend._cum x
        WHERE x.account = p_account AND x.grain = 'm' AND x.at > p_from
          -- NOT IN, hashed (see aispend._reroll_days)
          AND (x.at, x.kind, x.workspace_id, x.api_key_id, x.model) NOT IN
              (SELECT nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model FROM nr))
    INSERT INTO aispend._cum AS c (account, grain, at, kind, workspace_id, api_key_id, model, cost, tokens, requests)
    SELECT p_account, 'm', nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model, nr.cost, nr.tokens, nr.requests
    FROM nr
    ORDER BY nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model
    ON CONFLICT (account, grain, at, kind, workspace_id, api_key_id, model) DO UPDATE
       SET cost = excluded.cost, tokens = excluded.tokens, requests = excluded.requests
     WHERE (c.cost::text, c.tokens::text, c.requests::text)
           IS DISTINCT FROM (excluded.cost::text, excluded.tokens::text, excluded.requests::text);
END
$$;
COMMENT ON FUNCTION aispend._reroll_months(name, date, date) IS
    'Internal: rewrites the before-month rows of every entity of an account for the months after p_from.';

-- Re-rolls the days of an account marked in aispend._dirty_days; returns the daily_rollup rows written.
-- Long runs of days are cost in chunks of at most 31 days (one cost-model query each). A month of a large
-- organisation sorts a few hundred thousand rows: with the default 4 MB they spill to disk, and JIT compiling
-- the cost model costs more than it saves. Each chunk is planned for its own account and days (a generic plan,
-- chosen after five calls, cannot see how many rows a month holds).
CREATE FUNCTION aispend._reroll(account name)
RETURNS bigint LANGUAGE plpgsql
SET work_mem = '64MB' SET jit = off SET plan_cache_mode = force_custom_plan
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    acct name := account;
    days date[];
    chunk record;
    old_last date;
    new_first date;
    new_last date;
    months date[];
    m date;
    mstart date;
    n bigint := 0;
BEGIN
    -- One re-roll per account at a time (classid 'aisq': next to the sync's 'aisp').
    PERFORM pg_catalog.pg_advisory_xact_lock(1634300785, aispend._lock_key(acct));
    WITH d AS (DELETE FROM aispend._dirty_days x WHERE x.account = acct RETURNING x.day)
    SELECT pg_catalog.array_agg(DISTINCT d.day ORDER BY d.day) INTO days FROM d;
    IF days IS NULL THEN
        RETURN 0;
    END IF;
    SELECT s.last_day INTO old_last FROM aispend._rollup_state s WHERE s.account = acct;

    FOR chunk IN
        SELECT min(x.day) AS f, max(x.day) AS l
        FROM (SELECT y.day, y.run, (y.day - min(y.day) OVER (PARTITION BY y.run)) / 31 AS part
              FROM (SELECT z.day, sum(z.gap) OVER (ORDER BY z.day) AS run
                    FROM (SELECT u.day, CASE WHEN u.day - pg_catalog.lag(u.day) OVER (ORDER BY u.day) <= 1 THEN 0
                                             ELSE 1 END AS gap
                          FROM pg_catalog.unnest(days) AS u(day)) z) y) x
        GROUP BY x.run, x.part ORDER BY 1
    LOOP
        n := n + aispend._reroll_days(acct, chunk.f, chunk.l);
    END LOOP;

    SELECT r.day INTO new_first FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day LIMIT 1;
    SELECT r.day INTO new_last FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day DESC LIMIT 1;
    IF new_last IS NULL THEN
        DELETE FROM aispend._cum c WHERE c.account = acct;
        DELETE FROM aispend._rollup_state s WHERE s.account = acct;
        RETURN n;
    END IF;

    IF old_last IS NULL THEN
        -- first roll-up of the account: every month
        DELETE FROM aispend._cum c WHERE c.account = acct;
        months := ARRAY(SELECT gm::date FROM pg_catalog.generate_series(
                            pg_catalog.date_trunc('month', new_first::timestamp),
                            pg_catalog.date_trunc('month', new_last::timestamp), interval '1 month') AS gm);
        mstart := months[1];
    ELSE
        months := ARRAY(SELECT DISTINCT pg_catalog.date_trunc('month', d::timestamp)::date
                        FROM pg_catalog.unnest(days) AS d ORDER BY 1);
        -- from the earliest changed month, or from the old last month when the data now reaches further
        mstart := LEAST(months[1], pg_catalog.date_trunc('month', old_last::timestamp)::date);
    END IF;
    FOREACH m IN ARRAY months LOOP
        PERFORM aispend._reroll_month_days(acct, m);
    END LOOP;
    PERFORM aispend._reroll_months(acct, mstart, pg_catalog.date_trunc('month', new_last::timestamp)::date);
    DELETE FROM aispend._cum c
     WHERE c.account = acct AND c.grain = 'm' AND c.at > pg_catalog.date_trunc('month', new_last::timestamp)::date;

    INSERT INTO aispend._rollup_state AS s (account, first_day, last_day, refreshed_at)
    VALUES (acct, new_first, new_last, pg_catalog.now())
    ON CONFLICT ON CONSTRAINT _rollup_state_pkey DO UPDATE
       SET first_day = excluded.first_day, last_day = excluded.last_day, refreshed_at = excluded.refreshed_at;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._reroll(name) IS
    'Internal: re-rolls the days of an account marked dirty (aispend._dirty_days): their daily_rollup rows and '
    'the cumulative rows that depend on them; returns the daily_rollup rows written.';

-- Everything from scratch: what a user runs after loading facts with triggers disabled.
CREATE FUNCTION aispend.refresh_rollups(account name DEFAULT NULL)
RETURNS TABLE (refreshed_account name, first_day date, last_day date, rollup_rows bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    acct name;
    m record;
BEGIN
    FOR acct IN
        SELECT a FROM (SELECT DISTINCT u.account AS a FROM aispend.usage u
                       UNION SELECT DISTINCT c.account FROM aispend.costs c
                       UNION SELECT s.account FROM aispend._rollup_state s) x
        WHERE refresh_rollups.account IS NULL OR a = refresh_rollups.account ORDER BY a
    LOOP
        -- the account's re-roll lock first, as aispend._reroll takes it before it writes the same rows
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300785, aispend._lock_key(acct));
        DELETE FROM aispend._rollup_state s WHERE s.account = acct;
        DELETE FROM aispend.daily_rollup r WHERE r.account = acct;
        -- the models read first, then noted: on Citus a function called inside a query of the facts would run on
        -- their shard, where it cannot write another table
        FOR m IN
            SELECT x.model, min(x.b) AS first, max(x.b) AS last
            FROM (SELECT u.model, u.bucket_start AS b FROM aispend.usage u WHERE u.account = acct AND u.model IS NOT NULL
                  UNION ALL
                  SELECT c.model, c.bucket_start FROM aispend.costs c WHERE c.account = acct AND c.model IS NOT NULL) x
            GROUP BY x.model
        LOOP
            PERFORM aispend._note_model(acct, m.model, m.first, m.last);
        END LOOP;
        PERFORM aispend._mark_all_days(acct);
        refreshed_account := acct;
        rollup_rows := aispend._reroll(acct);
        SELECT s.first_day, s.last_day INTO first_day, last_day FROM aispend._rollup_state s WHERE s.account = acct;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.refresh_rollups(name) IS
    'Rebuilds the dashboard rollups (and aispend.models) of one account (default: every account) from all of its '
    'facts. Every change to facts, prices or sync runs keeps them current by itself; use this after loading '
    'aispend.usage or aispend.costs with triggers disabled (pg_restore --disable-triggers, '
    'session_replication_role = replica).';

REVOKE ALL ON FUNCTION aispend._reroll_days(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll_month_days(name, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll_months(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.refresh_rollups(name) FROM PUBLIC;
