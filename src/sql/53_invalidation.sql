-- 53_invalidation.sql: one invalidation path for the rollups (52_rollup.sql).
--
-- Every change that can move a figure marks the (account, UTC day) pairs it affects in aispend._dirty_days:
--   * facts: rows of aispend.usage or aispend.costs inserted, updated or deleted (COPY and pg_restore too);
--   * prices: a row of aispend.model_prices inserted, updated, deleted or truncated (aispend.import_prices, manual
--     overrides): the days whose usage has a model matched by the old or the new rule, within its validity;
--   * settlement: a costs run of aispend.sync_runs that succeeds (or is restored, or deleted) and so moves
--     aispend.settled_before(account): the days between the old and the new horizon;
--   * account removal: aispend.forget_account deletes the facts, which marks their days.
-- Names are never rolled up (joined at read time), so renames need nothing.
--
-- The marked days are re-rolled in the same transaction: the sync calls aispend._reroll(account) after each
-- step, and a deferred constraint trigger re-rolls whatever is still marked at COMMIT. A read after the change
-- has committed therefore never sees an old figure. Inside the changing transaction, SET CONSTRAINTS ALL
-- IMMEDIATE re-rolls at once.

CREATE TABLE aispend._dirty_days (
    account name NOT NULL,
    day     date NOT NULL,
    CONSTRAINT _dirty_days_pkey PRIMARY KEY (account, day)
);
COMMENT ON TABLE aispend._dirty_days IS
    'Internal: (account, UTC day) pairs whose rollups must be re-rolled; empty outside a changing transaction.';

