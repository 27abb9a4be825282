-- 42_price_seed.sql: list prices shipped with aispend (origin 'shipped'), from provider-apis.md 3.4 / 3.5.
-- USD per million tokens. Every row names its source and the date it was checked. Anthropic rules are prefixes
-- of the model id (the longest matching prefix wins: claude-sonnet-5-5 before claude-sonnet-5), as in the
-- genai-prices feed. OpenAI rules are anchored regular expressions "model id, optionally followed by a snapshot
-- date" so that an unknown sibling (gpt-4o-audio-preview, ...) is reported unpriced, not priced like its family.
-- Refresh: SELECT aispend.import_prices(feed); override: INSERT ... origin 'manual' (docs/costs.md).

-- Anthropic [S17] platform.claude.com pricing page (copies 2026-07..2026-10), Sonnet 5.5 cut from pricing.md
-- retrieved 2026-10-08. Batch 50% on input and output; inference_geo us 1.1 x; web search $10 / 1,000.
INSERT INTO aispend.model_prices
    (provider, match_kind, pattern, model_label, valid_from, valid_to, min_input_tokens, input_per_mtok,
     cache_write_5m_per_mtok, cache_write_1h_per_mtok, cache_read_per_mtok, output_per_mtok, web_search_per_k,
     batch_multiplier, geo_multipliers, origin, source, checked_on, note)
SELECT 'anthropic', coalesce(v.kind, 'prefix'), v.id, v.label, v.valid_from::date, v.valid_to::date,
       v.min_input, v.inp, v.w5m, v.w1h, v.hit, v.out, 10, 0.5, '{"us": 1.1}', 'shipped', v.src, '2026-10-08',
       v.note
