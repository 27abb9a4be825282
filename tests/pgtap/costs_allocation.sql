-- Billed, allocated and estimated costs in aispend.cost_facts, exact to the last digit (docs/costs.md).
-- Rounding rule: each key's share is round(B * w / W, 12); the key with the largest weight (ties: smallest
-- api_key_id) takes B minus the other shares, so the shares add up to B exactly.
BEGIN;
SELECT plan(17);
-- Every account is a server: the provider of its facts is the server's option (aispend.account_provider).
CREATE SERVER t_ant FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
CREATE SERVER t_oai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');

INSERT INTO aispend.workspaces (account, provider, workspace_id, status) VALUES
    ('t_ant', 'anthropic', 'wrk_a', 'active'), ('t_ant', 'anthropic', '(default)', 'active'),
    ('t_oai', 'openai', 'proj_1', 'active');

INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           service_tier, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
                           cache_write_1h_tokens, output_tokens, web_search_requests) VALUES
    -- Sonnet 4.5: estimates 8.775 (k1) and 2.25 (k2, batch)
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k1', 'claude-sonnet-4-5-20250929', 'standard',
     1000000, 2000000, 100000, 50000, 300000, 3),
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k2', 'claude-sonnet-4-5-20250929', 'batch',
     1000000, 0, 0, 0, 100000, 0),
    -- unpriced model: shared by tokens (600 : 300)
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k1', 'claude-mystery-9', 'standard', 500, 0, 0, 0, 100, 0),
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k2', 'claude-mystery-9', 'standard', 200, 0, 0, 0, 100, 0),
    -- three equal keys share 0.10
    ('t_ant', 'messages', '2026-09-10', '1d', '(default)', 'ka', 'claude-haiku-4-5-20251001', 'standard',
     1000, 0, 0, 0, 0, 0),
    ('t_ant', 'messages', '2026-09-10', '1d', '(default)', 'kb', 'claude-haiku-4-5-20251001', 'standard',
     1000, 0, 0, 0, 0, 0),
    ('t_ant', 'messages', '2026-09-10', '1d', '(default)', 'kc', 'claude-haiku-4-5-20251001', 'standard',
     1000, 0, 0, 0, 0, 0),
    -- today: no bill yet
    ('t_ant', 'messages', date_trunc('day', now(), 'UTC'), '1d', 'wrk_a', 'k1', 'claude-haiku-4-5-20251001',
     'standard', 1000000, 0, 0, 0, 0, 0);

INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                           cost_type, amount_usd, currency) VALUES
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Claude Sonnet 4.5 Usage - Input Tokens', 'claude-sonnet-4-5-20250929',
     'uncached_input_tokens', 'tokens', 4.5, 'USD'),
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Claude Sonnet 4.5 Usage - Output Tokens', 'claude-sonnet-4-5-20250929',
     'output_tokens', 'tokens', 5.25, 'USD'),
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Claude Mystery 9 Usage - Input Tokens', 'claude-mystery-9',
     'uncached_input_tokens', 'tokens', 0.01, 'USD'),
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Web Search Usage', NULL, NULL, 'web_search', 0.03, 'USD'),
    -- Anthropic cents with fractional cents: "123.78912" cents = 1.2378912 USD
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Code Execution Usage', NULL, NULL, 'code_execution',
     '123.78912'::numeric / 100, 'USD'),
    -- a billed model without usage behind it
    ('t_ant', '2026-09-10', 'wrk_a', NULL, 'Claude Opus 4.5 Usage - Input Tokens', 'claude-opus-4-5-20251101',
     'uncached_input_tokens', 'tokens', 2.00, 'USD'),
    ('t_ant', '2026-09-10', '(default)', NULL, 'Claude Haiku 4.5 Usage - Input Tokens', 'claude-haiku-4-5-20251001',
     'uncached_input_tokens', 'tokens', 0.10, 'USD'),
    -- OpenAI newer costs API: billed per key, float-noise dollars kept as sent
    ('t_oai', '2026-09-10', 'proj_1', 'key_o1', 'gpt-4o-2024-08-06, input', 'gpt-4o-2024-08-06', 'input', NULL,
     0.00032195744715549047, 'USD'),
    ('t_oai', '2026-09-10', 'proj_1', NULL, 'assistants api | file search', NULL, NULL, 'assistants api',
     0.35, 'USD');

INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           batch, uncached_input_tokens, output_tokens, requests) VALUES
    ('t_oai', 'completions', '2026-09-10', '1d', 'proj_1', 'key_o1', 'gpt-4o-2024-08-06', false, 128, 0, 1);

CREATE TEMP VIEW f AS SELECT * FROM aispend.cost_facts_between('t_ant', '2026-09-01', '2026-09-30')
                      UNION ALL SELECT * FROM aispend.cost_facts_between('t_oai', '2026-09-01', '2026-09-30');

SELECT is((SELECT ROW(allocated_cost, cost, cost_basis)::text FROM f
           WHERE api_key_id = 'k1' AND model = 'claude-sonnet-4-5-20250929'),
          '(7.760204081633,7.760204081633,allocated)', 'largest share: B minus the other shares');
