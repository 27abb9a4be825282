-- 73_alerts.sql: alert rules, the alerts they raise and their delivery. See docs/alerts.md.
--
-- aispend.evaluate_alerts() computes every rule's conditions now and moves aispend.alerts through its states:
-- a new condition fires (one row, state firing), a condition that holds keeps its row quiet (last_fired moves),
-- a condition that clears resolves it; acknowledge_alert() silences a firing alert until it resolves. Each
-- change is a NOTIFY on channel aispend_alerts and, for a rule with a webhook, a row in alert_deliveries that
-- aispend.deliver_alerts() posts (aispend._post_webhook, src/pg/webhook.cpp). The sync evaluates and delivers at
-- its end; aispend.schedule_alerts() adds a pg_cron job for the conditions a sync cannot see (a sync that no
-- longer runs).
--
-- Like budgets these tables have no account column: a rule may span accounts (Citus reference tables).

-- ---------------------------------------------------------------- webhooks (secret: admins only)

CREATE TABLE aispend.webhooks (
    name       text        NOT NULL,
    url        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT webhooks_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE aispend.webhooks IS
    'Where alerts are posted (a Slack-compatible JSON body). The URL is a secret: readers cannot select this '
    'table, and no error or log line shows it. Set with aispend.set_webhook().';
COMMENT ON COLUMN aispend.webhooks.name IS 'The webhook''s name, as alert_rules.webhook names it.';
COMMENT ON COLUMN aispend.webhooks.url IS
    'The URL posted to (secret): https, on a host in aispend.webhook_hosts; plain http to loopback only with '
    'aispend.allow_loopback.';
COMMENT ON COLUMN aispend.webhooks.created_at IS 'When it was set.';
COMMENT ON COLUMN aispend.webhooks.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.webhooks', '');

CREATE FUNCTION aispend.set_webhook(name text, url text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- the URL is never echoed: a refusal names the rule it broke, and nothing reaches the INSERT that could fail
    -- with the row in its detail
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'aispend: a webhook needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF url IS NULL OR url !~* '^https?://[^/?#@[:space:]]+(/[^[:space:]]*)?$' THEN
        RAISE EXCEPTION 'aispend: webhook % has no valid URL', coalesce(name, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a URL such as https://hooks.slack.com/services/...; it is stored as a secret.';
    END IF;
    IF url ~* '^http://' AND url !~* '^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$)' THEN
        RAISE EXCEPTION 'aispend: webhook % must use https', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Plain http is allowed to loopback only (and only with aispend.allow_loopback).';
    END IF;
    INSERT INTO aispend.webhooks AS w (name, url) VALUES (set_webhook.name, set_webhook.url)
    ON CONFLICT ON CONSTRAINT webhooks_pkey DO UPDATE
       SET url = excluded.url, created_at = excluded.created_at, created_by = excluded.created_by;
    RETURN name;
END
$$;
COMMENT ON FUNCTION aispend.set_webhook(text, text) IS
    'Sets (or replaces) a webhook alerts are posted to; the URL is stored as a secret (readers cannot see it). '
    'Give it to a rule: aispend.set_alert_rule(..., webhook => name).';

-- ---------------------------------------------------------------- rules

CREATE TABLE aispend.alert_rules (
    name          text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('budget_threshold', 'budget_forecast', 'anomaly',
                                                       'sync_failure', 'stale_data')),
    budget        text,
    anomaly_kind  text        CHECK (anomaly_kind IN ('api_key', 'workspace', 'model')),
    min_score     numeric     NOT NULL DEFAULT 3.5 CHECK (min_score > 0),
    min_cost      numeric     NOT NULL DEFAULT 10 CHECK (min_cost >= 0),
    max_age_hours numeric     NOT NULL DEFAULT 36 CHECK (max_age_hours > 0),
    webhook       text,
    enabled       boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by    name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT alert_rules_pkey PRIMARY KEY (name),
    CONSTRAINT alert_rules_budget_fkey FOREIGN KEY (budget) REFERENCES aispend.budgets (name)
        ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT alert_rules_webhook_fkey FOREIGN KEY (webhook) REFERENCES aispend.webhooks (name)
        ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT alert_rules_budget_kind CHECK (budget IS NULL OR kind IN ('budget_threshold', 'budget_forecast')),
    CONSTRAINT alert_rules_anomaly_kind CHECK (anomaly_kind IS NULL OR kind = 'anomaly')
);
COMMENT ON TABLE aispend.alert_rules IS
    'What raises an alert: budget_threshold (a budget''s spend reached one of its thresholds), budget_forecast (its '
    'forecast exceeds the amount), anomaly (a spike or new spending on the last two complete days, '
    'aispend.anomalies), sync_failure (an account''s latest sync of an endpoint failed), stale_data (no successful '
    'sync for max_age_hours). Managed with aispend.set_alert_rule / drop_alert_rule or plain SQL.';
COMMENT ON COLUMN aispend.alert_rules.name IS 'The rule''s name (unique).';
COMMENT ON COLUMN aispend.alert_rules.kind IS 'budget_threshold, budget_forecast, anomaly, sync_failure or stale_data.';
COMMENT ON COLUMN aispend.alert_rules.budget IS 'For budget rules: the budget watched; NULL watches every budget.';
COMMENT ON COLUMN aispend.alert_rules.anomaly_kind IS 'For anomaly rules: api_key, workspace or model; NULL: all three.';
COMMENT ON COLUMN aispend.alert_rules.min_score IS 'For anomaly rules: the least score (robust z-score) that alerts.';
COMMENT ON COLUMN aispend.alert_rules.min_cost IS 'For anomaly rules: the least excess over expected, US dollars.';
COMMENT ON COLUMN aispend.alert_rules.max_age_hours IS 'For stale_data rules: hours without a successful sync.';
COMMENT ON COLUMN aispend.alert_rules.webhook IS 'The webhook its alerts are posted to (aispend.webhooks); NULL: NOTIFY only.';
COMMENT ON COLUMN aispend.alert_rules.enabled IS 'false: not evaluated (its open alerts resolve).';
COMMENT ON COLUMN aispend.alert_rules.created_at IS 'When the rule was set.';
COMMENT ON COLUMN aispend.alert_rules.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_rules', '');

CREATE FUNCTION aispend.set_alert_rule(name text, kind text, budget text DEFAULT NULL, webhook text DEFAULT NULL,
                                       anomaly_kind text DEFAULT NULL, min_score numeric DEFAULT 3.5,
                                       min_cost numeric DEFAULT 10, max_age_hours numeric DEFAULT 36,
                                       enabled boolean DEFAULT true)
RETURNS aispend.alert_rules LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO aispend.alert_rules AS r (name, kind, budget, webhook, anomaly_kind, min_score, min_cost,
                                          max_age_hours, enabled)
    VALUES (set_alert_rule.name, set_alert_rule.kind, set_alert_rule.budget, set_alert_rule.webhook,
            set_alert_rule.anomaly_kind, set_alert_rule.min_score, set_alert_rule.min_cost,
            set_alert_rule.max_age_hours, set_alert_rule.enabled)
    ON CONFLICT (name) DO UPDATE
       SET kind = excluded.kind, budget = excluded.budget, webhook = excluded.webhook,
           anomaly_kind = excluded.anomaly_kind, min_score = excluded.min_score, min_cost = excluded.min_cost,
           max_age_hours = excluded.max_age_hours, enabled = excluded.enabled
    RETURNING r.*;
END;
COMMENT ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) IS
    'Sets (or replaces) an alert rule: SELECT aispend.set_alert_rule(''budgets'', ''budget_threshold'') watches '
    'every budget''s thresholds; kinds: budget_threshold, budget_forecast, anomaly, sync_failure, stale_data.';

CREATE FUNCTION aispend.drop_alert_rule(name text)
RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    WITH d AS (DELETE FROM aispend.alert_rules r WHERE r.name = drop_alert_rule.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d);
END;
COMMENT ON FUNCTION aispend.drop_alert_rule(text) IS
    'Removes an alert rule; its open alerts resolve at the next evaluation. false when there was none.';

-- ---------------------------------------------------------------- alerts and their deliveries

CREATE TABLE aispend.alerts (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    rule            text        NOT NULL,
    kind            text        NOT NULL,
    alert_key       text        NOT NULL,
    scope           text        NOT NULL,
    observed        numeric,
    threshold       numeric,
    message         text        NOT NULL,
    details         jsonb,
    state           text        NOT NULL DEFAULT 'firing' CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    first_fired     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_fired      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by name,
    CONSTRAINT alerts_pkey PRIMARY KEY (id)
);
-- one open alert per rule and condition
CREATE UNIQUE INDEX alerts_open_idx ON aispend.alerts (rule, alert_key) WHERE state <> 'resolved';
COMMENT ON TABLE aispend.alerts IS
    'Every alert raised by aispend.alert_rules: firing (the condition holds), acknowledged (it holds, someone has '
    'seen it) or resolved (it cleared). A condition that holds keeps one row; one that clears and comes back is a '
    'new row. Written by aispend.evaluate_alerts().';
COMMENT ON COLUMN aispend.alerts.id IS 'The alert''s id (aispend.acknowledge_alert takes it).';
COMMENT ON COLUMN aispend.alerts.rule IS 'The rule that raised it (aispend.alert_rules.name).';
COMMENT ON COLUMN aispend.alerts.kind IS 'The rule''s kind when it fired.';
COMMENT ON COLUMN aispend.alerts.alert_key IS 'What the condition is about, stable while it holds (budget|period|threshold, kind|account|entity, account|endpoint).';
COMMENT ON COLUMN aispend.alerts.scope IS 'What it is about, for people: a budget, an API key, a workspace, a model, an account.';
COMMENT ON COLUMN aispend.alerts.observed IS 'The value that fired it, last seen: spent or forecast (US dollars), a day''s cost, hours since a sync.';
COMMENT ON COLUMN aispend.alerts.threshold IS 'What it was compared with: the threshold in US dollars, the expected cost, the hours allowed.';
COMMENT ON COLUMN aispend.alerts.message IS 'One line saying what happened.';
COMMENT ON COLUMN aispend.alerts.details IS 'The figures behind it (JSON).';
COMMENT ON COLUMN aispend.alerts.state IS 'firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alerts.first_fired IS 'When the condition was first seen.';
COMMENT ON COLUMN aispend.alerts.last_fired IS 'When it was last seen holding.';
COMMENT ON COLUMN aispend.alerts.resolved_at IS 'When it was seen cleared.';
COMMENT ON COLUMN aispend.alerts.acknowledged_at IS 'When it was acknowledged.';
COMMENT ON COLUMN aispend.alerts.acknowledged_by IS 'Who acknowledged it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts_id_seq', '');

