-- Per-team access (issue 11): two BI roles with different scopes see different totals, computed over what
-- each may see, and neither sees the other's rows anywhere; a team given everything sees exactly what a reader
-- sees (the team's own-rows path equals the cumulative path).
BEGIN;
SELECT plan(23);
\ir include/dashboard_fixture.psql

-- 'Alpha' combines an OpenAI project and an Anthropic workspace
UPDATE aispend.workspaces SET display_name = 'Alpha' WHERE workspace_id IN ('proj_a', 'wrk_c');
CREATE ROLE tm_alpha NOLOGIN;
CREATE ROLE tm_keyb NOLOGIN;
CREATE ROLE tm_all NOLOGIN;
CREATE ROLE tm_reader NOLOGIN;
SELECT aispend.grant_team('tm_alpha', workspace_names => ARRAY['Alpha']);
SELECT aispend.grant_team('tm_keyb', api_key_ids => ARRAY['key_b1']);
SELECT aispend.grant_team('tm_all', workspace_names => ARRAY(SELECT DISTINCT name FROM aispend.workspaces));
SELECT aispend.grant_reader('tm_reader');
CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-09-01', '2026-09-30') AS period;
GRANT SELECT ON p TO PUBLIC;

SET ROLE tm_alpha;
SELECT is((SELECT ROW(round(total_cost, 2), round(previous_total_cost, 2), active_workspaces)::text FROM aispend.workspaces_summary((SELECT period FROM p))),
          '(19.60,20.00,1)', 'team Alpha: its total (13.60 OpenAI + 6.00 Anthropic) and the previous period''s');
SELECT is((SELECT string_agg(ROW(name, round(cost, 2), pct_of_total)::text, ';') FROM aispend.workspaces_table((SELECT period FROM p))),
          '(Alpha,19.60,100.00)', 'its Workspaces table: one combined row, 100% of what it sees');
SELECT is((SELECT string_agg(ROW(api_key, round(cost, 2), pct_of_total)::text, ';' ORDER BY api_key)
           FROM aispend.api_keys_table((SELECT period FROM p))),
          '(dev-key,0.60,3.06);(prod-key,13.00,66.33);(support-key,6.00,30.61)', 'its API keys, % of its total');
SELECT is((SELECT string_agg(ROW(model, round(cost, 2))::text, ';' ORDER BY model) FROM aispend.models_table((SELECT period FROM p))),
          '(claude-sonnet-4-5,6.00);(gpt-4o,13.00);(gpt-4o-mini,0.60)', 'its models: the spend of its rows only');
SELECT is((SELECT sum("Cost") FROM aispend.workspaces_csv((SELECT period FROM p))), 19.60, 'its CSV');
SELECT is((SELECT count(*) FROM aispend.usage WHERE workspace_id NOT IN ('proj_a', 'wrk_c')), 0::bigint,
          'no usage row outside its scope');
SELECT is((SELECT count(*) FROM aispend.costs WHERE workspace_id NOT IN ('proj_a', 'wrk_c'))
          + (SELECT count(*) FROM aispend.daily_rollup WHERE workspace_id NOT IN ('proj_a', 'wrk_c'))
          + (SELECT count(*) FROM aispend._cum), 0::bigint, 'no cost, rollup or cumulative row outside it');
SELECT is((SELECT sum(cost) FROM aispend.daily_facts WHERE day BETWEEN '2026-09-01' AND '2026-09-30'), 19.60,
          'aispend.daily_facts (a security_invoker view): its rows');
SELECT is((SELECT string_agg(workspace_id, ',' ORDER BY workspace_id) FROM aispend.workspace_management), 'proj_a,wrk_c',
          'Workspace Management: its workspaces');
SELECT throws_ok($$SELECT * FROM aispend.cost_facts$$, '42501', NULL,
                 'the live cost model (bills shared among keys it cannot see) is not a team''s');
SELECT throws_ok($$SELECT * FROM aispend._cost_facts('fx_openai', '2026-09-01', '2026-09-30')$$, '42501', NULL,
                 'nor is the function behind it');
SELECT throws_ok($$SELECT * FROM aispend._usage_costed_rows('fx_openai', '-infinity', 'infinity')$$, '42501', NULL,
                 'nor are the estimates of the usage rows behind it');
SELECT ok(strpos(aispend.report_html((SELECT period FROM p)), 'Batch Jobs') = 0
          AND strpos(aispend.report_html((SELECT period FROM p)), 'Alpha') > 0, 'its report names only its workspaces');
RESET ROLE;

SET ROLE tm_keyb;
SELECT is((SELECT ROW(round(total_cost, 2), round(previous_total_cost, 2))::text FROM aispend.workspaces_summary((SELECT period FROM p))),
          '(5.00,5.00)', 'team key_b1: the spend of its one key');
SELECT is((SELECT string_agg(ROW(name, round(cost, 2))::text, ';') FROM aispend.workspaces_table((SELECT period FROM p))),
          '("Batch Jobs",5.00)', 'shown under its key''s workspace');
SELECT is((SELECT string_agg(api_key_id, ',') FROM aispend.api_keys), 'key_b1', 'it sees its key''s row only');
SELECT is((SELECT count(*) FROM aispend.usage WHERE api_key_id <> 'key_b1'), 0::bigint, 'and no other key''s usage');
SELECT is((SELECT count(*) FROM aispend.workspaces WHERE workspace_id <> 'proj_b'), 0::bigint,
          'nor another workspace');
RESET ROLE;

-- a team given every name sees what a reader sees, for several periods and every tab
CREATE TEMP TABLE periods AS
SELECT aispend.custom_period(f, l) AS period
FROM (VALUES ('2026-07-01'::date, '2026-09-30'::date), ('2026-09-01', '2026-09-07'), ('2026-08-15', '2026-09-14'),
             ('2026-09-05', '2026-09-05')) v(f, l);
GRANT SELECT ON periods TO PUBLIC;
-- every row as text, numbers without trailing zeros (the two paths add up the same values at other scales)
CREATE FUNCTION pg_temp.tabs() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(t, '(\.[0-9]*?)0+([,)])', '\1\2', 'g'), '\.([,)])', '\1', 'g')
    FROM (SELECT 'w' || ROW(x.*)::text AS t FROM periods, aispend.workspaces_table(periods.period) x
          UNION ALL SELECT 'k' || ROW(x.*)::text FROM periods, aispend.api_keys_table(periods.period) x
          UNION ALL SELECT 'm' || ROW(x.*)::text FROM periods, aispend.models_table(periods.period) x
          UNION ALL SELECT 's' || ROW(x.*)::text FROM periods, aispend.models_summary(periods.period) x) r $$;
