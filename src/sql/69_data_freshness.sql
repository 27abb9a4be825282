-- 69_data_freshness.sql: how far each account's figures go, and how much of a period's cost is still an
-- estimate: what a finance user must know before trusting a total (the report shows both).

CREATE VIEW aispend.data_freshness WITH (security_invoker = true) AS
SELECT a.account, a.provider,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'usage') AS usage_day,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'costs') AS costs_day,
       aispend.settled_before(a.account) - 1 AS settled_day,
       (SELECT max(f.last_success_at) FROM aispend.freshness f WHERE f.account = a.account) AS last_sync,
       (SELECT f.last_status FROM aispend.freshness f WHERE f.account = a.account
         ORDER BY f.last_attempt_at DESC NULLS LAST LIMIT 1) AS status,
       (SELECT max(f.refresh_state) FROM aispend.freshness f WHERE f.account = a.account) AS refresh_state
FROM aispend._account_providers() a;
COMMENT ON VIEW aispend.data_freshness IS
    'Per account: the last complete UTC day of its usage and of its costs, the last day whose bill is settled '
    '(before it, costs are the bill; after it, estimates), the last successful sync and the latest status.';
COMMENT ON COLUMN aispend.data_freshness.account IS 'The account (aispend server).';
COMMENT ON COLUMN aispend.data_freshness.provider IS 'Its provider.';
COMMENT ON COLUMN aispend.data_freshness.usage_day IS 'Last UTC day whose usage was fetched after it ended (NULL: never synced).';
COMMENT ON COLUMN aispend.data_freshness.costs_day IS 'Last UTC day whose costs were fetched after it ended.';
COMMENT ON COLUMN aispend.data_freshness.settled_day IS 'Last settled UTC day (aispend.settled_before - 1): the figures up to it are billed.';
COMMENT ON COLUMN aispend.data_freshness.last_sync IS 'End of the last successful sync step.';
COMMENT ON COLUMN aispend.data_freshness.status IS 'Status of the latest sync attempt: succeeded, failed, aborted or running.';
COMMENT ON COLUMN aispend.data_freshness.refresh_state IS
    'running or queued: a background refresh of the account is under way (aispend.refresh_progress); else NULL.';

-- The cost of a period by basis: billed (the provider's bill at the grain), allocated (a bill shared out by
-- usage), estimated (list prices; the bill is not settled yet), mixed (a day and grain with several).
CREATE FUNCTION aispend.cost_basis_split(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all')
RETURNS TABLE (cost_basis text, cost numeric, pct_of_cost numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
BEGIN
    PERFORM aispend._check_period(cost_basis_split.period);
    accounts := (aispend._provider_accounts(cost_basis_split.provider)).accounts;
    RETURN QUERY
    WITH c AS (
        SELECT coalesce(r.cost_basis, 'billed') AS cost_basis, sum(r.cost) AS cost
        FROM aispend.daily_rollup r
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(cost_basis_split.period) AND r.day < pg_catalog.upper(cost_basis_split.period)
        GROUP BY 1)
    SELECT c.cost_basis, pg_catalog.round(c.cost, 2),
           pg_catalog.round(100 * c.cost / NULLIF(sum(c.cost) OVER (), 0), 2)
    FROM c
    ORDER BY c.cost DESC, c.cost_basis;
END
$$;
COMMENT ON FUNCTION aispend.cost_basis_split(daterange, text) IS
    'The cost of a period by basis: billed, allocated (a bill shared out among keys by usage), estimated (from '
    'list prices: the bill is not settled yet), mixed; cost to the cent and its share in percent. The '
    'estimated share says how much of a total may still move. Default order: cost DESC.';
