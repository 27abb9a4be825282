-- Estimated cost per usage row with the shipped price catalogue: hand-computed figures (docs/costs.md).
-- No provider needed: rows are inserted by hand and rolled back.
BEGIN;
SELECT plan(22);
-- Every account is a server: the provider of its facts is the server's option (aispend.account_provider).
CREATE SERVER t_ant FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
CREATE SERVER t_oai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');

INSERT INTO aispend.workspaces (account, provider, workspace_id, status) VALUES
    ('t_ant', 'anthropic', 'wrk_a', 'active'), ('t_oai', 'openai', 'proj_1', 'active');

INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           service_tier, batch, context_window, inference_geo, uncached_input_tokens,
                           cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens,
                           requests, web_search_requests) VALUES
    -- Sonnet 4.5 ($3 in, $3.75 5m write, $6 1h write, $0.30 hit, $15 out):
    -- 1M x 3 + 2M x 0.30 + 0.1M x 3.75 + 0.05M x 6 + 0.3M x 15 = 3 + 0.6 + 0.375 + 0.3 + 4.5 = 8.775
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_cache', 'claude-sonnet-4-5-20250929', 'standard', false,
     '0-200k', NULL, 1000000, 2000000, 100000, 50000, 300000, NULL, 0),
    -- batch: (1M x 3 + 0.1M x 15) x 0.5 = 2.25
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_batch', 'claude-sonnet-4-5-20250929', 'batch', true,
     '0-200k', NULL, 1000000, 0, 0, 0, 100000, NULL, 0),
    -- long context (200k-1M): 1M x 6 + 1M x 0.60 + 0.1M x 22.5 = 8.85
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_long', 'claude-sonnet-4-5-20250929', 'standard', false,
     '200k-1M', NULL, 1000000, 1000000, 0, 0, 100000, NULL, 0),
    -- Haiku 4.5, inference_geo us: (1M x 1 + 1M x 5) x 1.1 = 6.6
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_geo', 'claude-haiku-4-5-20251001', 'standard', false,
     '0-200k', 'us', 1000000, 0, 0, 0, 1000000, NULL, 0),
    -- web search only: 7 x $10 / 1000 = 0.07
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_web', 'claude-haiku-4-5-20251001', 'standard', false,
     '0-200k', NULL, 0, 0, 0, 0, 0, NULL, 7),
    -- Sonnet 5.5 cache hit: $0.20 until 2026-10-06, $0.10 from 2026-10-07
    ('t_ant', 'messages', '2026-10-06', '1d', 'wrk_a', 'k_dated', 'claude-sonnet-5-5', 'standard', false,
     '0-200k', NULL, 0, 1000000, 0, 0, 0, NULL, 0),
    ('t_ant', 'messages', '2026-10-07', '1d', 'wrk_a', 'k_dated', 'claude-sonnet-5-5', 'standard', false,
     '0-200k', NULL, 0, 1000000, 0, 0, 0, NULL, 0),
    -- a model nobody priced
    ('t_ant', 'messages', '2026-09-10', '1d', 'wrk_a', 'k_new', 'claude-mystery-9', 'standard', false,
     '0-200k', NULL, 500, 0, 0, 0, 100, NULL, 0),
    ('t_ant', 'messages', '2026-09-11', '1d', 'wrk_a', 'k_new', 'claude-mystery-9', 'standard', false,
     '0-200k', NULL, 1500, 0, 0, 0, 900, NULL, 0);

INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           batch, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens,
                           requests) VALUES
    -- gpt-4o ($2.50 in, $1.25 cached, $10 out): 2.5 + 1.25 + 1 = 4.75
    ('t_oai', 'completions', '2026-09-10', '1d', 'proj_1', 'key_o1', 'gpt-4o-2024-08-06', false,
     1000000, 1000000, NULL, 100000, 10),
    -- gpt-4o-mini batch: (2M x 0.15 + 1M x 0.60) x 0.5 = 0.45
    ('t_oai', 'completions', '2026-09-10', '1d', 'proj_1', 'key_o2', 'gpt-4o-mini-2024-07-18', true,
     2000000, 0, NULL, 1000000, 4),
    -- OpenAI cache write without a catalogue price: 1.25 x input = 3.125 per 1M
    ('t_oai', 'completions', '2026-09-11', '1d', 'proj_1', 'key_o1', 'gpt-4o-2024-08-06', false,
     0, 0, 1000000, 0, 1);

