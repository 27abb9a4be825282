-- 54_workspace_management.sql: the Workspace Management tab. Renames are plain UPDATEs of
-- aispend.workspaces.display_name (one workspace, or many at once); a trigger records every change of the name
-- shown (custom renames and provider-side renames) in aispend.workspace_name_history. The sync writes only
-- provider_name, never display_name, so a custom name survives a provider-side rename.

CREATE TABLE aispend.workspace_name_history (
    account          name        NOT NULL,
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    workspace_id     text        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('custom', 'provider')),
    old_name         text,
    new_name         text,
    old_display_name text,
    new_display_name text,
    old_provider_name text,
    new_provider_name text,
    changed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    changed_by       name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT workspace_name_history_pkey PRIMARY KEY (account, id)
);
CREATE INDEX workspace_name_history_ws_idx ON aispend.workspace_name_history (account, workspace_id, changed_at);
COMMENT ON TABLE aispend.workspace_name_history IS
    'Every change of a workspace''s names: custom renames (display_name) and provider-side renames (provider_name).';
COMMENT ON COLUMN aispend.workspace_name_history.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.workspace_name_history.id IS 'Change id (aispend.revert_workspace_name takes it).';
COMMENT ON COLUMN aispend.workspace_name_history.workspace_id IS 'Provider workspace / project id.';
COMMENT ON COLUMN aispend.workspace_name_history.source IS 'custom: display_name changed by a person; provider: the provider renamed it (sync).';
COMMENT ON COLUMN aispend.workspace_name_history.old_name IS 'Name shown before the change.';
COMMENT ON COLUMN aispend.workspace_name_history.new_name IS 'Name shown after the change.';
COMMENT ON COLUMN aispend.workspace_name_history.old_display_name IS 'display_name before (NULL: the provider''s name was shown).';
COMMENT ON COLUMN aispend.workspace_name_history.new_display_name IS 'display_name after (NULL: reset to the provider''s name).';
COMMENT ON COLUMN aispend.workspace_name_history.old_provider_name IS 'The provider''s name before.';
COMMENT ON COLUMN aispend.workspace_name_history.new_provider_name IS 'The provider''s name after (differs for a provider-side rename).';
COMMENT ON COLUMN aispend.workspace_name_history.changed_at IS 'When (transaction start time).';
COMMENT ON COLUMN aispend.workspace_name_history.changed_by IS 'The role that made the change (CURRENT_USER).';
SELECT pg_catalog.pg_extension_config_dump('aispend.workspace_name_history', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.workspace_name_history_id_seq', '');

CREATE FUNCTION aispend._workspace_name_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend.workspace_name_history (account, workspace_id, source, old_name, new_name,
                                                old_display_name, new_display_name, old_provider_name,
                                                new_provider_name)
    VALUES (NEW.account, NEW.workspace_id,
            CASE WHEN OLD.display_name IS DISTINCT FROM NEW.display_name THEN 'custom' ELSE 'provider' END,
            OLD.name, NEW.name, OLD.display_name, NEW.display_name, OLD.provider_name, NEW.provider_name);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._workspace_name_changed() IS 'Internal: trigger recording workspace name changes.';

CREATE TRIGGER workspace_name_history AFTER UPDATE OF display_name, provider_name ON aispend.workspaces
    FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.provider_name IS DISTINCT FROM NEW.provider_name)
    EXECUTE FUNCTION aispend._workspace_name_changed();

-- A custom name is trimmed of white space of any kind (tabs, line breaks, no-break and other Unicode spaces);
-- one of only white space means "no custom name"; one longer than 200 characters is refused (a name is shown
-- in every tab, chart and CSV).
CREATE FUNCTION aispend._workspace_blank_name()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    blank CONSTANT text := '[[:space:]\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+';
BEGIN
    IF NEW.display_name IS NOT NULL THEN
        IF pg_catalog.octet_length(NEW.display_name) > 4096 OR pg_catalog.length(NEW.display_name) > 1000 THEN
            NEW.display_name := pg_catalog."left"(NEW.display_name, 1000);   -- trimmed below, then refused
        END IF;
        NEW.display_name := pg_catalog.regexp_replace(NEW.display_name, '^' || blank || '|' || blank || '$', '', 'g');
        IF NEW.display_name = '' THEN
            NEW.display_name := NULL;
        ELSIF pg_catalog.length(NEW.display_name) > 200 THEN
            RAISE EXCEPTION 'aispend: a workspace name has at most 200 characters (workspace % of account %)',
                NEW.workspace_id, NEW.account
                USING ERRCODE = 'string_data_right_truncation',
                      HINT = 'Choose a shorter name; every tab, chart and CSV shows it.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION aispend._workspace_blank_name() IS
    'Internal: trims display_name of any white space; blank becomes NULL; more than 200 characters is refused (22001).';
