-- 52_rollup.sql: the dashboard's maintained rollups, kept correct by the sync and by price changes.
--
-- 1. aispend.daily_rollup: aispend.cost_facts_between aggregated to day x account x workspace x key x model.
--    No names: workspaces and keys are joined by id at query time, so a rename shows at once on every tab.
-- 2. Cumulative sums per tab entity, so that any period costs the same to read (three boundary days, whatever
--    the length): for entity e and day X,  total(e, first..X) = _cum_*_month(e, month(X)) + _cum_*_day(e, X)
--      _cum_*_month: everything before the month (a row for every month from the entity's first active month
--                    to the month of the account's last day with data);
--      _cum_*_day:   month to date (a row for every day from the entity's first active day in the month to
--                    the end of the month, or the account's last day with data).
--    A period [f, l] is total(l) - total(f - 1). Refreshing days rewrites the day rows from the first refreshed
--    day to the end of its month and the month rows after it: cheap for the sync's recent windows.
-- 3. aispend._refresh_rollup(account, from_day, to_day) replaces those days atomically (one transaction,
--    serialised per account by an advisory lock); aispend._after_sync_window is the sync's hook; a statement
--    trigger on the price catalogue refreshes the days of the models whose prices changed.

CREATE TABLE aispend.daily_rollup (
    account        name    NOT NULL,
    day            date    NOT NULL,
    provider       text    NOT NULL,
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
COMMENT ON TABLE aispend.daily_rollup IS
    'aispend.cost_facts_between per UTC day, account, workspace, API key and model, maintained by '
    'aispend._refresh_rollup (sync hook, price changes). Ids only: names are joined at query time.';
COMMENT ON COLUMN aispend.daily_rollup.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.daily_rollup.day IS 'UTC day.';
COMMENT ON COLUMN aispend.daily_rollup.provider IS 'openai, anthropic, ...';
COMMENT ON COLUMN aispend.daily_rollup.workspace_id IS 'Workspace / project id (''(default)'' sentinel included).';
COMMENT ON COLUMN aispend.daily_rollup.api_key_id IS 'API key id (''(console)'', ''(none)'' sentinels included).';
COMMENT ON COLUMN aispend.daily_rollup.model IS 'Model; ''(no model: tool & service fees)'' for cost lines without a model (web search, code execution, file search, ...).';
COMMENT ON COLUMN aispend.daily_rollup.billed_cost IS 'Cost as billed by the provider at this grain (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.allocated_cost IS 'Billed cost allocated to this grain by usage (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.estimated_cost IS 'Cost estimated from prices where nothing is billed yet (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.cost IS 'The cost the dashboard shows (cost model''s cost), US dollars.';
COMMENT ON COLUMN aispend.daily_rollup.cost_basis IS 'billed, allocated or estimated.';
COMMENT ON COLUMN aispend.daily_rollup.input_tokens IS 'All input tokens (uncached + cache reads + cache writes).';
COMMENT ON COLUMN aispend.daily_rollup.output_tokens IS 'All output tokens.';
COMMENT ON COLUMN aispend.daily_rollup.total_tokens IS 'input_tokens + output_tokens (the dashboard''s Tokens).';
COMMENT ON COLUMN aispend.daily_rollup.requests IS 'Requests; NULL where the provider does not report them (Anthropic).';
COMMENT ON COLUMN aispend.daily_rollup.unpriced IS 'Some usage of this grain has no price: its cost is incomplete.';

CREATE TABLE aispend._rollup_state (
    account      name        NOT NULL,
    provider     text        NOT NULL,
    first_day    date        NOT NULL,
    last_day     date        NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _rollup_state_pkey PRIMARY KEY (account)
);
COMMENT ON TABLE aispend._rollup_state IS
    'Internal: per account, the first and last day of aispend.daily_rollup (the cumulative rows are dense up to last_day).';

-- The cumulative tables: (entity columns, day | month, cost, tokens, requests).
CREATE TABLE aispend._cum_workspace_day (
    account name NOT NULL, day date NOT NULL, workspace_id text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_workspace_day_pkey PRIMARY KEY (account, day, workspace_id));
CREATE TABLE aispend._cum_workspace_month (
    account name NOT NULL, month date NOT NULL, workspace_id text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_workspace_month_pkey PRIMARY KEY (account, month, workspace_id));
CREATE TABLE aispend._cum_key_day (
    account name NOT NULL, day date NOT NULL, workspace_id text NOT NULL, api_key_id text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_key_day_pkey PRIMARY KEY (account, day, workspace_id, api_key_id));
CREATE TABLE aispend._cum_key_month (
    account name NOT NULL, month date NOT NULL, workspace_id text NOT NULL, api_key_id text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_key_month_pkey PRIMARY KEY (account, month, workspace_id, api_key_id));
CREATE TABLE aispend._cum_model_day (
    account name NOT NULL, day date NOT NULL, model text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_model_day_pkey PRIMARY KEY (account, day, model));
CREATE TABLE aispend._cum_model_month (
    account name NOT NULL, month date NOT NULL, model text NOT NULL,
    cost numeric NOT NULL, tokens bigint NOT NULL, requests bigint,
    CONSTRAINT _cum_model_month_pkey PRIMARY KEY (account, month, model));
COMMENT ON TABLE aispend._cum_workspace_day IS 'Internal: month-to-date cost, tokens, requests per workspace and day (see 52_rollup.sql).';
COMMENT ON TABLE aispend._cum_workspace_month IS 'Internal: cost, tokens, requests per workspace before each month.';
COMMENT ON TABLE aispend._cum_key_day IS 'Internal: month-to-date cost, tokens, requests per (workspace, API key) and day.';
COMMENT ON TABLE aispend._cum_key_month IS 'Internal: cost, tokens, requests per (workspace, API key) before each month.';
COMMENT ON TABLE aispend._cum_model_day IS 'Internal: month-to-date cost, tokens, requests per model and day.';
COMMENT ON TABLE aispend._cum_model_month IS 'Internal: cost, tokens, requests per model before each month.';

-- Rewrites the cumulative rows of one kind ('workspace', 'key', 'model') of an account from day p_from on:
-- day rows of [p_from, p_last], month rows after month(p_mfrom) (p_mfrom <= p_from, and a month whose rows
-- exist), and drops rows after p_dt.
CREATE FUNCTION aispend._rebuild_cum(p_kind text, p_account name, p_from date, p_last date, p_dt date,
                                     p_mfrom date)
RETURNS void LANGUAGE plpgsql
AS $$
DECLARE
    cols text := CASE p_kind WHEN 'workspace' THEN 'workspace_id' WHEN 'key' THEN 'workspace_id, api_key_id'
                             WHEN 'model' THEN 'model' END;
    gcols text;
    bjoin text;
    ejoin text;
    djoin text;
    tday text := pg_catalog.format('aispend.%I', '_cum_' || p_kind || '_day');
    tmon text := pg_catalog.format('aispend.%I', '_cum_' || p_kind || '_month');
    ma date := pg_catalog.date_trunc('month', LEAST(p_from, p_mfrom)::timestamp)::date;
BEGIN
    SELECT pg_catalog.string_agg('g.' || c, ', '),
           pg_catalog.string_agg(pg_catalog.format('b.%1$s = g.%1$s', c), ' AND '),
           pg_catalog.string_agg(pg_catalog.format('e.%1$s = g.%1$s', c), ' AND '),
           pg_catalog.string_agg(pg_catalog.format('d.%1$s = g.%1$s', c), ' AND ')
      INTO gcols, bjoin, ejoin, djoin
      FROM pg_catalog.unnest(pg_catalog.string_to_array(cols, ', ')) AS c;

    EXECUTE pg_catalog.format('DELETE FROM %s WHERE account = $1 AND (day >= $2 AND day <= $3 OR day > $4)', tday)
        USING p_account, p_from, p_last, p_dt;
    IF p_from <= p_last THEN
        EXECUTE pg_catalog.format($q$
            INSERT INTO %1$s (account, %2$s, day, cost, tokens, requests)
            WITH d AS (
                SELECT %2$s, r.day, sum(r.cost) AS c, sum(r.total_tokens) AS t, sum(r.requests) AS q
                FROM aispend.daily_rollup r
                WHERE r.account = $1 AND r.day BETWEEN $2 AND $3
                GROUP BY %2$s, r.day),
            b AS (
                SELECT %2$s, x.cost, x.tokens, x.requests FROM %1$s x
                WHERE x.account = $1 AND x.day = $2 - 1
                  AND pg_catalog.date_trunc('month', ($2 - 1)::timestamp) = pg_catalog.date_trunc('month', $2::timestamp)),
            s AS (
                SELECT %2$s, pg_catalog.date_trunc('month', y.day::timestamp)::date AS m, min(y.day) AS first
                FROM (SELECT %2$s, d.day FROM d UNION ALL SELECT %2$s, $2 FROM b) y
                GROUP BY %2$s, pg_catalog.date_trunc('month', y.day::timestamp)),
            g AS (
                SELECT %2$s, s.m, gd::date AS day
                FROM s, pg_catalog.generate_series(s.first::timestamp,
                          LEAST($3, (s.m + interval '1 month' - interval '1 day')::date)::timestamp,
                          interval '1 day') AS gd)
            SELECT $1, %3$s, g.day,
                   coalesce(b.cost, 0) + coalesce(sum(d.c) OVER w, 0),
                   coalesce(b.tokens, 0) + coalesce(sum(d.t) OVER w, 0),
                   CASE WHEN b.requests IS NULL AND sum(d.q) OVER w IS NULL THEN NULL
                        ELSE coalesce(b.requests, 0) + coalesce(sum(d.q) OVER w, 0) END
            FROM g
            LEFT JOIN d ON %5$s AND d.day = g.day
            LEFT JOIN b ON %4$s AND g.m = pg_catalog.date_trunc('month', $2::timestamp)
            WINDOW w AS (PARTITION BY %3$s, g.m ORDER BY g.day)
        $q$, tday, cols, gcols, bjoin, djoin) USING p_account, p_from, p_last;
    END IF;

    EXECUTE pg_catalog.format('DELETE FROM %s WHERE account = $1 AND (month > $2 OR month > $3)', tmon)
        USING p_account, ma, pg_catalog.date_trunc('month', p_dt::timestamp)::date;
    IF ma <= p_dt THEN
        EXECUTE pg_catalog.format($q$
            INSERT INTO %1$s AS t (account, %2$s, month, cost, tokens, requests)
            WITH b AS (
                SELECT %2$s, x.cost, x.tokens, x.requests FROM %1$s x WHERE x.account = $1 AND x.month = $2),
            e AS (
                SELECT %2$s, pg_catalog.date_trunc('month', x.day::timestamp)::date AS m, x.cost, x.tokens, x.requests
                FROM %6$s x
                WHERE x.account = $1
                  AND x.day = ANY (ARRAY(
                      SELECT LEAST($3, (mm + interval '1 month' - interval '1 day')::date)
                      FROM pg_catalog.generate_series($2::timestamp, $3::timestamp, interval '1 month') AS mm))),
            f AS (
                SELECT %2$s, min(y.m) AS first
                FROM (SELECT %2$s, e.m FROM e UNION ALL SELECT %2$s, $2 FROM b) y GROUP BY %2$s),
            g AS (
                SELECT %2$s, gm::date AS month
                FROM f, pg_catalog.generate_series(f.first::timestamp,
                                                   pg_catalog.date_trunc('month', $3::timestamp),
                                                   interval '1 month') AS gm)
            SELECT $1, %3$s, g.month,
                   coalesce(b.cost, 0) + coalesce(sum(e.cost) OVER w, 0),
                   coalesce(b.tokens, 0) + coalesce(sum(e.tokens) OVER w, 0),
                   CASE WHEN b.requests IS NULL AND sum(e.requests) OVER w IS NULL THEN NULL
                        ELSE coalesce(b.requests, 0) + coalesce(sum(e.requests) OVER w, 0) END
            FROM g
            LEFT JOIN e ON %5$s AND e.m = g.month
            LEFT JOIN b ON %4$s
            WINDOW w AS (PARTITION BY %3$s ORDER BY g.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            ON CONFLICT DO NOTHING
        $q$, tmon, cols, gcols, bjoin, ejoin, tday) USING p_account, ma, p_dt;
    END IF;
END
$$;
COMMENT ON FUNCTION aispend._rebuild_cum(text, name, date, date, date, date) IS
    'Internal: rewrites the cumulative rows of one tab entity kind of an account from a day on.';

CREATE FUNCTION aispend._refresh_rollup(account name, from_day date, to_day date)
RETURNS bigint LANGUAGE plpgsql
AS $$
#variable_conflict use_variable
DECLARE
    acct name := account;
    old_dt date;
    old_first date;
    new_dt date;
    new_first date;
    prov text;
    a date;
    n bigint;
    k text;
BEGIN
    IF acct IS NULL OR from_day IS NULL OR to_day IS NULL OR from_day > to_day THEN
        RAISE EXCEPTION 'aispend: _refresh_rollup needs an account and from_day <= to_day'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One refresh per account at a time (classid 'aisq': next to the sync's 'aisp').
    PERFORM pg_catalog.pg_advisory_xact_lock(1634300785, aispend._lock_key(acct));
    SELECT s.last_day, s.first_day INTO old_dt, old_first FROM aispend._rollup_state s WHERE s.account = acct;

    DELETE FROM aispend.daily_rollup r WHERE r.account = acct AND r.day BETWEEN from_day AND to_day;
    -- to_day + 1: whether cost_facts_between's end is inclusive or not, every day of [from_day, to_day] is read.
    INSERT INTO aispend.daily_rollup (account, day, provider, workspace_id, api_key_id, model, billed_cost,
                                      allocated_cost, estimated_cost, cost, cost_basis, input_tokens, output_tokens,
                                      total_tokens, requests, unpriced)
    SELECT acct, f.day, min(f.provider), f.workspace_id, f.api_key_id, coalesce(f.model, '(no model: tool & service fees)'),
           sum(f.billed_cost), sum(f.allocated_cost), sum(f.estimated_cost), coalesce(sum(f.cost), 0),
           CASE WHEN count(DISTINCT f.cost_basis) > 1 THEN 'mixed' ELSE min(f.cost_basis) END,
           sum(f.input_tokens), sum(f.output_tokens), sum(f.total_tokens), sum(f.requests),
           coalesce(bool_or(f.unpriced), false)
    FROM aispend.cost_facts_between(acct, from_day, to_day + 1) f
    WHERE f.day BETWEEN from_day AND to_day
    GROUP BY f.day, f.workspace_id, f.api_key_id, coalesce(f.model, '(no model: tool & service fees)');
    GET DIAGNOSTICS n = ROW_COUNT;

    SELECT r.day INTO new_dt FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day DESC LIMIT 1;
    SELECT r.day INTO new_first FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day LIMIT 1;
    IF new_dt IS NULL THEN
        DELETE FROM aispend._cum_workspace_day c WHERE c.account = acct;
        DELETE FROM aispend._cum_workspace_month c WHERE c.account = acct;
        DELETE FROM aispend._cum_key_day c WHERE c.account = acct;
        DELETE FROM aispend._cum_key_month c WHERE c.account = acct;
        DELETE FROM aispend._cum_model_day c WHERE c.account = acct;
        DELETE FROM aispend._cum_model_month c WHERE c.account = acct;
        DELETE FROM aispend._rollup_state s WHERE s.account = acct;
        RETURN n;
    END IF;

    -- First refreshed day: the earliest day whose cumulative rows may change. Days between the old last day
    -- and from_day must become dense too; a first refresh builds everything.
    a := from_day;
    IF old_dt IS NULL THEN
        a := LEAST(a, new_first);
    ELSIF new_dt > old_dt AND old_dt + 1 < a THEN
        a := old_dt + 1;
    END IF;
    FOREACH k IN ARRAY ARRAY['workspace', 'key', 'model'] LOOP
        PERFORM aispend._rebuild_cum(k, acct, a,
            LEAST(new_dt, (pg_catalog.date_trunc('month', GREATEST(to_day, a)::timestamp) + interval '1 month' - interval '1 day')::date),
            new_dt, LEAST(a, old_dt));
    END LOOP;

    SELECT r.provider INTO prov FROM aispend.daily_rollup r WHERE r.account = acct AND r.day = new_dt LIMIT 1;
    INSERT INTO aispend._rollup_state AS s (account, provider, first_day, last_day, refreshed_at)
    VALUES (acct, prov, new_first, new_dt, pg_catalog.now())
    ON CONFLICT ON CONSTRAINT _rollup_state_pkey DO UPDATE
       SET provider = excluded.provider, first_day = excluded.first_day, last_day = excluded.last_day,
           refreshed_at = excluded.refreshed_at;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._refresh_rollup(name, date, date) IS
    'Internal: replaces the rollup rows of an account for the UTC days from_day..to_day (included) with '
    'aispend.cost_facts_between, and the cumulative sums that depend on them; returns the rows written.';

-- Every account with data, for aispend.refresh_rollups().
CREATE FUNCTION aispend.refresh_rollups(account name DEFAULT NULL)
RETURNS TABLE (refreshed_account name, first_day date, last_day date, rollup_rows bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    acct name;
    f date;
    l date;
BEGIN
    FOR acct IN
        SELECT a FROM (SELECT DISTINCT u.account AS a FROM aispend.usage u
                       UNION SELECT DISTINCT c.account FROM aispend.costs c
                       UNION SELECT s.account FROM aispend._rollup_state s) x
        WHERE refresh_rollups.account IS NULL OR a = refresh_rollups.account ORDER BY a
    LOOP
        SELECT (LEAST((SELECT min(u.bucket_start) FROM aispend.usage u WHERE u.account = acct),
                      (SELECT min(c.bucket_start) FROM aispend.costs c WHERE c.account = acct)) AT TIME ZONE 'UTC')::date,
               (GREATEST((SELECT max(u.bucket_start) FROM aispend.usage u WHERE u.account = acct),
                         (SELECT max(c.bucket_start) FROM aispend.costs c WHERE c.account = acct)) AT TIME ZONE 'UTC')::date
          INTO f, l;
        SELECT LEAST(f, (SELECT s.first_day FROM aispend._rollup_state s WHERE s.account = acct)),
               GREATEST(l, (SELECT s.last_day FROM aispend._rollup_state s WHERE s.account = acct))
          INTO f, l;
        IF f IS NULL THEN
            CONTINUE;
        END IF;
        refreshed_account := acct;
        first_day := f;
        last_day := l;
        rollup_rows := aispend._refresh_rollup(acct, f, l);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.refresh_rollups(name) IS
    'Rebuilds the dashboard rollups of one account (default: every account) from all of its synced data. '
    'The sync keeps them current by itself; use this after loading aispend.usage / aispend.costs by hand.';

-- The sync's hook: called after each committed usage or costs window of an account.
CREATE FUNCTION aispend._after_sync_window(account name, since timestamptz, until timestamptz)
RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    IF since IS NULL OR until IS NULL OR since >= until THEN
        RETURN;
    END IF;
    PERFORM aispend._refresh_rollup(account, (since AT TIME ZONE 'UTC')::date,
                                    ((until AT TIME ZONE 'UTC') - interval '1 microsecond')::date);
END
$$;
COMMENT ON FUNCTION aispend._after_sync_window(name, timestamptz, timestamptz) IS
    'Internal: the sync calls it after each committed window [since, until); refreshes the rollups of those UTC days.';

-- Price catalogue changes move allocated / estimated costs: refresh the days of the models concerned.
CREATE FUNCTION aispend._refresh_rollup_models(p_models text[])
RETURNS void LANGUAGE plpgsql
AS $$
DECLARE
    st record;
    f date;
    l date;
BEGIN
    FOR st IN SELECT s.account FROM aispend._rollup_state s ORDER BY s.account LOOP
        IF p_models IS NULL OR NULL = ANY (p_models) THEN
            SELECT s.first_day, s.last_day INTO f, l FROM aispend._rollup_state s WHERE s.account = st.account;
        ELSE
            SELECT min(c.day), max(c.day) INTO f, l
              FROM aispend._cum_model_day c
             WHERE c.account = st.account AND c.model = ANY (p_models);
            SELECT LEAST(f, (SELECT min(m.month) FROM aispend._cum_model_month m
                             WHERE m.account = st.account AND m.model = ANY (p_models))),
                   GREATEST(l, (SELECT max(m.month) FROM aispend._cum_model_month m
                                WHERE m.account = st.account AND m.model = ANY (p_models)))
              INTO f, l;
            -- The model may also appear under another spelling in the facts: include the usage's own days.
            SELECT LEAST(f, (min(u.bucket_start) AT TIME ZONE 'UTC')::date),
                   GREATEST(l, (max(u.bucket_start) AT TIME ZONE 'UTC')::date) INTO f, l
              FROM aispend.usage u WHERE u.account = st.account AND u.model = ANY (p_models);
        END IF;
        IF f IS NOT NULL THEN
            PERFORM aispend._refresh_rollup(st.account, f, GREATEST(l, f));
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._refresh_rollup_models(text[]) IS
    'Internal: refreshes the rollup days of every account where one of the models occurs (NULL: everything).';

CREATE FUNCTION aispend._model_prices_changed()
RETURNS trigger LANGUAGE plpgsql
AS $$
DECLARE
    models text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        models := NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT pg_catalog.array_agg(DISTINCT pg_catalog.to_jsonb(n) ->> 'model') INTO models FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT pg_catalog.array_agg(DISTINCT pg_catalog.to_jsonb(o) ->> 'model') INTO models FROM old_rows o;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT m) INTO models
          FROM (SELECT pg_catalog.to_jsonb(n) ->> 'model' AS m FROM new_rows n
                UNION ALL SELECT pg_catalog.to_jsonb(o) ->> 'model' FROM old_rows o) x;
    END IF;
    IF TG_OP = 'TRUNCATE' OR models IS NOT NULL THEN
        PERFORM aispend._refresh_rollup_models(models);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._model_prices_changed() IS
    'Internal: statement trigger of aispend.model_prices; refreshes the rollup days of the changed models '
    '(a row without a model column refreshes everything).';

-- The price catalogue belongs to the cost model (40-49); the triggers are created when it exists.
DO $$
BEGIN
    IF pg_catalog.to_regclass('aispend.model_prices') IS NOT NULL THEN
        CREATE TRIGGER model_prices_rollup_ins AFTER INSERT ON aispend.model_prices
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
        CREATE TRIGGER model_prices_rollup_upd AFTER UPDATE ON aispend.model_prices
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
        CREATE TRIGGER model_prices_rollup_del AFTER DELETE ON aispend.model_prices
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
        CREATE TRIGGER model_prices_rollup_trunc AFTER TRUNCATE ON aispend.model_prices
            FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
    END IF;
END
$$;

REVOKE ALL ON FUNCTION aispend._rebuild_cum(text, name, date, date, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_rollup(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.refresh_rollups(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._after_sync_window(name, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_rollup_models(text[]) FROM PUBLIC;