CREATE TABLE aispend.alert_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    alert_id        bigint      NOT NULL,
    event           text        NOT NULL CHECK (event IN ('firing', 'acknowledged', 'resolved')),
    webhook         text        NOT NULL,
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at    timestamptz,
    CONSTRAINT alert_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT alert_deliveries_alert_fkey FOREIGN KEY (alert_id) REFERENCES aispend.alerts (id) ON DELETE CASCADE
);
CREATE INDEX alert_deliveries_pending_idx ON aispend.alert_deliveries (next_attempt_at) WHERE state = 'pending';
COMMENT ON TABLE aispend.alert_deliveries IS
    'The webhook queue and delivery log: one row per alert state change and webhook, posted by '
    'aispend.deliver_alerts() (each run tries up to 4 times in 30 s; a failed run is tried again by a later one, '
    '6 runs at most).';
COMMENT ON COLUMN aispend.alert_deliveries.id IS 'The delivery''s id.';
COMMENT ON COLUMN aispend.alert_deliveries.alert_id IS 'The alert (aispend.alerts.id).';
COMMENT ON COLUMN aispend.alert_deliveries.event IS 'The state the alert moved to: firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alert_deliveries.webhook IS 'The webhook''s name (its URL is never shown).';
COMMENT ON COLUMN aispend.alert_deliveries.body IS 'The JSON posted (Slack-compatible: text, and the alert).';
COMMENT ON COLUMN aispend.alert_deliveries.state IS 'pending, delivered (a 2xx answer) or failed (given up).';
COMMENT ON COLUMN aispend.alert_deliveries.attempts IS 'Delivery runs so far.';
COMMENT ON COLUMN aispend.alert_deliveries.next_attempt_at IS 'When a pending delivery is tried next.';
COMMENT ON COLUMN aispend.alert_deliveries.last_status IS 'The HTTP status of the last attempt (NULL: no answer).';
COMMENT ON COLUMN aispend.alert_deliveries.last_error IS 'Why the last attempt failed (never the URL).';
COMMENT ON COLUMN aispend.alert_deliveries.created_at IS 'When the state change was recorded.';
COMMENT ON COLUMN aispend.alert_deliveries.delivered_at IS 'When it was delivered.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries_id_seq', '');

