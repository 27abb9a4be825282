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
    action           text        CHECK (action IN ('rename', 'reset', 'revert', 'provider rename')),
    CONSTRAINT workspace_name_history_pkey PRIMARY KEY (account, id)
);
CREATE INDEX workspace_name_history_ws_idx ON aispend.workspace_name_history (account, workspace_id, changed_at);
COMMENT ON TABLE aispend.workspace_name_history IS
    'Every change of a workspace''s names: custom renames (display_name) and provider-side renames (provider_name).';
COMMENT ON COLUMN aispend.workspace_name_history.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.workspace_name_history.id IS 'Change id (aispend.revert_workspace_name takes it).';
COMMENT ON COLUMN aispend.workspace_name_history.workspace_id IS 'Provider workspace / project id.';
COMMENT ON COLUMN aispend.workspace_name_history.action IS
    'rename (a custom name set), reset (custom name dropped), revert (aispend.revert_workspace_name), provider rename; NULL: added by hand.';
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

-- Records one change of a workspace's names (the trigger below, or a writer on Citus: aispend._names_changed).
CREATE FUNCTION aispend._record_name_change(p_account name, p_workspace_id text, p_old_display text,
                                            p_new_display text, p_old_provider text, p_new_provider text,
                                            p_old_name text, p_new_name text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- a sentinel workspace's name placeholder ('(default workspace)') giving way to the provider's own name is no
    -- rename: the name became known
    IF p_old_display IS NOT DISTINCT FROM p_new_display AND p_workspace_id LIKE '(%' AND p_old_provider LIKE '(%' THEN
        RETURN;
    END IF;
    INSERT INTO aispend.workspace_name_history (account, workspace_id, source, action, old_name, new_name,
                                                old_display_name, new_display_name, old_provider_name,
                                                new_provider_name)
    VALUES (p_account, p_workspace_id,
            CASE WHEN p_old_display IS DISTINCT FROM p_new_display THEN 'custom' ELSE 'provider' END,
            CASE WHEN p_old_display IS NOT DISTINCT FROM p_new_display THEN 'provider rename'
                 -- aispend.revert_workspace_name says so for the change it makes
                 WHEN current_setting('aispend_history.action', true) = 'revert' THEN 'revert'
                 WHEN p_new_display IS NULL THEN 'reset'
                 ELSE 'rename' END,
            p_old_name, p_new_name, p_old_display, p_new_display, p_old_provider, p_new_provider);
END
$$;
COMMENT ON FUNCTION aispend._record_name_change(name, text, text, text, text, text, text, text) IS
    'Internal: records one change of a workspace''s names in aispend.workspace_name_history.';

CREATE FUNCTION aispend._workspace_name_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._record_name_change(NEW.account, NEW.workspace_id, OLD.display_name, NEW.display_name,
                                        OLD.provider_name, NEW.provider_name, OLD.name, NEW.name);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._workspace_name_changed() IS 'Internal: trigger recording workspace name changes.';

CREATE TRIGGER workspace_name_history AFTER UPDATE OF display_name, provider_name ON aispend.workspaces
    FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.provider_name IS DISTINCT FROM NEW.provider_name)
    EXECUTE FUNCTION aispend._workspace_name_changed();

-- On Citus the trigger cannot run (aispend.distribute drops it: from a shard it would write another distributed
-- table). aispend.distribute() puts a trigger of the shards in its place, which keeps each change in
-- aispend._name_changes (96_cluster_edits.sql); aispend's writers of names then record those of their account
-- at once (aispend._names_changed), so that a revert is recorded as one. Without either trigger (a cluster
-- distributed by 0.9.0 or earlier, until distribute() runs again) they take the names before
-- (aispend._names_before) and record what changed after. With the single node's trigger both do nothing.
CREATE FUNCTION aispend._names_before(p_account name)
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

CREATE FUNCTION aispend._names_changed(p_account name, p_before jsonb)
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
    before jsonb := aispend._names_before(account);
BEGIN
    UPDATE aispend.workspaces w SET display_name = new_name
     WHERE w.account = account AND w.workspace_id = workspace_id
    RETURNING w.name INTO shown;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no workspace % in account %', workspace_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_management;';
    END IF;
    PERFORM aispend._names_changed(account, before);
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
    shown text;
BEGIN
    SELECT * INTO h FROM aispend.workspace_name_history x WHERE x.account = account AND x.id = history_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no name change % in account %', history_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_history;';
    END IF;
    PERFORM set_config('aispend_history.action', 'revert', true);
    shown := aispend.rename_workspace(account, h.workspace_id, h.old_display_name);
    PERFORM set_config('aispend_history.action', '', true);
    RETURN shown;
END
$$;
COMMENT ON FUNCTION aispend.revert_workspace_name(name, bigint) IS
    'Reverts a workspace to the custom name it had before the change history_id (NULL then: the provider''s name). '
    'The revert is itself recorded in the history.';