CREATE TRIGGER workspace_blank_name BEFORE INSERT OR UPDATE OF display_name ON aispend.workspaces
    FOR EACH ROW EXECUTE FUNCTION aispend._workspace_blank_name();

CREATE FUNCTION aispend.rename_workspace(account name, workspace_id text, new_name text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    shown text;
BEGIN
    UPDATE aispend.workspaces w SET display_name = new_name
     WHERE w.account = account AND w.workspace_id = workspace_id
    RETURNING w.name INTO shown;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no workspace % in account %', workspace_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_management;';
    END IF;
    RETURN shown;
END
$$;
COMMENT ON FUNCTION aispend.rename_workspace(name, text, text) IS
    'Gives a workspace a custom name (NULL or blank: back to the provider''s name); returns the name shown. '
    'Same as UPDATE aispend.workspaces SET display_name = ... WHERE account = ... AND workspace_id = ...';

CREATE FUNCTION aispend.reset_workspace_name(account name, workspace_id text)
RETURNS text LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend.rename_workspace(account, workspace_id, NULL);
END;
COMMENT ON FUNCTION aispend.reset_workspace_name(name, text) IS
    'Drops the custom name: the workspace shows the provider''s name again. Returns the name shown.';

CREATE FUNCTION aispend.revert_workspace_name(account name, history_id bigint)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    h aispend.workspace_name_history;
BEGIN
    SELECT * INTO h FROM aispend.workspace_name_history x WHERE x.account = account AND x.id = history_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no name change % in account %', history_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_history;';
    END IF;
    RETURN aispend.rename_workspace(account, h.workspace_id, h.old_display_name);
END
$$;
COMMENT ON FUNCTION aispend.revert_workspace_name(name, bigint) IS
    'Reverts a workspace to the custom name it had before the change history_id (NULL then: the provider''s name). '
    'The revert is itself recorded in the history.';

CREATE VIEW aispend.workspace_management WITH (security_invoker = true) AS
SELECT w.name AS workspace_name, w.provider, w.workspace_id, w.provider_name,
       CASE WHEN w.status = 'active' THEN 'active' ELSE 'inactive' END AS status,
       w.first_seen::date AS first_seen,
       GREATEST(w.last_seen::date, act.last_day) AS last_seen,
       act.last_day AS last_activity,
       w.display_name, w.status AS provider_status, w.account, w.created_at, w.archived_at,
       (SELECT count(*) FROM aispend.workspace_name_history h
         WHERE h.account = w.account AND h.workspace_id = w.workspace_id) AS name_changes
FROM aispend.workspaces w
LEFT JOIN LATERAL (SELECT r.day AS last_day FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id
                   ORDER BY r.day DESC LIMIT 1) act ON true;
COMMENT ON VIEW aispend.workspace_management IS
    'Workspace Management tab: one row per workspace of every account (default order: workspace_name). '
    'Rename with UPDATE aispend.workspaces SET display_name = ... (or aispend.rename_workspace).';
COMMENT ON COLUMN aispend.workspace_management.workspace_name IS 'Workspace Name: the name shown everywhere (custom name, else the provider''s).';
COMMENT ON COLUMN aispend.workspace_management.provider IS 'Provider: openai, anthropic, ...';
COMMENT ON COLUMN aispend.workspace_management.workspace_id IS 'Workspace ID: the provider''s id (''(default)'': Anthropic default workspace / OpenAI usage without project).';
COMMENT ON COLUMN aispend.workspace_management.provider_name IS 'Provider Name: the name the provider gives it (refreshed by every sync).';
COMMENT ON COLUMN aispend.workspace_management.status IS 'Status: active, or inactive (archived, vanished, or only seen in usage).';
COMMENT ON COLUMN aispend.workspace_management.first_seen IS 'First Seen: the day a sync first detected it (UTC).';
COMMENT ON COLUMN aispend.workspace_management.last_seen IS 'Last Seen: the later of its last activity day and the last day a sync listed it (UTC).';
COMMENT ON COLUMN aispend.workspace_management.last_activity IS 'Last UTC day with usage or cost.';
COMMENT ON COLUMN aispend.workspace_management.display_name IS 'The custom name (NULL: none). Editable.';
COMMENT ON COLUMN aispend.workspace_management.provider_status IS 'The provider''s status as synced (active, archived, unlisted, ...).';
COMMENT ON COLUMN aispend.workspace_management.account IS 'The account (aispend server).';
COMMENT ON COLUMN aispend.workspace_management.created_at IS 'Creation time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.archived_at IS 'Archival time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.name_changes IS 'Number of recorded name changes (aispend.workspace_history).';

CREATE VIEW aispend.workspace_history WITH (security_invoker = true) AS
SELECT h.id, h.account, h.workspace_id, w.provider, w.name AS current_name, h.source, h.old_name, h.new_name,
       h.old_display_name, h.new_display_name, h.old_provider_name, h.new_provider_name, h.changed_at, h.changed_by
FROM aispend.workspace_name_history h
LEFT JOIN aispend.workspaces w ON w.account = h.account AND w.workspace_id = h.workspace_id;
COMMENT ON VIEW aispend.workspace_history IS
    '"View History": every name change with the workspace''s current name; revert with '
    'aispend.revert_workspace_name(account, id). Default order: changed_at DESC, id DESC.';
COMMENT ON COLUMN aispend.workspace_history.id IS 'Change id (for aispend.revert_workspace_name).';
COMMENT ON COLUMN aispend.workspace_history.account IS 'The account.';
COMMENT ON COLUMN aispend.workspace_history.workspace_id IS 'Provider workspace id.';
COMMENT ON COLUMN aispend.workspace_history.provider IS 'Provider.';
COMMENT ON COLUMN aispend.workspace_history.current_name IS 'The name shown now.';
COMMENT ON COLUMN aispend.workspace_history.source IS 'custom (a person) or provider (the sync saw a provider-side rename).';
COMMENT ON COLUMN aispend.workspace_history.old_name IS 'Previous name shown.';
COMMENT ON COLUMN aispend.workspace_history.new_name IS 'Name shown after the change.';
COMMENT ON COLUMN aispend.workspace_history.old_display_name IS 'Custom name before (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.new_display_name IS 'Custom name after (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.old_provider_name IS 'Provider''s name before.';
COMMENT ON COLUMN aispend.workspace_history.new_provider_name IS 'Provider''s name after.';
COMMENT ON COLUMN aispend.workspace_history.changed_at IS 'Change timestamp.';
COMMENT ON COLUMN aispend.workspace_history.changed_by IS 'Role that made the change.';

CREATE VIEW aispend.workspace_management_csv WITH (security_invoker = true) AS
SELECT aispend.csv_cell(m.workspace_name) AS "Workspace Name", m.provider AS "Provider",
       aispend.csv_cell(m.workspace_id) AS "Workspace ID", aispend.csv_cell(m.provider_name) AS "Provider Name",
       m.status AS "Status", m.first_seen AS "First Seen", m.last_seen AS "Last Seen"
FROM aispend.workspace_management m;
COMMENT ON VIEW aispend.workspace_management_csv IS
    'Workspace Management table with the dashboard''s column titles, for \copy (SELECT * FROM ... ORDER BY "Workspace Name") TO ... CSV HEADER.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace Name" IS 'See aispend.workspace_management.workspace_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider" IS 'See aispend.workspace_management.provider.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace ID" IS 'See aispend.workspace_management.workspace_id.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider Name" IS 'See aispend.workspace_management.provider_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Status" IS 'See aispend.workspace_management.status.';
COMMENT ON COLUMN aispend.workspace_management_csv."First Seen" IS 'See aispend.workspace_management.first_seen.';
COMMENT ON COLUMN aispend.workspace_management_csv."Last Seen" IS 'See aispend.workspace_management.last_seen.';

REVOKE ALL ON FUNCTION aispend.rename_workspace(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.reset_workspace_name(name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.revert_workspace_name(name, bigint) FROM PUBLIC;
