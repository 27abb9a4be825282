-- aispend 0.3.0 -> 0.4.0: alerts (budget thresholds and forecasts, spikes, failed or stale syncs) evaluated by
-- the sync and pg_cron, delivered by NOTIFY and webhooks (docs/upgrading.md, docs/alerts.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.4.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.4.0'" to load this file. \quit

-- ---- what changes shape
DROP FUNCTION aispend._require_cron(text, text);
DROP FUNCTION aispend._report_daily(text, text, date[], numeric[]);

-- ---- from 00_foundation.sql
CREATE FUNCTION aispend._post_webhook(url text, body text, OUT http_status integer, OUT attempts integer, OUT error text)
    AS 'MODULE_PATHNAME', 'aispend_post_webhook' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._post_webhook(text, text) IS 'Internal: posts a JSON body to a webhook URL in aispend.webhook_hosts (retries included); every failure is a row: http_status (NULL without a response), attempts made, and an error text that never holds the URL';
REVOKE ALL ON FUNCTION aispend._post_webhook(text, text) FROM PUBLIC;

-- ---- from 30_sync.sql (the end of a sync, and the sync that calls it)
-- The alert rules see the new figures: evaluated, committed, then the webhooks posted (73_alerts.sql). Nothing
-- here fails the sync: an error becomes a warning. A role that cannot write alerts (not an admin) skips it.
CREATE PROCEDURE aispend._after_sync()
LANGUAGE plpgsql
AS $$
DECLARE
    v_msg text;
BEGIN
    IF NOT pg_catalog.has_table_privilege('aispend.alerts', 'INSERT') THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM aispend.evaluate_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert rules not evaluated: %', v_msg;
    END;
    COMMIT;
    BEGIN
        PERFORM aispend.deliver_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert webhooks not posted: %', v_msg;
    END;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE aispend._after_sync() IS
    'Internal: the end of a sync: evaluate the alert rules and post their webhooks, warning (never failing) on error.';

CREATE OR REPLACE PROCEDURE aispend.sync(account name DEFAULT NULL, since timestamptz DEFAULT NULL,
                              until timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_only name := account;
    v_since timestamptz := since;
    v_until timestamptz := until;
    v_accounts name[];
    v_acct name;
    v_cfg record;
    v_now timestamptz;
    v_win record;
    v_from timestamptz;
    v_to timestamptz;
    v_ep text;
    v_state text; v_msg text; v_detail text; v_hint text;
    v_first_state text; v_first_msg text; v_first_detail text; v_first_hint text;
    v_failed name[] := '{}';
    v_mine boolean;
BEGIN
    IF v_since IS NOT NULL AND v_until IS NOT NULL AND v_since >= v_until THEN
        RAISE EXCEPTION 'aispend: since (%) must be before until (%)', v_since, v_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_only IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s;
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
            UPDATE aispend.sync_runs r
               SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(),
                   error_message = coalesce(r.error_message,
                                            'interrupted: the sync was cancelled or its session ended before it finished')
             WHERE r.account = v_acct AND r.status = 'running';
            COMMIT;

            v_now := pg_catalog.clock_timestamp();
            FOREACH v_ep IN ARRAY ARRAY['workspaces', 'api_keys', 'usage', 'costs'] LOOP
                IF v_ep IN ('workspaces', 'api_keys') THEN
                    CALL aispend._sync_step(v_acct, v_cfg.provider, v_ep, NULL, NULL, NULL,
                                            v_state, v_msg, v_detail, v_hint);
                    EXIT WHEN v_state IS NOT NULL;
                    CONTINUE;
                END IF;
                SELECT * INTO v_win FROM aispend._sync_window(v_acct, v_ep, v_cfg.bucket_width, v_cfg.backfill_days,
                                                              v_cfg.resync_days, v_since, v_until, v_now);
                IF v_win.w_start >= v_win.w_end THEN
                    RAISE NOTICE 'aispend: % %: nothing to sync in%', v_acct, v_ep,
                        aispend._fmt_window(v_win.w_start, v_win.w_end);
                    CONTINUE;
                END IF;
                -- Chunks of at most one calendar month (UTC), each committed on its own.
                v_from := v_win.w_start;
                WHILE v_from < v_win.w_end LOOP
                    v_to := LEAST(v_win.w_end,
                                  aispend._utc_add(aispend._bucket_floor(v_from, 'month'), interval '1 month'));
                    CALL aispend._sync_step(v_acct, v_cfg.provider, v_ep, v_from, v_to, v_cfg.bucket_width,
                                            v_state, v_msg, v_detail, v_hint);
                    EXIT WHEN v_state IS NOT NULL;
                    v_from := v_to;
                END LOOP;
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
$$;
COMMENT ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) IS
    'Syncs workspaces, API keys, usage and costs of one account (default: every aispend server) for a window '
    '(default: backfill on the first sync, then resync_days plus everything since the last complete bucket). '
    'COMMITs per endpoint and month chunk; CALL it outside a transaction block. See docs/sync.md.';

-- ---- from 35_schedule.sql
-- Raises a clear error when pg_cron cannot be used from this database.
CREATE OR REPLACE FUNCTION aispend._require_cron(job_name text, cron_expression text, command text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_cron_db text;
BEGIN
    IF pg_catalog.to_regnamespace('cron') IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        v_cron_db := pg_catalog.current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        v_cron_db := NULL;
    END;
    IF v_cron_db IS NULL OR v_cron_db = '' THEN
        RAISE EXCEPTION 'aispend: pg_cron is not available'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Install pg_cron (Debian: postgresql-15-cron), add it to shared_preload_libraries, set '
                         'cron.database_name, restart PostgreSQL, then CREATE EXTENSION pg_cron in that database. '
                         'See docs/scheduling.md.';
    END IF;
    RAISE EXCEPTION 'aispend: pg_cron is not installed in database %', pg_catalog.current_database()
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = pg_catalog.format('pg_cron runs in database %s (cron.database_name).', v_cron_db),
              HINT = CASE WHEN v_cron_db = pg_catalog.current_database()
                          THEN 'CREATE EXTENSION pg_cron; (as a superuser), then call this again.'
                          ELSE pg_catalog.format(
                              'Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                              v_cron_db, job_name, cron_expression, command,
                              pg_catalog.current_database()) END;
END
$$;

-- A pg_cron job running command (created or replaced); schedule_sync and schedule_alerts name theirs.
CREATE OR REPLACE FUNCTION aispend._schedule(job_name text, cron_expression text, command text, database name, username name)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_db name := coalesce(_schedule.database, pg_catalog.current_database());
    v_user name := coalesce(_schedule.username, CURRENT_USER);
    v_cmd text := command;
    v_job bigint;
    v_exists boolean;
BEGIN
    IF cron_expression IS NULL OR job_name IS NULL THEN
        RAISE EXCEPTION 'aispend: cron_expression and job_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM aispend._require_cron(job_name, cron_expression, command);
    -- pg_cron before 1.6.3 cannot move an existing job name to another database: unschedule, then schedule.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = $2)'
        INTO v_exists USING job_name, v_user::text;
    IF v_exists THEN
        PERFORM aispend.unschedule_sync(job_name, v_user);
    END IF;
    IF v_db = pg_catalog.current_database() AND v_user = CURRENT_USER THEN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO v_job USING job_name, cron_expression, v_cmd;
    ELSE
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO v_job
            USING job_name, cron_expression, v_cmd, v_db::text, v_user::text;
    END IF;
    RAISE NOTICE 'aispend: pg_cron job % (id %) runs "%" in database % as % at "%" (UTC)',
        job_name, v_job, v_cmd, v_db, v_user, cron_expression;
    RETURN v_job;
END
$$;
COMMENT ON FUNCTION aispend._schedule(text, text, text, name, name) IS
    'Internal: creates (or replaces) a pg_cron job running a command in a database as a role; returns the job id.';

CREATE OR REPLACE FUNCTION aispend.schedule_sync(cron_expression text DEFAULT '0 * * * *',
                                      job_name text DEFAULT 'aispend-sync',
                                      database name DEFAULT NULL,
                                      username name DEFAULT NULL)
RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend._schedule(schedule_sync.job_name, schedule_sync.cron_expression, 'CALL aispend.sync()',
                             schedule_sync.database, schedule_sync.username);
END;
COMMENT ON FUNCTION aispend.schedule_sync(text, text, name, name) IS
    'Creates (or replaces) the pg_cron job that runs CALL aispend.sync(); database/username default to the current '
    'ones (another database: call it from pg_cron''s database, where cron.schedule_in_database is used). Returns the job id.';

CREATE OR REPLACE FUNCTION aispend.unschedule_sync(job_name text DEFAULT 'aispend-sync', username name DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_user name := coalesce(unschedule_sync.username, CURRENT_USER);
    v_job bigint;
BEGIN
    PERFORM aispend._require_cron(job_name, '0 * * * *', 'CALL aispend.sync()');
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND username = $2 ORDER BY jobid LIMIT 1'
        INTO v_job USING job_name, v_user::text;
    IF v_job IS NULL THEN
        RAISE NOTICE 'aispend: no pg_cron job named % for role %', job_name, v_user;
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend.unschedule_sync(text, name) IS
    'Removes the pg_cron job created by aispend.schedule_sync; false (with a notice) when there is none.';

REVOKE ALL ON FUNCTION aispend._require_cron(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._schedule(text, text, text, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.schedule_sync(text, text, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.unschedule_sync(text, name) FROM PUBLIC;

-- ---- from 71_anomalies.sql
-- 71_anomalies.sql: spike detection. The cost of every API key, workspace (by the name shown) and model per UTC
-- day against a robust baseline of its own recent history. See docs/alerts.md "Spikes".
--
-- For a day d of an entity:
--   window     the 28 days before d;
--   expected   the median of the window's days of d's type (weekdays, or Saturdays and Sundays), or of all 28 when
--              fewer than 6 of them have spend (a weekend-only key, a young key);
--   scale      1.4826 x the median absolute deviation from it (the standard deviation of normal noise), at least
--              a tenth of expected and a cent;
--   score      (observed - expected) / scale;
--   spike      score >= min_score, observed - expected >= min_cost and observed >= min_ratio x expected;
--   new        fewer than 7 days with spend in the window and observed >= min_cost (and min_ratio x expected):
--              a key or workspace that starts spending heavily, or comes back after weeks;
--   recurring  (not listed) a spike on a day of the month whose cost was over both cost thresholds (min_ratio x
--              expected, min_cost over it) on that day of each of the two months before: a monthly job is a
--              pattern, not an anomaly.

-- The baselines of days idx (indexes into costs; costs[1] is first_day's cost), set-based. The exact median of
-- a group is the mean of percentile_disc(0.5) read upwards and downwards (percentile_cont computes in floats).
CREATE FUNCTION aispend._baselines(costs numeric[], first_day date, idx integer[])
RETURNS TABLE (i integer, expected numeric, scale numeric, active_days integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH w AS (
        SELECT x.i, costs[j] AS c,
               (pg_catalog.date_part('isodow', first_day + j - 1) >= 6)
                   = (pg_catalog.date_part('isodow', first_day + x.i - 1) >= 6) AS same_type
        FROM pg_catalog.unnest(idx) AS x(i)
        CROSS JOIN LATERAL pg_catalog.generate_series(GREATEST(1, x.i - 28), x.i - 1) AS j),
    g AS (
        SELECT w.i, count(*) FILTER (WHERE w.same_type AND w.c <> 0) >= 6 AS by_type,
               (count(*) FILTER (WHERE w.c <> 0))::integer AS active
        FROM w GROUP BY w.i),
    s AS (
        SELECT w.i, w.c FROM w JOIN g ON g.i = w.i WHERE w.same_type OR NOT g.by_type),
    m AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c)
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c DESC)) / 2 AS med
        FROM s GROUP BY s.i),
    d AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med))
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med) DESC)) / 2 AS mad
        FROM s JOIN m ON m.i = s.i GROUP BY s.i)
    SELECT m.i, m.med, GREATEST(1.4826 * d.mad, m.med / 10, 0.01), g.active
    FROM m JOIN d ON d.i = m.i JOIN g ON g.i = m.i;