-- Marks the days first..last of an account.
CREATE FUNCTION aispend._mark_days(p_account name, p_first date, p_last date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT p_account, d::date
    FROM pg_catalog.generate_series(p_first::timestamp, p_last::timestamp, interval '1 day') AS d
    WHERE p_first IS NOT NULL AND p_last IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
END
$$;
COMMENT ON FUNCTION aispend._mark_days(name, date, date) IS 'Internal: marks the UTC days first..last of an account dirty.';

-- Marks every day of an account that has facts or rollups.
CREATE FUNCTION aispend._mark_all_days(p_account name)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION aispend._mark_all_days(name) IS 'Internal: marks every day of an account with facts or rollups dirty.';

-- ---------------------------------------------------------------- facts

-- Records that an account's facts name a model between two buckets (aispend.models), for accounts with a
-- known provider.
CREATE FUNCTION aispend._note_model(p_account name, p_model text, p_first timestamptz, p_last timestamptz)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION aispend._note_model(name, text, timestamptz, timestamptz) IS
    'Internal: records in aispend.models that an account''s facts name a model (first and last bucket).';

-- Marks the days of facts that changed and records the models they name: what the facts' triggers call, and
-- what aispend's own writers (the sync, the FOCUS import) call themselves, so that the rollups follow without the
-- triggers: on Citus those cannot run (aispend.distribute drops them; a trigger on a shard that reads other
-- distributed tables is a nested distributed execution). On a single node both mark the same days: no change.
CREATE FUNCTION aispend._facts_written(p_account name, p_days date[], p_models text[], p_first timestamptz[],
                                       p_last timestamptz[])
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT DISTINCT p_account, d.day FROM pg_catalog.unnest(p_days) AS d(day) WHERE d.day IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
    PERFORM aispend._note_model(p_account, m.model, m.first_seen, m.last_seen)
       FROM ROWS FROM (pg_catalog.unnest(p_models), pg_catalog.unnest(p_first), pg_catalog.unnest(p_last))
            AS m(model, first_seen, last_seen)
      WHERE m.model IS NOT NULL;
END
$$;
COMMENT ON FUNCTION aispend._facts_written(name, date[], text[], timestamptz[], timestamptz[]) IS
    'Internal: marks dirty the UTC days of facts an aispend writer changed and records the models they name '
    '(model, first and last bucket); what the facts'' triggers do, for Citus, where they cannot run.';

CREATE FUNCTION aispend._facts_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION aispend._facts_changed() IS
    'Internal: statement trigger of aispend.usage and aispend.costs; marks the days of the changed rows dirty and '
    'records the models used (aispend.models).';

CREATE TRIGGER usage_changed_ins AFTER INSERT ON aispend.usage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_upd AFTER UPDATE ON aispend.usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_del AFTER DELETE ON aispend.usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_trunc AFTER TRUNCATE ON aispend.usage
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_ins AFTER INSERT ON aispend.costs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_upd AFTER UPDATE ON aispend.costs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_del AFTER DELETE ON aispend.costs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_trunc AFTER TRUNCATE ON aispend.costs
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();

-- ---------------------------------------------------------------- settlement (sync runs of costs)

-- Marks the days between an account's old and new settlement horizon (aispend.settled_before), when it moved.
CREATE FUNCTION aispend._mark_settlement_moved(p_account name, p_old date, p_new date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION aispend._mark_settlement_moved(name, date, date) IS
    'Internal: marks dirty the days between an account''s old and new settlement horizon (aispend.settled_before).';

CREATE FUNCTION aispend._costs_runs_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION aispend._costs_runs_changed() IS
    'Internal: statement trigger of aispend.sync_runs; when the settlement horizon of an account '
    '(aispend.settled_before) moves, marks the days between the old and the new horizon dirty.';

CREATE TRIGGER sync_runs_settle_ins AFTER INSERT ON aispend.sync_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();
CREATE TRIGGER sync_runs_settle_upd AFTER UPDATE ON aispend.sync_runs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();
CREATE TRIGGER sync_runs_settle_del AFTER DELETE ON aispend.sync_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();

-- ---------------------------------------------------------------- prices

CREATE FUNCTION aispend._model_prices_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a name;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        FOR a IN SELECT s.account FROM aispend._rollup_state s LOOP
            PERFORM aispend._mark_all_days(a);
        END LOOP;
        RETURN NULL;
    END IF;
    IF pg_catalog.to_regclass('pg_temp.aispend_rules_changed') IS NULL THEN
        CREATE TEMP TABLE aispend_rules_changed (provider text, match_kind text, pattern text, valid_from date,
                                                 valid_to date) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.aispend_rules_changed;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO pg_temp.aispend_rules_changed
        SELECT o.provider, o.match_kind, o.pattern, o.valid_from, o.valid_to FROM old_rows o;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO pg_temp.aispend_rules_changed
        SELECT n.provider, n.match_kind, n.pattern, n.valid_from, n.valid_to FROM new_rows n;
    END IF;
    -- the usage days of every (account, model) a changed rule matches, within the rule's validity
    INSERT INTO aispend._dirty_days (account, day)
    SELECT DISTINCT u.account, (u.bucket_start AT TIME ZONE 'UTC')::date
    FROM (SELECT DISTINCT m.account, m.model, r.valid_from, r.valid_to
          FROM pg_temp.aispend_rules_changed r
          JOIN aispend._account_providers() p ON p.provider = r.provider
          JOIN aispend.models m ON m.account = p.account
          WHERE aispend._price_rule_matches(r.match_kind, r.pattern, m.model)) x
    JOIN aispend.usage u ON u.account = x.account AND u.model = x.model
     AND u.bucket_start >= aispend._utc_day_start(x.valid_from)
     AND (x.valid_to IS NULL OR u.bucket_start < aispend._utc_day_start(x.valid_to))
    ON CONFLICT ON CONSTRAINT _dirty_days_pkey DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._model_prices_changed() IS
    'Internal: statement trigger of aispend.model_prices; marks dirty the usage days of every model an inserted, '
    'updated or deleted rule matches (old and new rule, within its validity); TRUNCATE marks everything.';

CREATE TRIGGER model_prices_rollup_ins AFTER INSERT ON aispend.model_prices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_upd AFTER UPDATE ON aispend.model_prices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_del AFTER DELETE ON aispend.model_prices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_trunc AFTER TRUNCATE ON aispend.model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();

-- ---------------------------------------------------------------- re-roll at commit

CREATE FUNCTION aispend._reroll_at_commit()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._reroll(NEW.account);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._reroll_at_commit() IS
    'Internal: deferred constraint trigger of aispend._dirty_days; re-rolls the marked days of the account at COMMIT.';

CREATE CONSTRAINT TRIGGER dirty_days_reroll AFTER INSERT ON aispend._dirty_days
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION aispend._reroll_at_commit();

REVOKE ALL ON FUNCTION aispend._mark_days(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._mark_all_days(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._note_model(name, text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._mark_settlement_moved(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._facts_written(name, date[], text[], timestamptz[], timestamptz[]) FROM PUBLIC;
