-- aispend 0.6.0 -> 0.7.0: the dashboard on a Citus cluster (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.7.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.7.0'" to load this file. \quit

-- ---- functions new or changed in 0.7.0 (src/sql/20_schema.sql, 22_account_providers.sql, 30_sync.sql,
-- 45_estimates.sql, 47_cost_facts.sql, 52_rollup.sql, 53_invalidation.sql, 54_workspace_management.sql,
-- 56_trend.sql, 58_entity_totals.sql, 60_tab_workspaces.sql, 62_tab_api_keys.sql, 64_tab_models.sql,
-- 65_savings.sql, 66_coverage.sql, 67_team_access.sql, 69_data_freshness.sql, 71_anomalies.sql,
-- 71_focus_export.sql, 73_alerts.sql, 95_distribute.sql), exactly as a fresh install defines them

CREATE OR REPLACE FUNCTION aispend._alternatives_of(p_provider text, p_model text, p_across_providers boolean)
 RETURNS TABLE(provider text, model text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT DISTINCT m.provider, m.model FROM aispend.models m
    WHERE m.model <> p_model AND aispend.model_class(p_model) <> 'other'
      AND aispend.model_class(m.model) = aispend.model_class(p_model)
      AND (p_across_providers OR m.provider = p_provider);
END
$function$;

CREATE OR REPLACE FUNCTION aispend._api_keys()
 RETURNS SETOF aispend.api_keys
 LANGUAGE plpgsql
 STABLE ROWS 200
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY SELECT * FROM aispend.api_keys;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._boundaries(p_period daterange, p_provider text, p_compare daterange)
 RETURNS TABLE(account name, provider text, slot integer, day date, month date)
 LANGUAGE plpgsql
 STABLE ROWS 8
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

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
        JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
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

CREATE OR REPLACE FUNCTION aispend._cum_at_boundaries(p_kind "char", p_period daterange, p_provider text, p_compare daterange)
 RETURNS TABLE(account name, provider text, slot integer, workspace_id text, api_key_id text, model text, cost numeric, tokens bigint, requests bigint)
 LANGUAGE plpgsql
 STABLE ROWS 200
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._drilldown_rows(p_accounts name[], lo date, hi date, p_workspace text, p_api_key text)
 RETURNS SETOF aispend.daily_rollup
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._entity_series_of(p_from date, p_to date, p_kind text, p_provider text)
 RETURNS TABLE(kind text, entity_id text, entity text, account name, provider text, history_from date, costs numeric[])
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._focus_provider_name(account name, provider text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    -- PL/pgSQL: on Citus a query of an SQL function's parameter reaches a distributed table only through it
    RETURN CASE provider WHEN 'openai' THEN 'OpenAI' WHEN 'anthropic' THEN 'Anthropic' WHEN 'openrouter' THEN 'OpenRouter'
                         WHEN 'focus' THEN coalesce(
                             (SELECT pg_catalog.string_agg(DISTINCT CASE c.cloud WHEN 'aws' THEN 'Amazon Web Services'
                                                                                 WHEN 'azure' THEN 'Microsoft'
                                                                                 WHEN 'gcp' THEN 'Google Cloud'
                                                                                 ELSE 'Other' END, ', ')
                                FROM aispend.focus_charges c WHERE c.account = _focus_provider_name.account),
                             'Imported FOCUS billing')
                         ELSE coalesce(provider, 'Unknown') END;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._freshness_rows()
 RETURNS TABLE(account name, provider text, endpoint text, complete_through timestamp with time zone, last_success_at timestamp with time zone, last_status text, last_attempt_at timestamp with time zone, last_error_at timestamp with time zone, last_error_sqlstate text, last_error_message text, running boolean, running_since timestamp with time zone, server_exists boolean, refresh_request bigint, refresh_state text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    servers name[] := ARRAY(SELECT s.srvname FROM aispend._servers() s);
    read_errors boolean := pg_catalog.has_column_privilege('aispend.sync_runs', 'error_message', 'SELECT');
    a record;
    q record;
    e record;
    locked boolean;
BEGIN
    FOR a IN
        SELECT x.account, x.provider, x.server_exists
        FROM (SELECT s.srvname AS account, aispend._option(s.srvoptions, 'provider') AS provider,
                     true AS server_exists
              FROM aispend._servers() s
              UNION ALL
              -- a dropped server's runs (its data stays until aispend.forget_account)
              SELECT o.account, NULL, false
              FROM (SELECT DISTINCT r.account FROM aispend.sync_runs r WHERE r.account <> ALL (servers)) o) x
        ORDER BY x.account
    LOOP
        locked := aispend._sync_lock_held(a.account);
        refresh_request := NULL;
        refresh_state := NULL;
        FOR q IN SELECT x.id, x.state, x.worker_pid, x.requested_by, x.requested_at FROM aispend.refresh_requests x
                  WHERE x.account = a.account AND x.state IN ('queued', 'running') ORDER BY x.id LOOP
            IF aispend._refresh_state(q.state, q.worker_pid, q.requested_by, q.requested_at) IN ('queued', 'running') THEN
                refresh_request := q.id;
                refresh_state := q.state;
                EXIT;
            END IF;
        END LOOP;
        FOR e IN
            SELECT x.endpoint, ok.complete_through, ok.last_success_at, last.status, last.started_at,
                   err.id AS error_run, err.finished_at, err.error_sqlstate, run.started_at AS running_since
            FROM (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS x(ord, endpoint)
            LEFT JOIN LATERAL (
                SELECT max(r.complete_through) AS complete_through, max(r.finished_at) AS last_success_at
                FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'succeeded') ok ON true
            LEFT JOIN LATERAL (
                SELECT r.status, r.started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last ON true
            LEFT JOIN LATERAL (
                SELECT r.id, r.finished_at, r.error_sqlstate FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status IN ('failed', 'aborted')
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) err ON true
            LEFT JOIN LATERAL (
                SELECT min(r.started_at) AS started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'running' AND locked) run ON true
            ORDER BY x.ord
        LOOP
            account := a.account;
            provider := a.provider;
            endpoint := e.endpoint;
            complete_through := e.complete_through;
            last_success_at := e.last_success_at;
            last_status := e.status;
            last_attempt_at := e.started_at;
            last_error_at := e.finished_at;
            last_error_sqlstate := e.error_sqlstate;
            last_error_message := NULL;
            IF read_errors AND e.error_run IS NOT NULL THEN
                SELECT r.error_message INTO last_error_message FROM aispend.sync_runs r
                 WHERE r.account = a.account AND r.id = e.error_run;
            END IF;
            running := e.running_since IS NOT NULL;
            running_since := e.running_since;
            server_exists := a.server_exists;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._middleware_captured(p_period daterange, p_accounts name[], p_provider text)
 RETURNS TABLE(provider text, captured numeric)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY
    SELECT pg_catalog.lower(s.provider), sum(s.cost)
    FROM aispend.middleware_spend s
    WHERE s.day >= pg_catalog.lower(p_period) AND s.day < pg_catalog.upper(p_period)
      AND (p_accounts IS NULL OR s.account IS NULL OR s.account = ANY (p_accounts))
      AND aispend._provider_matches(pg_catalog.lower(s.provider), p_provider)
    GROUP BY 1;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._model_provider(model text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN coalesce((SELECT min(m.provider) FROM aispend.models m WHERE m.model = _model_provider.model),
                    (SELECT min(p.provider) FROM aispend.model_prices p
                     WHERE aispend._price_rule_matches(p.match_kind, p.pattern, _model_provider.model)));
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

CREATE OR REPLACE FUNCTION aispend._provider_accounts(provider_filter text, OUT accounts name[], OUT providers text[])
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    SELECT pg_catalog.array_agg(ap.account ORDER BY ap.account), pg_catalog.array_agg(ap.provider ORDER BY ap.account)
      INTO accounts, providers
      FROM aispend._account_providers() ap WHERE aispend._provider_matches(ap.provider, provider_filter);
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

CREATE OR REPLACE FUNCTION aispend._reroll_month_days(p_account name, p_month date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._rollup_entity_rows(p_kind "char", p_period daterange, p_provider text, p_workspace text, p_api_key text, p_compare daterange)
 RETURNS TABLE(account name, provider text, workspace_id text, api_key_id text, model text, cost numeric, tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint, previous_requests bigint)
 LANGUAGE plpgsql
 STABLE ROWS 100
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
 SET jit TO 'off'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._slice_daily(period daterange, provider text, account name, workspace text, api_key text, model text)
 RETURNS TABLE(day date, cost numeric, tokens bigint, requests bigint)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    accounts name[];
    counts_requests boolean;
BEGIN
    PERFORM aispend._check_period(_slice_daily.period);
    -- the accounts of the provider filter first (on Citus a query of the shards cannot call
    -- aispend._account_providers()); requests are counted (0 on empty days) when one of them reports them, else
    -- NULL (Anthropic only)
    SELECT pg_catalog.array_agg(ap.account) FILTER (WHERE _slice_daily.account IS NULL
                                                       OR ap.account = _slice_daily.account),
           bool_or(aispend.reports_requests(ap.provider))
      INTO accounts, counts_requests
      FROM aispend._account_providers() ap
     WHERE aispend._provider_matches(ap.provider, _slice_daily.provider);
    RETURN QUERY
    WITH r AS (
        SELECT r.day, r.cost, r.total_tokens, r.requests
        FROM aispend.daily_rollup r
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(_slice_daily.period) AND r.day < pg_catalog.upper(_slice_daily.period)
          AND aispend._workspace_is(w.name, r.workspace_id, _slice_daily.workspace)
          AND aispend._api_key_is(k.name, r.api_key_id, _slice_daily.api_key)
          AND (_slice_daily.model IS NULL OR pg_catalog.lower(r.model) = pg_catalog.lower(_slice_daily.model)))
    SELECT d.day::date, coalesce(sum(r.cost), 0), coalesce(sum(r.total_tokens), 0)::bigint,
           CASE WHEN counts_requests THEN coalesce(sum(r.requests), 0)::bigint END
    FROM pg_catalog.generate_series(pg_catalog.lower(_slice_daily.period)::timestamp,
                                    (pg_catalog.upper(_slice_daily.period) - 1)::timestamp, interval '1 day') AS d(day)
    LEFT JOIN r ON r.day = d.day::date
    GROUP BY d.day
    ORDER BY d.day;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._team_rollup_rows(lo date, hi date, p_workspace text, p_api_key text)
 RETURNS SETOF aispend.daily_rollup
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF NOT aispend._team_restricted() THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT r.* FROM (
        SELECT r.* FROM aispend._team_workspaces(CURRENT_USER) w
        JOIN aispend.daily_rollup r ON r.account = w.account AND r.workspace_id = w.workspace_id
        WHERE r.day >= lo AND r.day < hi
        UNION ALL
        SELECT r.* FROM aispend._team_keys(CURRENT_USER) k
        JOIN aispend.daily_rollup r ON r.account = k.account AND r.workspace_id = k.workspace_id
                                   AND r.api_key_id = k.api_key_id
        WHERE r.day >= lo AND r.day < hi
          AND (k.account, k.workspace_id) NOT IN (SELECT w.account, w.workspace_id
                                                  FROM aispend._team_workspaces(CURRENT_USER) w)) r
    -- the names are looked up only for a filter (a team's whole scope would pay for them on every row)
    WHERE (p_workspace IS NULL
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
$function$;

CREATE OR REPLACE FUNCTION aispend._token_mix_rows(p_period daterange, p_provider text, p_workspace text, p_api_key text, p_model text)
 RETURNS TABLE(account name, provider text, workspace_id text, api_key_id text, model text, day date, batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint, output_audio bigint, input_image bigint, output_image bigint)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    accounts name[];
    providers text[];
BEGIN
    PERFORM aispend._check_period(p_period);
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    SELECT u.account, ap.provider, u.workspace_id, u.api_key_id, u.model, (u.bucket_start AT TIME ZONE 'UTC')::date,
           coalesce(u.batch, false), u.service_tier, u.inference_geo, aispend._long_context(u.context_window),
           sum(u.uncached_input_tokens)::bigint, sum(u.cache_read_tokens)::bigint,
           sum(u.cache_write_5m_tokens)::bigint, sum(u.cache_write_1h_tokens)::bigint, sum(u.output_tokens)::bigint,
           sum(u.input_audio_tokens)::bigint, sum(u.output_audio_tokens)::bigint,
           sum(u.input_image_tokens)::bigint, sum(u.output_image_tokens)::bigint
    FROM (-- everything in the period
          SELECT u.* FROM aispend.usage u
          WHERE p_workspace IS NULL AND p_api_key IS NULL
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
          UNION ALL
          -- a key's rows, found by the (account, api_key_id, bucket_start) index (in one workspace, if given)
          SELECT u.* FROM aispend.api_keys k
          JOIN aispend.usage u ON u.account = k.account AND u.api_key_id = k.api_key_id
          WHERE p_api_key IS NOT NULL AND aispend._api_key_is(k.name, k.api_key_id, p_api_key)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
            AND (p_workspace IS NULL OR u.workspace_id = p_workspace
                 OR EXISTS (SELECT 1 FROM aispend.workspaces w WHERE w.account = u.account
                              AND w.workspace_id = u.workspace_id
                              AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)))
          UNION ALL
          -- a workspace's rows, found by the (account, workspace_id, bucket_start) index
          SELECT u.* FROM aispend.workspaces w
          JOIN aispend.usage u ON u.account = w.account AND u.workspace_id = w.workspace_id
          WHERE p_api_key IS NULL AND p_workspace IS NOT NULL
            AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))) u
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
      ON ap.account = u.account
    WHERE u.model IS NOT NULL
      AND (p_model IS NULL OR u.model = p_model)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._usage_accounts()
 RETURNS TABLE(account name)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY SELECT DISTINCT u.account FROM aispend.usage u;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._usage_costed_rows(p_account name, p_lo timestamp with time zone, p_hi timestamp with time zone)
 RETURNS TABLE(account name, provider text, day date, bucket_start timestamp with time zone, bucket_width text, endpoint text, workspace_id text, api_key_id text, model text, service_tier text, batch boolean, context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint, cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint, input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint, output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint, total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text, estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric, priced boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    v_provider text := aispend.account_provider(p_account);
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(p_account, v_provider, p_lo, p_hi) k;
    RETURN QUERY
    SELECT r.account, v_provider, r.day, r.bucket_start, r.bucket_width, r.endpoint, r.workspace_id, r.api_key_id,
           r.model, r.service_tier, r.batch, r.context_window, r.inference_geo,
           r.uncached_input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
           r.output_tokens, r.input_audio_tokens, r.output_audio_tokens, r.input_image_tokens, r.output_image_tokens,
           r.requests, r.web_search_requests,
           r.input_tokens,
           r.input_tokens + coalesce(r.output_tokens, 0),
           (pr.price).id, (pr.price).match_kind, (pr.price).pattern, (pr.price).origin,
           pg_catalog.trim_scale(e.token_cost),
           pg_catalog.trim_scale(e.web_search_cost),
           pg_catalog.trim_scale(e.token_cost + e.web_search_cost),
           (e.token_cost + e.web_search_cost) IS NOT NULL
    FROM (SELECT u.*, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                 aispend._input_tokens(u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                       u.cache_write_1h_tokens) AS input_tokens
          FROM aispend.usage u
          WHERE u.account = p_account AND u.bucket_start >= p_lo AND u.bucket_start < p_hi) r
    JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
      ON pr.day = r.day AND pr.long_context = aispend._long_context(r.context_window)
     AND coalesce(pr.model, '') = coalesce(r.model, '')
    CROSS JOIN LATERAL aispend._usage_estimate(pr.price, r.uncached_input_tokens, r.cache_read_tokens,
        r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.input_audio_tokens, r.output_audio_tokens,
        r.input_image_tokens, r.output_image_tokens, r.batch, r.service_tier, r.inference_geo, r.web_search_requests) e;
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

CREATE OR REPLACE FUNCTION aispend._workspace_management_rows(p_search text, p_provider text)
 RETURNS TABLE(workspace_name text, provider text, workspace_id text, provider_name text, status text, created date, first_seen date, last_seen date, first_activity date, last_activity date, name_changes bigint, display_name text, provider_status text, account name, created_at timestamp with time zone, archived_at timestamp with time zone, first_synced date, last_listed date, provider_workspace_id text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY
    SELECT m.name, m.provider, m.workspace_id, m.provider_name,
           CASE WHEN m.status IN ('active', 'archived', 'unlisted') THEN m.status ELSE 'inactive' END,
           (m.created_at AT TIME ZONE 'UTC')::date,
           coalesce(LEAST((m.created_at AT TIME ZONE 'UTC')::date, m.first_day), (m.first_seen AT TIME ZONE 'UTC')::date),
           m.last_day, m.first_day, m.last_day, m.name_changes,
           m.display_name, m.status, m.account, m.created_at, m.archived_at,
           (m.first_seen AT TIME ZONE 'UTC')::date, (m.last_seen AT TIME ZONE 'UTC')::date, m.provider_workspace_id
    FROM (SELECT w.*,
                 (SELECT min(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS first_day,
                 (SELECT max(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS last_day,
                 (SELECT count(*) FROM aispend.workspace_name_history h
                   WHERE h.account = w.account AND h.workspace_id = w.workspace_id) AS name_changes
          FROM aispend.workspaces w
          WHERE aispend._provider_matches(w.provider, p_provider)
            AND (p_search IS NULL OR p_search = ''
                 OR pg_catalog.strpos(pg_catalog.lower(pg_catalog.concat_ws(E'\x1f', w.name, w.provider_name,
                                                                             w.workspace_id)),
                                      pg_catalog.lower(p_search)) > 0)) m
    ORDER BY m.name, m.account, m.workspace_id;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._workspaces()
 RETURNS SETOF aispend.workspaces
 LANGUAGE plpgsql
 STABLE ROWS 50
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY SELECT * FROM aispend.workspaces;
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

CREATE OR REPLACE FUNCTION aispend.alert_conditions(as_of date DEFAULT aispend.utc_today(), at_time timestamp with time zone DEFAULT now())
 RETURNS TABLE(rule text, kind text, alert_key text, scope text, observed numeric, threshold numeric, message text, details jsonb)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
 SET jit TO 'off'
AS $function$
#variable_conflict use_column
DECLARE
    rules aispend.alert_rules[] := ARRAY(SELECT r FROM aispend.alert_rules r WHERE r.enabled);
    budgets aispend.budgets[] := ARRAY(SELECT b FROM aispend.budgets b);
BEGIN
    RETURN QUERY
    WITH r AS (SELECT * FROM pg_catalog.unnest(rules) r),
    budget AS MATERIALIZED (
        SELECT s.*, b.thresholds
        FROM aispend.budgets_status(alert_conditions.as_of) s JOIN pg_catalog.unnest(budgets) b ON b.name = s.name
        -- a custom budget whose days are over has no current period: its alerts resolve
        WHERE s.period @> alert_conditions.as_of
          AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('budget_threshold', 'budget_forecast'))),
    spikes AS MATERIALIZED (
        SELECT a.*, r.name AS rule
        FROM r CROSS JOIN LATERAL aispend.anomalies(pg_catalog.daterange(alert_conditions.as_of - 2, alert_conditions.as_of),
                                                    r.anomaly_kind, 'all', r.min_score, r.min_cost) a
        WHERE r.kind = 'anomaly'),
    -- one condition per rule and key, workspace or model: its latest flagged day
    latest AS (
        SELECT DISTINCT ON (s.rule, s.kind, s.account, s.entity_id) s.*
        FROM spikes s ORDER BY s.rule, s.kind, s.account, s.entity_id, s.day DESC),
    -- FOCUS accounts (provider 'focus') are imported when a cloud publishes its bill, never synced: no sync alerts
    fresh AS MATERIALIZED (
        SELECT f.* FROM aispend.freshness f
        WHERE f.server_exists AND f.provider IS DISTINCT FROM 'focus' AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('sync_failure', 'stale_data')))
    -- a threshold of a budget reached in its current period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period), t.pct),
           'budget ' || b.name, b.spent, pg_catalog.round(b.amount_usd * t.pct / 100, 2),
           pg_catalog.format('Budget "%s" has used %s%% of $%s (threshold %s%%): $%s spent, %s days left',
                             b.name, b.pct_used, b.amount_usd, t.pct, b.spent, b.days_left),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'pct_used', b.pct_used, 'threshold_pct', t.pct)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    -- each threshold once (80 and 80.0 are one), reached as budgets_status says
    CROSS JOIN LATERAL (SELECT DISTINCT pg_catalog.trim_scale(x) AS pct FROM pg_catalog.unnest(b.thresholds) AS x) t
    WHERE r.kind = 'budget_threshold' AND t.pct <= b.threshold_reached
    UNION ALL
    -- a budget forecast to exceed its amount by the end of its period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period)),
           'budget ' || b.name, b.forecast, b.amount_usd,
           pg_catalog.format('Budget "%s" is forecast to reach $%s (band $%s to $%s) of $%s by %s',
                             b.name, b.forecast, b.forecast_low, b.forecast_high, b.amount_usd,
                             pg_catalog.upper(b.period) - 1),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'forecast', b.forecast, 'forecast_low', b.forecast_low,
                                         'forecast_high', b.forecast_high, 'days_left', b.days_left)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    WHERE r.kind = 'budget_forecast' AND b.will_exceed
    UNION ALL
    -- a spike (or new spending) of a key, workspace or model on one of the last two complete days
    SELECT s.rule, 'anomaly', pg_catalog.concat_ws('|', s.kind, s.account, s.entity_id),
           pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
               || coalesce(' (' || s.account || ')', ''),
           s.observed, s.expected,
           pg_catalog.format('%s %s: $%s on %s, expected $%s (%s)',
                             CASE s.flag WHEN 'new' THEN 'New spending of' ELSE 'Spike of' END,
                             pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
                                 || coalesce(' (' || s.account || ')', ''),
                             s.observed, s.day, s.expected,
                             CASE WHEN s.ratio IS NULL THEN 'new' ELSE s.ratio || 'x, score ' || coalesce(s.score::text, '-') END),
           pg_catalog.jsonb_build_object('day', s.day, 'kind', s.kind, 'entity', s.entity, 'account', s.account,
                                         'provider', s.provider, 'observed', s.observed, 'expected', s.expected,
                                         'ratio', s.ratio, 'score', s.score, 'flag', s.flag)
    FROM latest s
    UNION ALL
    -- an account's endpoint failed after its last success (a run in progress changes nothing)
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', f.account, f.endpoint), 'account ' || f.account, NULL, NULL,
           pg_catalog.format('Sync of %s %s failed (SQLSTATE %s)', f.account, f.endpoint,
                             coalesce(f.last_error_sqlstate, '-')),
           pg_catalog.jsonb_build_object('account', f.account, 'endpoint', f.endpoint,
                                         'sqlstate', f.last_error_sqlstate, 'at', f.last_error_at)
    FROM r, fresh f
    WHERE r.kind = 'sync_failure' AND f.last_error_at > coalesce(f.last_success_at, '-infinity')
    UNION ALL
    -- no successful sync of an account for too long (or never)
    SELECT r.name, r.kind, x.account, 'account ' || x.account, x.hours, r.max_age_hours,
           CASE WHEN x.hours IS NULL THEN pg_catalog.format('No successful sync of %s yet', x.account)
                ELSE pg_catalog.format('No successful sync of %s for %s hours', x.account, x.hours) END,
           pg_catalog.jsonb_build_object('account', x.account, 'last_success_at', x.last_success_at,
                                         'max_age_hours', r.max_age_hours)
    FROM r, (SELECT f.account, max(f.last_success_at) AS last_success_at,
                    pg_catalog.round((pg_catalog.date_part('epoch', alert_conditions.at_time - max(f.last_success_at))
                                      / 3600)::numeric, 1) AS hours
             FROM fresh f GROUP BY f.account) x
    WHERE r.kind = 'stale_data' AND (x.hours IS NULL OR x.hours > r.max_age_hours);
END
$function$;

CREATE OR REPLACE FUNCTION aispend.api_key_last_active(account name, api_key_id text)
 RETURNS date
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN (SELECT max(r.day) FROM aispend.daily_rollup r
            WHERE r.account = api_key_last_active.account AND r.api_key_id = api_key_last_active.api_key_id
              AND (r.total_tokens > 0 OR r.requests > 0));
END
$function$;

CREATE OR REPLACE FUNCTION aispend.cost_basis_split(period daterange DEFAULT aispend.period('last_30_days'::text), provider text DEFAULT 'all'::text)
 RETURNS TABLE(cost_basis text, cost numeric, pct_of_cost numeric)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    accounts name[];
BEGIN
    PERFORM aispend._check_period(cost_basis_split.period);
    accounts := (aispend._provider_accounts(cost_basis_split.provider)).accounts;
    RETURN QUERY
    WITH c AS (
        SELECT coalesce(r.cost_basis, 'billed') AS cost_basis, sum(r.cost) AS cost
        FROM aispend.daily_rollup r
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(cost_basis_split.period) AND r.day < pg_catalog.upper(cost_basis_split.period)
        GROUP BY 1)
    SELECT c.cost_basis, pg_catalog.round(c.cost, 2),
           pg_catalog.round(100 * c.cost / NULLIF(sum(c.cost) OVER (), 0), 2)
    FROM c
    ORDER BY c.cost DESC, c.cost_basis;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.distribute(shard_count integer DEFAULT 32, experimental boolean DEFAULT false)
 RETURNS TABLE(table_name regclass, distribution text, colocated_with regclass)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_anchor regclass;
    v_fkeys text[];
    v_sql text;
    t regclass;
BEGIN
    IF NOT aispend._citus_present() THEN
        RAISE EXCEPTION 'aispend.distribute() needs Citus: the citus extension is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run it on a Citus coordinator (CREATE EXTENSION citus, then citus_add_node for each worker); '
                         'see docs/scaling.md.';
    END IF;
    -- The sync, the rollups and the dashboard run on a cluster, but not everything does yet (docs/scaling.md):
    -- only on request.
    IF NOT coalesce(experimental, false) THEN
        RAISE EXCEPTION 'aispend.distribute(): aispend on a Citus cluster is experimental'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The sync, the rollups and the dashboard run on a distributed installation, but teams do '
                           'not, and changes to the facts or prices made outside aispend''s own functions are not '
                           'rolled up by themselves.',
                  HINT = 'To distribute anyway: SELECT * FROM aispend.distribute(experimental => true). '
                         'See docs/scaling.md.';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 OR shard_count > 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000, not %', shard_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The invalidation triggers, the name history and the audit log's guards run on the shards.
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- One connection per node: the foreign keys between reference tables are added in the same transaction.
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);

    PERFORM aispend._citus_policies();

    -- Foreign keys (between reference tables only) are dropped and added back once both ends are Citus tables:
    -- with a foreign key to a local table, Citus would convert the local one, which an extension's table with an
    -- identity column cannot be.
    v_fkeys := ARRAY(SELECT pg_catalog.format('ALTER TABLE aispend.%I ADD CONSTRAINT %I %s', c.relname, k.conname,
                                              pg_catalog.pg_get_constraintdef(k.oid))
                       FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
                      WHERE k.contype = 'f' AND c.relnamespace = 'aispend'::regnamespace
                        AND (aispend._citus_kind(k.conrelid) IS NULL OR aispend._citus_kind(k.confrelid) IS NULL)
                      ORDER BY k.conrelid::regclass::text, k.conname);
    FOR v_sql IN SELECT pg_catalog.format('ALTER TABLE aispend.%I DROP CONSTRAINT %I', c.relname, k.conname)
                   FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
                  WHERE k.contype = 'f' AND c.relnamespace = 'aispend'::regnamespace
                    AND (aispend._citus_kind(k.conrelid) IS NULL OR aispend._citus_kind(k.confrelid) IS NULL) LOOP
        EXECUTE v_sql;
        -- the workers' own copies (their CREATE EXTENSION) too: adding the key back propagates it to them
        EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
            USING pg_catalog.replace(v_sql, 'DROP CONSTRAINT', 'DROP CONSTRAINT IF EXISTS');
    END LOOP;

    -- The rollups' invalidation triggers of the facts and runs, the re-roll at COMMIT and the name history's
    -- trigger would run on the shards and read or write other distributed tables from there: a nested
    -- distributed execution, which Citus refuses or does not survive (a worker crashed at COMMIT PREPARED).
    -- Dropped: aispend's writers mark the days they change themselves (aispend._facts_written,
    -- aispend._mark_settlement_moved) and re-roll before they commit, and record the names they change
    -- (aispend._names_before, aispend._names_changed).
    FOR v_sql IN SELECT pg_catalog.format('DROP TRIGGER %I ON %s', g.tgname, g.tgrelid::regclass)
                   FROM pg_catalog.pg_trigger g
                  WHERE NOT g.tgisinternal
                    AND g.tgfoid IN ('aispend._facts_changed()'::regprocedure, 'aispend._costs_runs_changed()'::regprocedure,
                                     'aispend._reroll_at_commit()'::regprocedure,
                                     'aispend._workspace_name_changed()'::regprocedure)
                  ORDER BY 1 LOOP
        EXECUTE v_sql;
        EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
            USING pg_catalog.replace(v_sql, 'DROP TRIGGER', 'DROP TRIGGER IF EXISTS');
    END LOOP;

    FOR t IN SELECT p.table_name FROM aispend._distribution_plan() p
              WHERE p.distribution = 'reference' AND aispend._citus_kind(p.table_name) IS NULL LOOP
        -- A reference table's triggers would fire on every node's copy, each reading distributed tables from
        -- inside a shard and creating temporary tables (which Citus's two-phase commit refuses): dropped. The
        -- only ones are the prices' invalidation; on Citus a price change is followed by
        -- aispend.refresh_rollups() (docs/scaling.md).
        FOR v_sql IN SELECT pg_catalog.format('DROP TRIGGER %I ON aispend.%I', g.tgname, c.relname)
                       FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
                      WHERE g.tgrelid = t AND NOT g.tgisinternal LOOP
            EXECUTE v_sql;
            EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
                USING pg_catalog.replace(v_sql, 'DROP TRIGGER', 'DROP TRIGGER IF EXISTS');
        END LOOP;
        EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING t;
        table_name := t; distribution := 'reference'; colocated_with := NULL;
        RETURN NEXT;
    END LOOP;

    -- Tables with an account column: distributed by account, co-located with aispend.workspaces (or, when that
    -- is already distributed, with it).
    FOR t IN SELECT p.table_name FROM aispend._distribution_plan() p
              WHERE p.distribution = 'distributed'
              ORDER BY p.table_name <> 'aispend.workspaces'::regclass, p.table_name::text LOOP
        IF aispend._citus_kind(t) = 'distributed' THEN
            v_anchor := coalesce(v_anchor, t);
            CONTINUE;
        ELSIF aispend._citus_kind(t) IS NOT NULL THEN
            RAISE EXCEPTION 'aispend.distribute(): % is already held by Citus, but not distributed by account', t
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'undistribute_table() it first.';
        END IF;
        IF v_anchor IS NULL THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''account'', shard_count => $2, '
                    'colocate_with => ''none'')' USING t, shard_count;
            v_anchor := t;
        ELSE
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''account'', colocate_with => $2)'
                USING t, v_anchor::text;
        END IF;
        table_name := t; distribution := 'distributed'; colocated_with := CASE WHEN t <> v_anchor THEN v_anchor END;
        RETURN NEXT;
    END LOOP;

    FOREACH v_sql IN ARRAY v_fkeys LOOP
        EXECUTE v_sql;
    END LOOP;
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
    v_rules text[];
    v_kinds text[];
    v_keys text[];
    v_scopes text[];
    v_observed numeric[];
    v_thresholds numeric[];
    v_messages text[];
    v_details jsonb[];
    v_fired bigint[];
    v_cleared bigint[];
BEGIN
    -- one evaluation at a time (two syncs ending together would both fire the same condition)
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aispend.evaluate_alerts'));
    -- no rule to evaluate and no alert to resolve: nothing to do
    IF NOT EXISTS (SELECT 1 FROM aispend.alert_rules r WHERE r.enabled)
       AND NOT EXISTS (SELECT 1 FROM aispend.alerts a WHERE a.state <> 'resolved') THEN
        RETURN;
    END IF;
    -- the conditions first, then one statement for each change of the alerts (on Citus the alerts are a
    -- reference table, which a statement cannot change while it reads the tabs' functions; and one with foreign
    -- keys, which Citus changes only after reads over one connection per node)
    IF aispend._citus_present() THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    SELECT pg_catalog.array_agg(x.rule), pg_catalog.array_agg(x.kind), pg_catalog.array_agg(x.alert_key),
           pg_catalog.array_agg(x.scope), pg_catalog.array_agg(x.observed), pg_catalog.array_agg(x.threshold),
           pg_catalog.array_agg(x.message), pg_catalog.array_agg(x.details)
      INTO v_rules, v_kinds, v_keys, v_scopes, v_observed, v_thresholds, v_messages, v_details
      FROM aispend.alert_conditions(as_of) x;
    -- firing alerts that still hold stay quiet: last_fired moves
    UPDATE aispend.alerts a
       SET last_fired = pg_catalog.now(), observed = cond.observed, threshold = cond.threshold,
           message = cond.message, details = cond.details
      FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys), pg_catalog.unnest(v_observed),
                      pg_catalog.unnest(v_thresholds), pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
           AS cond(rule, alert_key, observed, threshold, message, details)
     WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key;
    WITH f AS (
        INSERT INTO aispend.alerts (rule, kind, alert_key, scope, observed, threshold, message, details)
        SELECT cond.rule, cond.kind, cond.alert_key, cond.scope, cond.observed, cond.threshold, cond.message,
               cond.details
        FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_kinds), pg_catalog.unnest(v_keys),
                        pg_catalog.unnest(v_scopes), pg_catalog.unnest(v_observed), pg_catalog.unnest(v_thresholds),
                        pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
             AS cond(rule, kind, alert_key, scope, observed, threshold, message, details)
        -- NOT IN, not a correlated NOT EXISTS, which Citus cannot plan here (no column is NULL on either side)
        WHERE (cond.rule, cond.alert_key) NOT IN (SELECT a.rule, a.alert_key FROM aispend.alerts a
                                                  WHERE a.state <> 'resolved')
        RETURNING aispend.alerts.id)
    SELECT pg_catalog.array_agg(f.id) INTO v_fired FROM f;
    WITH r AS (
        UPDATE aispend.alerts a SET state = 'resolved', resolved_at = pg_catalog.now()
         WHERE a.state <> 'resolved'
           AND (a.rule, a.alert_key) NOT IN (SELECT cond.rule, cond.alert_key
                                             FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys))
                                                  AS cond(rule, alert_key))
        RETURNING a.id)
    SELECT pg_catalog.array_agg(r.id) INTO v_cleared FROM r;
    FOR c IN
        SELECT x.id, x.event
        FROM (SELECT f.id, 'firing'::text AS event FROM pg_catalog.unnest(v_fired) AS f(id)
              UNION ALL
              SELECT r.id, 'resolved' FROM pg_catalog.unnest(v_cleared) AS r(id)) x
        ORDER BY x.id
    LOOP
        PERFORM aispend._alert_changed(c.id, c.event);
        RETURN QUERY SELECT a.id, c.event, a.rule, a.scope, a.message FROM aispend.alerts a WHERE a.id = c.id;
    END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.focus(period daterange DEFAULT aispend.period('last_30_days'::text), provider text DEFAULT 'all'::text)
 RETURNS TABLE("AvailabilityZone" text, "BilledCost" numeric, "BillingAccountId" text, "BillingAccountName" text, "BillingAccountType" text, "BillingCurrency" text, "BillingPeriodEnd" timestamp with time zone, "BillingPeriodStart" timestamp with time zone, "CapacityReservationId" text, "CapacityReservationStatus" text, "ChargeCategory" text, "ChargeClass" text, "ChargeDescription" text, "ChargeFrequency" text, "ChargePeriodEnd" timestamp with time zone, "ChargePeriodStart" timestamp with time zone, "CommitmentDiscountCategory" text, "CommitmentDiscountId" text, "CommitmentDiscountName" text, "CommitmentDiscountQuantity" numeric, "CommitmentDiscountStatus" text, "CommitmentDiscountType" text, "CommitmentDiscountUnit" text, "ConsumedQuantity" numeric, "ConsumedUnit" text, "ContractedCost" numeric, "ContractedUnitPrice" numeric, "EffectiveCost" numeric, "InvoiceId" text, "InvoiceIssuerName" text, "ListCost" numeric, "ListUnitPrice" numeric, "PricingCategory" text, "PricingCurrency" text, "PricingCurrencyContractedUnitPrice" numeric, "PricingCurrencyEffectiveCost" numeric, "PricingCurrencyListUnitPrice" numeric, "PricingQuantity" numeric, "PricingUnit" text, "ProviderName" text, "PublisherName" text, "RegionId" text, "RegionName" text, "ResourceId" text, "ResourceName" text, "ResourceType" text, "ServiceCategory" text, "ServiceName" text, "ServiceSubcategory" text, "SkuId" text, "SkuMeter" text, "SkuPriceDetails" jsonb, "SkuPriceId" text, "SubAccountId" text, "SubAccountName" text, "SubAccountType" text, "Tags" jsonb, "x_Account" text, "x_Provider" text, "x_WorkspaceId" text, "x_ApiKeyId" text, "x_Model" text, "x_CostBasis" text, "x_BilledCost" numeric, "x_AllocatedCost" numeric, "x_EstimatedCost" numeric, "x_InputTokens" bigint, "x_OutputTokens" bigint, "x_Requests" bigint, "x_Unpriced" boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    accounts name[];
    providers text[];
    provider_names text[];
BEGIN
    -- the accounts of the provider filter and their FOCUS provider names first: on Citus a query of the shards
    -- cannot call a function that reads another table
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(focus.provider) a;
    provider_names := ARRAY(SELECT aispend._focus_provider_name(x.account, x.provider)
                            FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers))
                                 WITH ORDINALITY AS x(account, provider, n)
                            ORDER BY x.n);
    RETURN QUERY
    SELECT NULL::text,                                                            -- AvailabilityZone
           r.cost,                                                                -- BilledCost
           r.account::text, r.account::text, 'aispend account',                  -- BillingAccountId, Name, Type
           'USD',                                                                 -- BillingCurrency
           aispend._utc_day_start((pg_catalog.date_trunc('month', r.day::timestamp) + interval '1 month')::date),
           aispend._utc_day_start(pg_catalog.date_trunc('month', r.day::timestamp)::date),
           NULL::text, NULL::text,                                                -- CapacityReservation*
           'Usage', NULL::text,                                                   -- ChargeCategory, ChargeClass
           CASE WHEN r.model = aispend._no_model_label() THEN 'Tool and service fees'
                ELSE r.model END || ' on ' || pv.provider_name || ' (' || coalesce(r.cost_basis, 'billed') || ')',
           'Usage-Based',                                                         -- ChargeFrequency
           aispend._utc_day_start(r.day + 1), aispend._utc_day_start(r.day),      -- ChargePeriodEnd, Start
           NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::text, NULL::text, NULL::text,  -- Commitment*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- ConsumedQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- ConsumedUnit
           r.cost, NULL::numeric,                                                 -- ContractedCost, UnitPrice
           r.cost,                                                                -- EffectiveCost
           NULL::text, pv.provider_name,                                          -- InvoiceId, InvoiceIssuerName
           r.cost, NULL::numeric,                                                 -- ListCost, ListUnitPrice
           CASE WHEN r.total_tokens > 0 THEN 'Standard' END,                      -- PricingCategory
           NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,               -- PricingCurrency*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- PricingQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- PricingUnit
           pv.provider_name, pv.provider_name,                                    -- ProviderName, PublisherName
           NULL::text, NULL::text,                                                -- RegionId, RegionName
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN r.api_key_id END,            -- ResourceId
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN coalesce(k.name, r.api_key_id) END,
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN 'API Key' END,               -- ResourceType
           'AI and Machine Learning',                                             -- ServiceCategory
           pv.provider_name || ' models',                                         -- ServiceName
           'Generative AI',                                                       -- ServiceSubcategory
           NULL::text,                                                            -- SkuId
           CASE WHEN r.model <> aispend._no_model_label() THEN r.model END,       -- SkuMeter
           NULL::jsonb, NULL::text,                                               -- SkuPriceDetails, SkuPriceId
           r.workspace_id, coalesce(w.name, r.workspace_id), 'Workspace',         -- SubAccountId, Name, Type
           pg_catalog.jsonb_build_object('aispend_workspace', coalesce(w.name, r.workspace_id),
                                         'aispend_model', r.model),               -- Tags
           r.account::text, pv.provider, r.workspace_id, r.api_key_id, r.model, r.cost_basis, r.billed_cost,
           r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.requests, r.unpriced
    FROM aispend.daily_rollup r
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers), pg_catalog.unnest(provider_names))
         AS pv(account, provider, provider_name) ON pv.account = r.account
    LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
    LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
    WHERE r.day >= pg_catalog.lower(focus.period) AND r.day < pg_catalog.upper(focus.period)
    ORDER BY r.day, r.account, r.workspace_id, r.api_key_id, r.model;
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
                   'aispend._usage_costed_between(name, timestamptz, timestamptz), '
                   'aispend._usage_costed_rows(name, timestamptz, timestamptz) FROM %I', role_name);
    INSERT INTO aispend.teams (team) VALUES (role_name) ON CONFLICT ON CONSTRAINT teams_pkey DO NOTHING;
    INSERT INTO aispend.team_scopes (team, workspace_name)
    SELECT role_name, n FROM unnest(workspace_names) AS n WHERE n IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    INSERT INTO aispend.team_scopes (team, api_key_id)
    SELECT role_name, k FROM unnest(api_key_ids) AS k WHERE k IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.history_from(provider text DEFAULT 'all'::text)
 RETURNS date
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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

