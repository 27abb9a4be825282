-- Spikes and the alert state machine (issue 14) on a hand-made spend, 2026-07-01 to 2026-11-14 (bills loaded by
-- hand: every day is settled), all in one workspace "Alerted" of account al_oa:
--   key_steady   10 USD every weekday, 4 every Saturday and Sunday; 60 on Thursday 2026-11-12 (the spike);
--   key_cents    0.10 a day, 2.00 on 2026-11-12 (20x, but 1.90 over: cents page no one);
--   key_monthly  5 a day, 50 on the 1st of every month (a monthly job: a pattern, not a spike, once seen twice);
--   key_new      nothing, then 25 on 2026-11-13 and 2026-11-14 (new spending).
-- Rolled back.
BEGIN;
SELECT plan(36);
SET LOCAL client_min_messages = warning;
CREATE SERVER al_oa FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
VALUES ('al_oa', 'openai', 'proj_1', 'Alerted', 'active');
INSERT INTO aispend.api_keys (account, provider, api_key_id, name, workspace_id, status)
SELECT 'al_oa', 'openai', k, k, 'proj_1', 'active' FROM unnest('{key_steady,key_cents,key_monthly,key_new}'::text[]) k;
INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, amount_usd, currency)
SELECT 'al_oa', d::timestamp AT TIME ZONE 'UTC', 'proj_1', k.key, 'gpt-4o, input', 'gpt-4o', k.amount, 'USD'
FROM generate_series('2026-07-01'::date, '2026-11-14'::date, interval '1 day') d
CROSS JOIN LATERAL (VALUES
    ('key_steady', CASE WHEN d = '2026-11-12' THEN 60 WHEN extract(isodow FROM d) IN (6, 7) THEN 4 ELSE 10 END),
    ('key_cents', CASE WHEN d = '2026-11-12' THEN 2.00 ELSE 0.10 END),
    ('key_monthly', CASE WHEN extract(day FROM d) = 1 THEN 50 ELSE 5 END),
    ('key_new', CASE WHEN d >= '2026-11-13' THEN 25 END)) AS k(key, amount)
WHERE k.amount IS NOT NULL;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- ---- detection
SELECT results_eq($$ SELECT day, kind, entity, account, observed, expected, ratio, score, flag
                     FROM aispend.anomalies('[2026-11-01,2026-11-15)', 'api_key') $$,
    $$ VALUES ('2026-11-14'::date, 'api_key', 'key_new', 'al_oa'::name, 25.00, 0.00, NULL::numeric, NULL::numeric, 'new'),
              ('2026-11-13', 'api_key', 'key_new', 'al_oa', 25.00, 0.00, NULL, NULL, 'new'),
              ('2026-11-12', 'api_key', 'key_steady', 'al_oa', 60.00, 10.00, 6.00, 50.0, 'spike') $$,
    'keys: the spike (60 against the weekday median 10, scale a tenth of it: score 50) and the new key; not the '
    'weekends, not the cents, not the 1st of November (the monthly job)');
SELECT results_eq($$ SELECT day, kind, entity, observed, expected, flag
                     FROM aispend.anomalies('[2026-11-01,2026-11-15)', 'workspace') $$,
    $$ VALUES ('2026-11-14'::date, 'workspace', 'Alerted', 34.10, 9.10, 'spike'),
              ('2026-11-13', 'workspace', 'Alerted', 40.10, 15.10, 'spike'),
              ('2026-11-12', 'workspace', 'Alerted', 67.00, 15.10, 'spike') $$,
    'the workspace sums its keys: 67 on the 12th; the new key''s 25 lifts the 13th and the Saturday 14th');
SELECT results_eq($$ SELECT day, entity, flag FROM aispend.anomalies('[2026-08-01,2026-10-02)', 'api_key') $$,
    $$ VALUES ('2026-09-01'::date, 'key_monthly', 'spike'), ('2026-08-01', 'key_monthly', 'spike') $$,
    'the monthly job is a spike on 1 August and 1 September, and a pattern from 1 October on (two months before)');
SELECT is((SELECT count(*)::integer FROM aispend.anomalies('[2026-07-01,2026-07-29)')), 0,
    'no day is judged without 28 days of history before it');
SELECT is((SELECT count(*)::integer FROM aispend.anomalies('[2026-11-12,2026-11-13)', 'api_key', min_cost => 1)), 2,
    'min_cost lowered to 1 USD: the cents key''s 20x day is flagged too');
SELECT is((SELECT count(*)::integer FROM aispend.anomalies('[2026-11-12,2026-11-13)', 'api_key', min_score => 60)), 0,
    'min_score above the spike''s score: nothing');
SELECT is((SELECT count(*)::integer FROM aispend.anomalies('[2026-11-12,2026-11-13)', 'api_key', provider => 'anthropic')), 0,
    'the provider filter');
