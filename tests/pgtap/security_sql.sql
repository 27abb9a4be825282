-- Issue 11, the findings in SQL, each with the behaviour 0.1.0 had:
--   7  an absurd stored amount made report_html() fail (22003) for every reader
--   12 readers saw the providers' raw error texts in sync_runs and aispend.freshness
--   13 CSV exports wrote names starting with =, +, -, @ unchanged (they run as spreadsheet formulas)
--   14 a name of only white space was kept; a huge name raised XX000; admins could UPDATE and DELETE the
--      rename history
--   the audit trail of accounts and key mappings (who, when, never a key), append-only
BEGIN;
SELECT plan(21);

CREATE ROLE sq_admin NOLOGIN;
CREATE ROLE sq_reader NOLOGIN;
SELECT aispend.grant_admin('sq_admin');
SELECT aispend.grant_reader('sq_reader');

CREATE SERVER sq_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status) VALUES
    ('sq_openai', 'openai', 'p_huge', 'Huge', 'active'), ('sq_openai', 'openai', 'p_formula', '=HYPERLINK("x")', 'active'),
    ('sq_openai', 'openai', 'p_dash', '-Legacy', 'active');
INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency) VALUES
    ('sq_openai', '2026-09-10', 'p_huge', 'x', 'gpt-4o', 1e400, 'USD'),
    ('sq_openai', '2026-09-10', 'p_formula', 'x', 'gpt-4o', 2, 'USD'),
    ('sq_openai', '2026-09-10', 'p_dash', 'x', 'gpt-4o', 1, 'USD');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- 7
SET ROLE sq_reader;
SELECT ok(strpos(aispend.report_html(aispend.custom_period('2026-09-01', '2026-09-30')), '$1.00e+400') > 0,
          'an absurd amount: the report is built and shows it ($1.00e+400)');
RESET ROLE;

