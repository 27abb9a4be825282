-- aispend 0.7.0 -> 0.8.0: teams on a Citus cluster and a faster API keys tab (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.8.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.8.0'" to load this file. \quit

-- ---- functions new or changed in 0.8.0 (src/sql/20_schema.sql, 57_teams.sql, 58_entity_totals.sql,
-- 62_tab_api_keys.sql, 67_team_access.sql, 73_alerts.sql, 90_roles.sql, 95_distribute.sql), exactly as a fresh
-- install defines them

CREATE OR REPLACE FUNCTION aispend._api_keys()
 RETURNS SETOF aispend.api_keys
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY SELECT * FROM aispend.api_keys;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._citus_coordinator()
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN aispend._citus_kind('aispend.workspaces') IS NOT DISTINCT FROM 'distributed' AND NOT aispend._on_citus_worker();
END
$function$;

CREATE OR REPLACE FUNCTION aispend._citus_copy_routine_grants(role_name name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v_sql text;
    v_failed text;
BEGIN
    -- (an update script sets aispend_update.skip_worker_grants: the workers have not been updated yet, and
    -- aispend.distribute(), run again after the update, copies the grants; "aispend." is the library's prefix,
    -- which takes no setting it does not define)
    IF NOT aispend._citus_coordinator() OR pg_catalog.current_setting('aispend_update.skip_worker_grants', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT 'DO $aispend_grants$ BEGIN '
           || pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM %1$I; '
                                'REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM %1$I;', role_name)
           || coalesce(pg_catalog.string_agg(pg_catalog.format(' GRANT EXECUTE ON %s %s TO %I;',
                                                               CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                                               p.oid::regprocedure, role_name),
                                             '' ORDER BY p.oid::regprocedure::text), '')
           || ' END $aispend_grants$'
      INTO v_sql
      FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
     WHERE p.pronamespace = 'aispend'::regnamespace AND a.privilege_type = 'EXECUTE'
       AND a.grantee = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = role_name);
    EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''%s:%s: %s'', w.nodename, w.nodeport, w.result), ''; '')
               FROM pg_catalog.run_command_on_workers($1) w WHERE NOT w.success'
       INTO v_failed USING v_sql;
    IF v_failed IS NOT NULL THEN
        RAISE EXCEPTION 'aispend: could not copy the function privileges of role "%" to the Citus workers', role_name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_failed,
                  HINT = 'The role must exist on every worker: create it on the coordinator in a transaction of its '
                         'own (Citus propagates it), then grant again.';
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._citus_is_team() RETURNS boolean
AS 'MODULE_PATHNAME', 'aispend_citus_is_team' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;

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
                     OR pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid) ~* '\mselect\M'
                     OR (y.polname = 'team_scope' AND pg_catalog.pg_get_expr(y.polqual, y.polrelid) !~ '_citus_is_team'))
              ORDER BY 1, 2 LOOP
        IF p.polname = 'team_scope' THEN
            -- what the single node's policies say (67_team_access.sql), asking the shards of the node; a table
            -- not named here holds what a team never reads (the cumulative sums, the alerts)
            v_using := 'NOT aispend._citus_is_team()' || CASE
                WHEN p.rel IN ('aispend.usage'::regclass, 'aispend.costs'::regclass, 'aispend.daily_rollup'::regclass,
                               'aispend.api_keys'::regclass, 'aispend.middleware_spend'::regclass)
                THEN ' OR aispend._team_sees_row(CURRENT_USER, account, workspace_id, api_key_id)'
                WHEN p.rel IN ('aispend.workspaces'::regclass, 'aispend.workspace_name_history'::regclass)
                THEN ' OR aispend._team_sees_workspace(CURRENT_USER, account, workspace_id)'
                ELSE '' END;
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

CREATE OR REPLACE FUNCTION aispend._citus_sequential()
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF aispend._citus_present() THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._citus_shard(p_table regclass, p_account name)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v text;
BEGIN
    EXECUTE 'SELECT pg_catalog.shard_name($1, pg_catalog.get_shard_id_for_distribution_column($1, $2))'
       INTO v USING p_table, p_account;
    RETURN v;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._citus_team_check(p_role name)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v boolean;