-- ---------------------------------------------------------------- conditions

-- Every condition that holds now, per enabled rule (row-level security applies: evaluate as an admin).
-- PL/pgSQL, with the rules and budgets read first: the query then reads the tabs' functions only (on Citus a
-- query of the rules, a reference table, cannot call a function that reads the distributed tables).
CREATE FUNCTION aispend.alert_conditions(as_of date DEFAULT aispend.utc_today(), at_time timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rule text, kind text, alert_key text, scope text, observed numeric, threshold numeric, message text,
               details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    rules aispend.alert_rules[] := ARRAY(SELECT r FROM aispend.alert_rules r WHERE r.enabled);
    budgets aispend.budgets[] := ARRAY(SELECT b FROM aispend.budgets b);
BEGIN
    RETURN QUERY
    WITH r AS (SELECT * FROM pg_catalog.unnest(rules) r),
    budget AS MATERIALIZED (
        SELECT s.*, b.thresholds
        FROM aispend.budgets_status(alert_conditions.as_of) s JOIN pg_catalog.unnest(budgets) b ON b.name = s.name
        -- a custom budget whose days are over has no current period: its alerts resolve
        WHERE s.period @> alert_conditions.as_of
          AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('budget_threshold', 'budget_forecast'))),
    spikes AS MATERIALIZED (
        SELECT a.*, r.name AS rule
        FROM r CROSS JOIN LATERAL aispend.anomalies(pg_catalog.daterange(alert_conditions.as_of - 2, alert_conditions.as_of),
                                                    r.anomaly_kind, 'all', r.min_score, r.min_cost) a
        WHERE r.kind = 'anomaly'),
    -- one condition per rule and key, workspace or model: its latest flagged day
    latest AS (
        SELECT DISTINCT ON (s.rule, s.kind, s.account, s.entity_id) s.*
        FROM spikes s ORDER BY s.rule, s.kind, s.account, s.entity_id, s.day DESC),
    -- FOCUS accounts (provider 'focus') are imported when a cloud publishes its bill, never synced: no sync alerts
    fresh AS MATERIALIZED (
        SELECT f.* FROM aispend.freshness f
        WHERE f.server_exists AND f.provider IS DISTINCT FROM 'focus' AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('sync_failure', 'stale_data')))
    -- a threshold of a budget reached in its current period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period), t.pct),
           'budget ' || b.name, b.spent, pg_catalog.round(b.amount_usd * t.pct / 100, 2),
           pg_catalog.format('Budget "%s" has used %s%% of $%s (threshold %s%%): $%s spent, %s days left',
                             b.name, b.pct_used, b.amount_usd, t.pct, b.spent, b.days_left),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'pct_used', b.pct_used, 'threshold_pct', t.pct)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    -- each threshold once (80 and 80.0 are one), reached as budgets_status says
    CROSS JOIN LATERAL (SELECT DISTINCT pg_catalog.trim_scale(x) AS pct FROM pg_catalog.unnest(b.thresholds) AS x) t
    WHERE r.kind = 'budget_threshold' AND t.pct <= b.threshold_reached
    UNION ALL
    -- a budget forecast to exceed its amount by the end of its period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period)),
           'budget ' || b.name, b.forecast, b.amount_usd,
           pg_catalog.format('Budget "%s" is forecast to reach $%s (band $%s to $%s) of $%s by %s',
                             b.name, b.forecast, b.forecast_low, b.forecast_high, b.amount_usd,
                             pg_catalog.upper(b.period) - 1),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'forecast', b.forecast, 'forecast_low', b.forecast_low,
                                         'forecast_high', b.forecast_high, 'days_left', b.days_left)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    WHERE r.kind = 'budget_forecast' AND b.will_exceed
    UNION ALL
    -- a spike (or new spending) of a key, workspace or model on one of the last two complete days
    SELECT s.rule, 'anomaly', pg_catalog.concat_ws('|', s.kind, s.account, s.entity_id),
           pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
               || coalesce(' (' || s.account || ')', ''),
           s.observed, s.expected,
           pg_catalog.format('%s %s: $%s on %s, expected $%s (%s)',
                             CASE s.flag WHEN 'new' THEN 'New spending of' ELSE 'Spike of' END,
                             pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
                                 || coalesce(' (' || s.account || ')', ''),
                             s.observed, s.day, s.expected,
                             CASE WHEN s.ratio IS NULL THEN 'new' ELSE s.ratio || 'x, score ' || coalesce(s.score::text, '-') END),
           pg_catalog.jsonb_build_object('day', s.day, 'kind', s.kind, 'entity', s.entity, 'account', s.account,
                                         'provider', s.provider, 'observed', s.observed, 'expected', s.expected,
                                         'ratio', s.ratio, 'score', s.score, 'flag', s.flag)
    FROM latest s
    UNION ALL
    -- an account's endpoint failed after its last success (a run in progress changes nothing)
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', f.account, f.endpoint), 'account ' || f.account, NULL, NULL,
           pg_catalog.format('Sync of %s %s failed (SQLSTATE %s)', f.account, f.endpoint,
                             coalesce(f.last_error_sqlstate, '-')),
           pg_catalog.jsonb_build_object('account', f.account, 'endpoint', f.endpoint,
                                         'sqlstate', f.last_error_sqlstate, 'at', f.last_error_at)
    FROM r, fresh f
    WHERE r.kind = 'sync_failure' AND f.last_error_at > coalesce(f.last_success_at, '-infinity')
    UNION ALL
    -- no successful sync of an account for too long (or never)
    SELECT r.name, r.kind, x.account, 'account ' || x.account, x.hours, r.max_age_hours,
           CASE WHEN x.hours IS NULL THEN pg_catalog.format('No successful sync of %s yet', x.account)
                ELSE pg_catalog.format('No successful sync of %s for %s hours', x.account, x.hours) END,
           pg_catalog.jsonb_build_object('account', x.account, 'last_success_at', x.last_success_at,
                                         'max_age_hours', r.max_age_hours)
    FROM r, (SELECT f.account, max(f.last_success_at) AS last_success_at,
                    pg_catalog.round((pg_catalog.date_part('epoch', alert_conditions.at_time - max(f.last_success_at))
                                      / 3600)::numeric, 1) AS hours
             FROM fresh f GROUP BY f.account) x
    WHERE r.kind = 'stale_data' AND (x.hours IS NULL OR x.hours > r.max_age_hours);
