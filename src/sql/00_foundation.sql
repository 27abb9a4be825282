-- aispend foundation: the library's entry points and the foreign-data wrapper that holds accounts.

COMMENT ON SCHEMA aispend IS 'aispend: AI-provider billing and usage synced into tables, and the provider dashboard in SQL';

CREATE FUNCTION aispend.library_version() RETURNS text
    AS 'MODULE_PATHNAME', 'aispend_library_version' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend.library_version() IS 'Version of the loaded aispend shared library (equals the extension version when installed correctly)';

CREATE FUNCTION aispend._fdw_validator(options text[], catalog oid) RETURNS void
    AS 'MODULE_PATHNAME', 'aispend_fdw_validator' LANGUAGE C STRICT SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._fdw_validator(text[], oid) IS 'Internal: checks options of aispend servers (accounts) and user mappings (admin keys)';

-- No handler: aispend servers are accounts, not sources of foreign tables.
CREATE FOREIGN DATA WRAPPER aispend VALIDATOR aispend._fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER aispend IS 'aispend provider accounts: one server per provider organisation, admin keys in user mappings';

CREATE FUNCTION aispend._boundary_selftest(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'aispend_boundary_selftest' LANGUAGE C STRICT VOLATILE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._boundary_selftest(text) IS 'Internal: raises one kind of C++ or PostgreSQL failure through the exception boundary (used by the test suite)';

CREATE FUNCTION aispend._key_status(server oid, OUT has_key boolean, OUT key_source text)
    AS 'MODULE_PATHNAME', 'aispend_key_status' LANGUAGE C STRICT STABLE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._key_status(oid) IS 'Internal: whether the current role has an admin key for an account and where it comes from (never the key itself); NULLs without USAGE on the server';

-- The fetch functions: the sync procedure is their only caller (see docs/internals.md).
CREATE FUNCTION aispend._fetch_workspaces(account name)
    RETURNS TABLE(workspace_id text, name text, status text, created_at timestamptz, archived_at timestamptz,
                  is_default boolean)
    AS 'MODULE_PATHNAME', 'aispend_fetch_workspaces' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._fetch_workspaces(name) IS 'Internal: every workspace / project of an account, fetched from the provider now';

CREATE FUNCTION aispend._fetch_api_keys(account name)
    RETURNS TABLE(api_key_id text, name text, key_hint text, status text, workspace_id text, owner text,
                  created_at timestamptz, last_used_at timestamptz)
    AS 'MODULE_PATHNAME', 'aispend_fetch_api_keys' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._fetch_api_keys(name) IS 'Internal: every API key of an account, fetched from the provider now';

CREATE FUNCTION aispend._fetch_usage(account name, since timestamptz, until timestamptz, bucket_width text)
    RETURNS TABLE(endpoint text, bucket_start timestamptz, bucket_end timestamptz, workspace_id text,
                  api_key_id text, model text, service_tier text, batch boolean, context_window text,
                  inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
                  cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
                  input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
                  output_image_tokens bigint, requests bigint, web_search_requests bigint)
    AS 'MODULE_PATHNAME', 'aispend_fetch_usage' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._fetch_usage(name, timestamptz, timestamptz, text) IS 'Internal: usage buckets of an account in [since, until), fetched from the provider now';

CREATE FUNCTION aispend._fetch_costs(account name, since timestamptz, until timestamptz)
    RETURNS TABLE(bucket_start timestamptz, bucket_end timestamptz, workspace_id text, api_key_id text,
                  line_item text, model text, token_type text, service_tier text, context_window text,
                  cost_type text, inference_geo text, amount_usd numeric, currency text, quantity numeric,
                  quantity_unit text, token_class text)
    AS 'MODULE_PATHNAME', 'aispend_fetch_costs' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._fetch_costs(name, timestamptz, timestamptz) IS 'Internal: billed cost lines of an account per UTC day in [since, until), fetched from the provider now';

CREATE FUNCTION aispend._last_fetch_stats() RETURNS TABLE(http_requests bigint, retries bigint, bytes bigint)
    AS 'MODULE_PATHNAME', 'aispend_last_fetch_stats' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._last_fetch_stats() IS 'Internal: HTTP requests, retries and bytes of the latest _fetch_* call in this session';

-- Alert delivery: one POST, retries included. The URL is a secret; a failed delivery is a row, never an error
-- (only a cancel or interrupt, and out of memory, raise).
CREATE FUNCTION aispend._post_webhook(url text, body text, OUT http_status integer, OUT attempts integer, OUT error text)
    AS 'MODULE_PATHNAME', 'aispend_post_webhook' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._post_webhook(text, text) IS 'Internal: posts a JSON body to a webhook URL in aispend.webhook_hosts (retries included); every failure is a row: http_status (NULL without a response), attempts made, and an error text that never holds the URL';
REVOKE ALL ON FUNCTION aispend._post_webhook(text, text) FROM PUBLIC;