GRANT EXECUTE ON FUNCTION pg_temp.tabs() TO PUBLIC;
CREATE TEMP TABLE as_reader (row text);
GRANT ALL ON as_reader TO PUBLIC;
SET ROLE tm_reader;
INSERT INTO as_reader SELECT * FROM pg_temp.tabs();
RESET ROLE;
SET ROLE tm_all;
SELECT set_eq($$ SELECT * FROM pg_temp.tabs() $$, $$ SELECT * FROM as_reader $$,
              'a team given every workspace: every tab, row and figure equals a reader''s (4 periods)');
RESET ROLE;
SELECT ok((SELECT count(*) FROM as_reader) > 20, 'the comparison covers rows');

-- the owner and the reader see everything; scopes follow renames
SET ROLE tm_reader;
SELECT is((SELECT total_cost FROM aispend.workspaces_summary((SELECT period FROM p))), 25.00, 'a reader sees every row');
RESET ROLE;
UPDATE aispend.workspaces SET display_name = NULL WHERE workspace_id = 'wrk_c';
SET ROLE tm_alpha;
SELECT is((SELECT total_cost FROM aispend.workspaces_summary((SELECT period FROM p))), 13.60,
          'a workspace renamed away from Alpha leaves the team''s scope at once');
RESET ROLE;
SELECT throws_ok($$SELECT aispend.grant_team('postgres', ARRAY['Alpha'])$$, '22023', NULL,
                 'a role that bypasses row-level security cannot be a team');

SELECT * FROM finish();
ROLLBACK;