SELECT is((SELECT ROW(allocated_cost, cost, estimated_cost)::text FROM f
           WHERE api_key_id = 'k2' AND model = 'claude-sonnet-4-5-20250929'),
          '(1.989795918367,1.989795918367,2.25)', 'share = round(9.75 x 2.25 / 11.025, 12)');
SELECT is((SELECT string_agg(ROW(api_key_id, allocated_cost, unpriced)::text, ';' ORDER BY api_key_id) FROM f
           WHERE model = 'claude-mystery-9'),
          '(k1,0.006666666667,t);(k2,0.003333333333,t)', 'unpriced model: bill shared by tokens, rows flagged');
SELECT is((SELECT string_agg(ROW(api_key_id, allocated_cost)::text, ';' ORDER BY api_key_id) FROM f
           WHERE workspace_id = '(default)'),
          '(ka,0.033333333334);(kb,0.033333333333);(kc,0.033333333333)',
          'equal weights: the remainder goes to the smallest api_key_id');
SELECT is((SELECT ROW(api_key_id, model, billed_cost, cost, cost_basis)::text FROM f
           WHERE line_item = 'Web Search Usage'),
          '("(unattributed)",,0.03,0.03,billed)', 'web search line stays visible as its own row');
SELECT is((SELECT cost FROM f WHERE line_item = 'Code Execution Usage'), 1.2378912,
          'Anthropic fractional cents: 123.78912 cents = 1.2378912 USD');
SELECT is((SELECT ROW(api_key_id, billed_cost, cost_basis, input_tokens)::text FROM f
           WHERE model = 'claude-opus-4-5-20251101'),
          '("(unattributed)",2.00,billed,)', 'billed model without usage: an unattributed row, not spread');

-- the invariant: on a settled day, sum(cost) of a workspace = its bill, exactly
SELECT is_empty($$
    SELECT b.account, b.day, b.workspace_id
    FROM (SELECT account, (bucket_start AT TIME ZONE 'UTC')::date AS day, workspace_id, sum(amount_usd) AS billed
          FROM aispend.costs WHERE account IN ('t_ant', 't_oai') GROUP BY 1, 2, 3) b
    LEFT JOIN (SELECT account, day, workspace_id, sum(cost) AS cost FROM f WHERE settled GROUP BY 1, 2, 3) c
           USING (account, day, workspace_id)
    WHERE c.cost IS DISTINCT FROM b.billed $$, 'sum(cost) per day and workspace = billed total exactly');
SELECT is((SELECT sum(cost) FROM f WHERE account = 't_ant' AND day = '2026-09-10'),
          4.5 + 5.25 + 0.01 + 0.03 + 1.2378912 + 2.00 + 0.10, 'account-day total = the bill');

-- OpenAI billed at key grain, float noise kept
SELECT is((SELECT ROW(billed_cost, cost, cost_basis, requests)::text FROM f WHERE api_key_id = 'key_o1'),
          '(0.00032195744715549047,0.00032195744715549047,billed,1)', 'OpenAI per-key bill: basis billed, exact digits');
SELECT is((SELECT ROW(api_key_id, billed_cost, cost_basis)::text FROM f WHERE line_item = 'assistants api | file search'),
          '("(unattributed)",0.35,billed)', 'OpenAI file search line stays its own row');

-- usage not on a settled bill costs 0 (allocated) and the reconciliation shows the gap
SELECT is((SELECT ROW(estimated_cost, allocated_cost, cost, cost_basis)::text FROM f
           WHERE api_key_id = 'k1' AND model = 'claude-mystery-9'),
          '(,0.006666666667,0.006666666667,allocated)', 'unpriced: no estimate, never $0 estimated');
SELECT is((SELECT ROW(billed_total, estimated_total, difference, difference_pct)::text FROM aispend.reconciliation
           WHERE account = 't_ant' AND workspace_id = '(default)' AND day = '2026-09-10'),
          '(0.10,0.003,-0.097,-97.0000)', 'reconciliation: billed, estimated, difference, percentage');

-- today: no settled bill, estimated
SELECT is((SELECT ROW(cost, cost_basis, settled)::text FROM aispend.cost_facts_between('t_ant', current_date - 1, current_date + 1)
           WHERE api_key_id = 'k1'),
          '(1,estimated,f)', 'today has no bill: cost = estimate');

-- the view agrees with the function and filters by account
SELECT is((SELECT count(*) FROM aispend.cost_facts WHERE account = 't_ant' AND day = '2026-09-10'),
          (SELECT count(*) FROM f WHERE account = 't_ant'), 'cost_facts view = cost_facts_between');
SELECT is((SELECT count(*) FROM aispend.cost_facts WHERE account = 't_ant' AND cost_basis NOT IN ('billed', 'allocated', 'estimated')),
          0::bigint, 'cost_basis is one of billed, allocated, estimated');
SELECT ok((SELECT provolatile = 's' FROM pg_proc WHERE oid = 'aispend.cost_facts_between(name,date,date)'::regprocedure)
          AND (SELECT provolatile = 'v' FROM pg_proc WHERE oid = 'aispend.import_prices(jsonb,date)'::regprocedure),
          'read-only functions STABLE, import VOLATILE');

SELECT * FROM finish();
ROLLBACK;
