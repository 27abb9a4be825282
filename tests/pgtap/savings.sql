-- The savings advisor (issue 17) on hand-loaded usage with hand-computed figures: every token kind re-priced
-- (cache reads, 5-minute and 1-hour cache writes, output), batch, a dated price change inside the period
-- (Claude Sonnet 5.5's cache hit 0.20 -> 0.10 on 2026-10-07), a target without an output price, and the shipped
-- defaults named as assumptions. Rolled back.
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;
CREATE SERVER sv_an FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
INSERT INTO aispend.api_keys (account, provider, api_key_id, name, status, workspace_id) VALUES
    ('sv_an', 'anthropic', 'k1', 'writer', 'active', 'w1'), ('sv_an', 'anthropic', 'k2', 'reader', 'active', 'w1');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status) VALUES
    ('sv_an', 'anthropic', 'w1', 'Docs', 'active');
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier,
                           batch, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
                           cache_write_1h_tokens, output_tokens) VALUES
    ('sv_an', 'messages', '2026-09-02 00:00+00', '1d', 'w1', 'k1', 'claude-sonnet-4-5', 'standard', false,
     1000000, 2000000, 400000, 100000, 500000),
    ('sv_an', 'messages', '2026-09-03 00:00+00', '1d', 'w1', 'k1', 'claude-sonnet-4-5', 'batch', true,
     1000000, 0, 0, 0, 1000000),
    ('sv_an', 'messages', '2026-10-06 00:00+00', '1d', 'w1', 'k2', 'claude-haiku-4-5', 'standard', false, 0, 1000000, 0, 0, 0),
    ('sv_an', 'messages', '2026-10-07 00:00+00', '1d', 'w1', 'k2', 'claude-haiku-4-5', 'standard', false, 0, 1000000, 0, 0, 0);
CREATE TEMP TABLE p AS SELECT aispend.custom_period('2026-09-01', '2026-10-31') AS period;

-- Sonnet 4.5 (3 in, 3.75 5m write, 6 1h write, 0.30 hit, 15 out): 3 + 0.60 + 1.50 + 0.60 + 7.50 = 13.20 on 09-02,
-- batch 0.5 x (3 + 15) = 9.00 on 09-03. Haiku 4.5 (1, 1.25, 2, 0.10, 5): 1 + 0.20 + 0.50 + 0.20 + 2.50 = 4.40 and
-- 0.5 x (1 + 5) = 3.00.
SELECT results_eq($$ SELECT list_cost, repriced_cost, saving, saving_pct, missing_prices, unpriced_list
                     FROM aispend.reprice('claude-haiku-4-5', (SELECT period FROM p), api_key => 'writer') $$,
    $$ VALUES (22.20, 7.40, 14.80, 66.7, '{}'::text[], false) $$,
    'every token kind and batch re-priced: 22.20 at Sonnet 4.5, 7.40 at Haiku 4.5');
SELECT results_eq($$ SELECT list_cost, repriced_cost, saving FROM aispend.reprice('claude-sonnet-4-5', (SELECT period FROM p),
                                                                                  api_key => 'writer') $$,
    $$ VALUES (22.20, 22.20, 0.00) $$, 'at its own model the re-pricing is the list cost');
SELECT is((SELECT list_cost FROM aispend.reprice('claude-haiku-4-5', (SELECT period FROM p), api_key => 'writer')),
          (SELECT round(sum(estimated_cost), 2) FROM aispend.usage_costed WHERE account = 'sv_an' AND api_key_id = 'k1'),
          'the list cost is aispend''s estimate of the same usage');
-- Sonnet 5.5: cache hit 0.20 until 2026-10-06, 0.10 from 2026-10-07; Haiku 4.5: 0.10
SELECT results_eq($$ SELECT list_cost, repriced_cost, saving FROM aispend.reprice('claude-sonnet-5-5', (SELECT period FROM p),
                                                                                  api_key => 'reader') $$,
    $$ VALUES (0.20, 0.30, -0.10) $$, 'a price change inside the period applies day by day (0.20 then 0.10)');
