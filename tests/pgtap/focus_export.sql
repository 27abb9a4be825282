-- FOCUS export (issue 15): aispend.focus(period) on the dashboard fixture (OpenAI, Anthropic) plus an imported
-- AWS Bedrock export: the FOCUS 1.2 column set and types, the specification's rules (columns that allow no NULL,
-- allowed values, charge periods inside billing periods), and BilledCost totals equal to the dashboard's.
\if :{?focus_dir}
\else
\set focus_dir tests/fixtures/focus
\endif
\set aws `cat :'focus_dir'/aws.csv`
BEGIN;
SELECT plan(23);
\ir include/dashboard_fixture.psql
CREATE SERVER fx_aws FOREIGN DATA WRAPPER aispend OPTIONS (provider 'focus');
SELECT is((SELECT ai_rows FROM aispend.import_focus('fx_aws', :'aws')), 9::bigint, 'the Bedrock export is imported');
SET CONSTRAINTS ALL IMMEDIATE;
CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-08-25', '2026-09-30') AS period;
CREATE TEMP TABLE f AS SELECT * FROM aispend.focus((SELECT period FROM p));

-- ---- the columns: FOCUS 1.2's 57, in the specification's order, with its types; then x_ columns only
CREATE TEMP TABLE spec (n integer, col text, typ text, nulls boolean);
INSERT INTO spec VALUES
 (1,'AvailabilityZone','text',true),(2,'BilledCost','numeric',false),(3,'BillingAccountId','text',false),
 (4,'BillingAccountName','text',true),(5,'BillingAccountType','text',false),(6,'BillingCurrency','text',false),
 (7,'BillingPeriodEnd','timestamp with time zone',false),(8,'BillingPeriodStart','timestamp with time zone',false),
 (9,'CapacityReservationId','text',true),(10,'CapacityReservationStatus','text',true),(11,'ChargeCategory','text',false),
 (12,'ChargeClass','text',true),(13,'ChargeDescription','text',true),(14,'ChargeFrequency','text',false),
 (15,'ChargePeriodEnd','timestamp with time zone',false),(16,'ChargePeriodStart','timestamp with time zone',false),
 (17,'CommitmentDiscountCategory','text',true),(18,'CommitmentDiscountId','text',true),(19,'CommitmentDiscountName','text',true),
 (20,'CommitmentDiscountQuantity','numeric',true),(21,'CommitmentDiscountStatus','text',true),(22,'CommitmentDiscountType','text',true),
 (23,'CommitmentDiscountUnit','text',true),(24,'ConsumedQuantity','numeric',true),(25,'ConsumedUnit','text',true),
 (26,'ContractedCost','numeric',false),(27,'ContractedUnitPrice','numeric',true),(28,'EffectiveCost','numeric',false),
 (29,'InvoiceId','text',true),(30,'InvoiceIssuerName','text',false),(31,'ListCost','numeric',false),
 (32,'ListUnitPrice','numeric',true),(33,'PricingCategory','text',true),(34,'PricingCurrency','text',true),
 (35,'PricingCurrencyContractedUnitPrice','numeric',true),(36,'PricingCurrencyEffectiveCost','numeric',true),
 (37,'PricingCurrencyListUnitPrice','numeric',true),(38,'PricingQuantity','numeric',true),(39,'PricingUnit','text',true),
 (40,'ProviderName','text',false),(41,'PublisherName','text',false),(42,'RegionId','text',true),(43,'RegionName','text',true),
 (44,'ResourceId','text',true),(45,'ResourceName','text',true),(46,'ResourceType','text',true),
 (47,'ServiceCategory','text',false),(48,'ServiceName','text',false),(49,'ServiceSubcategory','text',false),
 (50,'SkuId','text',true),(51,'SkuMeter','text',true),(52,'SkuPriceDetails','jsonb',true),(53,'SkuPriceId','text',true),
 (54,'SubAccountId','text',true),(55,'SubAccountName','text',true),(56,'SubAccountType','text',true),(57,'Tags','jsonb',true);
CREATE TEMP TABLE cols AS
SELECT a.attnum::integer AS n, a.attname::text AS col, format_type(a.atttypid, a.atttypmod) AS typ
FROM pg_attribute a WHERE a.attrelid = 'pg_temp.f'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
SELECT is((SELECT count(*) FROM spec), 57::bigint, 'the specification has 57 columns');
SELECT set_eq($$ SELECT n, col, typ FROM cols WHERE n <= 57 $$, $$ SELECT n, col, typ FROM spec $$,
              'the 57 FOCUS 1.2 columns, in order, with their types (Decimal numeric, Date/Time timestamptz, JSON jsonb)');
SELECT is_empty($$ SELECT col FROM cols WHERE n > 57 AND col NOT LIKE 'x\_%' $$, 'every other column is an x_ column, after them');
SELECT set_eq($$ SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = 'aispend.focus_30d'::regclass AND a.attnum > 0 $$,
              $$ SELECT col FROM cols $$, 'the default-period view has the same columns');

