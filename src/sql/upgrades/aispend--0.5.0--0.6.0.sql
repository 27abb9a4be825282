-- aispend 0.5.0 -> 0.6.0: aispend on a Citus cluster (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.6.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.6.0'" to load this file. \quit

-- ---- functions new or changed in 0.6.0 (src/sql/30_sync.sql, 47_cost_facts.sql, 52_rollup.sql,
-- 53_invalidation.sql, 54_workspace_management.sql, 55_audit.sql, 68_focus.sql, 95_distribute.sql, ...), as a
-- fresh install defines them
CREATE OR REPLACE FUNCTION aispend._account_providers()
 RETURNS TABLE(account name, provider text)
 LANGUAGE sql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
    SELECT s.srvname, aispend._option(s.srvoptions, 'provider') FROM aispend._servers() s
    UNION ALL
    SELECT r.account, r.provider FROM aispend.account_providers r
    -- NOT IN, not a correlated NOT EXISTS: Citus plans the servers once and pushes the filter down to the shards
    WHERE r.account OPERATOR(pg_catalog.<>) ALL (SELECT s.srvname FROM aispend._servers() s)
$function$;
CREATE OR REPLACE FUNCTION aispend._audit_ddl()
 RETURNS event_trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    c record;
    acct name;
    opts text[];
BEGIN
    -- On a Citus worker, DDL that the coordinator propagates arrives on Citus's own connections: the
    -- coordinator wrote its audit row already. (Never skipped elsewhere: the name alone could be set by anyone.)
    IF pg_catalog.current_setting('application_name') LIKE 'citus\_internal gpid=%' AND aispend._on_citus_worker() THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        acct := NULL;
        IF c.object_type = 'server' THEN
            SELECT s.srvname, s.srvoptions INTO acct, opts FROM aispend._servers() s WHERE s.oid = c.objid;
            IF acct IS NOT NULL THEN
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('options', coalesce(opts, '{}')));
            END IF;
        ELSIF c.object_type = 'user mapping' THEN
            SELECT s.srvname INTO acct
            FROM pg_catalog.pg_user_mappings m JOIN aispend._servers() s ON s.oid = m.srvid
            WHERE m.umid = c.objid;
            IF acct IS NOT NULL THEN
                SELECT pg_catalog.array_agg(pg_catalog.split_part(o, '=', 1) ORDER BY 1) INTO opts
                FROM pg_catalog.pg_user_mappings m, pg_catalog.unnest(m.umoptions) AS o
                WHERE m.umid = c.objid;
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('option_names', opts));
            END IF;
        END IF;
    END LOOP;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._citus_kind(t regclass)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_method "char";
    v_repmodel "char";
    v_column text;
BEGIN
    IF NOT aispend._citus_present() THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT p.partmethod, p.repmodel, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
               FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1'
       INTO v_method, v_repmodel, v_column USING t;
    RETURN CASE WHEN v_method IS NULL THEN NULL
                WHEN v_method = 'h' AND v_column = 'account' THEN 'distributed'
                WHEN v_method = 'n' AND v_repmodel = 't' THEN 'reference'
                ELSE 'other' END;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._citus_policies()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    p record;
    v_using text;
    n integer := 0;
BEGIN
    FOR p IN SELECT y.polrelid::regclass AS rel, y.polname, y.polcmd,
                    pg_catalog.pg_get_expr(y.polqual, y.polrelid) AS qual,
                    pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid) AS chk
               FROM pg_catalog.pg_policy y JOIN pg_catalog.pg_class c ON c.oid = y.polrelid
              WHERE c.relnamespace = 'aispend'::regnamespace
                AND (pg_catalog.pg_get_expr(y.polqual, y.polrelid) ~* '\mselect\M'
                     OR pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid) ~* '\mselect\M')
              ORDER BY 1, 2 LOOP
        IF p.polname = 'team_scope' AND p.rel IN ('aispend.workspaces'::regclass,
                                                   'aispend.workspace_name_history'::regclass) THEN
            v_using := 'aispend._team_workspace_visible(account, workspace_id)';
        ELSIF p.polname = 'team_scope' AND p.qual ~ '_team_keys' THEN
            v_using := 'aispend._team_row_visible(account, workspace_id, api_key_id)';
        ELSIF p.polname = 'team_scope' THEN
            v_using := 'NOT aispend._team_restricted()';
        ELSIF p.polname IN ('refresh_requests_own_update', 'refresh_requests_own_delete') THEN
            v_using := 'aispend._may_act_as(requested_by)';
        ELSE
            RAISE EXCEPTION 'aispend.distribute(): the policy % on % has a subquery, which Citus refuses', p.polname, p.rel
                USING ERRCODE = 'feature_not_supported';
        END IF;
        EXECUTE pg_catalog.format('ALTER POLICY %I ON %s USING (%s)', p.polname, p.rel, v_using);
        IF p.chk IS NOT NULL THEN
            EXECUTE pg_catalog.format('ALTER POLICY %I ON %s WITH CHECK (%s)', p.polname, p.rel, v_using);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._citus_present()
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus')
$function$;
CREATE OR REPLACE FUNCTION aispend._costs_runs_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    a name;
    old_h date;
BEGIN
    IF pg_catalog.to_regclass('pg_temp.aispend_runs_changed') IS NULL THEN
        CREATE TEMP TABLE aispend_runs_changed (account name, id bigint, horizon date, is_new boolean) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.aispend_runs_changed;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO pg_temp.aispend_runs_changed
        SELECT o.account, o.id, (o.complete_through AT TIME ZONE 'UTC')::date, false FROM old_rows o
        WHERE o.endpoint = 'costs' AND o.status = 'succeeded' AND o.complete_through IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO pg_temp.aispend_runs_changed
        SELECT n.account, n.id, (n.complete_through AT TIME ZONE 'UTC')::date, true FROM new_rows n
        WHERE n.endpoint = 'costs' AND n.status = 'succeeded' AND n.complete_through IS NOT NULL;
    END IF;
    FOR a IN SELECT DISTINCT c.account FROM pg_temp.aispend_runs_changed c LOOP
        -- the horizon before the statement: the runs it did not write, and the rows it replaced or deleted
        SELECT GREATEST((SELECT (max(r.complete_through) AT TIME ZONE 'UTC')::date FROM aispend.sync_runs r
                         WHERE r.account = a AND r.endpoint = 'costs' AND r.status = 'succeeded'
                           AND NOT EXISTS (SELECT 1 FROM pg_temp.aispend_runs_changed c
                                           WHERE c.account = r.account AND c.id = r.id AND c.is_new)),
                        (SELECT max(c.horizon) FROM pg_temp.aispend_runs_changed c WHERE c.account = a AND NOT c.is_new))
          INTO old_h;
        PERFORM aispend._mark_settlement_moved(a, old_h, aispend.settled_before(a));
    END LOOP;
    RETURN NULL;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._distribution_plan()
 RETURNS TABLE(table_name regclass, distribution text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT c.oid::regclass,
           CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                             WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                               AND a.attname OPERATOR(pg_catalog.=) 'account' AND NOT a.attisdropped)
                THEN 'distributed' ELSE 'reference' END
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'aispend'::regnamespace
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
       AND NOT c.relispartition
     ORDER BY c.relname
