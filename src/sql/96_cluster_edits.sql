-- 96_cluster_edits.sql: changes made by hand on a Citus cluster, rolled up as on a single node
-- (src/pg/cluster_edits.cpp, docs/scaling.md).
--
-- On a cluster the invalidation triggers of the facts and prices cannot run (53_invalidation.sql,
-- 95_distribute.sql). aispend.distribute() puts in their place row triggers that a shard can run: on aispend.usage
-- and aispend.costs one marks the row's day in the co-located shard of aispend._dirty_days (on the same node) and
-- notes its model in that of aispend.models; on aispend.model_prices one keeps the changed rules in the session.
-- After each top-level statement that wrote the facts or prices, the coordinator's session calls
-- aispend._cluster_edits_done(), which marks the changed rules' days and re-rolls every marked day.

-- A row of a shard of the facts written: its day marked, its model noted, in the node's co-located shards (a query
-- of a shard may read and write no Citus table, but it may the shards of the same node).
CREATE FUNCTION aispend._shard_fact_written(p_account name, p_bucket timestamptz, p_model text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_provider text;
BEGIN
    EXECUTE pg_catalog.format('INSERT INTO %s (account, day) VALUES ($1, $2) ON CONFLICT (account, day) DO NOTHING',
                              aispend._citus_shard('aispend._dirty_days', p_account))
       USING p_account, (p_bucket AT TIME ZONE 'UTC')::date;
    IF p_model IS NULL THEN
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
        'INSERT INTO %s AS m (account, provider, model, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (account, model) DO UPDATE
            SET first_seen = LEAST(m.first_seen, excluded.first_seen), last_seen = GREATEST(m.last_seen, excluded.last_seen)
          WHERE excluded.first_seen < m.first_seen OR excluded.last_seen > m.last_seen',
        aispend._citus_shard('aispend.models', p_account))
       USING p_account, v_provider, p_model, p_bucket;
END
$$;
COMMENT ON FUNCTION aispend._shard_fact_written(name, timestamptz, text) IS
    'Internal: on a Citus node, marks the UTC day of a row of the facts dirty and notes its model (first and last '
    'bucket), in the co-located shards of aispend._dirty_days and aispend.models on the same node; the shards'' '
    'trigger aispend._shard_fact_changed calls it once per account, day and model in a query.';

CREATE FUNCTION aispend._shard_fact_changed()
RETURNS trigger AS 'MODULE_PATHNAME', 'aispend_shard_fact_changed' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._shard_fact_changed() IS
    'Internal: on a Citus cluster, row trigger of the shards of aispend.usage and aispend.costs: marks the days of '
    'the rows written and notes their models (aispend._shard_fact_written), once per account, day and model in a '
    'query.';

CREATE FUNCTION aispend._shard_price_changed()
RETURNS trigger AS 'MODULE_PATHNAME', 'aispend_shard_price_changed' LANGUAGE C
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._shard_price_changed() IS
    'Internal: on a Citus cluster, row trigger of the copies of aispend.model_prices: keeps the old and new rule '
    'for aispend._cluster_edits_done, in the session that changed them.';

-- After a top-level statement that wrote the facts or prices on the coordinator: what the single node's triggers
-- mark (53_invalidation.sql) and its deferred trigger re-rolls at COMMIT.
CREATE FUNCTION aispend._cluster_edits_done(p_rules jsonb, p_every_day boolean)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a record;
    m record;
    v_models text[];
BEGIN
    IF NOT aispend._citus_coordinator() THEN
        RETURN;
    END IF;
    IF p_every_day THEN   -- a TRUNCATE of the facts or prices
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
                   JOIN pg_catalog.jsonb_to_recordset(p_rules)
                        AS r(provider text, match_kind text, pattern text, valid_from date, valid_to date)
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
    'Internal: on a Citus coordinator, after a statement that wrote the facts or prices: marks the usage days the '
    'changed price rules (or, after a TRUNCATE, every day) apply to, then re-rolls every marked day; nothing '
    'elsewhere. The session calls it (src/pg/cluster_edits.cpp).';

REVOKE ALL ON FUNCTION aispend._shard_fact_written(name, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_fact_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._shard_price_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._cluster_edits_done(jsonb, boolean) FROM PUBLIC;