-- The Workspace Management table, searchable like the other tabs. Dates are UTC days:
--   Created     the provider's creation date, where it gives one;
--   First Seen  the earlier of Created and the first day with usage or cost (else the day a sync first saw it);
--   Last Seen   the last day with usage or cost (NULL: never active in the synced data).
-- PL/pgSQL (on Citus an SQL function cannot read a distributed table; inlined, it read the coordinator's empty
-- tables without an error), the days with data as correlated subqueries by the distribution column.
CREATE FUNCTION aispend._workspace_management_rows(p_search text, p_provider text)
RETURNS TABLE (workspace_name text, provider text, workspace_id text, provider_name text, status text,
               created date, first_seen date, last_seen date, first_activity date, last_activity date,
               name_changes bigint, display_name text, provider_status text, account name,
               created_at timestamptz, archived_at timestamptz, first_synced date, last_listed date,
               provider_workspace_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT m.name, m.provider, m.workspace_id, m.provider_name,
           CASE WHEN m.status IN ('active', 'archived', 'unlisted') THEN m.status ELSE 'inactive' END,
           (m.created_at AT TIME ZONE 'UTC')::date,
           coalesce(LEAST((m.created_at AT TIME ZONE 'UTC')::date, m.first_day), (m.first_seen AT TIME ZONE 'UTC')::date),
           m.last_day, m.first_day, m.last_day, m.name_changes,
           m.display_name, m.status, m.account, m.created_at, m.archived_at,
           (m.first_seen AT TIME ZONE 'UTC')::date, (m.last_seen AT TIME ZONE 'UTC')::date, m.provider_workspace_id
    FROM (SELECT w.*,
                 (SELECT min(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS first_day,
                 (SELECT max(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS last_day,
                 (SELECT count(*) FROM aispend.workspace_name_history h
                   WHERE h.account = w.account AND h.workspace_id = w.workspace_id) AS name_changes
          FROM aispend.workspaces w
          WHERE aispend._provider_matches(w.provider, p_provider)
            AND (p_search IS NULL OR p_search = ''
                 OR pg_catalog.strpos(pg_catalog.lower(pg_catalog.concat_ws(E'\x1f', w.name, w.provider_name,
                                                                             w.workspace_id)),
                                      pg_catalog.lower(p_search)) > 0)) m
    ORDER BY m.name, m.account, m.workspace_id;
END
$$;
COMMENT ON FUNCTION aispend._workspace_management_rows(text, text) IS
    'Internal: what aispend.workspace_management_table returns.';

CREATE FUNCTION aispend.workspace_management_table(search text DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (workspace_name text, provider text, workspace_id text, provider_name text, status text,
               created date, first_seen date, last_seen date, first_activity date, last_activity date,
               name_changes bigint, display_name text, provider_status text, account name,
               created_at timestamptz, archived_at timestamptz, first_synced date, last_listed date,
               provider_workspace_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT m.* FROM aispend._workspace_management_rows(workspace_management_table.search,
                                                        workspace_management_table.provider) m;
END;
COMMENT ON FUNCTION aispend.workspace_management_table(text, text) IS
    'Workspace Management table: one row per workspace of every account, filtered by search (case-insensitive '
    'substring of the name shown, the provider''s name or the id) and provider. Created = the provider''s '
    'creation date; First Seen = the earlier of Created and the first day with usage or cost; Last Seen = the '
    'last day with usage or cost (NULL: never active). Default order: workspace_name.';

CREATE VIEW aispend.workspace_management WITH (security_invoker = true) AS
SELECT * FROM aispend.workspace_management_table();
COMMENT ON VIEW aispend.workspace_management IS
    'Workspace Management tab: one row per workspace of every account (default order: workspace_name). '
    'Rename with UPDATE aispend.workspaces SET display_name = ... (or aispend.rename_workspace).';
COMMENT ON COLUMN aispend.workspace_management.workspace_name IS 'Workspace Name: the name shown everywhere (custom name, else the provider''s).';
COMMENT ON COLUMN aispend.workspace_management.provider IS 'Provider: openai, anthropic, ...';
COMMENT ON COLUMN aispend.workspace_management.workspace_id IS 'Workspace ID: the provider''s id (''(default)'': Anthropic default workspace / OpenAI usage without project).';
COMMENT ON COLUMN aispend.workspace_management.provider_name IS 'Provider Name: the name the provider gives it (refreshed by every sync).';
COMMENT ON COLUMN aispend.workspace_management.status IS 'Status: active, archived (at the provider, or gone from its list), unlisted (only seen in usage or costs), inactive (another provider status).';
COMMENT ON COLUMN aispend.workspace_management.created IS 'Created: the provider''s creation date (UTC), where it gives one.';
COMMENT ON COLUMN aispend.workspace_management.first_seen IS 'First Seen: the earlier of Created and the first day with usage or cost (UTC); the day a sync first saw it when neither is known.';
COMMENT ON COLUMN aispend.workspace_management.last_seen IS 'Last Seen: the most recent day with usage or cost (UTC); NULL: never active in the synced data.';
COMMENT ON COLUMN aispend.workspace_management.first_activity IS 'First UTC day with usage or cost.';
COMMENT ON COLUMN aispend.workspace_management.last_activity IS 'Last UTC day with usage or cost.';
COMMENT ON COLUMN aispend.workspace_management.name_changes IS 'Number of recorded name changes (aispend.workspace_history).';
COMMENT ON COLUMN aispend.workspace_management.display_name IS 'The custom name (NULL: none). Editable.';
COMMENT ON COLUMN aispend.workspace_management.provider_status IS 'The provider''s status as synced (active, archived, unlisted, ...).';
COMMENT ON COLUMN aispend.workspace_management.account IS 'The account (aispend server).';
COMMENT ON COLUMN aispend.workspace_management.created_at IS 'Creation time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.archived_at IS 'Archival time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.first_synced IS 'The day a sync first saw it (listed, or named by a fact).';
COMMENT ON COLUMN aispend.workspace_management.last_listed IS 'The last day a sync saw it in the provider''s list.';
COMMENT ON COLUMN aispend.workspace_management.provider_workspace_id IS 'The provider''s own id where workspace_id is a sentinel (the Anthropic default workspace''s real id).';

CREATE VIEW aispend.workspace_history WITH (security_invoker = true) AS
SELECT h.id, h.account, h.workspace_id, w.provider, w.name AS current_name, h.source, h.old_name, h.new_name,
       h.old_display_name, h.new_display_name, h.old_provider_name, h.new_provider_name, h.changed_at, h.changed_by,
       h.action
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
COMMENT ON COLUMN aispend.workspace_history.action IS 'rename (a custom name set), reset (custom name dropped), revert (aispend.revert_workspace_name), provider rename; NULL for a row added by hand.';
COMMENT ON COLUMN aispend.workspace_history.old_name IS 'Previous name shown.';
COMMENT ON COLUMN aispend.workspace_history.new_name IS 'Name shown after the change.';
COMMENT ON COLUMN aispend.workspace_history.old_display_name IS 'Custom name before (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.new_display_name IS 'Custom name after (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.old_provider_name IS 'Provider''s name before.';
COMMENT ON COLUMN aispend.workspace_history.new_provider_name IS 'Provider''s name after.';
COMMENT ON COLUMN aispend.workspace_history.changed_at IS 'Change timestamp.';
COMMENT ON COLUMN aispend.workspace_history.changed_by IS 'Role that made the change.';

CREATE FUNCTION aispend.workspace_management_csv(search text DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE ("Workspace Name" text, "Provider" text, "Workspace ID" text, "Provider Name" text, "Status" text,
               "Created" date, "First Seen" date, "Last Seen" date, "Name Changes" bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(m.workspace_name), m.provider, aispend.csv_cell(m.workspace_id),
           aispend.csv_cell(m.provider_name), m.status, m.created, m.first_seen, m.last_seen, m.name_changes
    FROM aispend.workspace_management_table(search, provider) m
    ORDER BY m.workspace_name, m.account, m.workspace_id;
END;
COMMENT ON FUNCTION aispend.workspace_management_csv(text, text) IS
    'Workspace Management table with the dashboard''s column titles: \copy (SELECT * FROM '
    'aispend.workspace_management_csv()) TO ''workspaces.csv'' WITH (FORMAT csv, HEADER). Default order: name.';

CREATE VIEW aispend.workspace_management_csv WITH (security_invoker = true) AS
SELECT * FROM aispend.workspace_management_csv();
COMMENT ON VIEW aispend.workspace_management_csv IS
    'aispend.workspace_management_csv() for every workspace, for \copy (SELECT * FROM ... ORDER BY "Workspace Name") TO ... CSV HEADER.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace Name" IS 'See aispend.workspace_management.workspace_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider" IS 'See aispend.workspace_management.provider.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace ID" IS 'See aispend.workspace_management.workspace_id.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider Name" IS 'See aispend.workspace_management.provider_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Status" IS 'See aispend.workspace_management.status.';
COMMENT ON COLUMN aispend.workspace_management_csv."Created" IS 'See aispend.workspace_management.created.';
COMMENT ON COLUMN aispend.workspace_management_csv."First Seen" IS 'See aispend.workspace_management.first_seen.';
COMMENT ON COLUMN aispend.workspace_management_csv."Last Seen" IS 'See aispend.workspace_management.last_seen.';
COMMENT ON COLUMN aispend.workspace_management_csv."Name Changes" IS 'See aispend.workspace_management.name_changes.';

REVOKE ALL ON FUNCTION aispend.rename_workspace(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.reset_workspace_name(name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.revert_workspace_name(name, bigint) FROM PUBLIC;