END;
COMMENT ON FUNCTION aispend._baselines(numeric[], date, integer[]) IS
    'Internal: for days idx of a daily series (costs[1] is first_day), the expected cost (the exact median of the '
    '28 days before, of the day''s type: weekday or weekend, all 28 when fewer than 6 of that type have spend), the '
    'scale (1.4826 x MAD, at least a tenth of expected and a cent) and the days with spend in the 28.';

-- Whether day i of a series is flagged against its baseline (the rule of this file's header).
CREATE FUNCTION aispend._is_flagged(observed numeric, expected numeric, scale numeric, active_days integer,
                                    min_score numeric, min_cost numeric, min_ratio numeric)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN observed - expected >= min_cost AND observed >= min_ratio * expected
       AND (active_days < 7 OR (observed - expected) / scale >= min_score);
COMMENT ON FUNCTION aispend._is_flagged(numeric, numeric, numeric, integer, numeric, numeric, numeric) IS
    'Internal: a day is a spike (or new spending, with fewer than 7 days of spend before) above the thresholds.';

-- The flagged days (from index from_i on) of one entity's daily series starting on first_day.
CREATE FUNCTION aispend._anomaly_points(costs numeric[], first_day date, from_i integer, min_score numeric,
                                        min_cost numeric, min_ratio numeric)
RETURNS TABLE (day date, observed numeric, expected numeric, ratio numeric, score numeric, flag text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH f AS (
        SELECT b.i, first_day + b.i - 1 AS day, costs[b.i] AS observed, b.expected, b.scale,
               CASE WHEN b.active_days < 7 THEN 'new' ELSE 'spike' END AS flag
        FROM aispend._baselines(costs, first_day,
                                ARRAY(SELECT pg_catalog.generate_series(GREATEST(2, from_i),
                                                                        pg_catalog.cardinality(costs)))) b
        WHERE aispend._is_flagged(costs[b.i], b.expected, b.scale, b.active_days, min_score, min_cost, min_ratio)),
    -- the same day of the month, one and two months before each spike: over both cost thresholds in both, a pattern
    before AS (
        SELECT f.i, ((f.day - pg_catalog.make_interval(months => m.n))::date - first_day + 1) AS j
        FROM f CROSS JOIN (VALUES (1), (2)) AS m(n)
        WHERE f.flag = 'spike'),
    recurring AS (
        SELECT before.i
        FROM before
        JOIN aispend._baselines(costs, first_day, ARRAY(SELECT DISTINCT before.j FROM before WHERE before.j >= 2)) b
          ON b.i = before.j
        WHERE costs[b.i] >= min_ratio * b.expected AND costs[b.i] - b.expected >= min_cost AND b.active_days >= 7
        GROUP BY before.i HAVING count(*) = 2)
    SELECT f.day, f.observed, f.expected,
           CASE WHEN f.expected > 0 THEN pg_catalog.round(f.observed / f.expected, 2) END,
           CASE WHEN f.flag = 'spike' THEN pg_catalog.round((f.observed - f.expected) / f.scale, 1) END,
           f.flag
    FROM f
    WHERE f.i NOT IN (SELECT recurring.i FROM recurring)
    ORDER BY f.day;
END;
COMMENT ON FUNCTION aispend._anomaly_points(numeric[], date, integer, numeric, numeric, numeric) IS
    'Internal: the spikes and new spending of one daily cost series (costs[1] is first_day) on the days from index '
    'from_i on, by the method of docs/alerts.md; a spike whose day of the month was over both cost thresholds in each '
    'of the two months before is a monthly pattern and is left out.';

-- The cost per UTC day of every API key, workspace name and model in [from_day, to_day], zero-filled, one array
-- per entity (row-level security applies: a team sees its own).
CREATE FUNCTION aispend._entity_series(from_day date, to_day date, kind text, provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH r AS (
        SELECT e.kind, e.id, e.entity, e.account, ap.provider, r.account AS source, r.day, r.cost
        FROM aispend.daily_rollup r
        JOIN aispend._account_providers() ap ON ap.account = r.account
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        -- a key is itself (its account and id: two keys of one name stay apart, a renamed key stays one); a
        -- workspace name and a model combine across accounts, as on the dashboard
        CROSS JOIN LATERAL (VALUES ('api_key', r.api_key_id, coalesce(k.name, r.api_key_id), r.account),
                                   ('workspace', coalesce(w.name, r.workspace_id), coalesce(w.name, r.workspace_id), NULL::name),
                                   ('model', r.model, r.model, NULL::name)) AS e(kind, id, entity, account)
        WHERE r.day >= _entity_series.from_day AND r.day <= _entity_series.to_day
          AND aispend._provider_matches(ap.provider, _entity_series.provider)
          AND (_entity_series.kind IS NULL OR e.kind = _entity_series.kind)),
    per_day AS (
        SELECT r.kind, r.id, r.account, r.day, sum(r.cost) AS cost
        FROM r GROUP BY r.kind, r.id, r.account, r.day),
    -- an account's history starts on its first day of spend (a first sync's backfill)
    starts AS (
        SELECT a.account, (SELECT min(x.day) FROM aispend.daily_rollup x WHERE x.account = a.account) AS first_day
        FROM (SELECT DISTINCT r.source AS account FROM r) a),
    ents AS (
        SELECT r.kind, r.id, r.account, min(r.entity) AS entity,
               pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider, max(starts.first_day) AS history_from
        FROM r JOIN starts ON starts.account = r.source GROUP BY r.kind, r.id, r.account)
    SELECT ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from,
           pg_catalog.array_agg(coalesce(per_day.cost, 0) ORDER BY d.day)
    FROM ents
    CROSS JOIN pg_catalog.generate_series(_entity_series.from_day::timestamp, _entity_series.to_day::timestamp,
                                          interval '1 day') AS d(day)
    LEFT JOIN per_day ON per_day.kind = ents.kind AND per_day.id = ents.id
                     AND per_day.account IS NOT DISTINCT FROM ents.account AND per_day.day = d.day::date
    GROUP BY ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from;
END;
COMMENT ON FUNCTION aispend._entity_series(date, date, text, text) IS
    'Internal: the exact cost per UTC day of [from_day, to_day] of every API key (by account and id, with its name), '
    'workspace name and model, zero-filled, as one array per entity, and the first day of data of its accounts (the '
    'latest of them).';

CREATE FUNCTION aispend._check_anomaly_kind(kind text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF kind IS NOT NULL AND kind NOT IN ('api_key', 'workspace', 'model') THEN
        RAISE EXCEPTION 'aispend: unknown kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use api_key, workspace, model, or NULL for all three.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_anomaly_kind(text) IS 'Internal: 22023 unless kind is api_key, workspace, model or NULL.';

-- Spikes and new spending on the complete days of a period (today, still being billed, is left out).
CREATE FUNCTION aispend.anomalies(period daterange DEFAULT aispend.period('last_30_days'), kind text DEFAULT NULL,
                                  provider text DEFAULT 'all', min_score numeric DEFAULT 3.5,
                                  min_cost numeric DEFAULT 10, min_ratio numeric DEFAULT 1.5)
RETURNS TABLE (day date, kind text, entity text, account name, provider text, observed numeric, expected numeric,
               ratio numeric, score numeric, flag text, entity_id text)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH p AS (
        SELECT pg_catalog.lower(aispend._check_period(anomalies.period)) AS f,
               LEAST(pg_catalog.upper(anomalies.period), aispend.utc_today()) - 1 AS t
        WHERE aispend._check_anomaly_kind(anomalies.kind)
          AND aispend._check_filters(anomalies.period, anomalies.provider, NULL)),
    -- 28 days of baseline before the period, and two months more for the monthly pattern
    s AS (
        SELECT s.*, p.f - 90 AS first_day, p.f
        FROM p, aispend._entity_series(p.f - 90, p.t, anomalies.kind, anomalies.provider) s
        WHERE p.t >= p.f)
    SELECT a.day, s.kind, s.entity, s.account, s.provider, pg_catalog.round(a.observed, 2),
           pg_catalog.round(a.expected, 2), a.ratio, a.score, a.flag, s.entity_id
    FROM s
    -- a day is judged only with 28 days of its accounts' history before it
    CROSS JOIN LATERAL aispend._anomaly_points(s.costs, s.first_day, GREATEST(s.f, s.history_from + 28) - s.first_day + 1,
                                               anomalies.min_score, anomalies.min_cost,
                                               anomalies.min_ratio) a
    ORDER BY a.day DESC, a.observed - a.expected DESC, s.kind, s.entity;
END;
COMMENT ON FUNCTION aispend.anomalies(daterange, text, text, numeric, numeric, numeric) IS
    'Spikes and new spending per UTC day of a period (complete days) for every API key, workspace name and model '
    '(kind narrows it): observed cost, expected (the median of the 28 days before, of the same day type: weekday or '
    'weekend), ratio, score (robust z-score: excess over 1.4826 x MAD), flag spike or new, entity_id (a key''s id; '
    'the workspace name or the model otherwise). Flagged only above '
    'min_score, min_cost dollars over expected and min_ratio x expected. See docs/alerts.md. Default order: day DESC, '
    'excess DESC.';

-- ---- from 70_report.sql (the budget bar, the spike markers, the report)
-- A budget as a horizontal bar: spent (blue), the forecast band (grey) and the forecast (dark tick) on a scale
-- that holds the amount (the black line) and the band.
CREATE OR REPLACE FUNCTION aispend._report_budget_bar(amount numeric, spent numeric, forecast numeric, low numeric, high numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH s AS (SELECT 200.0 / GREATEST(amount, high, spent, 0.01) AS k)
    SELECT format('<svg class="budget" data-spent="%s" data-forecast="%s" data-amount="%s" width="210" height="16" '
                  'viewBox="0 0 210 16" role="img"><title>spent %s, forecast %s (%s to %s), amount %s</title>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#ddd"/>'
                  '<rect x="%s" y="3" width="%s" height="10" fill="#bbb"/>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#4e79a7"/>'
                  '<rect x="%s" y="1" width="2" height="14" fill="#555"/>'
                  '<rect x="%s" y="0" width="1.5" height="16" fill="#000"/></svg>',
                  spent, forecast, amount, aispend._report_money(spent), aispend._report_money(forecast),
                  aispend._report_money(low), aispend._report_money(high), aispend._report_money(amount),
                  round(200.0, 1), round(s.k * low, 1), round(GREATEST(s.k * (high - low), 1), 1),
                  round(s.k * spent, 1), round(s.k * forecast, 1), round(s.k * amount, 1))
    FROM s;
END;
COMMENT ON FUNCTION aispend._report_budget_bar(numeric, numeric, numeric, numeric, numeric) IS
    'Internal (report): an inline SVG bar of a budget: spent, the forecast band and tick, the amount.';

-- Daily cost as vertical bars, one per UTC day of the period (aispend.daily_series).
CREATE OR REPLACE FUNCTION aispend._report_daily(title text, check_name text, days date[], costs numeric[], marked date[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(days, 1), 0);
    top numeric := 0;
    chart_h constant integer := 160;
    step numeric;
    bar numeric;
    bars text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        top := GREATEST(top, coalesce(costs[i], 0));
    END LOOP;
    step := 560.0 / GREATEST(n, 1);
    FOR i IN 1 .. n LOOP
        bar := CASE WHEN top > 0 THEN round(chart_h * GREATEST(coalesce(costs[i], 0), 0) / top, 1) ELSE 0 END;
        bars := bars || format(
            '<g class="day-item" data-label="%s" data-value="%s"><rect x="%s" y="%s" width="%s" height="%s" '
            'fill="#4e79a7"><title>%s: %s</title></rect></g>',
            days[i], costs[i], round(30 + step * (i - 1), 1), 20 + chart_h - bar, round(GREATEST(step - 1, 1), 1),
            bar, days[i], aispend._report_money(costs[i]));
        -- a spike that day (aispend.anomalies): a red marker above the bar
        IF days[i] = ANY (marked) THEN
            bars := bars || format('<circle class="anomaly" data-label="%s" cx="%s" cy="%s" r="3" fill="#c62828">'
                                   '<title>%s: spike (aispend.anomalies)</title></circle>',
                                   days[i], round(30 + step * (i - 0.5), 1), 20 + chart_h - bar - 5, days[i]);
        END IF;
    END LOOP;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="220" viewBox="0 0 600 220" role="img">'
                  '<title>%s</title><text x="30" y="14" class="small muted">max %s</text>%s'
                  '<text x="30" y="210" class="small">%s</text><text x="590" y="210" class="small num">%s</text>'
                  '</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), aispend.html_escape(title),
                  aispend._report_money(top), bars, coalesce(days[1]::text, ''), coalesce(days[n]::text, ''));
END
$$;
COMMENT ON FUNCTION aispend._report_daily(text, text, date[], numeric[], date[]) IS
    'Internal (report): an inline SVG bar chart of the cost per UTC day, a red marker on the days in marked.';

CREATE OR REPLACE FUNCTION aispend.report_html(period daterange DEFAULT aispend.period('last_30_days'),
                                    provider text DEFAULT 'all', compare_with daterange DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    max_rows constant integer := 50;   -- table rows shown per tab; the rest is counted below the table
    prev daterange;
    ws record;
    ak record;
    md record;
    html text;
    part text;
    n integer;
    labels text[];
    a numeric[];
    b numeric[];
    c numeric[];
    prov text := lower(coalesce(nullif(btrim(provider), ''), 'all'));
    call_args text;
    n_ws integer;
    n_active integer;
    n_renamed integer;
    est_pct numeric;
    days date[];
BEGIN
    prev := aispend._check_period(coalesce(compare_with, aispend.previous_period(aispend._check_period(period))));
    PERFORM aispend._provider_matches('openai', prov);   -- raises for an unknown provider filter
    call_args := format('%L::daterange, %L', period, prov)
                 || CASE WHEN compare_with IS NOT NULL THEN format(', compare_with => %L::daterange', prev) ELSE '' END;

    SELECT * INTO ws FROM aispend.workspaces_summary(period, prov, compare_with => prev);
    SELECT * INTO ak FROM aispend.api_keys_summary(period, prov, compare_with => prev);
    SELECT * INTO md FROM aispend.models_summary(period, prov, compare_with => prev);
    SELECT b.pct_of_cost INTO est_pct FROM aispend.cost_basis_split(period, prov) b WHERE b.cost_basis = 'estimated';
    est_pct := coalesce(est_pct, 0);

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<title>aispend report ' || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</title><style>'
        || 'body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#f6f7f9}'
        || 'h1{margin:0 0 4px;font-size:26px}h2{margin:0 0 12px;font-size:20px;border-bottom:2px solid #4e79a7;padding-bottom:4px}'
        || 'header p{margin:2px 0;color:#555}section{background:#fff;border:1px solid #dde;border-radius:8px;padding:16px 20px;margin:18px 0}'
        || '.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}'
        || '.card{border:1px solid #dde;border-radius:6px;padding:10px 14px;min-width:150px;background:#fbfcfe}'
        || '.card-title{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}'
        || '.card-value{font-size:22px;font-weight:600;margin-top:4px}.card-note{font-size:12px;margin-top:4px;color:#555}'
        || '.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0 0 12px}figcaption{font-weight:600;margin-bottom:4px}'
        || 'svg text{font-size:12px;fill:#222}svg text.num{text-anchor:end}svg text.small{font-size:11px}svg text.muted{fill:#777}'
        || 'table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}'
        || 'th,td{border-bottom:1px solid #e4e6eb;padding:4px 8px;text-align:left}th{background:#f0f2f6}'
        || 'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
        || '.trend{font-weight:600;white-space:nowrap}.trend.up{color:#c62828}.trend.down{color:#2e7d32}'
        || '.trend.flat{color:#777}.trend.new{color:#1565c0}.trend.incomplete{color:#777;font-style:italic;font-weight:400}'
        || '.star{vertical-align:-2px}.muted{color:#777}'
        || '.note{font-size:12px;color:#666}footer{font-size:12px;color:#666;margin-top:20px}code{font-size:12px}'
        || '</style></head><body>'
        || '<header><h1>aispend · Provider Dashboard</h1>'
        || '<p data-check="period" data-value="' || aispend.html_escape(period::text) || '">Period: <b>'
        || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</b> ('
        || (upper(period) - lower(period)) || ' UTC days), compared with '
        || aispend.html_escape(aispend.period_first_day(prev)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(prev)::text) || '</p>'
        || '<p>Provider: <b>' || aispend.html_escape(prov) || '</b> · generated '
        || aispend.html_escape(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC') || '</p></header>';

    -- ---- Workspaces
    html := html || '<section id="workspaces"><h2>Workspaces</h2><div class="cards">'
        || aispend._report_card('workspaces_summary.total_cost', 'Total Cost', aispend._report_money(ws.total_cost),
                                ws.total_cost::text,
                                aispend._report_trend(ws.trend, ws.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ws.previous_total_cost)))
        || aispend._report_card('workspaces_summary.active_workspaces', 'Active Workspaces',
                                aispend._report_int(ws.active_workspaces), ws.active_workspaces::text)
        -- a card per provider in view (none for a provider the filter leaves out; other only when it has cost)
        || CASE WHEN prov IN ('all', 'openai')
                THEN aispend._report_card('workspaces_summary.openai_cost', 'OpenAI',
                                          aispend._report_money(ws.openai_cost), ws.openai_cost::text)
                ELSE '' END
        || CASE WHEN prov IN ('all', 'anthropic')
                THEN aispend._report_card('workspaces_summary.anthropic_cost', 'Anthropic',
                                          aispend._report_money(ws.anthropic_cost), ws.anthropic_cost::text)
                ELSE '' END
        || CASE WHEN prov = 'other' OR prov = 'all' AND ws.other_cost <> 0
                THEN aispend._report_card('workspaces_summary.other_cost', 'Other providers',
                                          aispend._report_money(ws.other_cost), ws.other_cost::text)
                ELSE '' END
        || aispend._report_card('cost_basis.estimated_pct', 'Estimated',
                                aispend._report_pct(est_pct), coalesce(est_pct::text, ''),
                                'of the cost is estimated from list prices (bill not settled yet)')
        || aispend._report_card('workspaces_summary.requests', 'Requests', aispend._report_int(ws.requests),
                                coalesce(ws.requests::text, ''))
        || aispend._report_card('workspaces_summary.tokens', 'Tokens', aispend._report_int(ws.tokens), ws.tokens::text)
        || '</div><div class="charts">';
    SELECT array_agg(t.provider ORDER BY t.cost DESC, t.provider), array_agg(t.cost ORDER BY t.cost DESC, t.provider),
           array_agg(t.pct_of_total ORDER BY t.cost DESC, t.provider)
      INTO labels, a, c
      FROM aispend.workspaces_by_provider(period, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by Provider', 'workspaces_by_provider', labels, a, c);
    SELECT array_agg(t.name ORDER BY t.current_cost DESC, t.name), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.name),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.name)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.workspaces_vs_previous(period, prov, compare_with => prev) v
            ORDER BY v.current_cost DESC, v.name LIMIT 10) t;
    html := html || aispend._report_bars('Current vs Previous Period (top 10 workspaces)', 'workspaces_vs_previous',
                                         labels, a, b);
    SELECT array_agg(d.day ORDER BY d.day), array_agg(d.cost ORDER BY d.day) INTO days, a
      FROM aispend.daily_series(period, prov) d;
    html := html || aispend._report_daily('Cost per Day (red: a spike, aispend.anomalies)', 'daily_series', days, a,
                                          ARRAY(SELECT DISTINCT x.day FROM aispend.anomalies(period, NULL, prov) x))
                 || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.name) || '</td><td>' || aispend.html_escape(t.provider)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.cost DESC, t.name),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.workspaces_table(period, prov, compare_with => prev) x
            ORDER BY x.cost DESC, x.name LIMIT max_rows) t;
    html := html || '<table data-check="workspaces_table"><thead><tr><th>Name</th><th>Provider</th>'
        || '<th class="num">Cost</th><th class="num">% of Total</th><th class="num">Requests</th>'
        || '<th class="num">Tokens</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.workspaces_table(' || aispend.html_escape(call_args) || ') ORDER BY cost DESC, name;</p>'
                ELSE '' END
        || '</section>';

    -- ---- API keys
    html := html || '<section id="api-keys"><h2>API Keys</h2><div class="cards">'
        || aispend._report_card('api_keys_summary.total_cost', 'Total Cost', aispend._report_money(ak.total_cost),
                                ak.total_cost::text,
                                aispend._report_trend(ak.trend, ak.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ak.previous_total_cost)))
        || aispend._report_card('api_keys_summary.active_keys', 'Active API Keys', aispend._report_int(ak.active_keys),
                                ak.active_keys::text)
        || aispend._report_card('api_keys_summary.total_requests', 'Total Requests',
                                aispend._report_int(ak.total_requests), coalesce(ak.total_requests::text, ''))
        || aispend._report_card('api_keys_summary.tokens', 'Tokens', aispend._report_int(ak.tokens), ak.tokens::text)
        || aispend._report_card('api_keys_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(ak.avg_cost_per_1m), coalesce(ak.avg_cost_per_1m::text, ''))
        || '</div><div class="charts">';
    SELECT array_agg(CASE WHEN t.label = 'Other keys' THEN 'Other keys (' || t.keys || ')' ELSE t.label END ORDER BY t.rank),
           array_agg(t.cost ORDER BY t.rank), array_agg(t.pct_of_total ORDER BY t.rank)
      INTO labels, a, c
      FROM aispend.api_keys_top(period, 10, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by API Key (top 10)', 'api_keys_top', labels, a, c);
    SELECT array_agg(t.api_key || ' (' || t.workspace || ')' ORDER BY t.rn), array_agg(t.current_cost ORDER BY t.rn),
           array_agg(t.previous_cost ORDER BY t.rn)
      INTO labels, a, b
      FROM (SELECT v.*, row_number() OVER (ORDER BY v.current_cost DESC, v.api_key, v.account, v.workspace_id,
                                                    v.api_key_id) AS rn
            FROM aispend.api_keys_vs_previous(period, prov, compare_with => prev) v) t
     WHERE t.rn <= 10;
    html := html || aispend._report_bars('API Key Cost Comparison (top 10 keys)', 'api_keys_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.api_key) || '</td><td>' || aispend.html_escape(t.kind)
                      || '</td><td>' || aispend.html_escape(t.workspace)
                      || '</td><td><code>' || aispend.html_escape(t.key_hint) || '</code></td><td>'
                      || aispend.html_escape(t.provider) || '</td><td>' || aispend.html_escape(t.status)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_int(t.tokens) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.rn),
           max(t.total)
      INTO part, n
      -- the tab's own order (WITH ORDINALITY); keys without use are left out, so that 50 rows always reach
      -- the rows that are not keys
      FROM (SELECT x.*, x.ordinality AS rn, count(*) OVER () AS total
            FROM aispend.api_keys_table(period, prov, include_unused => false, compare_with => prev)
                 WITH ORDINALITY AS x) t
     WHERE t.rn <= max_rows;
    html := html || '<table data-check="api_keys_table"><thead><tr><th>API Key</th><th>Kind</th><th>Workspace</th><th>Key Hint</th>'
        || '<th>Provider</th><th>Status</th><th class="num">Cost</th><th class="num">Tokens</th>'
        || '<th class="num">Requests</th><th class="num">Cost/1M</th><th class="num">% of Total</th><th>Trend</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.api_keys_table(' || aispend.html_escape(call_args) || ', include_unused => false);</p>'
                ELSE '' END
        || '</section>';

    -- ---- Models
    html := html || '<section id="models"><h2>Models</h2><div class="cards">'
        || aispend._report_card('models_summary.total_cost', 'Total Cost', aispend._report_money(md.total_cost),
                                md.total_cost::text,
                                aispend._report_trend(md.trend, md.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(md.previous_total_cost)))
        || aispend._report_card('models_summary.model_count', 'Models', aispend._report_int(md.model_count),
                                md.model_count::text)
        || aispend._report_card('models_summary.total_requests', 'Total Requests',
                                aispend._report_int(md.total_requests), coalesce(md.total_requests::text, ''))
        || aispend._report_card('models_summary.tokens', 'Tokens', aispend._report_int(md.tokens), md.tokens::text)
        || aispend._report_card('models_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(md.avg_cost_per_1m), coalesce(md.avg_cost_per_1m::text, ''))
        || aispend._report_card('models_summary.most_efficient_model', 'Most Efficient',
                                coalesce(md.most_efficient_model, '—'), coalesce(md.most_efficient_model, ''),
                                aispend._report_star() || ' lowest cost per 1M tokens (chat models)')
        || '</div><div class="charts">';
    -- The pie shows the nine costliest models; the rest is one grey slice.
    SELECT array_agg(t.label ORDER BY t.grp), array_agg(t.cost ORDER BY t.grp), array_agg(t.pct ORDER BY t.grp)
      INTO labels, a, c
      FROM (SELECT g.grp, CASE WHEN g.grp <= 9 OR count(*) = 1 THEN min(g.model)
                               ELSE 'Other (' || count(*) || ' models)' END AS label,
                   sum(g.cost) AS cost, sum(g.pct_of_total) AS pct
              FROM (SELECT x.model, x.cost, x.pct_of_total,
                           LEAST(row_number() OVER (ORDER BY x.cost DESC, x.model), 10) AS grp
                      FROM aispend.models_by_cost(period, prov, compare_with => prev) x) g
             GROUP BY g.grp) t;
    html := html || aispend._report_pie('Cost Distribution by Model', 'models_by_cost', labels, a, c);
    SELECT array_agg(t.model ORDER BY t.current_cost DESC, t.model), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.model),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.model)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.models_vs_previous(period, prov, compare_with => prev) v ORDER BY v.current_cost DESC, v.model LIMIT 10) t;
    html := html || aispend._report_bars('Model Cost Comparison (top 10 models)', 'models_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.model)
                      || CASE WHEN t.most_efficient THEN ' ' || aispend._report_star() ELSE '' END
                      || '</td><td>' || aispend.html_escape(t.class)
                      || '</td><td>' || aispend.html_escape(t.provider) || '</td><td class="num">'
                      || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">' || aispend._report_money(t.cost)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td class="num">'
                      || aispend._report_int(t.requests) || '</td><td class="num">' || aispend._report_pct(t.pct_of_total)
                      || '</td><td>' || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', ''
                      ORDER BY t.cost_per_1m NULLS LAST, t.model),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.models_table(period, prov, compare_with => prev) x
            ORDER BY x.cost_per_1m NULLS LAST, x.model LIMIT max_rows) t;
    html := html || '<table data-check="models_table"><thead><tr><th>Model</th><th>Class</th><th>Provider</th>'
        || '<th class="num">Cost/1M</th><th class="num">Cost</th><th class="num">Tokens</th><th class="num">Requests</th>'
        || '<th class="num">% of Total</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_star() || ' marks the most cost-efficient model of each class: the lowest cost per '
        || 'million tokens among the class''s models with cost and tokens in the period.</p>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.models_table(' || aispend.html_escape(call_args) || ') ORDER BY cost_per_1m NULLS LAST, model;</p>'
                ELSE '' END
        || '</section>';

    -- ---- Savings: what the same tokens would have cost on cheaper models of the same class, and caching
    SELECT string_agg('<tr><td>' || aispend.html_escape(o.api_key) || '</td><td>' || aispend.html_escape(o.workspace)
                      || '</td><td>' || aispend.html_escape(o.model) || '</td><td>' || aispend.html_escape(o.alternative)
                      || '</td><td class="num">' || aispend._report_money(o.list_cost) || '</td><td class="num">'
                      || aispend._report_money(o.repriced_cost) || '</td><td class="num">'
                      || aispend._report_money(o.saving) || '</td><td class="num">' || aispend._report_pct(o.saving_pct)
                      || '</td></tr>', '' ORDER BY o.ordinality)
      INTO part
      FROM aispend.savings_opportunities(period, prov) WITH ORDINALITY AS o
     WHERE o.ordinality <= 10;
    html := html || '<section id="savings"><h2>Savings Opportunities</h2>'
        || '<p class="note">What each key''s own token mix would have cost at the list prices of a cheaper model of the '
        || 'same class that the organisation uses: a re-pricing of token counts, not a judgement of quality.</p>'
        || '<table data-check="savings_opportunities"><thead><tr><th>API Key</th><th>Workspace</th><th>Model</th>'
        || '<th>Alternative</th><th class="num">List cost</th><th class="num">Re-priced</th><th class="num">Saving</th>'
        || '<th class="num">Saving %</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(c.api_key) || '</td><td>' || aispend.html_escape(c.model)
                      || '</td><td class="num">' || aispend._report_int(c.input_tokens) || '</td><td class="num">'
                      || aispend._report_pct(c.cached_pct) || '</td><td class="num">'
                      || aispend._report_money(c.caching_saved) || '</td><td class="num">'
                      || aispend._report_money(c.saving_at_hit_rate) || '</td><td>'
                      || CASE WHEN c.uncached_heavy THEN 'no caching' ELSE '' END || '</td></tr>', ''
                      ORDER BY c.ordinality)
      INTO part
      FROM aispend.cache_efficiency(period, prov) WITH ORDINALITY AS c
     WHERE c.ordinality <= 10;
    html := html || '<table data-check="cache_efficiency"><thead><tr><th>API Key</th><th>Model</th>'
        || '<th class="num">Input tokens</th><th class="num">Cached</th><th class="num">Caching saved</th>'
        || '<th class="num">At a 50% hit rate</th><th>Flag</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table><p class="note">aispend.savings_opportunities and aispend.cache_efficiency have the rest '
        || '(docs/savings.md).</p></section>';

    -- ---- Budgets (their current period, not the report's) and the open alerts
    SELECT string_agg('<tr><td>' || aispend.html_escape(b.name) || '</td><td>' || aispend.html_escape(b.period::text)
                      || '</td><td class="num">' || aispend._report_money(b.amount_usd) || '</td><td class="num">'
                      || aispend._report_money(b.spent) || '</td><td class="num">' || aispend._report_pct(b.pct_used)
                      || '</td><td class="num">' || aispend._report_money(b.forecast) || '</td><td class="num">'
                      || aispend._report_money(b.forecast_low) || ' – ' || aispend._report_money(b.forecast_high)
                      || '</td><td>' || aispend._report_budget_bar(b.amount_usd, b.spent, b.forecast, b.forecast_low,
                                                                    b.forecast_high) || '</td></tr>', '' ORDER BY b.ordinality)
      INTO part
      FROM aispend.budgets_status() WITH ORDINALITY AS b;
    html := html || '<section id="budgets"><h2>Budgets and Alerts</h2>'
        || '<table data-check="budgets_status"><thead><tr><th>Budget</th><th>Period</th><th class="num">Amount</th>'
        || '<th class="num">Spent</th><th class="num">Used</th><th class="num">Forecast</th><th class="num">Band</th>'
        || '<th>Spent (blue), forecast band (grey), amount (line)</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(x.state) || '</td><td>' || aispend.html_escape(x.rule)
                      || '</td><td>' || aispend.html_escape(x.message) || '</td><td>'
                      || aispend.html_escape(to_char(x.first_fired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) || ' UTC'
                      || '</td></tr>', '' ORDER BY x.first_fired, x.id)
      INTO part
      FROM aispend.alerts x WHERE x.state <> 'resolved';
    html := html || '<table data-check="alerts"><thead><tr><th>State</th><th>Rule</th><th>Alert</th><th>Since</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table><p class="note">Budgets in their current '
        || 'period (aispend.budgets_status, docs/budgets.md); alerts firing or acknowledged (aispend.alerts, '
        || 'docs/alerts.md).</p></section>';

    -- ---- Workspace management (the names; not period-dependent)
    SELECT string_agg('<tr><td>' || aispend.html_escape(m.workspace_name)
                      || CASE WHEN m.display_name IS NOT NULL THEN ' <span class="muted">(renamed)</span>' ELSE '' END
                      || '</td><td>' || aispend.html_escape(m.provider) || '</td><td><code>'
                      || aispend.html_escape(m.workspace_id) || '</code></td><td>' || aispend.html_escape(m.provider_name)
                      || '</td><td>' || aispend.html_escape(m.status) || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.created, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.first_seen, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.last_seen, 'YYYY-MM-DD')), '—')
                      || '</td><td class="num">' || m.name_changes || '</td></tr>', ''
                      ORDER BY m.workspace_name, m.account, m.workspace_id),
           count(*), count(*) FILTER (WHERE m.status = 'active'), count(*) FILTER (WHERE m.display_name IS NOT NULL)
      INTO part, n_ws, n_active, n_renamed
      FROM aispend.workspace_management_table(NULL, prov) m;
    html := html || '<section id="workspace-management"><h2>Workspace Management</h2><div class="cards">'
        || aispend._report_card('workspace_management.count', 'Workspaces', aispend._report_int(n_ws), n_ws::text)
        || aispend._report_card('workspace_management.active', 'Active', aispend._report_int(n_active), n_active::text)
        || aispend._report_card('workspace_management.renamed', 'Custom Names', aispend._report_int(n_renamed), n_renamed::text)
        || '</div><table data-check="workspace_management"><thead><tr><th>Workspace Name</th><th>Provider</th>'
        || '<th>Workspace ID</th><th>Provider Name</th><th>Status</th><th>Created</th><th>First Seen</th>'
        || '<th>Last Seen</th><th class="num">Name Changes</th></tr></thead>'
        || '<tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">Created: the provider''s creation date; First Seen: the earlier of Created and the first day '
        || 'with usage or cost; Last Seen: the last day with usage or cost. Rename a workspace: <code>SELECT '
        || 'aispend.rename_workspace(account, workspace_id, ''new name'');</code> (docs/workspace-management.md).</p></section>';

    -- ---- Data freshness: how far each account in view is synced, and what is still an estimate
    SELECT string_agg('<tr><td>' || aispend.html_escape(f.account) || '</td><td>' || aispend.html_escape(f.provider)
                      || '</td><td>' || coalesce(to_char(f.usage_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.costs_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.settled_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(aispend.html_escape(to_char(f.last_sync AT TIME ZONE 'UTC',
                                                                              'YYYY-MM-DD HH24:MI') || ' UTC'), '—')
                      || '</td><td>' || aispend.html_escape(coalesce(f.status, '—')) || '</td></tr>', ''
                      ORDER BY f.account)
      INTO part
      FROM aispend.data_freshness f
     WHERE aispend._provider_matches(f.provider, prov);
    html := html || '<section id="freshness"><h2>Data Freshness</h2>'
        || '<table data-check="data_freshness"><thead><tr><th>Account</th><th>Provider</th><th>Usage complete through</th>'
        || '<th>Costs complete through</th><th>Costs settled through</th><th>Last sync</th><th>Last status</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_pct(est_pct) || ' of the cost in this period is estimated from list prices '
        || '(days whose bill is not settled yet: docs/costs.md). A trend marked "history from" compares with a period '
        || 'older than the synced history.</p></section>';

    html := html || '<footer>Figures from aispend.workspaces_summary / _table / _by_provider / _vs_previous, '
        || 'aispend.api_keys_summary / _table / _top / _vs_previous, aispend.models_summary / _table / _by_cost / '
        || '_vs_previous, aispend.anomalies, aispend.budgets_status, aispend.alerts, '
        || 'aispend.workspace_management_table, aispend.data_freshness and aispend.cost_basis_split '
        || 'for the period above; costs in US dollars, days in UTC. '
        || 'Made with <code>psql -Atc "SELECT aispend.report_html(' || aispend.html_escape(call_args)
        || ')" &gt; report.html</code>.</footer></body></html>' || E'\n';
    RETURN html;
END
$$;
COMMENT ON FUNCTION aispend.report_html(daterange, text, daterange) IS
    'The chart report: one self-contained HTML page (inline SVG and CSS, no JavaScript, no external assets) with '
    'the summary cards, pie charts, current-vs-previous bar charts and tables (trend arrows, efficiency star) of '
    'the Workspaces, API Keys, Models and Workspace Management tabs for a period (default last 30 days, UTC) and a '
    'provider filter (all, openai, anthropic, other), compared with compare_with (default '
    'aispend.previous_period(period); by name: aispend.report_html(''month_to_date'')). Export: psql -Atc "SELECT aispend.report_html()" > report.html';

-- ---- from 72_period_names.sql (the new function's twin)
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset,
               pg_catalog.pg_get_function_arguments(p.oid) AS args,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               p.proargnames[1:x.k - 1] AS before, p.proargnames[x.k + 1:p.pronargs] AS rest
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL (SELECT pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') AS k) x
        WHERE p.pronamespace = 'aispend'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
          AND x.k IS NOT NULL AND p.proargtypes[x.k - 1] = 'daterange'::regtype
          AND p.proname = 'anomalies'   -- the one new function taking a period
        ORDER BY p.proname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION aispend.%I(%s) RETURNS %s LANGUAGE sql STABLE BEGIN ATOMIC %s aispend.%I(%s); END',
            f.proname,
            -- the arguments before period as declared, period as text (no default), those after as declared
            pg_catalog.substr(f.args, 1, pg_catalog.strpos(f.args, 'period daterange') - 1) || 'period text'
            || CASE WHEN pg_catalog.cardinality(f.rest) > 0
                    THEN pg_catalog.substr(f.args, pg_catalog.strpos(f.args, ', ' || f.rest[1] || ' '))
                    ELSE '' END,
            f.result,
            CASE WHEN f.proretset THEN 'SELECT * FROM' ELSE 'SELECT' END,
            f.proname,
            pg_catalog.array_to_string(
                ARRAY(SELECT pg_catalog.quote_ident(a) || ' => ' || pg_catalog.quote_ident(a)
                      FROM pg_catalog.unnest(f.before) AS a)
                || ARRAY['period => aispend.period(period)']
                || ARRAY(SELECT pg_catalog.quote_ident(a) || ' => '
                                || CASE WHEN a = 'compare_with'
                                        THEN 'coalesce(compare_with, aispend.previous_period(period))'
                                        ELSE pg_catalog.quote_ident(a) END
                         FROM pg_catalog.unnest(f.rest) AS a), ', '));
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION aispend.%I(%s) IS %L', f.proname,
            pg_catalog.replace(pg_catalog.pg_get_function_identity_arguments(f.oid), 'period daterange',
                               'period text'),
            'aispend.' || f.proname || ' with the period given by name (aispend.period(period)): '
            || 'last_7_days, last_30_days, month_to_date, previous_month, ... compared with '
            || 'aispend.previous_period(period) unless compare_with says otherwise. See that function.');
    END LOOP;
END
$$;

-- ---- from 73_alerts.sql
-- 73_alerts.sql: alert rules, the alerts they raise and their delivery. See docs/alerts.md.
--
-- aispend.evaluate_alerts() computes every rule's conditions now and moves aispend.alerts through its states:
-- a new condition fires (one row, state firing), a condition that holds keeps its row quiet (last_fired moves),
-- a condition that clears resolves it; acknowledge_alert() silences a firing alert until it resolves. Each
-- change is a NOTIFY on channel aispend_alerts and, for a rule with a webhook, a row in alert_deliveries that
-- aispend.deliver_alerts() posts (aispend._post_webhook, src/pg/webhook.cpp). The sync evaluates and delivers at
-- its end; aispend.schedule_alerts() adds a pg_cron job for the conditions a sync cannot see (a sync that no
-- longer runs).
--
-- Like budgets these tables have no account column: a rule may span accounts (Citus reference tables).

-- ---------------------------------------------------------------- webhooks (secret: admins only)

CREATE TABLE aispend.webhooks (
    name       text        NOT NULL,
    url        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT webhooks_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE aispend.webhooks IS
    'Where alerts are posted (a Slack-compatible JSON body). The URL is a secret: readers cannot select this '
    'table, and no error or log line shows it. Set with aispend.set_webhook().';
COMMENT ON COLUMN aispend.webhooks.name IS 'The webhook''s name, as alert_rules.webhook names it.';
COMMENT ON COLUMN aispend.webhooks.url IS
    'The URL posted to (secret): https, on a host in aispend.webhook_hosts; plain http to loopback only with '
    'aispend.allow_loopback.';
COMMENT ON COLUMN aispend.webhooks.created_at IS 'When it was set.';
COMMENT ON COLUMN aispend.webhooks.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.webhooks', '');

CREATE FUNCTION aispend.set_webhook(name text, url text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- the URL is never echoed: a refusal names the rule it broke, and nothing reaches the INSERT that could fail
    -- with the row in its detail
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'aispend: a webhook needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF url IS NULL OR url !~* '^https?://[^/?#@[:space:]]+(/[^[:space:]]*)?$' THEN
        RAISE EXCEPTION 'aispend: webhook % has no valid URL', coalesce(name, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a URL such as https://hooks.slack.com/services/...; it is stored as a secret.';
    END IF;
    IF url ~* '^http://' AND url !~* '^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$)' THEN
        RAISE EXCEPTION 'aispend: webhook % must use https', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Plain http is allowed to loopback only (and only with aispend.allow_loopback).';
    END IF;
    INSERT INTO aispend.webhooks AS w (name, url) VALUES (set_webhook.name, set_webhook.url)
    ON CONFLICT ON CONSTRAINT webhooks_pkey DO UPDATE
       SET url = excluded.url, created_at = excluded.created_at, created_by = excluded.created_by;
    RETURN name;
END
$$;
COMMENT ON FUNCTION aispend.set_webhook(text, text) IS
    'Sets (or replaces) a webhook alerts are posted to; the URL is stored as a secret (readers cannot see it). '
    'Give it to a rule: aispend.set_alert_rule(..., webhook => name).';

-- ---------------------------------------------------------------- rules

CREATE TABLE aispend.alert_rules (
    name          text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('budget_threshold', 'budget_forecast', 'anomaly',
                                                       'sync_failure', 'stale_data')),
    budget        text,
    anomaly_kind  text        CHECK (anomaly_kind IN ('api_key', 'workspace', 'model')),
    min_score     numeric     NOT NULL DEFAULT 3.5 CHECK (min_score > 0),
    min_cost      numeric     NOT NULL DEFAULT 10 CHECK (min_cost >= 0),
    max_age_hours numeric     NOT NULL DEFAULT 36 CHECK (max_age_hours > 0),
    webhook       text,
    enabled       boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by    name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT alert_rules_pkey PRIMARY KEY (name),
    CONSTRAINT alert_rules_budget_fkey FOREIGN KEY (budget) REFERENCES aispend.budgets (name)
        ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT alert_rules_webhook_fkey FOREIGN KEY (webhook) REFERENCES aispend.webhooks (name)
        ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT alert_rules_budget_kind CHECK (budget IS NULL OR kind IN ('budget_threshold', 'budget_forecast')),
    CONSTRAINT alert_rules_anomaly_kind CHECK (anomaly_kind IS NULL OR kind = 'anomaly')
);
COMMENT ON TABLE aispend.alert_rules IS
    'What raises an alert: budget_threshold (a budget''s spend reached one of its thresholds), budget_forecast (its '
    'forecast exceeds the amount), anomaly (a spike or new spending on the last two complete days, '
    'aispend.anomalies), sync_failure (an account''s latest sync of an endpoint failed), stale_data (no successful '
    'sync for max_age_hours). Managed with aispend.set_alert_rule / drop_alert_rule or plain SQL.';
COMMENT ON COLUMN aispend.alert_rules.name IS 'The rule''s name (unique).';
COMMENT ON COLUMN aispend.alert_rules.kind IS 'budget_threshold, budget_forecast, anomaly, sync_failure or stale_data.';
COMMENT ON COLUMN aispend.alert_rules.budget IS 'For budget rules: the budget watched; NULL watches every budget.';
COMMENT ON COLUMN aispend.alert_rules.anomaly_kind IS 'For anomaly rules: api_key, workspace or model; NULL: all three.';
COMMENT ON COLUMN aispend.alert_rules.min_score IS 'For anomaly rules: the least score (robust z-score) that alerts.';
COMMENT ON COLUMN aispend.alert_rules.min_cost IS 'For anomaly rules: the least excess over expected, US dollars.';
COMMENT ON COLUMN aispend.alert_rules.max_age_hours IS 'For stale_data rules: hours without a successful sync.';
COMMENT ON COLUMN aispend.alert_rules.webhook IS 'The webhook its alerts are posted to (aispend.webhooks); NULL: NOTIFY only.';
COMMENT ON COLUMN aispend.alert_rules.enabled IS 'false: not evaluated (its open alerts resolve).';
COMMENT ON COLUMN aispend.alert_rules.created_at IS 'When the rule was set.';
COMMENT ON COLUMN aispend.alert_rules.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_rules', '');

CREATE FUNCTION aispend.set_alert_rule(name text, kind text, budget text DEFAULT NULL, webhook text DEFAULT NULL,
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
    ON CONFLICT ON CONSTRAINT alert_rules_pkey DO UPDATE
       SET kind = excluded.kind, budget = excluded.budget, webhook = excluded.webhook,
           anomaly_kind = excluded.anomaly_kind, min_score = excluded.min_score, min_cost = excluded.min_cost,
           max_age_hours = excluded.max_age_hours, enabled = excluded.enabled
    RETURNING r.*;
END;
COMMENT ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) IS
    'Sets (or replaces) an alert rule: SELECT aispend.set_alert_rule(''budgets'', ''budget_threshold'') watches '
    'every budget''s thresholds; kinds: budget_threshold, budget_forecast, anomaly, sync_failure, stale_data.';

CREATE FUNCTION aispend.drop_alert_rule(name text)
RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    WITH d AS (DELETE FROM aispend.alert_rules r WHERE r.name = drop_alert_rule.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d);
END;
COMMENT ON FUNCTION aispend.drop_alert_rule(text) IS
    'Removes an alert rule; its open alerts resolve at the next evaluation. false when there was none.';

-- ---------------------------------------------------------------- alerts and their deliveries

CREATE TABLE aispend.alerts (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    rule            text        NOT NULL,
    kind            text        NOT NULL,
    alert_key       text        NOT NULL,
    scope           text        NOT NULL,
    observed        numeric,
    threshold       numeric,
    message         text        NOT NULL,
    details         jsonb,
    state           text        NOT NULL DEFAULT 'firing' CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    first_fired     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_fired      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by name,
    CONSTRAINT alerts_pkey PRIMARY KEY (id)
);
-- one open alert per rule and condition
CREATE UNIQUE INDEX alerts_open_idx ON aispend.alerts (rule, alert_key) WHERE state <> 'resolved';
COMMENT ON TABLE aispend.alerts IS
    'Every alert raised by aispend.alert_rules: firing (the condition holds), acknowledged (it holds, someone has '
    'seen it) or resolved (it cleared). A condition that holds keeps one row; one that clears and comes back is a '
    'new row. Written by aispend.evaluate_alerts().';
COMMENT ON COLUMN aispend.alerts.id IS 'The alert''s id (aispend.acknowledge_alert takes it).';
COMMENT ON COLUMN aispend.alerts.rule IS 'The rule that raised it (aispend.alert_rules.name).';
COMMENT ON COLUMN aispend.alerts.kind IS 'The rule''s kind when it fired.';
COMMENT ON COLUMN aispend.alerts.alert_key IS 'What the condition is about, stable while it holds (budget|period|threshold, kind|account|entity, account|endpoint).';
COMMENT ON COLUMN aispend.alerts.scope IS 'What it is about, for people: a budget, an API key, a workspace, a model, an account.';
COMMENT ON COLUMN aispend.alerts.observed IS 'The value that fired it, last seen: spent or forecast (US dollars), a day''s cost, hours since a sync.';
COMMENT ON COLUMN aispend.alerts.threshold IS 'What it was compared with: the threshold in US dollars, the expected cost, the hours allowed.';
COMMENT ON COLUMN aispend.alerts.message IS 'One line saying what happened.';
COMMENT ON COLUMN aispend.alerts.details IS 'The figures behind it (JSON).';
COMMENT ON COLUMN aispend.alerts.state IS 'firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alerts.first_fired IS 'When the condition was first seen.';
COMMENT ON COLUMN aispend.alerts.last_fired IS 'When it was last seen holding.';
COMMENT ON COLUMN aispend.alerts.resolved_at IS 'When it was seen cleared.';
COMMENT ON COLUMN aispend.alerts.acknowledged_at IS 'When it was acknowledged.';
COMMENT ON COLUMN aispend.alerts.acknowledged_by IS 'Who acknowledged it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts_id_seq', '');

CREATE TABLE aispend.alert_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    alert_id        bigint      NOT NULL,
    event           text        NOT NULL CHECK (event IN ('firing', 'acknowledged', 'resolved')),
    webhook         text        NOT NULL,
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at    timestamptz,
    CONSTRAINT alert_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT alert_deliveries_alert_fkey FOREIGN KEY (alert_id) REFERENCES aispend.alerts (id) ON DELETE CASCADE
);
CREATE INDEX alert_deliveries_pending_idx ON aispend.alert_deliveries (next_attempt_at) WHERE state = 'pending';
COMMENT ON TABLE aispend.alert_deliveries IS
    'The webhook queue and delivery log: one row per alert state change and webhook, posted by '
    'aispend.deliver_alerts() (each run tries up to 4 times in 30 s; a failed run is tried again by a later one, '
    '6 runs at most).';
COMMENT ON COLUMN aispend.alert_deliveries.id IS 'The delivery''s id.';
COMMENT ON COLUMN aispend.alert_deliveries.alert_id IS 'The alert (aispend.alerts.id).';
COMMENT ON COLUMN aispend.alert_deliveries.event IS 'The state the alert moved to: firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alert_deliveries.webhook IS 'The webhook''s name (its URL is never shown).';
COMMENT ON COLUMN aispend.alert_deliveries.body IS 'The JSON posted (Slack-compatible: text, and the alert).';
COMMENT ON COLUMN aispend.alert_deliveries.state IS 'pending, delivered (a 2xx answer) or failed (given up).';
COMMENT ON COLUMN aispend.alert_deliveries.attempts IS 'Delivery runs so far.';
COMMENT ON COLUMN aispend.alert_deliveries.next_attempt_at IS 'When a pending delivery is tried next.';
COMMENT ON COLUMN aispend.alert_deliveries.last_status IS 'The HTTP status of the last attempt (NULL: no answer).';
COMMENT ON COLUMN aispend.alert_deliveries.last_error IS 'Why the last attempt failed (never the URL).';
COMMENT ON COLUMN aispend.alert_deliveries.created_at IS 'When the state change was recorded.';
COMMENT ON COLUMN aispend.alert_deliveries.delivered_at IS 'When it was delivered.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries_id_seq', '');

-- ---------------------------------------------------------------- conditions

-- Every condition that holds now, per enabled rule (row-level security applies: evaluate as an admin).
CREATE FUNCTION aispend.alert_conditions(as_of date DEFAULT aispend.utc_today(), at_time timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rule text, kind text, alert_key text, scope text, observed numeric, threshold numeric, message text,
               details jsonb)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH r AS (SELECT * FROM aispend.alert_rules r WHERE r.enabled),
    budget AS MATERIALIZED (
        SELECT s.*, b.thresholds
        FROM aispend.budgets_status(alert_conditions.as_of) s JOIN aispend.budgets b ON b.name = s.name
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
    fresh AS MATERIALIZED (
        SELECT f.* FROM aispend.freshness f
        WHERE f.server_exists AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('sync_failure', 'stale_data')))
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
END;
COMMENT ON FUNCTION aispend.alert_conditions(date, timestamptz) IS
    'Every condition of the enabled alert rules that holds now: what aispend.evaluate_alerts() would fire or keep '
    'firing. A dry run: it changes nothing.';

-- ---------------------------------------------------------------- the state machine

-- An alert's JSON, as the webhooks carry it (a Slack-compatible body: text, and the alert).
CREATE FUNCTION aispend._alert_payload(a aispend.alerts, event text)
RETURNS jsonb LANGUAGE sql STABLE
RETURN pg_catalog.jsonb_build_object(
    'text', pg_catalog.format('[aispend] %s: %s', pg_catalog.upper(event), a.message),
    'alert', pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'rule', a.rule, 'kind', a.kind,
                                           'scope', a.scope, 'observed', a.observed, 'threshold', a.threshold,
                                           'state', a.state, 'first_fired', a.first_fired,
                                           'last_fired', a.last_fired, 'details', a.details,
                                           'database', pg_catalog.current_database()));