BEGIN
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.team = $1)',
                              aispend._citus_shard('aispend.teams', NULL))
       INTO v USING p_role;
    RETURN v;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._last_active_days(p_account name, p_api_key_id text)
 RETURNS TABLE(account name, api_key_id text, day date)
 LANGUAGE plpgsql
 STABLE ROWS 5000
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY
        SELECT r.account, r.api_key_id, max(r.day) FROM aispend.daily_rollup r
        WHERE (p_account IS NULL OR r.account = p_account)
          AND (p_api_key_id IS NULL OR r.api_key_id = p_api_key_id COLLATE "default")
          AND (r.total_tokens > 0 OR r.requests > 0)
        GROUP BY r.account, r.api_key_id;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._team_keys(team name)
 RETURNS TABLE(account name, api_key_id text, workspace_id text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER ROWS 10
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_keys.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT k.account, k.api_key_id, k.workspace_id
        FROM aispend.api_keys k
        JOIN aispend.team_scopes s ON s.api_key_id = k.api_key_id
        WHERE s.team = _team_keys.team;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._team_rollup_rows(lo date, hi date, p_workspace text, p_api_key text)
 RETURNS SETOF aispend.daily_rollup
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION aispend._team_sees_row(p_team name, p_account name, p_workspace_id text, p_api_key_id text)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v boolean;
BEGIN
    -- only a team the logged-in role is (or may SET ROLE to): no role learns another team's scope
    IF NOT pg_catalog.pg_has_role(SESSION_USER, p_team, 'MEMBER') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT 1 FROM %1$s s JOIN %2$s w ON w.name = s.workspace_name
                         WHERE s.team = $1 AND w.account = $2 AND w.workspace_id = $3)
             OR EXISTS (SELECT 1 FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                         WHERE s.team = $1 AND k.account = $2 AND k.api_key_id = $4)',
        aispend._citus_shard('aispend.team_scopes', NULL), aispend._citus_shard('aispend.workspaces', p_account),
        aispend._citus_shard('aispend.api_keys', p_account))
       INTO v USING p_team, p_account, p_workspace_id, p_api_key_id;
    RETURN v;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._team_sees_workspace(p_team name, p_account name, p_workspace_id text)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v boolean;
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, p_team, 'MEMBER') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT 1 FROM %1$s s JOIN %2$s w ON w.name = s.workspace_name
                         WHERE s.team = $1 AND w.account = $2 AND w.workspace_id = $3)
             OR EXISTS (SELECT 1 FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                         WHERE s.team = $1 AND k.account = $2 AND k.workspace_id = $3)',
        aispend._citus_shard('aispend.team_scopes', NULL), aispend._citus_shard('aispend.workspaces', p_account),
        aispend._citus_shard('aispend.api_keys', p_account))
       INTO v USING p_team, p_account, p_workspace_id;
    RETURN v;
END
$function$;

CREATE OR REPLACE FUNCTION aispend._team_workspaces(team name)
 RETURNS TABLE(account name, workspace_id text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER ROWS 10
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_workspaces.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT w.account, w.workspace_id
        FROM aispend.workspaces w
        JOIN aispend.team_scopes s ON s.workspace_name = w.name
        WHERE s.team = _team_workspaces.team;
END
$function$;

CREATE OR REPLACE FUNCTION aispend.api_key_last_active(account name, api_key_id text)
 RETURNS date
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'aispend', 'pg_temp'
AS $function$
BEGIN
    IF api_key_last_active.account IS NULL OR api_key_last_active.api_key_id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT d.day FROM aispend._last_active_days(api_key_last_active.account, api_key_last_active.api_key_id) d);
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
    v_role name;
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
                  DETAIL = 'The sync, the rollups, the dashboard and the roles run on a distributed installation, '
                           'but changes to the facts or prices made outside aispend''s own functions are not rolled '
                           'up by themselves.',
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

    -- The function privileges of the roles granted before (grant_reader(), grant_admin()), on the workers too.
    FOR v_role IN SELECT DISTINCT r.rolname
                    FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
                    JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
                   WHERE p.pronamespace = 'aispend'::regnamespace AND a.grantee <> p.proowner
                   ORDER BY 1 LOOP
        PERFORM aispend._citus_copy_routine_grants(v_role);
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
    PERFORM aispend._citus_sequential();
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

