-- 35_schedule.sql: pg_cron helpers. pg_cron is recommended, not required: everything below reaches it through
-- dynamic SQL, so the extension installs (and aispend.sync works) without it. See docs/scheduling.md.

-- Raises a clear error when pg_cron cannot be used from this database.
CREATE FUNCTION aispend._require_cron(job_name text, cron_expression text, command text)
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
CREATE FUNCTION aispend._schedule(job_name text, cron_expression text, command text, database name, username name)
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

CREATE FUNCTION aispend.schedule_sync(cron_expression text DEFAULT '0 * * * *',
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

CREATE FUNCTION aispend.unschedule_sync(job_name text DEFAULT 'aispend-sync', username name DEFAULT NULL)
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
