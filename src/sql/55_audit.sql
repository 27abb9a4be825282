-- 55_audit.sql: the audit trail. Who changed what and when, kept for good:
--   * aispend.workspace_name_history (54): every name change;
--   * aispend.audit_log: every CREATE / ALTER / DROP of an aispend account (server) or of a user mapping
--     (key mapping) on one, by event triggers. Server options are recorded (they never hold secrets); of a user
--     mapping only the names of its options (admin_key or admin_key_env), never a value.
-- Both are append-only for every role but a superuser: UPDATE, DELETE and TRUNCATE are refused, and a row's
-- author and time are set by the trigger, so a row added by hand still names who added it and when.

CREATE TABLE aispend.audit_log (
    account        name        NOT NULL,
    at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    action         text        NOT NULL,
    object_type    text        NOT NULL,
    object_identity text       NOT NULL,
    details        jsonb,
    by_role        name        NOT NULL DEFAULT CURRENT_USER,
    session_role   name        NOT NULL DEFAULT SESSION_USER
);
CREATE INDEX audit_log_account_idx ON aispend.audit_log (account, at);
COMMENT ON TABLE aispend.audit_log IS
    'Append-only log of changes to aispend accounts (foreign servers) and their key mappings (user mappings): '
    'who, when, what. Never holds a key. Only a superuser can change or remove rows.';
COMMENT ON COLUMN aispend.audit_log.account IS 'The account (aispend server) concerned.';
COMMENT ON COLUMN aispend.audit_log.at IS 'When (clock time of the change).';
COMMENT ON COLUMN aispend.audit_log.action IS 'The command: CREATE SERVER, ALTER SERVER, DROP SERVER, CREATE USER MAPPING, ...';
COMMENT ON COLUMN aispend.audit_log.object_type IS 'server or user mapping.';
COMMENT ON COLUMN aispend.audit_log.object_identity IS 'The object as PostgreSQL names it (e.g. "user mapping for alice on server acme").';
COMMENT ON COLUMN aispend.audit_log.details IS
    'Server: its options after the change. User mapping: the names of its options (admin_key or admin_key_env), '
    'never their values.';
COMMENT ON COLUMN aispend.audit_log.by_role IS 'The role that ran the command (CURRENT_USER).';
COMMENT ON COLUMN aispend.audit_log.session_role IS 'The role that logged in (SESSION_USER), when it differs after SET ROLE.';
SELECT pg_catalog.pg_extension_config_dump('aispend.audit_log', '');

CREATE FUNCTION aispend._is_superuser()
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false);
COMMENT ON FUNCTION aispend._is_superuser() IS 'Internal: whether the current role is a superuser.';

-- BEFORE trigger of the audit trail: a superuser may do anything (pg_restore, a purge); anyone else may only add
-- rows, which then carry their own role and time.
CREATE FUNCTION aispend._append_only()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF aispend._is_superuser() THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD WHEN 'TRUNCATE' THEN NULL ELSE NEW END;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF TG_TABLE_NAME = 'audit_log' THEN
            NEW.by_role := CURRENT_USER;
            NEW.session_role := SESSION_USER;
            NEW.at := pg_catalog.clock_timestamp();
        ELSE
            NEW.changed_by := CURRENT_USER;
            NEW.changed_at := pg_catalog.now();
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'aispend: %.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The audit trail can only be changed or purged by a superuser.';
END
$$;
COMMENT ON FUNCTION aispend._append_only() IS
    'Internal: keeps the audit trail append-only (UPDATE, DELETE, TRUNCATE only by a superuser; the author and '
    'time of an added row are set here).';

CREATE TRIGGER audit_log_append_only BEFORE INSERT OR UPDATE OR DELETE ON aispend.audit_log
    FOR EACH ROW EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON aispend.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER workspace_name_history_append_only BEFORE INSERT OR UPDATE OR DELETE ON aispend.workspace_name_history
    FOR EACH ROW EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER workspace_name_history_no_truncate BEFORE TRUNCATE ON aispend.workspace_name_history
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._append_only();

-- ---------------------------------------------------------------- accounts and key mappings

CREATE FUNCTION aispend._audit_ddl()
RETURNS event_trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    c record;
    acct name;
    opts text[];
BEGIN
    -- On a Citus worker, DDL that the coordinator propagates arrives on Citus's own connections: the
    -- coordinator wrote its audit row already. (Never skipped elsewhere: the name alone could be set by anyone.)
    IF pg_catalog.current_setting('application_name') LIKE 'citus\_internal gpid=%' AND aispend._on_citus_worker() THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        acct := NULL;
        IF c.object_type = 'server' THEN
            SELECT s.srvname, s.srvoptions INTO acct, opts FROM aispend._servers() s WHERE s.oid = c.objid;
            IF acct IS NOT NULL THEN
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('options', coalesce(opts, '{}')));
            END IF;
        ELSIF c.object_type = 'user mapping' THEN
            SELECT s.srvname INTO acct
            FROM pg_catalog.pg_user_mappings m JOIN aispend._servers() s ON s.oid = m.srvid
            WHERE m.umid = c.objid;
            IF acct IS NOT NULL THEN
                SELECT pg_catalog.array_agg(pg_catalog.split_part(o, '=', 1) ORDER BY 1) INTO opts
                FROM pg_catalog.pg_user_mappings m, pg_catalog.unnest(m.umoptions) AS o
                WHERE m.umid = c.objid;
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('option_names', opts));
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._audit_ddl() IS
    'Internal: event trigger; records CREATE / ALTER of aispend servers and of user mappings on them in aispend.audit_log.';

CREATE FUNCTION aispend._audit_drop()
RETURNS event_trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    d record;
    acct name;
BEGIN
    FOR d IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
             WHERE object_type IN ('server', 'user mapping') LOOP
        -- a server is named by address_names, a user mapping by (role) and (server) in address_args
        acct := CASE d.object_type WHEN 'user mapping' THEN d.address_args[1] ELSE d.address_names[1] END;
        -- an aispend account: one the audit log or the sync knows (the server itself is gone)
        IF EXISTS (SELECT 1 FROM aispend.audit_log l WHERE l.account = acct)
           OR EXISTS (SELECT 1 FROM aispend.account_providers p WHERE p.account = acct)
           OR EXISTS (SELECT 1 FROM aispend._servers() s WHERE s.srvname = acct) THEN
            INSERT INTO aispend.audit_log (account, action, object_type, object_identity)
            VALUES (acct, TG_TAG, d.object_type, d.object_identity);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._audit_drop() IS
    'Internal: event trigger; records the dropping of aispend servers and of user mappings on them in aispend.audit_log.';

CREATE EVENT TRIGGER aispend_audit_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE SERVER', 'ALTER SERVER', 'CREATE USER MAPPING', 'ALTER USER MAPPING')
    EXECUTE FUNCTION aispend._audit_ddl();
CREATE EVENT TRIGGER aispend_audit_drop ON sql_drop
    WHEN TAG IN ('DROP SERVER', 'DROP USER MAPPING', 'DROP FOREIGN DATA WRAPPER', 'DROP OWNED')
    EXECUTE FUNCTION aispend._audit_drop();