CREATE OR REPLACE FUNCTION aispend.grant_admin(role_name name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    srv record;
BEGIN
    PERFORM aispend._citus_sequential();
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT USAGE ON FOREIGN DATA WRAPPER aispend TO %I', role_name);
    FOR srv IN SELECT s.srvname FROM aispend._servers() AS s LOOP
        EXECUTE format('GRANT USAGE ON FOREIGN SERVER %I TO %I', srv.srvname, role_name);
    END LOOP;
    PERFORM aispend._citus_copy_routine_grants(role_name);
END
$function$;

CREATE OR REPLACE FUNCTION aispend.grant_reader(role_name name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    obj record;
BEGIN
    PERFORM aispend._citus_sequential();   -- the alerts are a reference table with foreign keys on Citus
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    FOR obj IN SELECT c.oid::regclass AS rel
                 FROM pg_class AS c
                WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
                  AND c.relname NOT IN ('accounts', 'sync_runs', 'refresh_requests', 'webhooks')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.rel, role_name);
    END LOOP;
    -- The run log and the refresh requests without the providers' error texts (readers see the SQLSTATE;
    -- aispend.freshness likewise).
    FOR obj IN SELECT t::regclass AS rel FROM unnest(ARRAY['aispend.sync_runs', 'aispend.refresh_requests']) AS t LOOP
        EXECUTE format('GRANT SELECT (%s) ON %s TO %I',
                       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                          FROM pg_attribute AS a
                         WHERE a.attrelid = obj.rel AND a.attnum > 0 AND NOT a.attisdropped
                           AND a.attname NOT IN ('error_message', 'error_detail', 'error_hint')),
                       obj.rel, role_name);
    END LOOP;
    FOR obj IN SELECT f AS fn FROM aispend._reader_functions() AS f LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.fn, role_name);
    END LOOP;
    PERFORM aispend._citus_copy_routine_grants(role_name);
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
    PERFORM aispend._citus_copy_routine_grants(role_name);   -- on a Citus cluster, the revokes above too
END
$function$;

CREATE OR REPLACE FUNCTION aispend.revoke_all(role_name name)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    srv record;
BEGIN
    PERFORM aispend._citus_sequential();
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON FOREIGN DATA WRAPPER aispend FROM %I', role_name);
    FOR srv IN SELECT s.srvname FROM aispend._servers() AS s LOOP
        EXECUTE format('REVOKE ALL ON FOREIGN SERVER %I FROM %I', srv.srvname, role_name);
    END LOOP;
    EXECUTE format('REVOKE ALL ON SCHEMA aispend FROM %I', role_name);
    PERFORM aispend._citus_copy_routine_grants(role_name);
END
$function$;

-- SQL-standard bodies, new ones first: they are bound to the objects they name when created
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
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = k.account AND a.api_key_id = k.api_key_id
          WHERE k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
            AND aispend._provider_matches(k.provider, api_keys_idle.provider)) x
    WHERE x.last_use IS NULL OR x.last_use <= as_of - api_keys_idle.days
    ORDER BY x.last_use NULLS FIRST, x.api_key, x.account, x.api_key_id;
END;

CREATE OR REPLACE FUNCTION aispend.api_keys_table(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       include_unused boolean DEFAULT true,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, cost_per_1m numeric, pct_of_total numeric, trend text,
               change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, last_active_day date, account name, workspace_id text, api_key_id text,
               owner text, last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT * FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key,
                                            include_unused, compare_with)),
    o AS (
        -- keys first, then the rows that are not keys
        SELECT e.*, pg_catalog.row_number() OVER (ORDER BY e.api_key_id LIKE '(%', e.cost DESC, e.api_key, e.account,
                                                          e.workspace_id, e.api_key_id) AS ord
        FROM e)
    SELECT o.api_key, o.kind, o.workspace, o.key_hint, o.provider, o.status, pg_catalog.round(o.cost, 2), o.tokens,
           o.requests, pg_catalog.round(1000000 * o.cost / NULLIF(o.tokens, 0), 4), pc.pct,
           tr.indicator, tr.change_pct, tr.label, pg_catalog.round(o.previous_cost, 2), o.previous_tokens,
           o.previous_requests, la.day, o.account, o.workspace_id, o.api_key_id, o.owner, o.last_used_at
    FROM o
    LEFT JOIN aispend._last_active_days(NULL, NULL) la ON la.account = o.account AND la.api_key_id = o.api_key_id
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_table.period, api_keys_table.provider,
                                                 api_keys_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
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
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = r.account AND a.api_key_id = r.api_key_id) t
    JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
    WHERE t.kind = 'key' AND t.status = 'active'
      AND t.cost = 0 AND t.tokens = 0 AND coalesce(t.requests, 0) = 0
    ORDER BY t.last_use NULLS FIRST, t.api_key, t.account, t.api_key_id;