$function$;
CREATE OR REPLACE FUNCTION aispend._facts_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    a name;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        FOR a IN SELECT s.account FROM aispend._rollup_state s LOOP
            PERFORM aispend._mark_all_days(a);
        END LOOP;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM aispend._facts_written(o.account, pg_catalog.array_agg(DISTINCT (o.bucket_start AT TIME ZONE 'UTC')::date),
                                       NULL, NULL, NULL)
           FROM old_rows o GROUP BY o.account;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- the days, and the models an account uses: what a price change looks up
        PERFORM aispend._facts_written(d.account, d.days, m.models, m.firsts, m.lasts)
           FROM (SELECT n.account, pg_catalog.array_agg(DISTINCT (n.bucket_start AT TIME ZONE 'UTC')::date) AS days
                   FROM new_rows n GROUP BY n.account) d
           LEFT JOIN (SELECT x.account, pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                             pg_catalog.array_agg(x.l) AS lasts
                        FROM (SELECT n.account, n.model, min(n.bucket_start) AS f, max(n.bucket_start) AS l
                                FROM new_rows n WHERE n.model IS NOT NULL GROUP BY n.account, n.model) x
                       GROUP BY x.account) m ON m.account = d.account;
    END IF;
    RETURN NULL;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._facts_written(p_account name, p_days date[], p_models text[], p_first timestamp with time zone[], p_last timestamp with time zone[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT DISTINCT p_account, d.day FROM pg_catalog.unnest(p_days) AS d(day) WHERE d.day IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
    PERFORM aispend._note_model(p_account, m.model, m.first_seen, m.last_seen)
       FROM ROWS FROM (pg_catalog.unnest(p_models), pg_catalog.unnest(p_first), pg_catalog.unnest(p_last))
            AS m(model, first_seen, last_seen)
      WHERE m.model IS NOT NULL;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._mark_all_days(p_account name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_first date;
    v_last date;
BEGIN
    -- read first, then marked: on Citus a function called in a query of distributed tables runs on a shard
    SELECT LEAST(f.u0, f.c0, f.r0), GREATEST(f.u1, f.c1, f.r1) INTO v_first, v_last
    FROM (SELECT (SELECT (min(u.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.usage u WHERE u.account = p_account) AS u0,
                 (SELECT (max(u.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.usage u WHERE u.account = p_account) AS u1,
                 (SELECT (min(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c WHERE c.account = p_account) AS c0,
                 (SELECT (max(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c WHERE c.account = p_account) AS c1,
                 (SELECT s.first_day FROM aispend._rollup_state s WHERE s.account = p_account) AS r0,
                 (SELECT s.last_day FROM aispend._rollup_state s WHERE s.account = p_account) AS r1) f;
    PERFORM aispend._mark_days(p_account, v_first, v_last);
END
$function$;
CREATE OR REPLACE FUNCTION aispend._mark_days(p_account name, p_first date, p_last date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT p_account, d::date
    FROM pg_catalog.generate_series(p_first::timestamp, p_last::timestamp, interval '1 day') AS d
    WHERE p_first IS NOT NULL AND p_last IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._mark_settlement_moved(p_account name, p_old date, p_new date)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    last_day date;
BEGIN
    IF p_old IS NOT DISTINCT FROM p_new THEN
        RETURN;
    END IF;
    -- no horizon = every billed day settled: the days from the other horizon on change
    SELECT GREATEST((SELECT s.last_day FROM aispend._rollup_state s WHERE s.account = p_account),
                    (SELECT (max(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c
                     WHERE c.account = p_account))
      INTO last_day;
    PERFORM aispend._mark_days(p_account, LEAST(p_old, p_new),
                               CASE WHEN p_old IS NULL OR p_new IS NULL THEN last_day
                                    ELSE GREATEST(p_old, p_new) - 1 END);
END
$function$;
CREATE OR REPLACE FUNCTION aispend._may_act_as(p_role name)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname OPERATOR(pg_catalog.=) p_role AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
$function$;
CREATE OR REPLACE FUNCTION aispend._names_before(p_account name)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = 'aispend.workspaces'::regclass
                  AND g.tgfoid = 'aispend._workspace_name_changed()'::regprocedure) THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.jsonb_object_agg(w.workspace_id, pg_catalog.jsonb_build_array(w.display_name,
                                                                                          w.provider_name, w.name))
              FROM aispend.workspaces w WHERE w.account = p_account);
END
$function$;
CREATE OR REPLACE FUNCTION aispend._names_changed(p_account name, p_before jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    w record;
    o jsonb;
BEGIN
    IF p_before IS NULL THEN
        RETURN;
    END IF;
    FOR w IN SELECT x.workspace_id, x.display_name, x.provider_name, x.name
               FROM aispend.workspaces x WHERE x.account = p_account ORDER BY x.workspace_id LOOP
        o := p_before -> w.workspace_id;
        -- a workspace inserted by the change is no rename (the trigger fires on UPDATE only)
        CONTINUE WHEN o IS NULL
            OR ((o ->> 0) IS NOT DISTINCT FROM w.display_name AND (o ->> 1) IS NOT DISTINCT FROM w.provider_name);
        PERFORM aispend._record_name_change(p_account, w.workspace_id, o ->> 0, w.display_name, o ->> 1,
                                            w.provider_name, o ->> 2, w.name);
    END LOOP;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._note_fact_dimensions(p_account name, p_provider text, p_now timestamp with time zone, p_workspaces text[], p_keys text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, first_seen, last_seen)
    SELECT p_account, p_provider, w,
           CASE WHEN w = '(default)' THEN CASE p_provider WHEN 'anthropic' THEN '(default workspace)'
                                                          ELSE '(no project)' END END,
           CASE WHEN w LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_workspaces) AS w
    WHERE w IS NOT NULL
    ON CONFLICT (account, workspace_id) DO NOTHING;
    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, status, first_seen, last_seen)
    SELECT p_account, p_provider, k,
           CASE k WHEN '(console)' THEN '(no API key: Console)' WHEN '(none)' THEN '(no API key)' END,
           CASE WHEN k LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_keys) AS k
    WHERE k IS NOT NULL
    ON CONFLICT (account, api_key_id) DO NOTHING;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._note_model(p_account name, p_model text, p_first timestamp with time zone, p_last timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO aispend.models AS m (account, provider, model, first_seen, last_seen)
    SELECT p_account, p.provider, p_model, p_first, p_last
    FROM aispend._account_providers() p WHERE p.account = p_account
    ON CONFLICT (account, model) DO UPDATE
       SET first_seen = LEAST(m.first_seen, excluded.first_seen), last_seen = GREATEST(m.last_seen, excluded.last_seen)
     WHERE excluded.first_seen < m.first_seen OR excluded.last_seen > m.last_seen;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._on_citus_worker()
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_group integer;
BEGIN
    IF NOT aispend._citus_present() THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    RETURN coalesce(v_group, 0) <> 0;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._record_name_change(p_account name, p_workspace_id text, p_old_display text, p_new_display text, p_old_provider text, p_new_provider text, p_old_name text, p_new_name text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    -- a sentinel workspace's name placeholder ('(default workspace)') giving way to the provider's own name is no
    -- rename: the name became known
    IF p_old_display IS NOT DISTINCT FROM p_new_display AND p_workspace_id LIKE '(%' AND p_old_provider LIKE '(%' THEN
        RETURN;
    END IF;
    INSERT INTO aispend.workspace_name_history (account, workspace_id, source, action, old_name, new_name,
                                                old_display_name, new_display_name, old_provider_name,
                                                new_provider_name)
    VALUES (p_account, p_workspace_id,
            CASE WHEN p_old_display IS DISTINCT FROM p_new_display THEN 'custom' ELSE 'provider' END,
            CASE WHEN p_old_display IS NOT DISTINCT FROM p_new_display THEN 'provider rename'
                 -- aispend.revert_workspace_name says so for the change it makes
                 WHEN current_setting('aispend_history.action', true) = 'revert' THEN 'revert'
                 WHEN p_new_display IS NULL THEN 'reset'
                 ELSE 'rename' END,
            p_old_name, p_new_name, p_old_display, p_new_display, p_old_provider, p_new_provider);
END
$function$;
CREATE OR REPLACE FUNCTION aispend._remember_provider(account name, provider text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO aispend.account_providers AS r (account, provider)
    VALUES (_remember_provider.account, _remember_provider.provider)
    ON CONFLICT ON CONSTRAINT account_providers_pkey DO UPDATE
       SET provider = excluded.provider, remembered_at = excluded.remembered_at;
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
    -- Not on a Citus cluster yet (docs/scaling.md): the cost model cannot run there. The marked days stay marked
    -- (nothing is lost) rather than rolled up wrong.
    IF aispend._citus_kind('aispend.daily_rollup'::regclass) IS NOT NULL THEN
        RETURN 0;
    END IF;
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
BEGIN
    -- A fact with a model is already one rollup row; the lines without one are added up per key. Only rows
    -- that change are written (a re-roll of many days mostly rewrites the same figures; fewer dead rows).
    WITH f AS MATERIALIZED (SELECT * FROM aispend.cost_facts_between(p_account, from_day, to_day)),
    nr AS MATERIALIZED (
        SELECT f.day, f.workspace_id, f.api_key_id, f.model, f.billed_cost, f.allocated_cost, f.estimated_cost,
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
        GROUP BY f.day, f.workspace_id, f.api_key_id),
    gone AS (
        DELETE FROM aispend.daily_rollup r
        WHERE r.account = p_account AND r.day BETWEEN from_day AND to_day
          -- NOT IN (no column is NULL on either side), hashed: right after a first sync the rollup's statistics
          -- say one row, and a NOT EXISTS became a nested loop over nr per rollup row (minutes for a large account)
          AND (r.day, r.workspace_id, r.api_key_id, r.model) NOT IN
              (SELECT nr.day, nr.workspace_id, nr.api_key_id, nr.model FROM nr))
    INSERT INTO aispend.daily_rollup AS r (account, day, workspace_id, api_key_id, model, billed_cost,
                                           allocated_cost, estimated_cost, cost, cost_basis, input_tokens,
                                           output_tokens, total_tokens, requests, unpriced)
    SELECT p_account, nr.* FROM nr
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
    nr AS MATERIALIZED (
        SELECT g.day, g.kind, g.workspace_id, g.api_key_id, g.model,
               coalesce(sum(d.cost) OVER w, 0) AS cost, coalesce(sum(d.tokens) OVER w, 0) AS tokens,
               sum(d.requests) OVER w AS requests
        FROM g
        LEFT JOIN d ON d.kind = g.kind AND d.workspace_id = g.workspace_id AND d.api_key_id = g.api_key_id
                   AND d.model = g.model AND d.day = g.day
        WINDOW w AS (PARTITION BY g.kind, g.workspace_id, g.api_key_id, g.model ORDER BY g.day)),
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
    s AS (
        SELECT g.kind, g.workspace_id, g.api_key_id, g.model, g.m,
               coalesce(sum(t.cost) OVER w, 0) AS cost, coalesce(sum(t.tokens) OVER w, 0) AS tokens,
               sum(t.requests) OVER w AS requests
        FROM g
        LEFT JOIN t ON t.kind = g.kind AND t.workspace_id = g.workspace_id AND t.api_key_id = g.api_key_id
                   AND t.model = g.model AND t.m = g.m
        WINDOW w AS (PARTITION BY g.kind, g.workspace_id, g.api_key_id, g.model ORDER BY g.m
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    nr AS MATERIALIZED (SELECT s.* FROM s WHERE s.m > p_from),
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
CREATE OR REPLACE FUNCTION aispend._sync_api_keys(p_account name, p_provider text, p_now timestamp with time zone, OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE aispend_stage_api_keys ON COMMIT DROP AS
    SELECT DISTINCT ON (f.api_key_id)
           f.api_key_id, f.name, f.key_hint, coalesce(f.status, 'active') AS status,
           coalesce(f.workspace_id, '(default)') AS workspace_id, f.owner, f.created_at, f.last_used_at
    FROM aispend._fetch_api_keys(p_account) f
    WHERE f.api_key_id IS NOT NULL
    ORDER BY f.api_key_id, f.last_used_at DESC NULLS LAST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_api_keys;

    UPDATE aispend.api_keys k
       SET provider = p_provider, name = s.name, key_hint = s.key_hint, status = s.status,
           workspace_id = s.workspace_id, owner = s.owner, created_at = s.created_at,
           last_used_at = s.last_used_at, last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id
       AND (k.provider, k.name, k.key_hint, k.status, k.workspace_id, k.owner, k.created_at, k.last_used_at)
           IS DISTINCT FROM (p_provider, s.name, s.key_hint, s.status, s.workspace_id, s.owner, s.created_at,
                             s.last_used_at);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.api_keys k SET last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id AND k.last_seen <> p_now;

    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, owner,
                                  created_at, last_used_at, first_seen, last_seen)
    SELECT p_account, p_provider, s.api_key_id, s.name, s.key_hint, s.status, s.workspace_id, s.owner,
           s.created_at, s.last_used_at, p_now, p_now
    FROM pg_temp.aispend_stage_api_keys s
    ON CONFLICT (account, api_key_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (OpenAI lists only live keys): kept, marked deleted.
    UPDATE aispend.api_keys k SET status = 'deleted'
     WHERE k.account = p_account AND k.status NOT IN ('deleted', 'unlisted') AND k.api_key_id NOT LIKE '(%'
       AND k.api_key_id NOT IN (SELECT s.api_key_id FROM pg_temp.aispend_stage_api_keys s WHERE s.api_key_id IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_api_keys s), NULL);
    DROP TABLE pg_temp.aispend_stage_api_keys;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._sync_costs(p_account name, p_provider text, p_since timestamp with time zone, p_until timestamp with time zone, p_now timestamp with time zone, OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_days date[];
BEGIN
    CREATE TEMP TABLE aispend_stage_costs ON COMMIT DROP AS
    SELECT f.bucket_start, coalesce(f.workspace_id, '(default)') AS workspace_id, f.api_key_id, f.line_item,
           f.model, f.token_type, f.service_tier, f.context_window, f.cost_type, f.inference_geo,
           coalesce(pg_catalog.upper(f.currency), 'USD') AS currency, f.quantity_unit,
           sum(f.amount_usd) AS amount_usd, sum(f.quantity) AS quantity, max(f.token_class) AS token_class
    FROM aispend._fetch_costs(p_account, p_since, p_until) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_costs;

    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_costs ON COMMIT DROP AS
    SELECT c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type, c.service_tier,
           c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit
      FROM aispend.costs c
     WHERE c.account = p_account AND c.bucket_start >= p_since AND c.bucket_start < p_until
       AND c.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
               c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit)::text
           NOT IN (SELECT ROW(s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
                              s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.currency,
                              s.quantity_unit)::text
                     FROM pg_temp.aispend_stage_costs s);
    DELETE FROM aispend.costs c USING pg_temp.aispend_gone_costs g
     WHERE c.account = p_account AND c.bucket_start = g.bucket_start
       AND c.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND c.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND c.line_item IS NOT DISTINCT FROM g.line_item
       AND c.model IS NOT DISTINCT FROM g.model
       AND c.token_type IS NOT DISTINCT FROM g.token_type
       AND c.service_tier IS NOT DISTINCT FROM g.service_tier
       AND c.context_window IS NOT DISTINCT FROM g.context_window
       AND c.cost_type IS NOT DISTINCT FROM g.cost_type
       AND c.inference_geo IS NOT DISTINCT FROM g.inference_geo
       AND c.currency IS NOT DISTINCT FROM g.currency
       AND c.quantity_unit IS NOT DISTINCT FROM g.quantity_unit;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.costs AS c
            (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type, service_tier,
             context_window, cost_type, inference_geo, amount_usd, currency, quantity, quantity_unit, token_class)
        SELECT p_account, s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
               s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.amount_usd, s.currency,
               s.quantity, s.quantity_unit, s.token_class
        FROM pg_temp.aispend_stage_costs s
        ON CONFLICT ON CONSTRAINT costs_natural_key DO UPDATE
           SET amount_usd = excluded.amount_usd, quantity = excluded.quantity, token_class = excluded.token_class
         -- compared as text: numeric equality ignores scale (1.50 = 1.5), and the digits as sent are kept
         WHERE c.amount_usd::text <> excluded.amount_usd::text
            OR c.quantity::text IS DISTINCT FROM excluded.quantity::text
            OR c.token_class IS DISTINCT FROM excluded.token_class
        RETURNING c.xmax = 0 AS is_new, (c.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_costs g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_costs s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_costs s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_costs s));
    DROP TABLE pg_temp.aispend_stage_costs;
    DROP TABLE pg_temp.aispend_gone_costs;
END
$function$;
CREATE OR REPLACE PROCEDURE aispend._sync_step(IN p_account name, IN p_provider text, IN p_endpoint text, IN p_since timestamp with time zone, IN p_until timestamp with time zone, IN p_width text, INOUT o_sqlstate text, INOUT o_message text, INOUT o_detail text, INOUT o_hint text)
 LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_run bigint;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_res record;
    v_http bigint;
    v_retries bigint;
    v_bytes bigint;
    v_resume timestamptz;
    v_complete timestamptz;
    v_settled date;
BEGIN
    o_sqlstate := NULL; o_message := NULL; o_detail := NULL; o_hint := NULL;
    INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at)
    VALUES (p_account, p_endpoint, p_since, p_until,
            CASE WHEN p_endpoint = 'usage' THEN p_width WHEN p_endpoint = 'costs' THEN '1d' END, v_t0)
    RETURNING id INTO v_run;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'running'));
    COMMIT;

    BEGIN
        CASE p_endpoint
            WHEN 'workspaces' THEN
                SELECT * INTO v_res FROM aispend._sync_workspaces(p_account, p_provider, v_t0);
            WHEN 'api_keys' THEN
                SELECT * INTO v_res FROM aispend._sync_api_keys(p_account, p_provider, v_t0);
            WHEN 'usage' THEN
                SELECT * INTO v_res FROM aispend._sync_usage(p_account, p_provider, p_since, p_until, p_width, v_t0);
            WHEN 'costs' THEN
                SELECT * INTO v_res FROM aispend._sync_costs(p_account, p_provider, p_since, p_until, v_t0);
        END CASE;
        SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes FROM aispend._last_fetch_stats() s;
        -- The dashboard's rollups of these days change in the same transaction as the facts. A large change
        -- is analyzed first: with the statistics of a much smaller table, the cost model's joins are planned
        -- as nested loops, and a backfill month of a large organisation then takes minutes instead of seconds.

        -- Complete through the last closed bucket, if this window continues the complete history (a window
        -- that starts after it would leave a gap, which the next sync must still fetch).
        IF p_endpoint IN ('usage', 'costs') THEN
            SELECT pg_catalog.max(r.complete_through) INTO v_resume FROM aispend.sync_runs r
            WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
            IF v_resume IS NULL OR p_since <= v_resume THEN
                v_complete := LEAST(p_until, GREATEST(p_since, aispend._bucket_floor(v_t0,
                                  CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END)));
            END IF;
        END IF;

        -- The time is read first: Citus refuses volatile functions in UPDATEs of distributed tables.
        v_finished := pg_catalog.clock_timestamp();
        v_settled := aispend.settled_before(p_account);
        UPDATE aispend.sync_runs r
           SET status = 'succeeded', finished_at = v_finished, complete_through = v_complete,
               rows_fetched = v_res.fetched, rows_inserted = v_res.inserted, rows_updated = v_res.updated,
               rows_deleted = v_res.deleted, http_requests = v_http, retries = v_retries, bytes = v_bytes
         WHERE r.account = p_account AND r.id = v_run;
        IF p_endpoint = 'costs' THEN
            PERFORM aispend._mark_settlement_moved(p_account, v_settled, aispend.settled_before(p_account));
        END IF;
        -- The facts' triggers (and, for costs, the run that settles its days) marked the days that changed; the
        -- dashboard's rollups of those days change in this transaction. A large change is analyzed first: with
        -- the statistics of a much smaller table, the cost model's joins are planned as nested loops, and a
        -- backfill month of a large organisation then takes minutes instead of seconds.
        IF p_endpoint IN ('usage', 'costs') THEN
            IF v_res.inserted + v_res.deleted >= 10000 THEN
                IF p_endpoint = 'usage' THEN ANALYZE aispend.usage; ELSE ANALYZE aispend.costs; END IF;
            END IF;
            PERFORM aispend._reroll(p_account);
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS o_sqlstate = RETURNED_SQLSTATE, o_message = MESSAGE_TEXT,
                                o_detail = PG_EXCEPTION_DETAIL, o_hint = PG_EXCEPTION_HINT;
    END;

    IF o_sqlstate IS NOT NULL THEN
        BEGIN
            SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes
            FROM aispend._last_fetch_stats() s;
        EXCEPTION WHEN OTHERS THEN
            v_http := NULL;
        END;
        v_finished := pg_catalog.clock_timestamp();
        UPDATE aispend.sync_runs r
           SET status = CASE WHEN o_sqlstate = '57014' THEN 'aborted' ELSE 'failed' END,
               finished_at = v_finished, http_requests = v_http, retries = v_retries,
               bytes = v_bytes, error_sqlstate = o_sqlstate, error_message = o_message,
               error_detail = NULLIF(o_detail, ''), error_hint = NULLIF(o_hint, '')
         WHERE r.account = p_account AND r.id = v_run;
        PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
            'run', v_run, 'status', CASE o_sqlstate WHEN '57014' THEN 'aborted' ELSE 'failed' END));
        COMMIT;
        o_detail := pg_catalog.concat_ws(E'\n', NULLIF(o_detail, ''),
            pg_catalog.format('aispend: account %s, %s%s (aispend.sync_runs id %s); nothing of this chunk was stored.',
                              p_account, p_endpoint, aispend._fmt_window(p_since, p_until), v_run));
        RETURN;
    END IF;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'succeeded'));
    COMMIT;
    RAISE NOTICE '%', pg_catalog.format('aispend: %s %s%s: %s rows (+%s ~%s -%s) in %s s', p_account, p_endpoint,
        aispend._fmt_window(p_since, p_until), v_res.fetched, v_res.inserted, v_res.updated, v_res.deleted,
        pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - v_t0)::numeric, 2));
END
$procedure$;
CREATE OR REPLACE FUNCTION aispend._sync_usage(p_account name, p_provider text, p_since timestamp with time zone, p_until timestamp with time zone, p_width text, p_now timestamp with time zone, OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    v_days date[];
BEGIN
    -- Normalised and de-duplicated (a natural key seen twice is summed; NULL stays NULL).
    CREATE TEMP TABLE aispend_stage_usage ON COMMIT DROP AS
    SELECT f.endpoint, f.bucket_start,
           coalesce(f.workspace_id, '(default)') AS workspace_id,
           -- OpenRouter's activity report is not split by key: '(all keys)', not '(none)' (it was keys' usage)
           coalesce(f.api_key_id, CASE p_provider WHEN 'anthropic' THEN '(console)' WHEN 'openrouter' THEN '(all keys)'
                                                  ELSE '(none)' END) AS api_key_id,
           f.model, f.service_tier, f.batch, f.context_window, f.inference_geo,
           sum(f.uncached_input_tokens)::bigint AS uncached_input_tokens,
           sum(f.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(f.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
           sum(f.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
           sum(f.output_tokens)::bigint AS output_tokens,
           sum(f.input_audio_tokens)::bigint AS input_audio_tokens,
           sum(f.output_audio_tokens)::bigint AS output_audio_tokens,
           sum(f.input_image_tokens)::bigint AS input_image_tokens,
           sum(f.output_image_tokens)::bigint AS output_image_tokens,
           sum(f.requests)::bigint AS requests,
           sum(f.web_search_requests)::bigint AS web_search_requests
    FROM aispend._fetch_usage(p_account, p_since, p_until, p_width) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_usage;

    -- OpenRouter reports only its last 30 completed UTC days: older days it no longer sends are history, kept.
    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_usage ON COMMIT DROP AS
    SELECT u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model, u.service_tier,
           u.batch, u.context_window, u.inference_geo
      FROM aispend.usage u
     WHERE u.account = p_account AND u.bucket_start >= p_since AND u.bucket_start < p_until
       AND u.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model,
               u.service_tier, u.batch, u.context_window, u.inference_geo)::text
           NOT IN (SELECT ROW(s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model,
                              s.service_tier, s.batch, s.context_window, s.inference_geo)::text
                     FROM pg_temp.aispend_stage_usage s);
    DELETE FROM aispend.usage u USING pg_temp.aispend_gone_usage g
     WHERE u.account = p_account AND u.bucket_start = g.bucket_start
       AND u.endpoint IS NOT DISTINCT FROM g.endpoint
       AND u.bucket_width IS NOT DISTINCT FROM g.bucket_width
       AND u.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND u.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND u.model IS NOT DISTINCT FROM g.model
       AND u.service_tier IS NOT DISTINCT FROM g.service_tier
       AND u.batch IS NOT DISTINCT FROM g.batch
       AND u.context_window IS NOT DISTINCT FROM g.context_window
       AND u.inference_geo IS NOT DISTINCT FROM g.inference_geo;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.usage AS u
            (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier, batch,
             context_window, inference_geo, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens, output_tokens, input_audio_tokens, output_audio_tokens, input_image_tokens,
             output_image_tokens, requests, web_search_requests)
        SELECT p_account, s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model, s.service_tier,
               s.batch, s.context_window, s.inference_geo, s.uncached_input_tokens, s.cache_read_tokens,
               s.cache_write_5m_tokens, s.cache_write_1h_tokens, s.output_tokens, s.input_audio_tokens,
               s.output_audio_tokens, s.input_image_tokens, s.output_image_tokens, s.requests, s.web_search_requests
        FROM pg_temp.aispend_stage_usage s
        ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE
           SET uncached_input_tokens = excluded.uncached_input_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_5m_tokens = excluded.cache_write_5m_tokens,
               cache_write_1h_tokens = excluded.cache_write_1h_tokens,
               output_tokens = excluded.output_tokens,
               input_audio_tokens = excluded.input_audio_tokens,
               output_audio_tokens = excluded.output_audio_tokens,
               input_image_tokens = excluded.input_image_tokens,
               output_image_tokens = excluded.output_image_tokens,
               requests = excluded.requests,
               web_search_requests = excluded.web_search_requests
         WHERE (u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                u.output_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens,
                u.output_image_tokens, u.requests, u.web_search_requests)
               IS DISTINCT FROM
               (excluded.uncached_input_tokens, excluded.cache_read_tokens, excluded.cache_write_5m_tokens,
                excluded.cache_write_1h_tokens, excluded.output_tokens, excluded.input_audio_tokens,
                excluded.output_audio_tokens, excluded.input_image_tokens, excluded.output_image_tokens,
                excluded.requests, excluded.web_search_requests)
        RETURNING u.xmax = 0 AS is_new, (u.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_usage g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_usage s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_usage s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_usage s));
    DROP TABLE pg_temp.aispend_stage_usage;
    DROP TABLE pg_temp.aispend_gone_usage;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._sync_workspaces(p_account name, p_provider text, p_now timestamp with time zone, OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
DECLARE
    n bigint;
    v_names jsonb := aispend._names_before(p_account);
BEGIN
    CREATE TEMP TABLE aispend_stage_workspaces ON COMMIT DROP AS
    -- the default workspace (Anthropic's, listed under its real id) is the '(default)' of the reports
    SELECT DISTINCT ON (1)
           CASE WHEN f.is_default THEN '(default)' ELSE coalesce(f.workspace_id, '(default)') END AS workspace_id,
           f.name AS provider_name,
           coalesce(f.status, CASE WHEN f.archived_at IS NULL THEN 'active' ELSE 'archived' END) AS status,
           f.created_at, f.archived_at, CASE WHEN f.is_default THEN f.workspace_id END AS provider_workspace_id
    FROM aispend._fetch_workspaces(p_account) f
    ORDER BY 1, f.archived_at NULLS FIRST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_workspaces;

    UPDATE aispend.workspaces w
       SET provider = p_provider, provider_name = s.provider_name, status = s.status,
           created_at = s.created_at, archived_at = s.archived_at, last_seen = p_now,
           provider_workspace_id = s.provider_workspace_id
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id
       AND (w.provider, w.provider_name, w.status, w.created_at, w.archived_at, w.provider_workspace_id)
           IS DISTINCT FROM (p_provider, s.provider_name, s.status, s.created_at, s.archived_at,
                             s.provider_workspace_id);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.workspaces w SET last_seen = p_now
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id AND w.last_seen <> p_now;

    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, created_at, archived_at,
                                    first_seen, last_seen, provider_workspace_id)
    SELECT p_account, p_provider, s.workspace_id, s.provider_name, s.status, s.created_at, s.archived_at, p_now, p_now,
           s.provider_workspace_id
    FROM pg_temp.aispend_stage_workspaces s
    ON CONFLICT (account, workspace_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (the list includes archived ones): kept, marked archived.
    UPDATE aispend.workspaces w SET status = 'archived'
     WHERE w.account = p_account AND w.status NOT IN ('archived', 'unlisted') AND w.workspace_id NOT LIKE '(%'
       AND w.workspace_id NOT IN (SELECT s.workspace_id FROM pg_temp.aispend_stage_workspaces s);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;
    PERFORM aispend._names_changed(p_account, v_names);
    DROP TABLE pg_temp.aispend_stage_workspaces;
END
$function$;
CREATE OR REPLACE FUNCTION aispend._team_row_visible(p_account name, p_workspace_id text, p_api_key_id text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_api_key_id) IN (SELECT k.account, k.api_key_id FROM aispend._team_keys(CURRENT_USER) k)
$function$;
CREATE OR REPLACE FUNCTION aispend._team_workspace_visible(p_account name, p_workspace_id text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k)
$function$;
CREATE OR REPLACE FUNCTION aispend._workspace_name_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    PERFORM aispend._record_name_change(NEW.account, NEW.workspace_id, OLD.display_name, NEW.display_name,
                                        OLD.provider_name, NEW.provider_name, OLD.name, NEW.name);
    RETURN NULL;
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
    -- The sync runs on a cluster; the cost model and the tabs do not yet (docs/scaling.md): their SQL functions
    -- read distributed tables, which Citus cannot plan, and the rollups would stay empty. Only on request.
    IF NOT coalesce(experimental, false) THEN
        RAISE EXCEPTION 'aispend.distribute(): the dashboard does not run on a Citus cluster yet'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The sync of every account runs on a distributed installation, but the rollups stay empty '
                           'and the tabs fail: the cost model and the tabs are SQL functions reading distributed '
                           'tables, which Citus 13 cannot plan.',
                  HINT = 'To try the distributed sync anyway: SELECT * FROM aispend.distribute(experimental => true). '
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
CREATE OR REPLACE FUNCTION aispend.import_focus(account name, csv text, cloud text DEFAULT NULL::text, ai_services text[] DEFAULT NULL::text[])
 RETURNS TABLE(billing_account_id text, billing_period_start timestamp with time zone, billing_period_end timestamp with time zone, rows_read bigint, ai_rows bigint, unparsed_rows bigint, skipped_rows bigint, billed_cost numeric, effective_cost numeric, replaced_rows bigint, run_id bigint)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_column
DECLARE
    v_account name := import_focus.account;
    v_cloud text := pg_catalog.lower(import_focus.cloud);
    v_patterns text[] := coalesce(import_focus.ai_services, aispend.focus_ai_services());
    v_opts text[];
    v_h jsonb;
    v_ncols integer;
    v_col text;
    v_bad record;
    v_run bigint;
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_settled date;
    v_names jsonb;
    v_models text[];
    v_firsts timestamptz[];
    v_lasts timestamptz[];
    v_complete timestamptz;
    v_read bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_ts constant text := '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)?$';
    v_num constant text := '^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$';
BEGIN
    SELECT s.srvoptions INTO v_opts FROM aispend._servers() s WHERE s.srvname = v_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', v_account
            USING ERRCODE = 'undefined_object',
                  HINT = 'A FOCUS billing source is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''focus'').';
    END IF;
    IF aispend._option(v_opts, 'provider') IS DISTINCT FROM 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a % account, not a FOCUS billing source', v_account,
                        coalesce(aispend._option(v_opts, 'provider'), '(no provider)')
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Import into an account created with OPTIONS (provider ''focus''); '
                         'its synced accounts are filled by aispend.sync.';
    END IF;
    IF v_cloud IS NOT NULL AND v_cloud NOT IN ('aws', 'azure', 'gcp') THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": unknown cloud "%"', v_account, import_focus.cloud
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use aws, azure, gcp, or NULL to read ProviderName.';
    END IF;
    IF csv IS NULL OR pg_catalog.btrim(csv, E' \r\n') = '' THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": the file is empty', v_account
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'In psql: \set focus `zcat export.csv.gz` then SELECT * FROM aispend.import_focus(''account'', :''focus'');';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1634300784, aispend._lock_key(v_account)) THEN
        RAISE EXCEPTION 'aispend: an import or sync of account % is running', v_account
            USING ERRCODE = 'lock_not_available';
    END IF;

    -- the header: columns by name, in any order
    CREATE TEMP TABLE aispend_focus_cells ON COMMIT DROP AS SELECT * FROM aispend._csv_cells(csv);
    SELECT pg_catalog.jsonb_object_agg(pg_catalog.lower(pg_catalog.btrim(pg_catalog.replace(c.cell, U&'\FEFF', ''))), c.col_no),
           pg_catalog.count(*)
      INTO v_h, v_ncols
      FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1;
    FOREACH v_col IN ARRAY ARRAY['BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart',
                                 'ChargeCategory', 'ServiceName', 'BilledCost', 'EffectiveCost', 'BillingCurrency'] LOOP
        IF NOT v_h ? pg_catalog.lower(v_col) THEN
            RAISE EXCEPTION 'aispend: FOCUS import into account "%": the required column % is missing', v_account, v_col
                USING ERRCODE = 'bad_copy_file_format',
                      DETAIL = 'The header has: ' || (SELECT pg_catalog.string_agg(c.cell, ', ' ORDER BY c.col_no)
                                                       FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1),
                      HINT = 'Import a FOCUS 1.0, 1.1 or 1.2 export with its header row (docs/focus.md).';
        END IF;
    END LOOP;

    -- the rows: repeated header rows (several files concatenated) and blank lines are skipped
    CREATE TEMP TABLE aispend_focus_rows ON COMMIT DROP AS
    SELECT c.row_no::integer AS row_no, pg_catalog.array_agg(c.cell ORDER BY c.col_no) AS f
    FROM pg_temp.aispend_focus_cells c WHERE c.row_no > 1
    GROUP BY c.row_no;
    DELETE FROM pg_temp.aispend_focus_rows r
     WHERE (pg_catalog.array_length(r.f, 1) = 1 AND r.f[1] = '')
        OR r.f = (SELECT pg_catalog.array_agg(c.cell ORDER BY c.col_no) FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1);
    DROP TABLE pg_temp.aispend_focus_cells;
    SELECT r.row_no, pg_catalog.array_length(r.f, 1) AS n INTO v_bad
      FROM pg_temp.aispend_focus_rows r WHERE pg_catalog.array_length(r.f, 1) <> v_ncols ORDER BY r.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row % has % cells, the header %', v_account,
                        v_bad.row_no, v_bad.n, v_ncols
            USING ERRCODE = 'bad_copy_file_format', HINT = 'Every row of a CSV export has one cell per header column.';
    END IF;

    -- the cells aispend reads, by column index (one pass; a missing optional column is NULL)
    EXECUTE 'CREATE TEMP TABLE aispend_focus_text ON COMMIT DROP AS SELECT r.row_no, '
         || (SELECT pg_catalog.string_agg(
                        CASE WHEN v_h ? c
                             THEN pg_catalog.format('NULLIF(NULLIF(pg_catalog.btrim(r.f[%s]), %L), %L) AS %I',
                                                    v_h OPERATOR(pg_catalog.->>) c, '', 'NULL', c)
                             ELSE pg_catalog.format('NULL::text AS %I', c) END, ', ' ORDER BY o)
             FROM pg_catalog.unnest(ARRAY['providername', 'billingaccountid', 'billingperiodstart', 'billingperiodend',
                                          'chargeperiodstart', 'chargeperiodend', 'chargecategory', 'chargeclass',
                                          'servicecategory', 'servicename', 'subaccountid', 'subaccountname',
                                          'regionid', 'skuid', 'skumeter', 'x_usagetype', 'x_skumetername',
                                          'chargedescription', 'billedcost', 'effectivecost', 'listcost',
                                          'billingcurrency', 'consumedquantity', 'consumedunit', 'pricingquantity',
                                          'pricingunit', 'x_servicecode']) WITH ORDINALITY AS x(c, o))
         || ' FROM pg_temp.aispend_focus_rows r';
    DROP TABLE pg_temp.aispend_focus_rows;

    -- required cells and the syntax of dates and numbers, with the row and column of the first bad one
    SELECT x.row_no, x.col, x.val INTO v_bad
      FROM (SELECT CASE WHEN t.billingaccountid IS NULL THEN 'BillingAccountId'
                        WHEN t.billingperiodstart IS NULL OR t.billingperiodstart !~ v_ts THEN 'BillingPeriodStart'
                        WHEN t.billingperiodend IS NULL OR t.billingperiodend !~ v_ts THEN 'BillingPeriodEnd'
                        WHEN t.chargeperiodstart IS NULL OR t.chargeperiodstart !~ v_ts THEN 'ChargePeriodStart'
                        WHEN t.chargeperiodend !~ v_ts THEN 'ChargePeriodEnd'
                        WHEN t.chargecategory IS NULL THEN 'ChargeCategory'
                        WHEN t.servicename IS NULL THEN 'ServiceName'
                        WHEN t.billedcost IS NULL OR t.billedcost !~ v_num THEN 'BilledCost'
                        WHEN t.effectivecost IS NULL OR t.effectivecost !~ v_num THEN 'EffectiveCost'
                        WHEN t.billingcurrency IS NULL THEN 'BillingCurrency'
                        WHEN t.listcost !~ v_num THEN 'ListCost'
                        WHEN t.consumedquantity !~ v_num THEN 'ConsumedQuantity'
                        WHEN t.pricingquantity !~ v_num THEN 'PricingQuantity' END AS col,
                   t.*
              FROM pg_temp.aispend_focus_text t) x0
     CROSS JOIN LATERAL (SELECT x0.row_no, x0.col,
                                CASE x0.col WHEN 'BillingAccountId' THEN x0.billingaccountid
                                            WHEN 'BillingPeriodStart' THEN x0.billingperiodstart
                                            WHEN 'BillingPeriodEnd' THEN x0.billingperiodend
                                            WHEN 'ChargePeriodStart' THEN x0.chargeperiodstart
                                            WHEN 'ChargePeriodEnd' THEN x0.chargeperiodend
                                            WHEN 'ChargeCategory' THEN x0.chargecategory
                                            WHEN 'ServiceName' THEN x0.servicename
                                            WHEN 'BilledCost' THEN x0.billedcost
                                            WHEN 'EffectiveCost' THEN x0.effectivecost
                                            WHEN 'BillingCurrency' THEN x0.billingcurrency
                                            WHEN 'ListCost' THEN x0.listcost
                                            WHEN 'ConsumedQuantity' THEN x0.consumedquantity
                                            WHEN 'PricingQuantity' THEN x0.pricingquantity END AS val) x
     WHERE x0.col IS NOT NULL
     ORDER BY x0.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row %, column %: %', v_account, v_bad.row_no, v_bad.col,
                        CASE WHEN v_bad.val IS NULL THEN 'a required value is missing'
                             ELSE 'not a FOCUS value: "' || pg_catalog.left(v_bad.val, 60) || '"' END
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'Dates are ISO 8601 (2024-09-01T00:00:00Z), numbers plain decimals (-0.5, 1E-3).';
    END IF;

    -- typed, classified, parsed
    CREATE TEMP TABLE aispend_focus_typed ON COMMIT DROP AS
    SELECT t.*,
           aispend._utc_day_start((t.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
           CASE WHEN NOT t.is_ai OR t.charge_category IS DISTINCT FROM 'Usage' OR t.charge_class IS NOT NULL THEN NULL
                WHEN aispend.focus_token_multiplier(t.consumed_unit) IS NOT NULL
                     THEN t.consumed_quantity * aispend.focus_token_multiplier(t.consumed_unit)
                WHEN aispend.focus_token_multiplier(t.pricing_unit) IS NOT NULL
                     THEN t.pricing_quantity * aispend.focus_token_multiplier(t.pricing_unit)
                WHEN t.cloud = 'gcp' AND pg_catalog.lower(t.consumed_unit) = 'count' AND t.sku_text ~* '\mtoken'
                     THEN t.consumed_quantity END AS tokens,
           p.model, p.token_type, p.tier, p.routing
    FROM (SELECT x.row_no, x.cloud, x.billingaccountid AS billing_account_id,
                 aispend._focus_ts(x.billingperiodstart) AS billing_period_start,
                 aispend._focus_ts(x.billingperiodend) AS billing_period_end,
                 aispend._focus_ts(x.chargeperiodstart) AS charge_period_start,
                 aispend._focus_ts(x.chargeperiodend) AS charge_period_end,
                 -- FOCUS casing (Google's view writes usage, tax, adjustment)
                 CASE pg_catalog.lower(x.chargecategory) WHEN 'usage' THEN 'Usage' WHEN 'purchase' THEN 'Purchase'
                      WHEN 'tax' THEN 'Tax' WHEN 'credit' THEN 'Credit' WHEN 'adjustment' THEN 'Adjustment'
                      ELSE x.chargecategory END AS charge_category,
                 CASE WHEN pg_catalog.lower(x.chargeclass) = 'correction' THEN 'Correction' ELSE x.chargeclass END
                     AS charge_class,
                 x.servicecategory AS service_category, x.servicename AS service_name,
                 x.subaccountid AS sub_account_id, x.subaccountname AS sub_account_name, x.regionid AS region_id,
                 x.skuid AS sku_id,
                 CASE WHEN x.cloud = 'gcp' THEN coalesce(x.chargedescription, x.skumeter)
                      ELSE coalesce(x.skumeter, x.x_usagetype, x.x_skumetername, x.chargedescription) END AS sku_text,
                 x.chargedescription AS charge_description,
                 x.billedcost::numeric AS billed_cost, x.effectivecost::numeric AS effective_cost,
                 x.listcost::numeric AS list_cost, pg_catalog.upper(x.billingcurrency) AS billing_currency,
                 x.consumedquantity::numeric AS consumed_quantity, x.consumedunit AS consumed_unit,
                 x.pricingquantity::numeric AS pricing_quantity, x.pricingunit AS pricing_unit,
                 (x.servicename ILIKE ANY (v_patterns) OR coalesce(x.x_servicecode ILIKE ANY (v_patterns), false)) AS is_ai
          FROM (SELECT t.*, coalesce(v_cloud, aispend.focus_cloud(t.providername)) AS cloud
                FROM pg_temp.aispend_focus_text t) x) t
    LEFT JOIN LATERAL aispend.parse_focus_sku(t.cloud, t.sku_text, t.service_name) p ON t.is_ai;
    DROP TABLE pg_temp.aispend_focus_text;
    SELECT pg_catalog.count(*) INTO v_read FROM pg_temp.aispend_focus_typed;

    -- the run
    INSERT INTO aispend.sync_runs AS r (account, endpoint, window_start, window_end, bucket_width, started_at, status,
                                        rows_fetched, http_requests, retries, bytes)
    SELECT v_account, 'costs', pg_catalog.min(t.billing_period_start), pg_catalog.max(t.billing_period_end), '1d', v_now,
           'running', v_read, 0, 0, pg_catalog.octet_length(csv)
    FROM pg_temp.aispend_focus_typed t
    RETURNING r.id INTO v_run;

    -- the days whose costs change: those of the replaced periods and of the new rows
    CREATE TEMP TABLE aispend_focus_periods ON COMMIT DROP AS
    SELECT t.billing_account_id AS bai, t.billing_period_start AS bps, pg_catalog.max(t.billing_period_end) AS bpe
    FROM pg_temp.aispend_focus_typed t GROUP BY 1, 2;
    CREATE TEMP TABLE aispend_focus_days ON COMMIT DROP AS
    SELECT DISTINCT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day
      FROM aispend.focus_charges c JOIN pg_temp.aispend_focus_periods p
        ON c.billing_account_id = p.bai AND c.billing_period_start = p.bps
     WHERE c.account = v_account
    UNION
    SELECT t.day FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;

    CREATE TEMP TABLE aispend_focus_replaced ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM aispend.focus_charges c USING pg_temp.aispend_focus_periods p
         WHERE c.account = v_account AND c.billing_account_id = p.bai AND c.billing_period_start = p.bps
        RETURNING c.billing_account_id, c.billing_period_start)
    SELECT d.billing_account_id AS bai, d.billing_period_start AS bps, pg_catalog.count(*) AS n FROM d GROUP BY 1, 2;
    SELECT coalesce(pg_catalog.sum(x.n), 0) INTO v_deleted FROM pg_temp.aispend_focus_replaced x;

    INSERT INTO aispend.focus_charges
        (account, billing_account_id, billing_period_start, source_row, billing_period_end, run_id, cloud,
         charge_period_start, charge_period_end, charge_category, charge_class, service_category, service_name,
         sub_account_id, sub_account_name, region_id, sku_id, sku_text, charge_description, model, token_type, tier,
         routing, parsed, billed_cost, effective_cost, list_cost, billing_currency, consumed_quantity, consumed_unit,
         tokens)
    SELECT v_account, t.billing_account_id, t.billing_period_start, t.row_no, t.billing_period_end, v_run, t.cloud,
           t.charge_period_start, t.charge_period_end, t.charge_category, t.charge_class, t.service_category,
           t.service_name, t.sub_account_id, t.sub_account_name, t.region_id, t.sku_id, t.sku_text,
           t.charge_description, t.model, t.token_type, t.tier, t.routing, t.model IS NOT NULL, t.billed_cost,
           t.effective_cost, t.list_cost, t.billing_currency, t.consumed_quantity, t.consumed_unit, t.tokens
    FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    -- the dashboard's facts of those days, rebuilt from every imported charge of the account
    DELETE FROM aispend.costs c USING pg_temp.aispend_focus_days d
     WHERE c.account = v_account AND c.bucket_start = d.day;
    INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                               service_tier, context_window, cost_type, inference_geo, amount_usd, currency, quantity,
                               quantity_unit, token_class)
    SELECT v_account, x.day, x.workspace_id, NULL, x.line_item, x.model, x.token_type, x.tier, NULL, x.cost_type,
           x.routing, pg_catalog.sum(x.billed_cost), x.currency,
           pg_catalog.sum(x.quantity), x.quantity_unit, pg_catalog.max(x.token_class)
    FROM (SELECT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
                 coalesce(c.sub_account_id, '(default)') AS workspace_id,
                 coalesce(c.sku_text, c.charge_category) AS line_item,
                 CASE WHEN c.parsed THEN c.model WHEN c.charge_category = 'Usage' THEN '(unparsed)' END AS model,
                 c.token_type, c.tier, c.routing,
                 pg_catalog.lower(c.charge_category) || CASE WHEN c.charge_class = 'Correction' THEN ' correction' ELSE '' END
                     AS cost_type,
                 c.billed_cost, c.billing_currency AS currency,
                 coalesce(c.tokens, c.consumed_quantity) AS quantity,
                 CASE WHEN c.tokens IS NOT NULL THEN 'tokens' ELSE c.consumed_unit END AS quantity_unit,
                 CASE WHEN NOT c.parsed THEN CASE WHEN c.charge_category = 'Usage' THEN 'unrecognised' END
                      ELSE CASE c.token_type WHEN 'input' THEN 'input' WHEN 'output' THEN 'output'
                                             WHEN 'cache-read' THEN 'cached_input' WHEN 'cache-write' THEN 'cache_write'
                                             ELSE 'unrecognised' END END AS token_class
          FROM aispend.focus_charges c
          WHERE c.account = v_account AND c.billing_currency = 'USD'   -- the dashboard sums US dollars
            AND aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) IN
                (SELECT d.day FROM pg_temp.aispend_focus_days d)) x
    GROUP BY x.day, x.workspace_id, x.line_item, x.model, x.token_type, x.tier, x.cost_type, x.routing, x.currency,
             x.quantity_unit;

    -- the rollups of those days, and the models named (what the facts' triggers also do); read first, then
    -- marked: on Citus a function called in a query of distributed tables runs on a shard
    SELECT pg_catalog.array_agg(x.model), pg_catalog.array_agg(x.f), pg_catalog.array_agg(x.l)
      INTO v_models, v_firsts, v_lasts
      FROM (SELECT c.model, pg_catalog.min(c.bucket_start) AS f, pg_catalog.max(c.bucket_start) AS l
              FROM aispend.costs c
             WHERE c.account = v_account AND c.model IS NOT NULL
               AND c.bucket_start = ANY (ARRAY(SELECT d.day FROM pg_temp.aispend_focus_days d))
             GROUP BY c.model) x;
    PERFORM aispend._facts_written(v_account, ARRAY(SELECT (d.day AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_focus_days d),
                                   v_models, v_firsts, v_lasts);

    IF EXISTS (SELECT 1 FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD') THEN
        RAISE WARNING 'aispend: FOCUS import into account "%": % AI rows billed in % are kept in aispend.focus_charges '
                      'but not shown on the dashboard, which sums US dollars', v_account,
                      (SELECT pg_catalog.count(*) FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD'),
                      (SELECT pg_catalog.string_agg(DISTINCT t.billing_currency, ', ') FROM pg_temp.aispend_focus_typed t
                        WHERE t.is_ai AND t.billing_currency <> 'USD')
            USING HINT = 'Export the bill in USD (Azure: x_BilledCostInUsd is not read), or read focus_charges directly.';
    END IF;

    -- sub-accounts are the workspaces, named as the export names them
    PERFORM aispend._note_fact_dimensions(v_account, 'focus', v_now,
        (SELECT pg_catalog.array_agg(DISTINCT coalesce(t.sub_account_id, '(default)')) FROM pg_temp.aispend_focus_typed t
          WHERE t.is_ai), NULL);
    v_names := aispend._names_before(v_account);
    UPDATE aispend.workspaces w SET provider_name = n.name
      FROM (SELECT DISTINCT ON (t.sub_account_id) t.sub_account_id, t.sub_account_name AS name
              FROM pg_temp.aispend_focus_typed t
             WHERE t.is_ai AND t.sub_account_id IS NOT NULL AND t.sub_account_name IS NOT NULL
             ORDER BY t.sub_account_id, t.row_no DESC) n
     WHERE w.account = v_account AND w.workspace_id = n.sub_account_id
       AND w.provider_name IS DISTINCT FROM n.name;
    PERFORM aispend._names_changed(v_account, v_names);
    PERFORM aispend._remember_provider(v_account, 'focus');

    -- complete through the end of the file's last charge: data_freshness shows how far the bill goes
    -- (read into variables first: Citus refuses volatile functions and local tables in an UPDATE of sync_runs)
    SELECT aispend._bucket_floor(pg_catalog.max(coalesce(t.charge_period_end, t.charge_period_start)), '1d')
      INTO v_complete FROM pg_temp.aispend_focus_typed t;
    v_finished := pg_catalog.clock_timestamp();
    v_settled := aispend.settled_before(v_account);
    UPDATE aispend.sync_runs r
       SET status = 'succeeded', finished_at = v_finished, rows_inserted = v_inserted,
           rows_updated = 0, rows_deleted = v_deleted, complete_through = v_complete
     WHERE r.account = v_account AND r.id = v_run;
    PERFORM aispend._mark_settlement_moved(v_account, v_settled, aispend.settled_before(v_account));
    PERFORM aispend._reroll(v_account);

    RETURN QUERY
    SELECT p.bai, p.bps, p.bpe,
           pg_catalog.count(t.row_no),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai AND t.model IS NULL),
           pg_catalog.count(t.row_no) FILTER (WHERE NOT t.is_ai),
           coalesce(pg_catalog.sum(t.billed_cost) FILTER (WHERE t.is_ai), 0),
           coalesce(pg_catalog.sum(t.effective_cost) FILTER (WHERE t.is_ai), 0),
           coalesce((SELECT x.n FROM pg_temp.aispend_focus_replaced x WHERE x.bai = p.bai AND x.bps = p.bps), 0)::bigint,
           v_run
    FROM pg_temp.aispend_focus_periods p
    JOIN pg_temp.aispend_focus_typed t ON t.billing_account_id = p.bai AND t.billing_period_start = p.bps
    GROUP BY p.bai, p.bps, p.bpe
    ORDER BY p.bps, p.bai;
    DROP TABLE pg_temp.aispend_focus_typed, pg_temp.aispend_focus_periods,
               pg_temp.aispend_focus_days, pg_temp.aispend_focus_replaced;
END
$function$;
CREATE OR REPLACE FUNCTION aispend.rename_workspace(account name, workspace_id text, new_name text)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
#variable_conflict use_variable
DECLARE
    shown text;
    before jsonb := aispend._names_before(account);
BEGIN
    UPDATE aispend.workspaces w SET display_name = new_name
     WHERE w.account = account AND w.workspace_id = workspace_id
    RETURNING w.name INTO shown;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no workspace % in account %', workspace_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_management;';
    END IF;
    PERFORM aispend._names_changed(account, before);
    RETURN shown;
END
$function$;
CREATE OR REPLACE FUNCTION aispend.settled_before(account name)
 RETURNS date
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN (SELECT (max(r.complete_through) AT TIME ZONE 'UTC')::date FROM aispend.sync_runs r
             WHERE r.account = settled_before.account AND r.endpoint = 'costs' AND r.status = 'succeeded');
END
$function$;
CREATE OR REPLACE PROCEDURE aispend.sync(IN account name DEFAULT NULL::name, IN since timestamp with time zone DEFAULT NULL::timestamp with time zone, IN until timestamp with time zone DEFAULT NULL::timestamp with time zone)
 LANGUAGE plpgsql
AS $procedure$
#variable_conflict use_column
DECLARE
    v_only name := account;
    v_since timestamptz := since;
    v_until timestamptz := until;
    v_accounts name[];
    v_acct name;
    v_cfg record;
    v_now timestamptz;
    v_step record;
    v_state text; v_msg text; v_detail text; v_hint text;
    v_first_state text; v_first_msg text; v_first_detail text; v_first_hint text;
    v_failed name[] := '{}';
    v_mine boolean;
BEGIN
    IF NOT pg_catalog.isfinite(coalesce(v_since, '2000-01-01'::timestamptz))
       OR NOT pg_catalog.isfinite(coalesce(v_until, '2000-01-01'::timestamptz)) THEN
        RAISE EXCEPTION 'aispend: since and until must be finite times' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_since IS NOT NULL AND v_until IS NOT NULL AND v_since >= v_until THEN
        RAISE EXCEPTION 'aispend: since (%) must be before until (%)', v_since, v_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_only IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE NOTICE 'aispend: no accounts to sync (no server of the foreign-data wrapper aispend)';
            RETURN;
        END IF;
    ELSE
        PERFORM aispend._account_settings(v_only);   -- raises 42704 for an unknown account
        v_accounts := ARRAY[v_only];
    END IF;

    FOREACH v_acct IN ARRAY v_accounts LOOP
        <<one_account>>
        DECLARE
            v_cfg_ok boolean := true;
        BEGIN
            BEGIN
                SELECT * INTO v_cfg FROM aispend._account_settings(v_acct);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                        v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
                v_cfg_ok := false;
            END;
            IF NOT v_cfg_ok THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
                END IF;
                RAISE WARNING 'aispend: account % skipped: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                EXIT one_account;
            END IF;

            PERFORM aispend._remember_provider(v_acct, v_cfg.provider);

            -- One sync per account at a time (a session-level lock: it survives our COMMITs).
            v_mine := EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                              WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                                AND l.classid = 1634300784::oid AND l.objid = aispend._lock_key(v_acct)::oid
                                AND l.objsubid = 2);
            IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(1634300784, aispend._lock_key(v_acct)) THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION 'aispend: a sync of account % is already running', v_acct
                        USING ERRCODE = 'lock_not_available',
                              HINT = 'Wait for it to finish (SELECT * FROM aispend.freshness), or cancel it: '
                                     'SELECT pg_cancel_backend(pid) FROM pg_locks WHERE locktype = ''advisory'' '
                                     'AND classid = 1634300784 AND objid = aispend._lock_key(' ||
                                     pg_catalog.quote_literal(v_acct) || ')::oid;';
                END IF;
                RAISE WARNING 'aispend: account % skipped: a sync of it is already running', v_acct;
                EXIT one_account;
            END IF;

            -- Runs still 'running' belong to a sync that died (crash, cancel, lost session): we hold the lock.
            v_now := pg_catalog.clock_timestamp();
            UPDATE aispend.sync_runs r
               SET status = 'aborted', finished_at = v_now,
                   error_message = coalesce(r.error_message,
                                            'interrupted: the sync was cancelled or its session ended before it finished')
             WHERE r.account = v_acct AND r.status = 'running';
            COMMIT;

            v_now := pg_catalog.clock_timestamp();
            FOR v_step IN SELECT * FROM aispend._sync_plan(v_acct, v_since, v_until, v_now) p ORDER BY p.step LOOP
                IF v_step.chunk_from >= v_step.chunk_to THEN
                    RAISE NOTICE 'aispend: % %: nothing to sync in%', v_acct, v_step.endpoint,
                        aispend._fmt_window(v_step.chunk_from, v_step.chunk_to);
                    CONTINUE;
                END IF;
                CALL aispend._sync_step(v_acct, v_cfg.provider, v_step.endpoint, v_step.chunk_from, v_step.chunk_to,
                                        v_cfg.bucket_width, v_state, v_msg, v_detail, v_hint);
                EXIT WHEN v_state IS NOT NULL;
            END LOOP;

            PERFORM pg_catalog.pg_advisory_unlock(1634300784, aispend._lock_key(v_acct));

            IF v_state IS NOT NULL THEN
                IF v_only IS NOT NULL OR v_state = '57014' THEN
                    IF v_state <> '57014' THEN
                        CALL aispend._after_sync();
                    END IF;
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail,
                                          HINT = coalesce(NULLIF(v_hint, ''),
                                                          'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
                END IF;
                RAISE WARNING 'aispend: sync of account % failed: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                v_state := NULL;
            END IF;
        END one_account;
    END LOOP;

    CALL aispend._after_sync();
    IF v_first_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = v_first_state, MESSAGE = v_first_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(v_first_detail, ''),
                pg_catalog.format('aispend: %s of %s accounts failed: %s; the others were synced.',
                                  pg_catalog.cardinality(v_failed), pg_catalog.cardinality(v_accounts),
                                  pg_catalog.array_to_string(v_failed, ', '))),
            HINT = coalesce(NULLIF(v_first_hint, ''), 'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
    END IF;
END
$procedure$;
CREATE OR REPLACE FUNCTION aispend.undistributed_tables()
 RETURNS TABLE(table_name regclass, expected text, actual text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
    SELECT p.table_name, p.distribution, coalesce(aispend._citus_kind(p.table_name), 'local')
      FROM aispend._distribution_plan() p
     WHERE aispend._citus_kind(p.table_name) IS DISTINCT FROM p.distribution
$function$;
CREATE OR REPLACE FUNCTION aispend._focus_provider_name(account name, provider text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE provider WHEN 'openai' THEN 'OpenAI' WHEN 'anthropic' THEN 'Anthropic' WHEN 'openrouter' THEN 'OpenRouter'
                         WHEN 'focus' THEN coalesce(
                             (SELECT pg_catalog.string_agg(DISTINCT CASE c.cloud WHEN 'aws' THEN 'Amazon Web Services'
                                                                                 WHEN 'azure' THEN 'Microsoft'
                                                                                 WHEN 'gcp' THEN 'Google Cloud'
                                                                                 ELSE 'Other' END, ', ')
                                FROM aispend.focus_charges c WHERE c.account OPERATOR(pg_catalog.=) _focus_provider_name.account),
                             'Imported FOCUS billing')
                         ELSE coalesce(provider, 'Unknown') END;
END;
CREATE OR REPLACE FUNCTION aispend._team_restricted()
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT EXISTS (SELECT 1 FROM aispend.teams t WHERE t.team OPERATOR(pg_catalog.=) CURRENT_USER);
END;
CREATE OR REPLACE FUNCTION aispend.api_key_last_active(account name, api_key_id text)
RETURNS date LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT (SELECT max(r.day) FROM aispend.daily_rollup r
            WHERE r.account = api_key_last_active.account AND r.api_key_id = api_key_last_active.api_key_id
              AND (r.total_tokens > 0 OR r.requests > 0));
END;
CREATE OR REPLACE FUNCTION aispend.set_alert_rule(name text, kind text, budget text DEFAULT NULL, webhook text DEFAULT NULL,
                                       anomaly_kind text DEFAULT NULL, min_score numeric DEFAULT 3.5,
                                       min_cost numeric DEFAULT 10, max_age_hours numeric DEFAULT 36,
                                       enabled boolean DEFAULT true)
RETURNS aispend.alert_rules LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO aispend.alert_rules AS r (name, kind, budget, webhook, anomaly_kind, min_score, min_cost,
                                          max_age_hours, enabled)
    VALUES (set_alert_rule.name, set_alert_rule.kind, set_alert_rule.budget, set_alert_rule.webhook,
            set_alert_rule.anomaly_kind, set_alert_rule.min_score, set_alert_rule.min_cost,
            set_alert_rule.max_age_hours, set_alert_rule.enabled)
    ON CONFLICT (name) DO UPDATE
       SET kind = excluded.kind, budget = excluded.budget, webhook = excluded.webhook,
           anomaly_kind = excluded.anomaly_kind, min_score = excluded.min_score, min_cost = excluded.min_cost,
           max_age_hours = excluded.max_age_hours, enabled = excluded.enabled
    RETURNING r.*;
END;
CREATE OR REPLACE FUNCTION aispend.set_budget(name text, amount_usd numeric, scope_kind text DEFAULT 'organisation',
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
COMMENT ON FUNCTION aispend._citus_kind(regclass) IS 'Internal: how Citus holds a table: distributed (hash by account), reference, other, or NULL (local).';
REVOKE ALL ON FUNCTION aispend._citus_kind(regclass) FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_policies() IS 'Internal: before aispend.distribute() hands the tables to Citus, replaces the subqueries of the row-level policies by the equivalent function calls; returns how many policies it changed.';
REVOKE ALL ON FUNCTION aispend._citus_policies() FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_present() IS 'Internal: true when the citus extension is installed in this database.';
REVOKE ALL ON FUNCTION aispend._citus_present() FROM PUBLIC;
COMMENT ON FUNCTION aispend._distribution_plan() IS 'Internal: each table of the schema and what aispend.distribute() makes of it: distributed by account (it has an account column) or a reference table.';
REVOKE ALL ON FUNCTION aispend._distribution_plan() FROM PUBLIC;
COMMENT ON FUNCTION aispend._facts_written(name,date[],text[],timestamp with time zone[],timestamp with time zone[]) IS 'Internal: marks dirty the UTC days of facts an aispend writer changed and records the models they name (model, first and last bucket); what the facts'' triggers do, for Citus, where they cannot run.';
REVOKE ALL ON FUNCTION aispend._facts_written(name,date[],text[],timestamp with time zone[],timestamp with time zone[]) FROM PUBLIC;
COMMENT ON FUNCTION aispend._mark_settlement_moved(name,date,date) IS 'Internal: marks dirty the days between an account''s old and new settlement horizon (aispend.settled_before).';
REVOKE ALL ON FUNCTION aispend._mark_settlement_moved(name,date,date) FROM PUBLIC;
COMMENT ON FUNCTION aispend._may_act_as(name) IS 'Internal: whether the current role is (a member of) a role: the refresh requests'' policies as one call, for Citus (aispend.distribute).';
REVOKE ALL ON FUNCTION aispend._may_act_as(name) FROM PUBLIC;
COMMENT ON FUNCTION aispend._names_before(name) IS 'Internal: an account''s workspace names before a change, when the name history trigger is not in place (Citus); NULL when it is.';
REVOKE ALL ON FUNCTION aispend._names_before(name) FROM PUBLIC;
COMMENT ON FUNCTION aispend._names_changed(name,jsonb) IS 'Internal: records in the name history what changed since aispend._names_before (nothing when it returned NULL).';
REVOKE ALL ON FUNCTION aispend._names_changed(name,jsonb) FROM PUBLIC;
COMMENT ON FUNCTION aispend._on_citus_worker() IS 'Internal: true in a database of a Citus worker node.';
REVOKE ALL ON FUNCTION aispend._on_citus_worker() FROM PUBLIC;
COMMENT ON FUNCTION aispend._record_name_change(name,text,text,text,text,text,text,text) IS 'Internal: records one change of a workspace''s names in aispend.workspace_name_history.';
REVOKE ALL ON FUNCTION aispend._record_name_change(name,text,text,text,text,text,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._team_row_visible(name,text,text) IS 'Internal: the team_scope policy of the facts and rollups as one call (a team reads the rows of its workspaces and keys), for Citus (aispend.distribute).';
REVOKE ALL ON FUNCTION aispend._team_row_visible(name,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._team_workspace_visible(name,text) IS 'Internal: the team_scope policy of workspaces and their name history as one call, for Citus (aispend.distribute).';
REVOKE ALL ON FUNCTION aispend._team_workspace_visible(name,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend.distribute(integer,boolean) IS 'On a Citus coordinator: distributes every table of aispend with an account column by account (co-located, shard_count shards) and makes every other table a reference table; tables already distributed are skipped. Returns what it did. Refuses when Citus is absent, and unless experimental => true: the dashboard does not run on a cluster yet. See docs/scaling.md.';
REVOKE ALL ON FUNCTION aispend.distribute(integer,boolean) FROM PUBLIC;
COMMENT ON FUNCTION aispend.undistributed_tables() IS 'The tables of aispend not held as aispend.distribute() holds them on a Citus cluster: a table with an account column that is not distributed by account, or another that is not a reference table. Empty after aispend.distribute(); every table when Citus is absent.';
REVOKE ALL ON FUNCTION aispend.undistributed_tables() FROM PUBLIC;

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