FROM (VALUES
    ('claude-fable-5-1', 'Claude Fable 5.1', '-infinity', NULL, 0, 10, 12.50, 20, 0.25, 50,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-fable-5', 'Claude Fable 5', '-infinity', NULL, 0, 10, 12.50, 20, 1, 50,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-opus-5-5', 'Claude Opus 5.5', '-infinity', NULL, 0, 4, 5, 8, 0.20, 20,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'fast mode $8/$40 not modelled', NULL),
    ('claude-opus-5', 'Claude Opus 5', '-infinity', NULL, 0, 5, 6.25, 10, 0.50, 25,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'fast mode $10/$50 not modelled', NULL),
    ('claude-opus-4-8', 'Claude Opus 4.8', '-infinity', NULL, 0, 5, 6.25, 10, 0.50, 25,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-opus-4-7', 'Claude Opus 4.7', '-infinity', NULL, 0, 5, 6.25, 10, 0.50, 25,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-opus-4-6', 'Claude Opus 4.6', '-infinity', NULL, 0, 5, 6.25, 10, 0.50, 25,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-opus-4-6', 'Claude Opus 4.6, long context', '-infinity', '2026-03-13', 200000, 10, 12.50, 20, 1, 37.5,
     'https://github.com/pydantic/genai-prices (prices/new_data/v2/data.json, 2026-08-21)',
     'long-context rates until 2026-03-13 (flat afterwards); not on the primary page copy', NULL),
    ('claude-opus-4-5', 'Claude Opus 4.5', '-infinity', NULL, 0, 5, 6.25, 10, 0.50, 25,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-opus-4-1', 'Claude Opus 4.1', '-infinity', NULL, 0, 15, 18.75, 30, 1.50, 75,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'retired except Bedrock / Google Cloud', NULL),
    ('claude-opus-4-0', 'Claude Opus 4', '-infinity', NULL, 0, 15, 18.75, 30, 1.50, 75,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'retired except Bedrock / Google Cloud', NULL),
    ('claude-opus-4', 'Claude Opus 4', '-infinity', NULL, 0, 15, 18.75, 30, 1.50, 75,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'retired except Bedrock / Google Cloud', 'exact'),
    ('claude-opus-4-20250514', 'Claude Opus 4', '-infinity', NULL, 0, 15, 18.75, 30, 1.50, 75,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'retired except Bedrock / Google Cloud', 'exact'),
    ('claude-sonnet-5-5', 'Claude Sonnet 5.5', '-infinity', '2026-10-07', 0, 2, 2.50, 4, 0.20, 10,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'cache hit 0.20 until 2026-10-06', NULL),
    ('claude-sonnet-5-5', 'Claude Sonnet 5.5', '2026-10-07', NULL, 0, 2, 2.50, 4, 0.10, 10,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'cache hit cut to 0.10 effective 2026-10-07', NULL),
    ('claude-sonnet-5', 'Claude Sonnet 5', '-infinity', NULL, 0, 2, 2.50, 4, 0.20, 10,
     'https://platform.claude.com/docs/en/about-claude/pricing',
     'genai-prices (2026-08-21) says $3/$15 from 2026-09-01; an import of the feed takes precedence', NULL),
    ('claude-sonnet-4-6', 'Claude Sonnet 4.6', '-infinity', NULL, 0, 3, 3.75, 6, 0.30, 15,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'cache columns from a third-party table', NULL),
    ('claude-sonnet-4-5', 'Claude Sonnet 4.5', '-infinity', NULL, 0, 3, 3.75, 6, 0.30, 15,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'deprecated, retires 2026-11-30', NULL),
    ('claude-sonnet-4-5', 'Claude Sonnet 4.5, long context', '-infinity', NULL, 200000, 6, 7.50, 12, 0.60, 22.5,
     'https://github.com/pydantic/genai-prices (prices/new_data/v2/data.json, 2026-08-21)',
     'long-context rates (> 200K input tokens): 2 x input and cache, 1.5 x output', NULL),
    ('claude-haiku-5-5', 'Claude Haiku 5.5', '-infinity', NULL, 0, 0.10, 0.125, 0.20, 0.01, 0.50,
     'https://platform.claude.com/docs/en/about-claude/pricing',
     'prompts <= 100,000 tokens; the higher band is invisible in daily usage, so estimates are lower bounds', NULL),
    ('claude-haiku-5-5', 'Claude Haiku 5.5, prompt > 100K', '-infinity', NULL, 100000, 0.50, 0.625, 1, 0.05, 2.50,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'applied to long-context (200k-1M) usage rows', NULL),
    ('claude-haiku-4-5', 'Claude Haiku 4.5', '-infinity', NULL, 0, 1, 1.25, 2, 0.10, 5,
     'https://platform.claude.com/docs/en/about-claude/pricing', NULL, NULL),
    ('claude-3-5-haiku', 'Claude Haiku 3.5', '-infinity', NULL, 0, 0.80, 1, 1.6, 0.08, 4,
     'https://platform.claude.com/docs/en/about-claude/pricing', 'cache columns from the standard multipliers', NULL)
) AS v(id, label, valid_from, valid_to, min_input, inp, w5m, w1h, hit, out, src, note, kind);

-- OpenAI, standard tier [S25]: a third-party table checked 2026-10-06 against
-- developers.openai.com/api/docs/pricing (medium confidence). Batch 50% on input and output, flex priced like
-- batch; priority is a premium of unknown size (1 x until set by hand). Cache writes, where a model has them,
-- default to 1.25 x input.
INSERT INTO aispend.model_prices
    (provider, match_kind, pattern, model_label, input_per_mtok, cache_read_per_mtok, output_per_mtok,
     batch_multiplier, tier_multipliers, origin, source, checked_on, note)
SELECT 'openai', 'regex', '^' || pg_catalog.replace(v.id, '.', '\.') || '(-\d{4}-\d{2}-\d{2})?$', v.id,
       v.inp, v.cached, v.out, 0.5, '{"flex": 0.5}', 'shipped', 'https://developers.openai.com/api/docs/pricing',
       '2026-10-06', 'third-party table checked against the official page (provider-apis.md 3.5); medium confidence'
FROM (VALUES
    ('gpt-5.5', 5.00, 0.50, 30.00), ('gpt-5.4', 2.50, 0.25, 15.00), ('gpt-5.4-mini', 0.75, 0.075, 4.50),
    ('gpt-5.4-nano', 0.20, 0.02, 1.25), ('gpt-5.2', 1.75, 0.175, 14.00), ('gpt-5', 1.25, 0.125, 10.00),
    ('gpt-5.1', 1.25, 0.125, 10.00), ('gpt-5-mini', 0.25, 0.025, 2.00), ('gpt-5-nano', 0.05, 0.005, 0.40),
    ('gpt-4.1', 2.00, 0.50, 8.00), ('gpt-4.1-mini', 0.40, 0.10, 1.60), ('gpt-4.1-nano', 0.10, 0.025, 0.40),
    ('gpt-4o', 2.50, 1.25, 10.00), ('gpt-4o-mini', 0.15, 0.075, 0.60), ('o3', 2.00, 0.50, 8.00),
    ('o4-mini', 1.10, 0.275, 4.40),
    ('text-embedding-3-small', 0.02, NULL, NULL), ('text-embedding-3-large', 0.13, NULL, NULL),
    ('text-embedding-ada-002', 0.10, NULL, NULL)
) AS v(id, inp, cached, out);