CREATE TEMP VIEW est AS
SELECT account, day, api_key_id, estimated_cost, priced FROM aispend.usage_costed;

SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_cache'), 8.775,
          'cache read, 5m and 1h cache writes each at their own price');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_batch'), 2.25, 'Anthropic batch: 50% of input and output');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_long'), 8.85, 'long-context tier prices for 200k-1M rows');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_geo'), 6.6, 'inference_geo us: 1.1 x');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_web'), 0.07, 'web search: $10 per 1,000');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_dated' AND day = '2026-10-06'), 0.2,
          'Sonnet 5.5 cache read 0.20 the day before the cut');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'k_dated' AND day = '2026-10-07'), 0.1,
          'Sonnet 5.5 cache read 0.10 from 2026-10-07');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'key_o1' AND day = '2026-09-10'), 4.75,
          'OpenAI cached input at the cached price');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'key_o2'), 0.45, 'OpenAI batch: 50% of input and output');
SELECT is((SELECT estimated_cost FROM est WHERE api_key_id = 'key_o1' AND day = '2026-09-11'), 3.125,
          'OpenAI cache write defaults to 1.25 x input');

-- unpriced: flagged, listed with volumes, excluded, never $0
SELECT results_eq($$ SELECT count(*), bool_or(priced), count(estimated_cost) FROM est WHERE api_key_id = 'k_new' $$,
                  $$ VALUES (2::bigint, false, 0::bigint) $$, 'unpriced usage: priced false, estimated_cost NULL');
SELECT is((SELECT string_agg(ROW(provider, account, model, first_day, last_day, input_tokens, output_tokens,
                                  total_tokens)::text, ';') FROM aispend.unpriced_models),
          '(anthropic,t_ant,claude-mystery-9,2026-09-10,2026-09-11,2000,1000,3000)',
          'unpriced_models lists the model with its token volumes');
SELECT is_empty($$ SELECT 1 FROM aispend.usage_costed WHERE estimated_cost = 0 AND total_tokens > 0 $$,
                'no usage row with tokens is costed at $0');
SELECT is((SELECT estimated_total FROM aispend.reconciliation WHERE account = 't_ant' AND day = '2026-09-10'),
          8.775 + 2.25 + 8.85 + 6.6 + 0.07, 'estimated totals exclude unpriced usage');
SELECT is((SELECT unpriced_tokens FROM aispend.reconciliation WHERE account = 't_ant' AND day = '2026-09-10'),
          600::bigint, 'reconciliation shows the unpriced volume');

-- which price row: most specific rule, documented tie-break
SELECT is((SELECT match_kind || ' ' || pattern FROM aispend.price_for('anthropic', 'claude-opus-4-20250514', '2026-09-01')),
          'exact claude-opus-4-20250514', 'exact beats prefix');
SELECT is((SELECT pattern FROM aispend.price_for('anthropic', 'claude-sonnet-5-5-20261001', '2026-10-08')),
          'claude-sonnet-5-5', 'the longest prefix wins (claude-sonnet-5-5 over claude-sonnet-5)');
SELECT is_empty($$ SELECT 1 FROM aispend.price_for('openai', 'gpt-4o-audio-preview-2024-12-17', '2026-09-01') $$,
                'shipped OpenAI rules do not price an unknown sibling model');
INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, output_per_mtok, origin, source)
VALUES ('openai', 'prefix', 'gpt-4o-2024', 1, 1, 'manual', 'manual');
SELECT is((SELECT origin FROM aispend.price_for('openai', 'gpt-4o-2024-08-06', '2026-09-10')), 'manual',
          'a manual row wins over shipped and imported rows');

-- tokens and requests in the fact view
SELECT results_eq($$ SELECT input_tokens, output_tokens, total_tokens, requests FROM aispend.cost_facts
                     WHERE account = 't_ant' AND api_key_id = 'k_cache' $$,
                  $$ VALUES (3150000::bigint, 300000::bigint, 3450000::bigint, NULL::bigint) $$,
                  'total tokens = all input incl. cache reads and writes + output; Anthropic requests NULL');
SELECT is((SELECT requests FROM aispend.cost_facts WHERE account = 't_oai' AND api_key_id = 'key_o2'), 4::bigint,
          'OpenAI requests kept');
SELECT is((SELECT string_agg(DISTINCT cost_basis, ',') FROM aispend.cost_facts WHERE account IN ('t_ant', 't_oai')),
          'estimated', 'no bill: every row is estimated');

SELECT * FROM finish();
ROLLBACK;