-- SQL-standard bodies, new ones first: they are bound to the objects they name when created
CREATE OR REPLACE FUNCTION aispend._input_tokens(uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(uncached, 0) + coalesce(cache_read, 0) + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0);

CREATE OR REPLACE FUNCTION aispend._price_keys(models text[], days date[], long_contexts boolean[],
                                    prices aispend.model_prices[])
RETURNS TABLE (model text, day date, long_context boolean, price aispend.model_prices)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT models[i], days[i], long_contexts[i], prices[i] FROM pg_catalog.generate_subscripts(models, 1) AS i
    OFFSET 0;
END;

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

CREATE OR REPLACE FUNCTION aispend._alternatives(provider text, model text, across_providers boolean)
RETURNS TABLE (provider text, model text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.* FROM aispend._alternatives_of(_alternatives.provider, _alternatives.model,
                                             _alternatives.across_providers) a;
END;

CREATE OR REPLACE FUNCTION aispend._api_key_rows(period daterange, provider text, search text, min_cost numeric,
                                      max_cost numeric, workspace text, api_key text, include_unused boolean,
                                      compare_with daterange)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, account name, workspace_id text, api_key_id text, owner text,
               last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH a AS (
        SELECT * FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with)),
    t AS (
        SELECT a.account, a.provider, a.workspace_id, a.api_key_id, a.cost, a.tokens, a.requests, a.previous_cost,
               a.previous_tokens, a.previous_requests
        FROM a
        UNION ALL
        -- listed keys with nothing in either period
        SELECT k.account, k.provider, k.workspace_id, k.api_key_id, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END
        FROM aispend._api_keys() k
        LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
        WHERE include_unused AND k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
          AND aispend._provider_matches(k.provider, _api_key_rows.provider)
          AND aispend._workspace_is(w.name, k.workspace_id, _api_key_rows.workspace)
          AND aispend._api_key_is(k.name, k.api_key_id, _api_key_rows.api_key)
          AND NOT EXISTS (SELECT 1 FROM a WHERE a.account = k.account AND a.api_key_id = k.api_key_id)),
    e AS (
        SELECT aispend._api_key_label(t.api_key_id, k.name) AS api_key, aispend.api_key_kind(t.api_key_id, k.status) AS kind,
               coalesce(w.name, t.workspace_id) AS workspace, k.key_hint, t.provider,
               aispend._api_key_status(t.api_key_id, k.status) AS status,
               t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens, t.previous_requests,
               t.account, t.workspace_id, t.api_key_id, k.owner, k.last_used_at
        FROM t
        LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
        WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
          AND (min_cost IS NULL OR t.cost >= min_cost)
          AND (max_cost IS NULL OR t.cost <= max_cost))
    SELECT e.api_key, e.kind, e.workspace, e.key_hint, e.provider, e.status, e.cost, e.tokens, e.requests,
           e.previous_cost, e.previous_tokens, e.previous_requests, e.account, e.workspace_id, e.api_key_id,
           e.owner, e.last_used_at
    FROM e;
