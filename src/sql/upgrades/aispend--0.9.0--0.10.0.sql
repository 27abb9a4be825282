-- aispend 0.9.0 -> 0.10.0: changes made by hand on a Citus cluster rolled up and recorded as on a single node,
-- and aispend.distribute() no longer experimental (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.10.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.10.0'" to load this file. \quit

-- ---- changes made by hand on a cluster (src/sql/96_cluster_edits.sql), exactly as a fresh install defines them

-- The rows of a shard of the facts written in a statement: their days marked and their models noted (first and last
-- bucket), in the node's co-located shards (a query of a shard may read and write no Citus table, but it may the
-- shards of the same node). The shards' statement trigger calls it once per account.
CREATE FUNCTION aispend._shard_facts_kept(p_account name, p_days date[], p_models text[], p_firsts timestamptz[],
                                          p_lasts timestamptz[])
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_provider text;
BEGIN
    EXECUTE pg_catalog.format('INSERT INTO %s (account, day) SELECT DISTINCT $1, d.day FROM pg_catalog.unnest($2) AS d(day)
                               ON CONFLICT (account, day) DO NOTHING',
                              aispend._citus_shard('aispend._dirty_days', p_account))
       USING p_account, p_days;
    IF coalesce(pg_catalog.cardinality(p_models), 0) = 0 THEN
        RETURN;
    END IF;
    -- the account's provider: its server (Citus copies servers to every node), or the one its last sync remembered
    SELECT aispend._option(s.srvoptions, 'provider') INTO v_provider FROM aispend._servers() s WHERE s.srvname = p_account;
    IF v_provider IS NULL THEN
        EXECUTE pg_catalog.format('SELECT r.provider FROM %s r WHERE r.account = $1',
                                  aispend._citus_shard('aispend.account_providers', p_account))
           INTO v_provider USING p_account;
    END IF;
    IF v_provider IS NULL THEN   -- not an account (as aispend._note_model)
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'INSERT INTO %s AS m (account, provider, model, first_seen, last_seen)
         SELECT $1, $2, x.model, x.first_seen, x.last_seen
           FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) AS x(model, first_seen, last_seen)
         ON CONFLICT (account, model) DO UPDATE
            SET first_seen = LEAST(m.first_seen, excluded.first_seen), last_seen = GREATEST(m.last_seen, excluded.last_seen)
          WHERE excluded.first_seen < m.first_seen OR excluded.last_seen > m.last_seen',
        aispend._citus_shard('aispend.models', p_account))
       USING p_account, v_provider, p_models, p_firsts, p_lasts;
END
$$;
COMMENT ON FUNCTION aispend._shard_facts_kept(name, date[], text[], timestamptz[], timestamptz[]) IS
    'Internal: on a Citus node, marks an account''s UTC days dirty and notes the models it used (each one''s first '
    'and last bucket), in the co-located shards of aispend._dirty_days and aispend.models on the same node; the '
    'shards'' statement trigger aispend._shard_facts_written calls it once per account.';

CREATE FUNCTION aispend._shard_fact_changed()
RETURNS trigger AS 'MODULE_PATHNAME', 'aispend_shard_fact_changed' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._shard_fact_changed() IS
    'Internal: on a Citus cluster, row trigger of the shards of aispend.usage and aispend.costs: keeps the UTC day '
    'of each row written and the model of each new row, for aispend._shard_facts_written.';

CREATE FUNCTION aispend._shard_facts_written()
RETURNS trigger AS 'MODULE_PATHNAME', 'aispend_shard_facts_written' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._shard_facts_written() IS
    'Internal: on a Citus cluster, statement trigger of the shards of aispend.usage and aispend.costs: marks the '
    'days and notes the models the statement''s rows kept (aispend._shard_facts_kept), once per account.';

CREATE FUNCTION aispend._shard_price_changed()
RETURNS trigger AS 'MODULE_PATHNAME', 'aispend_shard_price_changed' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._shard_price_changed() IS
    'Internal: on a Citus cluster, row trigger of the copies of aispend.model_prices: keeps the old and new rule '
    'for aispend._cluster_edits_done, in the session that changed them.';

-- ---------------------------------------------------------------- settlement (the costs runs of the sync log)

CREATE FUNCTION aispend._written_here(row_xmin xid)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_written_here' LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._written_here(xid) IS
    'Internal: whether a row version (its xmin) was written by this transaction or one of its subtransactions.';

