-- 68_focus.sql: FOCUS billing exports of cloud-hosted models (AWS Bedrock, Azure OpenAI / AI Foundry, Google
-- Vertex AI / Gemini API) imported as accounts, and every synced cost exported as FOCUS 1.2 rows. See docs/focus.md.
--
-- A billing source is an account (a server of the wrapper aispend) with OPTIONS (provider 'focus'): it is never
-- fetched over HTTP (aispend.sync skips it) but loaded by aispend.import_focus(account, csv), which
--   1. parses the CSV text (columns found by header name, in any order; x_ columns other than the few read below
--      are ignored; NULL and empty cells are NULL),
--   2. keeps the AI rows (service name or AWS service code matching a pattern: aispend.focus_ai_services()),
--   3. reads model, token type, tier and routing from the SKU / meter / usage-type text (aispend.parse_focus_sku)
--      and keeps the raw text; a row it cannot read keeps its amount under the model '(unparsed)',
--   4. replaces, in one transaction, the account's charges of every (billing account, billing period) in the file
--      in aispend.focus_charges, rebuilds the account's aispend.costs rows of the days that changed (so the
--      rollups and every tab see them) and records a 'costs' run in aispend.sync_runs.
-- The research behind the rules: docs/focus.md ("Conventions per cloud").

-- ---------------------------------------------------------------- CSV

