-- 71_focus_export.sql: every cost of the dashboard as FOCUS 1.2 rows (docs/focus.md, "Export").
--
-- One row per UTC day, account, workspace, API key and model of aispend.daily_rollup (what every tab sums), so
-- that sum("BilledCost") over a period is the dashboard's total for it. The 57 FOCUS 1.2 columns in the
-- specification's order with its types (Decimal numeric, Date/Time timestamptz, JSON jsonb), the columns the
-- specification does not allow to be NULL never NULL, then aispend's own columns prefixed x_.

-- The display name of a provider for ProviderName / PublisherName / InvoiceIssuerName; a FOCUS account says which
-- cloud its imported charges came from.
CREATE FUNCTION aispend._focus_provider_name(account name, provider text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- PL/pgSQL: on Citus a query of an SQL function's parameter reaches a distributed table only through it
    RETURN CASE provider WHEN 'openai' THEN 'OpenAI' WHEN 'anthropic' THEN 'Anthropic' WHEN 'openrouter' THEN 'OpenRouter'
                         WHEN 'focus' THEN coalesce(
                             (SELECT pg_catalog.string_agg(DISTINCT CASE c.cloud WHEN 'aws' THEN 'Amazon Web Services'
                                                                                 WHEN 'azure' THEN 'Microsoft'
                                                                                 WHEN 'gcp' THEN 'Google Cloud'
                                                                                 ELSE 'Other' END, ', ')
                                FROM aispend.focus_charges c WHERE c.account = _focus_provider_name.account),
                             'Imported FOCUS billing')
                         ELSE coalesce(provider, 'Unknown') END;
END
$$;
COMMENT ON FUNCTION aispend._focus_provider_name(name, text) IS
    'Internal: ProviderName of an account''s FOCUS rows (OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds).';

CREATE FUNCTION aispend.focus(period daterange DEFAULT aispend.period('last_30_days'), provider text DEFAULT 'all')
RETURNS TABLE (
    "AvailabilityZone" text, "BilledCost" numeric, "BillingAccountId" text, "BillingAccountName" text,
    "BillingAccountType" text, "BillingCurrency" text, "BillingPeriodEnd" timestamptz, "BillingPeriodStart" timestamptz,
    "CapacityReservationId" text, "CapacityReservationStatus" text, "ChargeCategory" text, "ChargeClass" text,
    "ChargeDescription" text, "ChargeFrequency" text, "ChargePeriodEnd" timestamptz, "ChargePeriodStart" timestamptz,
    "CommitmentDiscountCategory" text, "CommitmentDiscountId" text, "CommitmentDiscountName" text,
    "CommitmentDiscountQuantity" numeric, "CommitmentDiscountStatus" text, "CommitmentDiscountType" text,
    "CommitmentDiscountUnit" text, "ConsumedQuantity" numeric, "ConsumedUnit" text, "ContractedCost" numeric,
    "ContractedUnitPrice" numeric, "EffectiveCost" numeric, "InvoiceId" text, "InvoiceIssuerName" text,
    "ListCost" numeric, "ListUnitPrice" numeric, "PricingCategory" text, "PricingCurrency" text,
    "PricingCurrencyContractedUnitPrice" numeric, "PricingCurrencyEffectiveCost" numeric,
    "PricingCurrencyListUnitPrice" numeric, "PricingQuantity" numeric, "PricingUnit" text, "ProviderName" text,
    "PublisherName" text, "RegionId" text, "RegionName" text, "ResourceId" text, "ResourceName" text,
    "ResourceType" text, "ServiceCategory" text, "ServiceName" text, "ServiceSubcategory" text, "SkuId" text,
    "SkuMeter" text, "SkuPriceDetails" jsonb, "SkuPriceId" text, "SubAccountId" text, "SubAccountName" text,
    "SubAccountType" text, "Tags" jsonb,
    "x_Account" text, "x_Provider" text, "x_WorkspaceId" text, "x_ApiKeyId" text, "x_Model" text,
    "x_CostBasis" text, "x_BilledCost" numeric, "x_AllocatedCost" numeric, "x_EstimatedCost" numeric,
    "x_InputTokens" bigint, "x_OutputTokens" bigint, "x_Requests" bigint, "x_Unpriced" boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
    providers text[];
    provider_names text[];
BEGIN
    -- the accounts of the provider filter and their FOCUS provider names first: on Citus a query of the shards
    -- cannot call a function that reads another table
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(focus.provider) a;
    provider_names := ARRAY(SELECT aispend._focus_provider_name(x.account, x.provider)
                            FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers))
                                 WITH ORDINALITY AS x(account, provider, n)
                            ORDER BY x.n);
    RETURN QUERY
    SELECT NULL::text,                                                            -- AvailabilityZone
           r.cost,                                                                -- BilledCost
           r.account::text, r.account::text, 'aispend account',                  -- BillingAccountId, Name, Type
           'USD',                                                                 -- BillingCurrency
           aispend._utc_day_start((pg_catalog.date_trunc('month', r.day::timestamp) + interval '1 month')::date),
           aispend._utc_day_start(pg_catalog.date_trunc('month', r.day::timestamp)::date),
           NULL::text, NULL::text,                                                -- CapacityReservation*
           'Usage', NULL::text,                                                   -- ChargeCategory, ChargeClass
           CASE WHEN r.model = aispend._no_model_label() THEN 'Tool and service fees'
                ELSE r.model END || ' on ' || pv.provider_name || ' (' || coalesce(r.cost_basis, 'billed') || ')',
           'Usage-Based',                                                         -- ChargeFrequency
           aispend._utc_day_start(r.day + 1), aispend._utc_day_start(r.day),      -- ChargePeriodEnd, Start
           NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::text, NULL::text, NULL::text,  -- Commitment*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- ConsumedQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- ConsumedUnit
           r.cost, NULL::numeric,                                                 -- ContractedCost, UnitPrice
           r.cost,                                                                -- EffectiveCost
           NULL::text, pv.provider_name,                                          -- InvoiceId, InvoiceIssuerName
           r.cost, NULL::numeric,                                                 -- ListCost, ListUnitPrice
           CASE WHEN r.total_tokens > 0 THEN 'Standard' END,                      -- PricingCategory
           NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,               -- PricingCurrency*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- PricingQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- PricingUnit
           pv.provider_name, pv.provider_name,                                    -- ProviderName, PublisherName
           NULL::text, NULL::text,                                                -- RegionId, RegionName
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN r.api_key_id END,            -- ResourceId
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN coalesce(k.name, r.api_key_id) END,
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN 'API Key' END,               -- ResourceType
           'AI and Machine Learning',                                             -- ServiceCategory
           pv.provider_name || ' models',                                         -- ServiceName
           'Generative AI',                                                       -- ServiceSubcategory
           NULL::text,                                                            -- SkuId
           CASE WHEN r.model <> aispend._no_model_label() THEN r.model END,       -- SkuMeter
           NULL::jsonb, NULL::text,                                               -- SkuPriceDetails, SkuPriceId
           r.workspace_id, coalesce(w.name, r.workspace_id), 'Workspace',         -- SubAccountId, Name, Type
           pg_catalog.jsonb_build_object('aispend_workspace', coalesce(w.name, r.workspace_id),
                                         'aispend_model', r.model),               -- Tags
           r.account::text, pv.provider, r.workspace_id, r.api_key_id, r.model, r.cost_basis, r.billed_cost,
           r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.requests, r.unpriced
    FROM aispend.daily_rollup r
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers), pg_catalog.unnest(provider_names))
         AS pv(account, provider, provider_name) ON pv.account = r.account
    LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
    LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
    WHERE r.day >= pg_catalog.lower(focus.period) AND r.day < pg_catalog.upper(focus.period)
    ORDER BY r.day, r.account, r.workspace_id, r.api_key_id, r.model;