END;

CREATE OR REPLACE FUNCTION aispend._entity_series(from_day date, to_day date, kind text, provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.* FROM aispend._entity_series_of(_entity_series.from_day, _entity_series.to_day, _entity_series.kind,
                                              _entity_series.provider) s;
END;

CREATE OR REPLACE FUNCTION aispend._entity_totals(kind "char", period daterange, provider text, workspace text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION aispend._rollup_entity_totals(kind "char", period daterange, provider text, workspace text,
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

CREATE OR REPLACE FUNCTION aispend._token_mix(period daterange, provider text, workspace text, api_key text, model text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint,
               cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint,
               output_audio bigint, input_image bigint, output_image bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.* FROM aispend._token_mix_rows(_token_mix.period, _token_mix.provider, _token_mix.workspace,
                                            _token_mix.api_key, _token_mix.model) x;
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
    SELECT x.* FROM aispend._usage_costed_rows(_usage_costed_between.account, _usage_costed_between.lo,
                                               _usage_costed_between.hi) x;
END;

CREATE OR REPLACE FUNCTION aispend._workspace_rows(period daterange, provider text, search text, min_cost numeric,
                                        max_cost numeric,
                                        compare_with daterange)
RETURNS TABLE (name text, account name, provider text, workspace_id text, cost numeric, tokens bigint,
               requests bigint, previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT coalesce(w.name, t.workspace_id) AS name, t.account, t.provider, t.workspace_id, t.cost, t.tokens,
               t.requests, t.previous_cost, t.previous_tokens, t.previous_requests
        FROM aispend._entity_totals('w', period, provider, NULL, NULL, min_cost, max_cost, compare_with) t
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id),
    g AS (
        SELECT e.name, sum(e.cost) AS cost FROM e GROUP BY e.name)
    SELECT e.name, e.account, e.provider, e.workspace_id, e.cost, e.tokens, e.requests, e.previous_cost,
           e.previous_tokens, e.previous_requests
    FROM e JOIN g ON g.name = e.name
    WHERE (search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(e.name), pg_catalog.lower(search)) > 0)
      AND (min_cost IS NULL OR g.cost >= min_cost)
      AND (max_cost IS NULL OR g.cost <= max_cost);
END;

CREATE OR REPLACE FUNCTION aispend.api_keys_idle(days integer DEFAULT 30, provider text DEFAULT 'all',
                                      as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, account name,
               workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.api_key, x.workspace, x.key_hint, x.provider, x.status, x.created_at, x.last_used_at, x.last_active_day,
           (as_of - x.last_use)::integer, x.account, x.workspace_id, x.api_key_id, x.owner
    FROM (SELECT aispend._api_key_label(k.api_key_id, k.name) AS api_key, coalesce(w.name, k.workspace_id) AS workspace,
                 k.key_hint, k.provider, aispend._api_key_status(k.api_key_id, k.status) AS status, k.created_at,
                 k.last_used_at, a.day AS last_active_day,
                 GREATEST((k.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use,
                 k.account, k.workspace_id, k.api_key_id, k.owner
          FROM aispend._api_keys() k
          LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
          CROSS JOIN LATERAL (SELECT aispend.api_key_last_active(k.account, k.api_key_id) AS day) a
          WHERE k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
            AND aispend._provider_matches(k.provider, api_keys_idle.provider)) x
    WHERE x.last_use IS NULL OR x.last_use <= as_of - api_keys_idle.days
    ORDER BY x.last_use NULLS FIRST, x.api_key, x.account, x.api_key_id;
END;

CREATE OR REPLACE FUNCTION aispend.api_keys_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                         compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_keys integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, not_key_cost numeric, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.round(s.total, 2), s.active, s.requests, s.tokens,
           pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4), pg_catalog.round(s.not_key, 2),
           pg_catalog.round(s.previous, 2), tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.api_key_id NOT LIKE '(%'
                                     AND (t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0)))::integer
                     AS active,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.cost) FILTER (WHERE t.api_key_id LIKE '(%'), 0) AS not_key,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with) t
          LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
          LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
          WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
            AND (min_cost IS NULL OR t.cost >= min_cost)
            AND (max_cost IS NULL OR t.cost <= max_cost)) s
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_summary.period, api_keys_summary.provider,
                                                 api_keys_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total, s.previous, inc.since) tr;
