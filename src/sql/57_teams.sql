-- 57_teams.sql: per-team access. A team is a role given a scope: workspace names (every workspace shown under
-- that name, in any account: combined workspaces come along, and a rename moves the scope with the name) and
-- API keys. Row-level security on every table that holds spend lets a team's role read the rows of its scope
-- only; every tab, CSV, the report and aispend.daily_facts run as the caller, so their totals and "% of Total"
-- are computed over what the team may see. Roles that are not teams (admins, readers) see everything.
--
-- A row of usage, costs or the rollups is in a team's scope when its workspace is one of the team's workspace
-- names, or its API key one of the team's keys. The cumulative rollup (aispend._cum) adds up every row, so a
-- team never reads it: its tabs add up its own rows of aispend.daily_rollup instead (58_entity_totals.sql).
-- The live cost model (aispend.cost_facts_between and the views on it) shares each bill among all the keys of
-- a slice, which a team cannot see; aispend.grant_team() does not grant it. The views that read these tables
-- themselves (daily_facts, workspace_management, ...) are security_invoker, so the policies apply to their
-- caller, not to their owner.

CREATE TABLE aispend.teams (
    team       name        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT teams_pkey PRIMARY KEY (team)
);
COMMENT ON TABLE aispend.teams IS
    'Roles that are teams: they see only the spend of their scope (aispend.team_scopes). Managed with '
    'aispend.grant_team() and aispend.revoke_team().';
COMMENT ON COLUMN aispend.teams.team IS 'The role (a BI tool logs in as it, or SET ROLE to it).';
COMMENT ON COLUMN aispend.teams.granted_at IS 'When it became a team.';
COMMENT ON COLUMN aispend.teams.granted_by IS 'Who made it a team.';

CREATE TABLE aispend.team_scopes (
    team           name        NOT NULL,
    workspace_name text,
    api_key_id     text,
    granted_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by     name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT team_scopes_one_thing CHECK ((workspace_name IS NULL) <> (api_key_id IS NULL)),
    CONSTRAINT team_scopes_unique UNIQUE NULLS NOT DISTINCT (team, workspace_name, api_key_id),
    CONSTRAINT team_scopes_team_fkey FOREIGN KEY (team) REFERENCES aispend.teams (team) ON DELETE CASCADE
);
COMMENT ON TABLE aispend.team_scopes IS
    'What each team sees: a workspace name (every workspace shown under it, in any account) or an API key id.';
COMMENT ON COLUMN aispend.team_scopes.team IS 'The team (aispend.teams).';
COMMENT ON COLUMN aispend.team_scopes.workspace_name IS 'A workspace name as the dashboard shows it (aispend.workspaces.name), case-sensitive.';
COMMENT ON COLUMN aispend.team_scopes.api_key_id IS 'An API key id (aispend.api_keys.api_key_id), in any account.';
COMMENT ON COLUMN aispend.team_scopes.granted_at IS 'When the scope was given.';
COMMENT ON COLUMN aispend.team_scopes.granted_by IS 'Who gave it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.teams', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.team_scopes', '');

CREATE FUNCTION aispend._team_restricted()
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT EXISTS (SELECT 1 FROM aispend.teams t WHERE t.team OPERATOR(pg_catalog.=) CURRENT_USER);
END;
COMMENT ON FUNCTION aispend._team_restricted() IS 'Internal: whether the current role is a team (sees its scope only).';

-- The workspaces of a team's scope (ROWS 10: a scope is a few names, and a team's tabs then read the rollup by
-- workspace through its index instead of scanning it). SECURITY DEFINER on purpose, and only this: it reads aispend.workspaces,
-- whose own row-level policy calls it (read as the caller, the policy would recurse). The policies pass
-- CURRENT_USER; it answers only for a team the logged-in role is (or may SET ROLE to), so a team cannot list
-- another team's workspaces. PL/pgSQL, the membership checked first: on Citus a query of the workers, which
-- would check it as the function's owner.
CREATE FUNCTION aispend._team_workspaces(team name)
RETURNS TABLE (account name, workspace_id text)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_workspaces.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT w.account, w.workspace_id
        FROM aispend.workspaces w
        JOIN aispend.team_scopes s ON s.workspace_name = w.name
        WHERE s.team = _team_workspaces.team;
END
$$;
COMMENT ON FUNCTION aispend._team_workspaces(name) IS
    'Internal: (account, workspace_id) of every workspace in a team''s scope (by name), for the row-level policies.';

-- The API keys of a team's scope, with their workspaces (a team given a key sees its workspace's name).
CREATE FUNCTION aispend._team_keys(team name)
RETURNS TABLE (account name, api_key_id text, workspace_id text)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_keys.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT k.account, k.api_key_id, k.workspace_id
        FROM aispend.api_keys k
        JOIN aispend.team_scopes s ON s.api_key_id = k.api_key_id
        WHERE s.team = _team_keys.team;
END
$$;
COMMENT ON FUNCTION aispend._team_keys(name) IS
    'Internal: (account, api_key_id, workspace_id) of every API key in a team''s scope, for the row-level policies.';


-- Row-level security and the functions that manage teams: 67_team_access.sql (after every table it protects).
