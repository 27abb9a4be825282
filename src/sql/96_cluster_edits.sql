-- 96_cluster_edits.sql: changes made by hand on a Citus cluster, rolled up as on a single node
-- (src/pg/cluster_edits.cpp, docs/scaling.md).
--
-- On a cluster the invalidation and name history triggers cannot run (53_invalidation.sql,
-- 54_workspace_management.sql, 95_distribute.sql). aispend.distribute() puts in their place triggers that a shard
-- can run, which write only the co-located shards of their own node: on aispend.usage and aispend.costs a row and
-- a statement trigger mark the rows' days in aispend._dirty_days and note their models in aispend.models; on
-- aispend.sync_runs one marks the days a moved settlement horizon changes; on aispend.workspaces one keeps a change
-- of names in aispend._name_changes; on aispend.model_prices one keeps the changed rules in the session. After each
-- top-level statement that wrote the facts, prices, runs or names, the coordinator's session calls
-- aispend._cluster_edits_done(), which records the name changes in the history, marks the changed rules' days and
-- re-rolls every marked day.

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
