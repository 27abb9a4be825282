-- 48_reconciliation.sql: where estimates and the bill disagree, and by how much (docs/costs.md).

CREATE VIEW aispend.reconciliation WITH (security_invoker = true) AS
WITH b AS (
    SELECT c.account, (c.bucket_start AT TIME ZONE 'UTC')::date AS day, c.workspace_id,
           sum(c.amount_usd) AS billed, count(*) AS lines
    FROM aispend.costs c
    GROUP BY 1, 2, 3
), e AS (
    SELECT uc.account, uc.day, uc.workspace_id, sum(uc.estimated_cost) AS est,
           count(*) FILTER (WHERE NOT uc.priced) AS unpriced_rows,
           sum(uc.total_tokens) FILTER (WHERE NOT uc.priced) AS unpriced_tokens
    FROM aispend.usage_costed uc
    GROUP BY 1, 2, 3
)
SELECT day, account, aispend.account_provider(account) AS provider, workspace_id,
       b.billed AS billed_total, coalesce(b.lines, 0) AS billed_lines,
       e.est AS estimated_total,
       e.est - b.billed AS difference,
       pg_catalog.round(100 * (e.est - b.billed) / NULLIF(b.billed, 0), 4) AS difference_pct,
       coalesce(e.unpriced_rows, 0) AS unpriced_rows,
       coalesce(e.unpriced_tokens, 0)::bigint AS unpriced_tokens
FROM b FULL JOIN e USING (account, day, workspace_id);
COMMENT ON VIEW aispend.reconciliation IS
    'Per UTC day, account and workspace: the billed total, the estimated total (priced usage only), their '
    'difference (estimated - billed) and percentage of the bill, and how much usage is unpriced.';
COMMENT ON COLUMN aispend.reconciliation.billed_total IS 'Sum of the billed lines (USD); NULL when nothing is billed (yet).';
COMMENT ON COLUMN aispend.reconciliation.billed_lines IS 'Billed lines behind billed_total.';
COMMENT ON COLUMN aispend.reconciliation.estimated_total IS 'Sum of aispend.usage_costed.estimated_cost (priced rows only); NULL when no usage is priced.';
COMMENT ON COLUMN aispend.reconciliation.difference IS 'estimated_total - billed_total (USD).';
COMMENT ON COLUMN aispend.reconciliation.difference_pct IS '100 x difference / billed_total, 4 decimals; NULL when nothing is billed.';
COMMENT ON COLUMN aispend.reconciliation.unpriced_rows IS 'Usage rows without a price (not in estimated_total).';
COMMENT ON COLUMN aispend.reconciliation.unpriced_tokens IS 'Total tokens of those rows.';