END
$$;
COMMENT ON FUNCTION aispend.alert_conditions(date, timestamptz) IS
    'Every condition of the enabled alert rules that holds now: what aispend.evaluate_alerts() would fire or keep '
    'firing. A dry run: it changes nothing.';

-- ---------------------------------------------------------------- the state machine

-- An alert's JSON, as the webhooks carry it (a Slack-compatible body: text, and the alert).
CREATE FUNCTION aispend._alert_payload(a aispend.alerts, event text)
RETURNS jsonb LANGUAGE sql STABLE
RETURN pg_catalog.jsonb_build_object(
    'text', pg_catalog.format('[aispend] %s: %s', pg_catalog.upper(event), a.message),
    'alert', pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'rule', a.rule, 'kind', a.kind,
                                           'scope', a.scope, 'observed', a.observed, 'threshold', a.threshold,
                                           'state', a.state, 'first_fired', a.first_fired,
                                           'last_fired', a.last_fired, 'details', a.details,
                                           'database', pg_catalog.current_database()));
COMMENT ON FUNCTION aispend._alert_payload(aispend.alerts, text) IS
    'Internal: the JSON a webhook is sent of an alert''s state change: {"text": "[aispend] FIRING: ...", "alert": {...}}.';

-- Tells the listeners and queues the webhook of one state change.
CREATE FUNCTION aispend._alert_changed(alert_id bigint, event text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
    v_body jsonb;
BEGIN
    SELECT * INTO a FROM aispend.alerts x WHERE x.id = alert_id;
    v_body := aispend._alert_payload(a, event);
    -- Any role may LISTEN (or NOTIFY) on a channel: it carries the id and the event only, and listeners read the
    -- alert from aispend.alerts, where privileges and row-level security apply.
    PERFORM pg_catalog.pg_notify('aispend_alerts',
        pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'kind', a.kind)::text);
    INSERT INTO aispend.alert_deliveries (alert_id, event, webhook, body)
    SELECT a.id, event, r.webhook, v_body
    FROM aispend.alert_rules r WHERE r.name = a.rule AND r.webhook IS NOT NULL;