SELECT is((SELECT count(*)::integer FROM aispend.anomalies('Last 30 days')), (SELECT count(*)::integer FROM aispend.anomalies()),
    'the period by name');
SELECT throws_ok($$ SELECT * FROM aispend.anomalies(kind => 'team') $$, '22023', NULL, 'an unknown kind is an error');
SELECT results_eq($$ SELECT expected, scale, active_days FROM aispend._baselines('{3,1,2,10,5}', '2026-11-02', '{5}') $$,
    $$ VALUES (2.5, 1.4826, 4) $$,
    'a baseline: the exact median of an even count (2.5), 1.4826 x the median absolute deviation (1)');

-- ---- rules and the state machine
SELECT aispend.set_budget('Steady key', 200, 'api_key', 'key_steady');
SELECT lives_ok($$ SELECT aispend.set_alert_rule('al budget', 'budget_threshold', budget => 'Steady key');
                   SELECT aispend.set_alert_rule('al forecast', 'budget_forecast', budget => 'Steady key');
                   SELECT aispend.set_webhook('al hook', 'http://127.0.0.1:9/secret-token-path');
                   SELECT aispend.set_alert_rule('al spikes', 'anomaly', anomaly_kind => 'api_key', webhook => 'al hook');
                   SELECT aispend.set_alert_rule('al sync', 'sync_failure');
                   SELECT aispend.set_alert_rule('al stale', 'stale_data', max_age_hours => 24) $$,
    'rules as rows');
SELECT throws_ok($$ SELECT aispend.set_alert_rule('bad', 'anomaly', budget => 'Steady key') $$, '23514', NULL,
    'a budget belongs to budget rules');
SELECT throws_ok($$ SELECT aispend.set_alert_rule('bad', 'budget_threshold', budget => 'no such budget') $$, '23503', NULL,
    'a rule names an existing budget');

-- Thursday 12th as of Friday 13th: 152 of 200 spent (76%: the 50% threshold), the forecast above 200, the spike.
CREATE TEMP TABLE ev1 AS SELECT * FROM aispend.evaluate_alerts('2026-11-13') WHERE rule LIKE 'al %';
SELECT results_eq($$ SELECT event, rule, scope FROM ev1 WHERE rule IN ('al budget', 'al forecast', 'al spikes') ORDER BY rule, scope $$,
    $$ VALUES ('firing', 'al budget', 'budget Steady key'), ('firing', 'al forecast', 'budget Steady key'),
              ('firing', 'al spikes', 'api key key_steady (al_oa)') $$,
    'first evaluation: the 50% threshold, the forecast and the spike fire');
SELECT results_eq($$ SELECT observed, threshold, message FROM aispend.alerts WHERE rule = 'al budget' $$,
    $$ VALUES (152.00, 100.00, 'Budget "Steady key" has used 76.0% of $200 (threshold 50%): $152.00 spent, 18 days left') $$,
    'the threshold alert: spent, the threshold in dollars, one line');
SELECT is((SELECT observed > threshold AND threshold = 200 FROM aispend.alerts WHERE rule = 'al forecast'), true,
    'the forecast alert: the forecast over the amount');
SELECT results_eq($$ SELECT d.event, d.webhook, d.state, d.body->>'text' FROM aispend.alert_deliveries d
                     JOIN aispend.alerts a ON a.id = d.alert_id WHERE a.rule = 'al spikes' $$,
    $$ VALUES ('firing', 'al hook', 'pending', '[aispend] FIRING: Spike of api key key_steady (al_oa): $60.00 on 2026-11-12, expected $10.00 (6.00x, score 50.0)') $$,
    'a rule with a webhook queues its body (Slack-compatible text)');
SELECT throws_ok($$ SELECT aispend.set_webhook('bad', 'http://hooks.example.com/secret-token-path') $$, '22023',
    'aispend: webhook bad must use https', 'plain http only to loopback, and the refusal does not echo the URL');
SELECT throws_ok($$ SELECT aispend.set_webhook('bad', 'not a url secret-token-path') $$, '22023',
    'aispend: webhook bad has no valid URL', 'a malformed URL is refused without echoing it');
SELECT is((SELECT message FROM ev1 WHERE rule = 'al stale' AND scope = 'account al_oa'),
    'No successful sync of al_oa yet', 'an account never synced is stale');

SELECT aispend.set_budget('Dup', 200, 'api_key', 'key_steady', thresholds => '{50,50.0}') \g /dev/null
SELECT aispend.set_alert_rule('al dup', 'budget_threshold', budget => 'Dup') \g /dev/null
SELECT results_eq($$ SELECT event, message FROM aispend.evaluate_alerts('2026-11-13') WHERE rule = 'al dup' $$,
    $$ VALUES ('firing', 'Budget "Dup" has used 76.0% of $200 (threshold 50%): $152.00 spent, 18 days left') $$,
    'a threshold given twice (50 and 50.0) is one alert, and the other rules stay quiet');