-- A costs run written on a shard: when the settlement horizon (aispend.settled_before) may have moved, the days
-- from the lower of the old and new horizon to the account's last day are marked, in the node's co-located
-- shards: a superset of what the single node's trigger marks (53_invalidation.sql). The old horizon is that of
-- the runs this transaction has not written (aispend._written_here), and of the run's old row.
CREATE FUNCTION aispend._shard_run_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_old date;
    v_new date;
    v_account name;
    v_id bigint;
    v_others date;
    v_last date;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.endpoint = 'costs' AND OLD.status = 'succeeded' THEN
        v_old := (OLD.complete_through AT TIME ZONE 'UTC')::date;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.endpoint = 'costs' AND NEW.status = 'succeeded' THEN
        v_new := (NEW.complete_through AT TIME ZONE 'UTC')::date;
    END IF;
    IF v_old IS NOT DISTINCT FROM v_new THEN   -- the run counts as it did
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        v_account := OLD.account;
        v_id := OLD.id;
    ELSE
        v_account := NEW.account;
        v_id := NEW.id;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT (SELECT (max(r.complete_through) AT TIME ZONE ''UTC'')::date FROM %1$s r
                  WHERE r.account = $1 AND r.id <> $2 AND r.endpoint = ''costs'' AND r.status = ''succeeded''
                    AND NOT aispend._written_here(r.xmin)),
                GREATEST((SELECT s.last_day FROM %2$s s WHERE s.account = $1),
                         (SELECT (max(c.bucket_start) AT TIME ZONE ''UTC'')::date FROM %3$s c WHERE c.account = $1))',
        aispend._citus_shard('aispend.sync_runs', v_account), aispend._citus_shard('aispend._rollup_state', v_account),
        aispend._citus_shard('aispend.costs', v_account))
       INTO v_others, v_last USING v_account, v_id;
    EXECUTE pg_catalog.format(
        'INSERT INTO %s (account, day)
         SELECT $1, d::date FROM pg_catalog.generate_series($2::timestamp, $3::timestamp, interval ''1 day'') AS d
         ON CONFLICT (account, day) DO NOTHING',
        aispend._citus_shard('aispend._dirty_days', v_account))
       USING v_account, LEAST(v_old, v_new, v_others), v_last;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._shard_run_changed() IS
    'Internal: on a Citus cluster, row trigger of the shards of aispend.sync_runs: when a costs run written may move '
    'the account''s settlement horizon, marks the days from the lower of the old and new horizon to the account''s '
    'last day dirty, in the co-located shard of aispend._dirty_days.';

-- ---------------------------------------------------------------- names

CREATE TABLE aispend._name_changes (
    account           name NOT NULL,
    workspace_id      text NOT NULL,
    seq               bigint NOT NULL,
    old_display_name  text,
    new_display_name  text,
    old_provider_name text,
    new_provider_name text,
    old_name          text,
    new_name          text,
    CONSTRAINT _name_changes_pkey PRIMARY KEY (account, seq)
);
COMMENT ON TABLE aispend._name_changes IS
    'Internal: on a Citus cluster, workspace name changes kept by the shards'' trigger until they are recorded in '
    'aispend.workspace_name_history (aispend._name_changes_recorded); empty outside a changing statement.';

-- A workspace's names changed on a shard: kept in the co-located shard of aispend._name_changes on the same node
-- (the history's ids, its time and role are set when the coordinator records it).
CREATE FUNCTION aispend._shard_name_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- one writer of an account's kept changes at a time on this node, which numbers them (classid 'aisn')
    PERFORM pg_catalog.pg_advisory_xact_lock(1634300782, aispend._lock_key(NEW.account));
    EXECUTE pg_catalog.format(
        'INSERT INTO %1$s (account, workspace_id, seq, old_display_name, new_display_name, old_provider_name,
                           new_provider_name, old_name, new_name)
         SELECT $1, $2, coalesce((SELECT max(c.seq) FROM %1$s c WHERE c.account = $1), 0) + 1, $3, $4, $5, $6, $7, $8',
        aispend._citus_shard('aispend._name_changes', NEW.account))
       USING NEW.account, NEW.workspace_id, OLD.display_name, NEW.display_name, OLD.provider_name,
             NEW.provider_name, OLD.name, NEW.name;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._shard_name_changed() IS
    'Internal: on a Citus cluster, row trigger of the shards of aispend.workspaces: keeps a change of a workspace''s '
    'names in the co-located shard of aispend._name_changes, for aispend._name_changes_recorded.';