-- GPT-4o (2.50 in, 1.25 hit, 10 out, no cache write price): 2.50 + 2.50 + 0.4 x 3.125 + 0.1 x 5 + 5 = 11.75,
-- batch 0.5 x (2.50 + 10) = 6.25
SELECT results_eq($$ SELECT target_provider, repriced_cost, missing_prices
                     FROM aispend.reprice('gpt-4o', (SELECT period FROM p), api_key => 'writer') $$,
    $$ VALUES ('openai', 18.00, ARRAY['cache write 1h (priced at 2 x input)', 'cache write 5m (priced at 1.25 x input)']) $$,
    'across providers: the defaults for prices the target lacks are named');
SELECT results_eq($$ SELECT repriced_cost, saving, missing_prices
                     FROM aispend.reprice('text-embedding-3-small', (SELECT period FROM p), api_key => 'writer') $$,
    $$ VALUES (NULL::numeric, NULL::numeric,
               ARRAY['cache read (priced as input)', 'cache write 1h (priced at 2 x input)',
                     'cache write 5m (priced at 1.25 x input)', 'output']) $$,
    'a target without an output price: no figure, and it says why');
SELECT results_eq($$ SELECT repriced_cost, missing_prices FROM aispend.reprice('no-such-model-7', (SELECT period FROM p),
                                                                             api_key => 'writer', target_provider => 'anthropic') $$,
    $$ VALUES (NULL::numeric, ARRAY['no price']) $$, 'a target without any price: no figure');

-- ---- suggestions: models of the same class the organisation uses, cheaper only
SELECT results_eq($$ SELECT api_key, model, class, alternative, list_cost, repriced_cost, saving, saving_pct, share_of_key_pct
                     FROM aispend.savings_opportunities((SELECT period FROM p)) WHERE account = 'sv_an' $$,
    $$ VALUES ('writer', 'claude-sonnet-4-5', 'chat', 'claude-haiku-4-5', 22.20, 7.40, 14.80, 66.7, 100.0) $$,
    'one opportunity: the writer key on Haiku 4.5 (the reader key is on the cheaper model already)');
SELECT ok((SELECT bool_and(note LIKE '%not a judgement of quality%') FROM aispend.savings_opportunities((SELECT period FROM p))),
    'every suggestion says what it is');

-- ---- caching: writer 4.5M input, 2M read from the cache, saved 2M x (3 - 0.30) = 5.40; at a 50% hit rate the
-- batch day's 1M input would move 0.5M to the cache: 0.5 x 0.5 x (3 - 0.30) = 0.675
SELECT results_eq($$ SELECT api_key, input_tokens, cache_read_tokens, cached_pct, caching_saved, saving_at_hit_rate, uncached_heavy
                     FROM aispend.cache_efficiency((SELECT period FROM p), hit_rate => 0.5) WHERE account = 'sv_an' $$,
    $$ VALUES ('writer', 4500000::bigint, 2000000::bigint, 44.4, 5.40, 0.68, false),
              ('reader', 2000000, 2000000, 100.0, 1.80, 0.00, false) $$,
    'cache efficiency: what caching saved and what a 50% hit rate would add');
UPDATE aispend.usage SET cache_read_tokens = 0, uncached_input_tokens = 3000000
 WHERE account = 'sv_an' AND api_key_id = 'k1' AND bucket_start = '2026-09-02 00:00+00';
SELECT results_eq($$ SELECT uncached_heavy FROM aispend.cache_efficiency((SELECT period FROM p)) WHERE account = 'sv_an' AND api_key = 'writer' $$,
    $$ VALUES (true) $$, 'a key sending much input without caching is flagged');
SELECT throws_ok($$ SELECT * FROM aispend.reprice('claude-haiku-4-5', 'empty'::daterange) $$, '22023', NULL,
    'an empty period is refused');
SELECT throws_ok($$ SELECT * FROM aispend.reprice('', (SELECT period FROM p)) $$, '22023',
    'aispend: reprice needs a target_model', 'a re-pricing without a target model is refused');
SELECT is((SELECT count(*)::integer FROM aispend.reprice('claude-haiku-4-5', 'last_30_days')), 1, 'reprice takes its period by name too');

SELECT * FROM finish();
ROLLBACK;