-- 13
SELECT is((SELECT string_agg("Name", ' | ' ORDER BY "Name")
           FROM aispend.workspaces_csv(aispend.custom_period('2026-09-01', '2026-09-30'))),
          '''-Legacy | ''=HYPERLINK("x") | Huge', 'CSV names that a spreadsheet would run get a leading apostrophe');
SELECT is((SELECT string_agg("Workspace Name", ' | ' ORDER BY "Workspace Name") FROM aispend.workspace_management_csv
           WHERE "Workspace ID" LIKE 'p\_%'),
          '''-Legacy | ''=HYPERLINK("x") | Huge', 'and in the Workspace Management CSV');
SELECT is(aispend.csv_cell('@SUM(A1)') || aispend.csv_cell('+1') || aispend.csv_cell(E'\tx') || aispend.csv_cell('ok'),
          '''@SUM(A1)''+1''' || E'\tx' || 'ok', 'csv_cell: @, +, tab; plain text unchanged');

-- 14
UPDATE aispend.workspaces SET display_name = E' \t\u00a0\u2003\n' WHERE workspace_id = 'p_dash';
SELECT is((SELECT display_name FROM aispend.workspaces WHERE workspace_id = 'p_dash'), NULL,
          'a name of only white space (tab, no-break and em spaces, line break) is no custom name');
UPDATE aispend.workspaces SET display_name = E'\u00a0 Research \t' WHERE workspace_id = 'p_dash';
SELECT is((SELECT display_name FROM aispend.workspaces WHERE workspace_id = 'p_dash'), 'Research',
          'a custom name is trimmed of any white space');
SELECT throws_ok($$UPDATE aispend.workspaces SET display_name = repeat('x', 201) WHERE workspace_id = 'p_dash'$$,
                 '22001', NULL, 'a name of 201 characters is refused with 22001');
SELECT throws_ok($$UPDATE aispend.workspaces SET display_name = repeat('na', 50000000) WHERE workspace_id = 'p_dash'$$,
                 '22001', NULL, 'a 100 MB name: 22001 too, not XX000');
SET ROLE sq_admin;
SELECT lives_ok($$SELECT aispend.rename_workspace('sq_openai', 'p_huge', 'Big Spender')$$, 'the admin renames');
SELECT throws_ok($$UPDATE aispend.workspace_name_history SET new_name = 'forged' WHERE account = 'sq_openai'$$,
                 '42501', NULL, 'the admin cannot rewrite the name history');
SELECT throws_ok($$DELETE FROM aispend.workspace_name_history WHERE account = 'sq_openai'$$,
                 '42501', NULL, 'nor delete from it');
SELECT throws_ok($$TRUNCATE aispend.workspace_name_history$$, '42501', NULL, 'nor truncate it');
INSERT INTO aispend.workspace_name_history (account, workspace_id, source, new_name, changed_by, changed_at)
VALUES ('sq_openai', 'p_huge', 'custom', 'planted', 'someone_else', '2020-01-01');
SELECT is((SELECT ROW(changed_by, changed_at = now())::text FROM aispend.workspace_name_history WHERE new_name = 'planted'),
          '(sq_admin,t)', 'a row added by hand names who added it, and when');
RESET ROLE;

-- the audit log of accounts and key mappings
SET ROLE sq_admin;
CREATE SERVER sq_audit FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
ALTER SERVER sq_audit OPTIONS (ADD backfill_days '30');
CREATE USER MAPPING FOR CURRENT_USER SERVER sq_audit OPTIONS (admin_key 'sk-ant-admin01-AUDITSECRET');
DROP USER MAPPING FOR CURRENT_USER SERVER sq_audit;
DROP SERVER sq_audit;
SELECT is((SELECT string_agg(concat_ws(' / ', action, by_role, details), E'\n' ORDER BY at)
           FROM aispend.audit_log WHERE account = 'sq_audit'),
          concat_ws(E'\n', 'CREATE SERVER / sq_admin / {"options": ["provider=anthropic"]}',
                    'ALTER SERVER / sq_admin / {"options": ["provider=anthropic", "backfill_days=30"]}',
                    'CREATE USER MAPPING / sq_admin / {"option_names": ["admin_key"]}',
                    'DROP USER MAPPING / sq_admin', 'DROP SERVER / sq_admin'),
    'every change of an account and of its key mapping is logged with who and when');
SELECT is((SELECT count(*)::int FROM aispend.audit_log a WHERE a::text LIKE '%AUDITSECRET%'), 0, 'never the key');
SELECT throws_ok($$DELETE FROM aispend.audit_log WHERE account = 'sq_audit'$$, '42501', NULL,
                 'the admin cannot remove audit rows');
SELECT throws_ok($$UPDATE aispend.audit_log SET by_role = 'nobody'$$, '42501', NULL, 'nor change them');
-- the name of Citus's internal connections (a worker skips the DDL its coordinator already logged) hides nothing
SET application_name = 'citus_internal gpid=10000000001';
CREATE SERVER sq_audit2 FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
DROP SERVER sq_audit2;
RESET application_name;
SELECT is((SELECT string_agg(action, ', ' ORDER BY at, action) FROM aispend.audit_log WHERE account = 'sq_audit2'),
          'CREATE SERVER, DROP SERVER', 'a session named like a Citus internal connection is logged all the same');
RESET ROLE;

-- 12
INSERT INTO aispend.sync_runs (account, endpoint, status, error_sqlstate, error_message, finished_at)
VALUES ('sq_openai', 'usage', 'failed', 'AS002', 'provider said: internal host db-7.corp:5432 refused', now());
SET ROLE sq_reader;
SELECT throws_ok($$SELECT error_message FROM aispend.sync_runs$$, '42501', NULL,
                 'a reader cannot read the providers'' error texts in sync_runs');
SELECT is((SELECT ROW(last_error_sqlstate, last_error_message)::text FROM aispend.freshness
           WHERE account = 'sq_openai' AND endpoint = 'usage'), '(AS002,)',
          'aispend.freshness shows a reader the SQLSTATE, not the text');
RESET ROLE;
SELECT is((SELECT last_error_message FROM aispend.freshness WHERE account = 'sq_openai' AND endpoint = 'usage'),
          'provider said: internal host db-7.corp:5432 refused', 'an admin (here the owner) sees the text');

SELECT * FROM finish();
ROLLBACK;