END;

COMMENT ON FUNCTION aispend._citus_coordinator() IS 'Internal: true on the Citus coordinator of a distributed installation (after aispend.distribute()).';
REVOKE ALL ON FUNCTION aispend._citus_coordinator() FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_copy_routine_grants(name) IS 'Internal: on a Citus coordinator of a distributed installation, gives a role on every worker the EXECUTE privileges on aispend''s functions and procedures that it has on the coordinator (Citus does not propagate them); nothing elsewhere.';
REVOKE ALL ON FUNCTION aispend._citus_copy_routine_grants(name) FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_is_team() IS 'Internal: on Citus, whether the current role is a team (aispend._citus_team_check, asked once per statement and role); the row-level policies of a distributed installation call it.';
REVOKE ALL ON FUNCTION aispend._citus_is_team() FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_policies() IS 'Internal: before aispend.distribute() hands the tables to Citus, replaces the subqueries of the row-level policies by the equivalent function calls, and the team_scope policies by ones a worker can check on a shard (aispend._citus_is_team, aispend._team_sees_row); returns how many policies it changed.';
COMMENT ON FUNCTION aispend._citus_sequential() IS 'Internal: on Citus, citus.multi_shard_modify_mode = sequential for the rest of the transaction (before changing a reference table with foreign keys); nothing elsewhere.';
REVOKE ALL ON FUNCTION aispend._citus_sequential() FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_shard(regclass,name) IS 'Internal: on Citus, the qualified name of the shard of a table that holds an account''s rows (of a reference table, its one shard).';
REVOKE ALL ON FUNCTION aispend._citus_shard(regclass,name) FROM PUBLIC;
COMMENT ON FUNCTION aispend._citus_team_check(name) IS 'Internal: on Citus, whether a role is a team, read from the node''s copy of aispend.teams (aispend._citus_is_team asks it once per statement).';
REVOKE ALL ON FUNCTION aispend._citus_team_check(name) FROM PUBLIC;
COMMENT ON FUNCTION aispend._last_active_days(name,text) IS 'Internal: (account, api_key_id, last UTC day with usage) of every key with usage in the synced data, of one account or one key (NULL: all).';
REVOKE ALL ON FUNCTION aispend._last_active_days(name,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._team_sees_row(name,name,text,text) IS 'Internal: on a Citus worker, whether a row of the facts or rollups is in a team''s scope (its workspace''s name or its key), read from the shards of the node; the team_scope policies of a cluster call it.';
REVOKE ALL ON FUNCTION aispend._team_sees_row(name,name,text,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend._team_sees_workspace(name,name,text) IS 'Internal: on a Citus worker, whether a workspace (or its name history) is in a team''s scope (one of its names, or the workspace of one of its keys), read from the shards of the node; the team_scope policies of a cluster call it.';
REVOKE ALL ON FUNCTION aispend._team_sees_workspace(name,name,text) FROM PUBLIC;
COMMENT ON FUNCTION aispend.distribute(integer,boolean) IS 'On a Citus coordinator: distributes every table of aispend with an account column by account (co-located, shard_count shards) and makes every other table a reference table; tables already distributed are skipped. Copies the roles'' function privileges to the workers. Returns what it did. Refuses when Citus is absent, and unless experimental => true. See docs/scaling.md.';
COMMENT ON FUNCTION aispend._team_row_visible(name,text,text) IS 'Internal: the team_scope policy of the facts and rollups as one call (a team reads the rows of its workspaces and keys), on a cluster distributed by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';
COMMENT ON FUNCTION aispend._team_workspace_visible(name,text) IS 'Internal: the team_scope policy of workspaces and their name history as one call, on a cluster distributed by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';

-- ---- privileges as a fresh install sets them, and for the roles that had them
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    -- On a Citus coordinator the copy of the grants to the workers waits for aispend.distribute(), run again
    -- after the update (docs/scaling.md): the workers are updated after this script.
    PERFORM pg_catalog.set_config('aispend_update.skip_worker_grants', 'on', true);
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
    PERFORM pg_catalog.set_config('aispend_update.skip_worker_grants', '', true);
END
$$;