END;

CREATE OR REPLACE FUNCTION aispend.api_keys_unused(period daterange DEFAULT aispend.period('last_30_days'),
                                        provider text DEFAULT 'all', search text DEFAULT NULL,
                                        workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, previous_cost numeric,
               account name, workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.key_hint, t.provider, t.status, k.created_at, t.last_used_at, t.last_active_day,
           -- from the end of the period: 0 when the key was used after it
           GREATEST(pg_catalog.upper(period) - 1 - t.last_use, 0)::integer,
           pg_catalog.round(t.previous_cost, 2), t.account, t.workspace_id, t.api_key_id, t.owner
    FROM (SELECT r.*, a.day AS last_active_day, GREATEST((r.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use
          FROM aispend._api_key_rows(period, provider, search, NULL, NULL, workspace, NULL, true, NULL) r
          CROSS JOIN LATERAL (SELECT aispend.api_key_last_active(r.account, r.api_key_id) AS day) a) t
    JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
    WHERE t.kind = 'key' AND t.status = 'active'
      AND t.cost = 0 AND t.tokens = 0 AND coalesce(t.requests, 0) = 0
    ORDER BY t.last_use NULLS FIRST, t.api_key, t.account, t.api_key_id;
END;

CREATE OR REPLACE FUNCTION aispend.cache_efficiency(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                         api_key text DEFAULT NULL, hit_rate numeric DEFAULT 0.5,
                                         min_input_tokens bigint DEFAULT 1000000)
RETURNS TABLE (account name, workspace text, api_key text, model text, input_tokens bigint, cache_read_tokens bigint,
               cached_pct numeric, caching_saved numeric, saving_at_hit_rate numeric, uncached_heavy boolean,
               workspace_id text, api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH x AS MATERIALIZED (
        SELECT * FROM aispend._token_mix(cache_efficiency.period, cache_efficiency.provider,
                                         cache_efficiency.workspace, cache_efficiency.api_key, NULL)),
    prices AS MATERIALIZED (
        SELECT k.provider, k.model, k.day, k.long_context, p AS price
        FROM (SELECT DISTINCT x.provider, x.model, x.day, x.long_context FROM x) k
        LEFT JOIN LATERAL aispend.price_for(k.provider, k.model, k.day, k.long_context) p ON true),
    -- a cache read costs (input - cache read price) less than the same token uncached, times the row's multipliers
    r AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.model,
               coalesce(x.uncached, 0) + coalesce(x.cache_read, 0) + coalesce(x.cache_write_5m, 0)
               + coalesce(x.cache_write_1h, 0) AS input,
               coalesce(x.cache_read, 0) AS cache_read,
               (pr.price).cache_read_per_mtok IS NOT NULL AS caches,
               aispend._token_cost(pr.price, 1000000, 0, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier, x.inference_geo)
               - aispend._token_cost(pr.price, 0, 1000000, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier,
                                     x.inference_geo) AS per_mtok_saved
        FROM x
        JOIN prices pr ON pr.provider = x.provider AND pr.model = x.model AND pr.day = x.day
                      AND pr.long_context = x.long_context),
    g AS (
        SELECT r.account, r.workspace_id, r.api_key_id, r.model, sum(r.input)::bigint AS input,
               sum(r.cache_read)::bigint AS cache_read, bool_or(r.caches) AS caches,
               sum(r.cache_read * r.per_mtok_saved) / 1000000 AS saved,
               -- uncached input moved to the cache until the stated hit rate is reached (priced day by day)
               sum(GREATEST(cache_efficiency.hit_rate * r.input - r.cache_read, 0) * r.per_mtok_saved) / 1000000
                   AS would_save
        FROM r GROUP BY 1, 2, 3, 4)
    SELECT g.account, coalesce(w.name, g.workspace_id), aispend._api_key_label(g.api_key_id, k.name), g.model, g.input,
           g.cache_read, pg_catalog.round(100.0 * g.cache_read / NULLIF(g.input, 0), 1),
           pg_catalog.round(g.saved, 2), pg_catalog.round(g.would_save, 2),
           coalesce(g.caches, false) AND g.cache_read = 0 AND g.input >= cache_efficiency.min_input_tokens,
           g.workspace_id, g.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM g
    LEFT JOIN aispend._workspaces() w ON w.account = g.account AND w.workspace_id = g.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = g.account AND k.api_key_id = g.api_key_id
    WHERE g.input > 0
    ORDER BY g.would_save DESC NULLS LAST, g.account, g.workspace_id, g.api_key_id, g.model;
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

CREATE OR REPLACE FUNCTION aispend.middleware_coverage(period daterange DEFAULT aispend.period('last_30_days'),
                                            accounts name[] DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (provider text, billed_cost numeric, captured_cost numeric, captured_pct numeric,
               uncaptured_cost numeric, uncaptured_pct numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH b AS (
        SELECT t.provider, sum(t.cost) AS billed
        FROM aispend._entity_totals('w', middleware_coverage.period, middleware_coverage.provider) t
        WHERE accounts IS NULL OR t.account = ANY (accounts)
        GROUP BY t.provider),
    m AS (
        SELECT c.provider, c.captured
        FROM aispend._middleware_captured(middleware_coverage.period, middleware_coverage.accounts,
                                          middleware_coverage.provider) c),
    j AS (
        SELECT coalesce(b.provider, m.provider) AS provider, coalesce(b.billed, 0) AS billed,
               coalesce(m.captured, 0) AS captured
        FROM b FULL JOIN m ON m.provider = b.provider),
    a AS (
        SELECT j.provider, j.billed, j.captured, 1 AS ord FROM j
        UNION ALL
        SELECT 'all', coalesce(sum(j.billed), 0), coalesce(sum(j.captured), 0), 2 FROM j)
    SELECT a.provider, pg_catalog.round(a.billed, 2), pg_catalog.round(a.captured, 2),
           pg_catalog.round(100 * a.captured / NULLIF(a.billed, 0), 2),
           pg_catalog.round(GREATEST(a.billed - a.captured, 0), 2),
           pg_catalog.round(100 * GREATEST(a.billed - a.captured, 0) / NULLIF(a.billed, 0), 2)
    FROM a ORDER BY a.ord, a.provider;
END;

CREATE OR REPLACE FUNCTION aispend.savings_opportunities(period daterange DEFAULT aispend.period('last_30_days'),
                                              provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                              api_key text DEFAULT NULL, across_providers boolean DEFAULT false,
                                              min_saving numeric DEFAULT 0.01)
RETURNS TABLE (account name, workspace text, api_key text, model text, class text, alternative text,
               alternative_provider text, list_cost numeric, repriced_cost numeric, saving numeric,
               saving_pct numeric, share_of_key_pct numeric, assumptions text[], workspace_id text,
               api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH px AS MATERIALIZED (
        SELECT * FROM aispend._priced_mix(savings_opportunities.period, savings_opportunities.provider,
                                          savings_opportunities.workspace, savings_opportunities.api_key, NULL, NULL,
                                          NULL, true, savings_opportunities.across_providers)),
    p AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.provider, x.model, x.price_provider, x.price_model,
               sum(x.cost) AS cost, bool_or(x.cost IS NULL OR x.missing && aispend._unknown_cost()) AS unknown,
               (SELECT coalesce(pg_catalog.array_agg(DISTINCT k.kind ORDER BY k.kind), '{}')
                FROM px y, pg_catalog.unnest(y.missing) AS k(kind)
                WHERE y.account = x.account AND y.workspace_id = x.workspace_id AND y.api_key_id = x.api_key_id
                  AND y.model = x.model AND y.price_model = x.price_model
                  AND y.price_provider = x.price_provider) AS assumptions
        FROM px x
        GROUP BY 1, 2, 3, 4, 5, 6, 7),
    own AS (
        SELECT p.*, sum(p.cost) OVER (PARTITION BY p.account, p.workspace_id, p.api_key_id) AS key_cost
        FROM p WHERE p.price_model = p.model AND p.price_provider = p.provider),
    o AS (
        SELECT a.account, a.workspace_id, a.api_key_id, a.model, a.price_model, a.price_provider, own.cost AS list_cost,
               a.cost AS repriced, own.key_cost, a.assumptions
        FROM p a
        JOIN own ON own.account = a.account AND own.workspace_id = a.workspace_id AND own.api_key_id = a.api_key_id
                AND own.model = a.model
        WHERE NOT (a.price_model = a.model AND a.price_provider = a.provider)
          AND NOT a.unknown AND NOT own.unknown
          AND own.cost - a.cost >= coalesce(savings_opportunities.min_saving, 0))
    SELECT o.account, coalesce(w.name, o.workspace_id), aispend._api_key_label(o.api_key_id, k.name), o.model,
           aispend.model_class(o.model), o.price_model, o.price_provider, pg_catalog.round(o.list_cost, 2),
           pg_catalog.round(o.repriced, 2), pg_catalog.round(o.list_cost - o.repriced, 2),
           pg_catalog.round(100 * (o.list_cost - o.repriced) / NULLIF(o.list_cost, 0), 1),
           pg_catalog.round(100 * o.list_cost / NULLIF(o.key_cost, 0), 1), o.assumptions, o.workspace_id,
           o.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM o
    LEFT JOIN aispend._workspaces() w ON w.account = o.account AND w.workspace_id = o.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = o.account AND k.api_key_id = o.api_key_id
    ORDER BY o.list_cost - o.repriced DESC, o.account, o.workspace_id, o.api_key_id, o.model, o.price_model;
END;

CREATE OR REPLACE FUNCTION aispend.workspace_management_table(search text DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (workspace_name text, provider text, workspace_id text, provider_name text, status text,
               created date, first_seen date, last_seen date, first_activity date, last_activity date,
               name_changes bigint, display_name text, provider_status text, account name,
               created_at timestamptz, archived_at timestamptz, first_synced date, last_listed date,
               provider_workspace_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT m.* FROM aispend._workspace_management_rows(workspace_management_table.search,
                                                        workspace_management_table.provider) m;
END;

-- ---- views that now read through the functions above
CREATE OR REPLACE VIEW aispend.cost_facts WITH (security_invoker = true) AS
SELECT f.*
FROM (SELECT w.account FROM aispend._workspaces() w GROUP BY w.account) a
CROSS JOIN LATERAL aispend.cost_facts_between(a.account, '-infinity', 'infinity') f;

CREATE OR REPLACE VIEW aispend.freshness AS
SELECT f.account, f.provider COLLATE "C" AS provider, f.endpoint, f.complete_through, f.last_success_at,
       f.last_status, f.last_attempt_at, f.last_error_at, f.last_error_sqlstate, f.last_error_message, f.running,
       f.running_since, f.server_exists, f.refresh_request, f.refresh_state
FROM aispend._freshness_rows() f;

CREATE OR REPLACE VIEW aispend.usage_costed WITH (security_invoker = true) AS
SELECT uc.*
FROM aispend._usage_accounts() a
CROSS JOIN LATERAL aispend._usage_costed_between(a.account, '-infinity', 'infinity') uc;

COMMENT ON FUNCTION aispend._alternatives_of(text,text,boolean) IS 'Internal (savings): what aispend._alternatives returns (PL/pgSQL: on Citus the models are a distributed table).';
REVOKE ALL ON FUNCTION aispend._alternatives_of(text,text,boolean) FROM PUBLIC;
COMMENT ON FUNCTION aispend._api_keys() IS 'Internal: aispend.api_keys, as the tabs read it.';
REVOKE ALL ON FUNCTION aispend._api_keys() FROM PUBLIC;
COMMENT ON FUNCTION aispend._cost_facts(name,date,date) IS 'Internal: what aispend.cost_facts_between returns, for the re-roll (52_rollup.sql).';
REVOKE ALL ON FUNCTION aispend._cost_facts(name,date,date) FROM PUBLIC;
COMMENT ON FUNCTION aispend._cum_at_boundaries("char",daterange,text,daterange) IS 'Internal: the cumulative rows (aispend._cum) of an entity kind at the boundaries of a period and of what it is compared with (aispend._boundaries); what aispend._entity_totals adds up.';
REVOKE ALL ON FUNCTION aispend._cum_at_boundaries("char",daterange,text,daterange) FROM PUBLIC;
COMMENT ON FUNCTION aispend._drilldown_rows(name[],date,date,text,text) IS 'Internal: the daily rollup rows of a drill-down to a workspace or an API key (none for a team).';
REVOKE ALL ON FUNCTION aispend._drilldown_rows(name[],date,date,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._entity_series_of(date,date,text,text) IS 'Internal: what aispend._entity_series returns.';
REVOKE ALL ON FUNCTION aispend._entity_series_of(date,date,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._freshness_rows() IS 'Internal: the rows of aispend.freshness.';
REVOKE ALL ON FUNCTION aispend._freshness_rows() FROM PUBLIC;
COMMENT ON FUNCTION aispend._middleware_captured(daterange,name[],text) IS 'Internal: the middleware''s captured spend of a period per provider (aispend.middleware_coverage).';
REVOKE ALL ON FUNCTION aispend._middleware_captured(daterange,name[],text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._provider_accounts(text) IS 'Internal: the accounts of a provider filter and their providers, as arrays in the same order.';
REVOKE ALL ON FUNCTION aispend._provider_accounts(text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._rollup_entity_rows("char",daterange,text,text,text,daterange) IS 'Internal: what aispend._rollup_entity_totals returns.';
REVOKE ALL ON FUNCTION aispend._rollup_entity_rows("char",daterange,text,text,text,daterange) FROM PUBLIC;
COMMENT ON FUNCTION aispend._team_rollup_rows(date,date,text,text) IS 'Internal: a team''s own daily rollup rows, with the drill-down filters (none for another role).';
REVOKE ALL ON FUNCTION aispend._team_rollup_rows(date,date,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._token_mix_rows(daterange,text,text,text,text) IS 'Internal (savings): what aispend._token_mix returns.';
REVOKE ALL ON FUNCTION aispend._token_mix_rows(daterange,text,text,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_accounts() IS 'Internal: the accounts that have usage rows.';
REVOKE ALL ON FUNCTION aispend._usage_accounts() FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_costed_rows(name,timestamp with time zone,timestamp with time zone) IS 'Internal: what aispend._usage_costed_between returns.';
REVOKE ALL ON FUNCTION aispend._usage_costed_rows(name,timestamp with time zone,timestamp with time zone) FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_prices(name,text,timestamp with time zone,timestamp with time zone) IS 'Internal: the price row (aispend.price_for) of each model, UTC day and long-context flag in an account''s usage in [lo, hi): what aispend._cost_facts and aispend._usage_costed_rows cost its usage at.';
REVOKE ALL ON FUNCTION aispend._usage_prices(name,text,timestamp with time zone,timestamp with time zone) FROM PUBLIC;
COMMENT ON FUNCTION aispend._workspace_management_rows(text,text) IS 'Internal: what aispend.workspace_management_table returns.';
REVOKE ALL ON FUNCTION aispend._workspace_management_rows(text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._workspaces() IS 'Internal: aispend.workspaces, as the tabs read it.';
REVOKE ALL ON FUNCTION aispend._workspaces() FROM PUBLIC;
COMMENT ON FUNCTION aispend.distribute(integer,boolean) IS 'On a Citus coordinator: distributes every table of aispend with an account column by account (co-located, shard_count shards) and makes every other table a reference table; tables already distributed are skipped. Returns what it did. Refuses when Citus is absent, and unless experimental => true: teams do not run on a cluster yet. See docs/scaling.md.';
COMMENT ON FUNCTION aispend._input_tokens(bigint,bigint,bigint,bigint) IS 'Internal: all input tokens of a usage row (uncached + cache reads + cache writes).';
REVOKE ALL ON FUNCTION aispend._input_tokens(bigint,bigint,bigint,bigint) FROM PUBLIC;
COMMENT ON FUNCTION aispend._price_keys(text[],date[],boolean[],aispend.model_prices[]) IS 'Internal: the (model, day, long context, price row) rows of arrays built from aispend._usage_prices.';
REVOKE ALL ON FUNCTION aispend._price_keys(text[],date[],boolean[],aispend.model_prices[]) FROM PUBLIC;
COMMENT ON FUNCTION aispend._usage_costed_between(name,timestamp with time zone,timestamp with time zone) IS 'Internal: aispend.usage_costed for one account and buckets in [lo, hi).';
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
