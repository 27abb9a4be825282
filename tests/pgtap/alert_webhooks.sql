-- Alert webhooks (issue 14): one budget alert posted through three rules to three webhooks: the mock's loopback
-- receiver (answering 500 once first), a closed port, and a host not in aispend.webhook_hosts. The receiver's
-- record is read back with python3 (tests/mock: GET /mock/webhooks). Rolled back (the receiver is reset first).
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;
SET LOCAL aispend.allow_loopback = on;
\set fetch_cmd 'python3 -c "import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())" '
\set reset_cmd :fetch_cmd :mock_url/mock/reset
\set received_cmd :fetch_cmd :mock_url/mock/webhooks
\set receiver :mock_url/mock/webhook/wh-ops?fail=1
CREATE TEMP TABLE wh_out (line text);
COPY wh_out FROM PROGRAM :'reset_cmd' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');

-- 15 USD spent on 1-3 November against a budget of 10 (its 50% threshold reached) as of the 4th
CREATE SERVER wh_oa FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
VALUES ('wh_oa', 'openai', 'proj_1', 'Hooked', 'active');
INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency)
SELECT 'wh_oa', d::timestamp AT TIME ZONE 'UTC', 'proj_1', 'gpt-4o, input', 'gpt-4o', 5, 'USD'
FROM generate_series('2026-11-01'::date, '2026-11-03'::date, interval '1 day') d;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
\o /dev/null
SELECT aispend.set_budget('wh budget', 10, 'account', 'wh_oa', 'custom', '{50}', '[2026-11-01,2026-11-08)');
SELECT aispend.set_webhook('wh ok', :'receiver');
SELECT aispend.set_webhook('wh closed', 'http://127.0.0.1:9/services/T0/B0/closed-port-token');
SELECT aispend.set_webhook('wh refused', 'https://hooks.example.org/services/T0/B0/refused-host-token');
SELECT aispend.set_webhook('wh gone', :'mock_url' || '/services/T0/B0/gone-token');
SELECT aispend.set_alert_rule('wh ' || w, 'budget_threshold', budget => 'wh budget', webhook => 'wh ' || w)
FROM unnest('{ok,closed,refused,gone}'::text[]) w;
\o
SELECT is((SELECT count(*)::integer FROM aispend.evaluate_alerts('2026-11-04') WHERE rule LIKE 'wh %'), 4,
    'one alert per rule fires, and queues its webhook');

CREATE TEMP TABLE wh_run AS SELECT d.*, x.rule FROM aispend.deliver_alerts() d JOIN aispend.alerts x ON x.id = d.alert_id;
SELECT results_eq($$ SELECT rule, state, http_status, error FROM wh_run ORDER BY rule $$,
    $$ VALUES ('wh closed', 'pending', NULL::integer, 'connection failed (after 3 retries)'),
              ('wh gone', 'failed', 404, 'HTTP 404 (after 0 retries)'),
              ('wh ok', 'delivered', 200, NULL),
              ('wh refused', 'failed', NULL, 'bad configuration: refused to connect: host hooks.example.org is not in aispend.webhook_hosts') $$,
    'one run: the receiver gets it (after its 500, retried); the closed port is tried again later; a refused host '
    'and a 404 fail at once');
SELECT is((SELECT count(*)::integer FROM aispend.alert_deliveries WHERE webhook LIKE 'wh %'
           AND (last_error ~ 'token|services' OR body::text ~ 'token')), 0,
    'no error holds any part of a webhook''s URL');
SELECT results_eq($$ SELECT webhook, state, attempts, last_status, next_attempt_at > now(), delivered_at IS NOT NULL
                     FROM aispend.alert_deliveries WHERE webhook LIKE 'wh %' ORDER BY webhook $$,
    $$ VALUES ('wh closed', 'pending', 1, NULL::integer, true, false), ('wh gone', 'failed', 1, 404, true, false),
              ('wh ok', 'delivered', 1, 200, true, true), ('wh refused', 'failed', 1, NULL, true, false) $$,
    'the delivery log: one run each, the failures due again later');

-- what the receiver got: the Slack-compatible body, as queued
CREATE TEMP TABLE wh_got (line text);
COPY wh_got FROM PROGRAM :'received_cmd' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');
SELECT results_eq($$ SELECT r->>'name', r->>'content_type', r->'body'
                     FROM wh_got, jsonb_array_elements(line::jsonb) r $$,
    $$ SELECT 'wh-ops', 'application/json', d.body FROM aispend.alert_deliveries d WHERE d.webhook = 'wh ok' $$,
    'the receiver got the body once, as JSON');
SELECT is((SELECT r->'body'->>'text' FROM wh_got, jsonb_array_elements(line::jsonb) r),
    '[aispend] FIRING: Budget "wh budget" has used 150.0% of $10 (threshold 50%): $15.00 spent, 4 days left',
    'its text: what happened, in one line');
SELECT results_eq($$ SELECT r->'body'->'alert'->>'rule', r->'body'->'alert'->>'event', (r->'body'->'alert'->>'observed')::numeric
                     FROM wh_got, jsonb_array_elements(line::jsonb) r $$,
    $$ VALUES ('wh ok', 'firing', 15.00) $$, 'and the alert itself');

SELECT is((SELECT count(*)::integer FROM aispend.deliver_alerts()), 0, 'a second run right after posts nothing (not due)');
SELECT aispend.acknowledge_alert(id) FROM aispend.alerts WHERE rule LIKE 'wh %' \g /dev/null
SELECT results_eq($$ SELECT webhook, state FROM aispend.deliver_alerts() ORDER BY webhook $$,
    $$ VALUES ('wh gone', 'failed'), ('wh ok', 'delivered'), ('wh refused', 'failed') $$,
    'the acknowledgements are posted, except where the firing before it is still pending: events stay in order');
UPDATE aispend.alert_deliveries SET attempts = 5, next_attempt_at = now() - interval '1 second'
 WHERE webhook = 'wh closed' AND event = 'firing';
SELECT results_eq($$ SELECT d.webhook, x.event, d.state FROM aispend.deliver_alerts() d
                     JOIN aispend.alert_deliveries x ON x.id = d.delivery_id $$,
    $$ VALUES ('wh closed', 'firing', 'failed') $$,
    'the sixth run that fails gives up (and a webhook that failed is not tried again in the same run)');
DELETE FROM aispend.webhooks WHERE name = 'wh closed';
SELECT results_eq($$ SELECT x.event, d.state, d.error FROM aispend.deliver_alerts() d
                     JOIN aispend.alert_deliveries x ON x.id = d.delivery_id $$,
    $$ VALUES ('acknowledged', 'failed', 'the webhook was dropped') $$, 'a dropped webhook fails its deliveries');
SELECT is((SELECT webhook FROM aispend.alert_rules WHERE name = 'wh closed'), NULL, 'and its rules only NOTIFY');

SET LOCAL aispend.allow_loopback = off;
SELECT results_eq($$ SELECT http_status, attempts, error FROM aispend._post_webhook('http://127.0.0.1:9/x', '{}') $$,
    $$ VALUES (NULL::integer, 0, 'bad configuration: refused to connect: loopback addresses are allowed only when a superuser sets aispend.allow_loopback') $$,
    'loopback only with aispend.allow_loopback');

SELECT * FROM finish();
ROLLBACK;