-- Friday 13th as of Saturday 14th: 162 (81%: the 80% threshold too); the spike still in the last two days; the new key.
SELECT results_eq($$ SELECT event, rule, scope FROM aispend.evaluate_alerts('2026-11-14') WHERE rule IN ('al budget', 'al forecast', 'al spikes') ORDER BY rule, scope $$,
    $$ VALUES ('firing', 'al budget', 'budget Steady key'), ('firing', 'al spikes', 'api key key_new (al_oa)') $$,
    'second evaluation: only what is new fires (the 80% threshold, the new key); the rest stays quiet');
SELECT results_eq($$ SELECT threshold, state FROM aispend.alerts WHERE rule = 'al budget' ORDER BY threshold $$,
    $$ VALUES (100.00, 'firing'), (160.00, 'firing') $$, 'both thresholds are firing, one row each');
SELECT is((SELECT count(*)::integer FROM aispend.alerts WHERE rule = 'al spikes' AND scope LIKE '%key_steady%'), 1,
    'the spike is one alert, still firing');
SELECT is((SELECT last_fired >= first_fired FROM aispend.alerts WHERE rule = 'al spikes' AND scope LIKE '%key_steady%'), true,
    'its last_fired moved');

-- Acknowledge the new key; as of Sunday 15th the spike has left the last two days: resolved.
SELECT is((aispend.acknowledge_alert((SELECT id FROM aispend.alerts WHERE scope LIKE '%key_new%'))).state, 'acknowledged',
    'acknowledge an alert');
SELECT throws_ok(format('SELECT aispend.acknowledge_alert(%s)', (SELECT id FROM aispend.alerts WHERE scope LIKE '%key_new%')),
    'P0002', NULL, 'an alert that is not firing cannot be acknowledged');
SELECT results_eq($$ SELECT event, scope FROM aispend.evaluate_alerts('2026-11-15') WHERE rule = 'al spikes' $$,
    $$ VALUES ('resolved', 'api key key_steady (al_oa)') $$, 'the spike resolves itself when it clears');
SELECT is((SELECT state FROM aispend.alerts WHERE scope LIKE '%key_new%'), 'acknowledged',
    'the acknowledged alert stays acknowledged while it holds');
SELECT is((SELECT count(*)::integer FROM aispend.evaluate_alerts('2026-11-17') WHERE rule = 'al spikes'), 1,
    'and resolves when it clears');

-- A new month: the November thresholds and forecast resolve; a failed sync fires and a success resolves it.
SELECT results_eq($$ SELECT event, rule FROM aispend.evaluate_alerts('2026-12-01') WHERE rule IN ('al budget', 'al forecast')
                     ORDER BY rule, alert_id $$,
    $$ VALUES ('resolved', 'al budget'), ('resolved', 'al budget'), ('resolved', 'al forecast') $$,
    'December: November''s budget alerts resolve');
INSERT INTO aispend.sync_runs (account, endpoint, status, finished_at, error_sqlstate, error_message)
VALUES ('al_oa', 'costs', 'failed', now(), 'AS005', 'rate limited');
SELECT is((SELECT message FROM aispend.evaluate_alerts('2026-12-01') WHERE rule = 'al sync' AND scope = 'account al_oa'),
    'Sync of al_oa costs failed (SQLSTATE AS005)', 'a failed sync fires (its SQLSTATE, never the provider''s words)');
INSERT INTO aispend.sync_runs (account, endpoint, status, finished_at, started_at)
VALUES ('al_oa', 'costs', 'succeeded', clock_timestamp(), clock_timestamp());
SELECT results_eq($$ SELECT event, rule FROM aispend.evaluate_alerts('2026-12-01') WHERE scope = 'account al_oa' ORDER BY rule $$,
    $$ VALUES ('resolved', 'al stale'), ('resolved', 'al sync') $$,
    'a successful sync resolves the failure and the staleness');

-- ---- roles: readers read, admins change
CREATE ROLE al_reader NOLOGIN;
SELECT aispend.grant_reader('al_reader');
SET LOCAL ROLE al_reader;
SELECT is((SELECT count(*) > 0 FROM aispend.alerts), true, 'a reader reads the alerts');
SELECT throws_ok($$ SELECT url FROM aispend.webhooks $$, '42501', NULL, 'but not the webhooks'' URLs');
SELECT throws_ok($$ SELECT aispend.set_alert_rule('mine', 'stale_data') $$, '42501', NULL, 'and sets no rule');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