END
$$;
COMMENT ON FUNCTION aispend._alert_changed(bigint, text) IS
    'Internal: NOTIFY aispend_alerts with the alert''s id and event, and queue its webhook delivery.';

CREATE FUNCTION aispend.evaluate_alerts(as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (alert_id bigint, event text, rule text, scope text, message text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
SET jit = off
AS $$
DECLARE
    c record;
    v_rules text[];
    v_kinds text[];
    v_keys text[];
    v_scopes text[];
    v_observed numeric[];
    v_thresholds numeric[];
    v_messages text[];
    v_details jsonb[];
    v_fired bigint[];
    v_cleared bigint[];
BEGIN
    -- one evaluation at a time (two syncs ending together would both fire the same condition)
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aispend.evaluate_alerts'));
    -- no rule to evaluate and no alert to resolve: nothing to do
    IF NOT EXISTS (SELECT 1 FROM aispend.alert_rules r WHERE r.enabled)
       AND NOT EXISTS (SELECT 1 FROM aispend.alerts a WHERE a.state <> 'resolved') THEN
        RETURN;
    END IF;
    -- the conditions first, then one statement for each change of the alerts (on Citus the alerts are a
    -- reference table, which a statement cannot change while it reads the tabs' functions; and one with foreign
    -- keys, which Citus changes only after reads over one connection per node)
    PERFORM aispend._citus_sequential();
    SELECT pg_catalog.array_agg(x.rule), pg_catalog.array_agg(x.kind), pg_catalog.array_agg(x.alert_key),
           pg_catalog.array_agg(x.scope), pg_catalog.array_agg(x.observed), pg_catalog.array_agg(x.threshold),
           pg_catalog.array_agg(x.message), pg_catalog.array_agg(x.details)
      INTO v_rules, v_kinds, v_keys, v_scopes, v_observed, v_thresholds, v_messages, v_details
      FROM aispend.alert_conditions(as_of) x;
    -- firing alerts that still hold stay quiet: last_fired moves
    UPDATE aispend.alerts a
       SET last_fired = pg_catalog.now(), observed = cond.observed, threshold = cond.threshold,
           message = cond.message, details = cond.details
      FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys), pg_catalog.unnest(v_observed),
                      pg_catalog.unnest(v_thresholds), pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
           AS cond(rule, alert_key, observed, threshold, message, details)
     WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key;
    WITH f AS (
        INSERT INTO aispend.alerts (rule, kind, alert_key, scope, observed, threshold, message, details)
        SELECT cond.rule, cond.kind, cond.alert_key, cond.scope, cond.observed, cond.threshold, cond.message,
               cond.details
        FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_kinds), pg_catalog.unnest(v_keys),
                        pg_catalog.unnest(v_scopes), pg_catalog.unnest(v_observed), pg_catalog.unnest(v_thresholds),
                        pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
             AS cond(rule, kind, alert_key, scope, observed, threshold, message, details)
        -- NOT IN, not a correlated NOT EXISTS, which Citus cannot plan here (no column is NULL on either side)
        WHERE (cond.rule, cond.alert_key) NOT IN (SELECT a.rule, a.alert_key FROM aispend.alerts a
                                                  WHERE a.state <> 'resolved')
        RETURNING aispend.alerts.id)
    SELECT pg_catalog.array_agg(f.id) INTO v_fired FROM f;
    WITH r AS (
        UPDATE aispend.alerts a SET state = 'resolved', resolved_at = pg_catalog.now()
         WHERE a.state <> 'resolved'
           AND (a.rule, a.alert_key) NOT IN (SELECT cond.rule, cond.alert_key
                                             FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys))
                                                  AS cond(rule, alert_key))
        RETURNING a.id)
    SELECT pg_catalog.array_agg(r.id) INTO v_cleared FROM r;
    FOR c IN
        SELECT x.id, x.event
        FROM (SELECT f.id, 'firing'::text AS event FROM pg_catalog.unnest(v_fired) AS f(id)
              UNION ALL
              SELECT r.id, 'resolved' FROM pg_catalog.unnest(v_cleared) AS r(id)) x
        ORDER BY x.id
    LOOP
        PERFORM aispend._alert_changed(c.id, c.event);
        RETURN QUERY SELECT a.id, c.event, a.rule, a.scope, a.message FROM aispend.alerts a WHERE a.id = c.id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.evaluate_alerts(date) IS
    'Evaluates every enabled alert rule now: fires new conditions, keeps firing alerts quiet (last_fired moves), '
    'resolves those that cleared; NOTIFY aispend_alerts and queues webhooks for each change, which it returns. '
    'The sync calls it at its end; aispend.check_alerts() evaluates and delivers.';