-- ---- the rules
SELECT is((SELECT count(*) FROM f), (SELECT count(*) FROM aispend.daily_rollup WHERE day BETWEEN '2026-08-25' AND '2026-09-30'),
          'one row per rollup row (OpenAI, Anthropic and the Bedrock import)');
SELECT is_empty(format('SELECT 1 FROM f WHERE %s', (SELECT string_agg(format('%I IS NULL', col), ' OR ') FROM spec WHERE NOT nulls)),
                'the columns that allow no NULL are never NULL');
SELECT is_empty($$ SELECT 1 FROM f WHERE "ChargeCategory" NOT IN ('Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment') $$, 'ChargeCategory values');
SELECT is_empty($$ SELECT 1 FROM f WHERE "ChargeClass" IS DISTINCT FROM 'Correction' AND "ChargeClass" IS NOT NULL $$, 'ChargeClass values');
SELECT is_empty($$ SELECT 1 FROM f WHERE "ChargeFrequency" NOT IN ('One-Time', 'Recurring', 'Usage-Based') $$, 'ChargeFrequency values');
SELECT is_empty($$ SELECT 1 FROM f WHERE "ServiceCategory" <> 'AI and Machine Learning' OR "ServiceSubcategory" <> 'Generative AI' $$,
                'ServiceCategory and ServiceSubcategory are allowed values');
SELECT is_empty($$ SELECT 1 FROM f WHERE NOT ("BillingPeriodStart" <= "ChargePeriodStart" AND "ChargePeriodStart" < "ChargePeriodEnd"
                                                AND "ChargePeriodEnd" <= "BillingPeriodEnd") $$,
                'every charge period lies inside its billing period');
SELECT is_empty($$ SELECT 1 FROM f WHERE "BillingPeriodStart" <> date_trunc('month', "BillingPeriodStart" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                       OR "BillingPeriodEnd" <> (("BillingPeriodStart" AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
                                       OR "ChargePeriodEnd" - "ChargePeriodStart" <> interval '1 day' $$,
                'billing periods are UTC calendar months, charge periods UTC days');
SELECT is((SELECT min("ChargePeriodStart")::text || ' ' || max("ChargePeriodEnd")::text FROM f),
          (SELECT min(day)::timestamp AT TIME ZONE 'UTC' FROM aispend.daily_rollup WHERE day >= '2026-08-25' AND day <= '2026-09-30')::text || ' ' ||
          (SELECT (max(day) + 1)::timestamp AT TIME ZONE 'UTC' FROM aispend.daily_rollup WHERE day >= '2026-08-25' AND day <= '2026-09-30')::text,
          'the charge periods stay within the requested period');
SELECT is((SELECT string_agg(DISTINCT "BillingPeriodStart"::text, ', ') FROM f), '2026-08-01 00:00:00+00, 2026-09-01 00:00:00+00',
          'a period across months gives both billing periods');
SELECT is_empty($$ SELECT 1 FROM f WHERE ("ConsumedQuantity" IS NULL) <> ("ConsumedUnit" IS NULL)
                                       OR ("ConsumedQuantity" IS NOT NULL AND "ChargeCategory" <> 'Usage')
                                       OR ("PricingQuantity" IS NULL) <> ("PricingUnit" IS NULL) $$,
                'quantities come with their units, on usage rows only');
SELECT is_empty($$ SELECT 1 FROM f WHERE jsonb_typeof("Tags") <> 'object' $$, 'Tags is a JSON object');

-- ---- BilledCost totals are the dashboard's
SELECT is((SELECT sum("BilledCost") FROM f), (SELECT sum(cost) FROM aispend.daily_facts WHERE day BETWEEN '2026-08-25' AND '2026-09-30'),
          'BilledCost total = the daily facts'' cost, exactly');
SELECT is((SELECT round(sum("BilledCost"), 2) FROM f), (SELECT total_cost FROM aispend.workspaces_summary((SELECT period FROM p))),
          'BilledCost total = the Workspaces tab''s total');
SELECT is((SELECT round(sum("BilledCost"), 2) FROM aispend.focus(aispend.custom_period('2026-09-01', '2026-09-07'), 'openai')),
          (SELECT openai_cost FROM aispend.workspaces_summary(aispend.custom_period('2026-09-01', '2026-09-07'))),
          'per provider too (OpenAI, first week of September)');
SELECT is((SELECT sum("BilledCost")::text FROM aispend.focus(aispend.custom_period('2026-09-01', '2026-09-30'), 'other')), '6.191',
          'the imported Bedrock bill, exactly (provider other)');
SELECT is((SELECT string_agg(DISTINCT "ProviderName", ', ' ORDER BY "ProviderName") FROM f),
          'Amazon Web Services, Anthropic, OpenAI', 'ProviderName per account (an import: its cloud)');
SELECT is((SELECT sum("BilledCost") FROM f WHERE "ResourceType" = 'API Key' AND "ResourceId" IS NULL), NULL, 'ResourceType only with a ResourceId');

SELECT * FROM finish();
ROLLBACK;