-- RFC 4180 CSV as cells: a cell is "quoted" ("" inside a quote is one ") or bare (no comma, quote or line break);
-- records end at LF or CRLF. Text the grammar does not cover (a quote inside a bare cell) is an error, never skipped.
CREATE FUNCTION aispend._csv_cells(csv text)
RETURNS TABLE (row_no bigint, col_no bigint, cell text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_len bigint;
BEGIN
    csv := pg_catalog.regexp_replace(csv, U&'^\FEFF', '');   -- a UTF-8 byte order mark (Azure's exports)
    IF pg_catalog.to_regclass('pg_temp.aispend_csv_matches') IS NOT NULL THEN
        DROP TABLE pg_temp.aispend_csv_matches;
    END IF;
    CREATE TEMP TABLE aispend_csv_matches (ord bigint, raw text, term text) ON COMMIT DROP;
    INSERT INTO pg_temp.aispend_csv_matches
    SELECT m.ord, m.g[1], m.g[2]
    FROM pg_catalog.regexp_matches(csv, '("(?:[^"]|"")*"|[^,"\r\n]*)(,|\r?\n|$)', 'g') WITH ORDINALITY AS m(g, ord);
    -- the regex matches once more at the end of the text: only the first end-of-text match is a cell
    DELETE FROM pg_temp.aispend_csv_matches x
     WHERE x.term = '' AND x.ord > (SELECT pg_catalog.min(y.ord) FROM pg_temp.aispend_csv_matches y WHERE y.term = '');
    -- every character must belong to a cell or a separator
    SELECT pg_catalog.sum(pg_catalog.length(x.raw) + pg_catalog.length(x.term)) INTO v_len FROM pg_temp.aispend_csv_matches x;
    IF coalesce(v_len, 0) <> pg_catalog.length(csv) THEN
        RAISE EXCEPTION 'aispend: malformed CSV: % of % characters read as cells', coalesce(v_len, 0), pg_catalog.length(csv)
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'A cell with a quote, a comma or a line break must be quoted ("a ""b"", c"); check the file is CSV, not Parquet or gzip bytes (decompress it with zcat).';
    END IF;
    RETURN QUERY
    SELECT r.rn, pg_catalog.row_number() OVER (PARTITION BY r.rn ORDER BY r.ord),
           CASE WHEN r.raw LIKE '"%' THEN pg_catalog.replace(pg_catalog.substr(r.raw, 2, pg_catalog.length(r.raw) - 2), '""', '"')
                ELSE r.raw END
    FROM (SELECT x.ord, x.raw,
                 1 + coalesce(pg_catalog.count(*) FILTER (WHERE x.term ~ '\n')
                              OVER (ORDER BY x.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rn
          FROM pg_temp.aispend_csv_matches x) r;
    DROP TABLE pg_temp.aispend_csv_matches;
END
$$;
COMMENT ON FUNCTION aispend._csv_cells(text) IS
    'Internal: CSV text (RFC 4180, LF or CRLF) as (row, column, cell), unquoted; malformed text raises 22P04.';
REVOKE ALL ON FUNCTION aispend._csv_cells(text) FROM PUBLIC;

-- ---------------------------------------------------------------- reading a charge

-- The cloud of a FOCUS row, from ProviderName (AWS: 'AWS' or 'Amazon Web Services'; Azure: 'Microsoft'; Google:
-- 'Google Cloud'); NULL for any other provider.
CREATE FUNCTION aispend.focus_cloud(provider_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN provider_name ~* '^(aws|amazon)' THEN 'aws'
            WHEN provider_name ~* '^(microsoft|azure)' THEN 'azure'
            WHEN provider_name ~* '^(google)' THEN 'gcp' END;
COMMENT ON FUNCTION aispend.focus_cloud(text) IS
    'The cloud of a FOCUS ProviderName: aws (AWS, Amazon Web Services...), azure (Microsoft), gcp (Google Cloud); '
    'NULL for another provider.';

-- The default AI rule: ServiceName or AWS x_ServiceCode matching one of these ILIKE patterns.
CREATE FUNCTION aispend.focus_ai_services()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['%Bedrock%', 'AmazonBedrock%', 'Azure OpenAI%', 'Azure AI Services', 'Azure AI Foundry%',
             'Foundry Models', 'Vertex AI', 'Gemini API'];
COMMENT ON FUNCTION aispend.focus_ai_services() IS
    'The ILIKE patterns aispend.import_focus keeps a FOCUS row by when called without ai_services: ServiceName or '
    'AWS x_ServiceCode of Amazon Bedrock (also Marketplace "(Amazon Bedrock Edition)" models), Azure OpenAI / AI '
    'Services / AI Foundry / Foundry Models, Vertex AI and the Gemini API.';

-- Model, token type (input, output, cache-read, cache-write, cache-storage), tier and routing of a SKU / meter /
-- usage-type text, by the rules of docs/focus.md; all NULL when no rule reads it.
CREATE FUNCTION aispend.parse_focus_sku(cloud text, sku text, service_name text DEFAULT NULL,
    OUT model text, OUT token_type text, OUT tier text, OUT routing text)
RETURNS record
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    m text[];
    words text[];
    i integer;
    d integer;
BEGIN
    IF sku IS NULL THEN
        RETURN;
    END IF;
    IF cloud = 'aws' THEN
        -- usage types {region}-{model}-{token type}[-{tier}|-cross-region-{scope}] (Bedrock user guide)
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-mantle-(input|output|cache-read|cache-write)-tokens-(standard|batch|flex|priority)$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := m[3]; routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens-cross-region-(global|geo)(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[4], 'standard'); routing := 'cross-region-' || m[3];
            RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[3], 'standard'); routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(cache-read|cache-write)-input-token-count$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := 'standard'; routing := 'in-region'; RETURN;
        END IF;
        -- AWS Marketplace models: the model is the product, 'Claude 3 Haiku (Amazon Bedrock Edition)'
        m := regexp_match(sku, '^[A-Z0-9]+-MP:[A-Z0-9]+_(Input|Output)TokenCount-Units$');
        IF m IS NOT NULL AND service_name ~ '\(Amazon Bedrock Edition\)$' THEN
            model := btrim(regexp_replace(service_name, '\s*\(Amazon Bedrock Edition\)$', ''));
            token_type := lower(m[1]); tier := 'standard'; routing := 'marketplace'; RETURN;
        END IF;
    ELSIF cloud = 'azure' THEN
        -- meter names: 'gpt 4o 0513 Input global Tokens', 'gpt-4o-mini-0718-Inp-glbl Tokens', 'gpt 4o 1120 cached
        -- Inp glbl', 'gpt-4-8K-Batch-Inp-glbl Tokens', 'GPT 5 Inpt Glbl': model words, [batch] [cached], direction,
        -- [scope], [tokens]
        words := regexp_split_to_array(lower(btrim(sku)), '[ -]+');
        IF words[array_length(words, 1)] = 'tokens' THEN
            words := words[1:array_length(words, 1) - 1];
        END IF;
        d := NULL;
        FOR i IN REVERSE coalesce(array_length(words, 1), 0)..1 LOOP
            IF words[i] IN ('inp', 'input', 'inpt', 'outp', 'output', 'outpt') THEN d := i; EXIT; END IF;
        END LOOP;
        IF d IS NULL OR d < 2 OR array_length(words, 1) - d > 1
           OR (array_length(words, 1) > d AND words[d + 1] NOT IN ('glbl', 'global', 'regnl', 'regional', 'dzone', 'datazone')) THEN
            RETURN;
        END IF;
        token_type := CASE WHEN words[d] LIKE 'o%' THEN 'output' ELSE 'input' END;
        routing := CASE words[d + 1] WHEN 'glbl' THEN 'global' WHEN 'regnl' THEN 'regional' WHEN 'dzone' THEN 'datazone'
                                     ELSE words[d + 1] END;
        tier := 'standard';
        i := d - 1;
        WHILE i >= 2 AND words[i] IN ('cached', 'batch') LOOP
            IF words[i] = 'cached' THEN token_type := 'cache-read'; ELSE tier := 'batch'; END IF;
            i := i - 1;
        END LOOP;
        model := array_to_string(words[1:i], '-');
        RETURN;
    ELSIF cloud = 'gcp' THEN
        -- Gemini API: 'Generate content input token count gemini 2.5 flash short input text'
        m := regexp_match(sku, '^Generate content (input|output|cached input) token count gemini ([0-9]+(?:\.[0-9]+)?(?: (?:pro|flash|lite|preview))*)', 'i');
        IF m IS NOT NULL THEN
            model := 'gemini-' || replace(lower(m[2]), ' ', '-');
            token_type := CASE lower(m[1]) WHEN 'cached input' THEN 'cache-read' ELSE lower(m[1]) END;
            tier := CASE WHEN sku ~* '\mflex\M' THEN 'flex' WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            RETURN;
        END IF;
        -- Vertex AI: 'Gemini 2.5 Flash GA Text Input - Predictions', '... Thinking Text Output ...', '... Caching'
        m := regexp_match(sku, '^Gemini ([0-9]+(?:\.[0-9]+)?) (Pro|Flash(?: Lite)?)\M');
        IF m IS NOT NULL THEN
            token_type := CASE WHEN sku ~* '\mcaching storage\M' THEN 'cache-storage'
                               WHEN sku ~* '\m(caching|cached)\M' THEN 'cache-read'
                               WHEN sku ~* '\moutput\M' THEN 'output'
                               WHEN sku ~* '\minput\M' THEN 'input' END;
            IF token_type IS NULL THEN
                RETURN;
            END IF;
            model := 'gemini-' || m[1] || '-' || replace(lower(m[2]), ' ', '-');
            tier := CASE WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            routing := CASE WHEN sku ~* '\mglobal\M' THEN 'global' END;
            RETURN;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION aispend.parse_focus_sku(text, text, text) IS
    'How aispend.import_focus reads a FOCUS SKU text (cloud aws: SkuMeter / x_UsageType; azure: SkuMeter / '
    'x_SkuMeterName; gcp: ChargeDescription): model (the cloud''s billing name, e.g. Claude4.6Sonnet, gpt-4o-0513, '
    'gemini-2.5-flash), token_type (input, output, cache-read, cache-write, cache-storage), tier (standard, batch, '
    'flex, priority) and routing; all NULL when no rule reads the text (the charge is then kept as (unparsed)).';

-- Tokens per unit of a FOCUS ConsumedUnit / PricingUnit that counts tokens ('Tokens', '1K Tokens', '1000 Tokens',
-- '1M Tokens', 'Million Tokens'); NULL for any other unit.
CREATE FUNCTION aispend.focus_token_multiplier(unit text)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN unit !~* '\mtokens?\M' THEN NULL
            WHEN unit ~* '^\s*(1\s*m|1\s*000\s*000|1,000,000|million|mtok)' THEN 1000000
            WHEN unit ~* '^\s*(1\s*k|1\s*000|1,000|thousand|ktok)' THEN 1000
            WHEN unit ~* '^\s*(1\s*)?tokens?\s*$' THEN 1 END;
COMMENT ON FUNCTION aispend.focus_token_multiplier(text) IS
    'Tokens per unit of a FOCUS unit that counts tokens: 1 (Tokens), 1000 (1K / 1000 Tokens), 1000000 (1M / '
    'Million Tokens); NULL for other units (Units, count, Requests, GB-Hours...).';

-- FOCUS date/times: '2024-09-01T00:00:00Z', '2024-09-01T00:00Z' (Azure 1.0), '2024-09-01 00:00:00' (no zone:
-- UTC), '2024-09-01', '2024-09-01 07:00:00 UTC' (BigQuery's CSV).
CREATE FUNCTION aispend._focus_ts(v text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN v ~ '( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN pg_catalog.regexp_replace(v, ' ?UTC$', 'Z')::timestamptz
            ELSE v::timestamp AT TIME ZONE 'UTC' END;
COMMENT ON FUNCTION aispend._focus_ts(text) IS 'Internal: a FOCUS date/time (no zone: UTC).';

-- ---------------------------------------------------------------- the imported charges

CREATE TABLE aispend.focus_charges (
    account              name        NOT NULL,
    billing_account_id   text        NOT NULL,
    billing_period_start timestamptz NOT NULL,
    source_row           integer     NOT NULL,
    billing_period_end   timestamptz NOT NULL,
    run_id               bigint      NOT NULL,
    cloud                text,
    charge_period_start  timestamptz NOT NULL,
    charge_period_end    timestamptz,
    charge_category      text        NOT NULL,
    charge_class         text,
    service_category     text,
    service_name         text        NOT NULL,
    sub_account_id       text,
    sub_account_name     text,
    region_id            text,
    sku_id               text,
    sku_text             text,
    charge_description   text,
    model                text,
    token_type           text,
    tier                 text,
    routing              text,
    parsed               boolean     NOT NULL,
    billed_cost          numeric     NOT NULL,
    effective_cost       numeric     NOT NULL,
    list_cost            numeric,
    billing_currency     text        NOT NULL,
    consumed_quantity    numeric,
    consumed_unit        text,
    tokens               numeric,
    CONSTRAINT focus_charges_pkey PRIMARY KEY (account, billing_account_id, billing_period_start, source_row)
);
CREATE INDEX focus_charges_day_idx ON aispend.focus_charges (account, charge_period_start);
COMMENT ON TABLE aispend.focus_charges IS
    'The AI rows of the FOCUS exports imported by aispend.import_focus, one per CSV row, with both costs and the raw '
    'SKU text; an import replaces the rows of each (account, billing account, billing period) in its file. '
    'aispend.costs holds the USD ones summed per UTC day for the dashboard (other currencies stay here only).';
COMMENT ON COLUMN aispend.focus_charges.account IS 'The account (server with provider ''focus'') the file was imported into.';
COMMENT ON COLUMN aispend.focus_charges.billing_account_id IS 'FOCUS BillingAccountId (AWS payer account, Azure billing account, GCP billing account).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_start IS 'FOCUS BillingPeriodStart (inclusive): with billing_account_id, the unit an import replaces.';
COMMENT ON COLUMN aispend.focus_charges.source_row IS 'Row number in the imported CSV (the header is row 1).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_end IS 'FOCUS BillingPeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.run_id IS 'The aispend.sync_runs row (endpoint costs) of the import.';
COMMENT ON COLUMN aispend.focus_charges.cloud IS 'aws, azure or gcp (the import''s cloud argument, else from ProviderName); NULL for another provider.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_start IS 'FOCUS ChargePeriodStart: its UTC day is the day on the dashboard.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_end IS 'FOCUS ChargePeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.charge_category IS 'FOCUS ChargeCategory: Usage, Purchase, Tax, Credit or Adjustment (as written).';
COMMENT ON COLUMN aispend.focus_charges.charge_class IS 'FOCUS ChargeClass: Correction or NULL.';
COMMENT ON COLUMN aispend.focus_charges.service_category IS 'FOCUS ServiceCategory (AI and Machine Learning, ...).';
COMMENT ON COLUMN aispend.focus_charges.service_name IS 'FOCUS ServiceName (Amazon Bedrock, Azure AI Services, Vertex AI, ...).';
COMMENT ON COLUMN aispend.focus_charges.sub_account_id IS 'FOCUS SubAccountId (AWS account, Azure subscription, GCP project): the workspace.';
COMMENT ON COLUMN aispend.focus_charges.sub_account_name IS 'FOCUS SubAccountName: the workspace''s name.';
COMMENT ON COLUMN aispend.focus_charges.region_id IS 'FOCUS RegionId.';
COMMENT ON COLUMN aispend.focus_charges.sku_id IS 'FOCUS SkuId.';
COMMENT ON COLUMN aispend.focus_charges.sku_text IS
    'The text the model was read from, verbatim: SkuMeter (else x_UsageType on AWS, x_SkuMeterName on Azure), '
    'ChargeDescription on Google Cloud and when there is no meter.';
COMMENT ON COLUMN aispend.focus_charges.charge_description IS 'FOCUS ChargeDescription, verbatim.';
COMMENT ON COLUMN aispend.focus_charges.model IS 'Model read from sku_text (the cloud''s billing name); NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.token_type IS 'input, output, cache-read, cache-write or cache-storage; NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.tier IS 'standard, batch, flex or priority.';
COMMENT ON COLUMN aispend.focus_charges.routing IS 'in-region, cross-region-global/geo, marketplace (AWS); global, regional, datazone (Azure).';
COMMENT ON COLUMN aispend.focus_charges.parsed IS 'Whether a rule of aispend.parse_focus_sku read the model; false rows are listed by aispend.focus_unparsed.';
COMMENT ON COLUMN aispend.focus_charges.billed_cost IS 'FOCUS BilledCost (the invoice basis), exact; negative for credits and refunds.';
COMMENT ON COLUMN aispend.focus_charges.effective_cost IS 'FOCUS EffectiveCost (amortized, after discounts and prepayments), exact.';
COMMENT ON COLUMN aispend.focus_charges.list_cost IS 'FOCUS ListCost.';
COMMENT ON COLUMN aispend.focus_charges.billing_currency IS 'FOCUS BillingCurrency, upper-cased.';
COMMENT ON COLUMN aispend.focus_charges.consumed_quantity IS 'FOCUS ConsumedQuantity as written.';
COMMENT ON COLUMN aispend.focus_charges.consumed_unit IS 'FOCUS ConsumedUnit as written (Tokens, 1K Tokens, Units, count...).';
COMMENT ON COLUMN aispend.focus_charges.tokens IS
    'Tokens, where the unit says so: ConsumedQuantity x 1, 1000 or 1000000 (Tokens, 1K / 1M Tokens, else '
    'PricingQuantity x its PricingUnit), or Google''s count of a token SKU; usage rows only (never credits or '
    'corrections). NULL otherwise (Azure''s Units).';
SELECT pg_catalog.pg_extension_config_dump('aispend.focus_charges', '');

CREATE VIEW aispend.focus_unparsed WITH (security_invoker = true) AS
SELECT c.account, c.cloud, c.service_name, c.sku_text, c.charge_category,
       pg_catalog.count(*) AS charges,
       (pg_catalog.min(c.charge_period_start) AT TIME ZONE 'UTC')::date AS first_day,
       (pg_catalog.max(c.charge_period_start) AT TIME ZONE 'UTC')::date AS last_day,
       pg_catalog.sum(c.billed_cost) AS billed_cost, c.billing_currency
FROM aispend.focus_charges c
WHERE NOT c.parsed
GROUP BY c.account, c.cloud, c.service_name, c.sku_text, c.charge_category, c.billing_currency;
COMMENT ON VIEW aispend.focus_unparsed IS
    'Imported FOCUS charges whose model no rule could read: per account and SKU text, the amount. They count in '
    'every total (usage under the model ''(unparsed)''); this lists what a new rule should read.';
COMMENT ON COLUMN aispend.focus_unparsed.account IS 'The account.';
COMMENT ON COLUMN aispend.focus_unparsed.cloud IS 'aws, azure or gcp.';
COMMENT ON COLUMN aispend.focus_unparsed.service_name IS 'FOCUS ServiceName.';
COMMENT ON COLUMN aispend.focus_unparsed.sku_text IS 'The SKU / meter / description text, verbatim.';
COMMENT ON COLUMN aispend.focus_unparsed.charge_category IS 'FOCUS ChargeCategory.';
COMMENT ON COLUMN aispend.focus_unparsed.charges IS 'Number of charges (CSV rows).';
COMMENT ON COLUMN aispend.focus_unparsed.first_day IS 'First UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.last_day IS 'Last UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.billed_cost IS 'Its BilledCost total, exact.';
COMMENT ON COLUMN aispend.focus_unparsed.billing_currency IS 'The currency of billed_cost.';

-- ---------------------------------------------------------------- the import

CREATE FUNCTION aispend.import_focus(account name, csv text, cloud text DEFAULT NULL, ai_services text[] DEFAULT NULL)
RETURNS TABLE (billing_account_id text, billing_period_start timestamptz, billing_period_end timestamptz,
               rows_read bigint, ai_rows bigint, unparsed_rows bigint, skipped_rows bigint,
               billed_cost numeric, effective_cost numeric, replaced_rows bigint, run_id bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_account name := import_focus.account;
    v_cloud text := pg_catalog.lower(import_focus.cloud);
    v_patterns text[] := coalesce(import_focus.ai_services, aispend.focus_ai_services());
    v_opts text[];
    v_h jsonb;
    v_ncols integer;
    v_col text;
    v_bad record;
    v_run bigint;
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_settled date;
    v_names jsonb;
    v_models text[];
    v_firsts timestamptz[];
    v_lasts timestamptz[];
    v_complete timestamptz;
    v_read bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_ts constant text := '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)?$';
    v_num constant text := '^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$';
BEGIN
    SELECT s.srvoptions INTO v_opts FROM aispend._servers() s WHERE s.srvname = v_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', v_account
            USING ERRCODE = 'undefined_object',
                  HINT = 'A FOCUS billing source is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''focus'').';
    END IF;
    IF aispend._option(v_opts, 'provider') IS DISTINCT FROM 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a % account, not a FOCUS billing source', v_account,
                        coalesce(aispend._option(v_opts, 'provider'), '(no provider)')
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Import into an account created with OPTIONS (provider ''focus''); '
                         'its synced accounts are filled by aispend.sync.';
    END IF;
    IF v_cloud IS NOT NULL AND v_cloud NOT IN ('aws', 'azure', 'gcp') THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": unknown cloud "%"', v_account, import_focus.cloud
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use aws, azure, gcp, or NULL to read ProviderName.';
    END IF;
    IF csv IS NULL OR pg_catalog.btrim(csv, E' \r\n') = '' THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": the file is empty', v_account
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'In psql: \set focus `zcat export.csv.gz` then SELECT * FROM aispend.import_focus(''account'', :''focus'');';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1634300784, aispend._lock_key(v_account)) THEN
        RAISE EXCEPTION 'aispend: an import or sync of account % is running', v_account
            USING ERRCODE = 'lock_not_available';
    END IF;

    -- the header: columns by name, in any order
    CREATE TEMP TABLE aispend_focus_cells ON COMMIT DROP AS SELECT * FROM aispend._csv_cells(csv);
    SELECT pg_catalog.jsonb_object_agg(pg_catalog.lower(pg_catalog.btrim(pg_catalog.replace(c.cell, U&'\FEFF', ''))), c.col_no),
           pg_catalog.count(*)
      INTO v_h, v_ncols
      FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1;
    FOREACH v_col IN ARRAY ARRAY['BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart',
                                 'ChargeCategory', 'ServiceName', 'BilledCost', 'EffectiveCost', 'BillingCurrency'] LOOP
        IF NOT v_h ? pg_catalog.lower(v_col) THEN
            RAISE EXCEPTION 'aispend: FOCUS import into account "%": the required column % is missing', v_account, v_col
                USING ERRCODE = 'bad_copy_file_format',
                      DETAIL = 'The header has: ' || (SELECT pg_catalog.string_agg(c.cell, ', ' ORDER BY c.col_no)
                                                       FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1),
                      HINT = 'Import a FOCUS 1.0, 1.1 or 1.2 export with its header row (docs/focus.md).';
        END IF;
    END LOOP;

    -- the rows: repeated header rows (several files concatenated) and blank lines are skipped
    CREATE TEMP TABLE aispend_focus_rows ON COMMIT DROP AS
    SELECT c.row_no::integer AS row_no, pg_catalog.array_agg(c.cell ORDER BY c.col_no) AS f
    FROM pg_temp.aispend_focus_cells c WHERE c.row_no > 1
    GROUP BY c.row_no;
    DELETE FROM pg_temp.aispend_focus_rows r
     WHERE (pg_catalog.array_length(r.f, 1) = 1 AND r.f[1] = '')
        OR r.f = (SELECT pg_catalog.array_agg(c.cell ORDER BY c.col_no) FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1);
    DROP TABLE pg_temp.aispend_focus_cells;
    SELECT r.row_no, pg_catalog.array_length(r.f, 1) AS n INTO v_bad
      FROM pg_temp.aispend_focus_rows r WHERE pg_catalog.array_length(r.f, 1) <> v_ncols ORDER BY r.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row % has % cells, the header %', v_account,
                        v_bad.row_no, v_bad.n, v_ncols
            USING ERRCODE = 'bad_copy_file_format', HINT = 'Every row of a CSV export has one cell per header column.';
    END IF;

    -- the cells aispend reads, by column index (one pass; a missing optional column is NULL)
    EXECUTE 'CREATE TEMP TABLE aispend_focus_text ON COMMIT DROP AS SELECT r.row_no, '
         || (SELECT pg_catalog.string_agg(
                        CASE WHEN v_h ? c
                             THEN pg_catalog.format('NULLIF(NULLIF(pg_catalog.btrim(r.f[%s]), %L), %L) AS %I',
                                                    v_h OPERATOR(pg_catalog.->>) c, '', 'NULL', c)
                             ELSE pg_catalog.format('NULL::text AS %I', c) END, ', ' ORDER BY o)
             FROM pg_catalog.unnest(ARRAY['providername', 'billingaccountid', 'billingperiodstart', 'billingperiodend',
                                          'chargeperiodstart', 'chargeperiodend', 'chargecategory', 'chargeclass',
                                          'servicecategory', 'servicename', 'subaccountid', 'subaccountname',
                                          'regionid', 'skuid', 'skumeter', 'x_usagetype', 'x_skumetername',
                                          'chargedescription', 'billedcost', 'effectivecost', 'listcost',
                                          'billingcurrency', 'consumedquantity', 'consumedunit', 'pricingquantity',
                                          'pricingunit', 'x_servicecode']) WITH ORDINALITY AS x(c, o))
         || ' FROM pg_temp.aispend_focus_rows r';
    DROP TABLE pg_temp.aispend_focus_rows;

    -- required cells and the syntax of dates and numbers, with the row and column of the first bad one
    SELECT x.row_no, x.col, x.val INTO v_bad
      FROM (SELECT CASE WHEN t.billingaccountid IS NULL THEN 'BillingAccountId'
                        WHEN t.billingperiodstart IS NULL OR t.billingperiodstart !~ v_ts THEN 'BillingPeriodStart'
                        WHEN t.billingperiodend IS NULL OR t.billingperiodend !~ v_ts THEN 'BillingPeriodEnd'
                        WHEN t.chargeperiodstart IS NULL OR t.chargeperiodstart !~ v_ts THEN 'ChargePeriodStart'
                        WHEN t.chargeperiodend !~ v_ts THEN 'ChargePeriodEnd'
                        WHEN t.chargecategory IS NULL THEN 'ChargeCategory'
                        WHEN t.servicename IS NULL THEN 'ServiceName'
                        WHEN t.billedcost IS NULL OR t.billedcost !~ v_num THEN 'BilledCost'
                        WHEN t.effectivecost IS NULL OR t.effectivecost !~ v_num THEN 'EffectiveCost'
                        WHEN t.billingcurrency IS NULL THEN 'BillingCurrency'
                        WHEN t.listcost !~ v_num THEN 'ListCost'
                        WHEN t.consumedquantity !~ v_num THEN 'ConsumedQuantity'
                        WHEN t.pricingquantity !~ v_num THEN 'PricingQuantity' END AS col,
                   t.*
              FROM pg_temp.aispend_focus_text t) x0
     CROSS JOIN LATERAL (SELECT x0.row_no, x0.col,
                                CASE x0.col WHEN 'BillingAccountId' THEN x0.billingaccountid
                                            WHEN 'BillingPeriodStart' THEN x0.billingperiodstart
                                            WHEN 'BillingPeriodEnd' THEN x0.billingperiodend
                                            WHEN 'ChargePeriodStart' THEN x0.chargeperiodstart
                                            WHEN 'ChargePeriodEnd' THEN x0.chargeperiodend
                                            WHEN 'ChargeCategory' THEN x0.chargecategory
                                            WHEN 'ServiceName' THEN x0.servicename
                                            WHEN 'BilledCost' THEN x0.billedcost
                                            WHEN 'EffectiveCost' THEN x0.effectivecost
                                            WHEN 'BillingCurrency' THEN x0.billingcurrency
                                            WHEN 'ListCost' THEN x0.listcost
                                            WHEN 'ConsumedQuantity' THEN x0.consumedquantity
                                            WHEN 'PricingQuantity' THEN x0.pricingquantity END AS val) x
     WHERE x0.col IS NOT NULL
     ORDER BY x0.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row %, column %: %', v_account, v_bad.row_no, v_bad.col,
                        CASE WHEN v_bad.val IS NULL THEN 'a required value is missing'
                             ELSE 'not a FOCUS value: "' || pg_catalog.left(v_bad.val, 60) || '"' END
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'Dates are ISO 8601 (2024-09-01T00:00:00Z), numbers plain decimals (-0.5, 1E-3).';
    END IF;

    -- typed, classified, parsed
    CREATE TEMP TABLE aispend_focus_typed ON COMMIT DROP AS
    SELECT t.*,
           aispend._utc_day_start((t.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
           CASE WHEN NOT t.is_ai OR t.charge_category IS DISTINCT FROM 'Usage' OR t.charge_class IS NOT NULL THEN NULL
                WHEN aispend.focus_token_multiplier(t.consumed_unit) IS NOT NULL
                     THEN t.consumed_quantity * aispend.focus_token_multiplier(t.consumed_unit)
                WHEN aispend.focus_token_multiplier(t.pricing_unit) IS NOT NULL
                     THEN t.pricing_quantity * aispend.focus_token_multiplier(t.pricing_unit)
                WHEN t.cloud = 'gcp' AND pg_catalog.lower(t.consumed_unit) = 'count' AND t.sku_text ~* '\mtoken'
                     THEN t.consumed_quantity END AS tokens,
           p.model, p.token_type, p.tier, p.routing
    FROM (SELECT x.row_no, x.cloud, x.billingaccountid AS billing_account_id,
                 aispend._focus_ts(x.billingperiodstart) AS billing_period_start,
                 aispend._focus_ts(x.billingperiodend) AS billing_period_end,
                 aispend._focus_ts(x.chargeperiodstart) AS charge_period_start,
                 aispend._focus_ts(x.chargeperiodend) AS charge_period_end,
                 -- FOCUS casing (Google's view writes usage, tax, adjustment)
                 CASE pg_catalog.lower(x.chargecategory) WHEN 'usage' THEN 'Usage' WHEN 'purchase' THEN 'Purchase'
                      WHEN 'tax' THEN 'Tax' WHEN 'credit' THEN 'Credit' WHEN 'adjustment' THEN 'Adjustment'
                      ELSE x.chargecategory END AS charge_category,
                 CASE WHEN pg_catalog.lower(x.chargeclass) = 'correction' THEN 'Correction' ELSE x.chargeclass END
                     AS charge_class,
                 x.servicecategory AS service_category, x.servicename AS service_name,
                 x.subaccountid AS sub_account_id, x.subaccountname AS sub_account_name, x.regionid AS region_id,
                 x.skuid AS sku_id,
                 CASE WHEN x.cloud = 'gcp' THEN coalesce(x.chargedescription, x.skumeter)
                      ELSE coalesce(x.skumeter, x.x_usagetype, x.x_skumetername, x.chargedescription) END AS sku_text,
                 x.chargedescription AS charge_description,
                 x.billedcost::numeric AS billed_cost, x.effectivecost::numeric AS effective_cost,
                 x.listcost::numeric AS list_cost, pg_catalog.upper(x.billingcurrency) AS billing_currency,
                 x.consumedquantity::numeric AS consumed_quantity, x.consumedunit AS consumed_unit,
                 x.pricingquantity::numeric AS pricing_quantity, x.pricingunit AS pricing_unit,
                 (x.servicename ILIKE ANY (v_patterns) OR coalesce(x.x_servicecode ILIKE ANY (v_patterns), false)) AS is_ai
          FROM (SELECT t.*, coalesce(v_cloud, aispend.focus_cloud(t.providername)) AS cloud
                FROM pg_temp.aispend_focus_text t) x) t
    LEFT JOIN LATERAL aispend.parse_focus_sku(t.cloud, t.sku_text, t.service_name) p ON t.is_ai;
    DROP TABLE pg_temp.aispend_focus_text;
    SELECT pg_catalog.count(*) INTO v_read FROM pg_temp.aispend_focus_typed;

    -- the run
    INSERT INTO aispend.sync_runs AS r (account, endpoint, window_start, window_end, bucket_width, started_at, status,
                                        rows_fetched, http_requests, retries, bytes)
    SELECT v_account, 'costs', pg_catalog.min(t.billing_period_start), pg_catalog.max(t.billing_period_end), '1d', v_now,
           'running', v_read, 0, 0, pg_catalog.octet_length(csv)
    FROM pg_temp.aispend_focus_typed t
    RETURNING r.id INTO v_run;

    -- the days whose costs change: those of the replaced periods and of the new rows
    CREATE TEMP TABLE aispend_focus_periods ON COMMIT DROP AS
    SELECT t.billing_account_id AS bai, t.billing_period_start AS bps, pg_catalog.max(t.billing_period_end) AS bpe
    FROM pg_temp.aispend_focus_typed t GROUP BY 1, 2;
    CREATE TEMP TABLE aispend_focus_days ON COMMIT DROP AS
    SELECT DISTINCT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day
      FROM aispend.focus_charges c JOIN pg_temp.aispend_focus_periods p
        ON c.billing_account_id = p.bai AND c.billing_period_start = p.bps
     WHERE c.account = v_account
    UNION
    SELECT t.day FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;

    CREATE TEMP TABLE aispend_focus_replaced ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM aispend.focus_charges c USING pg_temp.aispend_focus_periods p
         WHERE c.account = v_account AND c.billing_account_id = p.bai AND c.billing_period_start = p.bps
        RETURNING c.billing_account_id, c.billing_period_start)
    SELECT d.billing_account_id AS bai, d.billing_period_start AS bps, pg_catalog.count(*) AS n FROM d GROUP BY 1, 2;
    SELECT coalesce(pg_catalog.sum(x.n), 0) INTO v_deleted FROM pg_temp.aispend_focus_replaced x;

    INSERT INTO aispend.focus_charges
        (account, billing_account_id, billing_period_start, source_row, billing_period_end, run_id, cloud,
         charge_period_start, charge_period_end, charge_category, charge_class, service_category, service_name,
         sub_account_id, sub_account_name, region_id, sku_id, sku_text, charge_description, model, token_type, tier,
         routing, parsed, billed_cost, effective_cost, list_cost, billing_currency, consumed_quantity, consumed_unit,
         tokens)
    SELECT v_account, t.billing_account_id, t.billing_period_start, t.row_no, t.billing_period_end, v_run, t.cloud,
           t.charge_period_start, t.charge_period_end, t.charge_category, t.charge_class, t.service_category,
           t.service_name, t.sub_account_id, t.sub_account_name, t.region_id, t.sku_id, t.sku_text,
           t.charge_description, t.model, t.token_type, t.tier, t.routing, t.model IS NOT NULL, t.billed_cost,
           t.effective_cost, t.list_cost, t.billing_currency, t.consumed_quantity, t.consumed_unit, t.tokens
    FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    -- the dashboard's facts of those days, rebuilt from every imported charge of the account
    DELETE FROM aispend.costs c USING pg_temp.aispend_focus_days d
     WHERE c.account = v_account AND c.bucket_start = d.day;
    INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                               service_tier, context_window, cost_type, inference_geo, amount_usd, currency, quantity,
                               quantity_unit, token_class)
    SELECT v_account, x.day, x.workspace_id, NULL, x.line_item, x.model, x.token_type, x.tier, NULL, x.cost_type,
           x.routing, pg_catalog.sum(x.billed_cost), x.currency,
           pg_catalog.sum(x.quantity), x.quantity_unit, pg_catalog.max(x.token_class)
    FROM (SELECT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
                 coalesce(c.sub_account_id, '(default)') AS workspace_id,
                 coalesce(c.sku_text, c.charge_category) AS line_item,
                 CASE WHEN c.parsed THEN c.model WHEN c.charge_category = 'Usage' THEN '(unparsed)' END AS model,
                 c.token_type, c.tier, c.routing,
                 pg_catalog.lower(c.charge_category) || CASE WHEN c.charge_class = 'Correction' THEN ' correction' ELSE '' END
                     AS cost_type,
                 c.billed_cost, c.billing_currency AS currency,
                 coalesce(c.tokens, c.consumed_quantity) AS quantity,
                 CASE WHEN c.tokens IS NOT NULL THEN 'tokens' ELSE c.consumed_unit END AS quantity_unit,
                 CASE WHEN NOT c.parsed THEN CASE WHEN c.charge_category = 'Usage' THEN 'unrecognised' END
                      ELSE CASE c.token_type WHEN 'input' THEN 'input' WHEN 'output' THEN 'output'
                                             WHEN 'cache-read' THEN 'cached_input' WHEN 'cache-write' THEN 'cache_write'
                                             ELSE 'unrecognised' END END AS token_class
          FROM aispend.focus_charges c
          WHERE c.account = v_account AND c.billing_currency = 'USD'   -- the dashboard sums US dollars
            AND aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) IN
                (SELECT d.day FROM pg_temp.aispend_focus_days d)) x
    GROUP BY x.day, x.workspace_id, x.line_item, x.model, x.token_type, x.tier, x.cost_type, x.routing, x.currency,
             x.quantity_unit;

    -- the rollups of those days, and the models named (what the facts' triggers also do); read first, then
    -- marked: on Citus a function called in a query of distributed tables runs on a shard
    SELECT pg_catalog.array_agg(x.model), pg_catalog.array_agg(x.f), pg_catalog.array_agg(x.l)
      INTO v_models, v_firsts, v_lasts
      FROM (SELECT c.model, pg_catalog.min(c.bucket_start) AS f, pg_catalog.max(c.bucket_start) AS l
              FROM aispend.costs c
             WHERE c.account = v_account AND c.model IS NOT NULL
               AND c.bucket_start = ANY (ARRAY(SELECT d.day FROM pg_temp.aispend_focus_days d))
             GROUP BY c.model) x;
    PERFORM aispend._facts_written(v_account, ARRAY(SELECT (d.day AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_focus_days d),
                                   v_models, v_firsts, v_lasts);

    IF EXISTS (SELECT 1 FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD') THEN
        RAISE WARNING 'aispend: FOCUS import into account "%": % AI rows billed in % are kept in aispend.focus_charges '
                      'but not shown on the dashboard, which sums US dollars', v_account,
                      (SELECT pg_catalog.count(*) FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD'),
                      (SELECT pg_catalog.string_agg(DISTINCT t.billing_currency, ', ') FROM pg_temp.aispend_focus_typed t
                        WHERE t.is_ai AND t.billing_currency <> 'USD')
            USING HINT = 'Export the bill in USD (Azure: x_BilledCostInUsd is not read), or read focus_charges directly.';
    END IF;

    -- sub-accounts are the workspaces, named as the export names them
    PERFORM aispend._note_fact_dimensions(v_account, 'focus', v_now,
        (SELECT pg_catalog.array_agg(DISTINCT coalesce(t.sub_account_id, '(default)')) FROM pg_temp.aispend_focus_typed t
          WHERE t.is_ai), NULL);
    v_names := aispend._names_before(v_account);
    UPDATE aispend.workspaces w SET provider_name = n.name
      FROM (SELECT DISTINCT ON (t.sub_account_id) t.sub_account_id, t.sub_account_name AS name
              FROM pg_temp.aispend_focus_typed t
             WHERE t.is_ai AND t.sub_account_id IS NOT NULL AND t.sub_account_name IS NOT NULL
             ORDER BY t.sub_account_id, t.row_no DESC) n
     WHERE w.account = v_account AND w.workspace_id = n.sub_account_id
       AND w.provider_name IS DISTINCT FROM n.name;
    PERFORM aispend._names_changed(v_account, v_names);
    PERFORM aispend._remember_provider(v_account, 'focus');

    -- complete through the end of the file's last charge: data_freshness shows how far the bill goes
    -- (read into variables first: Citus refuses volatile functions and local tables in an UPDATE of sync_runs)
    SELECT aispend._bucket_floor(pg_catalog.max(coalesce(t.charge_period_end, t.charge_period_start)), '1d')
      INTO v_complete FROM pg_temp.aispend_focus_typed t;
    v_finished := pg_catalog.clock_timestamp();
    v_settled := aispend.settled_before(v_account);
    UPDATE aispend.sync_runs r
       SET status = 'succeeded', finished_at = v_finished, rows_inserted = v_inserted,
           rows_updated = 0, rows_deleted = v_deleted, complete_through = v_complete
     WHERE r.account = v_account AND r.id = v_run;
    PERFORM aispend._mark_settlement_moved(v_account, v_settled, aispend.settled_before(v_account));
    PERFORM aispend._reroll(v_account);

    RETURN QUERY
    SELECT p.bai, p.bps, p.bpe,
           pg_catalog.count(t.row_no),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai AND t.model IS NULL),
           pg_catalog.count(t.row_no) FILTER (WHERE NOT t.is_ai),
           coalesce(pg_catalog.sum(t.billed_cost) FILTER (WHERE t.is_ai), 0),
           coalesce(pg_catalog.sum(t.effective_cost) FILTER (WHERE t.is_ai), 0),
           coalesce((SELECT x.n FROM pg_temp.aispend_focus_replaced x WHERE x.bai = p.bai AND x.bps = p.bps), 0)::bigint,
           v_run
    FROM pg_temp.aispend_focus_periods p
    JOIN pg_temp.aispend_focus_typed t ON t.billing_account_id = p.bai AND t.billing_period_start = p.bps
    GROUP BY p.bai, p.bps, p.bpe
    ORDER BY p.bps, p.bai;
    DROP TABLE pg_temp.aispend_focus_typed, pg_temp.aispend_focus_periods,
               pg_temp.aispend_focus_days, pg_temp.aispend_focus_replaced;
END
$$;
COMMENT ON FUNCTION aispend.import_focus(name, text, text, text[]) IS
    'Imports a FOCUS 1.0-1.2 CSV export (its text: in psql \set focus `zcat export.csv.gz`) into a provider ''focus'' '
    'account, atomically: its AI rows (ServiceName / x_ServiceCode ILIKE one of ai_services, default '
    'aispend.focus_ai_services()) replace the account''s charges of each (BillingAccountId, BillingPeriodStart) in '
    'the file; model, token type and tokens read where the rules allow (aispend.parse_focus_sku), unparsed rows kept '
    'as (unparsed). cloud: aws, azure, gcp (NULL: from ProviderName). Returns one row per billing period: rows read, '
    'AI rows, unparsed and skipped (non-AI) rows, BilledCost and EffectiveCost of the AI rows, rows replaced, and '
    'the aispend.sync_runs id.';
REVOKE ALL ON FUNCTION aispend.import_focus(name, text, text, text[]) FROM PUBLIC;
