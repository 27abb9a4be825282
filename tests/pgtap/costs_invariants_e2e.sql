-- Cost-model invariants over the small synthetic organisation served by the mock providers (org "small",
-- seed 42): pg_prove --set mock_url=http://127.0.0.1:PORT
-- Autocommit like sync_e2e.sql (aispend.sync commits): plan(), CALLs, assertions, finish(), cleanup.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(9);

CREATE SERVER inv_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER inv_openai OPTIONS (admin_key 'sk-admin-test-openai');
CREATE SERVER inv_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER inv_anthropic OPTIONS (admin_key 'sk-ant-admin01-test');
CALL aispend.sync('inv_openai', '2026-09-01', '2026-10-01');
CALL aispend.sync('inv_anthropic', '2026-09-01', '2026-10-01');

CREATE TEMP TABLE facts AS
SELECT * FROM aispend.cost_facts_between('inv_openai', '2026-09-01', '2026-09-30')
UNION ALL
SELECT * FROM aispend.cost_facts_between('inv_anthropic', '2026-09-01', '2026-09-30');
CREATE TEMP TABLE bills AS
SELECT account, (bucket_start AT TIME ZONE 'UTC')::date AS day, workspace_id, sum(amount_usd) AS billed
FROM aispend.costs WHERE account IN ('inv_openai', 'inv_anthropic') GROUP BY 1, 2, 3;

-- Every (day, account, workspace) of the bill: the dashboard's costs add up to it exactly.
SELECT is((SELECT count(*)::int FROM bills), 180, 'the bill has 180 (day, account, workspace) slices in September');
SELECT is_empty($$
    SELECT b.account, b.day, b.workspace_id, b.billed, f.cost
    FROM bills b
    LEFT JOIN (SELECT account, day, workspace_id, sum(cost) AS cost FROM facts GROUP BY 1, 2, 3) f
           USING (account, day, workspace_id)
    WHERE f.cost IS DISTINCT FROM b.billed $$,
    'for every day and workspace, the costs per key (billed + allocated) add up exactly to the billed total');
SELECT is_empty($$
    SELECT account, day, workspace_id, model FROM facts
    WHERE cost_basis = 'allocated' AND model IS NOT NULL
    GROUP BY 1, 2, 3, 4
    HAVING sum(allocated_cost) IS DISTINCT FROM (
        SELECT sum(c.amount_usd) FROM aispend.costs c
        WHERE c.account = facts.account AND (c.bucket_start AT TIME ZONE 'UTC')::date = facts.day
          AND c.workspace_id = facts.workspace_id AND c.model = facts.model AND c.api_key_id IS NULL) $$,
    'for every day, workspace and model, the per-key allocated shares add up exactly to that model''s bill');
SELECT is((SELECT sum(cost) FROM facts WHERE account = 'inv_openai'), 236.137272126241097131930,
          'OpenAI: the dashboard total equals the sum the mock served, to the last digit');
SELECT is((SELECT sum(cost) FROM facts WHERE account = 'inv_anthropic'), 820.827531360,
          'Anthropic: the dashboard total equals the sum the mock served (cents / 100), to the last digit');
SELECT is((SELECT count(*)::int FROM facts WHERE cost_basis = 'estimated'), 0,
          'September is settled: nothing is only estimated');

-- No usage is priced at $0 by accident: a row is priced (a positive estimate) or visibly unpriced (NULL).
SELECT is_empty($$
    SELECT * FROM aispend.usage_costed
    WHERE account IN ('inv_openai', 'inv_anthropic') AND total_tokens > 0 AND estimated_cost = 0 $$,
    'no usage row with tokens has an estimated cost of 0');
SELECT is_empty($$
    SELECT * FROM aispend.usage_costed
    WHERE account IN ('inv_openai', 'inv_anthropic') AND NOT priced AND estimated_cost IS NOT NULL $$,
    'every unpriced usage row has a NULL estimate, never a number');
SELECT is((SELECT count(*)::int FROM aispend.unpriced_models WHERE account IN ('inv_openai', 'inv_anthropic')),
          (SELECT count(DISTINCT (account, model))::int FROM aispend.usage_costed
            WHERE account IN ('inv_openai', 'inv_anthropic') AND NOT priced),
          'every unpriced model is listed in unpriced_models');

SELECT * FROM finish();

-- cleanup
DROP SERVER inv_openai CASCADE;
DROP SERVER inv_anthropic CASCADE;
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('inv_openai') \gset
SELECT count(*) >= 0 AS forgotten FROM aispend.forget_account('inv_anthropic') \gset