-- The kept name changes (of one account, or of all) recorded in the history, in the order they were made.
CREATE FUNCTION aispend._name_changes_recorded(p_account name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT x.account, x.seq, x.workspace_id, x.old_display_name, x.new_display_name, x.old_provider_name,
                    x.new_provider_name, x.old_name, x.new_name
               FROM aispend._name_changes x
              WHERE p_account IS NULL OR x.account = p_account
              ORDER BY x.account, x.seq LOOP
        -- taken first: a change another session recorded meanwhile is not recorded twice
        DELETE FROM aispend._name_changes x WHERE x.account = c.account AND x.seq = c.seq;
        CONTINUE WHEN NOT FOUND;
        PERFORM aispend._record_name_change(c.account, c.workspace_id, c.old_display_name, c.new_display_name,
                                            c.old_provider_name, c.new_provider_name, c.old_name, c.new_name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._name_changes_recorded(name) IS
    'Internal: on a Citus cluster, records the name changes the shards'' trigger kept (of one account, or all) in '
    'aispend.workspace_name_history, in order, as the single node''s trigger does, and forgets them.';

-- ---------------------------------------------------------------- after a statement

-- Its two reads of every shard (the kept name changes, the marked days) are aispend's own bookkeeping, not the
-- caller's query: a session that refuses queries of several shards (citus.multi_task_query_log_level) still has
-- its changes rolled up.
CREATE FUNCTION aispend._cluster_edits_done(p_rules jsonb, p_every_day boolean)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp SET citus.multi_task_query_log_level = 'off'
AS $$
DECLARE
    a record;
    m record;
    v_models text[];
BEGIN
    -- (a session on a worker node leaves its marks to the account's next sync: its plan of a local shard names
    -- the shard, which the session cannot tell from the coordinator's own queries of it)
    IF NOT aispend._citus_coordinator() THEN
        RETURN;
    END IF;
    -- one connection per node for the rest of the transaction: a change of the alerts or teams may follow
    PERFORM aispend._citus_sequential();
    PERFORM aispend._name_changes_recorded();
    -- prices changed, but no rule kept: the session changed no copy of its own (the coordinator holds none, or
    -- Citus changed it over a connection): every day
    IF pg_catalog.jsonb_array_length(p_rules) = 0 THEN
        p_every_day := true;
    END IF;
    IF p_every_day THEN   -- a TRUNCATE of the facts, prices, runs or names
        FOR a IN SELECT s.account FROM aispend._rollup_state s ORDER BY 1 LOOP
            PERFORM aispend._mark_all_days(a.account);
        END LOOP;
    END IF;
    -- the usage days of every model of an account that a changed rule matches, within the rule's validity; the
    -- models read first and matched on the coordinator, then each one's days marked in a query of its shard
    FOR a IN SELECT p.account, p.provider FROM aispend._account_providers() p
              WHERE p.provider IN (SELECT r.provider FROM pg_catalog.jsonb_to_recordset(p_rules) AS r(provider text))
              ORDER BY 1 LOOP
        v_models := ARRAY(SELECT x.model FROM aispend.models x WHERE x.account = a.account);
        FOR m IN SELECT DISTINCT x.model, r.valid_from, r.valid_to
                   FROM pg_catalog.unnest(v_models) AS x(model)
                   JOIN (SELECT DISTINCT * FROM pg_catalog.jsonb_to_recordset(p_rules)
                                AS j(provider text, match_kind text, pattern text, valid_from date, valid_to date)) r
                     ON r.provider = a.provider AND aispend._price_rule_matches(r.match_kind, r.pattern, x.model)
                  ORDER BY 1, 2, 3 LOOP
            INSERT INTO aispend._dirty_days (account, day)
            SELECT DISTINCT u.account, (u.bucket_start AT TIME ZONE 'UTC')::date FROM aispend.usage u
             WHERE u.account = a.account AND u.model = m.model
               AND u.bucket_start >= aispend._utc_day_start(m.valid_from)
               AND (m.valid_to IS NULL OR u.bucket_start < aispend._utc_day_start(m.valid_to))
            ON CONFLICT (account, day) DO NOTHING;
        END LOOP;
    END LOOP;
    FOR a IN SELECT DISTINCT d.account FROM aispend._dirty_days d ORDER BY 1 LOOP
        PERFORM aispend._reroll(a.account);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._cluster_edits_done(jsonb, boolean) IS
    'Internal: on a Citus coordinator, after a statement that wrote the facts, prices, runs or names: records the '
    'kept name changes in the history, marks the usage days the changed price rules (NULL: no price written; after '
    'a TRUNCATE, every day) apply to, then re-rolls every marked day; nothing elsewhere. The session calls it '
    '(src/pg/cluster_edits.cpp).';

REVOKE ALL ON FUNCTION aispend._shard_facts_kept(name, date[], text[], timestamptz[], timestamptz[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_fact_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_facts_written() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._written_here(xid) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_price_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._cluster_edits_done(jsonb, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_name_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_run_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._name_changes_recorded(name) FROM PUBLIC;


-- ---- aispend's writers of names record, on a cluster, the changes the shards' trigger kept
-- (src/sql/54_workspace_management.sql), which readers do not see (src/sql/90_roles.sql); aispend.distribute() puts the shards' row triggers in place and no longer
-- needs experimental => true (src/sql/95_distribute.sql); the price import no longer rebuilds the rollups on a
-- cluster itself: the session's re-roll after the statement does, of the days the changed prices apply to
-- (src/sql/41_price_import.sql)

CREATE OR REPLACE FUNCTION aispend._names_before(p_account name)
RETURNS jsonb LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = 'aispend.workspaces'::regclass
                  AND g.tgfoid IN ('aispend._workspace_name_changed()'::regprocedure,
                                   'aispend._shard_name_changed()'::regprocedure)) THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.jsonb_object_agg(w.workspace_id, pg_catalog.jsonb_build_array(w.display_name,
                                                                                          w.provider_name, w.name))
              FROM aispend.workspaces w WHERE w.account = p_account);
END
$$;

COMMENT ON FUNCTION aispend._names_before(name) IS
    'Internal: an account''s workspace names before a change, when neither name history trigger is in place '
    '(a cluster distributed by aispend 0.9.0 or earlier); NULL when one is.';

CREATE OR REPLACE FUNCTION aispend._names_changed(p_account name, p_before jsonb)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    w record;
    o jsonb;
BEGIN
    IF p_before IS NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = 'aispend.workspaces'::regclass
                      AND g.tgfoid = 'aispend._shard_name_changed()'::regprocedure) THEN
            PERFORM aispend._name_changes_recorded(p_account);
        END IF;
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
$$;

COMMENT ON FUNCTION aispend._names_changed(name, jsonb) IS
    'Internal: records in the name history what changed since aispend._names_before; on a Citus cluster, the '
    'account''s changes the shards'' trigger kept (aispend._name_changes_recorded); nothing on a single node.';

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

CREATE OR REPLACE FUNCTION aispend.grant_reader(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
BEGIN
    PERFORM aispend._citus_sequential();   -- the alerts are a reference table with foreign keys on Citus
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    FOR obj IN SELECT c.oid::regclass AS rel
                 FROM pg_class AS c
                WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
                  -- (aispend._name_changes: a cluster's name changes before they are recorded, of every workspace)
                  AND c.relname NOT IN ('accounts', 'sync_runs', 'refresh_requests', 'webhooks', '_name_changes')
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
$$;

COMMENT ON FUNCTION aispend.grant_reader(name) IS 'Lets an existing role read the dashboard: SELECT on aispend tables and views (except accounts, webhooks, and the providers'' error texts in sync_runs and refresh_requests), EXECUTE on read-only functions; no sync, no renames, no keys.';

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
    END LOOP;
END
$$;

COMMENT ON FUNCTION aispend.import_prices(jsonb, date) IS
    'Loads the genai-prices v2 feed (a JSON array of providers) for providers openai and anthropic (others are '
    'ignored): replaces every origin = import row of those providers, never touches shipped or manual rows. '
    'Match rules: equals -> exact, starts_with -> prefix, others -> regex; date-constrained prices -> valid_from '
    '/ valid_to; tiered prices -> long-context rows (min_input_tokens). feed_date becomes checked_on.';


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
