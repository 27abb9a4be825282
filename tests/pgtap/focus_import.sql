-- FOCUS import (issue 15): one small export per cloud (tests/fixtures/focus/, written from the conventions of
-- docs/focus.md) with credits, refunds, tax, non-AI services and unparsable SKUs, imported as the docs show (psql
-- reads the file, aispend.import_focus gets its text), with exact figures. psql variable focus_dir: the fixtures'
-- directory (default: relative to the repository root, where scripts/test.sh runs pg_prove).
\if :{?focus_dir}
\else
\set focus_dir tests/fixtures/focus
\endif
\set aws `cat :'focus_dir'/aws.csv`
\set azure `cat :'focus_dir'/azure.csv`
\set gcp `zcat :'focus_dir'/gcp.csv.gz`
BEGIN;
SELECT plan(56);

CREATE SERVER fx_aws FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CREATE SERVER fx_azure FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CREATE SERVER fx_gcp FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CREATE SERVER fx_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');

-- ---- errors first: each changes nothing
SELECT throws_ok($$SELECT * FROM aispend.import_focus('fx_nope', 'a')$$, '42704', 'aispend: unknown account "fx_nope"',
                 'an unknown account');
SELECT throws_ok($$SELECT * FROM aispend.import_focus('fx_openai', 'a')$$, '42809',
                 'aispend: account "fx_openai" is a openai account, not a FOCUS billing source', 'a synced account');
SELECT throws_ok(format('SELECT * FROM aispend.import_focus(%L, %L)', 'fx_aws',
                        replace(:'aws', 'BilledCost,', 'Cost,')), '22P04',
                 'aispend: FOCUS import into account "fx_aws": the required column BilledCost is missing',
                 'a missing required column is named, with the account');
SELECT throws_ok(format('SELECT * FROM aispend.import_focus(%L, %L)', 'fx_aws',
                        replace(:'aws', '0.45,0.45,0.45,', '0.45,n/a,0.45,')), '22P04',
                 'aispend: FOCUS import into account "fx_aws": row 5, column EffectiveCost: not a FOCUS value: "n/a"',
                 'a bad number is named by row and column');
SELECT throws_ok(format('SELECT * FROM aispend.import_focus(%L, %L)', 'fx_aws', :'aws' || E'\n1,2'), '22P04',
                 'aispend: FOCUS import into account "fx_aws": row 13 has 2 cells, the header 31', 'a short row');
SELECT throws_ok(format('SELECT * FROM aispend.import_focus(%L, %L)', 'fx_aws', E'a,b"c\n1,2'), '22P04', NULL,
                 'a quote inside a bare cell is malformed CSV, never skipped');
SELECT throws_ok($$SELECT aispend._account_settings('fx_aws')$$, '42809',
                 'aispend: account "fx_aws" is a FOCUS billing source: it is imported, not synced',
                 'a FOCUS account is not synced');
SELECT is((SELECT count(*) FROM aispend.focus_charges) + (SELECT count(*) FROM aispend.sync_runs WHERE account LIKE 'fx%'),
          0::bigint, 'failed imports left nothing, not even a run');

-- ---- a role that is not superuser imports with one call (first: the temporary tables of the import and of the
-- sync_runs trigger are then its own for the rest of this one-transaction test)
CREATE ROLE fx_admin NOSUPERUSER;
SELECT aispend.grant_admin('fx_admin');
SET LOCAL ROLE fx_admin;
CREATE TEMP TABLE az0 AS SELECT * FROM aispend.import_focus('fx_azure', :'azure');
SELECT is((SELECT ROW(ai_rows, replaced_rows, billed_cost)::text FROM az0), '(9,0,2.83864505)', 'a non-superuser admin imports Azure');
RESET ROLE;
SELECT ok(NOT has_function_privilege('public', 'aispend.import_focus(name, text, text, text[])', 'EXECUTE'),
          'PUBLIC cannot import');

-- ---- AWS (FOCUS 1.2 with AWS columns)
CREATE TEMP TABLE aws1 AS SELECT * FROM aispend.import_focus('fx_aws', :'aws');
SELECT is((SELECT ROW(billing_account_id, billing_period_start, billing_period_end, rows_read, ai_rows, unparsed_rows,
                      skipped_rows, billed_cost, effective_cost, replaced_rows)::text FROM aws1),
          ROW('123456789012', '2026-09-01 00:00+00'::timestamptz, '2026-10-01 00:00+00'::timestamptz, 11, 9, 3, 2,
              6.191, 5.591, 0)::text,
          'AWS: 11 rows, 9 for Bedrock (2 non-AI skipped: SQS, S3 tax), billed 6.191, effective 5.591');
