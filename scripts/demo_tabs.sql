-- What the demo prints after its sync: the state of each account, then the dashboard tabs.
\pset footer off
\echo
\echo 'Freshness'
SELECT * FROM aispend.freshness ORDER BY 1, 2;
\echo
\echo 'Billed spend by account, last 30 days (UTC)'
SELECT account, round(sum(amount_usd), 2) AS billed_usd, count(DISTINCT workspace_id) AS workspaces
  FROM aispend.costs
 WHERE bucket_start >= date_trunc('day', now(), 'UTC') - interval '30 days'
 GROUP BY account ORDER BY account;
