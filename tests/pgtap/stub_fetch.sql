-- DEVELOPMENT ONLY: plpgsql stand-ins for the C++ aispend._fetch_* functions (docs/internals.md contract),
-- for loading src/sql/2*.sql and 3*.sql into a scratch database before the extension builds:
--   CREATE SCHEMA aispend; CREATE FOREIGN DATA WRAPPER aispend; \i tests/pgtap/stub_fetch.sql; \i src/sql/20_schema.sql ...
-- Deterministic data per account and day. Controls (custom settings): aispend_stub.fault = error|slow|cancel,
-- aispend_stub.bump = YYYY-MM-DD (changes that day's figures), aispend_stub.drop_key = an api key id to omit.
CREATE FUNCTION aispend._fetch_workspaces(account name)
RETURNS TABLE(workspace_id text, name text, status text, created_at timestamptz, archived_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('aispend_stub.http', '1', false);
    IF current_setting('aispend_stub.fault', true) = 'error_ws' THEN
        RAISE EXCEPTION 'stub: HTTP 500 from /workspaces' USING ERRCODE = 'AS001';
    END IF;
    RETURN QUERY VALUES ('ws_a', 'Alpha', 'active', timestamptz '2026-01-01', NULL::timestamptz),
                        ('ws_b', 'Beta', 'archived', timestamptz '2026-01-02', timestamptz '2026-06-01'),
                        (NULL, 'Default', 'active', NULL, NULL);
END $$;

CREATE FUNCTION aispend._fetch_api_keys(account name)
RETURNS TABLE(api_key_id text, name text, key_hint text, status text, workspace_id text, owner text,
              created_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('aispend_stub.http', '2', false);
    RETURN QUERY SELECT * FROM (VALUES
        ('key_1', 'prod', 'sk-...aaaa', 'active', 'ws_a', 'alice@example.com', timestamptz '2026-01-01', timestamptz '2026-08-01'),
        ('key_2', 'dev', 'sk-...bbbb', 'active', 'ws_a', 'bob@example.com', timestamptz '2026-01-01', NULL::timestamptz),
        ('key_3', 'old', 'sk-...cccc', 'inactive', NULL, NULL, timestamptz '2026-01-01', NULL::timestamptz)) v
    WHERE v.column1 IS DISTINCT FROM current_setting('aispend_stub.drop_key', true);
END $$;

CREATE FUNCTION aispend._fetch_usage(account name, since timestamptz, until timestamptz, bucket_width text)
RETURNS TABLE(endpoint text, bucket_start timestamptz, bucket_end timestamptz, workspace_id text,
              api_key_id text, model text, service_tier text, batch boolean, context_window text,
              inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
              cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
              input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
              output_image_tokens bigint, requests bigint, web_search_requests bigint)
LANGUAGE plpgsql AS $$
DECLARE
    step interval := CASE bucket_width WHEN '1h' THEN interval '1 hour' ELSE interval '1 day' END;
    bump date := nullif(current_setting('aispend_stub.bump', true), '')::date;
BEGIN
    PERFORM set_config('aispend_stub.http', (ceil(extract(epoch FROM until - since) / 86400 / 7))::text, false);
    IF current_setting('aispend_stub.fault', true) = 'slow' THEN PERFORM pg_sleep(3); END IF;
    IF current_setting('aispend_stub.fault', true) = 'error' THEN
        RAISE EXCEPTION 'stub: provider returned HTTP 500' USING ERRCODE = 'AS001', DETAIL = 'GET /usage: 500';
    END IF;
    RETURN QUERY
    SELECT 'completions', b, b + step, k.ws, k.key, k.model, 'default', false, NULL::text, NULL::text,
           (100 + extract(day FROM b AT TIME ZONE 'UTC')::bigint * k.n
                + CASE WHEN (b AT TIME ZONE 'UTC')::date = bump THEN 7 ELSE 0 END)::bigint,
           10::bigint, NULL::bigint, NULL::bigint, (50 * k.n)::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
           NULL::bigint, CASE WHEN account::text LIKE '%anthropic%' THEN NULL ELSE (3 * k.n)::bigint END, 0::bigint
    FROM generate_series(since, until - step, step) b
    CROSS JOIN (VALUES ('ws_a', 'key_1', 'gpt-x', 1), ('ws_a', 'key_2', 'gpt-y', 2),
                       (NULL, NULL, 'gpt-x', 3), ('ws_old', 'key_gone', 'gpt-x', 4)) k(ws, key, model, n);
END $$;

CREATE FUNCTION aispend._fetch_costs(account name, since timestamptz, until timestamptz)
RETURNS TABLE(bucket_start timestamptz, bucket_end timestamptz, workspace_id text, api_key_id text,
              line_item text, model text, token_type text, service_tier text, context_window text,
              cost_type text, inference_geo text, amount_usd numeric, currency text, quantity numeric,
              quantity_unit text)
LANGUAGE plpgsql AS $$
DECLARE
    bump date := nullif(current_setting('aispend_stub.bump', true), '')::date;
BEGIN
    PERFORM set_config('aispend_stub.http', '1', false);
    IF current_setting('aispend_stub.fault', true) = 'error_costs' THEN
        RAISE EXCEPTION 'stub: malformed JSON' USING ERRCODE = 'AS003';
    END IF;
    RETURN QUERY
    SELECT b, b + interval '1 day', k.ws, NULL::text, k.li, k.model, 'input', NULL::text, NULL::text, 'tokens',
           NULL::text, (k.amt + CASE WHEN (b AT TIME ZONE 'UTC')::date = bump THEN 1 ELSE 0 END)::numeric,
           'USD', NULL::numeric, NULL::text
    FROM generate_series(since, until - interval '1 day', interval '1 day') b
    CROSS JOIN (VALUES ('ws_a', 'gpt-x, input', 'gpt-x', 1.50), (NULL, 'gpt-x, input', 'gpt-x', 0.25)) k(ws, li, model, amt);
END $$;

CREATE FUNCTION aispend._last_fetch_stats()
RETURNS TABLE(http_requests bigint, retries bigint, bytes bigint)
LANGUAGE sql AS $$ SELECT coalesce(nullif(current_setting('aispend_stub.http', true), ''), '0')::bigint, 0::bigint, 0::bigint $$;