COMMENT ON FUNCTION aispend._alert_payload(aispend.alerts, text) IS
    'Internal: the JSON a webhook is sent of an alert''s state change: {"text": "[aispend] FIRING: ...", "alert": {...}}.';

-- Tells the listeners and queues the webhook of one state change.
CREATE FUNCTION aispend._alert_changed(alert_id bigint, event text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
    v_body jsonb;
BEGIN
    SELECT * INTO a FROM aispend.alerts x WHERE x.id = alert_id;
    v_body := aispend._alert_payload(a, event);
    -- Any role may LISTEN (or NOTIFY) on a channel: it carries the id and the event only, and listeners read the
    -- alert from aispend.alerts, where privileges and row-level security apply.
    PERFORM pg_catalog.pg_notify('aispend_alerts',
        pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'kind', a.kind)::text);
    INSERT INTO aispend.alert_deliveries (alert_id, event, webhook, body)
    SELECT a.id, event, r.webhook, v_body
    FROM aispend.alert_rules r WHERE r.name = a.rule AND r.webhook IS NOT NULL;
END
$$;
COMMENT ON FUNCTION aispend._alert_changed(bigint, text) IS
    'Internal: NOTIFY aispend_alerts with the alert''s id and event, and queue its webhook delivery.';

CREATE FUNCTION aispend.evaluate_alerts(as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (alert_id bigint, event text, rule text, scope text, message text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
SET jit = off
AS $$
DECLARE
    c record;
BEGIN
    -- one evaluation at a time (two syncs ending together would both fire the same condition)
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aispend.evaluate_alerts'));
    FOR c IN
        WITH cond AS MATERIALIZED (SELECT * FROM aispend.alert_conditions(as_of)),
        kept AS (
            UPDATE aispend.alerts a
               SET last_fired = pg_catalog.now(), observed = cond.observed, threshold = cond.threshold,
                   message = cond.message, details = cond.details
              FROM cond
             WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key
            RETURNING a.id),
        fired AS (
            INSERT INTO aispend.alerts (rule, kind, alert_key, scope, observed, threshold, message, details)
            SELECT cond.rule, cond.kind, cond.alert_key, cond.scope, cond.observed, cond.threshold, cond.message,
                   cond.details
            FROM cond
            WHERE NOT EXISTS (SELECT 1 FROM aispend.alerts a
                              WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key)
            RETURNING aispend.alerts.id, 'firing'::text AS event),
        cleared AS (
            UPDATE aispend.alerts a SET state = 'resolved', resolved_at = pg_catalog.now()
             WHERE a.state <> 'resolved'
               AND NOT EXISTS (SELECT 1 FROM cond WHERE cond.rule = a.rule AND cond.alert_key = a.alert_key)
            RETURNING a.id, 'resolved'::text AS event)
        -- (kept runs too: a data-modifying WITH always runs to completion)
        SELECT x.id, x.event FROM (SELECT * FROM fired UNION ALL SELECT * FROM cleared) x ORDER BY x.id
    LOOP
        PERFORM aispend._alert_changed(c.id, c.event);
        RETURN QUERY SELECT a.id, c.event, a.rule, a.scope, a.message FROM aispend.alerts a WHERE a.id = c.id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.evaluate_alerts(date) IS
    'Evaluates every enabled alert rule now: fires new conditions, keeps firing alerts quiet (last_fired moves), '
    'resolves those that cleared; NOTIFY aispend_alerts and queues webhooks for each change, which it returns. '
    'The sync calls it at its end; aispend.check_alerts() evaluates and delivers.';

CREATE FUNCTION aispend.acknowledge_alert(id bigint)
RETURNS aispend.alerts LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
BEGIN
    UPDATE aispend.alerts x SET state = 'acknowledged', acknowledged_at = pg_catalog.now(), acknowledged_by = CURRENT_USER
     WHERE x.id = acknowledge_alert.id AND x.state = 'firing'
    RETURNING x.* INTO a;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'aispend: no firing alert %', acknowledge_alert.id USING ERRCODE = 'no_data_found',
            HINT = 'SELECT id, state, message FROM aispend.alerts WHERE state = ''firing''';
    END IF;
    PERFORM aispend._alert_changed(a.id, 'acknowledged');
    RETURN a;
END
$$;
COMMENT ON FUNCTION aispend.acknowledge_alert(bigint) IS
    'Acknowledges a firing alert: it stays open, quietly, until its condition clears (then it resolves).';

-- ---------------------------------------------------------------- delivery

-- Posts the pending webhook deliveries that are due. A failure is recorded and tried again by a later run
-- (5 minutes, then 10, 20, ...; 6 runs at most), never raised: a sync never fails for a webhook.
CREATE FUNCTION aispend.deliver_alerts(max_deliveries integer DEFAULT 100)
RETURNS TABLE (delivery_id bigint, alert_id bigint, webhook text, state text, http_status integer, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    d record;
    v_url text;
    v_status integer;
    v_attempts integer;
    v_error text;
    v_state text;
    v_failing text[] := '{}';
    v_start timestamptz := pg_catalog.clock_timestamp();
BEGIN
    FOR d IN
        SELECT x.id, x.alert_id, x.webhook, x.body, x.attempts FROM aispend.alert_deliveries x
        WHERE x.state = 'pending' AND x.next_attempt_at <= pg_catalog.now()
          -- an alert's events reach a webhook in order: none overtakes an earlier one still pending
          AND NOT EXISTS (SELECT 1 FROM aispend.alert_deliveries y
                          WHERE y.alert_id = x.alert_id AND y.webhook = x.webhook AND y.state = 'pending' AND y.id < x.id)
        ORDER BY x.id LIMIT max_deliveries
        FOR UPDATE SKIP LOCKED
    LOOP
        -- a webhook that failed in this run is not tried again in it, and a run stops after a minute: a dead
        -- receiver cannot hold up the sync that calls this
        CONTINUE WHEN d.webhook = ANY (v_failing);
        EXIT WHEN pg_catalog.clock_timestamp() - v_start > interval '1 minute';
        v_url := (SELECT w.url FROM aispend.webhooks w WHERE w.name = d.webhook);
        IF v_url IS NULL THEN
            v_status := NULL; v_attempts := 0; v_error := 'the webhook was dropped';
        ELSE
            SELECT r.http_status, r.attempts, r.error INTO v_status, v_attempts, v_error
            FROM aispend._post_webhook(v_url, d.body::text) r;
        END IF;
        -- refused before sending (attempts 0: the host is not allowed) or refused by the receiver (a 4xx other
        -- than 408 and 429): trying again will not help
        v_state := CASE WHEN v_status BETWEEN 200 AND 299 THEN 'delivered'
                        WHEN v_url IS NULL OR v_attempts = 0 OR d.attempts + 1 >= 6
                             OR (v_status BETWEEN 400 AND 499 AND v_status NOT IN (408, 429)) THEN 'failed'
                        ELSE 'pending' END;
        IF v_state <> 'delivered' THEN
            v_failing := v_failing || d.webhook;
        END IF;
        UPDATE aispend.alert_deliveries x
           SET attempts = x.attempts + 1, last_status = v_status, last_error = v_error, state = v_state,
               delivered_at = CASE WHEN v_state = 'delivered' THEN pg_catalog.now() END,
               next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(mins => 5 * (2 ^ x.attempts)::integer)
         WHERE x.id = d.id;
        RETURN QUERY SELECT d.id, d.alert_id, d.webhook, v_state, v_status, v_error;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.deliver_alerts(integer) IS
    'Posts the due webhook deliveries (aispend.alert_deliveries), an alert''s events in order, and records each '
    'outcome. A failure is tried again by a later run (after 5, 10, 20, ... minutes; 6 runs at most), except a '
    'refused host or a 4xx answer (failed at once); it never raises. A run skips a webhook once it failed and '
    'stops after a minute.';

CREATE PROCEDURE aispend.check_alerts()
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM aispend.evaluate_alerts();
    COMMIT;   -- the alerts and their NOTIFY stand whatever the webhooks do
    PERFORM aispend.deliver_alerts();
END
$$;
COMMENT ON PROCEDURE aispend.check_alerts() IS
    'Evaluates the alert rules, COMMITs, then posts the due webhooks: what the pg_cron job of '
    'aispend.schedule_alerts() runs. CALL it outside a transaction block.';

CREATE FUNCTION aispend.schedule_alerts(cron_expression text DEFAULT '*/15 * * * *',
                                        job_name text DEFAULT 'aispend-alerts',
                                        database name DEFAULT NULL, username name DEFAULT NULL)
RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend._schedule(schedule_alerts.job_name, schedule_alerts.cron_expression, 'CALL aispend.check_alerts()',
                             schedule_alerts.database, schedule_alerts.username);
END;
COMMENT ON FUNCTION aispend.schedule_alerts(text, text, name, name) IS
    'Creates (or replaces) the pg_cron job that runs CALL aispend.check_alerts() (default every 15 minutes): '
    'stale data and failed syncs alert even when no sync runs. Remove it with aispend.unschedule_sync(''aispend-alerts'').';

-- Alerts are the organisation's: a team sees none (aispend.grant_team).
ALTER TABLE aispend.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alerts USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alerts IS 'A team (aispend.teams) reads no alerts; other roles read every row.';
ALTER TABLE aispend.alert_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alert_deliveries USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alert_deliveries IS 'A team reads no deliveries; other roles read every row.';

REVOKE ALL ON FUNCTION aispend.set_webhook(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.drop_alert_rule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.evaluate_alerts(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.acknowledge_alert(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.deliver_alerts(integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend.check_alerts() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.schedule_alerts(text, text, name, name) FROM PUBLIC;

-- ---- from 90_roles.sql (readers do not see webhooks)
CREATE OR REPLACE FUNCTION aispend.grant_reader(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    FOR obj IN SELECT c.oid::regclass AS rel
                 FROM pg_class AS c
                WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
                  AND c.relname NOT IN ('accounts', 'sync_runs', 'webhooks')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.rel, role_name);
    END LOOP;
    -- The run log without the providers' error texts (readers see the SQLSTATE; aispend.freshness likewise).
    EXECUTE format('GRANT SELECT (%s) ON aispend.sync_runs TO %I',
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                      FROM pg_attribute AS a
                     WHERE a.attrelid = 'aispend.sync_runs'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                       AND a.attname NOT IN ('error_message', 'error_detail', 'error_hint')),
                   role_name);
    FOR obj IN SELECT f AS fn FROM aispend._reader_functions() AS f LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.fn, role_name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.grant_reader(name) IS 'Lets an existing role read the dashboard: SELECT on aispend tables and views (except accounts, webhooks, and the providers'' error texts in sync_runs), EXECUTE on read-only functions; no sync, no renames, no keys.';

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