SELECT is((SELECT string_agg(concat_ws(' ', source_row, model, token_type, tier, routing, tokens, billed_cost), '; ' ORDER BY source_row)
           FROM aispend.focus_charges WHERE account = 'fx_aws'),
          '2 Claude4.6Sonnet input standard in-region 2000000 6.00; '
          '3 Claude4.6Sonnet output standard cross-region-global 100000 1.50; '
          '4 Claude4.6Sonnet cache-read standard in-region 500000 0.15; '
          '5 openai.gpt-oss-120b input standard in-region 3000000 0.45; '
          '6 Claude 3 Haiku input standard marketplace 0.001; '
          '7 0.21; 8 -2.00; '
          '9 Claude4.6Sonnet input standard in-region -0.60; '
          '10 0.48',
          'AWS: models, token types, tiers, routing; tokens from Tokens, 1K Tokens and 1M Tokens (not Units, not a correction)');
SELECT is((SELECT string_agg(sku_text, ' | ' ORDER BY source_row) FROM aispend.focus_charges WHERE account = 'fx_aws' AND NOT parsed),
          'USE1-Bedrock-ModelEvaluation-Human-Tasks | AWS Activate credit | Tax for Amazon Bedrock',
          'AWS: the raw text of what no rule reads is kept');
SELECT is((SELECT ROW(charge_category, charge_class, effective_cost)::text FROM aispend.focus_charges
           WHERE account = 'fx_aws' AND source_row = 9), '(Usage,Correction,-0.60)', 'AWS: the refund (a correction) is kept, negative');
SELECT is((SELECT sum(amount_usd)::text FROM aispend.costs WHERE account = 'fx_aws'), '6.191', 'AWS: costs hold the billed total');
SELECT is((SELECT string_agg(concat_ws(' ', (bucket_start AT TIME ZONE 'UTC')::date, coalesce(model, '-'), cost_type, amount_usd, quantity, quantity_unit, token_class), '; '
                             ORDER BY bucket_start, model NULLS FIRST, cost_type, amount_usd)
           FROM aispend.costs WHERE account = 'fx_aws'),
          '2026-09-01 - tax 0.48; '
          '2026-09-03 Claude4.6Sonnet usage 0.15 500000 tokens cached_input; '
          '2026-09-03 Claude4.6Sonnet usage 1.50 100000 tokens output; '
          '2026-09-03 Claude4.6Sonnet usage 6.00 2000000 tokens input; '
          '2026-09-03 Claude4.6Sonnet usage correction -0.60 input; '
          '2026-09-04 (unparsed) usage 0.21 3 Tasks unrecognised; '
          '2026-09-04 Claude 3 Haiku usage 0.001 4000 Units input; '
          '2026-09-04 openai.gpt-oss-120b usage 0.45 3000000 tokens input; '
          '2026-09-05 - credit -2.00',
          'AWS: cost lines per UTC day of ChargePeriodStart (tax and credit without a model, the unparsed usage as (unparsed))');
SELECT is((SELECT string_agg(workspace_id || '=' || name || ' ' || status, ', ' ORDER BY workspace_id) FROM aispend.workspaces WHERE account = 'fx_aws'),
          '111111111111=ml-prod unlisted, 222222222222=research unlisted', 'AWS: sub-accounts are the workspaces, with their names');
SELECT is((SELECT ROW(endpoint, status, rows_fetched, rows_inserted, rows_deleted)::text FROM aispend.sync_runs
           WHERE account = 'fx_aws' AND id = (SELECT run_id FROM aws1)), '(costs,succeeded,11,9,0)', 'AWS: the run is recorded');
SELECT is((SELECT ROW(costs_day, settled_day)::text FROM aispend.data_freshness WHERE account = 'fx_aws'),
          '(2026-09-30,2026-09-30)', 'AWS: data_freshness shows the bill through the end of its last charge');
SELECT is((SELECT ROW(sku_text, charges, billed_cost)::text FROM aispend.focus_unparsed WHERE account = 'fx_aws' AND charge_category = 'Usage'),
          '(USE1-Bedrock-ModelEvaluation-Human-Tasks,1,0.21)', 'AWS: the unparsed usage is listed');

