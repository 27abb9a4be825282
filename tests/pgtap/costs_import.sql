-- Import of the real genai-prices v2 feed (psql variable prices_path, the path of
-- ../shared/data/genai-prices/data.json); skipped with a visible reason when the file is not there.
\if :{?prices_path}
\else
\set prices_path ../shared/data/genai-prices/data.json
\endif
BEGIN;
SELECT plan(11);

-- Read by psql (the client), so the server's OS user needs no access to the file.
\set have_feed `test -r :'prices_path' && echo true || echo false`
\if :have_feed
\set feed `cat :'prices_path'`
CREATE TEMP TABLE first_import AS
SELECT * FROM aispend.import_prices(:'feed'::jsonb, '2026-08-21');

SELECT is((SELECT string_agg(provider, ',' ORDER BY provider) FROM first_import), 'anthropic,openai',
          'only openai and anthropic are loaded');
SELECT is((SELECT ROW(input_per_mtok, cache_read_per_mtok, output_per_mtok, source)::text
           FROM aispend.price_for('openai', 'gpt-4o-mini-2024-07-18', '2026-09-01')),
          '(0.15,0.075,0.6,https://developers.openai.com/api/docs/pricing)', 'gpt-4o-mini from the feed');
SELECT is((SELECT ROW(input_per_mtok, cache_write_5m_per_mtok, cache_write_1h_per_mtok, cache_read_per_mtok,
                      output_per_mtok, web_search_per_k, origin)::text
           FROM aispend.price_for('anthropic', 'claude-3-5-haiku-20241022', '2026-09-01')),
          '(0.8,1,1.6,0.08,4,10,import)', 'Claude Haiku 3.5 from the feed (all cache prices, web search)');
SELECT is((SELECT input_per_mtok FROM aispend.price_for('openai', 'o3-2025-04-16', '2025-06-09')), 10::numeric,
          'o3 before its 2025-06-10 price cut');
SELECT is((SELECT input_per_mtok FROM aispend.price_for('openai', 'o3-2025-04-16', '2025-06-10')), 2::numeric,
          'o3 from 2025-06-10');
SELECT is((SELECT ROW(input_per_mtok, output_per_mtok)::text
           FROM aispend.price_for('anthropic', 'claude-sonnet-5-20260801', '2026-08-31')), '(2,10)',
          'Sonnet 5 introductory price through 2026-08-31');
SELECT is((SELECT ROW(input_per_mtok, output_per_mtok)::text
           FROM aispend.price_for('anthropic', 'claude-sonnet-5-20260801', '2026-09-01')), '(3,15)',
          'Sonnet 5 standard price from 2026-09-01');
SELECT is((SELECT ROW(min_input_tokens, input_per_mtok, output_per_mtok)::text
           FROM aispend.price_for('anthropic', 'claude-sonnet-4-6', '2026-03-12', true)), '(200000,6,22.5)',
          'tiered prices: the long-context tier row until 2026-03-13');
SELECT is((SELECT ROW(min_input_tokens, input_per_mtok)::text
           FROM aispend.price_for('anthropic', 'claude-sonnet-4-6', '2026-03-13', true)), '(0,3)',
          'flat pricing from 2026-03-13');

-- a manual override survives a re-import
INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, cache_read_per_mtok,
                                  output_per_mtok, origin, source, checked_on)
VALUES ('openai', 'exact', 'gpt-4o-2024-08-06', 2.00, 1.00, 8.00, 'manual', 'negotiated rate', '2026-09-01');
CREATE TEMP TABLE second_import AS
SELECT * FROM aispend.import_prices(:'feed'::jsonb, '2026-08-21');
SELECT is((SELECT ROW(origin, input_per_mtok, source)::text
           FROM aispend.price_for('openai', 'gpt-4o-2024-08-06', '2026-09-01')),
          '(manual,2.00,"negotiated rate")', 'the manual row survives a re-import and wins');
SELECT is((SELECT string_agg(ROW(s.provider, s.replaced_rows = f.price_rows, s.price_rows = f.price_rows)::text, ';'
                             ORDER BY s.provider)
           FROM second_import s JOIN first_import f USING (provider)),
          '(anthropic,t,t);(openai,t,t)', 're-import replaces exactly the imported rows');
\else
SELECT skip('genai-prices feed not found at ' || :'prices_path' || ': import tests skipped', 11);
\endif

SELECT * FROM finish();
ROLLBACK;
