-- Roles: grant functions for an admin role and a read-only BI role. The extension creates no roles itself.

CREATE FUNCTION aispend._reader_functions() RETURNS SETOF regprocedure
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- What a reader may execute: functions that cannot change anything (STABLE or IMMUTABLE), except the
    -- one that tells where keys come from. Everything that writes is VOLATILE and stays with admins.
    SELECT p.oid::regprocedure
      FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'aispend'::regnamespace
       AND p.prokind OPERATOR(pg_catalog.=) 'f'
       AND p.provolatile OPERATOR(pg_catalog.<>) 'v'
       AND p.proname OPERATOR(pg_catalog.<>) ALL (ARRAY['_key_status', '_reader_functions', '_fdw_validator']::name[])
$$;
COMMENT ON FUNCTION aispend._reader_functions() IS 'Internal: the functions aispend.grant_reader() grants EXECUTE on';

CREATE FUNCTION aispend.grant_reader(role_name name) RETURNS void
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

CREATE FUNCTION aispend.grant_admin(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend.grant_admin(name) IS 'Lets an existing role manage aispend: create accounts (servers) and key mappings, sync, schedule, rename; USAGE on every existing aispend server. Re-run after upgrading aispend.';

CREATE FUNCTION aispend.revoke_all(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
$$;
COMMENT ON FUNCTION aispend.revoke_all(name) IS 'Takes back every aispend privilege granted to a role by grant_reader() or grant_admin()';