-- ---- Azure (FocusCost 1.0: byte order mark, quoted header, NULL literals, minute times, x_SkuMeterName)
CREATE TEMP TABLE az1 AS SELECT * FROM aispend.import_focus('fx_azure', :'azure');
SELECT is((SELECT ROW(rows_read, ai_rows, unparsed_rows, skipped_rows, billed_cost, effective_cost, replaced_rows)::text FROM az1),
          '(11,9,3,2,2.83864505,2.83864505,9)',
          'Azure: 9 AI rows (Azure Machine Learning disks and Storage skipped), billed 2.83864505');
SELECT is((SELECT string_agg(concat_ws(' ', model, token_type, tier, routing, billed_cost), '; ' ORDER BY source_row)
           FROM aispend.focus_charges WHERE account = 'fx_azure' AND parsed),
          'gpt-4o-0513 input standard global 2.33786; gpt-4o-0513 output standard global 0.82083; '
          'gpt-4o-mini-0718 input standard global 0.00207345; gpt-4o-1120 cache-read standard global 0.05; '
          'gpt-4-8k input batch global 0.10; r1 output standard global -0.0221184',
          'Azure: meter spellings normalised (gpt 4o 0513 = gpt-4o-0513; Inp, cached, Batch, glbl)');
SELECT is((SELECT count(*) FROM aispend.focus_charges WHERE account = 'fx_azure' AND tokens IS NOT NULL), 0::bigint,
          'Azure: no tokens, its unit is Units (token-ness only in the meter name)');
SELECT is((SELECT string_agg(DISTINCT sku_text, ' | ') FROM aispend.focus_charges WHERE account = 'fx_azure' AND NOT parsed),
          'Azure credit offer | Sales tax | Standard Text Records', 'Azure: unparsed rows kept');
SELECT is((SELECT string_agg(name, ', ' ORDER BY name) FROM aispend.workspaces WHERE account = 'fx_azure'),
          'Lab, Orion Pioneer', 'Azure: subscriptions are the workspaces');

-- ---- Google Cloud (BigQuery CSV, gzip: lower-case categories, ' UTC' times, Pacific-time billing months)
CREATE TEMP TABLE gcp1 AS SELECT * FROM aispend.import_focus('fx_gcp', :'gcp');
SELECT is((SELECT ROW(billing_period_start, rows_read, ai_rows, unparsed_rows, skipped_rows, billed_cost)::text FROM gcp1),
          ROW('2026-09-01 07:00+00'::timestamptz, 8, 6, 1, 2, 1.4058)::text,
          'Google: 6 Vertex AI / Gemini API rows (tax and Compute Engine skipped), billed 1.4058, the month starts 07:00 UTC');
SELECT is((SELECT string_agg(concat_ws(' ', source_row, coalesce(model, '?'), token_type, charge_category, charge_class, tokens, billed_cost), '; ' ORDER BY source_row)
           FROM aispend.focus_charges WHERE account = 'fx_gcp'),
          '2 gemini-2.5-flash input Usage 0.36; 3 gemini-2.5-flash output Usage 0.75; '
          '4 gemini-3-flash cache-storage Usage 0.02; 5 gemini-3.1-flash-lite-preview input Usage 103131 0.0258; '
          '6 ? Usage 0.35; 7 gemini-2.5-flash input Adjustment Correction -0.10',
          'Google: Vertex and Gemini API SKUs read, tokens from a token count, categories in FOCUS casing');
SELECT is((SELECT string_agg((bucket_start AT TIME ZONE 'UTC')::date || ' ' || amount_usd, ', ' ORDER BY bucket_start, amount_usd)
           FROM aispend.costs WHERE account = 'fx_gcp' AND model = 'gemini-2.5-flash'),
          '2026-09-03 0.36, 2026-09-03 0.75, 2026-09-05 -0.10', 'Google: hourly charges on their UTC day (23:00 UTC stays on the 3rd)');

-- ---- the dashboard sees them, under provider other
SET CONSTRAINTS ALL IMMEDIATE;
SELECT is((SELECT sum(cost)::text FROM aispend.cost_facts_between('fx_aws', '2026-09-01', '2026-09-30')), '6.191',
          'cost facts: the AWS bill exactly');
SELECT is((SELECT sum(cost) FROM aispend.workspaces_table(aispend.custom_period('2026-09-01', '2026-09-30'), provider => 'other')
           WHERE 'fx_aws' = ANY (accounts) OR 'fx_azure' = ANY (accounts) OR 'fx_gcp' = ANY (accounts)),
          round(6.191 + 2.83864505 + 1.4058, 2), 'workspaces tab, provider other: the three clouds');
