-- 67_team_access.sql: row-level security on every table that holds spend, and aispend.grant_team() /
-- aispend.revoke_team(). Teams, scopes and the scope lookups: 57_teams.sql.

-- ---------------------------------------------------------------- row-level security

-- Facts and rollups: a row is in scope by its workspace or its key.
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['aispend.usage', 'aispend.costs', 'aispend.daily_rollup', 'aispend.api_keys',
                             'aispend.middleware_spend']::regclass[] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format($p$
            CREATE POLICY team_scope ON %s
            USING ((SELECT NOT aispend._team_restricted())
                   OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
                   OR (account, api_key_id) IN (SELECT k.account, k.api_key_id FROM aispend._team_keys(CURRENT_USER) k))
            $p$, t);
        EXECUTE pg_catalog.format('COMMENT ON POLICY team_scope ON %s IS %L', t,
            'A team (aispend.teams) reads the rows of its workspaces and API keys only; other roles read every row.');
    END LOOP;
END
$$;
-- Names: the team's workspaces, and the workspaces of its keys.
ALTER TABLE aispend.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.workspaces
USING ((SELECT NOT aispend._team_restricted())
       OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
       OR (account, workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k));
COMMENT ON POLICY team_scope ON aispend.workspaces IS
    'A team reads its workspaces and the workspaces of its API keys; other roles read every row.';
ALTER TABLE aispend.workspace_name_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.workspace_name_history
USING ((SELECT NOT aispend._team_restricted())
       OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
       OR (account, workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k));
COMMENT ON POLICY team_scope ON aispend.workspace_name_history IS
    'A team reads the name history of its workspaces; other roles read every row.';
-- Totals over every row: never a team's.
ALTER TABLE aispend._cum ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend._cum USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend._cum IS 'Totals over every row: a team reads none (its tabs add up its own rows).';

-- ---------------------------------------------------------------- managing teams

CREATE FUNCTION aispend.grant_team(role_name name, workspace_names text[] DEFAULT '{}', api_key_ids text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION 'aispend: role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name AND (r.rolsuper OR r.rolbypassrls)) THEN
        RAISE EXCEPTION 'aispend: role "%" bypasses row-level security and cannot be a team', role_name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a role without SUPERUSER and BYPASSRLS.';
    END IF;
    PERFORM aispend.grant_reader(role_name);
    -- the live cost model shares bills among keys a team cannot see: the team reads the rollups instead
    EXECUTE format('REVOKE SELECT ON aispend.cost_facts, aispend.usage_costed, aispend.reconciliation, '
                   'aispend.unpriced_models FROM %I', role_name);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION aispend.cost_facts_between(name, date, date), '
                   'aispend._cost_facts(name, date, date), '
                   'aispend._usage_costed_between(name, timestamptz, timestamptz), '
                   'aispend._usage_costed_rows(name, timestamptz, timestamptz) FROM %I', role_name);
    INSERT INTO aispend.teams (team) VALUES (role_name) ON CONFLICT ON CONSTRAINT teams_pkey DO NOTHING;
    INSERT INTO aispend.team_scopes (team, workspace_name)
    SELECT role_name, n FROM unnest(workspace_names) AS n WHERE n IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    INSERT INTO aispend.team_scopes (team, api_key_id)
    SELECT role_name, k FROM unnest(api_key_ids) AS k WHERE k IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    PERFORM aispend._citus_copy_routine_grants(role_name);   -- on a Citus cluster, the revokes above too
END
$$;
COMMENT ON FUNCTION aispend.grant_team(name, text[], text[]) IS
    'Makes a role a team (or widens its scope): it reads the dashboard like aispend.grant_reader() gives, but '
    'only the spend of these workspace names (every workspace shown under a name, in any account) and API key '
    'ids. Narrow a scope with DELETE FROM aispend.team_scopes; end it with aispend.revoke_team().';

CREATE FUNCTION aispend.revoke_team(role_name name)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend.revoke_all(role_name);
    DELETE FROM aispend.teams t WHERE t.team = role_name;
END
$$;
COMMENT ON FUNCTION aispend.revoke_team(name) IS 'Ends a team: its scope and every aispend privilege of the role.';

REVOKE ALL ON FUNCTION aispend.grant_team(name, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.revoke_team(name) FROM PUBLIC;
