-- aispend 0.6.0 -> 0.7.0: the dashboard on a Citus cluster (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.7.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.7.0'" to load this file. \quit

-- ---- functions new or changed in 0.7.0 (src/sql/22_account_providers.sql, 45_estimates.sql, 47_cost_facts.sql,
-- 52_rollup.sql, 53_invalidation.sql, 67_team_access.sql, 73_alerts.sql), exactly as a fresh install defines them

CREATE OR REPLACE FUNCTION aispend._cost_facts(p_account name, p_from date, p_to date)
 RETURNS TABLE(day date, account name, provider text, workspace_id text, api_key_id text, model text, line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric, cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint, web_search_requests bigint, unpriced boolean, settled boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    v_account name := p_account;
    v_lo timestamptz := aispend._utc_day_start(p_from);
    v_hi timestamptz := aispend._utc_day_start(p_to + 1);
    v_provider text := aispend.account_provider(p_account);
    v_settled_before date := coalesce(aispend.settled_before(p_account), 'infinity');
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(v_account, v_provider, v_lo, v_hi) k;
    RETURN QUERY
    WITH
    -- usage, costed, per day / workspace / key / model
    u AS (
        SELECT uc.day, uc.workspace_id, uc.api_key_id, uc.model,
               sum(pg_catalog.trim_scale(e.token_cost + e.web_search_cost)) AS est,
               sum(pg_catalog.trim_scale(e.token_cost)) AS est_tok,
               bool_or(e.token_cost + e.web_search_cost IS NULL) AS unpriced,
               sum(uc.input_tokens) AS inp, sum(uc.output_tokens) AS outp,
               sum(uc.input_tokens + coalesce(uc.output_tokens, 0)) AS tot,
               sum(uc.requests) AS req, sum(uc.web_search_requests) AS wsr
        FROM (SELECT x.*, (x.bucket_start AT TIME ZONE 'UTC')::date AS day,
                     aispend._input_tokens(x.uncached_input_tokens, x.cache_read_tokens, x.cache_write_5m_tokens,
                                           x.cache_write_1h_tokens) AS input_tokens
              FROM aispend.usage x
              WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi) uc
        -- by subscript: unnest() would spread the price rows into their columns
        JOIN (SELECT v_models[i] AS model, v_days[i] AS day, v_long_contexts[i] AS long_context, v_prices[i] AS price
              FROM pg_catalog.generate_subscripts(v_models, 1) AS i OFFSET 0) pr
          ON pr.day = uc.day AND pr.long_context = aispend._long_context(uc.context_window)
         AND coalesce(pr.model, '') = coalesce(uc.model, '')
        CROSS JOIN LATERAL aispend._usage_estimate(pr.price, uc.uncached_input_tokens, uc.cache_read_tokens,
            uc.cache_write_5m_tokens, uc.cache_write_1h_tokens, uc.output_tokens, uc.input_audio_tokens,
            uc.output_audio_tokens, uc.input_image_tokens, uc.output_image_tokens, uc.batch, uc.service_tier,
            uc.inference_geo, uc.web_search_requests) e
        GROUP BY 1, 2, 3, 4
    ),
    -- billed lines per day / workspace / key / model (lines without a model keep their label). OpenRouter's BYOK
    -- inference is not OpenRouter's bill but the user's own provider key's: it is left to that provider's figures
    -- (aispend.billed_elsewhere lists it), so that no total adds the same dollar twice.
    c AS (
        SELECT (x.bucket_start AT TIME ZONE 'UTC')::date AS day, x.workspace_id, x.api_key_id, x.model,
               CASE WHEN x.model IS NULL THEN coalesce(x.line_item, x.cost_type, '(unlabelled)') END AS line_item,
               sum(x.amount_usd) AS billed
        FROM aispend.costs x
        WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi
          AND x.cost_type IS DISTINCT FROM 'byok_inference'
        GROUP BY 1, 2, 3, 4, 5
    ),
    -- a day is settled when the account has billed lines for it that were fetched after it ended (see
    -- aispend.settled_before): a property of the synced data, never of the clock
    settled_days AS (
        SELECT DISTINCT c.day FROM c
        WHERE c.day < v_settled_before
    ),
    -- model lines the provider does not attribute to a key: shared among the keys of (day, workspace, model)
    slices AS (
        SELECT c.day, c.workspace_id, c.model, sum(c.billed) AS b
        FROM c WHERE c.api_key_id IS NULL AND c.model IS NOT NULL
        GROUP BY 1, 2, 3
    ),
    -- each slice's bill beside the usage rows of its keys, by window functions over a union rather than a join:
    -- right after a sync the planner's row estimates for these CTEs are ~1, and a join became a nested loop
    -- (minutes for a month of a large organisation)
    slice_rows AS (
        SELECT x.*, max(x.bill) OVER w AS b, count(x.api_key_id) OVER w AS keys,
               sum(x.est_tok) OVER w AS sum_est, sum(x.tot) OVER w AS sum_tot
        FROM (SELECT u.day, u.workspace_id, u.model, u.api_key_id, u.est_tok, u.tot, NULL::numeric AS bill
              FROM u WHERE u.model IS NOT NULL
              UNION ALL
              SELECT s.day, s.workspace_id, s.model, NULL, NULL, NULL, s.b FROM slices s) x
        WINDOW w AS (PARTITION BY x.day, x.workspace_id, x.model)
    ),
    weights AS (
        SELECT r.day, r.workspace_id, r.api_key_id, r.model, r.b,
               CASE WHEN r.sum_est > 0 THEN coalesce(r.est_tok, 0)
                    WHEN r.sum_tot > 0 THEN coalesce(r.tot, 0)::numeric
                    ELSE 1 END AS wt
        FROM slice_rows r
        WHERE r.api_key_id IS NOT NULL AND r.b IS NOT NULL
    ),
    shares AS (
        SELECT wg.day, wg.workspace_id, wg.api_key_id, wg.model, wg.b,
               pg_catalog.round(wg.b * wg.wt / sum(wg.wt) OVER w, 12) AS r,
               row_number() OVER (PARTITION BY wg.day, wg.workspace_id, wg.model ORDER BY wg.wt DESC, wg.api_key_id) AS rk
        FROM weights wg
        WINDOW w AS (PARTITION BY wg.day, wg.workspace_id, wg.model)
    ),
    alloc AS (
        SELECT sh.day, sh.workspace_id, sh.api_key_id, sh.model,
               CASE WHEN sh.rk = 1 THEN sh.b - (sum(sh.r) OVER w - sh.r) ELSE sh.r END AS allocated
        FROM shares sh
        WINDOW w AS (PARTITION BY sh.day, sh.workspace_id, sh.model)
    ),
    -- one row per fact: the usage, a bill at key grain and an allocated share of (day, workspace, key, model) meet
    -- in one row through FULL JOINs (never planned as nested loops, whatever the estimates); the billed lines
    -- that no usage row can take keep rows of their own
    g AS (
        SELECT day, workspace_id, api_key_id, model, NULL::text AS line_item, kb.billed, aa.allocated, uu.est,
               coalesce(uu.unpriced, false) AS unpriced, uu.inp::bigint AS inp, uu.outp::bigint AS outp,
               uu.tot::bigint AS tot, uu.req::bigint AS req, uu.wsr::bigint AS wsr, uu.has_usage IS NOT NULL AS has_usage
        FROM (SELECT u.*, true AS has_usage FROM u) AS uu
        FULL JOIN (SELECT a.day, a.workspace_id, a.api_key_id, a.model, a.allocated FROM alloc a) AS aa
             USING (day, workspace_id, api_key_id, model)
        FULL JOIN (SELECT c.day, c.workspace_id, c.api_key_id, c.model, c.billed
                   FROM c WHERE c.api_key_id IS NOT NULL AND c.model IS NOT NULL) AS kb   -- newer OpenAI costs
             USING (day, workspace_id, api_key_id, model)
        UNION ALL
        -- billed lines without a model: their own rows, under their key (newer OpenAI costs) or '(unattributed)'
        SELECT c.day, c.workspace_id, coalesce(c.api_key_id, '(unattributed)'), NULL, c.line_item, c.billed, NULL,
               NULL, false, NULL, NULL, NULL, NULL, NULL, false
        FROM c WHERE c.model IS NULL
        UNION ALL
        -- billed model with no usage behind it in its slice
        SELECT r.day, r.workspace_id, '(unattributed)', r.model, NULL, r.bill, NULL, NULL, false, NULL, NULL, NULL,
               NULL, NULL, false
        FROM slice_rows r
        WHERE r.api_key_id IS NULL AND r.keys = 0
    )
    SELECT g.day, v_account, v_provider, g.workspace_id, g.api_key_id, g.model, g.line_item,
           g.billed,
           CASE WHEN sd.day IS NOT NULL AND g.billed IS NULL THEN coalesce(g.allocated, 0) ELSE g.allocated END,
           g.est,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage THEN coalesce(g.billed, 0) + coalesce(g.allocated, 0)
                ELSE g.est END,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage
                THEN CASE WHEN g.allocated IS NOT NULL OR g.billed IS NULL THEN 'allocated' ELSE 'billed' END
                ELSE 'estimated' END,
           g.inp, g.outp, g.tot, g.req, g.wsr, g.unpriced, sd.day IS NOT NULL
    FROM g LEFT JOIN settled_days sd ON sd.day = g.day;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._note_model(p_account name, p_model text, p_first timestamp with time zone, p_last timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_provider text := aispend.account_provider(p_account);
BEGIN
    IF v_provider IS NULL THEN   -- not an account
        RETURN;
    END IF;
    INSERT INTO aispend.models AS m (account, provider, model, first_seen, last_seen)
    VALUES (p_account, v_provider, p_model, p_first, p_last)
    ON CONFLICT (account, model) DO UPDATE
       SET first_seen = LEAST(m.first_seen, excluded.first_seen), last_seen = GREATEST(m.last_seen, excluded.last_seen)
     WHERE excluded.first_seen < m.first_seen OR excluded.last_seen > m.last_seen;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._reroll(account name)
 RETURNS bigint
 LANGUAGE plpgsql
 SET work_mem TO '64MB'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_custom_plan'
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._reroll_days(p_account name, from_day date, to_day date)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._reroll_months(p_account name, p_from date, p_last date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
    s AS (
        SELECT g.kind, g.workspace_id, g.api_key_id, g.model, g.m,
               coalesce(sum(t.cost) OVER w, 0) AS cost, coalesce(sum(t.tokens) OVER w, 0) AS tokens,
               sum(t.requests) OVER w AS requests, count(t.m) OVER w AS months_before
        FROM g
        LEFT JOIN t ON t.kind = g.kind AND t.workspace_id = g.workspace_id AND t.api_key_id = g.api_key_id
                   AND t.model = g.model AND t.m = g.m
        WINDOW w AS (PARTITION BY g.kind, g.workspace_id, g.api_key_id, g.model ORDER BY g.m
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
$function$;

CREATE OR REPLACE FUNCTION aispend._usage_prices(account name, provider text, lo timestamp with time zone, hi timestamp with time zone)
 RETURNS TABLE(model text, day date, long_context boolean, price aispend.model_prices)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    models text[];
    days date[];
    long_contexts boolean[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context)
      INTO models, days, long_contexts
      FROM (SELECT DISTINCT u.model, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                   aispend._long_context(u.context_window) AS long_context
              FROM aispend.usage u
             WHERE u.account = _usage_prices.account
               AND u.bucket_start >= _usage_prices.lo AND u.bucket_start < _usage_prices.hi) k;
    RETURN QUERY
        SELECT k.model, k.day, k.long_context, p
          FROM ROWS FROM (pg_catalog.unnest(models), pg_catalog.unnest(days), pg_catalog.unnest(long_contexts))
               AS k(model, day, long_context)
          LEFT JOIN LATERAL aispend.price_for(_usage_prices.provider, k.model, k.day, k.long_context) p ON true;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.account_provider(account name)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    server_options text[];
BEGIN
    SELECT s.srvoptions INTO server_options FROM aispend._servers() s WHERE s.srvname = account_provider.account;
    IF FOUND THEN
        RETURN aispend._option(server_options, 'provider');
    END IF;
    RETURN (SELECT r.provider FROM aispend.account_providers r WHERE r.account = account_provider.account);
END
$function$;

CREATE OR REPLACE FUNCTION aispend.evaluate_alerts(as_of date DEFAULT aispend.utc_today())
 RETURNS TABLE(alert_id bigint, event text, rule text, scope text, message text)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
 SET jit TO 'off'
AS $function$
DECLARE
    c record;
BEGIN
    -- one evaluation at a time (two syncs ending together would both fire the same condition)
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aispend.evaluate_alerts'));
    -- no rule to evaluate and no alert to resolve: nothing to do (and no dashboard query to run, which a Citus
    -- cluster cannot plan yet, docs/scaling.md)
    IF NOT EXISTS (SELECT 1 FROM aispend.alert_rules r WHERE r.enabled)
       AND NOT EXISTS (SELECT 1 FROM aispend.alerts a WHERE a.state <> 'resolved') THEN
        RETURN;
    END IF;
    FOR c IN
        WITH cond AS MATERIALIZED (SELECT * FROM aispend.alert_conditions(as_of)),
        kept AS (
            UPDATE aispend.alerts a
               SET last_fired = pg_catalog.now(), observed = cond.observed, threshold = cond.threshold,
                   message = cond.message, details = cond.details
              FROM cond
             WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key
            RETURNING a.id),
        fired AS (
            INSERT INTO aispend.alerts (rule, kind, alert_key, scope, observed, threshold, message, details)
            SELECT cond.rule, cond.kind, cond.alert_key, cond.scope, cond.observed, cond.threshold, cond.message,
                   cond.details
            FROM cond
            WHERE NOT EXISTS (SELECT 1 FROM aispend.alerts a
                              WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key)
            RETURNING aispend.alerts.id, 'firing'::text AS event),
        cleared AS (
            UPDATE aispend.alerts a SET state = 'resolved', resolved_at = pg_catalog.now()
             WHERE a.state <> 'resolved'
               AND NOT EXISTS (SELECT 1 FROM cond WHERE cond.rule = a.rule AND cond.alert_key = a.alert_key)
            RETURNING a.id, 'resolved'::text AS event)
        -- (kept runs too: a data-modifying WITH always runs to completion)
        SELECT x.id, x.event FROM (SELECT * FROM fired UNION ALL SELECT * FROM cleared) x ORDER BY x.id
    LOOP
        PERFORM aispend._alert_changed(c.id, c.event);
        RETURN QUERY SELECT a.id, c.event, a.rule, a.scope, a.message FROM aispend.alerts a WHERE a.id = c.id;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.grant_team(role_name name, workspace_names text[] DEFAULT '{}'::text[], api_key_ids text[] DEFAULT '{}'::text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION 'aispend: role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name AND (r.rolsuper OR r.rolbypassrls)) THEN
        RAISE EXCEPTION 'aispend: role "%" bypasses row-level security and cannot be a team', role_name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a role without SUPERUSER and BYPASSRLS.';
    END IF;
    PERFORM aispend.grant_reader(role_name);
    -- the live cost model shares bills among keys a team cannot see: the team reads the rollups instead
    EXECUTE format('REVOKE SELECT ON aispend.cost_facts, aispend.usage_costed, aispend.reconciliation, '
                   'aispend.unpriced_models FROM %I', role_name);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION aispend.cost_facts_between(name, date, date), '
                   'aispend._cost_facts(name, date, date), '
                   'aispend._usage_costed_between(name, timestamptz, timestamptz) FROM %I', role_name);
    INSERT INTO aispend.teams (team) VALUES (role_name) ON CONFLICT ON CONSTRAINT teams_pkey DO NOTHING;
    INSERT INTO aispend.team_scopes (team, workspace_name)
    SELECT role_name, n FROM unnest(workspace_names) AS n WHERE n IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    INSERT INTO aispend.team_scopes (team, api_key_id)
    SELECT role_name, k FROM unnest(api_key_ids) AS k WHERE k IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.refresh_rollups(account name DEFAULT NULL::name)
 RETURNS TABLE(refreshed_account name, first_day date, last_day date, rollup_rows bigint)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

-- SQL-standard bodies, callees first: they are bound to the objects they name when created
CREATE OR REPLACE FUNCTION aispend._input_tokens(uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(uncached, 0) + coalesce(cache_read, 0) + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0);

CREATE OR REPLACE FUNCTION aispend._usage_estimate(p aispend.model_prices, uncached bigint, cache_read bigint,
    cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint, output_audio bigint,
    input_image bigint, output_image bigint, batch boolean, service_tier text, inference_geo text,
    web_search_requests bigint, OUT token_cost numeric, OUT web_search_cost numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN p.id IS NOT NULL THEN
                aispend._token_cost(p, uncached, cache_read, cache_write_5m, cache_write_1h, output, input_audio,
                                    output_audio, input_image, output_image, batch, service_tier, inference_geo) END,
           CASE WHEN p.id IS NULL THEN NULL
                WHEN coalesce(web_search_requests, 0) = 0 THEN 0
                ELSE web_search_requests * p.web_search_per_k / 1000 END;
END;

CREATE OR REPLACE FUNCTION aispend._usage_costed_between(account name, lo timestamptz, hi timestamptz)
RETURNS TABLE (account name, provider text, day date, bucket_start timestamptz, bucket_width text, endpoint text,
               workspace_id text, api_key_id text, model text, service_tier text, batch boolean,
               context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
               input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
               output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint,
               total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text,
               estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric,
               priced boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
WITH base AS (
    SELECT u.*, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
           aispend._input_tokens(u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                 u.cache_write_1h_tokens) AS input_tokens,
           aispend._long_context(u.context_window) AS long_context
    FROM aispend.usage u
    WHERE u.account = _usage_costed_between.account
      AND u.bucket_start >= _usage_costed_between.lo AND u.bucket_start < _usage_costed_between.hi
),
rows AS (
    SELECT b.*, pv.provider
    FROM base b, (SELECT aispend.account_provider(_usage_costed_between.account) AS provider OFFSET 0) pv
),
prices AS MATERIALIZED (
    SELECT k.provider, k.model, k.day, k.long_context, p AS price
    FROM (SELECT DISTINCT r.provider, r.model, r.day, r.long_context FROM rows r) k
    LEFT JOIN LATERAL aispend.price_for(k.provider, k.model, k.day, k.long_context) p ON true
)
SELECT r.account, r.provider, r.day, r.bucket_start, r.bucket_width, r.endpoint, r.workspace_id, r.api_key_id,
       r.model, r.service_tier, r.batch, r.context_window, r.inference_geo,
       r.uncached_input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
       r.output_tokens, r.input_audio_tokens, r.output_audio_tokens, r.input_image_tokens, r.output_image_tokens,
       r.requests, r.web_search_requests,
       r.input_tokens,
       r.input_tokens + coalesce(r.output_tokens, 0) AS total_tokens,
       (pr.price).id, (pr.price).match_kind, (pr.price).pattern, (pr.price).origin,
       pg_catalog.trim_scale(c.token_cost),
       pg_catalog.trim_scale(c.web_search_cost),
       pg_catalog.trim_scale(c.token_cost + c.web_search_cost),
       (c.token_cost + c.web_search_cost) IS NOT NULL
FROM rows r
JOIN prices pr ON pr.provider = r.provider AND pr.day = r.day AND pr.long_context = r.long_context
              AND coalesce(pr.model, '') = coalesce(r.model, '')
CROSS JOIN LATERAL aispend._usage_estimate(pr.price, r.uncached_input_tokens, r.cache_read_tokens,
    r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.input_audio_tokens, r.output_audio_tokens,
    r.input_image_tokens, r.output_image_tokens, r.batch, r.service_tier, r.inference_geo, r.web_search_requests) c;
END;

CREATE OR REPLACE FUNCTION aispend.cost_facts_between(account name, from_day date, to_day date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.* FROM aispend._cost_facts(cost_facts_between.account, cost_facts_between.from_day,
                                        cost_facts_between.to_day) f;
END;

COMMENT ON FUNCTION aispend._cost_facts(name,date,date) IS 'Internal: what aispend.cost_facts_between returns, for the re-roll (52_rollup.sql).';
REVOKE ALL ON FUNCTION aispend._cost_facts(name,date,date) FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_prices(name,text,timestamp with time zone,timestamp with time zone) IS 'Internal: the price row (aispend.price_for) of each model, UTC day and long-context flag in an account''s usage in [lo, hi); the keys of aispend._cost_facts''s costing.';
REVOKE ALL ON FUNCTION aispend._usage_prices(name,text,timestamp with time zone,timestamp with time zone) FROM PUBLIC;
COMMENT ON FUNCTION aispend._input_tokens(bigint,bigint,bigint,bigint) IS 'Internal: all input tokens of a usage row (uncached + cache reads + cache writes).';
REVOKE ALL ON FUNCTION aispend._input_tokens(bigint,bigint,bigint,bigint) FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_estimate(aispend.model_prices,bigint,bigint,bigint,bigint,bigint,bigint,bigint,bigint,bigint,boolean,text,text,bigint) IS 'Internal: the estimated USD of one usage row''s tokens and web searches at a price row (NULL without one).';
REVOKE ALL ON FUNCTION aispend._usage_estimate(aispend.model_prices,bigint,bigint,bigint,bigint,bigint,bigint,bigint,bigint,bigint,boolean,text,text,bigint) FROM PUBLIC;

-- ---- privileges as a fresh install sets them, and for the roles that had them
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    -- a role granted the dashboard (grant_reader or grant_admin) gets the new objects too; admins can write facts
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::name AS role_name,
               EXISTS (SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x
                       WHERE c.oid = 'aispend.usage'::regclass AND x.grantee = a.grantee
                         AND x.privilege_type = 'INSERT') AS admin
        FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
        WHERE p.oid = 'aispend.trend(numeric, numeric)'::regprocedure
          AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        IF r.admin THEN
            PERFORM aispend.grant_admin(r.role_name);
        ELSIF EXISTS (SELECT 1 FROM aispend.teams t WHERE t.team = r.role_name) THEN
            PERFORM aispend.grant_team(r.role_name);   -- a reader's grants less the live cost model, as before
        ELSE
            PERFORM aispend.grant_reader(r.role_name);
        END IF;
    END LOOP;
END
$$;