SELECT is((SELECT count(*) FROM aispend.workspaces_table(aispend.custom_period('2026-09-01', '2026-09-30'), provider => 'openai')
           WHERE 'fx_aws' = ANY (accounts)), 0::bigint, 'not under openai');
SELECT is((SELECT cost FROM aispend.models_table(aispend.custom_period('2026-09-01', '2026-09-30'), provider => 'other')
           WHERE model = '(unparsed)'), round(0.21 + 0.30 + 0.35, 2), 'models tab: the unparsed usage is a visible row');
SELECT is((SELECT cost FROM aispend.models_table(aispend.custom_period('2026-09-01', '2026-09-30'), provider => 'other')
           WHERE model = 'Claude4.6Sonnet'), round(6.00 + 1.50 + 0.15 - 0.60, 2), 'models tab: Claude on Bedrock, refund included');

-- ---- re-import: the period is replaced, never added twice
CREATE TEMP TABLE aws2 AS SELECT * FROM aispend.import_focus('fx_aws', :'aws');
SELECT is((SELECT ROW(ai_rows, replaced_rows, billed_cost)::text FROM aws2), '(9,9,6.191)', 'the same file again replaces its 9 rows');
SELECT is((SELECT sum(amount_usd)::text FROM aispend.costs WHERE account = 'fx_aws'), '6.191', 'the total is unchanged');
SELECT is((SELECT count(*) FROM aispend.sync_runs WHERE account = 'fx_aws' AND endpoint = 'costs' AND status = 'succeeded'),
          2::bigint, 'one run per import');
-- two files of one export concatenated (zcat part-*.csv.gz): the second header row is skipped
CREATE TEMP TABLE aws3 AS SELECT * FROM aispend.import_focus('fx_aws', :'aws' || E'\n' || :'aws');
SELECT is((SELECT ROW(rows_read, ai_rows, billed_cost)::text FROM aws3), '(22,18,12.382)', 'two parts of one period: both imported');
-- a restated period: one row left; the days it no longer has lose their costs
CREATE TEMP TABLE aws4 AS SELECT * FROM aispend.import_focus('fx_aws',
    (SELECT string_agg(l, E'\n' ORDER BY n) FROM regexp_split_to_table(:'aws', E'\n') WITH ORDINALITY AS t(l, n) WHERE n IN (1, 2)));
SELECT is((SELECT ROW(ai_rows, replaced_rows, billed_cost)::text FROM aws4), '(1,18,6.00)', 'the restated period replaces the 18 rows');
SELECT is((SELECT string_agg((bucket_start AT TIME ZONE 'UTC')::date || ' ' || amount_usd, ', ') FROM aispend.costs WHERE account = 'fx_aws'),
          '2026-09-03 6.00', 'only the restated day keeps a cost');
SELECT is((SELECT sum(cost)::text FROM aispend.cost_facts_between('fx_aws', '2026-09-01', '2026-09-30')), '6.00',
          'and the dashboard follows');
-- another billing period is added beside it, not replacing it
CREATE TEMP TABLE aws5 AS SELECT * FROM aispend.import_focus('fx_aws',
    replace(replace(replace(:'aws', '2026-10-01T00:00:00Z', '2026-08-01T00:00:00Z'), '2026-09-01T00:00:00Z', '2026-07-01T00:00:00Z'), '2026-09-0', '2026-07-0'));
SELECT is((SELECT ROW(billing_period_start, replaced_rows, billed_cost)::text FROM aws5),
          ROW('2026-07-01 00:00+00'::timestamptz, 0, 6.191)::text, 'an earlier period (July) is added');
SELECT is((SELECT sum(billed_cost)::text FROM aispend.focus_charges WHERE account = 'fx_aws'), '12.191', 'September kept beside it');

-- ---- configurable AI rule, explicit cloud
CREATE SERVER fx_aws2 FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
CREATE TEMP TABLE aws6 AS SELECT * FROM aispend.import_focus('fx_aws2', :'aws', 'aws', ARRAY['Amazon Simple Queue Service', 'Amazon Bedrock']);
SELECT is((SELECT ROW(ai_rows, skipped_rows, billed_cost)::text FROM aws6), '(9,2,6.19000080000)',
          'ai_services chooses the services (SQS in; the Marketplace model and the S3 tax out)');
SELECT throws_ok($$SELECT * FROM aispend.import_focus('fx_aws2', 'a', 'oracle')$$, '22023', NULL, 'an unknown cloud');

