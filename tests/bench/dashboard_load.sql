-- Synthetic organisation for tests/bench/dashboard_bench.sh, loaded with generate_series straight into
-- aispend.usage / aispend.costs (the shape of the mock's generated orgs: workspaces alternate providers, keys
-- skewed towards the first workspaces, ~90% daily activity, 2-4 models per key, requests NULL for Anthropic).
-- psql variables: ws, keys, days, anchor (last day).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT setseed(0.42);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = 'bench_openai') THEN
        CREATE SERVER bench_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
        CREATE SERVER bench_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic');
    END IF;
END $$;
DELETE FROM aispend.usage WHERE account IN ('bench_openai', 'bench_anthropic');
DELETE FROM aispend.costs WHERE account IN ('bench_openai', 'bench_anthropic');
DELETE FROM aispend.workspaces WHERE account IN ('bench_openai', 'bench_anthropic');
DELETE FROM aispend.api_keys WHERE account IN ('bench_openai', 'bench_anthropic');

CREATE TEMP TABLE bws AS
SELECT g, CASE WHEN g % 2 = 0 THEN 'openai' ELSE 'anthropic' END AS provider,
       CASE WHEN g % 2 = 0 THEN 'bench_openai' ELSE 'bench_anthropic' END::name AS account,
       CASE WHEN g % 2 = 0 THEN 'proj_' ELSE 'wrkspc_' END || lpad(g::text, 5, '0') AS workspace_id,
       CASE WHEN g % 2 = 0 THEN 'Project ' ELSE 'Workspace ' END || lpad(g::text, 3, '0') AS name
FROM generate_series(0, :ws - 1) g;
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
SELECT account, provider, workspace_id, name, 'active' FROM bws;

CREATE TEMP TABLE bkeys AS
SELECT k, w.account, w.provider, w.workspace_id,
       CASE WHEN w.provider = 'openai' THEN 'key_' ELSE 'apikey_' END || lpad(k::text, 6, '0') AS api_key_id,
       2 + k % 3 AS nmodels, (10 ^ (1 + 2.2 * random()))::numeric AS scale
FROM (SELECT k, k % 2 AS p, random() AS u FROM generate_series(0, :keys - 1) k) x
JOIN LATERAL (SELECT * FROM bws WHERE bws.g % 2 = x.p
              ORDER BY bws.g OFFSET floor(((:ws + 1 - x.p) / 2) * x.u ^ 1.7) LIMIT 1) w ON true;
INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, last_used_at)
SELECT account, provider, api_key_id, provider || '-key-' || k, 'sk-...' || lpad(k::text, 4, '0'),
       CASE WHEN k % 17 = 5 THEN 'inactive' ELSE 'active' END, workspace_id,
       CASE WHEN k % 29 = 3 THEN NULL ELSE (:'anchor'::date - (k % 40))::timestamp AT TIME ZONE 'UTC' END
FROM bkeys;

CREATE TEMP TABLE bmodels (provider text, i int, model text, price numeric);
INSERT INTO bmodels VALUES ('openai', 1, 'gpt-4o', 5), ('openai', 2, 'gpt-4o-mini', 0.3), ('openai', 3, 'gpt-4.1', 4),
    ('openai', 4, 'o3', 6), ('anthropic', 1, 'claude-sonnet-4-5', 6), ('anthropic', 2, 'claude-haiku-4-5', 1.2),
    ('anthropic', 3, 'claude-opus-4-1', 30), ('anthropic', 4, 'claude-3-5-haiku', 1);

INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, cache_read_tokens, output_tokens, requests)
SELECT k.account, CASE k.provider WHEN 'openai' THEN 'completions' ELSE 'messages' END,
       d::timestamp AT TIME ZONE 'UTC', '1d', k.workspace_id, k.api_key_id, m.model,
       (k.scale * 700 / m.i)::bigint, (k.scale * 300 / m.i)::bigint, (k.scale * 250 / m.i)::bigint,
       CASE WHEN k.provider = 'openai' THEN (k.scale / m.i)::bigint + 1 END
FROM bkeys k
CROSS JOIN generate_series(:'anchor'::date - (:days - 1), :'anchor'::date, interval '1 day') d
JOIN bmodels m ON m.provider = k.provider AND m.i <= k.nmodels
WHERE random() < 0.9;

INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency)
SELECT u.account, u.bucket_start, u.workspace_id, u.model || ', input and output', u.model,
       round(sum(u.uncached_input_tokens + u.cache_read_tokens + u.output_tokens) * min(m.price) / 1000000, 6), 'USD'
FROM aispend.usage u JOIN bmodels m ON m.model = u.model
WHERE u.account IN ('bench_openai', 'bench_anthropic')
GROUP BY u.account, u.bucket_start, u.workspace_id, u.model;
ANALYZE aispend.usage;
ANALYZE aispend.costs;
SELECT count(*) AS usage_rows FROM aispend.usage WHERE account IN ('bench_openai', 'bench_anthropic');
