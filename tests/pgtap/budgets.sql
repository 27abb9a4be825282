-- Budgets and the period-end forecast (issue 14, first part) on a hand-made spend: 10 USD every weekday and 4 USD
-- every Saturday and Sunday from 2026-10-01 to 2026-11-14 (bills loaded by hand: every day is settled). November
-- 2026 has 21 weekdays and 9 weekend days: 246 USD if the pattern holds. Rolled back.
BEGIN;
SELECT plan(16);
SET LOCAL client_min_messages = warning;
CREATE SERVER bg_oa FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
VALUES ('bg_oa', 'openai', 'proj_1', 'Budgeted', 'active');
INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency)
SELECT 'bg_oa', d::timestamp AT TIME ZONE 'UTC', 'proj_1', 'gpt-4o, input', 'gpt-4o',
       CASE WHEN extract(isodow FROM d) IN (6, 7) THEN 4 ELSE 10 END, 'USD'
FROM generate_series('2026-10-01'::date, '2026-11-14'::date, interval '1 day') d;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- Nov 1..14: 10 weekdays, 4 weekend days = 116; the last 7 days (Nov 8..14) average 58/7, the weekday factors
-- 70/58 and 28/58: every remaining day at exactly 10 or 4. Naive: 116 / 14 x 30 = 248.57.
SELECT results_eq($$ SELECT period, spent, forecast, low, high, naive, days_elapsed, days_left, history_days
                     FROM aispend.forecast(aispend.custom_period('2026-11-01', '2026-11-30'), 'workspace', 'Budgeted',
                                           '2026-11-15') $$,
    $$ VALUES (daterange('2026-11-01', '2026-12-01'), 116.00, 246.00, 246.00, 246.00, 248.57, 14, 16, 28) $$,
    'forecast: spent so far + each remaining day at its weekday''s level (weekends differ); naive for comparison');
SELECT is((SELECT sum(cost) FROM aispend.scope_daily_cost('account', 'bg_oa', '2026-11-01', '2026-11-14')), 116::numeric,
    'the spend of a scope per day');
SELECT results_eq($$ SELECT spent, forecast, naive, days_elapsed FROM aispend.forecast(aispend.custom_period('2026-11-01', '2026-11-30'),
                                                                       'provider', 'openai', '2026-11-01') $$,
    $$ VALUES (0.00, 246.00, NULL::numeric, 0) $$, 'on the first day: nothing spent, all projected, no naive figure');
SELECT results_eq($$ SELECT spent, forecast, days_left FROM aispend.forecast(aispend.custom_period('2026-11-01', '2026-11-14'),
                                                                  'organisation', NULL, '2026-12-01') $$,
    $$ VALUES (116.00, 116.00, 0) $$, 'a period in the past: the forecast is what was spent');

-- ---- budgets (the week of Monday 9 November: 5 weekdays and a Saturday spent = 54, Sunday projected at 4)
SELECT lives_ok($$ SELECT aispend.set_budget('Budgeted monthly', 200, 'workspace', 'Budgeted') $$, 'set a budget');
SELECT lives_ok($$ SELECT aispend.set_budget('Org weekly', 100, period_kind => 'week', thresholds => '{50,90}') $$,
    'a weekly budget with its own thresholds');
SELECT results_eq($$ SELECT name, period, amount_usd, spent, pct_used, forecast, forecast_pct, will_exceed, threshold_reached, days_left
                     FROM aispend.budgets_status('2026-11-15') WHERE name IN ('Budgeted monthly', 'Org weekly') $$,
    $$ VALUES ('Budgeted monthly', daterange('2026-11-01', '2026-12-01'), 200::numeric, 116.00, 58.0, 246.00, 123.0, true, 50::numeric, 16),
              ('Org weekly', daterange('2026-11-09', '2026-11-16'), 100, 54.00, 54.0, 58.00, 58.0, false, 50, 1) $$,
    'status: spent, % used, forecast to exceed, the threshold reached, the days left (week of Monday 9 November)');
SELECT aispend.set_budget('Budgeted monthly', 300, 'workspace', 'Budgeted');
SELECT is((SELECT will_exceed FROM aispend.budgets_status('2026-11-15') WHERE name = 'Budgeted monthly'), false,
    'setting a budget again replaces it');
SELECT throws_ok($$ SELECT aispend.set_budget('bad', 0) $$, '23514', NULL, 'an amount must be positive');
SELECT throws_ok($$ SELECT aispend.set_budget('bad', 10, 'workspace') $$, '23514', NULL, 'a workspace budget names the workspace');
CREATE ROLE bg_reader NOLOGIN;
SELECT aispend.grant_reader('bg_reader');
SET LOCAL ROLE bg_reader;
SELECT is((SELECT count(*)::integer FROM aispend.budgets_status('2026-11-15')), 2, 'a reader reads the budgets'' status');
SELECT throws_ok($$ SELECT aispend.set_budget('mine', 1) $$, '42501', NULL, 'but cannot set one');
RESET ROLE;
SELECT throws_ok($$ SELECT * FROM aispend.forecast(aispend.custom_period('2026-11-01', '2026-11-30'), 'team', 'x') $$,
    '22023', NULL, 'an unknown scope kind is an error, not a forecast of zero');
SELECT throws_ok($$ SELECT * FROM aispend.scope_daily_cost('workspace', NULL, '2026-11-01', '2026-11-02') $$,
    '22023', NULL, 'a scope kind without its value too');
SELECT is(aispend.drop_budget('Org weekly'), true, 'drop a budget');
SELECT is(aispend.drop_budget('Org weekly'), false, 'dropping it again says there was none');

SELECT * FROM finish();
ROLLBACK;
