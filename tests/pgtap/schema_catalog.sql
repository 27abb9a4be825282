-- Catalog rules of the aispend schema (no provider needed). Runs in one transaction, rolled back.
BEGIN;
SELECT plan(13);

-- Every primary key and unique constraint of every aispend table includes account (Citus: distribute by
-- account), except the global tables (Citus reference tables): the price catalogue, the teams, the budgets and
-- the alerts (rules, webhooks, alerts and their deliveries span accounts).
SELECT is_empty($$
    SELECT c.conrelid::regclass::text || ' ' || c.conname
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
    WHERE t.relnamespace = 'aispend'::regnamespace AND c.contype IN ('p', 'u')
      AND t.relname NOT IN ('model_prices', 'teams', 'team_scopes', 'budgets', 'alert_rules', 'webhooks', 'alerts', 'alert_deliveries')
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = c.conrelid AND a.attname = 'account' AND a.attnum = ANY (c.conkey))
$$, 'every PK / unique constraint of an aispend table includes account');

SELECT is_empty($$
    SELECT i.indexrelid::regclass::text
    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
    WHERE t.relnamespace = 'aispend'::regnamespace AND i.indisunique AND t.relname NOT IN ('model_prices', 'teams', 'team_scopes', 'budgets', 'alert_rules', 'webhooks', 'alerts', 'alert_deliveries')
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = i.indrelid AND a.attname = 'account' AND a.attnum = ANY (i.indkey))
$$, 'every unique index of an aispend table includes account');

SELECT is_empty($$
    SELECT t.relname::text FROM pg_class t
    WHERE t.relnamespace = 'aispend'::regnamespace AND t.relkind IN ('r', 'p') AND t.relname NOT IN ('model_prices', 'teams', 'team_scopes', 'budgets', 'alert_rules', 'webhooks', 'alerts', 'alert_deliveries')
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'account')
$$, 'every aispend table carries account');

SELECT set_eq($$
    SELECT c.conname::text FROM pg_constraint c JOIN pg_index i ON i.indexrelid = c.conindid
    WHERE c.conrelid IN ('aispend.usage'::regclass, 'aispend.costs'::regclass) AND c.contype = 'u'
      AND i.indnullsnotdistinct
$$, ARRAY['usage_natural_key', 'costs_natural_key'], 'fact natural keys are UNIQUE NULLS NOT DISTINCT');

SELECT col_is_pk('aispend', 'workspaces', ARRAY['account', 'workspace_id'], 'workspaces key');
SELECT col_is_pk('aispend', 'api_keys', ARRAY['account', 'api_key_id'], 'api_keys key');
SELECT col_is_pk('aispend', 'sync_runs', ARRAY['account', 'id'], 'sync_runs key');
SELECT col_type_is('aispend', 'costs', 'amount_usd', 'numeric', 'money is numeric');

-- pg_dump keeps the synced data and the run log.
SELECT ok((SELECT array_agg(c::regclass::text) FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'aispend')
          @> ARRAY['aispend.workspaces', 'aispend.api_keys', 'aispend.usage', 'aispend.costs', 'aispend.sync_runs',
                   'aispend.sync_runs_id_seq', 'aispend.account_providers'],
          'tables registered with pg_extension_config_dump');
-- Derived tables are rebuilt by the facts' triggers on restore; dumping them would collide with that.
SELECT is_empty($$
    SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c
    WHERE e.extname = 'aispend'
      AND c::regclass::text IN ('aispend.models', 'aispend.daily_rollup', 'aispend._cum', 'aispend._rollup_state',
                                'aispend._dirty_days') $$,
    'derived tables are not dumped');

-- COMMENT ON every table, view and non-internal function.
SELECT is_empty($$
    SELECT c.relname::text FROM pg_class c
    WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
      AND obj_description(c.oid, 'pg_class') IS NULL
$$, 'every aispend table and view has a comment');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace AND p.proname NOT LIKE '\_%'
      AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every public aispend function and procedure has a comment');

SELECT is(
    (SELECT prokind::text FROM pg_proc WHERE oid = 'aispend.sync(name, timestamptz, timestamptz)'::regprocedure),
    'p', 'aispend.sync is a procedure (it commits per chunk)');

SELECT * FROM finish();
ROLLBACK;
