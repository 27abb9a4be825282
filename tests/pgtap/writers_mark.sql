-- Without the triggers (as on Citus, where aispend.distribute drops them), aispend's own writers mark what they
-- change themselves (53_invalidation.sql, 54_workspace_management.sql): the sync's usage and costs steps mark
-- exactly the days they changed and note the models, the FOCUS import marks its days, a moved settlement horizon
-- marks the days between, renames record their history once. Over the small mock organisation
-- (pg_prove --set mock_url=...) and the FOCUS fixtures (--set focus_dir=...), in one transaction rolled back.
\if :{?focus_dir}
\else
\set focus_dir tests/fixtures/focus
\endif
\set aws `cat :'focus_dir'/aws.csv`
BEGIN;
SET client_min_messages = warning;
SELECT plan(12);

CREATE SERVER wm_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER wm_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE SERVER wm_aws FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CREATE FUNCTION pg_temp.marked(a name) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(day::text, ' ' ORDER BY day), '') FROM aispend._dirty_days WHERE account = a $$;

-- with the trigger in place, a rename is recorded once (the writer leaves it to the trigger)
SELECT count(*) FROM aispend._sync_workspaces('wm_openai', 'openai', now());
SELECT min(workspace_id) AS ws1, max(workspace_id) AS ws2 FROM aispend.workspaces WHERE account = 'wm_openai' \gset
SELECT aispend.rename_workspace('wm_openai', :'ws1', 'Renamed with the trigger');
SELECT is((SELECT count(*)::int FROM aispend.workspace_name_history WHERE account = 'wm_openai'), 1,
          'with the name history trigger, a rename is recorded once');

-- as aispend.distribute() does: the triggers that reach other tables are gone
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
              WHERE NOT g.tgisinternal
                AND g.tgfoid IN ('aispend._facts_changed()'::regprocedure, 'aispend._costs_runs_changed()'::regprocedure,
                                 'aispend._reroll_at_commit()'::regprocedure,
                                 'aispend._workspace_name_changed()'::regprocedure) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END $$;

SELECT count(*) FROM aispend._sync_usage('wm_openai', 'openai', '2026-09-01', '2026-09-08', '1d', now());
SELECT is(pg_temp.marked('wm_openai'),
          (SELECT string_agg(d::text, ' ' ORDER BY d) FROM (SELECT DISTINCT (bucket_start AT TIME ZONE 'UTC')::date AS d
                   FROM aispend.usage WHERE account = 'wm_openai') x),
          'the usage step marks every day it wrote');
SELECT is((SELECT string_agg(model, ' ' ORDER BY model) FROM aispend.models WHERE account = 'wm_openai'),
          (SELECT string_agg(DISTINCT model, ' ' ORDER BY model) FROM aispend.usage
            WHERE account = 'wm_openai' AND model IS NOT NULL),
          'and notes every model it names');
SELECT count(*) FROM aispend._sync_costs('wm_openai', 'openai', '2026-09-01', '2026-09-08', now());
SELECT ok(aispend._reroll('wm_openai') > 0, 'the marked days are re-rolled');
SELECT is_empty($$
    SELECT day, workspace_id, r.cost, f.cost
      FROM (SELECT day, workspace_id, sum(cost) AS cost FROM aispend.daily_rollup WHERE account = 'wm_openai'
             GROUP BY 1, 2) r
      FULL JOIN (SELECT day, workspace_id, sum(coalesce(cost, 0)) AS cost
                   FROM aispend.cost_facts_between('wm_openai', '2026-09-01', '2026-09-07') GROUP BY 1, 2) f
     USING (day, workspace_id)
     WHERE r.cost IS DISTINCT FROM f.cost $$,
    'without the triggers, the rollups of the synced week equal the live cost model, day by day and workspace');

-- a row gone upstream: the step deletes it and marks its day, and only that day
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, requests)
VALUES ('wm_openai', 'completions', '2026-09-03 00:00+00', '1d', :'ws1', 'key_gone', 'gone-model', 1);
SELECT is((SELECT row(fetched > 0, inserted, updated, deleted)::text
             FROM aispend._sync_usage('wm_openai', 'openai', '2026-09-01', '2026-09-08', '1d', now())),
          '(t,0,0,1)', 'a re-sync deletes the row no longer upstream and writes nothing else');
SELECT is(pg_temp.marked('wm_openai'), '2026-09-03', 'it marks that day only');
SELECT aispend._reroll('wm_openai');

-- the settlement horizon (aispend.settled_before) moving: the days between are marked
SELECT aispend._mark_settlement_moved('wm_openai', '2026-09-03', '2026-09-05');
SELECT is(pg_temp.marked('wm_openai'), '2026-09-03 2026-09-04', 'a horizon moved on marks the days it settles');
SELECT aispend._reroll('wm_openai');
SELECT aispend._mark_settlement_moved('wm_openai', NULL, '2026-09-06');
SELECT is(pg_temp.marked('wm_openai'), '2026-09-06 2026-09-07',
          'from no horizon (every billed day settled) to one: the days from it to the last are marked');
SELECT aispend._reroll('wm_openai');

-- the FOCUS import marks the days of the charges it rebuilt (and re-rolls them before it returns)
SELECT count(*) FROM aispend.import_focus('wm_aws', :'aws');
SELECT is((SELECT string_agg(concat_ws(' ', day, workspace_id, cost), ', ' ORDER BY day, workspace_id)
             FROM (SELECT day, workspace_id, sum(cost) AS cost FROM aispend.daily_rollup WHERE account = 'wm_aws'
                    GROUP BY 1, 2) r),
          (SELECT string_agg(concat_ws(' ', day, workspace_id, cost), ', ' ORDER BY day, workspace_id)
             FROM (SELECT day, workspace_id, sum(coalesce(cost, 0)) AS cost
                     FROM aispend.cost_facts_between('wm_aws', '-infinity', 'infinity') GROUP BY 1, 2) f),
          'without the triggers, the FOCUS import''s rollups equal the live cost model');

-- without the trigger, the writers of names record the change themselves, once
SELECT aispend.rename_workspace('wm_openai', :'ws2', 'Renamed without the trigger');
SELECT max(id) AS change FROM aispend.workspace_name_history WHERE account = 'wm_openai' \gset
SELECT aispend.revert_workspace_name('wm_openai', :change);
SELECT is((SELECT string_agg(concat_ws(':', action, new_name), ', ' ORDER BY id) FROM aispend.workspace_name_history
            WHERE account = 'wm_openai' AND workspace_id = :'ws2'),
          (SELECT concat('rename:Renamed without the trigger, revert:', provider_name) FROM aispend.workspaces
            WHERE account = 'wm_openai' AND workspace_id = :'ws2'),
          'without the trigger, a rename and its revert are each recorded once');
SELECT is((SELECT count(*)::int FROM aispend.workspace_name_history WHERE account = 'wm_openai' AND workspace_id = :'ws1'),
          1, 'the other workspace''s history is untouched');

SELECT * FROM finish();
ROLLBACK;
