-- No aispend function can be hijacked through the caller's search_path (issue 11, finding 2): every function
-- either pins search_path (pg_catalog, aispend, pg_temp) or has a SQL-standard body, bound to its functions and
-- operators when it was created; the procedures that COMMIT (and so cannot pin it) schema-qualify every call.
-- Then a hostile schema first in the search_path plants functions and operators that beat pg_catalog's, and
-- functions run as the owner must never call them.
BEGIN;
SELECT plan(10);

SELECT is_empty($$
    SELECT p.oid::regprocedure::text
    FROM pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace
      AND p.prosqlbody IS NULL
      AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                      WHERE c ~ '^search_path=pg_catalog(, aispend)?, pg_temp$')
      AND NOT (p.prokind = 'p' AND p.proname IN ('sync', 'refresh', '_sync_step', '_after_sync', 'check_alerts',
                                                   '_refresh_work')) $$,
    'every function pins search_path to pg_catalog[, aispend], pg_temp or has a SQL-standard body');

-- The procedures: every function call in their bodies is schema-qualified (strings and comments aside).
SELECT is_empty($$
    SELECT p.proname || ': ' || m[1]
    FROM pg_proc p,
         regexp_matches(regexp_replace(regexp_replace(p.prosrc, '--[^\n]*', '', 'g'), '''[^'']*''', '''''', 'g'),
                        '(?:^|[^\w.])([a-z_][a-z0-9_]*)\s*\(', 'g') AS m
    WHERE p.pronamespace = 'aispend'::regnamespace AND p.prokind = 'p'
      AND lower(m[1]) NOT IN ('if', 'elsif', 'when', 'and', 'or', 'not', 'in', 'exists', 'coalesce', 'nullif',
                              'greatest', 'least', 'array', 'row', 'values', 'any', 'all', 'case', 'then',
                              'else', 'select', 'where', 'on', 'using', 'returning', 'into', 'exception', 'raise',
                              'perform', 'call', 'filter', 'over', 'set', 'from', 'interval', 'loop', 'return') $$,
    'the procedures that COMMIT schema-qualify every function they call');

-- ---- a hostile schema, searched before pg_catalog
CREATE SCHEMA sp_evil;
CREATE TABLE sp_evil.fired (what text);
CREATE FUNCTION sp_evil.count(text) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('count(text)') RETURNING 0::bigint $$;
CREATE FUNCTION sp_evil.format(text, regclass) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('format(text, regclass)') RETURNING ''::text $$;
CREATE FUNCTION sp_evil.lower(text) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('lower(text)') RETURNING $1 $$;
CREATE FUNCTION sp_evil.max(timestamptz) RETURNS timestamptz LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('max(timestamptz)') RETURNING $1 $$;
CREATE FUNCTION sp_evil.name_eq_text(name, text) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('=(name, text)') RETURNING $1::text = $2 $$;
CREATE OPERATOR sp_evil.= (LEFTARG = name, RIGHTARG = text, FUNCTION = sp_evil.name_eq_text);
CREATE FUNCTION sp_evil.bigint_times_numeric(bigint, numeric) RETURNS numeric LANGUAGE sql
    AS $$ INSERT INTO sp_evil.fired VALUES ('*(bigint, numeric)') RETURNING $1::numeric * $2 $$;
CREATE OPERATOR sp_evil.* (LEFTARG = bigint, RIGHTARG = numeric, FUNCTION = sp_evil.bigint_times_numeric);
GRANT USAGE ON SCHEMA sp_evil TO PUBLIC;
GRANT INSERT ON sp_evil.fired TO PUBLIC;

-- a small account to read and to forget
CREATE SERVER sp_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
VALUES ('sp_openai', 'openai', 'proj_sp', 'Search Path', 'active');
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, output_tokens, requests)
VALUES ('sp_openai', 'completions', '2026-09-10 00:00+00', '1d', 'proj_sp', 'key_sp', 'gpt-4o-mini', 1000000, 1000, 3);
INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, amount_usd, currency)
VALUES ('sp_openai', '2026-09-10 00:00+00', 'proj_sp', NULL, 'gpt-4o-mini, input', 'gpt-4o-mini', 0.15, 'USD'),
       ('sp_openai', '2026-09-10 00:00+00', 'proj_sp', 'key_sp', 'web search', NULL, 0.01, 'USD');

SET LOCAL search_path = sp_evil, pg_catalog, public;
SET CONSTRAINTS ALL IMMEDIATE;   -- the re-roll (triggers, cost model) runs under the hostile search_path
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT sum(cost) FROM aispend.cost_facts_between('sp_openai', '2026-09-01', '2026-09-30')), 0.16::numeric,
          'the cost model under a hostile search_path');
SELECT is((SELECT cost FROM aispend.workspaces_table(aispend.custom_period('2026-09-01', '2026-09-30'), search => 'search')),
          0.16::numeric, 'the Workspaces tab, with a search');
SELECT is((SELECT count(*) FROM aispend.api_keys_table(aispend.custom_period('2026-09-01', '2026-09-30'), search => 'KEY_SP')),
          1::bigint, 'the API keys tab, with a search');
SELECT ok((SELECT length(aispend.report_html(aispend.custom_period('2026-09-01', '2026-09-30'))) > 1000), 'the report');
SELECT is((SELECT count(*) FROM aispend.refresh_rollups('sp_openai')), 1::bigint, 'refresh_rollups');
DROP SERVER sp_openai;
SELECT ok((SELECT sum(rows_deleted) FROM aispend.forget_account('sp_openai')) > 0, 'forget_account (0.1.0 ran a planted format())');
SET CONSTRAINTS ALL IMMEDIATE;
RESET search_path;
SELECT is((SELECT string_agg(DISTINCT what, ', ') FROM sp_evil.fired), NULL, 'no planted function or operator ever ran');

-- and the same as a reader, for the functions a reader may call
SELECT is((SELECT string_agg(p.proname || ' ' || array_to_string(p.proconfig, ','), '; ' ORDER BY p.proname)
           FROM pg_proc p WHERE p.pronamespace = 'aispend'::regnamespace AND p.prosecdef),
          '_citus_team_check search_path=pg_catalog, pg_temp; _citus_team_scope search_path=pg_catalog, pg_temp; '
          '_refresh_sweep search_path=pg_catalog, aispend, pg_temp; _team_keys search_path=pg_catalog, aispend, pg_temp; '
          '_team_workspaces search_path=pg_catalog, aispend, pg_temp',
          'the only SECURITY DEFINER functions are the team-scope lookups the row-level policies need (two on a '
          'single node, two on a Citus worker) and the sweep that marks other roles'' refresh requests failed '
          'when their worker is gone, pinned');

SELECT * FROM finish();
ROLLBACK;