-- ---- a FOCUS account is never "stale": it is imported, not synced
SELECT lives_ok($$ SELECT aispend.set_alert_rule('fx stale', 'stale_data', max_age_hours => 1) $$, 'a stale_data rule');
SELECT is((SELECT string_agg(DISTINCT c.scope, ', ') FROM aispend.alert_conditions('2026-12-01', '2026-12-01 12:00+00') c
           WHERE c.rule = 'fx stale' AND c.scope LIKE 'account fx\_%'), 'account fx_openai',
          'stale_data alerts the synced account, not the FOCUS ones');

-- ---- forgetting the account removes its charges
DROP SERVER fx_gcp;
SELECT ok((SELECT rows_deleted FROM aispend.forget_account('fx_gcp') WHERE table_name = 'aispend.focus_charges'::regclass) = 6,
          'forget_account removes the imported charges');
SELECT is((SELECT count(*) FROM aispend.costs WHERE account = 'fx_gcp'), 0::bigint, 'and their costs');

-- ---- another currency is kept, never summed as dollars
CREATE SERVER fx_eur FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
SET LOCAL client_min_messages = error;   -- the import warns that EUR is not shown
CREATE TEMP TABLE eur AS SELECT * FROM aispend.import_focus('fx_eur', replace(:'aws', '0.45,0.45,0.45,123456789012,Acme Payer,USD', '0.45,0.45,0.45,123456789012,Acme Payer,EUR'));
RESET client_min_messages;
SELECT is((SELECT string_agg(billing_currency || ' ' || billed_cost, ', ' ORDER BY source_row) FROM aispend.focus_charges WHERE account = 'fx_eur' AND source_row IN (4, 5)),
          'USD 0.15, EUR 0.45', 'a row billed in EUR is kept');
SELECT is((SELECT sum(amount_usd)::text FROM aispend.costs WHERE account = 'fx_eur'), '5.741', 'but not summed with the dollars');

-- ---- CSV: quoted cells with commas, quotes and line breaks; CRLF
SELECT is((SELECT string_agg(row_no || ':' || col_no || '=' || cell, '|' ORDER BY row_no, col_no)
           FROM aispend._csv_cells(E'a,"b,""c""\nd",\r\n"",x\n')),
          E'1:1=a|1:2=b,"c"\nd|1:3=|2:1=|2:2=x|3:1=', 'CSV cells: quotes, commas, line breaks, CRLF, empty cells');

-- property: 400 random cells (commas, quotes, CR, LF, spaces, empty), written as RFC 4180, read back the same
SELECT setseed(0.15) \gset
CREATE TEMP TABLE rnd AS
SELECT r, c, coalesce((SELECT string_agg(substr(E'ab,"\n\r x', 1 + floor(random() * 8)::integer, 1), '')
                       FROM generate_series(1, floor(random() * 6)::integer + r * 0 + c * 0)), '') AS cell
FROM generate_series(1, 100) r, generate_series(1, 4) c;
SELECT results_eq(
    format('SELECT row_no::integer, col_no::integer, cell FROM aispend._csv_cells(%L) ORDER BY 1, 2',
           (SELECT string_agg(line, E'\r\n' ORDER BY r)
              FROM (SELECT r, string_agg(CASE WHEN cell ~ '[,"\r\n]' THEN '"' || replace(cell, '"', '""') || '"' ELSE cell END,
                                         ',' ORDER BY c) AS line
                    FROM rnd GROUP BY r) l)),
    'SELECT r, c, cell FROM rnd ORDER BY 1, 2', 'CSV cells: random cells read back exactly');

-- ---- parse rules on their own
SELECT is((SELECT ROW(p.model, p.token_type, p.tier, p.routing)::text FROM aispend.parse_focus_sku('aws', 'USE1-Nova2.0Lite-input-tokens-flex') p),
          '(Nova2.0Lite,input,flex,in-region)', 'AWS flex tier');
SELECT is((SELECT ROW(p.model, p.token_type, p.tier, p.routing)::text FROM aispend.parse_focus_sku('azure', 'GPT 5 Inpt Glbl') p),
          '(gpt-5,input,standard,global)', 'Azure Inpt');
SELECT is((SELECT ROW(p.model, p.token_type)::text FROM aispend.parse_focus_sku('azure', 'gpt 4.5 0227 cached Inp DZone') p),
          '(gpt-4.5-0227,cache-read)', 'Azure cached, data zone');
SELECT is(aispend.focus_token_multiplier('1M Tokens') * 2 + aispend.focus_token_multiplier('1000 Tokens'), 2001000::numeric,
          'per 1M and per 1K');

SELECT * FROM finish();
ROLLBACK;
