-- 95_distribute.sql: aispend on a Citus cluster (docs/scaling.md).
--
-- aispend.distribute() turns a single-node install on a Citus coordinator into a distributed one: every table of
-- the schema with an "account" column is distributed by account, all co-located (one account's facts, rollups,
-- names and runs live in shards on one node); every other table (prices, budgets, alerts, teams, webhooks) is a
-- reference table, copied to every node. The tables are read from the catalog, so a table a later version adds
-- is distributed too; aispend.undistributed_tables() lists what is left, and the Citus test fails unless empty.
--
-- What Citus refuses, and how aispend meets it:
--   * triggers: those that read or write other tables (the rollups' invalidation of the facts and runs, the
--     re-roll at COMMIT, the name history) would run on the shards, a nested distributed execution that Citus
--     refuses or does not survive: they are dropped, and aispend's writers mark the days, models and names they
--     change themselves (53_invalidation.sql, 54_workspace_management.sql). Those that only look at their own row
--     (the custom name's clean-up, the audit log's guards) run on the shards (citus.enable_unsafe_triggers). The
--     triggers of reference tables (the prices' invalidation) are dropped: they would fire on every node's copy.
--     Row triggers that write only the shards of their own node take their place for changes made by hand
--     (96_cluster_edits.sql);
--   * volatile functions in UPDATEs of distributed tables (clock_timestamp() in sync_runs, refresh_requests,
--     the FOCUS runs): the sources compute the time into a variable first;
--   * foreign keys: only between reference tables (alerts, budgets, webhooks, teams); they are dropped while the
--     tables are handed to Citus and added back (a foreign key to a local table makes Citus convert that table,
--     which fails for an extension's table with an identity column);
--   * subqueries in row-level policies (refresh requests): replaced by equivalent function calls
--     (aispend._citus_policies);
--   * teams: a team's rows are chosen by its scope, which a policy on a shard cannot read from the Citus tables
--     (a query of a Citus table there is refused, reference tables included). On a cluster the team_scope
--     policies read the teams, their scopes, names and keys from the shards of the node (aispend._citus_is_team,
--     once per statement, and aispend._team_sees_row for a team's rows). (Citus also loses AS RESTRICTIVE when it
--     copies a policy to the shards, so one policy says it all.);
--   * privileges on functions: Citus propagates GRANTs on tables and schemas, not on an extension's functions,
--     yet a worker runs the functions of a role's query as that role (the policies, the cost model's pure
--     helpers): aispend.grant_reader(), grant_admin() and revoke_all() copy the role's EXECUTE privileges to the
--     workers, and distribute() copies those granted before it (aispend._citus_copy_routine_grants);
--   * a function with an SQL-standard body that names a constraint (ON CONFLICT ON CONSTRAINT): Citus follows
--     the functions that use a table as its dependencies and refuses a constraint among them; those functions
--     infer the conflict from the key's columns instead (ON CONFLICT (columns)), which is the same;
--   * Citus 13.2 cannot run an SQL function whose body is "RETURN expression" when the expression reads a Citus
--     table ("syntax error at or near RETURN"): those functions use BEGIN ATOMIC SELECT expression; END;
--   * a simple CASE (CASE x WHEN ...) on a parameter in DML routed to a shard is deparsed wrongly ("operator does
--     not exist: text = boolean"): the sync writes searched CASEs (CASE WHEN x = ...);
--   * identity columns (sync_runs, workspace_name_history, prices, alerts): all bigint, which Citus supports.

CREATE FUNCTION aispend._citus_present() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus')
$$;
COMMENT ON FUNCTION aispend._citus_present() IS 'Internal: true when the citus extension is installed in this database.';

-- Whether this database is a Citus worker's (its node group is not the coordinator's, 0).
CREATE FUNCTION aispend._on_citus_worker() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
DECLARE
    v_group integer;
BEGIN
    IF NOT aispend._citus_present() THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    RETURN coalesce(v_group, 0) <> 0;
END
$$;
COMMENT ON FUNCTION aispend._on_citus_worker() IS 'Internal: true in a database of a Citus worker node.';

-- Whether this is the coordinator of a distributed installation (aispend.distribute() has run).
CREATE FUNCTION aispend._citus_coordinator() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
BEGIN
    RETURN aispend._citus_kind('aispend.workspaces') IS NOT DISTINCT FROM 'distributed' AND NOT aispend._on_citus_worker();
END
$$;
COMMENT ON FUNCTION aispend._citus_coordinator() IS
    'Internal: true on the Citus coordinator of a distributed installation (after aispend.distribute()).';

-- On Citus, one connection per node for the rest of the transaction: Citus changes a reference table with foreign
-- keys (the alerts, the teams) only after reads and writes over one connection per node, and refuses it after a
-- parallel statement on a distributed table ("cannot modify table ... because there was a parallel operation").
CREATE FUNCTION aispend._citus_sequential() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
BEGIN
    IF aispend._citus_present() THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
END
$$;
COMMENT ON FUNCTION aispend._citus_sequential() IS
    'Internal: on Citus, citus.multi_shard_modify_mode = sequential for the rest of the transaction (before changing '
    'a reference table with foreign keys); nothing elsewhere.';

-- The tables of the schema and what they become: "distributed" (an account column) or "reference".
CREATE FUNCTION aispend._distribution_plan()
RETURNS TABLE (table_name regclass, distribution text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend._distribution_plan() IS
    'Internal: each table of the schema and what aispend.distribute() makes of it: distributed by account (it has '
    'an account column) or a reference table.';

-- What Citus knows of a table: 'distributed' (hash by account), 'reference', 'other' or NULL (a local table).
CREATE FUNCTION aispend._citus_kind(t regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend._citus_kind(regclass) IS
    'Internal: how Citus holds a table: distributed (hash by account), reference, other, or NULL (local).';

CREATE FUNCTION aispend.undistributed_tables()
RETURNS TABLE (table_name regclass, expected text, actual text)
LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT p.table_name, p.distribution, coalesce(aispend._citus_kind(p.table_name), 'local')
      FROM aispend._distribution_plan() p
     WHERE aispend._citus_kind(p.table_name) IS DISTINCT FROM p.distribution
$$;
COMMENT ON FUNCTION aispend.undistributed_tables() IS
    'The tables of aispend not held as aispend.distribute() holds them on a Citus cluster: a table with an account '
    'column that is not distributed by account, or another that is not a reference table. Empty after '
    'aispend.distribute(); every table when Citus is absent.';

-- Row-level policies: Citus refuses subqueries in the policies of distributed and reference tables. The
-- refresh requests' policies (20_schema.sql) become one call of aispend._may_act_as per row. The two team_scope
-- functions below are what aispend 0.6.0 and 0.7.0 put in the teams' policies on a cluster; a cluster
-- distributed by them keeps calling them until aispend.distribute() is run again after the update, which puts
-- the policies below in their place. A single node keeps the policies' subqueries.
CREATE FUNCTION aispend._team_row_visible(p_account name, p_workspace_id text, p_api_key_id text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_api_key_id) IN (SELECT k.account, k.api_key_id FROM aispend._team_keys(CURRENT_USER) k)
$$;
COMMENT ON FUNCTION aispend._team_row_visible(name, text, text) IS
    'Internal: the team_scope policy of the facts and rollups as one call (a team reads the rows of its workspaces '
    'and keys), on a cluster distributed by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';

CREATE FUNCTION aispend._team_workspace_visible(p_account name, p_workspace_id text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k)
$$;
COMMENT ON FUNCTION aispend._team_workspace_visible(name, text) IS
    'Internal: the team_scope policy of workspaces and their name history as one call, on a cluster distributed '
    'by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';

-- Teams on a cluster. A worker checks a policy inside its query of a shard, where it may read no Citus table
-- (reference tables included), but it may read the shards it holds: the teams and their scopes in its copies of
-- the reference tables, and the names and keys of the row's account in the co-located shards of
-- aispend.workspaces and aispend.api_keys, which are on the same node. The team_scope policies of a cluster ask
-- first whether the role is a team (aispend._citus_is_team: asked once per statement, then one call of a C
-- function per row), and for a team whether the row is in its scope (its scope in the row's account read once per
-- statement, then one C call per row); they say what the single node's policies say (67_team_access.sql).

-- The name of the shard of a Citus table that holds an account's rows (of a reference table, its one shard: the
-- account is then NULL).
CREATE FUNCTION aispend._citus_shard(p_table regclass, p_account name) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text;
BEGIN
    EXECUTE 'SELECT pg_catalog.shard_name($1, pg_catalog.get_shard_id_for_distribution_column($1, $2))'
       INTO v USING p_table, p_account;
    RETURN v;
END
$$;
COMMENT ON FUNCTION aispend._citus_shard(regclass, name) IS
    'Internal: on Citus, the qualified name of the shard of a table that holds an account''s rows (of a reference '
    'table, its one shard).';

-- A team's scope in an account, read from the node's shards: the ids of the workspaces it names, of its keys that
-- the account has, and of those keys' workspaces. Asked once per statement and account by the C functions below.
CREATE FUNCTION aispend._citus_team_scope(p_team name, p_account name, OUT workspace_ids text[], OUT key_ids text[],
                                          OUT key_workspace_ids text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- only a team the logged-in role is (or may SET ROLE to): no role learns another team's scope
    IF NOT pg_catalog.pg_has_role(SESSION_USER, p_team, 'MEMBER') THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT ARRAY(SELECT w.workspace_id FROM %1$s s JOIN %2$s w ON w.name = s.workspace_name
                       WHERE s.team = $1 AND w.account = $2),
                ARRAY(SELECT k.api_key_id FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                       WHERE s.team = $1 AND k.account = $2),
                ARRAY(SELECT k.workspace_id FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                       WHERE s.team = $1 AND k.account = $2)',
        aispend._citus_shard('aispend.team_scopes', NULL), aispend._citus_shard('aispend.workspaces', p_account),
        aispend._citus_shard('aispend.api_keys', p_account))
       INTO workspace_ids, key_ids, key_workspace_ids USING p_team, p_account;
END
$$;
COMMENT ON FUNCTION aispend._citus_team_scope(name, name) IS
    'Internal: on a Citus worker, a team''s scope in an account (the ids of the workspaces it names, of its keys, '
    'and of their workspaces), read from the shards of the node, for a team the logged-in role is a member of; '
    'aispend._team_sees_row and aispend._team_sees_workspace ask it once per statement and account.';

-- A row of the facts or rollups in a team's scope: its workspace is one of the team's names, or its key one of
-- the team's listed keys.
CREATE FUNCTION aispend._team_sees_row(p_team name, p_account name, p_workspace_id text, p_api_key_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_row' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._team_sees_row(name, name, text, text) IS
    'Internal: on a Citus worker, whether a row of the facts or rollups is in a team''s scope (its workspace''s '
    'name or its key), checked against the scope aispend._citus_team_scope reads once per statement; the '
    'team_scope policies of a cluster call it.';

-- A workspace in a team's scope: one of its names, or the workspace of one of its keys.
CREATE FUNCTION aispend._team_sees_workspace(p_team name, p_account name, p_workspace_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_workspace' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._team_sees_workspace(name, name, text) IS
    'Internal: on a Citus worker, whether a workspace (or its name history) is in a team''s scope (one of its names, '
    'or the workspace of one of its keys), checked against the scope aispend._citus_team_scope reads once per '
    'statement; the team_scope policies of a cluster call it.';

-- Whether a role is a team, read from the node's copy of the reference table aispend.teams.
CREATE FUNCTION aispend._citus_team_check(p_role name) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v boolean;
BEGIN
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.team = $1)',
                              aispend._citus_shard('aispend.teams', NULL))
       INTO v USING p_role;
    RETURN v;
END
$$;
COMMENT ON FUNCTION aispend._citus_team_check(name) IS
    'Internal: on Citus, whether a role is a team, read from the node''s copy of aispend.teams '
    '(aispend._citus_is_team asks it once per statement).';

-- Whether the current role is a team: the policies' first question on every row, answered once per statement.
CREATE FUNCTION aispend._citus_is_team() RETURNS boolean
AS 'MODULE_PATHNAME', 'aispend_citus_is_team' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._citus_is_team() IS
    'Internal: on Citus, whether the current role is a team (aispend._citus_team_check, asked once per statement '
    'and role); the row-level policies of a distributed installation call it.';

CREATE FUNCTION aispend._may_act_as(p_role name)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname OPERATOR(pg_catalog.=) p_role AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
$$;
COMMENT ON FUNCTION aispend._may_act_as(name) IS
    'Internal: whether the current role is (a member of) a role: the refresh requests'' policies as one call, for '
    'Citus (aispend.distribute).';

-- Rewrites, before distribution, the policies whose expressions hold a subquery; refuses one it does not know.
CREATE FUNCTION aispend._citus_policies() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend._citus_policies() IS
    'Internal: before aispend.distribute() hands the tables to Citus, replaces the subqueries of the row-level '
    'policies by the equivalent function calls, and the team_scope policies by ones a worker can check on a shard '
    '(aispend._citus_is_team, aispend._team_sees_row); returns how many policies it changed.';

-- A role's EXECUTE privileges on aispend's functions and procedures, copied from the coordinator to the workers
-- (nothing elsewhere). Citus propagates GRANTs on tables and schemas but not on an extension's functions, and a
-- worker runs the functions of a role's query as that role. The copy runs in the workers' own transactions
-- (run_command_on_workers): it is repeated whole, from the coordinator's catalog, by every grant function, so a
-- copy whose coordinator transaction rolled back is put right by the role's next grant.
-- (Its search_path leaves aispend out, so that the names it sends are schema-qualified; it sends one DO block,
-- as run_command_on_workers reports only a command string's first statement.)
CREATE FUNCTION aispend._citus_copy_routine_grants(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend._citus_copy_routine_grants(name) IS
    'Internal: on a Citus coordinator of a distributed installation, gives a role on every worker the EXECUTE '
    'privileges on aispend''s functions and procedures that it has on the coordinator (Citus does not propagate '
    'them); nothing elsewhere.';

CREATE FUNCTION aispend.distribute(shard_count integer DEFAULT 32, experimental boolean DEFAULT false)
RETURNS TABLE (table_name regclass, distribution text, colocated_with regclass)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
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
        -- only ones are the prices' invalidation; a row trigger that keeps the changed rules takes its place
        -- (below).
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

    -- Changes made by hand (an UPDATE of the facts, a price set by INSERT, a custom name set by UPDATE): row
    -- triggers a shard can run keep what they change, and the coordinator's session re-rolls it and records the
    -- names after the statement (96_cluster_edits.sql), with the hooks of a preloaded library.
    IF pg_catalog.current_setting('shared_preload_libraries') !~ '(^|[\s,"/])aispend($|[\s,"])' THEN
        RAISE WARNING 'aispend is not in shared_preload_libraries: a change made by hand to the facts, prices, runs '
                      'or names is rolled up only by the account''s next sync or aispend.refresh_rollups()'
            USING HINT = 'Add aispend to shared_preload_libraries on the coordinator and restart it (docs/scaling.md).';
    END IF;
    FOR v_sql IN
        SELECT pg_catalog.format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH %s '
                                 'EXECUTE FUNCTION %s', x.name, x.t, x.level, x.fn)
          FROM (VALUES ('aispend.usage'::regclass, 'shard_rows_changed', 'ROW', 'aispend._shard_fact_changed()'),
                       ('aispend.usage'::regclass, 'shard_rows_written', 'STATEMENT', 'aispend._shard_facts_written()'),
                       ('aispend.costs'::regclass, 'shard_rows_changed', 'ROW', 'aispend._shard_fact_changed()'),
                       ('aispend.costs'::regclass, 'shard_rows_written', 'STATEMENT', 'aispend._shard_facts_written()'),
                       ('aispend.sync_runs'::regclass, 'shard_rows_changed', 'ROW', 'aispend._shard_run_changed()'),
                       ('aispend.model_prices'::regclass, 'shard_rows_changed', 'ROW', 'aispend._shard_price_changed()'))
               AS x(t, name, level, fn)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = x.t AND g.tgfoid = x.fn::regprocedure)
    LOOP
        EXECUTE v_sql;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = 'aispend.workspaces'::regclass
                      AND g.tgfoid = 'aispend._shard_name_changed()'::regprocedure) THEN
        CREATE TRIGGER shard_names_changed AFTER UPDATE OF display_name, provider_name ON aispend.workspaces
            FOR EACH ROW
            WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.provider_name IS DISTINCT FROM NEW.provider_name)
            EXECUTE FUNCTION aispend._shard_name_changed();
    END IF;

    -- The workers' own copies of the tables (from their CREATE EXTENSION, used by a query started on a worker)
    -- keep the single node's policies when the tables were distributed after the rewrite above: each rewritten
    -- policy is set again, now that Citus propagates it to every node and shard (its names schema-qualified:
    -- aispend leaves the search_path for the rest of this call).
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR v_sql IN SELECT pg_catalog.format('ALTER POLICY %I ON %s USING (%s)', y.polname, y.polrelid::regclass,
                                          pg_catalog.pg_get_expr(y.polqual, y.polrelid))
                        || CASE WHEN y.polwithcheck IS NOT NULL
                                THEN pg_catalog.format(' WITH CHECK (%s)', pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid))
                                ELSE '' END
                   FROM pg_catalog.pg_policy y JOIN pg_catalog.pg_class c ON c.oid = y.polrelid
                  WHERE c.relnamespace = 'aispend'::regnamespace
                    AND pg_catalog.pg_get_expr(y.polqual, y.polrelid) ~ '_citus_is_team|_may_act_as'
                  ORDER BY 1 LOOP
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
$$;
COMMENT ON FUNCTION aispend.distribute(integer, boolean) IS
    'On a Citus coordinator: distributes every table of aispend with an account column by account (co-located, '
    'shard_count shards) and makes every other table a reference table; tables already distributed are skipped. '
    'Puts in place the shards'' triggers that follow changes made by hand, and copies the roles'' function '
    'privileges to the workers. Returns what it did. Refuses when Citus is absent. experimental is no longer needed '
    '(0.9.0 and earlier refused without it) and is accepted for their scripts. See docs/scaling.md.';

REVOKE ALL ON FUNCTION aispend._citus_present() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._on_citus_worker() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_sequential() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_coordinator() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_shard(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_sees_row(name, name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_sees_workspace(name, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_team_scope(name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_team_check(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_is_team() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._distribution_plan() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_kind(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.undistributed_tables() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_row_visible(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_workspace_visible(name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._may_act_as(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_policies() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_copy_routine_grants(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.distribute(integer, boolean) FROM PUBLIC;