END
$$;
COMMENT ON FUNCTION aispend.focus(daterange, text) IS
    'Every cost of the dashboard in a period (default: the last 30 days) as FOCUS 1.2 rows: one per UTC day, '
    'account, workspace (SubAccount), API key (Resource) and model (SkuMeter), BilledCost = EffectiveCost = '
    'ListCost = ContractedCost = the dashboard''s cost (so its sum is the dashboard''s total), billing periods are '
    'UTC calendar months; aispend''s own figures in the x_ columns. provider: all, openai, anthropic, openrouter, '
    'other. \copy (SELECT * FROM aispend.focus(...)) TO ''focus.csv'' WITH (FORMAT csv, HEADER) writes a FOCUS CSV.';

CREATE VIEW aispend.focus_30d AS SELECT * FROM aispend.focus(aispend.period('last_30_days'));
COMMENT ON VIEW aispend.focus_30d IS 'aispend.focus() for the last 30 days (today UTC included): FOCUS 1.2 rows of every cost.';
COMMENT ON COLUMN aispend.focus_30d."AvailabilityZone" IS 'FOCUS: NULL (providers report none).';
COMMENT ON COLUMN aispend.focus_30d."BilledCost" IS 'FOCUS: the dashboard''s cost of the row, US dollars, exact (billed, allocated or estimated: x_CostBasis).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountId" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountName" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountType" IS 'FOCUS: ''aispend account''.';
COMMENT ON COLUMN aispend.focus_30d."BillingCurrency" IS 'FOCUS: USD.';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodEnd" IS 'FOCUS: first instant of the next UTC calendar month (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodStart" IS 'FOCUS: first instant of the row''s UTC calendar month.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ChargeCategory" IS 'FOCUS: Usage.';
COMMENT ON COLUMN aispend.focus_30d."ChargeClass" IS 'FOCUS: NULL (no corrections).';
COMMENT ON COLUMN aispend.focus_30d."ChargeDescription" IS 'FOCUS: model on provider (cost basis).';
COMMENT ON COLUMN aispend.focus_30d."ChargeFrequency" IS 'FOCUS: Usage-Based.';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodEnd" IS 'FOCUS: midnight UTC ending the day (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodStart" IS 'FOCUS: midnight UTC starting the day.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountCategory" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountQuantity" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountType" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountUnit" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedQuantity" IS 'FOCUS: tokens (input + output); NULL when none.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedUnit" IS 'FOCUS: Tokens; NULL when no tokens.';
COMMENT ON COLUMN aispend.focus_30d."ContractedCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."EffectiveCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceIssuerName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."ListCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCategory" IS 'FOCUS: Standard where tokens are priced; else NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrency" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyEffectiveCost" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingQuantity" IS 'FOCUS: = ConsumedQuantity.';
COMMENT ON COLUMN aispend.focus_30d."PricingUnit" IS 'FOCUS: = ConsumedUnit.';
COMMENT ON COLUMN aispend.focus_30d."ProviderName" IS 'FOCUS: OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds (Amazon Web Services, Microsoft, Google Cloud).';
COMMENT ON COLUMN aispend.focus_30d."PublisherName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."RegionId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."RegionName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ResourceId" IS 'FOCUS: the API key id; NULL for sentinels ((none), (console), (unattributed), ...).';
COMMENT ON COLUMN aispend.focus_30d."ResourceName" IS 'FOCUS: the API key name.';
COMMENT ON COLUMN aispend.focus_30d."ResourceType" IS 'FOCUS: API Key, when ResourceId is set.';
COMMENT ON COLUMN aispend.focus_30d."ServiceCategory" IS 'FOCUS: AI and Machine Learning.';
COMMENT ON COLUMN aispend.focus_30d."ServiceName" IS 'FOCUS: ''<provider> models''.';
COMMENT ON COLUMN aispend.focus_30d."ServiceSubcategory" IS 'FOCUS: Generative AI.';
COMMENT ON COLUMN aispend.focus_30d."SkuId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuMeter" IS 'FOCUS: the model; NULL for tool and service fees.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceDetails" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountId" IS 'FOCUS: the workspace id.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountName" IS 'FOCUS: the workspace name shown on the dashboard.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountType" IS 'FOCUS: Workspace.';
COMMENT ON COLUMN aispend.focus_30d."Tags" IS 'FOCUS: JSON object with aispend_workspace and aispend_model.';
COMMENT ON COLUMN aispend.focus_30d."x_Account" IS 'aispend: the account.';
COMMENT ON COLUMN aispend.focus_30d."x_Provider" IS 'aispend: the account''s provider (openai, anthropic, openrouter, focus).';
COMMENT ON COLUMN aispend.focus_30d."x_WorkspaceId" IS 'aispend: workspace id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_ApiKeyId" IS 'aispend: API key id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_Model" IS 'aispend: model as on the dashboard ((no model: tool & service fees) included).';
COMMENT ON COLUMN aispend.focus_30d."x_CostBasis" IS 'aispend: billed, allocated, estimated or mixed.';
COMMENT ON COLUMN aispend.focus_30d."x_BilledCost" IS 'aispend: cost billed at this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_AllocatedCost" IS 'aispend: billed cost allocated to this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_EstimatedCost" IS 'aispend: cost estimated from prices.';
COMMENT ON COLUMN aispend.focus_30d."x_InputTokens" IS 'aispend: input tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_OutputTokens" IS 'aispend: output tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_Requests" IS 'aispend: requests (NULL where not reported).';
COMMENT ON COLUMN aispend.focus_30d."x_Unpriced" IS 'aispend: some usage has no price.';