CREATE FUNCTION aispend.acknowledge_alert(id bigint)
RETURNS aispend.alerts LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
BEGIN
    UPDATE aispend.alerts x SET state = 'acknowledged', acknowledged_at = pg_catalog.now(), acknowledged_by = CURRENT_USER
     WHERE x.id = acknowledge_alert.id AND x.state = 'firing'
    RETURNING x.* INTO a;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'aispend: no firing alert %', acknowledge_alert.id USING ERRCODE = 'no_data_found',
            HINT = 'SELECT id, state, message FROM aispend.alerts WHERE state = ''firing''';
    END IF;
    PERFORM aispend._alert_changed(a.id, 'acknowledged');
    RETURN a;
END
$$;
COMMENT ON FUNCTION aispend.acknowledge_alert(bigint) IS
    'Acknowledges a firing alert: it stays open, quietly, until its condition clears (then it resolves).';

-- ---------------------------------------------------------------- delivery

-- Posts the pending webhook deliveries that are due. A failure is recorded and tried again by a later run
-- (5 minutes, then 10, 20, ...; 6 runs at most), never raised: a sync never fails for a webhook.
CREATE FUNCTION aispend.deliver_alerts(max_deliveries integer DEFAULT 100)
RETURNS TABLE (delivery_id bigint, alert_id bigint, webhook text, state text, http_status integer, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    d record;
    v_url text;
    v_status integer;
    v_attempts integer;
    v_error text;
    v_state text;
    v_failing text[] := '{}';
    v_start timestamptz := pg_catalog.clock_timestamp();
BEGIN
    FOR d IN
        SELECT x.id, x.alert_id, x.webhook, x.body, x.attempts FROM aispend.alert_deliveries x
        WHERE x.state = 'pending' AND x.next_attempt_at <= pg_catalog.now()
          -- an alert's events reach a webhook in order: none overtakes an earlier one still pending
          AND NOT EXISTS (SELECT 1 FROM aispend.alert_deliveries y
                          WHERE y.alert_id = x.alert_id AND y.webhook = x.webhook AND y.state = 'pending' AND y.id < x.id)
        ORDER BY x.id LIMIT max_deliveries
        FOR UPDATE SKIP LOCKED
    LOOP
        -- a webhook that failed in this run is not tried again in it, and a run stops after a minute: a dead
        -- receiver cannot hold up the sync that calls this
        CONTINUE WHEN d.webhook = ANY (v_failing);
        EXIT WHEN pg_catalog.clock_timestamp() - v_start > interval '1 minute';
        v_url := (SELECT w.url FROM aispend.webhooks w WHERE w.name = d.webhook);
        IF v_url IS NULL THEN
            v_status := NULL; v_attempts := 0; v_error := 'the webhook was dropped';
        ELSE
            SELECT r.http_status, r.attempts, r.error INTO v_status, v_attempts, v_error
            FROM aispend._post_webhook(v_url, d.body::text) r;
        END IF;
        -- refused before sending (attempts 0: the host is not allowed) or refused by the receiver (a 4xx other
        -- than 408 and 429): trying again will not help
        v_state := CASE WHEN v_status BETWEEN 200 AND 299 THEN 'delivered'
                        WHEN v_url IS NULL OR v_attempts = 0 OR d.attempts + 1 >= 6
                             OR (v_status BETWEEN 400 AND 499 AND v_status NOT IN (408, 429)) THEN 'failed'
                        ELSE 'pending' END;
        IF v_state <> 'delivered' THEN
            v_failing := v_failing || d.webhook;
        END IF;
        UPDATE aispend.alert_deliveries x
           SET attempts = x.attempts + 1, last_status = v_status, last_error = v_error, state = v_state,
               delivered_at = CASE WHEN v_state = 'delivered' THEN pg_catalog.now() END,
               next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(mins => 5 * (2 ^ x.attempts)::integer)
         WHERE x.id = d.id;
        RETURN QUERY SELECT d.id, d.alert_id, d.webhook, v_state, v_status, v_error;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.deliver_alerts(integer) IS
    'Posts the due webhook deliveries (aispend.alert_deliveries), an alert''s events in order, and records each '
    'outcome. A failure is tried again by a later run (after 5, 10, 20, ... minutes; 6 runs at most), except a '
    'refused host or a 4xx answer (failed at once); it never raises. A run skips a webhook once it failed and '
    'stops after a minute.';

CREATE PROCEDURE aispend.check_alerts()
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM aispend.evaluate_alerts();
    COMMIT;   -- the alerts and their NOTIFY stand whatever the webhooks do
    PERFORM aispend.deliver_alerts();
END
$$;
COMMENT ON PROCEDURE aispend.check_alerts() IS
    'Evaluates the alert rules, COMMITs, then posts the due webhooks: what the pg_cron job of '
    'aispend.schedule_alerts() runs. CALL it outside a transaction block.';

CREATE FUNCTION aispend.schedule_alerts(cron_expression text DEFAULT '*/15 * * * *',
                                        job_name text DEFAULT 'aispend-alerts',
                                        database name DEFAULT NULL, username name DEFAULT NULL)
RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend._schedule(schedule_alerts.job_name, schedule_alerts.cron_expression, 'CALL aispend.check_alerts()',
                             schedule_alerts.database, schedule_alerts.username);
END;
COMMENT ON FUNCTION aispend.schedule_alerts(text, text, name, name) IS
    'Creates (or replaces) the pg_cron job that runs CALL aispend.check_alerts() (default every 15 minutes): '
    'stale data and failed syncs alert even when no sync runs. Remove it with aispend.unschedule_sync(''aispend-alerts'').';

-- Alerts are the organisation's: a team sees none (aispend.grant_team).
ALTER TABLE aispend.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alerts USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alerts IS 'A team (aispend.teams) reads no alerts; other roles read every row.';
ALTER TABLE aispend.alert_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alert_deliveries USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alert_deliveries IS 'A team reads no deliveries; other roles read every row.';

REVOKE ALL ON FUNCTION aispend.set_webhook(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.drop_alert_rule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.evaluate_alerts(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.acknowledge_alert(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.deliver_alerts(integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend.check_alerts() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.schedule_alerts(text, text, name, name) FROM PUBLIC;
