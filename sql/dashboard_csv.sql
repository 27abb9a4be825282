-- Dashboard CSV export round trip: every tab's table through psql \copy ... TO a file (FORMAT csv, HEADER),
-- read back with \copy ... FROM, honouring filters and the caller's ORDER BY. Needs the cost model.
SET client_min_messages = warning;
CREATE EXTENSION aispend;
CREATE SERVER csv_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
CREATE SERVER csv_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status) VALUES
    ('csv_openai', 'openai', 'proj_a', 'Production API', 'active'),
    ('csv_openai', 'openai', 'proj_b', 'Batch, "nightly"', 'active'),
    ('csv_anthropic', 'anthropic', 'wrk_c', 'Support Bot', 'active');
INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id) VALUES
    ('csv_openai', 'openai', 'key_a1', 'prod-key', 'sk-...a1a1', 'active', 'proj_a'),
    ('csv_openai', 'openai', 'key_b1', 'batch-key', 'sk-...b1b1', 'active', 'proj_b'),
    ('csv_anthropic', 'anthropic', 'ak_c1', 'support-key', 'sk-ant-api03-Z4C...EQAA', 'active', 'wrk_c');
CREATE TEMP TABLE fx (day date, account name, ws text, key text, model text, inp bigint, outp bigint, req bigint, cost numeric);
INSERT INTO fx VALUES
    ('2026-08-20', 'csv_openai', 'proj_a', 'key_a1', 'gpt-4o', 500000, 300000, 80, 8.00),
    ('2026-09-02', 'csv_openai', 'proj_a', 'key_a1', 'gpt-4o', 600000, 400000, 100, 10.00),
    ('2026-09-05', 'csv_openai', 'proj_b', 'key_b1', 'gpt-4o-mini', 1500000, 500000, 200, 0.60),
    ('2026-09-04', 'csv_anthropic', 'wrk_c', 'ak_c1', 'claude-sonnet-4-5', 800000, 200000, NULL, 6.00),
    ('2026-08-30', 'csv_anthropic', 'wrk_c', 'ak_c1', 'claude-sonnet-4-5', 1600000, 400000, NULL, 12.00);
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, output_tokens, requests)
SELECT account, 'messages', day::timestamp AT TIME ZONE 'UTC', '1d', ws, key, model, inp, outp, req FROM fx;
INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency)
SELECT account, day::timestamp AT TIME ZONE 'UTC', ws, model, model, cost, 'USD' FROM fx;
SELECT refreshed_account, first_day, last_day FROM aispend.refresh_rollups('csv_openai');
SELECT refreshed_account, first_day, last_day FROM aispend.refresh_rollups('csv_anthropic');

-- Workspaces
\copy (SELECT * FROM aispend.workspaces_csv(aispend.custom_period('2026-09-01', '2026-09-30')) ORDER BY "Cost" DESC) TO '/tmp/aispend_regress_workspaces.csv' WITH (FORMAT csv, HEADER)
CREATE TEMP TABLE back_ws ("Name" text, "Provider" text, "Cost" numeric, "% of Total" numeric, "Requests" bigint, "Tokens" bigint, "Trend" text);
\copy back_ws FROM '/tmp/aispend_regress_workspaces.csv' WITH (FORMAT csv, HEADER)
SELECT * FROM back_ws;
SELECT count(*) AS rows_differing FROM (
    (SELECT * FROM back_ws EXCEPT SELECT * FROM aispend.workspaces_csv(aispend.custom_period('2026-09-01', '2026-09-30')))
    UNION ALL
    (SELECT * FROM aispend.workspaces_csv(aispend.custom_period('2026-09-01', '2026-09-30')) EXCEPT SELECT * FROM back_ws)) d;
-- the header line is the dashboard's column titles
CREATE TEMP TABLE lines (line text);
\copy lines FROM '/tmp/aispend_regress_workspaces.csv' WITH (FORMAT text)
SELECT line FROM lines LIMIT 1;

-- API keys, filtered by provider, sorted by the caller
\copy (SELECT * FROM aispend.api_keys_csv(aispend.custom_period('2026-09-01', '2026-09-30'), 'openai') ORDER BY "Cost/1M") TO '/tmp/aispend_regress_keys.csv' WITH (FORMAT csv, HEADER)
CREATE TEMP TABLE back_keys ("API Key" text, "Kind" text, "Workspace" text, "Key Hint" text, "Provider" text, "Status" text, "Cost" numeric, "Tokens" bigint, "Requests" bigint, "Cost/1M" numeric, "Trend" text, "Last Active" date);
\copy back_keys FROM '/tmp/aispend_regress_keys.csv' WITH (FORMAT csv, HEADER)
SELECT * FROM back_keys;

-- Models
\copy (SELECT * FROM aispend.models_csv(aispend.custom_period('2026-09-01', '2026-09-30')) ORDER BY "Model") TO '/tmp/aispend_regress_models.csv' WITH (FORMAT csv, HEADER)
CREATE TEMP TABLE back_models ("Model" text, "Class" text, "Provider" text, "Cost/1M" numeric, "Cost" numeric, "Tokens" bigint, "Requests" bigint, "Trend" text);
\copy back_models FROM '/tmp/aispend_regress_models.csv' WITH (FORMAT csv, HEADER)
SELECT * FROM back_models;

-- Workspace management
\copy (SELECT * FROM aispend.workspace_management_csv WHERE "Workspace ID" IN ('proj_a', 'proj_b', 'wrk_c') ORDER BY "Workspace Name") TO '/tmp/aispend_regress_wm.csv' WITH (FORMAT csv, HEADER)
TRUNCATE lines;
\copy lines FROM '/tmp/aispend_regress_wm.csv' WITH (FORMAT text)
SELECT split_part(line, ',', 1) AS first_field FROM lines;

-- cleanup
DELETE FROM aispend.usage WHERE account LIKE 'csv\_%';
DELETE FROM aispend.costs WHERE account LIKE 'csv\_%';
DELETE FROM aispend.api_keys WHERE account LIKE 'csv\_%';
DELETE FROM aispend.workspaces WHERE account LIKE 'csv\_%';
-- deleting the facts re-rolled their days: nothing is left in the rollups
SELECT count(*) FROM aispend.daily_rollup WHERE account LIKE 'csv\_%';
DROP SERVER csv_openai;
DROP SERVER csv_anthropic;
DROP EXTENSION aispend;
