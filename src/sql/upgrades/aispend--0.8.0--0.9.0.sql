-- aispend 0.8.0 -> 0.9.0: a team's rows checked in memory on a Citus cluster, and the policies of the workers'
-- own copies of the tables rewritten by aispend.distribute() (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.9.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.9.0'" to load this file. \quit

-- ---- new in 0.9.0 (src/sql/95_distribute.sql), exactly as a fresh install defines it

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

REVOKE ALL ON FUNCTION aispend._citus_team_scope(name, name) FROM PUBLIC;


-- ---- changed in 0.9.0 (src/sql/95_distribute.sql): the two row checks are C functions now, no longer
-- SECURITY DEFINER (aispend._citus_team_scope reads the scope)

CREATE OR REPLACE FUNCTION aispend._team_sees_row(p_team name, p_account name, p_workspace_id text, p_api_key_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_row' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION aispend._team_sees_row(name, name, text, text) IS
    'Internal: on a Citus worker, whether a row of the facts or rollups is in a team''s scope (its workspace''s '
    'name or its key), checked against the scope aispend._citus_team_scope reads once per statement; the '
    'team_scope policies of a cluster call it.';

CREATE OR REPLACE FUNCTION aispend._team_sees_workspace(p_team name, p_account name, p_workspace_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_workspace' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION aispend._team_sees_workspace(name, name, text) IS
    'Internal: on a Citus worker, whether a workspace (or its name history) is in a team''s scope (one of its names, '
    'or the workspace of one of its keys), checked against the scope aispend._citus_team_scope reads once per '
    'statement; the team_scope policies of a cluster call it.';

CREATE OR REPLACE FUNCTION aispend.distribute(shard_count integer DEFAULT 32, experimental boolean DEFAULT false)
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

    -- The workers' own copies of the tables (from their CREATE EXTENSION, used by a query started on a worker)
    -- keep the single node's policies when the tables were distributed after the rewrite above: each rewritten
    -- policy is set again, now that Citus propagates it to every node and shard.
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
    'Copies the roles'' function privileges to the workers. Returns what it did. Refuses when Citus is absent, and '
    'unless experimental => true. See docs/scaling.md.';


-- ---- privileges as a fresh install sets them, and for the roles that had them
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    -- A Citus worker gets its roles' privileges from the coordinator (aispend.distribute(), run again after the
    -- update), and may not read the reference table aispend.teams from here
    IF aispend._on_citus_worker() THEN
        RETURN;
    END IF;
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
