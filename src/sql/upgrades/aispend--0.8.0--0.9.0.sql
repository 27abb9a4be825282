-- aispend 0.8.0 -> 0.9.0: a team's rows checked in memory on a Citus cluster, the policies of the workers' own
-- copies of the tables rewritten by aispend.distribute(), background refreshes and price imports on a cluster
-- (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.9.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.9.0'" to load this file. \quit

-- ---- Citus: a team's rows (src/sql/95_distribute.sql), exactly as a fresh install defines them; the two row
-- checks are C functions now, no longer SECURITY DEFINER (aispend._citus_team_scope reads the scope)

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
    'Copies the roles'' function privileges to the workers. Returns what it did. Refuses when Citus is absent, and '
    'unless experimental => true. See docs/scaling.md.';


-- ---- background refreshes (src/sql/20_schema.sql, 37_refresh.sql): the live workers read first, on the
-- coordinator, and handed to the queries of the requests; no volatile function in their UPDATEs, no row lock
-- across shards

CREATE FUNCTION aispend._refresh_live(OUT pids integer[], OUT roles name[], OUT at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- pg_stat_activity is read once per transaction and kept: a loop waiting for a refresh (wait_refresh) would
    -- take a worker started after its first look for dead
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    at := pg_catalog.clock_timestamp();
    SELECT coalesce(pg_catalog.array_agg(a.pid ORDER BY a.pid), '{}'),
           coalesce(pg_catalog.array_agg(r.rolname ORDER BY a.pid), '{}')
      INTO pids, roles
      FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
     WHERE a.application_name = 'aispend refresh'
       AND a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
END
$$;

COMMENT ON FUNCTION aispend._refresh_live() IS
    'Internal: the process ids and roles of the background refresh workers running in this database, and the time '
    'they were read at.';

CREATE OR REPLACE FUNCTION aispend._refresh_workers(p_role name) RETURNS SETOF integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.pid FROM aispend._refresh_live() l,
           ROWS FROM (pg_catalog.unnest(l.pids), pg_catalog.unnest(l.roles)) AS w(pid, role)
     WHERE w.role OPERATOR(pg_catalog.=) p_role
$$;

COMMENT ON FUNCTION aispend._refresh_workers(name) IS
    'Internal: the process ids of the background refresh workers of a role in this database.';

CREATE FUNCTION aispend._refresh_state_of(state text, worker_pid integer, requested_by name, requested_at timestamptz,
                                          live_pids integer[], live_roles name[], at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN state = 'running'
             AND NOT EXISTS (SELECT 1
                               FROM ROWS FROM (pg_catalog.unnest(live_pids), pg_catalog.unnest(live_roles))
                                    AS w(pid, role)
                              WHERE w.role = requested_by AND w.pid = worker_pid) THEN 'failed'
        WHEN state = 'queued' AND requested_at < at - interval '1 minute'
             AND NOT requested_by = ANY (live_roles) THEN 'failed'
        ELSE state
    END
$$;

COMMENT ON FUNCTION aispend._refresh_state_of(text, integer, name, timestamptz, integer[], name[], timestamptz) IS
    'Internal: a refresh request''s state given the live workers (aispend._refresh_live) and the time: running or '
    'queued with no worker left to run it is failed.';

CREATE OR REPLACE FUNCTION aispend._refresh_state(state text, worker_pid integer, requested_by name, requested_at timestamptz)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT aispend._refresh_state_of(state, worker_pid, requested_by, requested_at, l.pids, l.roles, l.at)
      FROM aispend._refresh_live() l
$$;

COMMENT ON FUNCTION aispend._refresh_state(text, integer, name, timestamptz) IS
    'Internal: a refresh request''s state as it stands: running or queued with no worker left to run it is failed.';

CREATE OR REPLACE FUNCTION aispend._refresh_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_now timestamptz := pg_catalog.clock_timestamp();
    n integer := 0;
BEGIN
    FOR v IN SELECT q.id, q.account, q.state, q.worker_pid, q.requested_by, q.requested_at
               FROM aispend.refresh_requests q
              WHERE q.state IN ('queued', 'running')
              ORDER BY q.account, q.id LOOP
        CONTINUE WHEN aispend._refresh_state(v.state, v.worker_pid, v.requested_by, v.requested_at) <> 'failed';
        UPDATE aispend.refresh_requests q
           SET state = 'failed', finished_at = v_now, error_sqlstate = '57P01',
               error_message = CASE v.state
                   WHEN 'running' THEN 'the refresh''s worker ended without recording an outcome (killed, or a crash)'
                   ELSE 'no worker took the request (it could not connect as its role, or was killed)' END
         WHERE q.account = v.account AND q.id = v.id AND q.state = v.state
           AND q.worker_pid IS NOT DISTINCT FROM v.worker_pid;
        IF FOUND THEN
            PERFORM aispend._notify_request(v.id, v.account, 'failed');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION aispend._refresh_sweep() IS
    'Internal: marks failed the refresh requests left running or queued by a worker that is gone; returns how many.';

CREATE OR REPLACE FUNCTION aispend._refresh_failed(p_sqlstate text, p_message text, p_detail text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_marked boolean := false;
    -- read here, not in the UPDATE: on a Citus cluster it runs on the shards
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_pid integer := pg_catalog.pg_backend_pid();
    v_role name := CURRENT_USER;
    v_state text := CASE WHEN p_sqlstate = '57014' THEN 'cancelled' ELSE 'failed' END;
BEGIN
    FOR v IN
        UPDATE aispend.refresh_requests q
           SET state = v_state, finished_at = v_now, error_sqlstate = p_sqlstate, error_message = p_message,
               error_detail = NULLIF(p_detail, '')
         WHERE q.state = 'running' AND q.worker_pid = v_pid AND q.requested_by = v_role
        RETURNING q.id, q.account, q.state
    LOOP
        PERFORM aispend._notify_request(v.id, v.account, v.state);
        v_marked := true;
    END LOOP;
    RETURN v_marked;
END
$$;

COMMENT ON FUNCTION aispend._refresh_failed(text, text, text) IS
    'Internal: a background worker records how the refresh request it was running ended in error (57014: '
    'cancelled); false when it was running none.';

CREATE OR REPLACE FUNCTION aispend.cancel_refresh(request bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    a record;
    v record;
    v_now timestamptz;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found',
            HINT = 'SELECT DISTINCT request, state FROM aispend.refresh_progress;';
    END IF;
    -- The row lock keeps a worker from finishing this account and starting the next one under our cancel.
    -- Row-level security leaves out the rows of roles this one is not a member of.
    -- (Each row is locked on its own: one shard on Citus, which locks no rows across shards.)
    FOR a IN SELECT q.account FROM aispend.refresh_requests q
              WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')
              ORDER BY q.account
    LOOP
        SELECT q.* INTO v FROM aispend.refresh_requests q
         WHERE q.account = a.account AND q.id = request AND q.state IN ('queued', 'running', 'joined')
           FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        IF v.state = 'running' THEN
            -- The worker rolls the step back and records the request cancelled itself.
            -- only that role's live worker: a pid left by a dead one may belong to another process by now
            IF NOT aispend._refresh_worker_alive(v.requested_by, v.worker_pid)
               OR NOT pg_catalog.pg_cancel_backend(v.worker_pid) THEN
                RAISE WARNING 'aispend: the worker of request % (account %) is gone', request, v.account;
            END IF;
        ELSE
            v_now := pg_catalog.clock_timestamp();   -- not in the UPDATE, which runs on a shard on Citus
            UPDATE aispend.refresh_requests q
               SET state = 'cancelled', finished_at = v_now, error_sqlstate = '57014',
                   error_message = CASE v.state WHEN 'queued' THEN 'cancelled before it started'
                                   ELSE pg_catalog.format('cancelled; request %s, which it had joined, goes on',
                                                          v.joined_request) END
             WHERE q.account = v.account AND q.id = v.id;
            PERFORM aispend._notify_request(v.id, v.account, 'cancelled');
        END IF;
        n := n + 1;
    END LOOP;
    IF n = 0 AND EXISTS (SELECT 1 FROM aispend.refresh_requests q
                          WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')) THEN
        RAISE EXCEPTION 'aispend: refresh request % is another role''s', request
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the role that requested it (or a member of that role) may cancel it.';
    END IF;
    RETURN n;
END
$$;

COMMENT ON FUNCTION aispend.cancel_refresh(bigint) IS
    'Cancels a refresh request: its queued accounts at once, its running ones by cancelling their worker''s '
    'statement (the step in flight rolls back, as when a sync is cancelled). Returns how many accounts it '
    'cancelled; a joined account stops sharing the other request, which goes on. Only the requesting role (or a '
    'member of it) may.';

CREATE OR REPLACE FUNCTION aispend.request_refresh(accounts name[] DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id bigint;
    v_accounts name[];
    v_acct name;
    v_missing name[] := '{}';
    v_active record;
    v_queued integer;
BEGIN
    -- On a Citus cluster the workers run on the coordinator, where the requests are watched (aispend._refresh_live)
    IF aispend._on_citus_worker() THEN
        RAISE EXCEPTION 'aispend: request a refresh on the Citus coordinator, not on a worker node'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Connect to the coordinator and call aispend.request_refresh() there: docs/scaling.md.';
    END IF;
    IF since IS NOT NULL AND (since >= pg_catalog.clock_timestamp() OR NOT pg_catalog.isfinite(since)) THEN
        RAISE EXCEPTION 'aispend: since (%) must be a time in the past', since USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF accounts IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no accounts to refresh (no server of the foreign-data wrapper aispend)'
                USING ERRCODE = 'no_data_found', HINT = 'Create one first: docs/accounts.md.';
        END IF;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT a ORDER BY a) INTO v_accounts FROM pg_catalog.unnest(accounts) a
         WHERE a IS NOT NULL;
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no account named' USING ERRCODE = 'null_value_not_allowed',
                HINT = 'Pass accounts => NULL for every account, or ARRAY[''name''].';
        END IF;
    END IF;
    -- Each account exists (42704 otherwise) and this role has a key for it: refused now, not in the worker.
    FOREACH v_acct IN ARRAY v_accounts LOOP
        PERFORM aispend._account_settings(v_acct);
        IF NOT coalesce((SELECT k.has_key FROM pg_catalog.pg_foreign_server s
                                     CROSS JOIN LATERAL aispend._key_status(s.oid) k
                                     WHERE s.srvname = v_acct), false) THEN
            v_missing := v_missing || v_acct;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'aispend: role % has no admin key for account %', CURRENT_USER,
                        pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A background refresh runs as the role that requests it, with that role''s keys.',
                  HINT = 'Give the role a key (CREATE USER MAPPING FOR ... SERVER ... OPTIONS (admin_key ...)), '
                         'or name only the accounts it has keys for: docs/accounts.md.';
    END IF;

    PERFORM aispend._refresh_sweep();
    v_id := pg_catalog.nextval('aispend.refresh_request_ids');
    FOREACH v_acct IN ARRAY v_accounts LOOP
        -- Two requests for one account at once: the second waits here for the first's transaction, then joins.
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300786, aispend._lock_key(v_acct));
        SELECT q.id, q.since, q.state INTO v_active FROM aispend.refresh_requests q
         WHERE q.account = v_acct AND q.state IN ('queued', 'running')
         ORDER BY q.id LIMIT 1;
        IF FOUND AND NOT (since IS NULL OR coalesce(since >= v_active.since, false)) THEN
            RAISE EXCEPTION 'aispend: account % is already being refreshed (request %) from a later start', v_acct,
                            v_active.id
                USING ERRCODE = 'lock_not_available',
                      HINT = pg_catalog.format('Request again when it ends, or cancel it: SELECT aispend.cancel_refresh(%s);',
                                               v_active.id);
        END IF;
        IF FOUND THEN
            INSERT INTO aispend.refresh_requests (id, account, since, state, joined_request)
            VALUES (v_id, v_acct, since, 'joined', v_active.id);
            PERFORM aispend._notify_request(v_id, v_acct, 'joined');
        ELSE
            INSERT INTO aispend.refresh_requests (id, account, since) VALUES (v_id, v_acct, since);
            PERFORM aispend._notify_request(v_id, v_acct, 'queued');
        END IF;
    END LOOP;

    -- Workers for the role's queued accounts; they take queued requests of the role, so none is left waiting.
    SELECT pg_catalog.count(*) INTO v_queued FROM aispend.refresh_requests q
     WHERE q.state = 'queued' AND q.requested_by = CURRENT_USER;
    -- Workers already running for the role count against aispend.refresh_workers (the library is loaded: its
    -- _key_status ran above); one is started anyway, to wait for this transaction's requests.
    IF v_queued > 0 THEN
        PERFORM aispend._start_refresh_workers(GREATEST(1, LEAST(v_queued,
            pg_catalog.current_setting('aispend.refresh_workers')::integer
            - (SELECT pg_catalog.count(*)::integer FROM aispend._refresh_workers(CURRENT_USER)))));
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION aispend.request_refresh(name[], timestamptz) IS
    'The dashboard''s "Refresh Data" from any client: queues a sync of the accounts (default: all) and returns its '
    'request id at once; background workers running as this role sync them, up to aispend.refresh_workers '
    'accounts at a time, once this transaction commits. An account already being refreshed is joined. Progress: '
    'aispend.refresh_progress, LISTEN aispend_refresh. See docs/sync.md.';

CREATE OR REPLACE PROCEDURE aispend._refresh_work()
LANGUAGE plpgsql
AS $$
DECLARE
    c record;
    v_id bigint;
    v_account name;
    v_since timestamptz;
    v_steps jsonb;
    -- the time and this process, read here and not in the UPDATEs: on a Citus cluster those run on the shards
    v_now timestamptz;
    v_pid integer := pg_catalog.pg_backend_pid();
BEGIN
    LOOP
        -- The role's oldest queued account; a request another worker holds is skipped, not waited for. Each
        -- candidate's row is locked on its own (one shard on Citus, which locks no rows across shards).
        v_id := NULL;
        FOR c IN SELECT n.account, n.id FROM aispend.refresh_requests n
                  WHERE n.state = 'queued' AND n.requested_by = CURRENT_USER
                  ORDER BY n.id, n.account LOOP
            SELECT q.id, q.account, q.since INTO v_id, v_account, v_since FROM aispend.refresh_requests q
             WHERE q.account = c.account AND q.id = c.id AND q.state = 'queued'
               FOR UPDATE SKIP LOCKED;
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
        EXIT WHEN v_id IS NULL;
        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'running', started_at = v_now, worker_pid = v_pid
         WHERE q.account = v_account AND q.id = v_id;
        PERFORM aispend._notify_request(v_id, v_account, 'running');
        COMMIT;

        -- The steps to come, for the progress (an error here, e.g. the server dropped meanwhile, fails the request).
        v_steps := (SELECT pg_catalog.jsonb_object_agg(p.endpoint, p.n)
                      FROM (SELECT s.endpoint,
                                   pg_catalog.count(*) FILTER (WHERE NOT s.chunk_from >= s.chunk_to
                                                                  OR s.chunk_from IS NULL) AS n
                              FROM aispend._sync_plan(v_account, v_since, NULL, pg_catalog.clock_timestamp()) s
                             GROUP BY s.endpoint) p);
        UPDATE aispend.refresh_requests q SET steps_planned = v_steps WHERE q.account = v_account AND q.id = v_id;
        COMMIT;

        -- A sync of the account already running (a scheduled one, a CALL) is waited for, not failed on: the sync
        -- then sees it holds the account's lock, and releases it when done.
        PERFORM pg_catalog.pg_advisory_lock(1634300784, aispend._lock_key(v_account));
        CALL aispend.sync(v_account, v_since);

        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'succeeded', finished_at = v_now
         WHERE q.account = v_account AND q.id = v_id AND q.state = 'running';
        PERFORM aispend._notify_request(v_id, v_account, 'succeeded');
        COMMIT;
    END LOOP;
END
$$;

COMMENT ON PROCEDURE aispend._refresh_work() IS
    'Internal: run by each background refresh worker: takes the role''s queued refresh requests one account at a '
    'time (running, CALL aispend.sync, succeeded) until none is left. An error propagates to the worker, which '
    'records it (aispend._refresh_failed) and CALLs again.';

CREATE OR REPLACE VIEW aispend.refresh_progress AS
WITH req AS (
    SELECT r.id AS request, r.account, r.requested_by, r.requested_at, r.since,
           CASE WHEN r.state = 'joined' THEN x.id END AS joined_request,
           aispend._refresh_state_of(x.state, x.worker_pid, x.requested_by, x.requested_at, l.pids, l.roles,
                                     l.at) AS state,
           x.started_at, x.finished_at, x.steps_planned, x.error_sqlstate, l.at
    FROM aispend.refresh_requests r
    JOIN aispend.refresh_requests x
      ON x.account = r.account AND x.id = CASE WHEN r.state = 'joined' THEN r.joined_request ELSE r.id END
    -- the live workers and the time, read once (on Citus, on the coordinator, where the workers run: the subquery,
    -- kept apart by OFFSET 0, is planned there)
    CROSS JOIN (SELECT w.pids, w.roles, w.at FROM aispend._refresh_live() w OFFSET 0) l
), steps AS (
    SELECT req.*, e.ord, e.endpoint,
           (req.steps_planned ->> e.endpoint)::integer AS steps_planned_ep,
           s.steps_done, s.busy, s.in_flight, s.failed, s.rows_fetched, s.http_requests, s.retries
    FROM req
    CROSS JOIN (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS e(ord, endpoint)
    LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded')::integer AS steps_done,
               pg_catalog.bool_or(r.status = 'running') AS busy,
               pg_catalog.max(CASE WHEN r.status = 'running'
                                   THEN NULLIF(pg_catalog.ltrim(aispend._fmt_window(r.window_start, r.window_end)), '')
                              END) AS in_flight,
               pg_catalog.bool_or(r.status IN ('failed', 'aborted')) AS failed,
               pg_catalog.sum(r.rows_fetched) AS rows_fetched, pg_catalog.sum(r.http_requests) AS http_requests,
               pg_catalog.sum(r.retries) AS retries
        FROM aispend.sync_runs r
        WHERE r.account = req.account AND r.endpoint = e.endpoint AND r.started_at >= req.started_at
          AND (req.finished_at IS NULL OR r.started_at <= req.finished_at)) s ON true
)
SELECT st.request, st.account, st.requested_by, st.state, st.endpoint,
       CASE WHEN st.busy THEN CASE WHEN st.state = 'running' THEN 'running' ELSE 'interrupted' END
            WHEN st.failed THEN 'failed'
            WHEN st.steps_planned_ep = 0 THEN 'nothing to fetch'
            WHEN st.steps_done >= st.steps_planned_ep THEN 'done'
            WHEN st.state IN ('queued', 'running') THEN 'waiting'
            ELSE 'not reached' END AS endpoint_state,
       st.in_flight AS chunk_in_flight,
       st.steps_done, st.steps_planned_ep AS steps_planned,
       coalesce(st.rows_fetched, 0) AS rows_fetched,
       coalesce(st.http_requests, 0) AS http_requests,
       coalesce(st.retries, 0) AS retries,
       st.requested_at, st.started_at, st.finished_at,
       coalesce(st.finished_at, st.at) - st.started_at AS elapsed,
       -- the time per step so far times the steps still to run (NULL before the first step ends)
       CASE WHEN st.state NOT IN ('queued', 'running') THEN interval '0'
            WHEN pg_catalog.sum(st.steps_done) OVER w > 0
                THEN (st.at - st.started_at) / (pg_catalog.sum(st.steps_done) OVER w)
                     * GREATEST(0, pg_catalog.sum(st.steps_planned_ep) OVER w - pg_catalog.sum(st.steps_done) OVER w)
       END AS remaining,
       st.joined_request, st.error_sqlstate
FROM steps st
WINDOW w AS (PARTITION BY st.request, st.account)
ORDER BY st.request DESC, st.account, st.ord;


-- ---- the price import (src/sql/41_price_import.sql): on a Citus cluster it rebuilds the rollups of the
-- providers' accounts, whose prices' triggers are not there, with aispend.refresh_rollups (src/sql/52_rollup.sql),
-- which now takes an account's re-roll lock before it deletes the account's rollups

CREATE OR REPLACE FUNCTION aispend.refresh_rollups(account name DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION aispend.import_prices(feed jsonb, feed_date date DEFAULT CURRENT_DATE)
RETURNS TABLE (provider text, models integer, price_rows integer, replaced_rows integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    prov record;
    n_models integer;
    n_rows integer;
    n_old integer;
    v_providers text[] := '{}';
    v_account name;
BEGIN
    IF pg_catalog.jsonb_typeof(feed) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'aispend: the genai-prices v2 feed is a JSON array of providers'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR prov IN
        SELECT p ->> 'id' AS id, p AS body
        FROM pg_catalog.jsonb_array_elements(feed) p
        WHERE p ->> 'id' IN ('openai', 'anthropic')
    LOOP
        DELETE FROM aispend.model_prices mp WHERE mp.origin = 'import' AND mp.provider = prov.id;
        GET DIAGNOSTICS n_old = ROW_COUNT;

        WITH m AS (
            SELECT m.body, m.o AS model_ord
            FROM pg_catalog.jsonb_array_elements(prov.body -> 'models') WITH ORDINALITY AS m(body, o)
        ),
        -- price entries: one object, or a list of {constraint: {start_date}, prices}; entries with other
        -- constraints (time of day) are skipped. The first entry applies before every start_date.
        entries AS (
            SELECT m.body AS model, m.model_ord, e.body -> 'prices' AS prices,
                   (e.body -> 'constraint' ->> 'start_date')::date AS start_date, e.o AS entry_ord
            FROM m
            CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                CASE WHEN pg_catalog.jsonb_typeof(m.body -> 'prices') = 'array' THEN m.body -> 'prices'
                     ELSE pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('prices', m.body -> 'prices'))
                END) WITH ORDINALITY AS e(body, o)
            WHERE NOT coalesce(e.body -> 'constraint', '{}') ?| ARRAY['start_time', 'end_time']
        ),
        dated AS (
            SELECT en.*,
                   CASE WHEN row_number() OVER (PARTITION BY en.model_ord ORDER BY en.entry_ord) = 1
                        THEN '-infinity'::date ELSE coalesce(en.start_date, '-infinity') END AS valid_from
            FROM entries en
        ),
        ranged AS (
            SELECT d.*, lead(d.valid_from) OVER (PARTITION BY d.model_ord ORDER BY d.valid_from, d.entry_ord) AS valid_to
            FROM dated d
        ),
        -- tier rows: 0 (base) and every tier start named by any price of the entry
        tiers AS (
            SELECT r.*, t.min_input
            FROM ranged r
            CROSS JOIN LATERAL (
                SELECT 0::bigint AS min_input
                UNION
                SELECT (tr ->> 'start')::bigint
                FROM pg_catalog.jsonb_each(r.prices) kv, pg_catalog.jsonb_array_elements(kv.value -> 'tiers') tr
                WHERE pg_catalog.jsonb_typeof(kv.value) = 'object'
            ) t
            WHERE r.valid_to IS NULL OR r.valid_to > r.valid_from
        ),
        ins AS (
            INSERT INTO aispend.model_prices
                (provider, match_kind, pattern, model_label, valid_from, valid_to, min_input_tokens,
                 input_per_mtok, cache_read_per_mtok, cache_write_5m_per_mtok, cache_write_1h_per_mtok,
                 output_per_mtok, input_audio_per_mtok, output_audio_per_mtok, input_image_per_mtok,
                 output_image_per_mtok, web_search_per_k, batch_multiplier, tier_multipliers, geo_multipliers,
                 currency, origin, source, checked_on, note)
            SELECT prov.id, ru.match_kind, ru.pattern, t.model ->> 'id', t.valid_from, t.valid_to, t.min_input,
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'input_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'cache_read_mtok', t.min_input),
                   aispend._feed_price(coalesce(t.prices -> 'cache_write_5m_mtok', t.prices -> 'cache_write_mtok'),
                                       t.min_input),
                   aispend._feed_price(t.prices -> 'cache_write_1h_mtok', t.min_input),
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'output_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'input_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'input_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'web_searches_kcount', 0),
                   0.5,
                   CASE prov.id WHEN 'openai' THEN '{"flex": 0.5}'::jsonb ELSE '{}'::jsonb END,
                   CASE prov.id WHEN 'anthropic' THEN '{"us": 1.1}'::jsonb ELSE '{}'::jsonb END,
                   'USD', 'import',
                   coalesce(prov.body -> 'pricing_urls' ->> 0, 'https://github.com/pydantic/genai-prices'),
                   import_prices.feed_date,
                   'genai-prices v2 feed, model ' || (t.model ->> 'id')
                   || CASE WHEN t.prices = '{}' THEN ' (free: empty price object)' ELSE '' END
            FROM tiers t
            CROSS JOIN LATERAL aispend._feed_rules(t.model -> 'match') ru
            ORDER BY t.model_ord, ru.ord, t.valid_from, t.min_input
            RETURNING 1
        )
        SELECT count(*) INTO n_rows FROM ins;
        SELECT pg_catalog.jsonb_array_length(prov.body -> 'models') INTO n_models;

        provider := prov.id;
        models := n_models;
        price_rows := n_rows;
        replaced_rows := n_old;
        RETURN NEXT;
        v_providers := v_providers || prov.id;
    END LOOP;
    -- On a Citus cluster the prices' triggers, which mark the days the changed rules price, are not there
    -- (aispend.distribute()): the rollups of the providers' accounts are rebuilt here.
    IF aispend._citus_coordinator() THEN
        FOR v_account IN SELECT a.account FROM aispend._account_providers() a
                          WHERE a.provider = ANY (v_providers) ORDER BY a.account LOOP
            PERFORM aispend.refresh_rollups(v_account);
        END LOOP;
    END IF;
END
$$;

COMMENT ON FUNCTION aispend.import_prices(jsonb, date) IS
    'Loads the genai-prices v2 feed (a JSON array of providers) for providers openai and anthropic (others are '
    'ignored): replaces every origin = import row of those providers, never touches shipped or manual rows. '
    'Match rules: equals -> exact, starts_with -> prefix, others -> regex; date-constrained prices -> valid_from '
    '/ valid_to; tiered prices -> long-context rows (min_input_tokens). feed_date becomes checked_on. On a Citus '
    'cluster it then rebuilds the rollups of those providers'' accounts.';


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
