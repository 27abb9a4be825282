-- 68_billed_elsewhere.sql: spend one source reports on behalf of another, shown where it was billed and never
-- added twice. OpenRouter's BYOK inference ("byok_usage_inference") is billed by the user's own provider key: it
-- is on that provider's bill, and in aispend's figures of that provider's account when it is synced. The cost
-- facts leave it out (47_cost_facts.sql); this lists it, with who billed it and where aispend counts it.

CREATE FUNCTION aispend.billed_elsewhere(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all')
RETURNS TABLE (day date, account name, provider text, workspace text, model text, amount_usd numeric,
               billed_by text, counted_in text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (c.bucket_start AT TIME ZONE 'UTC')::date AS day, c.account, ap.provider,
           coalesce(w.name, c.workspace_id) AS workspace, c.model, sum(c.amount_usd) AS amount_usd,
           pg_catalog.split_part(c.line_item, ' | ', 2) AS billed_by,
           (SELECT pg_catalog.string_agg(o.account, ', ' ORDER BY o.account) FROM aispend._account_providers() o
             WHERE o.provider = pg_catalog.lower(pg_catalog.split_part(c.line_item, ' | ', 2))) AS counted_in
    FROM aispend.costs c
    JOIN aispend._account_providers() ap ON ap.account = c.account
    LEFT JOIN aispend.workspaces w ON w.account = c.account AND w.workspace_id = c.workspace_id
    WHERE c.cost_type = 'byok_inference'
      AND c.bucket_start >= aispend._utc_day_start(pg_catalog.lower(aispend._check_period(billed_elsewhere.period)))
      AND c.bucket_start < aispend._utc_day_start(pg_catalog.upper(billed_elsewhere.period))
      AND aispend._provider_matches(ap.provider, billed_elsewhere.provider)
    GROUP BY 1, 2, 3, 4, 5, 7, 8
    ORDER BY 1, 2, 4, 5;
END;
COMMENT ON FUNCTION aispend.billed_elsewhere(daterange, text) IS
    'Spend a source reported that another bills (OpenRouter BYOK inference, billed by your own provider key): '
    'per UTC day, account, workspace and model, with the provider that billed it and the aispend accounts of that '
    'provider, where it is counted (NULL: not synced here). Never part of any total: no dollar is added twice.';
