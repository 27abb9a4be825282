-- aispend 0.9.0: generated from src/sql/ by make; edit those files.
\echo Use "CREATE EXTENSION aispend" to load this file. \quit

-- ---- src/sql/00_foundation.sql
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

-- ---- src/sql/10_accounts.sql
-- Accounts: the aispend foreign servers, as a view that never shows a key.

CREATE FUNCTION aispend._servers() RETURNS SETOF pg_catalog.pg_foreign_server
LANGUAGE sql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT s.* FROM pg_catalog.pg_foreign_server AS s
      JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid OPERATOR(pg_catalog.=) s.srvfdw
     WHERE w.fdwname OPERATOR(pg_catalog.=) 'aispend'
$$;
COMMENT ON FUNCTION aispend._servers() IS 'Internal: the foreign servers of the aispend wrapper, i.e. the accounts';

CREATE FUNCTION aispend._option(options text[], option_name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT pg_catalog.substr(o, pg_catalog.length(option_name) + 2)
          FROM pg_catalog.unnest(options) AS o
         WHERE pg_catalog.starts_with(o, option_name || '=')
         LIMIT 1);
COMMENT ON FUNCTION aispend._option(text[], text) IS 'Internal: the value of one option in a catalog options array (NULL when absent)';

CREATE VIEW aispend.accounts AS
SELECT s.srvname::text AS account,
       aispend._option(s.srvoptions, 'provider') AS provider,
       COALESCE(aispend._option(s.srvoptions, 'base_url'), '(provider default)') AS base_url,
       s.srvoptions::text[] AS options,
       k.has_key,
       k.key_source,
       pg_catalog.pg_get_userbyid(s.srvowner)::text AS owner
  FROM aispend._servers() AS s
 CROSS JOIN LATERAL aispend._key_status(s.oid) AS k;

COMMENT ON VIEW aispend.accounts IS 'Provider accounts (aispend foreign servers): provider, base URL, options, and whether the current role has an admin key for each; never the key';
COMMENT ON COLUMN aispend.accounts.account IS 'Server name; pass it to aispend.sync()';
COMMENT ON COLUMN aispend.accounts.provider IS 'openai, anthropic, openrouter, or focus (a cloud billing source imported from FOCUS exports: docs/focus.md)';
COMMENT ON COLUMN aispend.accounts.base_url IS 'API base URL, or (provider default)';
COMMENT ON COLUMN aispend.accounts.options IS 'All server options (server options never hold secrets)';
COMMENT ON COLUMN aispend.accounts.has_key IS 'Whether a sync run by the current role would find an admin key (NULL: the role has no USAGE on the server)';
COMMENT ON COLUMN aispend.accounts.key_source IS 'Where that key comes from: user mapping, PUBLIC user mapping, or an environment variable (its name only, and whether it is set)';
COMMENT ON COLUMN aispend.accounts.owner IS 'Role that owns the server';

-- ---- src/sql/20_schema.sql
-- 20_schema.sql: accounts helpers, dimensions, facts, sync_runs.
--
-- An account is a foreign server of the FDW aispend (pg_foreign_server.srvname). Servers cannot be the target
-- of a foreign key, so every table stores the account as a plain `name` column: dropping a server keeps its
-- data until aispend.forget_account(name) removes it. Every primary key and unique constraint starts with
-- `account`, so the tables can be distributed by account (Citus, docs/scaling.md); the only exception will be
-- the price catalogue aispend.model_prices (a reference table).
--
-- Sentinel rows (design.md section 6) replace provider NULLs in usage and costs:
--   workspace_id '(default)'  Anthropic default workspace / OpenAI usage without a project
--   api_key_id   '(console)'  Anthropic Console (Workbench) usage, which has no API key
--   api_key_id   '(none)'     OpenAI usage the provider did not attribute to a key
-- Identifiers that start with '(' are never provider identifiers.

-- ---------------------------------------------------------------- helpers (internal)

-- UTC bucket arithmetic. timestamptz + interval follows the session TimeZone (a day can last 23 or 25 hours),
-- so every step is done on UTC wall-clock time. The helpers with a CASE are not STRICT, and use only IMMUTABLE
-- functions (date_trunc with a time zone is STABLE), so that they inline.
CREATE FUNCTION aispend._utc_add(ts timestamptz, step interval)
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ((ts AT TIME ZONE 'UTC') + step) AT TIME ZONE 'UTC';

CREATE FUNCTION aispend._bucket_floor(ts timestamptz, bucket_width text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.date_trunc(CASE bucket_width WHEN '1h' THEN 'hour' WHEN 'month' THEN 'month' ELSE 'day' END,
                             ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';

CREATE FUNCTION aispend._bucket_step(bucket_width text)
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE bucket_width WHEN '1h' THEN interval '1 hour' WHEN 'month' THEN interval '1 month'
                         ELSE interval '1 day' END;

CREATE FUNCTION aispend._bucket_ceil(ts timestamptz, bucket_width text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN aispend._bucket_floor(ts, bucket_width) = ts THEN ts
            ELSE aispend._utc_add(aispend._bucket_floor(ts, bucket_width), aispend._bucket_step(bucket_width)) END;

-- The advisory lock that serialises syncs of one account: pg_try_advisory_lock(1634300784, _lock_key(account)).
-- 1634300784 is 'aisp' in ASCII; in pg_locks it is classid, the account hash is objid, objsubid = 2.
CREATE FUNCTION aispend._lock_key(account name)
RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.hashtext('aispend:' || account::text);

-- True when some session holds the sync lock of this account.
CREATE FUNCTION aispend._sync_lock_held(account name)
RETURNS boolean LANGUAGE sql STABLE STRICT
RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
               WHERE l.locktype = 'advisory' AND l.granted
                 AND l.classid = 1634300784::oid AND l.objid = aispend._lock_key(account)::oid
                 AND l.objsubid = 2
                 AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                   WHERE d.datname = pg_catalog.current_database()));

-- The settings of one account, from the server's options, with defaults. Raises 42704 for an unknown account.
CREATE FUNCTION aispend._account_settings(account name,
    OUT provider text, OUT backfill_days integer, OUT resync_days integer, OUT bucket_width text)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    opts text[];
BEGIN
    SELECT s.srvoptions INTO opts FROM aispend._servers() s WHERE s.srvname = _account_settings.account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', _account_settings.account
            USING ERRCODE = 'undefined_object',
                  HINT = 'An account is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''openai''). '
                         'See SELECT srvname FROM pg_foreign_server.';
    END IF;
    provider := aispend._option(opts, 'provider');
    backfill_days := aispend._option(opts, 'backfill_days')::integer;
    resync_days := aispend._option(opts, 'resync_days')::integer;
    bucket_width := aispend._option(opts, 'bucket_width');
    backfill_days := coalesce(backfill_days, 90);
    resync_days := coalesce(resync_days, 3);
    bucket_width := coalesce(bucket_width, '1d');
    IF provider = 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a FOCUS billing source: it is imported, not synced',
            _account_settings.account
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Load its export: SELECT * FROM aispend.import_focus(''' || _account_settings.account
                         || ''', :''focus''); (docs/focus.md).';
    END IF;
    IF provider IS NULL OR provider NOT IN ('openai', 'anthropic', 'openrouter') THEN
        RAISE EXCEPTION 'aispend: account "%" has no valid provider option', _account_settings.account
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ALTER SERVER ... OPTIONS (ADD provider ''openai'') (or ''anthropic'', ''openrouter'').';
    END IF;
    IF bucket_width NOT IN ('1d', '1h') THEN
        RAISE EXCEPTION 'aispend: account "%": bucket_width must be ''1d'' or ''1h'', not "%"',
            _account_settings.account, bucket_width
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF provider = 'openrouter' AND bucket_width <> '1d' THEN
        RAISE EXCEPTION 'aispend: account "%": OpenRouter reports whole UTC days, bucket_width must be ''1d''',
            _account_settings.account
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ALTER SERVER ... OPTIONS (DROP bucket_width).';
    END IF;
END
$$;

-- ---------------------------------------------------------------- dimensions

CREATE TABLE aispend.workspaces (
    account       name        NOT NULL,
    provider      text        NOT NULL,
    workspace_id  text        NOT NULL,
    provider_name text,
    display_name  text,
    name          text        GENERATED ALWAYS AS (coalesce(display_name, provider_name, workspace_id)) STORED,
    status        text        NOT NULL,
    created_at    timestamptz,
    archived_at   timestamptz,
    first_seen    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    provider_workspace_id text,
    CONSTRAINT workspaces_pkey PRIMARY KEY (account, workspace_id)
);
COMMENT ON TABLE aispend.workspaces IS
    'Workspaces (Anthropic) and projects (OpenAI) of every account, kept after they vanish upstream (slowly changing dimension).';
COMMENT ON COLUMN aispend.workspaces.account IS 'The account: name of the aispend foreign server (not a foreign key; see aispend.forget_account).';
COMMENT ON COLUMN aispend.workspaces.workspace_id IS
    'Provider id; ''(default)'' is the Anthropic default workspace (and OpenAI usage without a project).';
COMMENT ON COLUMN aispend.workspaces.provider_name IS 'The name the provider gives the workspace, refreshed by every sync.';
COMMENT ON COLUMN aispend.workspaces.display_name IS 'Custom name set by a person; NULL shows provider_name. Never written by sync.';
COMMENT ON COLUMN aispend.workspaces.name IS 'The name to show: display_name, else provider_name, else workspace_id.';
COMMENT ON COLUMN aispend.workspaces.status IS
    'Provider status (active, archived, ...); ''archived'' also when it vanished from the provider''s list; '
    '''unlisted'' when it was only ever seen in usage or costs.';
COMMENT ON COLUMN aispend.workspaces.first_seen IS 'When a sync first saw it (listed, or named by a fact).';
COMMENT ON COLUMN aispend.workspaces.last_seen IS 'When a sync last saw it in the provider''s list.';
COMMENT ON COLUMN aispend.workspaces.provider_workspace_id IS
    'The provider''s own id where workspace_id is a sentinel: the Anthropic default workspace''s real id, which '
    'its reports leave out (NULL otherwise).';

CREATE TABLE aispend.api_keys (
    account      name        NOT NULL,
    provider     text        NOT NULL,
    api_key_id   text        NOT NULL,
    name         text,
    key_hint     text,
    status       text        NOT NULL,
    workspace_id text,
    owner        text,
    created_at   timestamptz,
    last_used_at timestamptz,
    first_seen   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (account, api_key_id)
);
CREATE INDEX api_keys_workspace_idx ON aispend.api_keys (account, workspace_id);
COMMENT ON TABLE aispend.api_keys IS
    'API keys of every account, kept after they are deleted upstream (slowly changing dimension). Never holds a secret.';
COMMENT ON COLUMN aispend.api_keys.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.api_keys.api_key_id IS
    'Provider id; ''(console)'' = Anthropic Console usage without a key, ''(none)'' = OpenAI usage not attributed to a key.';
COMMENT ON COLUMN aispend.api_keys.key_hint IS 'The redacted hint the provider shows (e.g. sk-...abcd), never the key.';
COMMENT ON COLUMN aispend.api_keys.status IS
    'Provider status (active, inactive, archived, expired); ''deleted'' when it vanished from the provider''s list; '
    '''unlisted'' when it was only ever seen in usage or costs.';
COMMENT ON COLUMN aispend.api_keys.workspace_id IS 'Workspace / project of the key (aispend.workspaces.workspace_id).';
COMMENT ON COLUMN aispend.api_keys.first_seen IS 'When a sync first saw it (listed, or named by a fact).';
COMMENT ON COLUMN aispend.api_keys.last_seen IS 'When a sync last saw it in the provider''s list.';

CREATE TABLE aispend.models (
    account    name        NOT NULL,
    provider   text        NOT NULL,
    model      text        NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    CONSTRAINT models_pkey PRIMARY KEY (account, model)
);
COMMENT ON TABLE aispend.models IS
    'Models named by the usage or costs of each account, kept by the facts'' triggers (not dumped: a restore of the '
    'facts rebuilds it).';
COMMENT ON COLUMN aispend.models.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.models.first_seen IS 'Start of the earliest synced bucket with usage or cost of this model.';
COMMENT ON COLUMN aispend.models.last_seen IS 'Start of the latest synced bucket with usage or cost of this model.';

-- ---------------------------------------------------------------- facts

CREATE TABLE aispend.usage (
    account               name        NOT NULL,
    endpoint              text        NOT NULL,
    bucket_start          timestamptz NOT NULL,
    bucket_width          text        NOT NULL CHECK (bucket_width IN ('1d', '1h')),
    workspace_id          text        NOT NULL,
    api_key_id            text        NOT NULL,
    model                 text,
    service_tier          text,
    batch                 boolean,
    context_window        text,
    inference_geo         text,
    uncached_input_tokens bigint,
    cache_read_tokens     bigint,
    cache_write_5m_tokens bigint,
    cache_write_1h_tokens bigint,
    output_tokens         bigint,
    input_audio_tokens    bigint,
    output_audio_tokens   bigint,
    input_image_tokens    bigint,
    output_image_tokens   bigint,
    requests              bigint,
    web_search_requests   bigint,
    CONSTRAINT usage_natural_key UNIQUE NULLS NOT DISTINCT
        (account, bucket_start, endpoint, bucket_width, workspace_id, api_key_id, model, service_tier, batch,
         context_window, inference_geo)
);
CREATE INDEX usage_workspace_idx ON aispend.usage (account, workspace_id, bucket_start);
CREATE INDEX usage_api_key_idx ON aispend.usage (account, api_key_id, bucket_start);
CREATE INDEX usage_model_idx ON aispend.usage (account, model, bucket_start);
COMMENT ON TABLE aispend.usage IS
    'Token usage per account, bucket and every dimension the provider groups by; replaced window by window by aispend.sync.';
COMMENT ON COLUMN aispend.usage.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.usage.endpoint IS 'Provider usage endpoint: completions, embeddings, ... (OpenAI); messages (Anthropic).';
COMMENT ON COLUMN aispend.usage.bucket_start IS 'Start of the UTC bucket.';
COMMENT ON COLUMN aispend.usage.bucket_width IS '1d or 1h (server option bucket_width at sync time).';
COMMENT ON COLUMN aispend.usage.workspace_id IS 'Workspace / project; ''(default)'' when the provider sent none.';
COMMENT ON COLUMN aispend.usage.api_key_id IS
    'API key; ''(console)'' (Anthropic), ''(all keys)'' (OpenRouter: its activity report is not split by key) or '
    '''(none)'' (OpenAI) when the provider sent none.';
COMMENT ON COLUMN aispend.usage.batch IS 'Batch API usage (OpenAI batch flag; Anthropic service_tier batch).';
COMMENT ON COLUMN aispend.usage.uncached_input_tokens IS
    'Input tokens neither read from nor written to the cache. All input = uncached + cache_read + cache_write_5m + cache_write_1h. NULL = not reported.';
COMMENT ON COLUMN aispend.usage.cache_write_5m_tokens IS 'Cache writes with 5-minute TTL (OpenAI''s single cache-write kind too).';
COMMENT ON COLUMN aispend.usage.output_tokens IS 'All output tokens (every modality).';
COMMENT ON COLUMN aispend.usage.input_audio_tokens IS 'Informational subset of input tokens.';
COMMENT ON COLUMN aispend.usage.requests IS 'Number of model requests (OpenAI); NULL for Anthropic, which does not report it (never 0).';
COMMENT ON COLUMN aispend.usage.web_search_requests IS 'Server-side web search requests.';

CREATE TABLE aispend.costs (
    account        name        NOT NULL,
    bucket_start   timestamptz NOT NULL,
    workspace_id   text        NOT NULL,
    api_key_id     text,
    line_item      text,
    model          text,
    token_type     text,
    service_tier   text,
    context_window text,
    cost_type      text,
    inference_geo  text,
    amount_usd     numeric     NOT NULL,
    currency       text        NOT NULL,
    quantity       numeric,
    quantity_unit  text,
    token_class    text,
    CONSTRAINT costs_natural_key UNIQUE NULLS NOT DISTINCT
        (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type, service_tier,
         context_window, cost_type, inference_geo, currency, quantity_unit)
);
CREATE INDEX costs_workspace_idx ON aispend.costs (account, workspace_id, bucket_start);
CREATE INDEX costs_api_key_idx ON aispend.costs (account, api_key_id, bucket_start);
CREATE INDEX costs_model_idx ON aispend.costs (account, model, bucket_start);
COMMENT ON TABLE aispend.costs IS
    'Billed cost lines per account, UTC day, workspace and line item, as the provider bills them; replaced window by window by aispend.sync.';
COMMENT ON COLUMN aispend.costs.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.costs.bucket_start IS 'The UTC day (midnight UTC).';
COMMENT ON COLUMN aispend.costs.workspace_id IS 'Workspace / project; ''(default)'' when the provider sent none.';
COMMENT ON COLUMN aispend.costs.api_key_id IS 'API key (newer OpenAI costs only); NULL = the provider does not attribute this line to a key.';
COMMENT ON COLUMN aispend.costs.line_item IS 'OpenAI line_item or Anthropic description, verbatim.';
COMMENT ON COLUMN aispend.costs.model IS 'Model (Anthropic field; OpenAI parsed from line_item: the name before its first comma).';
COMMENT ON COLUMN aispend.costs.token_type IS 'Anthropic token_type; OpenAI: the kind after the model in line_item, lower-cased, verbatim.';
COMMENT ON COLUMN aispend.costs.token_class IS
    'What the line bills, classified from token_type / line_item (aispend.parse_line_item): input, cached_input, '
    'cache_write, output, audio_input, audio_output, image_input, image_output, tool, or unrecognised (listed by '
    'aispend.unrecognised_line_items; its amount still counts).';
COMMENT ON COLUMN aispend.costs.amount_usd IS 'Exact amount in US dollars (Anthropic cents divided by 100).';
COMMENT ON COLUMN aispend.costs.currency IS 'Currency as sent, upper-cased (USD).';

-- ---------------------------------------------------------------- sync runs

CREATE TABLE aispend.sync_runs (
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    account          name        NOT NULL,
    endpoint         text        NOT NULL CHECK (endpoint IN ('workspaces', 'api_keys', 'usage', 'costs')),
    window_start     timestamptz,
    window_end       timestamptz,
    bucket_width     text,
    complete_through timestamptz,
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at      timestamptz,
    status           text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'succeeded', 'failed', 'aborted')),
    rows_fetched     bigint,
    rows_inserted    bigint,
    rows_updated     bigint,
    rows_deleted     bigint,
    http_requests    bigint,
    retries          bigint,
    bytes            bigint,
    error_sqlstate   text,
    error_message    text,
    error_detail     text,
    error_hint       text,
    CONSTRAINT sync_runs_pkey PRIMARY KEY (account, id)
);
CREATE INDEX sync_runs_account_endpoint_idx ON aispend.sync_runs (account, endpoint, started_at);
COMMENT ON TABLE aispend.sync_runs IS
    'One row per account, endpoint and window chunk that aispend.sync attempted: the progress and failure log. Never holds a key.';
COMMENT ON COLUMN aispend.sync_runs.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.sync_runs.window_start IS 'Start of the fetched window (NULL for workspaces and api_keys, which are listed whole).';
COMMENT ON COLUMN aispend.sync_runs.window_end IS 'End (exclusive) of the fetched window; may include the still-open bucket.';
COMMENT ON COLUMN aispend.sync_runs.complete_through IS
    'End of the last closed bucket of the window at fetch time (the open bucket is fetched but not complete); '
    'NULL when the window did not continue the account''s complete history.';
COMMENT ON COLUMN aispend.sync_runs.status IS
    'running, succeeded, failed (error recorded), aborted (cancelled, or found still running by a later sync).';
COMMENT ON COLUMN aispend.sync_runs.rows_fetched IS 'Distinct rows the provider returned for the window.';
COMMENT ON COLUMN aispend.sync_runs.rows_inserted IS 'Rows new to the table.';
COMMENT ON COLUMN aispend.sync_runs.rows_updated IS
    'Rows whose values changed (dimensions: attribute changes and entities marked vanished; last_seen alone does not count).';
COMMENT ON COLUMN aispend.sync_runs.rows_deleted IS 'Fact rows of the window the provider no longer returns.';
COMMENT ON COLUMN aispend.sync_runs.http_requests IS 'HTTP requests of the fetch (aispend._last_fetch_stats()).';
COMMENT ON COLUMN aispend.sync_runs.retries IS 'Retried HTTP requests (429, 5xx, network).';
COMMENT ON COLUMN aispend.sync_runs.error_sqlstate IS 'SQLSTATE of the failure (AS001..AS007 provider errors, 57014 cancel, ...).';

-- The background refreshes (37_refresh.sql): one row per request and account. A request of several accounts
-- shares one id; a request for an account whose refresh is already queued or running 'joins' it.
CREATE SEQUENCE aispend.refresh_request_ids AS bigint;
COMMENT ON SEQUENCE aispend.refresh_request_ids IS 'Ids of aispend.refresh_requests (one per aispend.request_refresh call).';
CREATE TABLE aispend.refresh_requests (
    id             bigint      NOT NULL,
    account        name        NOT NULL,
    requested_by   name        NOT NULL DEFAULT CURRENT_USER,
    since          timestamptz,
    state          text        NOT NULL DEFAULT 'queued'
                               CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'joined')),
    joined_request bigint,
    requested_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at     timestamptz,
    finished_at    timestamptz,
    worker_pid     integer,
    steps_planned  jsonb,
    error_sqlstate text,
    error_message  text,
    error_detail   text,
    CONSTRAINT refresh_requests_pkey PRIMARY KEY (account, id),
    CONSTRAINT refresh_requests_joined CHECK ((state = 'joined') = (joined_request IS NOT NULL) OR state = 'cancelled')
);
CREATE INDEX refresh_requests_active_idx ON aispend.refresh_requests (requested_by, id)
    WHERE state IN ('queued', 'running');
COMMENT ON TABLE aispend.refresh_requests IS
    'One row per background refresh (aispend.request_refresh) and account: who asked, its state, the worker that '
    'ran it and how it ended. Progress: aispend.refresh_progress.';
COMMENT ON COLUMN aispend.refresh_requests.id IS 'The request id request_refresh returned (shared by its accounts).';
COMMENT ON COLUMN aispend.refresh_requests.requested_by IS
    'The role the worker runs as (the requesting role): its keys and privileges, never more.';
COMMENT ON COLUMN aispend.refresh_requests.since IS 'The since argument of the sync (NULL: the usual incremental window).';
COMMENT ON COLUMN aispend.refresh_requests.state IS
    'queued (waiting for a worker), running, succeeded, failed (the error below; also a worker that was '
    'terminated), cancelled (aispend.cancel_refresh), or joined: the account was already being refreshed by '
    'joined_request, whose outcome this request shares.';
COMMENT ON COLUMN aispend.refresh_requests.joined_request IS 'For a joined request: the request whose run it shares.';
COMMENT ON COLUMN aispend.refresh_requests.worker_pid IS 'The background worker''s process id, once it runs.';
COMMENT ON COLUMN aispend.refresh_requests.steps_planned IS
    'Sync steps (endpoint and month chunks) the refresh was to run, per endpoint, when it started.';
COMMENT ON COLUMN aispend.refresh_requests.error_message IS
    'The error that ended the refresh (it may quote a provider); readers see only error_sqlstate.';

-- What a request's state means now: a 'running' request whose worker is gone (killed, a crash: it could not
-- record anything) failed; so did a 'queued' one that no worker of its role took within a minute of being
-- visible (the workers were started before the request committed, and take every queued request of their role).
-- A live worker is a backend of the request's role in this database named 'aispend refresh': pg_stat_activity
-- shows the pid, user, database and application_name of every backend to every role, and only a session of
-- that role could pretend to be one.
-- The background refresh workers running in this database (on Citus, the coordinator's, where they run): their
-- process ids and roles, and the time they were read at, read once, so that a query of the shards can be handed
-- them.
CREATE FUNCTION aispend._refresh_live(OUT pids integer[], OUT roles name[], OUT at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- pg_stat_activity is read once per transaction and kept: a loop waiting for a refresh (wait_refresh) would
    -- take a worker started after its first look for dead
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    at := pg_catalog.clock_timestamp();
    SELECT coalesce(pg_catalog.array_agg(a.pid ORDER BY a.pid), '{}'),
           coalesce(pg_catalog.array_agg(r.rolname ORDER BY a.pid), '{}')
      INTO pids, roles
      FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
     WHERE a.application_name = 'aispend refresh'
       AND a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
END
$$;
COMMENT ON FUNCTION aispend._refresh_live() IS
    'Internal: the process ids and roles of the background refresh workers running in this database, and the time '
    'they were read at.';

CREATE FUNCTION aispend._refresh_workers(p_role name) RETURNS SETOF integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.pid FROM aispend._refresh_live() l,
           ROWS FROM (pg_catalog.unnest(l.pids), pg_catalog.unnest(l.roles)) AS w(pid, role)
     WHERE w.role OPERATOR(pg_catalog.=) p_role
$$;
COMMENT ON FUNCTION aispend._refresh_workers(name) IS
    'Internal: the process ids of the background refresh workers of a role in this database.';

CREATE FUNCTION aispend._refresh_worker_alive(p_role name, p_pid integer) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM aispend._refresh_workers(p_role) AS w(pid) WHERE p_pid IS NULL OR w.pid = p_pid)
$$;
COMMENT ON FUNCTION aispend._refresh_worker_alive(name, integer) IS
    'Internal: whether a background refresh worker of the role runs in this database (that pid, or any when NULL).';

-- A request's state given the live workers and the time: running or queued with no worker left to run it is
-- failed. Pure, so that a query of the shards (Citus) computes it with what the coordinator read.
CREATE FUNCTION aispend._refresh_state_of(state text, worker_pid integer, requested_by name, requested_at timestamptz,
                                          live_pids integer[], live_roles name[], at timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN state = 'running'
             AND NOT EXISTS (SELECT 1
                               FROM ROWS FROM (pg_catalog.unnest(live_pids), pg_catalog.unnest(live_roles))
                                    AS w(pid, role)
                              WHERE w.role = requested_by AND w.pid = worker_pid) THEN 'failed'
        WHEN state = 'queued' AND requested_at < at - interval '1 minute'
             AND NOT requested_by = ANY (live_roles) THEN 'failed'
        ELSE state
    END
$$;
COMMENT ON FUNCTION aispend._refresh_state_of(text, integer, name, timestamptz, integer[], name[], timestamptz) IS
    'Internal: a refresh request''s state given the live workers (aispend._refresh_live) and the time: running or '
    'queued with no worker left to run it is failed.';

CREATE FUNCTION aispend._refresh_state(state text, worker_pid integer, requested_by name, requested_at timestamptz)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT aispend._refresh_state_of(state, worker_pid, requested_by, requested_at, l.pids, l.roles, l.at)
      FROM aispend._refresh_live() l
$$;
COMMENT ON FUNCTION aispend._refresh_state(text, integer, name, timestamptz) IS
    'Internal: a refresh request''s state as it stands: running or queued with no worker left to run it is failed.';

-- Who may change a request: its role (or a member of it). Everyone who may read the table sees every request.
ALTER TABLE aispend.refresh_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_requests_read ON aispend.refresh_requests FOR SELECT USING (true);
CREATE POLICY refresh_requests_own_insert ON aispend.refresh_requests FOR INSERT
    WITH CHECK (requested_by = CURRENT_USER);
CREATE POLICY refresh_requests_own_update ON aispend.refresh_requests FOR UPDATE
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')))
    WITH CHECK (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                         WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')));
CREATE POLICY refresh_requests_own_delete ON aispend.refresh_requests FOR DELETE
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = requested_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')));

-- Data that pg_dump must keep: everything synced and every edit (display names), and the run log. aispend.models
-- is derived from the facts by their triggers (53_invalidation.sql), which rebuild it on restore.
SELECT pg_catalog.pg_extension_config_dump('aispend.workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.usage', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.costs', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.sync_runs', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.sync_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.refresh_requests', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.refresh_request_ids', '');

-- ---------------------------------------------------------------- forgetting an account

CREATE FUNCTION aispend.forget_account(account name)
RETURNS TABLE (table_name regclass, rows_deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    t regclass;
    n bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM aispend._servers() s WHERE s.srvname = forget_account.account) THEN
        RAISE EXCEPTION 'aispend: account "%" still exists', forget_account.account
            USING ERRCODE = 'object_in_use',
                  HINT = format('DROP SERVER %I CASCADE first; its synced data stays until forget_account.',
                                forget_account.account);
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1634300784, aispend._lock_key(forget_account.account)) THEN
        RAISE EXCEPTION 'aispend: a sync of account % is running', forget_account.account
            USING ERRCODE = 'lock_not_available';
    END IF;
    -- Every table of the extension's schema with an account column, referencing tables first, so that
    -- tables added later (rename history, ...) are forgotten too.
    FOR t IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'account' AND NOT a.attisdropped
        WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'p')
        ORDER BY (SELECT count(*) FROM pg_catalog.pg_constraint f
                  WHERE f.conrelid = c.oid AND f.contype = 'f') DESC, c.relname
    LOOP
        -- the audit trail (name history, audit log) is append-only: only a superuser removes it
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                   WHERE g.tgrelid = t AND g.tgfoid = 'aispend._append_only()'::regprocedure)
           AND NOT aispend._is_superuser() THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE account = $1', t) INTO n USING forget_account.account;
            IF n > 0 THEN
                RAISE NOTICE 'aispend: % rows of % kept: the audit trail is append-only', n, t
                    USING HINT = 'A superuser running aispend.forget_account removes them too.';
            END IF;
            CONTINUE;
        END IF;
        EXECUTE format('DELETE FROM %s WHERE account = $1', t) USING forget_account.account;
        GET DIAGNOSTICS n = ROW_COUNT;
        table_name := t;
        rows_deleted := n;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.forget_account(name) IS
    'Deletes every synced row and sync_runs row of an account whose server was dropped; returns rows deleted per '
    'table. The audit trail (name history, audit log) is kept unless a superuser runs it.';
REVOKE ALL ON FUNCTION aispend.forget_account(name) FROM PUBLIC;

-- The names and keys the tabs and views show, read through a function: a tab (an SQL function inlined into its
-- caller) then reads no distributed table itself, which Citus cannot plan (docs/scaling.md). Row-level security
-- applies. ROWS: estimates that keep the tabs' plans cheap (no JIT). The keys' is the higher: below it the
-- planner joined 60,000 keys by nested loops (api_keys_unused took 43 s, 2 s since); the workspaces' also
-- estimates the accounts of aispend.cost_facts, whose plan crossed JIT's threshold at 200.
CREATE FUNCTION aispend._workspaces()
RETURNS SETOF aispend.workspaces
LANGUAGE plpgsql STABLE ROWS 50
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT * FROM aispend.workspaces;
END
$$;
COMMENT ON FUNCTION aispend._workspaces() IS 'Internal: aispend.workspaces, as the tabs read it.';

CREATE FUNCTION aispend._api_keys()
RETURNS SETOF aispend.api_keys
LANGUAGE plpgsql STABLE ROWS 1000
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT * FROM aispend.api_keys;
END
$$;
COMMENT ON FUNCTION aispend._api_keys() IS 'Internal: aispend.api_keys, as the tabs read it.';

-- ---- src/sql/22_account_providers.sql
-- 22_account_providers.sql: the one place the provider of an account (and so of every fact row) comes from.
--
-- The provider is the server option `provider`. A server can be dropped while its synced data stays (until
-- aispend.forget_account), so every sync also remembers the provider in aispend.account_providers; reads use
-- the server's option while the server exists and the remembered one after. Nothing else stores a provider for
-- the cost model or the dashboard (workspaces.provider and api_keys.provider are descriptive copies).

CREATE TABLE aispend.account_providers (
    account       name        NOT NULL,
    provider      text        NOT NULL,
    remembered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT account_providers_pkey PRIMARY KEY (account)
);
COMMENT ON TABLE aispend.account_providers IS
    'The provider of every account that was ever synced, remembered by aispend.sync so that the data of a dropped '
    'server keeps its provider. Read aispend.account_provider(account) rather than this table.';
COMMENT ON COLUMN aispend.account_providers.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.account_providers.provider IS 'The server''s provider option at the last sync.';
COMMENT ON COLUMN aispend.account_providers.remembered_at IS 'When a sync last wrote it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.account_providers', '');

-- Every account with its provider: the servers (their option), then the remembered providers of dropped servers.
CREATE FUNCTION aispend._account_providers()
RETURNS TABLE (account name, provider text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT s.srvname, aispend._option(s.srvoptions, 'provider') FROM aispend._servers() s
    UNION ALL
    SELECT r.account, r.provider FROM aispend.account_providers r
    -- NOT IN, not a correlated NOT EXISTS: Citus plans the servers once and pushes the filter down to the shards
    WHERE r.account OPERATOR(pg_catalog.<>) ALL (SELECT s.srvname FROM aispend._servers() s)
$$;
COMMENT ON FUNCTION aispend._account_providers() IS
    'Internal: every account and its provider (server option; remembered provider of a dropped server).';

-- The accounts a provider filter (all, openai, anthropic, other, ...) selects and their providers, as two arrays in
-- the same order: what a function reads first, so that its query of the facts need not call
-- aispend._account_providers() (on Citus a query of the shards cannot: it reads another distributed table).
CREATE FUNCTION aispend._provider_accounts(provider_filter text, OUT accounts name[], OUT providers text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    SELECT pg_catalog.array_agg(ap.account ORDER BY ap.account), pg_catalog.array_agg(ap.provider ORDER BY ap.account)
      INTO accounts, providers
      FROM aispend._account_providers() ap WHERE aispend._provider_matches(ap.provider, provider_filter);
END
$$;
COMMENT ON FUNCTION aispend._provider_accounts(text) IS
    'Internal: the accounts of a provider filter and their providers, as arrays in the same order.';

-- As aispend._account_providers() for one account, reading only that account's remembered row: on Citus a
-- query of its shard, not of all of them.
CREATE FUNCTION aispend.account_provider(account name)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    server_options text[];
BEGIN
    SELECT s.srvoptions INTO server_options FROM aispend._servers() s WHERE s.srvname = account_provider.account;
    IF FOUND THEN
        RETURN aispend._option(server_options, 'provider');
    END IF;
    RETURN (SELECT r.provider FROM aispend.account_providers r WHERE r.account = account_provider.account);
END
$$;
COMMENT ON FUNCTION aispend.account_provider(name) IS
    'The provider of an account (openai, anthropic, ...): its server''s option, or the provider remembered from its '
    'last sync when the server was dropped; NULL for an unknown account.';

CREATE FUNCTION aispend.reports_requests(provider text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN provider IS DISTINCT FROM 'anthropic';
COMMENT ON FUNCTION aispend.reports_requests(text) IS
    'Whether a provider reports request counts: every tab shows Requests as a count for those (0 when none) and '
    'NULL for the others (Anthropic''s usage API has no request counts).';

-- Called by aispend.sync for every account it syncs.
CREATE FUNCTION aispend._remember_provider(account name, provider text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend.account_providers AS r (account, provider)
    VALUES (_remember_provider.account, _remember_provider.provider)
    ON CONFLICT ON CONSTRAINT account_providers_pkey DO UPDATE
       SET provider = excluded.provider, remembered_at = excluded.remembered_at;
END
$$;
COMMENT ON FUNCTION aispend._remember_provider(name, text) IS 'Internal: aispend.sync remembers the provider of an account.';
REVOKE ALL ON FUNCTION aispend._remember_provider(name, text) FROM PUBLIC;

-- The provider filter of every tab and view: all, openai, anthropic, other (any provider but those two), or
-- the name of another provider (openrouter), which is also part of other.
CREATE FUNCTION aispend._provider_matches(provider text, filter text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    CASE pg_catalog.lower(coalesce(filter, 'all'))
        WHEN 'all', '' THEN RETURN true;
        WHEN 'openai' THEN RETURN provider = 'openai';
        WHEN 'anthropic' THEN RETURN provider = 'anthropic';
        WHEN 'other' THEN RETURN provider NOT IN ('openai', 'anthropic');
        WHEN 'openrouter' THEN RETURN provider = 'openrouter';
        ELSE RAISE EXCEPTION 'aispend: unknown provider filter "%"', filter
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Use all, openai, anthropic, openrouter or other.';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend._provider_matches(text, text) IS
    'Internal: the provider filter (all, openai, anthropic, openrouter, or other: any provider but OpenAI and Anthropic).';

-- ---- src/sql/30_sync.sql
-- 30_sync.sql: the sync procedure (aispend.sync, aispend.refresh), its steps, and aispend.freshness.
-- See docs/sync.md. The only callers of aispend._fetch_* are the _sync_* functions below.
--
-- Shape: aispend.sync (PROCEDURE) loops over accounts; per account it takes the account's advisory lock, marks
-- runs left 'running' by a dead sync as 'aborted', then CALLs aispend._sync_step once per endpoint and window
-- chunk. _sync_step inserts the sync_runs row and COMMITs it, does the work in a block with an exception handler
-- (a subtransaction: on error the chunk's changes are rolled back), records success or failure and COMMITs.
-- Procedures that COMMIT must be CALLed outside a transaction block; they cannot carry a SET clause, so every
-- name is schema-qualified instead of pinning search_path.

-- ---------------------------------------------------------------- formatting

-- '2026-09-01..2026-10-01' (UTC days) or '2026-09-01 05:00..2026-09-01 09:00' (hours).
CREATE FUNCTION aispend._fmt_window(since timestamptz, until timestamptz)
RETURNS text LANGUAGE sql STABLE
RETURN CASE WHEN since IS NULL THEN ''
            WHEN aispend._bucket_floor(since, '1d') = since AND aispend._bucket_floor(until, '1d') = until
            THEN ' ' || pg_catalog.to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '..'
                     || pg_catalog.to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            ELSE ' ' || pg_catalog.to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || '..'
                     || pg_catalog.to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') END;

-- ---------------------------------------------------------------- dimensions named by facts

-- Workspaces and keys named by usage or costs but never listed get a row ('unlisted'; sentinels 'active'),
-- so that every fact joins to a dimension row. Existing rows are left untouched.
CREATE FUNCTION aispend._note_fact_dimensions(p_account name, p_provider text, p_now timestamptz,
                                              p_workspaces text[], p_keys text[])
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, first_seen, last_seen)
    SELECT p_account, p_provider, w,
           CASE WHEN w = '(default)' THEN CASE p_provider WHEN 'anthropic' THEN '(default workspace)'
                                                          ELSE '(no project)' END END,
           CASE WHEN w LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_workspaces) AS w
    WHERE w IS NOT NULL
    ON CONFLICT (account, workspace_id) DO NOTHING;
    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, status, first_seen, last_seen)
    SELECT p_account, p_provider, k,
           CASE k WHEN '(console)' THEN '(no API key: Console)' WHEN '(none)' THEN '(no API key)' END,
           CASE WHEN k LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_keys) AS k
    WHERE k IS NOT NULL
    ON CONFLICT (account, api_key_id) DO NOTHING;
END
$$;

-- ---------------------------------------------------------------- one endpoint, one window (no COMMIT)

-- The first day a provider still reports at p_now: OpenRouter's /activity covers the last 30 completed UTC days,
-- so a sync never deletes a stored day before them (the API is silent about it, not restating it). -infinity
-- for the providers whose reports reach back as far as asked.
CREATE FUNCTION aispend._retained_since(p_provider text, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
RETURN CASE WHEN p_provider = 'openrouter'
            THEN aispend._utc_add(aispend._bucket_floor(p_now, '1d'), pg_catalog.make_interval(days => -30))
            ELSE '-infinity'::timestamptz END;
COMMENT ON FUNCTION aispend._retained_since(text, timestamptz) IS
    'Internal: the first UTC day a provider still reports at a time (OpenRouter: 30 completed days back; others: '
    '-infinity). A sync deletes no stored fact before it.';
REVOKE ALL ON FUNCTION aispend._retained_since(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION aispend._sync_workspaces(p_account name, p_provider text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
    v_names jsonb := aispend._names_before(p_account);
BEGIN
    CREATE TEMP TABLE aispend_stage_workspaces ON COMMIT DROP AS
    -- the default workspace (Anthropic's, listed under its real id) is the '(default)' of the reports
    SELECT DISTINCT ON (1)
           CASE WHEN f.is_default THEN '(default)' ELSE coalesce(f.workspace_id, '(default)') END AS workspace_id,
           f.name AS provider_name,
           coalesce(f.status, CASE WHEN f.archived_at IS NULL THEN 'active' ELSE 'archived' END) AS status,
           f.created_at, f.archived_at, CASE WHEN f.is_default THEN f.workspace_id END AS provider_workspace_id
    FROM aispend._fetch_workspaces(p_account) f
    ORDER BY 1, f.archived_at NULLS FIRST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_workspaces;

    UPDATE aispend.workspaces w
       SET provider = p_provider, provider_name = s.provider_name, status = s.status,
           created_at = s.created_at, archived_at = s.archived_at, last_seen = p_now,
           provider_workspace_id = s.provider_workspace_id
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id
       AND (w.provider, w.provider_name, w.status, w.created_at, w.archived_at, w.provider_workspace_id)
           IS DISTINCT FROM (p_provider, s.provider_name, s.status, s.created_at, s.archived_at,
                             s.provider_workspace_id);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.workspaces w SET last_seen = p_now
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id AND w.last_seen <> p_now;

    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, created_at, archived_at,
                                    first_seen, last_seen, provider_workspace_id)
    SELECT p_account, p_provider, s.workspace_id, s.provider_name, s.status, s.created_at, s.archived_at, p_now, p_now,
           s.provider_workspace_id
    FROM pg_temp.aispend_stage_workspaces s
    ON CONFLICT (account, workspace_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (the list includes archived ones): kept, marked archived.
    UPDATE aispend.workspaces w SET status = 'archived'
     WHERE w.account = p_account AND w.status NOT IN ('archived', 'unlisted') AND w.workspace_id NOT LIKE '(%'
       AND w.workspace_id NOT IN (SELECT s.workspace_id FROM pg_temp.aispend_stage_workspaces s);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;
    PERFORM aispend._names_changed(p_account, v_names);
    DROP TABLE pg_temp.aispend_stage_workspaces;
END
$$;

CREATE FUNCTION aispend._sync_api_keys(p_account name, p_provider text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE aispend_stage_api_keys ON COMMIT DROP AS
    SELECT DISTINCT ON (f.api_key_id)
           f.api_key_id, f.name, f.key_hint, coalesce(f.status, 'active') AS status,
           coalesce(f.workspace_id, '(default)') AS workspace_id, f.owner, f.created_at, f.last_used_at
    FROM aispend._fetch_api_keys(p_account) f
    WHERE f.api_key_id IS NOT NULL
    ORDER BY f.api_key_id, f.last_used_at DESC NULLS LAST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_api_keys;

    UPDATE aispend.api_keys k
       SET provider = p_provider, name = s.name, key_hint = s.key_hint, status = s.status,
           workspace_id = s.workspace_id, owner = s.owner, created_at = s.created_at,
           last_used_at = s.last_used_at, last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id
       AND (k.provider, k.name, k.key_hint, k.status, k.workspace_id, k.owner, k.created_at, k.last_used_at)
           IS DISTINCT FROM (p_provider, s.name, s.key_hint, s.status, s.workspace_id, s.owner, s.created_at,
                             s.last_used_at);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.api_keys k SET last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id AND k.last_seen <> p_now;

    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, owner,
                                  created_at, last_used_at, first_seen, last_seen)
    SELECT p_account, p_provider, s.api_key_id, s.name, s.key_hint, s.status, s.workspace_id, s.owner,
           s.created_at, s.last_used_at, p_now, p_now
    FROM pg_temp.aispend_stage_api_keys s
    ON CONFLICT (account, api_key_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (OpenAI lists only live keys): kept, marked deleted.
    UPDATE aispend.api_keys k SET status = 'deleted'
     WHERE k.account = p_account AND k.status NOT IN ('deleted', 'unlisted') AND k.api_key_id NOT LIKE '(%'
       AND k.api_key_id NOT IN (SELECT s.api_key_id FROM pg_temp.aispend_stage_api_keys s WHERE s.api_key_id IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_api_keys s), NULL);
    DROP TABLE pg_temp.aispend_stage_api_keys;
END
$$;

-- Replaces the usage of [p_since, p_until) with what the provider returns now, touching only rows that differ:
-- rows gone upstream are deleted, changed rows updated, new rows inserted, identical rows left alone.
CREATE FUNCTION aispend._sync_usage(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_width text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_days date[];
BEGIN
    -- Normalised and de-duplicated (a natural key seen twice is summed; NULL stays NULL).
    CREATE TEMP TABLE aispend_stage_usage ON COMMIT DROP AS
    SELECT f.endpoint, f.bucket_start,
           coalesce(f.workspace_id, '(default)') AS workspace_id,
           -- OpenRouter's activity report is not split by key: '(all keys)', not '(none)' (it was keys' usage)
           coalesce(f.api_key_id, CASE p_provider WHEN 'anthropic' THEN '(console)' WHEN 'openrouter' THEN '(all keys)'
                                                  ELSE '(none)' END) AS api_key_id,
           f.model, f.service_tier, f.batch, f.context_window, f.inference_geo,
           sum(f.uncached_input_tokens)::bigint AS uncached_input_tokens,
           sum(f.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(f.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
           sum(f.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
           sum(f.output_tokens)::bigint AS output_tokens,
           sum(f.input_audio_tokens)::bigint AS input_audio_tokens,
           sum(f.output_audio_tokens)::bigint AS output_audio_tokens,
           sum(f.input_image_tokens)::bigint AS input_image_tokens,
           sum(f.output_image_tokens)::bigint AS output_image_tokens,
           sum(f.requests)::bigint AS requests,
           sum(f.web_search_requests)::bigint AS web_search_requests
    FROM aispend._fetch_usage(p_account, p_since, p_until, p_width) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_usage;

    -- OpenRouter reports only its last 30 completed UTC days: older days it no longer sends are history, kept.
    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_usage ON COMMIT DROP AS
    SELECT u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model, u.service_tier,
           u.batch, u.context_window, u.inference_geo
      FROM aispend.usage u
     WHERE u.account = p_account AND u.bucket_start >= p_since AND u.bucket_start < p_until
       AND u.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model,
               u.service_tier, u.batch, u.context_window, u.inference_geo)::text
           NOT IN (SELECT ROW(s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model,
                              s.service_tier, s.batch, s.context_window, s.inference_geo)::text
                     FROM pg_temp.aispend_stage_usage s);
    DELETE FROM aispend.usage u USING pg_temp.aispend_gone_usage g
     WHERE u.account = p_account AND u.bucket_start = g.bucket_start
       AND u.endpoint IS NOT DISTINCT FROM g.endpoint
       AND u.bucket_width IS NOT DISTINCT FROM g.bucket_width
       AND u.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND u.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND u.model IS NOT DISTINCT FROM g.model
       AND u.service_tier IS NOT DISTINCT FROM g.service_tier
       AND u.batch IS NOT DISTINCT FROM g.batch
       AND u.context_window IS NOT DISTINCT FROM g.context_window
       AND u.inference_geo IS NOT DISTINCT FROM g.inference_geo;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.usage AS u
            (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier, batch,
             context_window, inference_geo, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens, output_tokens, input_audio_tokens, output_audio_tokens, input_image_tokens,
             output_image_tokens, requests, web_search_requests)
        SELECT p_account, s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model, s.service_tier,
               s.batch, s.context_window, s.inference_geo, s.uncached_input_tokens, s.cache_read_tokens,
               s.cache_write_5m_tokens, s.cache_write_1h_tokens, s.output_tokens, s.input_audio_tokens,
               s.output_audio_tokens, s.input_image_tokens, s.output_image_tokens, s.requests, s.web_search_requests
        FROM pg_temp.aispend_stage_usage s
        ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE
           SET uncached_input_tokens = excluded.uncached_input_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_5m_tokens = excluded.cache_write_5m_tokens,
               cache_write_1h_tokens = excluded.cache_write_1h_tokens,
               output_tokens = excluded.output_tokens,
               input_audio_tokens = excluded.input_audio_tokens,
               output_audio_tokens = excluded.output_audio_tokens,
               input_image_tokens = excluded.input_image_tokens,
               output_image_tokens = excluded.output_image_tokens,
               requests = excluded.requests,
               web_search_requests = excluded.web_search_requests
         WHERE (u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                u.output_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens,
                u.output_image_tokens, u.requests, u.web_search_requests)
               IS DISTINCT FROM
               (excluded.uncached_input_tokens, excluded.cache_read_tokens, excluded.cache_write_5m_tokens,
                excluded.cache_write_1h_tokens, excluded.output_tokens, excluded.input_audio_tokens,
                excluded.output_audio_tokens, excluded.input_image_tokens, excluded.output_image_tokens,
                excluded.requests, excluded.web_search_requests)
        RETURNING u.xmax = 0 AS is_new, (u.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_usage g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_usage s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_usage s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_usage s));
    DROP TABLE pg_temp.aispend_stage_usage;
    DROP TABLE pg_temp.aispend_gone_usage;
END
$$;

-- Same for the billed costs of the UTC days [p_since, p_until).
CREATE FUNCTION aispend._sync_costs(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_days date[];
BEGIN
    CREATE TEMP TABLE aispend_stage_costs ON COMMIT DROP AS
    SELECT f.bucket_start, coalesce(f.workspace_id, '(default)') AS workspace_id, f.api_key_id, f.line_item,
           f.model, f.token_type, f.service_tier, f.context_window, f.cost_type, f.inference_geo,
           coalesce(pg_catalog.upper(f.currency), 'USD') AS currency, f.quantity_unit,
           sum(f.amount_usd) AS amount_usd, sum(f.quantity) AS quantity, max(f.token_class) AS token_class
    FROM aispend._fetch_costs(p_account, p_since, p_until) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_costs;

    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_costs ON COMMIT DROP AS
    SELECT c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type, c.service_tier,
           c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit
      FROM aispend.costs c
     WHERE c.account = p_account AND c.bucket_start >= p_since AND c.bucket_start < p_until
       AND c.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
               c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit)::text
           NOT IN (SELECT ROW(s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
                              s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.currency,
                              s.quantity_unit)::text
                     FROM pg_temp.aispend_stage_costs s);
    DELETE FROM aispend.costs c USING pg_temp.aispend_gone_costs g
     WHERE c.account = p_account AND c.bucket_start = g.bucket_start
       AND c.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND c.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND c.line_item IS NOT DISTINCT FROM g.line_item
       AND c.model IS NOT DISTINCT FROM g.model
       AND c.token_type IS NOT DISTINCT FROM g.token_type
       AND c.service_tier IS NOT DISTINCT FROM g.service_tier
       AND c.context_window IS NOT DISTINCT FROM g.context_window
       AND c.cost_type IS NOT DISTINCT FROM g.cost_type
       AND c.inference_geo IS NOT DISTINCT FROM g.inference_geo
       AND c.currency IS NOT DISTINCT FROM g.currency
       AND c.quantity_unit IS NOT DISTINCT FROM g.quantity_unit;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.costs AS c
            (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type, service_tier,
             context_window, cost_type, inference_geo, amount_usd, currency, quantity, quantity_unit, token_class)
        SELECT p_account, s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
               s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.amount_usd, s.currency,
               s.quantity, s.quantity_unit, s.token_class
        FROM pg_temp.aispend_stage_costs s
        ON CONFLICT ON CONSTRAINT costs_natural_key DO UPDATE
           SET amount_usd = excluded.amount_usd, quantity = excluded.quantity, token_class = excluded.token_class
         -- compared as text: numeric equality ignores scale (1.50 = 1.5), and the digits as sent are kept
         WHERE c.amount_usd::text <> excluded.amount_usd::text
            OR c.quantity::text IS DISTINCT FROM excluded.quantity::text
            OR c.token_class IS DISTINCT FROM excluded.token_class
        RETURNING c.xmax = 0 AS is_new, (c.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_costs g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_costs s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_costs s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_costs s));
    DROP TABLE pg_temp.aispend_stage_costs;
    DROP TABLE pg_temp.aispend_gone_costs;
END
$$;

-- ---------------------------------------------------------------- windows

-- The window a sync without since/until fetches for one endpoint: the first sync backfills backfill_days
-- (before today, UTC); later ones re-fetch from the earlier of (the end of the last complete bucket) and
-- (today - resync_days). The end is the end of the still-open bucket (it is fetched, not counted as complete).
-- Explicit since/until are aligned down/up to the bucket width; until never goes beyond the open bucket.
CREATE FUNCTION aispend._sync_window(p_account name, p_endpoint text, p_width text, p_backfill_days integer,
                                     p_resync_days integer, p_since timestamptz, p_until timestamptz,
                                     p_now timestamptz,
    OUT w_start timestamptz, OUT w_end timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    w text := CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END;
    v_open_end timestamptz := aispend._utc_add(aispend._bucket_floor(p_now, w), aispend._bucket_step(w));
    v_today timestamptz := aispend._bucket_floor(p_now, '1d');
    v_resume timestamptz;
BEGIN
    w_end := CASE WHEN p_until IS NULL THEN v_open_end ELSE LEAST(aispend._bucket_ceil(p_until, w), v_open_end) END;
    IF p_since IS NOT NULL THEN
        w_start := aispend._bucket_floor(p_since, w);
        RETURN;
    END IF;
    SELECT max(r.complete_through) INTO v_resume
    FROM aispend.sync_runs r
    WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
    IF v_resume IS NULL AND p_endpoint = 'usage' THEN
        SELECT max(u.bucket_start) INTO v_resume FROM aispend.usage u WHERE u.account = p_account;
    ELSIF v_resume IS NULL AND p_endpoint = 'costs' THEN
        SELECT max(c.bucket_start) INTO v_resume FROM aispend.costs c WHERE c.account = p_account;
    END IF;
    IF v_resume IS NULL THEN
        w_start := aispend._utc_add(v_today, pg_catalog.make_interval(days => -p_backfill_days));
    ELSE
        w_start := LEAST(aispend._bucket_floor(v_resume, w),
                         aispend._utc_add(v_today, pg_catalog.make_interval(days => -p_resync_days)));
    END IF;
END
$$;

-- The steps a sync of one account runs, in order: workspaces, api_keys, then usage and costs in chunks of at
-- most one calendar month (UTC) of their windows. An endpoint with nothing to fetch has one row with
-- chunk_from >= chunk_to (the sync says so and skips it). aispend.sync runs these; a background refresh counts
-- them to show its progress.
CREATE FUNCTION aispend._sync_plan(p_account name, p_since timestamptz, p_until timestamptz, p_now timestamptz)
RETURNS TABLE (step integer, endpoint text, chunk_from timestamptz, chunk_to timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_cfg record;
    v_win record;
    v_from timestamptz;
BEGIN
    SELECT * INTO v_cfg FROM aispend._account_settings(p_account);
    step := 0;
    FOREACH endpoint IN ARRAY ARRAY['workspaces', 'api_keys', 'usage', 'costs'] LOOP
        IF endpoint IN ('workspaces', 'api_keys') THEN
            chunk_from := NULL; chunk_to := NULL;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO v_win FROM aispend._sync_window(p_account, endpoint, v_cfg.bucket_width, v_cfg.backfill_days,
                                                      v_cfg.resync_days, p_since, p_until, p_now);
        IF v_win.w_start >= v_win.w_end THEN
            chunk_from := v_win.w_start; chunk_to := v_win.w_end;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT pg_catalog.isfinite(v_win.w_start) OR NOT pg_catalog.isfinite(v_win.w_end) THEN
            RAISE EXCEPTION 'aispend: account %: the % window must be finite', p_account, endpoint
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_from := v_win.w_start;
        WHILE v_from < v_win.w_end LOOP
            chunk_from := v_from;
            chunk_to := LEAST(v_win.w_end, aispend._utc_add(aispend._bucket_floor(v_from, 'month'), interval '1 month'));
            step := step + 1;
            RETURN NEXT;
            v_from := chunk_to;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) IS
    'Internal: the steps (endpoint and month chunk) a sync of the account would run now, in order.';

-- ---------------------------------------------------------------- after the accounts (COMMITs)

-- The alert rules see the new figures: evaluated, committed, then the webhooks posted (73_alerts.sql). Nothing
-- here fails the sync: an error becomes a warning. A role that cannot write alerts (not an admin) skips it.
CREATE PROCEDURE aispend._after_sync()
LANGUAGE plpgsql
AS $$
DECLARE
    v_msg text;
BEGIN
    IF NOT pg_catalog.has_table_privilege('aispend.alerts', 'INSERT') THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM aispend.evaluate_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert rules not evaluated: %', v_msg;
    END;
    COMMIT;
    BEGIN
        PERFORM aispend.deliver_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert webhooks not posted: %', v_msg;
    END;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE aispend._after_sync() IS
    'Internal: the end of a sync: evaluate the alert rules and post their webhooks, warning (never failing) on error.';

-- LISTEN aispend_refresh: a JSON payload at each step of a sync and each state change of a refresh request,
-- delivered when its transaction commits. Names and states only: any role may LISTEN.
CREATE FUNCTION aispend._notify_refresh(payload jsonb) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT pg_catalog.pg_notify('aispend_refresh', payload::text);
END;
COMMENT ON FUNCTION aispend._notify_refresh(jsonb) IS
    'Internal: NOTIFY aispend_refresh with a payload (account, endpoint, run and status of a sync step; or '
    'request, account and state of a refresh request).';

-- ---------------------------------------------------------------- one step (COMMITs)

-- Runs one endpoint for one window chunk: a committed 'running' row first, then the work in a subtransaction,
-- then 'succeeded' (with counts) or 'failed' / 'aborted' (with the error), committed. An error is not raised
-- here but handed back in the INOUT parameters, so the caller can release the account lock before raising it.
CREATE PROCEDURE aispend._sync_step(p_account name, p_provider text, p_endpoint text,
                                    p_since timestamptz, p_until timestamptz, p_width text,
                                    INOUT o_sqlstate text, INOUT o_message text,
                                    INOUT o_detail text, INOUT o_hint text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_run bigint;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_res record;
    v_http bigint;
    v_retries bigint;
    v_bytes bigint;
    v_resume timestamptz;
    v_complete timestamptz;
    v_settled date;
BEGIN
    o_sqlstate := NULL; o_message := NULL; o_detail := NULL; o_hint := NULL;
    INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at)
    VALUES (p_account, p_endpoint, p_since, p_until,
            CASE WHEN p_endpoint = 'usage' THEN p_width WHEN p_endpoint = 'costs' THEN '1d' END, v_t0)
    RETURNING id INTO v_run;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'running'));
    COMMIT;

    BEGIN
        CASE p_endpoint
            WHEN 'workspaces' THEN
                SELECT * INTO v_res FROM aispend._sync_workspaces(p_account, p_provider, v_t0);
            WHEN 'api_keys' THEN
                SELECT * INTO v_res FROM aispend._sync_api_keys(p_account, p_provider, v_t0);
            WHEN 'usage' THEN
                SELECT * INTO v_res FROM aispend._sync_usage(p_account, p_provider, p_since, p_until, p_width, v_t0);
            WHEN 'costs' THEN
                SELECT * INTO v_res FROM aispend._sync_costs(p_account, p_provider, p_since, p_until, v_t0);
        END CASE;
        SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes FROM aispend._last_fetch_stats() s;
        -- The dashboard's rollups of these days change in the same transaction as the facts. A large change
        -- is analyzed first: with the statistics of a much smaller table, the cost model's joins are planned
        -- as nested loops, and a backfill month of a large organisation then takes minutes instead of seconds.

        -- Complete through the last closed bucket, if this window continues the complete history (a window
        -- that starts after it would leave a gap, which the next sync must still fetch).
        IF p_endpoint IN ('usage', 'costs') THEN
            SELECT pg_catalog.max(r.complete_through) INTO v_resume FROM aispend.sync_runs r
            WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
            IF v_resume IS NULL OR p_since <= v_resume THEN
                v_complete := LEAST(p_until, GREATEST(p_since, aispend._bucket_floor(v_t0,
                                  CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END)));
            END IF;
        END IF;

        -- The time is read first: Citus refuses volatile functions in UPDATEs of distributed tables.
        v_finished := pg_catalog.clock_timestamp();
        v_settled := aispend.settled_before(p_account);
        UPDATE aispend.sync_runs r
           SET status = 'succeeded', finished_at = v_finished, complete_through = v_complete,
               rows_fetched = v_res.fetched, rows_inserted = v_res.inserted, rows_updated = v_res.updated,
               rows_deleted = v_res.deleted, http_requests = v_http, retries = v_retries, bytes = v_bytes
         WHERE r.account = p_account AND r.id = v_run;
        IF p_endpoint = 'costs' THEN
            PERFORM aispend._mark_settlement_moved(p_account, v_settled, aispend.settled_before(p_account));
        END IF;
        -- The facts' triggers (and, for costs, the run that settles its days) marked the days that changed; the
        -- dashboard's rollups of those days change in this transaction. A large change is analyzed first: with
        -- the statistics of a much smaller table, the cost model's joins are planned as nested loops, and a
        -- backfill month of a large organisation then takes minutes instead of seconds.
        IF p_endpoint IN ('usage', 'costs') THEN
            IF v_res.inserted + v_res.deleted >= 10000 THEN
                IF p_endpoint = 'usage' THEN ANALYZE aispend.usage; ELSE ANALYZE aispend.costs; END IF;
            END IF;
            PERFORM aispend._reroll(p_account);
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS o_sqlstate = RETURNED_SQLSTATE, o_message = MESSAGE_TEXT,
                                o_detail = PG_EXCEPTION_DETAIL, o_hint = PG_EXCEPTION_HINT;
    END;

    IF o_sqlstate IS NOT NULL THEN
        BEGIN
            SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes
            FROM aispend._last_fetch_stats() s;
        EXCEPTION WHEN OTHERS THEN
            v_http := NULL;
        END;
        v_finished := pg_catalog.clock_timestamp();
        UPDATE aispend.sync_runs r
           SET status = CASE WHEN o_sqlstate = '57014' THEN 'aborted' ELSE 'failed' END,
               finished_at = v_finished, http_requests = v_http, retries = v_retries,
               bytes = v_bytes, error_sqlstate = o_sqlstate, error_message = o_message,
               error_detail = NULLIF(o_detail, ''), error_hint = NULLIF(o_hint, '')
         WHERE r.account = p_account AND r.id = v_run;
        PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
            'run', v_run, 'status', CASE o_sqlstate WHEN '57014' THEN 'aborted' ELSE 'failed' END));
        COMMIT;
        o_detail := pg_catalog.concat_ws(E'\n', NULLIF(o_detail, ''),
            pg_catalog.format('aispend: account %s, %s%s (aispend.sync_runs id %s); nothing of this chunk was stored.',
                              p_account, p_endpoint, aispend._fmt_window(p_since, p_until), v_run));
        RETURN;
    END IF;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'succeeded'));
    COMMIT;
    RAISE NOTICE '%', pg_catalog.format('aispend: %s %s%s: %s rows (+%s ~%s -%s) in %s s', p_account, p_endpoint,
        aispend._fmt_window(p_since, p_until), v_res.fetched, v_res.inserted, v_res.updated, v_res.deleted,
        pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - v_t0)::numeric, 2));
END
$$;

-- ---------------------------------------------------------------- the procedure

CREATE PROCEDURE aispend.sync(account name DEFAULT NULL, since timestamptz DEFAULT NULL,
                              until timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_only name := account;
    v_since timestamptz := since;
    v_until timestamptz := until;
    v_accounts name[];
    v_acct name;
    v_cfg record;
    v_now timestamptz;
    v_step record;
    v_state text; v_msg text; v_detail text; v_hint text;
    v_first_state text; v_first_msg text; v_first_detail text; v_first_hint text;
    v_failed name[] := '{}';
    v_mine boolean;
BEGIN
    IF NOT pg_catalog.isfinite(coalesce(v_since, '2000-01-01'::timestamptz))
       OR NOT pg_catalog.isfinite(coalesce(v_until, '2000-01-01'::timestamptz)) THEN
        RAISE EXCEPTION 'aispend: since and until must be finite times' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_since IS NOT NULL AND v_until IS NOT NULL AND v_since >= v_until THEN
        RAISE EXCEPTION 'aispend: since (%) must be before until (%)', v_since, v_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_only IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE NOTICE 'aispend: no accounts to sync (no server of the foreign-data wrapper aispend)';
            RETURN;
        END IF;
    ELSE
        PERFORM aispend._account_settings(v_only);   -- raises 42704 for an unknown account
        v_accounts := ARRAY[v_only];
    END IF;

    FOREACH v_acct IN ARRAY v_accounts LOOP
        <<one_account>>
        DECLARE
            v_cfg_ok boolean := true;
        BEGIN
            BEGIN
                SELECT * INTO v_cfg FROM aispend._account_settings(v_acct);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                        v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
                v_cfg_ok := false;
            END;
            IF NOT v_cfg_ok THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
                END IF;
                RAISE WARNING 'aispend: account % skipped: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                EXIT one_account;
            END IF;

            PERFORM aispend._remember_provider(v_acct, v_cfg.provider);

            -- One sync per account at a time (a session-level lock: it survives our COMMITs).
            v_mine := EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                              WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                                AND l.classid = 1634300784::oid AND l.objid = aispend._lock_key(v_acct)::oid
                                AND l.objsubid = 2);
            IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(1634300784, aispend._lock_key(v_acct)) THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION 'aispend: a sync of account % is already running', v_acct
                        USING ERRCODE = 'lock_not_available',
                              HINT = 'Wait for it to finish (SELECT * FROM aispend.freshness), or cancel it: '
                                     'SELECT pg_cancel_backend(pid) FROM pg_locks WHERE locktype = ''advisory'' '
                                     'AND classid = 1634300784 AND objid = aispend._lock_key(' ||
                                     pg_catalog.quote_literal(v_acct) || ')::oid;';
                END IF;
                RAISE WARNING 'aispend: account % skipped: a sync of it is already running', v_acct;
                EXIT one_account;
            END IF;

            -- Runs still 'running' belong to a sync that died (crash, cancel, lost session): we hold the lock.
            v_now := pg_catalog.clock_timestamp();
            UPDATE aispend.sync_runs r
               SET status = 'aborted', finished_at = v_now,
                   error_message = coalesce(r.error_message,
                                            'interrupted: the sync was cancelled or its session ended before it finished')
             WHERE r.account = v_acct AND r.status = 'running';
            COMMIT;

            v_now := pg_catalog.clock_timestamp();
            FOR v_step IN SELECT * FROM aispend._sync_plan(v_acct, v_since, v_until, v_now) p ORDER BY p.step LOOP
                IF v_step.chunk_from >= v_step.chunk_to THEN
                    RAISE NOTICE 'aispend: % %: nothing to sync in%', v_acct, v_step.endpoint,
                        aispend._fmt_window(v_step.chunk_from, v_step.chunk_to);
                    CONTINUE;
                END IF;
                CALL aispend._sync_step(v_acct, v_cfg.provider, v_step.endpoint, v_step.chunk_from, v_step.chunk_to,
                                        v_cfg.bucket_width, v_state, v_msg, v_detail, v_hint);
                EXIT WHEN v_state IS NOT NULL;
            END LOOP;

            PERFORM pg_catalog.pg_advisory_unlock(1634300784, aispend._lock_key(v_acct));

            IF v_state IS NOT NULL THEN
                IF v_only IS NOT NULL OR v_state = '57014' THEN
                    IF v_state <> '57014' THEN
                        CALL aispend._after_sync();
                    END IF;
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail,
                                          HINT = coalesce(NULLIF(v_hint, ''),
                                                          'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
                END IF;
                RAISE WARNING 'aispend: sync of account % failed: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                v_state := NULL;
            END IF;
        END one_account;
    END LOOP;

    CALL aispend._after_sync();
    IF v_first_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = v_first_state, MESSAGE = v_first_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(v_first_detail, ''),
                pg_catalog.format('aispend: %s of %s accounts failed: %s; the others were synced.',
                                  pg_catalog.cardinality(v_failed), pg_catalog.cardinality(v_accounts),
                                  pg_catalog.array_to_string(v_failed, ', '))),
            HINT = coalesce(NULLIF(v_first_hint, ''), 'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
    END IF;
END
$$;
COMMENT ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) IS
    'Syncs workspaces, API keys, usage and costs of one account (default: every aispend server) for a window '
    '(default: backfill on the first sync, then resync_days plus everything since the last complete bucket). '
    'COMMITs per endpoint and month chunk; CALL it outside a transaction block. See docs/sync.md.';

CREATE PROCEDURE aispend.refresh()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL aispend.sync();
END
$$;
COMMENT ON PROCEDURE aispend.refresh() IS
    'The dashboard''s "Refresh Data": CALL aispend.sync() for every account, now.';

-- ---------------------------------------------------------------- freshness

-- Per account and endpoint, in PL/pgSQL: on Citus each account's runs are read by a query of its shard, and
-- what only the coordinator knows (the sync's lock, the refresh workers) is asked here, not on the shard. The
-- provider's error text is read only for a role that may read it (admins); readers see the SQLSTATE.
CREATE FUNCTION aispend._freshness_rows()
RETURNS TABLE (account name, provider text, endpoint text, complete_through timestamptz,
               last_success_at timestamptz, last_status text, last_attempt_at timestamptz,
               last_error_at timestamptz, last_error_sqlstate text, last_error_message text, running boolean,
               running_since timestamptz, server_exists boolean, refresh_request bigint, refresh_state text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    servers name[] := ARRAY(SELECT s.srvname FROM aispend._servers() s);
    read_errors boolean := pg_catalog.has_column_privilege('aispend.sync_runs', 'error_message', 'SELECT');
    a record;
    q record;
    e record;
    locked boolean;
BEGIN
    FOR a IN
        SELECT x.account, x.provider, x.server_exists
        FROM (SELECT s.srvname AS account, aispend._option(s.srvoptions, 'provider') AS provider,
                     true AS server_exists
              FROM aispend._servers() s
              UNION ALL
              -- a dropped server's runs (its data stays until aispend.forget_account)
              SELECT o.account, NULL, false
              FROM (SELECT DISTINCT r.account FROM aispend.sync_runs r WHERE r.account <> ALL (servers)) o) x
        ORDER BY x.account
    LOOP
        locked := aispend._sync_lock_held(a.account);
        refresh_request := NULL;
        refresh_state := NULL;
        FOR q IN SELECT x.id, x.state, x.worker_pid, x.requested_by, x.requested_at FROM aispend.refresh_requests x
                  WHERE x.account = a.account AND x.state IN ('queued', 'running') ORDER BY x.id LOOP
            IF aispend._refresh_state(q.state, q.worker_pid, q.requested_by, q.requested_at) IN ('queued', 'running') THEN
                refresh_request := q.id;
                refresh_state := q.state;
                EXIT;
            END IF;
        END LOOP;
        FOR e IN
            SELECT x.endpoint, ok.complete_through, ok.last_success_at, last.status, last.started_at,
                   err.id AS error_run, err.finished_at, err.error_sqlstate, run.started_at AS running_since
            FROM (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS x(ord, endpoint)
            LEFT JOIN LATERAL (
                SELECT max(r.complete_through) AS complete_through, max(r.finished_at) AS last_success_at
                FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'succeeded') ok ON true
            LEFT JOIN LATERAL (
                SELECT r.status, r.started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last ON true
            LEFT JOIN LATERAL (
                SELECT r.id, r.finished_at, r.error_sqlstate FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status IN ('failed', 'aborted')
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) err ON true
            LEFT JOIN LATERAL (
                SELECT min(r.started_at) AS started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'running' AND locked) run ON true
            ORDER BY x.ord
        LOOP
            account := a.account;
            provider := a.provider;
            endpoint := e.endpoint;
            complete_through := e.complete_through;
            last_success_at := e.last_success_at;
            last_status := e.status;
            last_attempt_at := e.started_at;
            last_error_at := e.finished_at;
            last_error_sqlstate := e.error_sqlstate;
            last_error_message := NULL;
            IF read_errors AND e.error_run IS NOT NULL THEN
                SELECT r.error_message INTO last_error_message FROM aispend.sync_runs r
                 WHERE r.account = a.account AND r.id = e.error_run;
            END IF;
            running := e.running_since IS NOT NULL;
            running_since := e.running_since;
            server_exists := a.server_exists;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._freshness_rows() IS 'Internal: the rows of aispend.freshness.';

CREATE VIEW aispend.freshness AS
SELECT f.account, f.provider COLLATE "C" AS provider, f.endpoint, f.complete_through, f.last_success_at,
       f.last_status, f.last_attempt_at, f.last_error_at, f.last_error_sqlstate, f.last_error_message, f.running,
       f.running_since, f.server_exists, f.refresh_request, f.refresh_state
FROM aispend._freshness_rows() f;
COMMENT ON VIEW aispend.freshness IS
    'Per account and endpoint: data complete through which bucket, last success, last error, and whether a sync is running now.';
COMMENT ON COLUMN aispend.freshness.complete_through IS
    'End of the last closed bucket fetched (usage, costs); later buckets may be partial. Costs settle for days after.';
COMMENT ON COLUMN aispend.freshness.last_status IS 'Status of the latest attempt: succeeded, failed, aborted or running.';
COMMENT ON COLUMN aispend.freshness.last_error_message IS 'Message of the latest failed or aborted attempt (it may be older than the last success).';
COMMENT ON COLUMN aispend.freshness.running IS 'A sync of this account holds its lock and is working on this endpoint.';
COMMENT ON COLUMN aispend.freshness.refresh_request IS
    'The background refresh of this account queued or running now (aispend.request_refresh), if any.';
COMMENT ON COLUMN aispend.freshness.refresh_state IS 'Its state: queued or running (aispend.refresh_progress has the detail).';
COMMENT ON COLUMN aispend.freshness.server_exists IS 'false: the server was dropped; aispend.forget_account removes its data.';

REVOKE ALL ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend.refresh() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._after_sync() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._sync_step(name, text, text, timestamptz, timestamptz, text, text, text, text, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_workspaces(name, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_api_keys(name, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_usage(name, text, timestamptz, timestamptz, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_costs(name, text, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._note_fact_dimensions(name, text, timestamptz, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_refresh(jsonb) FROM PUBLIC;

-- ---- src/sql/35_schedule.sql
-- 35_schedule.sql: pg_cron helpers. pg_cron is recommended, not required: everything below reaches it through
-- dynamic SQL, so the extension installs (and aispend.sync works) without it. See docs/scheduling.md.

-- Raises a clear error when pg_cron cannot be used from this database.
CREATE FUNCTION aispend._require_cron(job_name text, cron_expression text, command text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_cron_db text;
BEGIN
    IF pg_catalog.to_regnamespace('cron') IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        v_cron_db := pg_catalog.current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        v_cron_db := NULL;
    END;
    IF v_cron_db IS NULL OR v_cron_db = '' THEN
        RAISE EXCEPTION 'aispend: pg_cron is not available'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Install pg_cron (Debian: postgresql-15-cron), add it to shared_preload_libraries, set '
                         'cron.database_name, restart PostgreSQL, then CREATE EXTENSION pg_cron in that database. '
                         'See docs/scheduling.md.';
    END IF;
    RAISE EXCEPTION 'aispend: pg_cron is not installed in database %', pg_catalog.current_database()
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = pg_catalog.format('pg_cron runs in database %s (cron.database_name).', v_cron_db),
              HINT = CASE WHEN v_cron_db = pg_catalog.current_database()
                          THEN 'CREATE EXTENSION pg_cron; (as a superuser), then call this again.'
                          ELSE pg_catalog.format(
                              'Connect to database %s and run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                              v_cron_db, job_name, cron_expression, command,
                              pg_catalog.current_database()) END;
END
$$;

-- A pg_cron job running command (created or replaced); schedule_sync and schedule_alerts name theirs.
CREATE FUNCTION aispend._schedule(job_name text, cron_expression text, command text, database name, username name)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_db name := coalesce(_schedule.database, pg_catalog.current_database());
    v_user name := coalesce(_schedule.username, CURRENT_USER);
    v_cmd text := command;
    v_job bigint;
    v_exists boolean;
BEGIN
    IF cron_expression IS NULL OR job_name IS NULL THEN
        RAISE EXCEPTION 'aispend: cron_expression and job_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM aispend._require_cron(job_name, cron_expression, command);
    -- pg_cron before 1.6.3 cannot move an existing job name to another database: unschedule, then schedule.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = $2)'
        INTO v_exists USING job_name, v_user::text;
    IF v_exists THEN
        PERFORM aispend.unschedule_sync(job_name, v_user);
    END IF;
    IF v_db = pg_catalog.current_database() AND v_user = CURRENT_USER THEN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO v_job USING job_name, cron_expression, v_cmd;
    ELSE
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO v_job
            USING job_name, cron_expression, v_cmd, v_db::text, v_user::text;
    END IF;
    RAISE NOTICE 'aispend: pg_cron job % (id %) runs "%" in database % as % at "%" (UTC)',
        job_name, v_job, v_cmd, v_db, v_user, cron_expression;
    RETURN v_job;
END
$$;
COMMENT ON FUNCTION aispend._schedule(text, text, text, name, name) IS
    'Internal: creates (or replaces) a pg_cron job running a command in a database as a role; returns the job id.';

CREATE FUNCTION aispend.schedule_sync(cron_expression text DEFAULT '0 * * * *',
                                      job_name text DEFAULT 'aispend-sync',
                                      database name DEFAULT NULL,
                                      username name DEFAULT NULL)
RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend._schedule(schedule_sync.job_name, schedule_sync.cron_expression, 'CALL aispend.sync()',
                             schedule_sync.database, schedule_sync.username);
END;
COMMENT ON FUNCTION aispend.schedule_sync(text, text, name, name) IS
    'Creates (or replaces) the pg_cron job that runs CALL aispend.sync(); database/username default to the current '
    'ones (another database: call it from pg_cron''s database, where cron.schedule_in_database is used). Returns the job id.';

CREATE FUNCTION aispend.unschedule_sync(job_name text DEFAULT 'aispend-sync', username name DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_user name := coalesce(unschedule_sync.username, CURRENT_USER);
    v_job bigint;
BEGIN
    PERFORM aispend._require_cron(job_name, '0 * * * *', 'CALL aispend.sync()');
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND username = $2 ORDER BY jobid LIMIT 1'
        INTO v_job USING job_name, v_user::text;
    IF v_job IS NULL THEN
        RAISE NOTICE 'aispend: no pg_cron job named % for role %', job_name, v_user;
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1::bigint)' USING v_job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend.unschedule_sync(text, name) IS
    'Removes the pg_cron job created by aispend.schedule_sync; false (with a notice) when there is none.';

REVOKE ALL ON FUNCTION aispend._require_cron(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._schedule(text, text, text, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.schedule_sync(text, text, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.unschedule_sync(text, name) FROM PUBLIC;

-- ---- src/sql/37_refresh.sql
-- 37_refresh.sql: "Refresh Data" from any client (issue 13). SELECT aispend.request_refresh() returns at once
-- with a request id, from any transaction or function; background workers (src/pg/refresh_worker.cpp), started
-- on demand and connected as the requesting role, sync the accounts, one account per worker at a time, up to
-- aispend.refresh_workers at once. aispend.refresh_progress shows each request, account and endpoint as it
-- goes; LISTEN aispend_refresh is told of each step and state change; aispend.cancel_refresh(id) stops it.
--
-- A request's rows (20_schema.sql: aispend.refresh_requests) go queued -> running -> succeeded, failed or
-- cancelled. The workers wait for the requesting transaction to end, then each runs CALL aispend._refresh_work()
-- outside any transaction block (the sync COMMITs), taking its role's queued rows in order until none is left.

CREATE FUNCTION aispend._start_refresh_workers(wanted integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'aispend_start_refresh_workers' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._start_refresh_workers(integer) IS
    'Internal: starts up to min(wanted, aispend.refresh_workers) background workers connected to this database as '
    'the current role (which must be able to log in); each waits for this transaction to end, then CALLs '
    'aispend._refresh_work(). Returns how many started; raises 53400 when none could (max_worker_processes).';

-- A request's row changed state: tell the listeners (on commit).
CREATE FUNCTION aispend._notify_request(p_id bigint, p_account name, p_state text) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT aispend._notify_refresh(pg_catalog.jsonb_build_object('request', p_id, 'account', p_account,
                                                                 'state', p_state));
END;
COMMENT ON FUNCTION aispend._notify_request(bigint, name, text) IS
    'Internal: NOTIFY aispend_refresh of a refresh request''s new state.';

-- Marks the requests whose worker is gone failed (aispend._refresh_state), so that no row stays running.
-- SECURITY DEFINER: it closes other roles' requests too (row-level security lets a role change only its own),
-- and only those whose worker is gone. The candidates are read first and checked here: on a Citus cluster the
-- workers' processes are the coordinator's, and an UPDATE of a distributed table may call no volatile function.
CREATE FUNCTION aispend._refresh_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_now timestamptz := pg_catalog.clock_timestamp();
    n integer := 0;
BEGIN
    FOR v IN SELECT q.id, q.account, q.state, q.worker_pid, q.requested_by, q.requested_at
               FROM aispend.refresh_requests q
              WHERE q.state IN ('queued', 'running')
              ORDER BY q.account, q.id LOOP
        CONTINUE WHEN aispend._refresh_state(v.state, v.worker_pid, v.requested_by, v.requested_at) <> 'failed';
        UPDATE aispend.refresh_requests q
           SET state = 'failed', finished_at = v_now, error_sqlstate = '57P01',
               error_message = CASE v.state
                   WHEN 'running' THEN 'the refresh''s worker ended without recording an outcome (killed, or a crash)'
                   ELSE 'no worker took the request (it could not connect as its role, or was killed)' END
         WHERE q.account = v.account AND q.id = v.id AND q.state = v.state
           AND q.worker_pid IS NOT DISTINCT FROM v.worker_pid;
        IF FOUND THEN
            PERFORM aispend._notify_request(v.id, v.account, 'failed');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._refresh_sweep() IS
    'Internal: marks failed the refresh requests left running or queued by a worker that is gone; returns how many.';

-- What every worker CALLs. A procedure (it COMMITs), so it cannot pin search_path: every name is qualified.
CREATE PROCEDURE aispend._refresh_work()
LANGUAGE plpgsql
AS $$
DECLARE
    c record;
    v_id bigint;
    v_account name;
    v_since timestamptz;
    v_steps jsonb;
    -- the time and this process, read here and not in the UPDATEs: on a Citus cluster those run on the shards
    v_now timestamptz;
    v_pid integer := pg_catalog.pg_backend_pid();
BEGIN
    LOOP
        -- The role's oldest queued account; a request another worker holds is skipped, not waited for. Each
        -- candidate's row is locked on its own (one shard on Citus, which locks no rows across shards).
        v_id := NULL;
        FOR c IN SELECT n.account, n.id FROM aispend.refresh_requests n
                  WHERE n.state = 'queued' AND n.requested_by = CURRENT_USER
                  ORDER BY n.id, n.account LOOP
            SELECT q.id, q.account, q.since INTO v_id, v_account, v_since FROM aispend.refresh_requests q
             WHERE q.account = c.account AND q.id = c.id AND q.state = 'queued'
               FOR UPDATE SKIP LOCKED;
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
        EXIT WHEN v_id IS NULL;
        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'running', started_at = v_now, worker_pid = v_pid
         WHERE q.account = v_account AND q.id = v_id;
        PERFORM aispend._notify_request(v_id, v_account, 'running');
        COMMIT;

        -- The steps to come, for the progress (an error here, e.g. the server dropped meanwhile, fails the request).
        v_steps := (SELECT pg_catalog.jsonb_object_agg(p.endpoint, p.n)
                      FROM (SELECT s.endpoint,
                                   pg_catalog.count(*) FILTER (WHERE NOT s.chunk_from >= s.chunk_to
                                                                  OR s.chunk_from IS NULL) AS n
                              FROM aispend._sync_plan(v_account, v_since, NULL, pg_catalog.clock_timestamp()) s
                             GROUP BY s.endpoint) p);
        UPDATE aispend.refresh_requests q SET steps_planned = v_steps WHERE q.account = v_account AND q.id = v_id;
        COMMIT;

        -- A sync of the account already running (a scheduled one, a CALL) is waited for, not failed on: the sync
        -- then sees it holds the account's lock, and releases it when done.
        PERFORM pg_catalog.pg_advisory_lock(1634300784, aispend._lock_key(v_account));
        CALL aispend.sync(v_account, v_since);

        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'succeeded', finished_at = v_now
         WHERE q.account = v_account AND q.id = v_id AND q.state = 'running';
        PERFORM aispend._notify_request(v_id, v_account, 'succeeded');
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE aispend._refresh_work() IS
    'Internal: run by each background refresh worker: takes the role''s queued refresh requests one account at a '
    'time (running, CALL aispend.sync, succeeded) until none is left. An error propagates to the worker, which '
    'records it (aispend._refresh_failed) and CALLs again.';

-- Called by a worker, in a new transaction, after the sync of the account in hand failed and was rolled back.
CREATE FUNCTION aispend._refresh_failed(p_sqlstate text, p_message text, p_detail text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_marked boolean := false;
    -- read here, not in the UPDATE: on a Citus cluster it runs on the shards
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_pid integer := pg_catalog.pg_backend_pid();
    v_role name := CURRENT_USER;
    v_state text := CASE WHEN p_sqlstate = '57014' THEN 'cancelled' ELSE 'failed' END;
BEGIN
    FOR v IN
        UPDATE aispend.refresh_requests q
           SET state = v_state, finished_at = v_now, error_sqlstate = p_sqlstate, error_message = p_message,
               error_detail = NULLIF(p_detail, '')
         WHERE q.state = 'running' AND q.worker_pid = v_pid AND q.requested_by = v_role
        RETURNING q.id, q.account, q.state
    LOOP
        PERFORM aispend._notify_request(v.id, v.account, v.state);
        v_marked := true;
    END LOOP;
    RETURN v_marked;
END
$$;
COMMENT ON FUNCTION aispend._refresh_failed(text, text, text) IS
    'Internal: a background worker records how the refresh request it was running ended in error (57014: '
    'cancelled); false when it was running none.';

-- ---------------------------------------------------------------- the public API

CREATE FUNCTION aispend.request_refresh(accounts name[] DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id bigint;
    v_accounts name[];
    v_acct name;
    v_missing name[] := '{}';
    v_active record;
    v_queued integer;
BEGIN
    -- On a Citus cluster the workers run on the coordinator, where the requests are watched (aispend._refresh_live)
    IF aispend._on_citus_worker() THEN
        RAISE EXCEPTION 'aispend: request a refresh on the Citus coordinator, not on a worker node'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Connect to the coordinator and call aispend.request_refresh() there: docs/scaling.md.';
    END IF;
    IF since IS NOT NULL AND (since >= pg_catalog.clock_timestamp() OR NOT pg_catalog.isfinite(since)) THEN
        RAISE EXCEPTION 'aispend: since (%) must be a time in the past', since USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF accounts IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no accounts to refresh (no server of the foreign-data wrapper aispend)'
                USING ERRCODE = 'no_data_found', HINT = 'Create one first: docs/accounts.md.';
        END IF;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT a ORDER BY a) INTO v_accounts FROM pg_catalog.unnest(accounts) a
         WHERE a IS NOT NULL;
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no account named' USING ERRCODE = 'null_value_not_allowed',
                HINT = 'Pass accounts => NULL for every account, or ARRAY[''name''].';
        END IF;
    END IF;
    -- Each account exists (42704 otherwise) and this role has a key for it: refused now, not in the worker.
    FOREACH v_acct IN ARRAY v_accounts LOOP
        PERFORM aispend._account_settings(v_acct);
        IF NOT coalesce((SELECT k.has_key FROM pg_catalog.pg_foreign_server s
                                     CROSS JOIN LATERAL aispend._key_status(s.oid) k
                                     WHERE s.srvname = v_acct), false) THEN
            v_missing := v_missing || v_acct;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'aispend: role % has no admin key for account %', CURRENT_USER,
                        pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A background refresh runs as the role that requests it, with that role''s keys.',
                  HINT = 'Give the role a key (CREATE USER MAPPING FOR ... SERVER ... OPTIONS (admin_key ...)), '
                         'or name only the accounts it has keys for: docs/accounts.md.';
    END IF;

    PERFORM aispend._refresh_sweep();
    v_id := pg_catalog.nextval('aispend.refresh_request_ids');
    FOREACH v_acct IN ARRAY v_accounts LOOP
        -- Two requests for one account at once: the second waits here for the first's transaction, then joins.
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300786, aispend._lock_key(v_acct));
        SELECT q.id, q.since, q.state INTO v_active FROM aispend.refresh_requests q
         WHERE q.account = v_acct AND q.state IN ('queued', 'running')
         ORDER BY q.id LIMIT 1;
        IF FOUND AND NOT (since IS NULL OR coalesce(since >= v_active.since, false)) THEN
            RAISE EXCEPTION 'aispend: account % is already being refreshed (request %) from a later start', v_acct,
                            v_active.id
                USING ERRCODE = 'lock_not_available',
                      HINT = pg_catalog.format('Request again when it ends, or cancel it: SELECT aispend.cancel_refresh(%s);',
                                               v_active.id);
        END IF;
        IF FOUND THEN
            INSERT INTO aispend.refresh_requests (id, account, since, state, joined_request)
            VALUES (v_id, v_acct, since, 'joined', v_active.id);
            PERFORM aispend._notify_request(v_id, v_acct, 'joined');
        ELSE
            INSERT INTO aispend.refresh_requests (id, account, since) VALUES (v_id, v_acct, since);
            PERFORM aispend._notify_request(v_id, v_acct, 'queued');
        END IF;
    END LOOP;

    -- Workers for the role's queued accounts; they take queued requests of the role, so none is left waiting.
    SELECT pg_catalog.count(*) INTO v_queued FROM aispend.refresh_requests q
     WHERE q.state = 'queued' AND q.requested_by = CURRENT_USER;
    -- Workers already running for the role count against aispend.refresh_workers (the library is loaded: its
    -- _key_status ran above); one is started anyway, to wait for this transaction's requests.
    IF v_queued > 0 THEN
        PERFORM aispend._start_refresh_workers(GREATEST(1, LEAST(v_queued,
            pg_catalog.current_setting('aispend.refresh_workers')::integer
            - (SELECT pg_catalog.count(*)::integer FROM aispend._refresh_workers(CURRENT_USER)))));
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION aispend.request_refresh(name[], timestamptz) IS
    'The dashboard''s "Refresh Data" from any client: queues a sync of the accounts (default: all) and returns its '
    'request id at once; background workers running as this role sync them, up to aispend.refresh_workers '
    'accounts at a time, once this transaction commits. An account already being refreshed is joined. Progress: '
    'aispend.refresh_progress, LISTEN aispend_refresh. See docs/sync.md.';

CREATE FUNCTION aispend.cancel_refresh(request bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    a record;
    v record;
    v_now timestamptz;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found',
            HINT = 'SELECT DISTINCT request, state FROM aispend.refresh_progress;';
    END IF;
    -- The row lock keeps a worker from finishing this account and starting the next one under our cancel.
    -- Row-level security leaves out the rows of roles this one is not a member of.
    -- (Each row is locked on its own: one shard on Citus, which locks no rows across shards.)
    FOR a IN SELECT q.account FROM aispend.refresh_requests q
              WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')
              ORDER BY q.account
    LOOP
        SELECT q.* INTO v FROM aispend.refresh_requests q
         WHERE q.account = a.account AND q.id = request AND q.state IN ('queued', 'running', 'joined')
           FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        IF v.state = 'running' THEN
            -- The worker rolls the step back and records the request cancelled itself.
            -- only that role's live worker: a pid left by a dead one may belong to another process by now
            IF NOT aispend._refresh_worker_alive(v.requested_by, v.worker_pid)
               OR NOT pg_catalog.pg_cancel_backend(v.worker_pid) THEN
                RAISE WARNING 'aispend: the worker of request % (account %) is gone', request, v.account;
            END IF;
        ELSE
            v_now := pg_catalog.clock_timestamp();   -- not in the UPDATE, which runs on a shard on Citus
            UPDATE aispend.refresh_requests q
               SET state = 'cancelled', finished_at = v_now, error_sqlstate = '57014',
                   error_message = CASE v.state WHEN 'queued' THEN 'cancelled before it started'
                                   ELSE pg_catalog.format('cancelled; request %s, which it had joined, goes on',
                                                          v.joined_request) END
             WHERE q.account = v.account AND q.id = v.id;
            PERFORM aispend._notify_request(v.id, v.account, 'cancelled');
        END IF;
        n := n + 1;
    END LOOP;
    IF n = 0 AND EXISTS (SELECT 1 FROM aispend.refresh_requests q
                          WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')) THEN
        RAISE EXCEPTION 'aispend: refresh request % is another role''s', request
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the role that requested it (or a member of that role) may cancel it.';
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend.cancel_refresh(bigint) IS
    'Cancels a refresh request: its queued accounts at once, its running ones by cancelling their worker''s '
    'statement (the step in flight rolls back, as when a sync is cancelled). Returns how many accounts it '
    'cancelled; a joined account stops sharing the other request, which goes on. Only the requesting role (or a '
    'member of it) may.';

-- ---------------------------------------------------------------- progress

CREATE VIEW aispend.refresh_progress AS
WITH req AS (
    SELECT r.id AS request, r.account, r.requested_by, r.requested_at, r.since,
           CASE WHEN r.state = 'joined' THEN x.id END AS joined_request,
           aispend._refresh_state_of(x.state, x.worker_pid, x.requested_by, x.requested_at, l.pids, l.roles,
                                     l.at) AS state,
           x.started_at, x.finished_at, x.steps_planned, x.error_sqlstate, l.at
    FROM aispend.refresh_requests r
    JOIN aispend.refresh_requests x
      ON x.account = r.account AND x.id = CASE WHEN r.state = 'joined' THEN r.joined_request ELSE r.id END
    -- the live workers and the time, read once (on Citus, on the coordinator, where the workers run: the subquery,
    -- kept apart by OFFSET 0, is planned there)
    CROSS JOIN (SELECT w.pids, w.roles, w.at FROM aispend._refresh_live() w OFFSET 0) l
), steps AS (
    SELECT req.*, e.ord, e.endpoint,
           (req.steps_planned ->> e.endpoint)::integer AS steps_planned_ep,
           s.steps_done, s.busy, s.in_flight, s.failed, s.rows_fetched, s.http_requests, s.retries
    FROM req
    CROSS JOIN (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS e(ord, endpoint)
    LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded')::integer AS steps_done,
               pg_catalog.bool_or(r.status = 'running') AS busy,
               pg_catalog.max(CASE WHEN r.status = 'running'
                                   THEN NULLIF(pg_catalog.ltrim(aispend._fmt_window(r.window_start, r.window_end)), '')
                              END) AS in_flight,
               pg_catalog.bool_or(r.status IN ('failed', 'aborted')) AS failed,
               pg_catalog.sum(r.rows_fetched) AS rows_fetched, pg_catalog.sum(r.http_requests) AS http_requests,
               pg_catalog.sum(r.retries) AS retries
        FROM aispend.sync_runs r
        WHERE r.account = req.account AND r.endpoint = e.endpoint AND r.started_at >= req.started_at
          AND (req.finished_at IS NULL OR r.started_at <= req.finished_at)) s ON true
)
SELECT st.request, st.account, st.requested_by, st.state, st.endpoint,
       CASE WHEN st.busy THEN CASE WHEN st.state = 'running' THEN 'running' ELSE 'interrupted' END
            WHEN st.failed THEN 'failed'
            WHEN st.steps_planned_ep = 0 THEN 'nothing to fetch'
            WHEN st.steps_done >= st.steps_planned_ep THEN 'done'
            WHEN st.state IN ('queued', 'running') THEN 'waiting'
            ELSE 'not reached' END AS endpoint_state,
       st.in_flight AS chunk_in_flight,
       st.steps_done, st.steps_planned_ep AS steps_planned,
       coalesce(st.rows_fetched, 0) AS rows_fetched,
       coalesce(st.http_requests, 0) AS http_requests,
       coalesce(st.retries, 0) AS retries,
       st.requested_at, st.started_at, st.finished_at,
       coalesce(st.finished_at, st.at) - st.started_at AS elapsed,
       -- the time per step so far times the steps still to run (NULL before the first step ends)
       CASE WHEN st.state NOT IN ('queued', 'running') THEN interval '0'
            WHEN pg_catalog.sum(st.steps_done) OVER w > 0
                THEN (st.at - st.started_at) / (pg_catalog.sum(st.steps_done) OVER w)
                     * GREATEST(0, pg_catalog.sum(st.steps_planned_ep) OVER w - pg_catalog.sum(st.steps_done) OVER w)
       END AS remaining,
       st.joined_request, st.error_sqlstate
FROM steps st
WINDOW w AS (PARTITION BY st.request, st.account)
ORDER BY st.request DESC, st.account, st.ord;
COMMENT ON VIEW aispend.refresh_progress IS
    'Background refreshes as they go, per request, account and endpoint: state, the chunk in flight, steps done of '
    'those planned, rows, HTTP requests and retries so far, elapsed time and an estimate of what remains. Counts '
    'grow as each step commits. No secret: readers may watch it. LISTEN aispend_refresh to hear of each change.';
COMMENT ON COLUMN aispend.refresh_progress.request IS 'The id aispend.request_refresh returned.';
COMMENT ON COLUMN aispend.refresh_progress.state IS
    'The account''s refresh: queued, running, succeeded, failed or cancelled (a joined request shows the state of '
    'the request it joined).';
COMMENT ON COLUMN aispend.refresh_progress.endpoint_state IS
    'running, waiting, done, nothing to fetch, failed, interrupted (the refresh ended during it) or not reached.';
COMMENT ON COLUMN aispend.refresh_progress.chunk_in_flight IS 'The window of the step being fetched now (usage, costs).';
COMMENT ON COLUMN aispend.refresh_progress.steps_done IS 'Steps (month chunks) of this endpoint committed so far.';
COMMENT ON COLUMN aispend.refresh_progress.steps_planned IS 'Steps of this endpoint planned when the refresh started.';
COMMENT ON COLUMN aispend.refresh_progress.rows_fetched IS 'Rows the provider returned in the committed steps.';
COMMENT ON COLUMN aispend.refresh_progress.http_requests IS 'HTTP requests of the committed and failed steps.';
COMMENT ON COLUMN aispend.refresh_progress.retries IS 'Of which retried (429, 5xx, network; Retry-After honoured).';
COMMENT ON COLUMN aispend.refresh_progress.elapsed IS 'Since the account''s refresh started (to its end once ended).';
COMMENT ON COLUMN aispend.refresh_progress.remaining IS
    'Estimate: the time per committed step so far times the steps still planned for the account; NULL until a step '
    'ends, 0 once ended.';
COMMENT ON COLUMN aispend.refresh_progress.joined_request IS 'For a joined request: the request whose run it shows.';
COMMENT ON COLUMN aispend.refresh_progress.error_sqlstate IS
    'How it failed (the message: aispend.refresh_requests.error_message, for admins).';

-- For psql and scripts: wait for a request to end, a NOTICE at each change of its progress.
CREATE FUNCTION aispend.wait_refresh(request bigint, timeout interval DEFAULT interval '10 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_deadline timestamptz := pg_catalog.clock_timestamp() + timeout;
    v_line text;
    v_key text;
    v_last text;
    v_state text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found';
    END IF;
    -- The workers wait for the requesting transaction to end: waiting inside it would wait forever.
    IF EXISTS (SELECT 1 FROM aispend.refresh_requests q
                WHERE q.id = request
                  AND q.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())) THEN
        RAISE EXCEPTION 'aispend: refresh request % is not committed yet, so it has not started', request
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'COMMIT the transaction that requested it (or request it in autocommit mode), then wait.';
    END IF;
    LOOP
        -- one statement, one snapshot: what the workers have committed by now
        SELECT pg_catalog.string_agg(DISTINCT p.state, '/'),
               pg_catalog.string_agg(pg_catalog.format('%s %s%s (%s/%s steps, %s rows%s)', p.account, p.endpoint,
                                                       coalesce(' ' || p.chunk_in_flight, ''), t.done, t.planned,
                                                       t.rows_fetched,
                                                       coalesce(', ~' || pg_catalog.ceil(EXTRACT(epoch FROM p.remaining))
                                                                || ' s left', '')), '; '
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running'),
               -- what changed, the estimate aside
               pg_catalog.string_agg(p.account || p.endpoint || coalesce(p.chunk_in_flight, '') || t.done, ';'
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running')
          INTO v_state, v_line, v_key
          FROM aispend.refresh_progress p
          CROSS JOIN LATERAL (SELECT pg_catalog.sum(a.steps_done) AS done, pg_catalog.sum(a.steps_planned) AS planned,
                                     pg_catalog.sum(a.rows_fetched) AS rows_fetched
                                FROM aispend.refresh_progress a
                               WHERE a.request = p.request AND a.account = p.account) t
         WHERE p.request = request;
        EXIT WHEN v_state !~ '(queued|running)';
        v_line := coalesce(v_line, CASE WHEN v_state ~ 'running' THEN 'between steps' ELSE 'waiting for a worker' END);
        IF coalesce(v_key, v_line) IS DISTINCT FROM v_last THEN
            RAISE NOTICE 'aispend: refresh %: %', request, v_line;
            v_last := coalesce(v_key, v_line);
        END IF;
        IF pg_catalog.clock_timestamp() >= v_deadline THEN
            RAISE NOTICE 'aispend: refresh % still %s after %; it goes on in the background', request, v_state, timeout;
            RETURN v_state;
        END IF;
        PERFORM pg_catalog.pg_sleep(0.2);
    END LOOP;
    RAISE NOTICE 'aispend: refresh %: %', request,
        (SELECT pg_catalog.string_agg(DISTINCT p.account || ' ' || p.state || coalesce(' (' || p.error_sqlstate || ')', ''),
                                      ', ')
           FROM aispend.refresh_progress p WHERE p.request = request);
    RETURN v_state;
END
$$;
COMMENT ON FUNCTION aispend.wait_refresh(bigint, interval) IS
    'Waits for a refresh request (committed) to end, with a NOTICE at each step (account, endpoint, chunk, steps, '
    'rows, time left); returns its state (succeeded, failed, cancelled, or several joined by /). After timeout it '
    'returns the state so far; the refresh goes on. For psql and scripts; a BI tool reads aispend.refresh_progress.';

REVOKE ALL ON FUNCTION aispend._start_refresh_workers(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_request(bigint, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_sweep() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._refresh_work() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_failed(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.request_refresh(name[], timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.cancel_refresh(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.wait_refresh(bigint, interval) FROM PUBLIC;

-- ---- src/sql/40_prices.sql
-- 40_prices.sql: the effective-dated price catalogue aispend.model_prices and the rule that picks a price.
-- See docs/costs.md. 41_price_import.sql loads the genai-prices v2 feed, 42_price_seed.sql ships list prices.
--
-- aispend.model_prices is the one global table of aispend (no account column: a Citus reference table); the
-- catalog test tests/pgtap/schema_catalog.sql exempts it by name.

CREATE TABLE aispend.model_prices (
    id                     bigint  GENERATED ALWAYS AS IDENTITY,
    provider               text    NOT NULL,
    match_kind             text    NOT NULL CHECK (match_kind IN ('exact', 'prefix', 'regex')),
    pattern                text    NOT NULL,
    model_label            text,
    valid_from             date    NOT NULL DEFAULT '-infinity',
    valid_to               date,
    min_input_tokens       bigint  NOT NULL DEFAULT 0 CHECK (min_input_tokens >= 0),
    input_per_mtok         numeric CHECK (input_per_mtok >= 0),
    cache_read_per_mtok    numeric CHECK (cache_read_per_mtok >= 0),
    cache_write_5m_per_mtok numeric CHECK (cache_write_5m_per_mtok >= 0),
    cache_write_1h_per_mtok numeric CHECK (cache_write_1h_per_mtok >= 0),
    output_per_mtok        numeric CHECK (output_per_mtok >= 0),
    input_audio_per_mtok   numeric CHECK (input_audio_per_mtok >= 0),
    output_audio_per_mtok  numeric CHECK (output_audio_per_mtok >= 0),
    input_image_per_mtok   numeric CHECK (input_image_per_mtok >= 0),
    output_image_per_mtok  numeric CHECK (output_image_per_mtok >= 0),
    web_search_per_k       numeric CHECK (web_search_per_k >= 0),
    batch_multiplier       numeric NOT NULL DEFAULT 0.5 CHECK (batch_multiplier >= 0),
    tier_multipliers       jsonb   NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(tier_multipliers) = 'object'),
    geo_multipliers        jsonb   NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(geo_multipliers) = 'object'),
    currency               text    NOT NULL DEFAULT 'USD',
    origin                 text    NOT NULL DEFAULT 'manual' CHECK (origin IN ('shipped', 'import', 'manual')),
    source                 text    NOT NULL DEFAULT 'manual',
    checked_on             date,
    note                   text,
    CONSTRAINT model_prices_pkey PRIMARY KEY (id),
    CONSTRAINT model_prices_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT model_prices_regex_ok CHECK (match_kind <> 'regex' OR '' ~ pattern OR NOT '' ~ pattern)
);
CREATE INDEX model_prices_lookup_idx ON aispend.model_prices (provider, match_kind, pattern);
COMMENT ON TABLE aispend.model_prices IS
    'Price catalogue: per provider and model match rule, effective-dated list prices in USD per million tokens. '
    'Global (no account; a reference table). Rows of origin manual are never touched by aispend.import_prices.';
COMMENT ON COLUMN aispend.model_prices.id IS 'Surrogate key; aispend.usage_costed.price_id names the row used.';
COMMENT ON COLUMN aispend.model_prices.provider IS 'openai or anthropic (the provider option of the account).';
COMMENT ON COLUMN aispend.model_prices.match_kind IS
    'exact (model = pattern), prefix (model starts with pattern) or regex (model ~ pattern, POSIX ARE).';
COMMENT ON COLUMN aispend.model_prices.pattern IS 'The model id, model id prefix or regular expression.';
COMMENT ON COLUMN aispend.model_prices.model_label IS 'Human name of the priced model (feed model id, display name).';
COMMENT ON COLUMN aispend.model_prices.valid_from IS 'First UTC usage day the row applies to (-infinity: always).';
COMMENT ON COLUMN aispend.model_prices.valid_to IS 'First UTC usage day the row no longer applies to (exclusive); NULL: open.';
COMMENT ON COLUMN aispend.model_prices.min_input_tokens IS
    '0 for the base prices; N > 0 for a long-context tier row (prompts of N or more input tokens incl. cache reads '
    'and writes). Used for usage rows the provider marks long-context (Anthropic context_window 200k-1M).';
COMMENT ON COLUMN aispend.model_prices.input_per_mtok IS 'USD per million uncached input (text) tokens.';
COMMENT ON COLUMN aispend.model_prices.cache_read_per_mtok IS 'USD per million cached-input / cache-hit tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.cache_write_5m_per_mtok IS
    'USD per million 5-minute cache-write tokens (OpenAI''s only cache write); NULL: 1.25 x input.';
COMMENT ON COLUMN aispend.model_prices.cache_write_1h_per_mtok IS 'USD per million 1-hour cache-write tokens; NULL: 2 x input.';
COMMENT ON COLUMN aispend.model_prices.output_per_mtok IS 'USD per million output tokens (reasoning included).';
COMMENT ON COLUMN aispend.model_prices.input_audio_per_mtok IS 'USD per million audio input tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.output_audio_per_mtok IS 'USD per million audio output tokens; NULL: output price.';
COMMENT ON COLUMN aispend.model_prices.input_image_per_mtok IS 'USD per million image input tokens; NULL: input price.';
COMMENT ON COLUMN aispend.model_prices.output_image_per_mtok IS 'USD per million image output tokens; NULL: output price.';
COMMENT ON COLUMN aispend.model_prices.web_search_per_k IS 'USD per 1,000 server-side web searches; NULL: searches unpriced.';
COMMENT ON COLUMN aispend.model_prices.batch_multiplier IS
    'Factor on token prices for batch usage (OpenAI batch = true, Anthropic service_tier batch); 0.5 = 50% off.';
COMMENT ON COLUMN aispend.model_prices.tier_multipliers IS
    'Factor per other service_tier, e.g. {"flex": 0.5, "priority": 1.75}; a tier not named costs 1 x.';
COMMENT ON COLUMN aispend.model_prices.geo_multipliers IS 'Factor per inference_geo, e.g. {"us": 1.1}; a geo not named costs 1 x.';
COMMENT ON COLUMN aispend.model_prices.currency IS 'Currency of the prices (USD).';
COMMENT ON COLUMN aispend.model_prices.origin IS
    'shipped (installed with aispend), import (aispend.import_prices; replaced by the next import) or manual (yours; '
    'wins over the others and survives imports).';
COMMENT ON COLUMN aispend.model_prices.source IS 'Where the price comes from: a URL, or ''manual''.';
COMMENT ON COLUMN aispend.model_prices.checked_on IS 'When the price was last checked against its source.';
COMMENT ON COLUMN aispend.model_prices.note IS 'Free text (caveats, confidence).';

-- pg_dump keeps imported and hand-made prices; shipped rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('aispend.model_prices', 'WHERE origin <> ''shipped''');
SELECT pg_catalog.pg_extension_config_dump('aispend.model_prices_id_seq', '');

-- Whether a usage row's context window is priced at the long-context rates (Anthropic: above 200K input tokens).
CREATE FUNCTION aispend._long_context(context_window text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN context_window IS NOT NULL AND context_window NOT IN ('0-200k', '');
COMMENT ON FUNCTION aispend._long_context(text) IS 'Internal: a usage row priced at the long-context rates.';

-- True when a rule matches a model id (not STRICT: a STRICT function with a CASE is never inlined).
CREATE FUNCTION aispend._price_rule_matches(match_kind text, pattern text, model text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE match_kind WHEN 'exact' THEN model = pattern
                       WHEN 'prefix' THEN pg_catalog.starts_with(model, pattern)
                       WHEN 'regex' THEN model ~ pattern END;

-- The price row for a model on a UTC day: the most specific matching rule valid that day. Order:
--   1. origin manual before the others (a person's override wins),
--   2. exact, then prefix, then regex,
--   3. the longer pattern,
--   4. origin import before shipped (the fresher feed),
--   5. for long-context usage the highest long-context tier row of that rule (else its base row),
--   6. the latest valid_from, then the lowest id.
CREATE FUNCTION aispend.price_for(provider text, model text, day date, long_context boolean DEFAULT false)
RETURNS SETOF aispend.model_prices
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT p.*
    FROM aispend.model_prices p
    WHERE p.provider = price_for.provider
      AND aispend._price_rule_matches(p.match_kind, p.pattern, price_for.model)
      AND p.valid_from <= price_for.day AND (p.valid_to IS NULL OR price_for.day < p.valid_to)
      AND (p.min_input_tokens = 0 OR coalesce(price_for.long_context, false))
    ORDER BY p.origin = 'manual' DESC,
             CASE p.match_kind WHEN 'exact' THEN 0 WHEN 'prefix' THEN 1 ELSE 2 END,
             pg_catalog.length(p.pattern) DESC,
             p.origin = 'import' DESC,
             p.min_input_tokens DESC,
             p.valid_from DESC,
             p.id
    LIMIT 1
$$;
COMMENT ON FUNCTION aispend.price_for(text, text, date, boolean) IS
    'The price row for a model on a UTC usage day (no row: unpriced). Most specific rule wins: manual first, then '
    'exact > prefix > regex, longer pattern, import before shipped, long-context tier row when long_context, '
    'latest valid_from, lowest id.';

-- Estimated cost in USD of one usage row's tokens at one price row (NULL when a needed price is missing).
-- All input = uncached + cache_read + cache_write_5m + cache_write_1h; audio and image tokens are subsets of
-- uncached input and of output, priced at their own price where the row has one.
CREATE FUNCTION aispend._token_cost(p aispend.model_prices,
    uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint,
    input_audio bigint, output_audio bigint, input_image bigint, output_image bigint,
    batch boolean, service_tier text, inference_geo text)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    CASE WHEN coalesce(batch, false) OR service_tier = 'batch' THEN p.batch_multiplier
         ELSE coalesce((p.tier_multipliers ->> service_tier)::numeric, 1) END
    * coalesce((p.geo_multipliers ->> inference_geo)::numeric, 1)
    * ( CASE WHEN coalesce(uncached, 0) - coalesce(input_audio, 0) - coalesce(input_image, 0) > 0
             THEN (uncached - coalesce(input_audio, 0) - coalesce(input_image, 0)) * p.input_per_mtok ELSE 0 END
      + CASE WHEN input_audio > 0 THEN input_audio * coalesce(p.input_audio_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN input_image > 0 THEN input_image * coalesce(p.input_image_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN cache_read > 0 THEN cache_read * coalesce(p.cache_read_per_mtok, p.input_per_mtok) ELSE 0 END
      + CASE WHEN cache_write_5m > 0 THEN cache_write_5m * coalesce(p.cache_write_5m_per_mtok, 1.25 * p.input_per_mtok)
             ELSE 0 END
      + CASE WHEN cache_write_1h > 0 THEN cache_write_1h * coalesce(p.cache_write_1h_per_mtok, 2 * p.input_per_mtok)
             ELSE 0 END
      + CASE WHEN coalesce(output, 0) - coalesce(output_audio, 0) - coalesce(output_image, 0) > 0
             THEN (output - coalesce(output_audio, 0) - coalesce(output_image, 0)) * p.output_per_mtok ELSE 0 END
      + CASE WHEN output_audio > 0 THEN output_audio * coalesce(p.output_audio_per_mtok, p.output_per_mtok) ELSE 0 END
      + CASE WHEN output_image > 0 THEN output_image * coalesce(p.output_image_per_mtok, p.output_per_mtok) ELSE 0 END
      ) / 1000000
);

-- ---- src/sql/41_price_import.sql
-- 41_price_import.sql: aispend.import_prices(feed jsonb) loads the genai-prices v2 feed
-- (github.com/pydantic/genai-prices, prices/new_data/v2/data.json) into aispend.model_prices as origin 'import'.
-- See docs/costs.md "Importing the genai-prices feed".

-- A literal as an ARE regular expression.
CREATE FUNCTION aispend._regex_literal(s text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.regexp_replace(s, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g');

-- One feed match clause (equals, starts_with, ends_with, contains, regex, or, and) as one regular expression.
CREATE FUNCTION aispend._feed_clause_regex(clause jsonb)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF clause ? 'equals' THEN
        RETURN '^' || aispend._regex_literal(clause ->> 'equals') || '$';
    ELSIF clause ? 'starts_with' THEN
        RETURN '^' || aispend._regex_literal(clause ->> 'starts_with');
    ELSIF clause ? 'ends_with' THEN
        RETURN aispend._regex_literal(clause ->> 'ends_with') || '$';
    ELSIF clause ? 'contains' THEN
        RETURN aispend._regex_literal(clause ->> 'contains');
    ELSIF clause ? 'regex' THEN
        RETURN clause ->> 'regex';
    ELSIF clause ? 'or' THEN
        RETURN (SELECT '(?:' || pg_catalog.string_agg('(?:' || aispend._feed_clause_regex(c) || ')', '|' ORDER BY o) || ')'
                FROM pg_catalog.jsonb_array_elements(clause -> 'or') WITH ORDINALITY AS e(c, o));
    ELSIF clause ? 'and' THEN
        -- every part must match somewhere: one lookahead per part, anchored at the start
        RETURN (SELECT '^' || pg_catalog.string_agg('(?=.*?(?:' || aispend._feed_clause_regex(c) || '))', '' ORDER BY o)
                FROM pg_catalog.jsonb_array_elements(clause -> 'and') WITH ORDINALITY AS e(c, o));
    END IF;
    RAISE EXCEPTION 'aispend: unknown match clause in the price feed: %', clause
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

-- A feed match as catalogue rules: a top-level or is split into its alternatives; equals becomes an exact
-- rule, starts_with a prefix rule, anything else one regex rule.
CREATE FUNCTION aispend._feed_rules(clause jsonb)
RETURNS TABLE (match_kind text, pattern text, ord integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
    SELECT CASE WHEN c ? 'equals' THEN 'exact' WHEN c ? 'starts_with' THEN 'prefix' ELSE 'regex' END,
           CASE WHEN c ? 'equals' THEN c ->> 'equals' WHEN c ? 'starts_with' THEN c ->> 'starts_with'
                ELSE aispend._feed_clause_regex(c) END,
           o::integer
    FROM pg_catalog.jsonb_array_elements(CASE WHEN clause ? 'or' THEN clause -> 'or'
                                              ELSE pg_catalog.jsonb_build_array(clause) END)
         WITH ORDINALITY AS e(c, o)
$$;

-- One price of a feed price object at a prompt size: a number, or {base, tiers: [{start, price}]} where the
-- tier with the greatest start <= min_input applies (start 0: base).
CREATE FUNCTION aispend._feed_price(v jsonb, min_input bigint)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v IS NULL OR pg_catalog.jsonb_typeof(v) = 'null' THEN NULL
            WHEN pg_catalog.jsonb_typeof(v) = 'number' THEN v::text::numeric
            ELSE coalesce((SELECT (t ->> 'price')::numeric
                           FROM pg_catalog.jsonb_array_elements(v -> 'tiers') t
                           WHERE (t ->> 'start')::bigint <= min_input AND min_input > 0
                           ORDER BY (t ->> 'start')::bigint DESC LIMIT 1),
                          (v ->> 'base')::numeric) END;

CREATE FUNCTION aispend.import_prices(feed jsonb, feed_date date DEFAULT CURRENT_DATE)
RETURNS TABLE (provider text, models integer, price_rows integer, replaced_rows integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    prov record;
    n_models integer;
    n_rows integer;
    n_old integer;
    v_providers text[] := '{}';
    v_account name;
BEGIN
    IF pg_catalog.jsonb_typeof(feed) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'aispend: the genai-prices v2 feed is a JSON array of providers'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR prov IN
        SELECT p ->> 'id' AS id, p AS body
        FROM pg_catalog.jsonb_array_elements(feed) p
        WHERE p ->> 'id' IN ('openai', 'anthropic')
    LOOP
        DELETE FROM aispend.model_prices mp WHERE mp.origin = 'import' AND mp.provider = prov.id;
        GET DIAGNOSTICS n_old = ROW_COUNT;

        WITH m AS (
            SELECT m.body, m.o AS model_ord
            FROM pg_catalog.jsonb_array_elements(prov.body -> 'models') WITH ORDINALITY AS m(body, o)
        ),
        -- price entries: one object, or a list of {constraint: {start_date}, prices}; entries with other
        -- constraints (time of day) are skipped. The first entry applies before every start_date.
        entries AS (
            SELECT m.body AS model, m.model_ord, e.body -> 'prices' AS prices,
                   (e.body -> 'constraint' ->> 'start_date')::date AS start_date, e.o AS entry_ord
            FROM m
            CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                CASE WHEN pg_catalog.jsonb_typeof(m.body -> 'prices') = 'array' THEN m.body -> 'prices'
                     ELSE pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('prices', m.body -> 'prices'))
                END) WITH ORDINALITY AS e(body, o)
            WHERE NOT coalesce(e.body -> 'constraint', '{}') ?| ARRAY['start_time', 'end_time']
        ),
        dated AS (
            SELECT en.*,
                   CASE WHEN row_number() OVER (PARTITION BY en.model_ord ORDER BY en.entry_ord) = 1
                        THEN '-infinity'::date ELSE coalesce(en.start_date, '-infinity') END AS valid_from
            FROM entries en
        ),
        ranged AS (
            SELECT d.*, lead(d.valid_from) OVER (PARTITION BY d.model_ord ORDER BY d.valid_from, d.entry_ord) AS valid_to
            FROM dated d
        ),
        -- tier rows: 0 (base) and every tier start named by any price of the entry
        tiers AS (
            SELECT r.*, t.min_input
            FROM ranged r
            CROSS JOIN LATERAL (
                SELECT 0::bigint AS min_input
                UNION
                SELECT (tr ->> 'start')::bigint
                FROM pg_catalog.jsonb_each(r.prices) kv, pg_catalog.jsonb_array_elements(kv.value -> 'tiers') tr
                WHERE pg_catalog.jsonb_typeof(kv.value) = 'object'
            ) t
            WHERE r.valid_to IS NULL OR r.valid_to > r.valid_from
        ),
        ins AS (
            INSERT INTO aispend.model_prices
                (provider, match_kind, pattern, model_label, valid_from, valid_to, min_input_tokens,
                 input_per_mtok, cache_read_per_mtok, cache_write_5m_per_mtok, cache_write_1h_per_mtok,
                 output_per_mtok, input_audio_per_mtok, output_audio_per_mtok, input_image_per_mtok,
                 output_image_per_mtok, web_search_per_k, batch_multiplier, tier_multipliers, geo_multipliers,
                 currency, origin, source, checked_on, note)
            SELECT prov.id, ru.match_kind, ru.pattern, t.model ->> 'id', t.valid_from, t.valid_to, t.min_input,
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'input_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'cache_read_mtok', t.min_input),
                   aispend._feed_price(coalesce(t.prices -> 'cache_write_5m_mtok', t.prices -> 'cache_write_mtok'),
                                       t.min_input),
                   aispend._feed_price(t.prices -> 'cache_write_1h_mtok', t.min_input),
                   CASE WHEN t.prices = '{}' THEN 0 ELSE aispend._feed_price(t.prices -> 'output_mtok', t.min_input) END,
                   aispend._feed_price(t.prices -> 'input_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_audio_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'input_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'output_image_mtok', t.min_input),
                   aispend._feed_price(t.prices -> 'web_searches_kcount', 0),
                   0.5,
                   CASE prov.id WHEN 'openai' THEN '{"flex": 0.5}'::jsonb ELSE '{}'::jsonb END,
                   CASE prov.id WHEN 'anthropic' THEN '{"us": 1.1}'::jsonb ELSE '{}'::jsonb END,
                   'USD', 'import',
                   coalesce(prov.body -> 'pricing_urls' ->> 0, 'https://github.com/pydantic/genai-prices'),
                   import_prices.feed_date,
                   'genai-prices v2 feed, model ' || (t.model ->> 'id')
                   || CASE WHEN t.prices = '{}' THEN ' (free: empty price object)' ELSE '' END
            FROM tiers t
            CROSS JOIN LATERAL aispend._feed_rules(t.model -> 'match') ru
            ORDER BY t.model_ord, ru.ord, t.valid_from, t.min_input
            RETURNING 1
        )
        SELECT count(*) INTO n_rows FROM ins;
        SELECT pg_catalog.jsonb_array_length(prov.body -> 'models') INTO n_models;

        provider := prov.id;
        models := n_models;
        price_rows := n_rows;
        replaced_rows := n_old;
        RETURN NEXT;
        v_providers := v_providers || prov.id;
    END LOOP;
    -- On a Citus cluster the prices' triggers, which mark the days the changed rules price, are not there
    -- (aispend.distribute()): the rollups of the providers' accounts are rebuilt here.
    IF aispend._citus_coordinator() THEN
        FOR v_account IN SELECT a.account FROM aispend._account_providers() a
                          WHERE a.provider = ANY (v_providers) ORDER BY a.account LOOP
            PERFORM aispend.refresh_rollups(v_account);
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION aispend.import_prices(jsonb, date) IS
    'Loads the genai-prices v2 feed (a JSON array of providers) for providers openai and anthropic (others are '
    'ignored): replaces every origin = import row of those providers, never touches shipped or manual rows. '
    'Match rules: equals -> exact, starts_with -> prefix, others -> regex; date-constrained prices -> valid_from '
    '/ valid_to; tiered prices -> long-context rows (min_input_tokens). feed_date becomes checked_on. On a Citus '
    'cluster it then rebuilds the rollups of those providers'' accounts.';

-- ---- src/sql/42_price_seed.sql
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

-- ---- src/sql/45_estimates.sql
-- 45_estimates.sql: estimated cost of every usage row (aispend.usage_costed) and the models without a price
-- (aispend.unpriced_models). See docs/costs.md "Estimated cost" and "Unpriced".

-- All input tokens of a usage row: uncached + cache reads + cache writes (5 minutes and 1 hour).
CREATE FUNCTION aispend._input_tokens(uncached bigint, cache_read bigint, cache_write_5m bigint, cache_write_1h bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(uncached, 0) + coalesce(cache_read, 0) + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0);
COMMENT ON FUNCTION aispend._input_tokens(bigint, bigint, bigint, bigint) IS
    'Internal: all input tokens of a usage row (uncached + cache reads + cache writes).';

-- The estimate of one usage row at its price row (no price row: both NULL): its tokens, its web searches.
-- The one place a usage row is costed; pure, so Citus runs it on the shard beside the row.
CREATE FUNCTION aispend._usage_estimate(p aispend.model_prices, uncached bigint, cache_read bigint,
    cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint, output_audio bigint,
    input_image bigint, output_image bigint, batch boolean, service_tier text, inference_geo text,
    web_search_requests bigint, OUT token_cost numeric, OUT web_search_cost numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN p.id IS NOT NULL THEN
                aispend._token_cost(p, uncached, cache_read, cache_write_5m, cache_write_1h, output, input_audio,
                                    output_audio, input_image, output_image, batch, service_tier, inference_geo) END,
           CASE WHEN p.id IS NULL THEN NULL
                WHEN coalesce(web_search_requests, 0) = 0 THEN 0
                ELSE web_search_requests * p.web_search_per_k / 1000 END;
END;
COMMENT ON FUNCTION aispend._usage_estimate(aispend.model_prices, bigint, bigint, bigint, bigint, bigint, bigint,
                                            bigint, bigint, bigint, boolean, text, text, bigint) IS
    'Internal: the estimated USD of one usage row''s tokens and web searches at a price row (NULL without one).';

-- The price row of every (model, UTC day, long context) the usage of an account has in [lo, hi). The keys are
-- read first, then priced here: on Citus the first is a query of the account's shard, and aispend.price_for
-- (which reads the price catalogue) cannot run inside one.
CREATE FUNCTION aispend._usage_prices(account name, provider text, lo timestamptz, hi timestamptz)
RETURNS TABLE (model text, day date, long_context boolean, price aispend.model_prices)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    models text[];
    days date[];
    long_contexts boolean[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context)
      INTO models, days, long_contexts
      FROM (SELECT DISTINCT u.model, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                   aispend._long_context(u.context_window) AS long_context
              FROM aispend.usage u
             WHERE u.account = _usage_prices.account
               AND u.bucket_start >= _usage_prices.lo AND u.bucket_start < _usage_prices.hi) k;
    RETURN QUERY
        SELECT k.model, k.day, k.long_context, p
          FROM ROWS FROM (pg_catalog.unnest(models), pg_catalog.unnest(days), pg_catalog.unnest(long_contexts))
               AS k(model, day, long_context)
          LEFT JOIN LATERAL aispend.price_for(_usage_prices.provider, k.model, k.day, k.long_context) p ON true;
END
$$;
COMMENT ON FUNCTION aispend._usage_prices(name, text, timestamptz, timestamptz) IS
    'Internal: the price row (aispend.price_for) of each model, UTC day and long-context flag in an account''s '
    'usage in [lo, hi): what aispend._cost_facts and aispend._usage_costed_rows cost its usage at.';

-- The priced keys of aispend._usage_prices, as rows again, from its arrays (by subscript: unnest() would spread
-- the price rows into their columns). Pure: inside a query of an account's shard it runs there.
CREATE FUNCTION aispend._price_keys(models text[], days date[], long_contexts boolean[],
                                    prices aispend.model_prices[])
RETURNS TABLE (model text, day date, long_context boolean, price aispend.model_prices)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT models[i], days[i], long_contexts[i], prices[i] FROM pg_catalog.generate_subscripts(models, 1) AS i
    OFFSET 0;
END;
COMMENT ON FUNCTION aispend._price_keys(text[], date[], boolean[], aispend.model_prices[]) IS
    'Internal: the (model, day, long context, price row) rows of arrays built from aispend._usage_prices.';

-- Usage rows of one account in [lo, hi) with their estimated cost. The price rule is looked up once per
-- distinct (provider, model, day, long context), not once per row: a month of a large organisation has
-- hundreds of thousands of rows but only a few hundred such keys.
-- PL/pgSQL, with the account's provider and prices read first: on Citus the query is then one of the account's
-- shard, calling only pure functions.
CREATE FUNCTION aispend._usage_costed_rows(p_account name, p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE (account name, provider text, day date, bucket_start timestamptz, bucket_width text, endpoint text,
               workspace_id text, api_key_id text, model text, service_tier text, batch boolean,
               context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
               input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
               output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint,
               total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text,
               estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric,
               priced boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_provider text := aispend.account_provider(p_account);
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(p_account, v_provider, p_lo, p_hi) k;
    RETURN QUERY
    SELECT r.account, v_provider, r.day, r.bucket_start, r.bucket_width, r.endpoint, r.workspace_id, r.api_key_id,
           r.model, r.service_tier, r.batch, r.context_window, r.inference_geo,
           r.uncached_input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
           r.output_tokens, r.input_audio_tokens, r.output_audio_tokens, r.input_image_tokens, r.output_image_tokens,
           r.requests, r.web_search_requests,
           r.input_tokens,
           r.input_tokens + coalesce(r.output_tokens, 0),
           (pr.price).id, (pr.price).match_kind, (pr.price).pattern, (pr.price).origin,
           pg_catalog.trim_scale(e.token_cost),
           pg_catalog.trim_scale(e.web_search_cost),
           pg_catalog.trim_scale(e.token_cost + e.web_search_cost),
           (e.token_cost + e.web_search_cost) IS NOT NULL
    FROM (SELECT u.*, (u.bucket_start AT TIME ZONE 'UTC')::date AS day,
                 aispend._input_tokens(u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
                                       u.cache_write_1h_tokens) AS input_tokens
          FROM aispend.usage u
          WHERE u.account = p_account AND u.bucket_start >= p_lo AND u.bucket_start < p_hi) r
    JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
      ON pr.day = r.day AND pr.long_context = aispend._long_context(r.context_window)
     AND coalesce(pr.model, '') = coalesce(r.model, '')
    CROSS JOIN LATERAL aispend._usage_estimate(pr.price, r.uncached_input_tokens, r.cache_read_tokens,
        r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.input_audio_tokens, r.output_audio_tokens,
        r.input_image_tokens, r.output_image_tokens, r.batch, r.service_tier, r.inference_geo, r.web_search_requests) e;
END
$$;
COMMENT ON FUNCTION aispend._usage_costed_rows(name, timestamptz, timestamptz) IS
    'Internal: what aispend._usage_costed_between returns.';

CREATE FUNCTION aispend._usage_costed_between(account name, lo timestamptz, hi timestamptz)
RETURNS TABLE (account name, provider text, day date, bucket_start timestamptz, bucket_width text, endpoint text,
               workspace_id text, api_key_id text, model text, service_tier text, batch boolean,
               context_window text, inference_geo text, uncached_input_tokens bigint, cache_read_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, output_tokens bigint,
               input_audio_tokens bigint, output_audio_tokens bigint, input_image_tokens bigint,
               output_image_tokens bigint, requests bigint, web_search_requests bigint, input_tokens bigint,
               total_tokens bigint, price_id bigint, price_match_kind text, price_pattern text, price_origin text,
               estimated_token_cost numeric, estimated_web_search_cost numeric, estimated_cost numeric,
               priced boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.* FROM aispend._usage_costed_rows(_usage_costed_between.account, _usage_costed_between.lo,
                                               _usage_costed_between.hi) x;
END;
COMMENT ON FUNCTION aispend._usage_costed_between(name, timestamptz, timestamptz) IS
    'Internal: aispend.usage_costed for one account and buckets in [lo, hi).';

-- The accounts with usage, read through a function: the view below then reads no distributed table itself
-- (on Citus its per-account function would otherwise run on the shards).
CREATE FUNCTION aispend._usage_accounts()
RETURNS TABLE (account name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT u.account FROM aispend.usage u;
END
$$;
COMMENT ON FUNCTION aispend._usage_accounts() IS 'Internal: the accounts that have usage rows.';

CREATE VIEW aispend.usage_costed WITH (security_invoker = true) AS
SELECT uc.*
FROM aispend._usage_accounts() a
CROSS JOIN LATERAL aispend._usage_costed_between(a.account, '-infinity', 'infinity') uc;
COMMENT ON VIEW aispend.usage_costed IS
    'Every usage row with its estimated cost: tokens of each kind x the price row valid on the usage day '
    '(aispend.price_for), batch / service-tier / inference_geo multipliers applied. Unpriced rows have '
    'estimated_cost NULL and priced false, never 0.';
COMMENT ON COLUMN aispend.usage_costed.provider IS 'openai or anthropic: the account''s provider (aispend.account_provider).';
COMMENT ON COLUMN aispend.usage_costed.day IS 'UTC day of the bucket.';
COMMENT ON COLUMN aispend.usage_costed.input_tokens IS 'All input: uncached + cache read + cache write 5m + cache write 1h.';
COMMENT ON COLUMN aispend.usage_costed.total_tokens IS 'input_tokens + output tokens (design.md section 7).';
COMMENT ON COLUMN aispend.usage_costed.price_id IS 'aispend.model_prices.id of the price row used; NULL = unpriced.';
COMMENT ON COLUMN aispend.usage_costed.price_match_kind IS 'exact, prefix or regex: how the price row matched.';
COMMENT ON COLUMN aispend.usage_costed.price_pattern IS 'The pattern of the price row used.';
COMMENT ON COLUMN aispend.usage_costed.price_origin IS 'shipped, import or manual.';
COMMENT ON COLUMN aispend.usage_costed.estimated_token_cost IS 'USD for the tokens (multipliers applied); NULL when unpriced.';
COMMENT ON COLUMN aispend.usage_costed.estimated_web_search_cost IS 'USD for server-side web searches (per 1,000 price); NULL when unpriced.';
COMMENT ON COLUMN aispend.usage_costed.estimated_cost IS
    'estimated_token_cost + estimated_web_search_cost, exact numeric USD; NULL (never 0) when the model or a '
    'needed price is missing.';
COMMENT ON COLUMN aispend.usage_costed.priced IS 'false: no price row, or a price for a token kind the row uses is missing.';

CREATE VIEW aispend.unpriced_models WITH (security_invoker = true) AS
SELECT uc.provider, uc.account, uc.model, min(uc.day) AS first_day, max(uc.day) AS last_day,
       count(*) AS usage_rows,
       sum(uc.input_tokens)::bigint AS input_tokens, sum(uc.output_tokens)::bigint AS output_tokens,
       sum(uc.total_tokens)::bigint AS total_tokens,
       sum(uc.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(uc.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
       sum(uc.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(uc.requests)::bigint AS requests, sum(uc.web_search_requests)::bigint AS web_search_requests,
       bool_or(uc.price_id IS NOT NULL) AS has_price_row
FROM aispend.usage_costed uc
WHERE NOT uc.priced
GROUP BY uc.provider, uc.account, uc.model;
COMMENT ON VIEW aispend.unpriced_models IS
    'Models whose usage could not be priced (no matching price row on the day, or a missing price for a token '
    'kind used), with their volumes: they are excluded from estimates, never counted as $0. Add a row to '
    'aispend.model_prices (origin manual) or import the feed to price them.';
COMMENT ON COLUMN aispend.unpriced_models.model IS 'Model id as the provider reports it (NULL: usage not grouped by model).';
COMMENT ON COLUMN aispend.unpriced_models.first_day IS 'First UTC day with unpriced usage of the model.';
COMMENT ON COLUMN aispend.unpriced_models.last_day IS 'Last UTC day with unpriced usage of the model.';
COMMENT ON COLUMN aispend.unpriced_models.requests IS 'Model requests (OpenAI); NULL for Anthropic.';
COMMENT ON COLUMN aispend.unpriced_models.has_price_row IS
    'true: a price row matched but lacks a price for a token kind used (e.g. web searches, cache writes).';

-- ---- src/sql/46_line_items.sql
-- 46_line_items.sql: how aispend reads a provider's cost line, and the lines it could not fully read.
-- The parser is the sync's own (src/core/line_item.cpp): an OpenAI line "[<surface> | ]<model>, <kind>" keeps
-- its model whatever the kind looks like, and the kind is classified where a rule knows it. A line whose model
-- or kind could not be read keeps its amount (it counts in every total) and is listed by
-- aispend.unrecognised_line_items, never re-filed silently.

CREATE FUNCTION aispend.parse_line_item(line_item text, OUT surface text, OUT model text, OUT kind text,
                                        OUT token_class text, OUT tier text)
RETURNS record
AS 'MODULE_PATHNAME', 'aispend_parse_line_item' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend.parse_line_item(text) IS
    'How the sync reads an OpenAI cost line_item "[<surface> | ]<model>, <kind>": surface (evals, batch api, ...), '
    'model, kind (lower-cased, verbatim), token_class (input, cached_input, cache_write, output, audio_input, '
    'audio_output, image_input, image_output, tool, unrecognised) and tier (batch, priority, flex, scale).';

CREATE FUNCTION aispend.token_class(token_type text, cost_type text)
RETURNS text
AS 'MODULE_PATHNAME', 'aispend_token_class' LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend.token_class(text, text) IS
    'How the sync classifies an Anthropic cost line: its token_type (uncached_input_tokens, output_tokens, '
    'cache_read_input_tokens, cache_creation.ephemeral_1h_input_tokens, ...) as in aispend.parse_line_item; '
    '''tool'' for a line with a cost_type (web_search, code_execution) and no token type; else ''unrecognised''.';

CREATE VIEW aispend.unrecognised_line_items WITH (security_invoker = true) AS
SELECT c.account, aispend.account_provider(c.account) AS provider, c.line_item, c.model, c.token_type, c.cost_type,
       CASE WHEN c.model IS NULL THEN 'no model: counted in the "(no model: tool & service fees)" row'
            ELSE 'kind not classified: counted with its model' END AS effect,
       count(DISTINCT c.bucket_start)::integer AS days,
       (min(c.bucket_start) AT TIME ZONE 'UTC')::date AS first_day,
       (max(c.bucket_start) AT TIME ZONE 'UTC')::date AS last_day,
       sum(c.amount_usd) AS amount_usd
FROM aispend.costs c
WHERE c.token_class = 'unrecognised'
GROUP BY c.account, c.line_item, c.model, c.token_type, c.cost_type;
COMMENT ON VIEW aispend.unrecognised_line_items IS
    'Billed cost lines aispend could not fully read (token_class ''unrecognised''): per account and line, the '
    'days and the amount. Their amounts count in every total; this lists what to check (a new provider string).';
COMMENT ON COLUMN aispend.unrecognised_line_items.account IS 'The account.';
COMMENT ON COLUMN aispend.unrecognised_line_items.provider IS 'The account''s provider.';
COMMENT ON COLUMN aispend.unrecognised_line_items.line_item IS 'The line as the provider wrote it (OpenAI line_item, Anthropic description).';
COMMENT ON COLUMN aispend.unrecognised_line_items.model IS 'The model read from it (NULL: none could be read).';
COMMENT ON COLUMN aispend.unrecognised_line_items.token_type IS 'The kind read from it, verbatim (lower-cased).';
COMMENT ON COLUMN aispend.unrecognised_line_items.cost_type IS 'OpenAI surface (the part before " | ") or Anthropic cost_type.';
COMMENT ON COLUMN aispend.unrecognised_line_items.effect IS 'Where its amount is counted on the dashboard.';
COMMENT ON COLUMN aispend.unrecognised_line_items.days IS 'Number of UTC days with this line.';
COMMENT ON COLUMN aispend.unrecognised_line_items.first_day IS 'First UTC day with it.';
COMMENT ON COLUMN aispend.unrecognised_line_items.last_day IS 'Last UTC day with it.';
COMMENT ON COLUMN aispend.unrecognised_line_items.amount_usd IS 'Its total amount, US dollars (exact).';

-- ---- src/sql/47_cost_facts.sql
-- 47_cost_facts.sql: the one cost fact the dashboards read: billed where the provider bills at the grain,
-- allocated where a bill is shared out among keys, estimated where no settled bill exists yet.
-- See docs/costs.md "Cost facts" and "Allocation".
--
-- Grain: (day, account, provider, workspace_id, api_key_id, model, line_item).
--   * usage rows: line_item NULL;
--   * billed lines without a model (file search, code execution, web search, ...): api_key_id
--     '(unattributed)' (or the billed key), model NULL, line_item = the provider's label;
--   * a billed model whose slice has no usage: api_key_id '(unattributed)', model set, line_item NULL.
-- Allocation rounding: each key's share is round(B * w / W, 12); the key with the largest weight (ties: the
-- smallest api_key_id) gets B minus the others' shares, so the shares add up to B exactly.

-- Midnight UTC starting a day; -infinity / infinity stay infinite. Inlined, so the planner sees the bounds
-- of a window as values (a CTE holding them hid the range, and estimates of 1 row led to nested loops).
CREATE FUNCTION aispend._utc_day_start(day date)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN day = '-infinity' THEN '-infinity'::timestamptz WHEN day = 'infinity' THEN 'infinity'::timestamptz
            ELSE day::timestamp AT TIME ZONE 'UTC' END;
COMMENT ON FUNCTION aispend._utc_day_start(date) IS 'Internal: the timestamptz of midnight UTC starting a day.';

-- The day before which the account's billed days are settled: the latest complete_through of its succeeded
-- costs runs (the sync re-fetches every day from the last complete one, so each day before it was fetched
-- after it ended). NULL when the account has no such run (costs loaded by hand): every billed day is settled.
-- Pruning old sync_runs rows changes nothing as long as the latest succeeded costs run is kept.
CREATE FUNCTION aispend.settled_before(account name)
RETURNS date LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
-- PL/pgSQL: Citus plans a query of an SQL function's parameter on the distribution column only through PL/pgSQL
AS $$
BEGIN
    RETURN (SELECT (max(r.complete_through) AT TIME ZONE 'UTC')::date FROM aispend.sync_runs r
             WHERE r.account = settled_before.account AND r.endpoint = 'costs' AND r.status = 'succeeded');
END
$$;
COMMENT ON FUNCTION aispend.settled_before(name) IS
    'The UTC day before which an account''s billed days are settled (their cost is the bill): the latest '
    'complete_through of its succeeded costs syncs. NULL: no costs sync recorded (facts loaded by hand), every '
    'billed day is settled.';

-- The cost facts of an account's UTC days p_from..p_to. PL/pgSQL, with the account's provider, settled day and
-- usage prices read first: on Citus the query below then reads only the account's shard and runs there whole
-- (a router query); no function in it reads a table.
CREATE FUNCTION aispend._cost_facts(p_account name, p_from date, p_to date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_account name := p_account;
    v_lo timestamptz := aispend._utc_day_start(p_from);
    v_hi timestamptz := aispend._utc_day_start(p_to + 1);
    v_provider text := aispend.account_provider(p_account);
    v_settled_before date := coalesce(aispend.settled_before(p_account), 'infinity');
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(v_account, v_provider, v_lo, v_hi) k;
    RETURN QUERY
    WITH
    -- usage, costed, per day / workspace / key / model
    u AS (
        SELECT uc.day, uc.workspace_id, uc.api_key_id, uc.model,
               sum(pg_catalog.trim_scale(e.token_cost + e.web_search_cost)) AS est,
               sum(pg_catalog.trim_scale(e.token_cost)) AS est_tok,
               bool_or(e.token_cost + e.web_search_cost IS NULL) AS unpriced,
               sum(uc.input_tokens) AS inp, sum(uc.output_tokens) AS outp,
               sum(uc.input_tokens + coalesce(uc.output_tokens, 0)) AS tot,
               sum(uc.requests) AS req, sum(uc.web_search_requests) AS wsr
        FROM (SELECT x.*, (x.bucket_start AT TIME ZONE 'UTC')::date AS day,
                     aispend._input_tokens(x.uncached_input_tokens, x.cache_read_tokens, x.cache_write_5m_tokens,
                                           x.cache_write_1h_tokens) AS input_tokens
              FROM aispend.usage x
              WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi) uc
        JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
          ON pr.day = uc.day AND pr.long_context = aispend._long_context(uc.context_window)
         AND coalesce(pr.model, '') = coalesce(uc.model, '')
        CROSS JOIN LATERAL aispend._usage_estimate(pr.price, uc.uncached_input_tokens, uc.cache_read_tokens,
            uc.cache_write_5m_tokens, uc.cache_write_1h_tokens, uc.output_tokens, uc.input_audio_tokens,
            uc.output_audio_tokens, uc.input_image_tokens, uc.output_image_tokens, uc.batch, uc.service_tier,
            uc.inference_geo, uc.web_search_requests) e
        GROUP BY 1, 2, 3, 4
    ),
    -- billed lines per day / workspace / key / model (lines without a model keep their label). OpenRouter's BYOK
    -- inference is not OpenRouter's bill but the user's own provider key's: it is left to that provider's figures
    -- (aispend.billed_elsewhere lists it), so that no total adds the same dollar twice.
    c AS (
        SELECT (x.bucket_start AT TIME ZONE 'UTC')::date AS day, x.workspace_id, x.api_key_id, x.model,
               CASE WHEN x.model IS NULL THEN coalesce(x.line_item, x.cost_type, '(unlabelled)') END AS line_item,
               sum(x.amount_usd) AS billed
        FROM aispend.costs x
        WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi
          AND x.cost_type IS DISTINCT FROM 'byok_inference'
        GROUP BY 1, 2, 3, 4, 5
    ),
    -- a day is settled when the account has billed lines for it that were fetched after it ended (see
    -- aispend.settled_before): a property of the synced data, never of the clock
    settled_days AS (
        SELECT DISTINCT c.day FROM c
        WHERE c.day < v_settled_before
    ),
    -- model lines the provider does not attribute to a key: shared among the keys of (day, workspace, model)
    slices AS (
        SELECT c.day, c.workspace_id, c.model, sum(c.billed) AS b
        FROM c WHERE c.api_key_id IS NULL AND c.model IS NOT NULL
        GROUP BY 1, 2, 3
    ),
    -- each slice's bill beside the usage rows of its keys, by window functions over a union rather than a join:
    -- right after a sync the planner's row estimates for these CTEs are ~1, and a join became a nested loop
    -- (minutes for a month of a large organisation)
    slice_rows AS (
        SELECT x.*, max(x.bill) OVER w AS b, count(x.api_key_id) OVER w AS keys,
               sum(x.est_tok) OVER w AS sum_est, sum(x.tot) OVER w AS sum_tot
        FROM (SELECT u.day, u.workspace_id, u.model, u.api_key_id, u.est_tok, u.tot, NULL::numeric AS bill
              FROM u WHERE u.model IS NOT NULL
              UNION ALL
              SELECT s.day, s.workspace_id, s.model, NULL, NULL, NULL, s.b FROM slices s) x
        WINDOW w AS (PARTITION BY x.day, x.workspace_id, x.model)
    ),
    weights AS (
        SELECT r.day, r.workspace_id, r.api_key_id, r.model, r.b,
               CASE WHEN r.sum_est > 0 THEN coalesce(r.est_tok, 0)
                    WHEN r.sum_tot > 0 THEN coalesce(r.tot, 0)::numeric
                    ELSE 1 END AS wt
        FROM slice_rows r
        WHERE r.api_key_id IS NOT NULL AND r.b IS NOT NULL
    ),
    shares AS (
        SELECT wg.day, wg.workspace_id, wg.api_key_id, wg.model, wg.b,
               pg_catalog.round(wg.b * wg.wt / sum(wg.wt) OVER w, 12) AS r,
               row_number() OVER (PARTITION BY wg.day, wg.workspace_id, wg.model ORDER BY wg.wt DESC, wg.api_key_id) AS rk
        FROM weights wg
        WINDOW w AS (PARTITION BY wg.day, wg.workspace_id, wg.model)
    ),
    alloc AS (
        SELECT sh.day, sh.workspace_id, sh.api_key_id, sh.model,
               CASE WHEN sh.rk = 1 THEN sh.b - (sum(sh.r) OVER w - sh.r) ELSE sh.r END AS allocated
        FROM shares sh
        WINDOW w AS (PARTITION BY sh.day, sh.workspace_id, sh.model)
    ),
    -- one row per fact: the usage, a bill at key grain and an allocated share of (day, workspace, key, model) meet
    -- in one row through FULL JOINs (never planned as nested loops, whatever the estimates); the billed lines
    -- that no usage row can take keep rows of their own
    g AS (
        SELECT day, workspace_id, api_key_id, model, NULL::text AS line_item, kb.billed, aa.allocated, uu.est,
               coalesce(uu.unpriced, false) AS unpriced, uu.inp::bigint AS inp, uu.outp::bigint AS outp,
               uu.tot::bigint AS tot, uu.req::bigint AS req, uu.wsr::bigint AS wsr, uu.has_usage IS NOT NULL AS has_usage
        FROM (SELECT u.*, true AS has_usage FROM u) AS uu
        FULL JOIN (SELECT a.day, a.workspace_id, a.api_key_id, a.model, a.allocated FROM alloc a) AS aa
             USING (day, workspace_id, api_key_id, model)
        FULL JOIN (SELECT c.day, c.workspace_id, c.api_key_id, c.model, c.billed
                   FROM c WHERE c.api_key_id IS NOT NULL AND c.model IS NOT NULL) AS kb   -- newer OpenAI costs
             USING (day, workspace_id, api_key_id, model)
        UNION ALL
        -- billed lines without a model: their own rows, under their key (newer OpenAI costs) or '(unattributed)'
        SELECT c.day, c.workspace_id, coalesce(c.api_key_id, '(unattributed)'), NULL, c.line_item, c.billed, NULL,
               NULL, false, NULL, NULL, NULL, NULL, NULL, false
        FROM c WHERE c.model IS NULL
        UNION ALL
        -- billed model with no usage behind it in its slice
        SELECT r.day, r.workspace_id, '(unattributed)', r.model, NULL, r.bill, NULL, NULL, false, NULL, NULL, NULL,
               NULL, NULL, false
        FROM slice_rows r
        WHERE r.api_key_id IS NULL AND r.keys = 0
    )
    SELECT g.day, v_account, v_provider, g.workspace_id, g.api_key_id, g.model, g.line_item,
           g.billed,
           CASE WHEN sd.day IS NOT NULL AND g.billed IS NULL THEN coalesce(g.allocated, 0) ELSE g.allocated END,
           g.est,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage THEN coalesce(g.billed, 0) + coalesce(g.allocated, 0)
                ELSE g.est END,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage
                THEN CASE WHEN g.allocated IS NOT NULL OR g.billed IS NULL THEN 'allocated' ELSE 'billed' END
                ELSE 'estimated' END,
           g.inp, g.outp, g.tot, g.req, g.wsr, g.unpriced, sd.day IS NOT NULL
    FROM g LEFT JOIN settled_days sd ON sd.day = g.day;
END
$$;
COMMENT ON FUNCTION aispend._cost_facts(name, date, date) IS
    'Internal: what aispend.cost_facts_between returns, for the re-roll (52_rollup.sql).';

CREATE FUNCTION aispend.cost_facts_between(account name, from_day date, to_day date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.* FROM aispend._cost_facts(cost_facts_between.account, cost_facts_between.from_day,
                                        cost_facts_between.to_day) f;
END;
COMMENT ON FUNCTION aispend.cost_facts_between(name, date, date) IS
    'aispend.cost_facts for one account and the UTC days from_day..to_day (inclusive), computed from that slice '
    'only: what a rollup refresh calls.';

CREATE VIEW aispend.cost_facts WITH (security_invoker = true) AS
SELECT f.*
FROM (SELECT w.account FROM aispend._workspaces() w GROUP BY w.account) a
CROSS JOIN LATERAL aispend.cost_facts_between(a.account, '-infinity', 'infinity') f;
COMMENT ON VIEW aispend.cost_facts IS
    'Cost per UTC day, account, provider, workspace, API key and model (line_item for billed lines without usage), '
    'with the billed, allocated and estimated figures and the one dashboards use (cost, cost_basis). On a settled '
    'day sum(cost) over a workspace equals its bill exactly. For one account and a day range call '
    'aispend.cost_facts_between(account, from_day, to_day).';
COMMENT ON COLUMN aispend.cost_facts.day IS 'UTC day.';
COMMENT ON COLUMN aispend.cost_facts.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.cost_facts.provider IS 'openai, anthropic or openrouter: the account''s provider (aispend.account_provider).';
COMMENT ON COLUMN aispend.cost_facts.workspace_id IS 'Workspace / project (''(default)'' sentinel as in usage and costs).';
COMMENT ON COLUMN aispend.cost_facts.api_key_id IS
    'API key (sentinels ''(console)'', ''(none)'' as in usage); ''(unattributed)'' for billed lines no key can be given.';
COMMENT ON COLUMN aispend.cost_facts.model IS 'Model; NULL for billed lines that have none (see line_item).';
COMMENT ON COLUMN aispend.cost_facts.line_item IS
    'The provider''s label of a billed line without a model (web search, code execution, file search, ...); '
    'NULL on usage rows.';
COMMENT ON COLUMN aispend.cost_facts.billed_cost IS 'USD the provider billed at exactly this grain (key-level costs, unattributed lines).';
COMMENT ON COLUMN aispend.cost_facts.allocated_cost IS
    'This key''s share of the bill of its (day, workspace, model) slice, in proportion to estimated cost (tokens '
    'when nothing is priced); 0 on a settled day when the bill has nothing for this row.';
COMMENT ON COLUMN aispend.cost_facts.estimated_cost IS 'Tokens x catalogue price (priced usage only; NULL when nothing is priced).';
COMMENT ON COLUMN aispend.cost_facts.cost IS
    'The figure to show: billed + allocated on settled days and for rows without usage, else estimated_cost.';
COMMENT ON COLUMN aispend.cost_facts.cost_basis IS 'billed, allocated or estimated: where cost comes from.';
COMMENT ON COLUMN aispend.cost_facts.input_tokens IS 'All input tokens (uncached + cache reads + cache writes).';
COMMENT ON COLUMN aispend.cost_facts.output_tokens IS 'Output tokens.';
COMMENT ON COLUMN aispend.cost_facts.total_tokens IS 'input_tokens + output_tokens.';
COMMENT ON COLUMN aispend.cost_facts.requests IS 'Model requests (OpenAI); NULL for Anthropic and billed-only rows, never 0-filled.';
COMMENT ON COLUMN aispend.cost_facts.web_search_requests IS 'Server-side web searches (usage).';
COMMENT ON COLUMN aispend.cost_facts.unpriced IS 'Some usage of the row has no price: its estimate excludes it.';
COMMENT ON COLUMN aispend.cost_facts.settled IS
    'The account has billed lines for the day, fetched after the day ended (day < aispend.settled_before(account)): '
    'cost comes from the bill.';

-- ---- src/sql/48_reconciliation.sql
-- 48_reconciliation.sql: where estimates and the bill disagree, and by how much (docs/costs.md).

CREATE VIEW aispend.reconciliation WITH (security_invoker = true) AS
WITH b AS (
    SELECT c.account, (c.bucket_start AT TIME ZONE 'UTC')::date AS day, c.workspace_id,
           sum(c.amount_usd) AS billed, count(*) AS lines
    FROM aispend.costs c
    GROUP BY 1, 2, 3
), e AS (
    SELECT uc.account, uc.day, uc.workspace_id, sum(uc.estimated_cost) AS est,
           count(*) FILTER (WHERE NOT uc.priced) AS unpriced_rows,
           sum(uc.total_tokens) FILTER (WHERE NOT uc.priced) AS unpriced_tokens
    FROM aispend.usage_costed uc
    GROUP BY 1, 2, 3
)
SELECT day, account, aispend.account_provider(account) AS provider, workspace_id,
       b.billed AS billed_total, coalesce(b.lines, 0) AS billed_lines,
       e.est AS estimated_total,
       e.est - b.billed AS difference,
       pg_catalog.round(100 * (e.est - b.billed) / NULLIF(b.billed, 0), 4) AS difference_pct,
       coalesce(e.unpriced_rows, 0) AS unpriced_rows,
       coalesce(e.unpriced_tokens, 0)::bigint AS unpriced_tokens
FROM b FULL JOIN e USING (account, day, workspace_id);
COMMENT ON VIEW aispend.reconciliation IS
    'Per UTC day, account and workspace: the billed total, the estimated total (priced usage only), their '
    'difference (estimated - billed) and percentage of the bill, and how much usage is unpriced.';
COMMENT ON COLUMN aispend.reconciliation.billed_total IS 'Sum of the billed lines (USD); NULL when nothing is billed (yet).';
COMMENT ON COLUMN aispend.reconciliation.billed_lines IS 'Billed lines behind billed_total.';
COMMENT ON COLUMN aispend.reconciliation.estimated_total IS 'Sum of aispend.usage_costed.estimated_cost (priced rows only); NULL when no usage is priced.';
COMMENT ON COLUMN aispend.reconciliation.difference IS 'estimated_total - billed_total (USD).';
COMMENT ON COLUMN aispend.reconciliation.difference_pct IS '100 x difference / billed_total, 4 decimals; NULL when nothing is billed.';
COMMENT ON COLUMN aispend.reconciliation.unpriced_rows IS 'Usage rows without a price (not in estimated_total).';
COMMENT ON COLUMN aispend.reconciliation.unpriced_tokens IS 'Total tokens of those rows.';

-- ---- src/sql/49_csv_cell.sql
-- 49_csv_cell.sql: text cells of the CSV exports that a spreadsheet would run as a formula.
-- Names come from providers and from people: one starting with =, +, -, @, a tab or a carriage return is a
-- formula in Excel, LibreOffice and Google Sheets when the CSV is opened (CSV injection). Such a cell gets a
-- leading apostrophe, which spreadsheets show as text and do not display.

CREATE FUNCTION aispend.csv_cell(value text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog."left"(value, 1) IN ('=', '+', '-', '@', E'\t', E'\r') THEN '''' || value ELSE value END;
COMMENT ON FUNCTION aispend.csv_cell(text) IS
    'A text cell safe to open in a spreadsheet: a value starting with =, +, -, @, tab or CR gets a leading '
    'apostrophe (never run as a formula). Every *_csv function applies it to names; use it in your own exports.';

-- ---- src/sql/50_periods.sql
-- 50_periods.sql: the dashboard's periods. A period is a daterange of UTC days, '[first, last]' inclusive
-- (canonical form '[first, last+1)'). Every tab compares a period with aispend.previous_period(period): the
-- previous calendar period of the same kind, or the same number of days before a rolling period. See docs/dashboard-workspaces.md ("Periods").

CREATE FUNCTION aispend.utc_today()
RETURNS date LANGUAGE sql STABLE PARALLEL SAFE
RETURN (pg_catalog.now() AT TIME ZONE 'UTC')::date;
COMMENT ON FUNCTION aispend.utc_today() IS 'Today''s date in UTC (the day the dashboard''s periods end on).';

CREATE FUNCTION aispend.custom_period(first_day date, last_day date)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF first_day IS NULL OR last_day IS NULL OR first_day > last_day THEN
        RAISE EXCEPTION 'aispend: a period needs first_day <= last_day (got % .. %)', first_day, last_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_catalog.daterange(first_day, last_day, '[]');
END
$$;
COMMENT ON FUNCTION aispend.custom_period(date, date) IS
    'A custom period: the UTC days first_day..last_day, both included (a daterange).';

-- Named periods, relative to "today" (UTC, included: the current day is partial until it ends).
CREATE FUNCTION aispend.period(name text, today date DEFAULT aispend.utc_today())
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    k text := pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(name)), '[^a-z0-9]+', '_', 'g');
    n integer;
BEGIN
    IF today IS NULL THEN
        RAISE EXCEPTION 'aispend: period: today must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a range written as text ('[2026-09-01,2026-10-01)'): what a quoted range meant before periods had names
    IF pg_catalog.btrim(name) ~ '^[\[\(]' THEN
        RETURN aispend._check_period(pg_catalog.btrim(name)::daterange);
    END IF;
    IF k ~ '^last_[0-9]+_days?$' THEN
        n := (pg_catalog.regexp_match(k, '[0-9]+'))[1]::integer;
        IF n < 1 THEN
            RAISE EXCEPTION 'aispend: period "%" has no days', name USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN pg_catalog.daterange(today - (n - 1), today, '[]');
    END IF;
    CASE k
        WHEN 'today' THEN RETURN pg_catalog.daterange(today, today, '[]');
        WHEN 'yesterday' THEN RETURN pg_catalog.daterange(today - 1, today - 1, '[]');
        WHEN 'month_to_date', 'mtd', 'this_month' THEN
            RETURN pg_catalog.daterange(pg_catalog.date_trunc('month', today::timestamp)::date, today, '[]');
        WHEN 'previous_month', 'last_month' THEN
            RETURN pg_catalog.daterange((pg_catalog.date_trunc('month', today::timestamp) - interval '1 month')::date,
                                        pg_catalog.date_trunc('month', today::timestamp)::date, '[)');
        WHEN 'year_to_date', 'ytd', 'this_year' THEN
            RETURN pg_catalog.daterange(pg_catalog.date_trunc('year', today::timestamp)::date, today, '[]');
        WHEN 'previous_year', 'last_year' THEN
            RETURN pg_catalog.daterange((pg_catalog.date_trunc('year', today::timestamp) - interval '1 year')::date,
                                        pg_catalog.date_trunc('year', today::timestamp)::date, '[)');
        ELSE
            RAISE EXCEPTION 'aispend: unknown period "%"', name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use last_7_days, last_30_days, last_90_days, last_<N>_days, month_to_date, '
                             'previous_month, year_to_date, previous_year, today, yesterday, '
                             'or aispend.custom_period(first_day, last_day).';
    END CASE;
END
$$;
COMMENT ON FUNCTION aispend.period(text, date) IS
    'A named period of UTC days ending on today (included): last_7_days, last_30_days, last_90_days, last_<N>_days, '
    'month_to_date, previous_month, year_to_date, previous_year, today, yesterday. Spaces and dashes work too '
    '(''Last 30 days''); a range written as text (''[2026-09-01,2026-10-01)'') is that range.';

-- What a period is compared with, when the caller does not say (every tab takes compare_with):
--   whole calendar months (a month, a quarter, a year) -> as many whole months just before it;
--   any other range                                    -> the same number of days just before it (rolling).
-- A range cannot say whether "September 1st to 7th" is month to date or the last 7 days: by name it can, see
-- aispend.previous_period(name text).
CREATE FUNCTION aispend.previous_period(period daterange)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    f date := pg_catalog.lower(period);
    l date := pg_catalog.upper(period) - 1;
    months integer;
BEGIN
    IF period IS NULL OR pg_catalog.isempty(period) OR pg_catalog.lower_inf(period) OR pg_catalog.upper_inf(period) THEN
        RAISE EXCEPTION 'aispend: a period must be a non-empty, bounded daterange (got %)', period
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use aispend.period(''last_30_days'') or aispend.custom_period(first_day, last_day).';
    END IF;
    IF pg_catalog.date_part('day', f) = 1 AND pg_catalog.date_part('day', l + 1) = 1 THEN
        months := (pg_catalog.date_part('year', l)::integer * 12 + pg_catalog.date_part('month', l)::integer)
                - (pg_catalog.date_part('year', f)::integer * 12 + pg_catalog.date_part('month', f)::integer) + 1;
        RETURN pg_catalog.daterange((f - pg_catalog.make_interval(months => months))::date, f, '[)');
    END IF;
    RETURN pg_catalog.daterange(f - (l + 1 - f), f, '[)');
END
$$;
COMMENT ON FUNCTION aispend.previous_period(daterange) IS
    'What a period''s Trend compares with by default: whole calendar months with as many whole months before them '
    '(previous_month with the month before it), any other range with the same number of days just before it.';

-- The comparison period of a named period: month to date with the same days of the previous month (clamped to
-- its end), year to date with the same days of the previous year, the rolling ones (last_<N>_days, today,
-- yesterday) with as many days just before (last_30_days on September 30th is not "September"); the others
-- (previous_month, previous_year, a range written as text) as aispend.previous_period(range).
CREATE FUNCTION aispend.previous_period(name text, today date DEFAULT aispend.utc_today())
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    k text := pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(name)), '[^a-z0-9]+', '_', 'g');
    p daterange := aispend.period(name, today);
    step interval;
BEGIN
    step := CASE WHEN k IN ('month_to_date', 'mtd', 'this_month') THEN interval '1 month'
                 WHEN k IN ('year_to_date', 'ytd', 'this_year') THEN interval '1 year' END;
    IF k ~ '^(last_[0-9]+_days?|today|yesterday)$' THEN    -- rolling, even on a day it spans a whole month
        RETURN pg_catalog.daterange(pg_catalog.lower(p) - (pg_catalog.upper(p) - pg_catalog.lower(p)),
                                    pg_catalog.lower(p), '[)');
    END IF;
    IF step IS NULL THEN
        RETURN aispend.previous_period(p);
    END IF;
    RETURN pg_catalog.daterange((pg_catalog.lower(p) - step)::date, (pg_catalog.upper(p) - 1 - step)::date, '[]');
END
$$;
COMMENT ON FUNCTION aispend.previous_period(text, date) IS
    'What the named period (aispend.period(name, today)) is compared with: month_to_date with the same days of the '
    'previous month, year_to_date with the same days of the previous year, last_<N>_days, today and yesterday with '
    'as many days before, the others as aispend.previous_period(daterange). The tabs called with a period name use it.';

CREATE FUNCTION aispend.period_first_day(period daterange)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.lower(period);
COMMENT ON FUNCTION aispend.period_first_day(daterange) IS 'First UTC day of a period.';

CREATE FUNCTION aispend.period_last_day(period daterange)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.upper(period) - 1;
COMMENT ON FUNCTION aispend.period_last_day(daterange) IS 'Last UTC day of a period (included).';

CREATE VIEW aispend.periods AS
SELECT p.ord, p.name, p.label, aispend.period(p.name) AS period,
       aispend.period_first_day(aispend.period(p.name)) AS first_day,
       aispend.period_last_day(aispend.period(p.name)) AS last_day,
       pg_catalog.upper(aispend.period(p.name)) - pg_catalog.lower(aispend.period(p.name)) AS days,
       aispend.previous_period(p.name) AS previous_period
FROM (VALUES (1, 'last_7_days', 'Last 7 days'), (2, 'last_30_days', 'Last 30 days'),
             (3, 'last_90_days', 'Last 90 days'), (4, 'month_to_date', 'Month to date'),
             (5, 'previous_month', 'Previous month'), (6, 'year_to_date', 'Year to date'),
             (7, 'last_365_days', 'Last 365 days')) AS p(ord, name, label);
COMMENT ON VIEW aispend.periods IS 'The named periods as of today (UTC) with their previous period: a picker for BI tools.';
COMMENT ON COLUMN aispend.periods.name IS 'Argument of aispend.period(name).';
COMMENT ON COLUMN aispend.periods.label IS 'What the dashboard''s period picker shows.';
COMMENT ON COLUMN aispend.periods.period IS 'The UTC days of the period (daterange, canonical [first, last+1)).';
COMMENT ON COLUMN aispend.periods.first_day IS 'First day (UTC).';
COMMENT ON COLUMN aispend.periods.last_day IS 'Last day (UTC, included).';
COMMENT ON COLUMN aispend.periods.days IS 'Number of days.';
COMMENT ON COLUMN aispend.periods.previous_period IS 'What Trend compares the period with (aispend.previous_period).';
COMMENT ON COLUMN aispend.periods.ord IS 'Display order.';

-- ---- src/sql/52_rollup.sql
-- 52_rollup.sql: the dashboard's maintained rollups, one entity layer for every tab.
--
-- 1. aispend.daily_rollup: aispend.cost_facts_between aggregated to day x account x workspace x key x model.
--    No names and no provider: workspaces and keys are joined by id at query time (a rename shows at once on
--    every tab) and the provider comes from aispend.account_provider.
-- 2. aispend._cum: cumulative sums per tab entity, so that any period costs the same to read (three boundary
--    days, whatever its length). An entity is a (kind, workspace_id, api_key_id, model): kind 'w' a workspace
--    (api_key_id = model = ''), 'k' an API key within its workspace (model = ''), 'm' a model
--    (workspace_id = api_key_id = ''). For entity e and day X:
--      total(e, first..X) = row(e, grain 'm', month(X)) + row(e, grain 'd', X)
--    grain 'm' at month M: everything before M (a row for every month after the entity's first active month,
--                          up to the month of the account's last day with data);
--    grain 'd' at day X:   month to date (a row for every day from the entity's first active day in the month
--                          to the end of that calendar month).
--    A period [f, l] is total(l) - total(f - 1), with both days clamped to the account's last day.
-- 3. aispend._reroll(account) re-rolls exactly the days marked in aispend._dirty_days (53_invalidation.sql):
--    their daily_rollup rows, the day rows of their months, and the month rows from the earliest of them on.

CREATE TABLE aispend.daily_rollup (
    account        name    NOT NULL,
    day            date    NOT NULL,
    workspace_id   text    NOT NULL,
    api_key_id     text    NOT NULL,
    model          text    NOT NULL,
    billed_cost    numeric,
    allocated_cost numeric,
    estimated_cost numeric,
    cost           numeric NOT NULL,
    cost_basis     text,
    input_tokens   bigint,
    output_tokens  bigint,
    total_tokens   bigint,
    requests       bigint,
    unpriced       boolean NOT NULL DEFAULT false,
    CONSTRAINT daily_rollup_pkey PRIMARY KEY (account, day, workspace_id, api_key_id, model)
);
CREATE INDEX daily_rollup_workspace_idx ON aispend.daily_rollup (account, workspace_id, day);
-- a key's drill-down and its last day of use (aispend._last_active_days)
CREATE INDEX daily_rollup_api_key_idx ON aispend.daily_rollup (account, api_key_id, day);
COMMENT ON TABLE aispend.daily_rollup IS
    'aispend.cost_facts_between per UTC day, account, workspace, API key and model, re-rolled in the transaction '
    'of every change that moves a figure (53_invalidation.sql). Ids only: names and the provider are joined at '
    'query time (aispend.daily_facts).';
COMMENT ON COLUMN aispend.daily_rollup.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.daily_rollup.day IS 'UTC day.';
COMMENT ON COLUMN aispend.daily_rollup.workspace_id IS 'Workspace / project id (''(default)'' sentinel included).';
COMMENT ON COLUMN aispend.daily_rollup.api_key_id IS 'API key id (''(console)'', ''(none)'' sentinels included).';
COMMENT ON COLUMN aispend.daily_rollup.model IS 'Model; ''(no model: tool & service fees)'' for cost lines without a model (web search, code execution, file search, ...).';
COMMENT ON COLUMN aispend.daily_rollup.billed_cost IS 'Cost as billed by the provider at this grain (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.allocated_cost IS 'Billed cost allocated to this grain by usage (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.estimated_cost IS 'Cost estimated from prices where nothing is billed yet (cost model).';
COMMENT ON COLUMN aispend.daily_rollup.cost IS 'The cost the dashboard shows (cost model''s cost), US dollars.';
COMMENT ON COLUMN aispend.daily_rollup.cost_basis IS 'billed, allocated, estimated, or mixed.';
COMMENT ON COLUMN aispend.daily_rollup.input_tokens IS 'All input tokens (uncached + cache reads + cache writes).';
COMMENT ON COLUMN aispend.daily_rollup.output_tokens IS 'All output tokens.';
COMMENT ON COLUMN aispend.daily_rollup.total_tokens IS 'input_tokens + output_tokens (the dashboard''s Tokens).';
COMMENT ON COLUMN aispend.daily_rollup.requests IS 'Requests; NULL where the provider does not report them (Anthropic).';
COMMENT ON COLUMN aispend.daily_rollup.unpriced IS 'Some usage of this grain has no price: its cost is incomplete.';

CREATE TABLE aispend._rollup_state (
    account      name        NOT NULL,
    first_day    date        NOT NULL,
    last_day     date        NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT _rollup_state_pkey PRIMARY KEY (account)
);
COMMENT ON TABLE aispend._rollup_state IS
    'Internal: per account, the first and last day of aispend.daily_rollup (the cumulative rows reach last_day).';

CREATE TABLE aispend._cum (
    account      name    NOT NULL,
    grain        "char"  NOT NULL CHECK (grain IN ('d', 'm')),
    at           date    NOT NULL,
    kind         "char"  NOT NULL CHECK (kind IN ('w', 'k', 'm')),
    workspace_id text    NOT NULL,
    api_key_id   text    NOT NULL,
    model        text    NOT NULL,
    cost         numeric NOT NULL,
    tokens       bigint  NOT NULL,
    requests     bigint,
    CONSTRAINT _cum_pkey PRIMARY KEY (account, grain, at, kind, workspace_id, api_key_id, model)
);
COMMENT ON TABLE aispend._cum IS
    'Internal: cumulative cost, tokens and requests per tab entity (kind w / k / m); grain d = month to date at '
    'day `at`, grain m = everything before month `at` (see 52_rollup.sql).';

-- The label of cost lines without a model, in the rollup and every tab.
CREATE FUNCTION aispend._no_model_label()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '(no model: tool & service fees)';

-- Replaces the daily_rollup rows of the UTC days from_day..to_day of an account; returns the rows written.
CREATE FUNCTION aispend._reroll_days(p_account name, from_day date, to_day date)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
    new_rows aispend.daily_rollup[];
BEGIN
    -- The new rows, computed once. A fact with a model is already one rollup row; the lines without one are
    -- added up per key. (A statement of its own: on Citus the cost model runs here, and the writes below are
    -- statements of the account's shard.)
    WITH f AS MATERIALIZED (SELECT * FROM aispend._cost_facts(p_account, from_day, to_day))
    SELECT pg_catalog.array_agg(ROW(p_account, nr.*)::aispend.daily_rollup) INTO new_rows
    FROM (SELECT f.day, f.workspace_id, f.api_key_id, f.model, f.billed_cost, f.allocated_cost, f.estimated_cost,
                 coalesce(f.cost, 0) AS cost, f.cost_basis, f.input_tokens, f.output_tokens, f.total_tokens,
                 f.requests, f.unpriced
          FROM f WHERE f.model IS NOT NULL
          UNION ALL
          SELECT f.day, f.workspace_id, f.api_key_id, aispend._no_model_label(),
                 sum(f.billed_cost), sum(f.allocated_cost), sum(f.estimated_cost), coalesce(sum(f.cost), 0),
                 CASE WHEN min(f.cost_basis) <> max(f.cost_basis) THEN 'mixed' ELSE min(f.cost_basis) END,
                 sum(f.input_tokens), sum(f.output_tokens), sum(f.total_tokens), sum(f.requests),
                 coalesce(bool_or(f.unpriced), false)
          FROM f WHERE f.model IS NULL
          GROUP BY f.day, f.workspace_id, f.api_key_id) nr;
    DELETE FROM aispend.daily_rollup r
    WHERE r.account = p_account AND r.day BETWEEN from_day AND to_day
      -- NOT IN (no column is NULL on either side), hashed: right after a first sync the rollup's statistics
      -- say one row, and a NOT EXISTS became a nested loop over the new rows per rollup row (minutes for a
      -- large account)
      AND (r.day, r.workspace_id, r.api_key_id, r.model) NOT IN
          (SELECT x.day, x.workspace_id, x.api_key_id, x.model FROM pg_catalog.unnest(new_rows) x);
    -- Only rows that change are written (a re-roll of many days mostly rewrites the same figures; fewer dead rows).
    INSERT INTO aispend.daily_rollup AS r
    SELECT x.* FROM pg_catalog.unnest(new_rows) x
    ON CONFLICT ON CONSTRAINT daily_rollup_pkey DO UPDATE
       SET billed_cost = excluded.billed_cost, allocated_cost = excluded.allocated_cost,
           estimated_cost = excluded.estimated_cost, cost = excluded.cost, cost_basis = excluded.cost_basis,
           input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
           total_tokens = excluded.total_tokens, requests = excluded.requests, unpriced = excluded.unpriced
     -- compared as text: 1.0 and 1.00 are equal numbers but not the same figure on the page (column by column:
     -- the row-to-text cast is STABLE, which Citus refuses in ON CONFLICT ... WHERE; the columns' casts are not)
     WHERE (r.billed_cost::text, r.allocated_cost::text, r.estimated_cost::text, r.cost::text, r.cost_basis,
            r.input_tokens::text, r.output_tokens::text, r.total_tokens::text, r.requests::text, r.unpriced::text)
           IS DISTINCT FROM
           (excluded.billed_cost::text, excluded.allocated_cost::text, excluded.estimated_cost::text,
            excluded.cost::text, excluded.cost_basis, excluded.input_tokens::text, excluded.output_tokens::text,
            excluded.total_tokens::text, excluded.requests::text, excluded.unpriced::text);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._reroll_days(name, date, date) IS
    'Internal: makes the daily_rollup rows of an account for the UTC days from_day..to_day (included) those of '
    'the cost model, writing only the rows that change; returns the rows written.';

-- Rewrites the day rows (grain d) of every entity of an account for one calendar month.
CREATE FUNCTION aispend._reroll_month_days(p_account name, p_month date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    WITH d AS (
        SELECT r.day,
               (CASE WHEN GROUPING(r.api_key_id) = 0 THEN 'k' WHEN GROUPING(r.model) = 0 THEN 'm' ELSE 'w' END)::"char"
                   AS kind,
               coalesce(r.workspace_id, '') AS workspace_id, coalesce(r.api_key_id, '') AS api_key_id,
               coalesce(r.model, '') AS model,
               sum(r.cost) AS cost, coalesce(sum(r.total_tokens), 0) AS tokens, sum(r.requests) AS requests
        FROM aispend.daily_rollup r
        WHERE r.account = p_account AND r.day >= p_month AND r.day < (p_month + interval '1 month')::date
        GROUP BY GROUPING SETS ((r.day, r.workspace_id), (r.day, r.workspace_id, r.api_key_id), (r.day, r.model))),
    g AS (
        SELECT e.kind, e.workspace_id, e.api_key_id, e.model, gd::date AS day
        FROM (SELECT d.kind, d.workspace_id, d.api_key_id, d.model, min(d.day) AS first
              FROM d GROUP BY d.kind, d.workspace_id, d.api_key_id, d.model) e,
             pg_catalog.generate_series(e.first::timestamp, p_month + interval '1 month' - interval '1 day',
                                        interval '1 day') AS gd),
    -- every day of every entity with its figures (none on a day without data), by grouping a union rather than
    -- a join: right after a first sync the rollup's statistics say a few rows, and the join became a nested loop
    -- (minutes for a large account on a Citus worker)
    nr AS MATERIALIZED (
        SELECT x.day, x.kind, x.workspace_id, x.api_key_id, x.model,
               coalesce(sum(sum(x.cost)) OVER w, 0) AS cost, coalesce(sum(sum(x.tokens)) OVER w, 0) AS tokens,
               sum(sum(x.requests)) OVER w AS requests
        FROM (SELECT g.day, g.kind, g.workspace_id, g.api_key_id, g.model, NULL::numeric AS cost,
                     NULL::numeric AS tokens, NULL::numeric AS requests
              FROM g
              UNION ALL
              SELECT d.day, d.kind, d.workspace_id, d.api_key_id, d.model, d.cost, d.tokens, d.requests FROM d) x
        GROUP BY x.day, x.kind, x.workspace_id, x.api_key_id, x.model
        WINDOW w AS (PARTITION BY x.kind, x.workspace_id, x.api_key_id, x.model ORDER BY x.day)),
    gone AS (
        DELETE FROM aispend._cum x
        WHERE x.account = p_account AND x.grain = 'd' AND x.at >= p_month AND x.at < (p_month + interval '1 month')::date
          -- NOT IN, hashed (see aispend._reroll_days)
          AND (x.at, x.kind, x.workspace_id, x.api_key_id, x.model) NOT IN
              (SELECT nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model FROM nr))
    INSERT INTO aispend._cum AS c (account, grain, at, kind, workspace_id, api_key_id, model, cost, tokens, requests)
    SELECT p_account, 'd', nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model, nr.cost, nr.tokens, nr.requests
    FROM nr
    -- stored day by day: a tab reads the rows of one day, which then share a few pages
    ORDER BY nr.day, nr.kind, nr.workspace_id, nr.api_key_id, nr.model
    ON CONFLICT (account, grain, at, kind, workspace_id, api_key_id, model) DO UPDATE
       SET cost = excluded.cost, tokens = excluded.tokens, requests = excluded.requests
     WHERE (c.cost::text, c.tokens::text, c.requests::text)
           IS DISTINCT FROM (excluded.cost::text, excluded.tokens::text, excluded.requests::text);
END
$$;
COMMENT ON FUNCTION aispend._reroll_month_days(name, date) IS
    'Internal: rewrites the month-to-date rows of every entity of an account for one calendar month.';

-- Rewrites the month rows (grain m) of an account after month p_from up to month p_last. The rows at p_from
-- (everything before it) are the base; month totals are the day rows at each month's last day.
CREATE FUNCTION aispend._reroll_months(p_account name, p_from date, p_last date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    WITH t AS (
        SELECT c.kind, c.workspace_id, c.api_key_id, c.model, pg_catalog.date_trunc('month', c.at)::date AS m,
               c.cost, c.tokens, c.requests
        FROM aispend._cum c
        WHERE c.account = p_account AND c.grain = 'd'
          AND c.at = ANY (ARRAY(SELECT (gm + interval '1 month' - interval '1 day')::date
                                FROM pg_catalog.generate_series(p_from::timestamp, p_last - interval '1 month',
                                                                interval '1 month') AS gm))
        UNION ALL
        SELECT c.kind, c.workspace_id, c.api_key_id, c.model, (p_from - interval '1 month')::date,
               c.cost, c.tokens, c.requests
        FROM aispend._cum c
        WHERE c.account = p_account AND c.grain = 'm' AND c.at = p_from),
    g AS (
        SELECT f.kind, f.workspace_id, f.api_key_id, f.model, gm::date AS m
        FROM (SELECT t.kind, t.workspace_id, t.api_key_id, t.model, min(t.m) AS first
              FROM t GROUP BY t.kind, t.workspace_id, t.api_key_id, t.model) f,
             pg_catalog.generate_series(f.first::timestamp, p_last::timestamp, interval '1 month') AS gm),
    -- by grouping a union rather than a join, as in aispend._reroll_month_days
    s AS (
        SELECT x.kind, x.workspace_id, x.api_key_id, x.model, x.m,
               coalesce(sum(sum(x.cost)) OVER w, 0) AS cost, coalesce(sum(sum(x.tokens)) OVER w, 0) AS tokens,
               sum(sum(x.requests)) OVER w AS requests, sum(count(x.cost)) OVER w AS months_before
        FROM (SELECT g.kind, g.workspace_id, g.api_key_id, g.model, g.m, NULL::numeric AS cost,
                     NULL::numeric AS tokens, NULL::numeric AS requests
              FROM g
              UNION ALL
              SELECT t.kind, t.workspace_id, t.api_key_id, t.model, t.m, t.cost, t.tokens, t.requests FROM t) x
        GROUP BY x.kind, x.workspace_id, x.api_key_id, x.model, x.m
        WINDOW w AS (PARTITION BY x.kind, x.workspace_id, x.api_key_id, x.model ORDER BY x.m
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    -- an entity has a row from the month after its first one: none for its first month (nothing is before
    -- it), whether the re-roll starts there (a first roll-up) or earlier (a later one)
    nr AS MATERIALIZED (SELECT s.kind, s.workspace_id, s.api_key_id, s.model, s.m, s.cost, s.tokens, s.requests
                        FROM s WHERE s.m > p_from AND s.months_before > 0),
    gone AS (
        DELETE FROM aispend._cum x
        WHERE x.account = p_account AND x.grain = 'm' AND x.at > p_from
          -- NOT IN, hashed (see aispend._reroll_days)
          AND (x.at, x.kind, x.workspace_id, x.api_key_id, x.model) NOT IN
              (SELECT nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model FROM nr))
    INSERT INTO aispend._cum AS c (account, grain, at, kind, workspace_id, api_key_id, model, cost, tokens, requests)
    SELECT p_account, 'm', nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model, nr.cost, nr.tokens, nr.requests
    FROM nr
    ORDER BY nr.m, nr.kind, nr.workspace_id, nr.api_key_id, nr.model
    ON CONFLICT (account, grain, at, kind, workspace_id, api_key_id, model) DO UPDATE
       SET cost = excluded.cost, tokens = excluded.tokens, requests = excluded.requests
     WHERE (c.cost::text, c.tokens::text, c.requests::text)
           IS DISTINCT FROM (excluded.cost::text, excluded.tokens::text, excluded.requests::text);
END
$$;
COMMENT ON FUNCTION aispend._reroll_months(name, date, date) IS
    'Internal: rewrites the before-month rows of every entity of an account for the months after p_from.';

-- Re-rolls the days of an account marked in aispend._dirty_days; returns the daily_rollup rows written.
-- Long runs of days are cost in chunks of at most 31 days (one cost-model query each). A month of a large
-- organisation sorts a few hundred thousand rows: with the default 4 MB they spill to disk, and JIT compiling
-- the cost model costs more than it saves. Each chunk is planned for its own account and days (a generic plan,
-- chosen after five calls, cannot see how many rows a month holds).
CREATE FUNCTION aispend._reroll(account name)
RETURNS bigint LANGUAGE plpgsql
SET work_mem = '64MB' SET jit = off SET plan_cache_mode = force_custom_plan
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    acct name := account;
    days date[];
    chunk record;
    old_last date;
    new_first date;
    new_last date;
    months date[];
    m date;
    mstart date;
    n bigint := 0;
BEGIN
    -- One re-roll per account at a time (classid 'aisq': next to the sync's 'aisp').
    PERFORM pg_catalog.pg_advisory_xact_lock(1634300785, aispend._lock_key(acct));
    WITH d AS (DELETE FROM aispend._dirty_days x WHERE x.account = acct RETURNING x.day)
    SELECT pg_catalog.array_agg(DISTINCT d.day ORDER BY d.day) INTO days FROM d;
    IF days IS NULL THEN
        RETURN 0;
    END IF;
    SELECT s.last_day INTO old_last FROM aispend._rollup_state s WHERE s.account = acct;

    FOR chunk IN
        SELECT min(x.day) AS f, max(x.day) AS l
        FROM (SELECT y.day, y.run, (y.day - min(y.day) OVER (PARTITION BY y.run)) / 31 AS part
              FROM (SELECT z.day, sum(z.gap) OVER (ORDER BY z.day) AS run
                    FROM (SELECT u.day, CASE WHEN u.day - pg_catalog.lag(u.day) OVER (ORDER BY u.day) <= 1 THEN 0
                                             ELSE 1 END AS gap
                          FROM pg_catalog.unnest(days) AS u(day)) z) y) x
        GROUP BY x.run, x.part ORDER BY 1
    LOOP
        n := n + aispend._reroll_days(acct, chunk.f, chunk.l);
    END LOOP;

    SELECT r.day INTO new_first FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day LIMIT 1;
    SELECT r.day INTO new_last FROM aispend.daily_rollup r WHERE r.account = acct ORDER BY r.day DESC LIMIT 1;
    IF new_last IS NULL THEN
        DELETE FROM aispend._cum c WHERE c.account = acct;
        DELETE FROM aispend._rollup_state s WHERE s.account = acct;
        RETURN n;
    END IF;

    IF old_last IS NULL THEN
        -- first roll-up of the account: every month
        DELETE FROM aispend._cum c WHERE c.account = acct;
        months := ARRAY(SELECT gm::date FROM pg_catalog.generate_series(
                            pg_catalog.date_trunc('month', new_first::timestamp),
                            pg_catalog.date_trunc('month', new_last::timestamp), interval '1 month') AS gm);
        mstart := months[1];
    ELSE
        months := ARRAY(SELECT DISTINCT pg_catalog.date_trunc('month', d::timestamp)::date
                        FROM pg_catalog.unnest(days) AS d ORDER BY 1);
        -- from the earliest changed month, or from the old last month when the data now reaches further
        mstart := LEAST(months[1], pg_catalog.date_trunc('month', old_last::timestamp)::date);
    END IF;
    FOREACH m IN ARRAY months LOOP
        PERFORM aispend._reroll_month_days(acct, m);
    END LOOP;
    PERFORM aispend._reroll_months(acct, mstart, pg_catalog.date_trunc('month', new_last::timestamp)::date);
    DELETE FROM aispend._cum c
     WHERE c.account = acct AND c.grain = 'm' AND c.at > pg_catalog.date_trunc('month', new_last::timestamp)::date;

    INSERT INTO aispend._rollup_state AS s (account, first_day, last_day, refreshed_at)
    VALUES (acct, new_first, new_last, pg_catalog.now())
    ON CONFLICT ON CONSTRAINT _rollup_state_pkey DO UPDATE
       SET first_day = excluded.first_day, last_day = excluded.last_day, refreshed_at = excluded.refreshed_at;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._reroll(name) IS
    'Internal: re-rolls the days of an account marked dirty (aispend._dirty_days): their daily_rollup rows and '
    'the cumulative rows that depend on them; returns the daily_rollup rows written.';

-- Everything from scratch: what a user runs after loading facts with triggers disabled.
CREATE FUNCTION aispend.refresh_rollups(account name DEFAULT NULL)
RETURNS TABLE (refreshed_account name, first_day date, last_day date, rollup_rows bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    acct name;
    m record;
BEGIN
    FOR acct IN
        SELECT a FROM (SELECT DISTINCT u.account AS a FROM aispend.usage u
                       UNION SELECT DISTINCT c.account FROM aispend.costs c
                       UNION SELECT s.account FROM aispend._rollup_state s) x
        WHERE refresh_rollups.account IS NULL OR a = refresh_rollups.account ORDER BY a
    LOOP
        -- the account's re-roll lock first, as aispend._reroll takes it before it writes the same rows
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300785, aispend._lock_key(acct));
        DELETE FROM aispend._rollup_state s WHERE s.account = acct;
        DELETE FROM aispend.daily_rollup r WHERE r.account = acct;
        -- the models read first, then noted: on Citus a function called inside a query of the facts would run on
        -- their shard, where it cannot write another table
        FOR m IN
            SELECT x.model, min(x.b) AS first, max(x.b) AS last
            FROM (SELECT u.model, u.bucket_start AS b FROM aispend.usage u WHERE u.account = acct AND u.model IS NOT NULL
                  UNION ALL
                  SELECT c.model, c.bucket_start FROM aispend.costs c WHERE c.account = acct AND c.model IS NOT NULL) x
            GROUP BY x.model
        LOOP
            PERFORM aispend._note_model(acct, m.model, m.first, m.last);
        END LOOP;
        PERFORM aispend._mark_all_days(acct);
        refreshed_account := acct;
        rollup_rows := aispend._reroll(acct);
        SELECT s.first_day, s.last_day INTO first_day, last_day FROM aispend._rollup_state s WHERE s.account = acct;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.refresh_rollups(name) IS
    'Rebuilds the dashboard rollups (and aispend.models) of one account (default: every account) from all of its '
    'facts. Every change to facts, prices or sync runs keeps them current by itself; use this after loading '
    'aispend.usage or aispend.costs with triggers disabled (pg_restore --disable-triggers, '
    'session_replication_role = replica).';

REVOKE ALL ON FUNCTION aispend._reroll_days(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll_month_days(name, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll_months(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._reroll(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.refresh_rollups(name) FROM PUBLIC;

-- ---- src/sql/53_invalidation.sql
-- 53_invalidation.sql: one invalidation path for the rollups (52_rollup.sql).
--
-- Every change that can move a figure marks the (account, UTC day) pairs it affects in aispend._dirty_days:
--   * facts: rows of aispend.usage or aispend.costs inserted, updated or deleted (COPY and pg_restore too);
--   * prices: a row of aispend.model_prices inserted, updated, deleted or truncated (aispend.import_prices, manual
--     overrides): the days whose usage has a model matched by the old or the new rule, within its validity;
--   * settlement: a costs run of aispend.sync_runs that succeeds (or is restored, or deleted) and so moves
--     aispend.settled_before(account): the days between the old and the new horizon;
--   * account removal: aispend.forget_account deletes the facts, which marks their days.
-- Names are never rolled up (joined at read time), so renames need nothing.
--
-- The marked days are re-rolled in the same transaction: the sync calls aispend._reroll(account) after each
-- step, and a deferred constraint trigger re-rolls whatever is still marked at COMMIT. A read after the change
-- has committed therefore never sees an old figure. Inside the changing transaction, SET CONSTRAINTS ALL
-- IMMEDIATE re-rolls at once.

CREATE TABLE aispend._dirty_days (
    account name NOT NULL,
    day     date NOT NULL,
    CONSTRAINT _dirty_days_pkey PRIMARY KEY (account, day)
);
COMMENT ON TABLE aispend._dirty_days IS
    'Internal: (account, UTC day) pairs whose rollups must be re-rolled; empty outside a changing transaction.';

-- Marks the days first..last of an account.
CREATE FUNCTION aispend._mark_days(p_account name, p_first date, p_last date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT p_account, d::date
    FROM pg_catalog.generate_series(p_first::timestamp, p_last::timestamp, interval '1 day') AS d
    WHERE p_first IS NOT NULL AND p_last IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
END
$$;
COMMENT ON FUNCTION aispend._mark_days(name, date, date) IS 'Internal: marks the UTC days first..last of an account dirty.';

-- Marks every day of an account that has facts or rollups.
CREATE FUNCTION aispend._mark_all_days(p_account name)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_first date;
    v_last date;
BEGIN
    -- read first, then marked: on Citus a function called in a query of distributed tables runs on a shard
    SELECT LEAST(f.u0, f.c0, f.r0), GREATEST(f.u1, f.c1, f.r1) INTO v_first, v_last
    FROM (SELECT (SELECT (min(u.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.usage u WHERE u.account = p_account) AS u0,
                 (SELECT (max(u.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.usage u WHERE u.account = p_account) AS u1,
                 (SELECT (min(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c WHERE c.account = p_account) AS c0,
                 (SELECT (max(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c WHERE c.account = p_account) AS c1,
                 (SELECT s.first_day FROM aispend._rollup_state s WHERE s.account = p_account) AS r0,
                 (SELECT s.last_day FROM aispend._rollup_state s WHERE s.account = p_account) AS r1) f;
    PERFORM aispend._mark_days(p_account, v_first, v_last);
END
$$;
COMMENT ON FUNCTION aispend._mark_all_days(name) IS 'Internal: marks every day of an account with facts or rollups dirty.';

-- ---------------------------------------------------------------- facts

-- Records that an account's facts name a model between two buckets (aispend.models), for accounts with a
-- known provider.
CREATE FUNCTION aispend._note_model(p_account name, p_model text, p_first timestamptz, p_last timestamptz)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_provider text := aispend.account_provider(p_account);
BEGIN
    IF v_provider IS NULL THEN   -- not an account
        RETURN;
    END IF;
    INSERT INTO aispend.models AS m (account, provider, model, first_seen, last_seen)
    VALUES (p_account, v_provider, p_model, p_first, p_last)
    ON CONFLICT (account, model) DO UPDATE
       SET first_seen = LEAST(m.first_seen, excluded.first_seen), last_seen = GREATEST(m.last_seen, excluded.last_seen)
     WHERE excluded.first_seen < m.first_seen OR excluded.last_seen > m.last_seen;
END
$$;
COMMENT ON FUNCTION aispend._note_model(name, text, timestamptz, timestamptz) IS
    'Internal: records in aispend.models that an account''s facts name a model (first and last bucket).';

-- Marks the days of facts that changed and records the models they name: what the facts' triggers call, and
-- what aispend's own writers (the sync, the FOCUS import) call themselves, so that the rollups follow without the
-- triggers: on Citus those cannot run (aispend.distribute drops them; a trigger on a shard that reads other
-- distributed tables is a nested distributed execution). On a single node both mark the same days: no change.
CREATE FUNCTION aispend._facts_written(p_account name, p_days date[], p_models text[], p_first timestamptz[],
                                       p_last timestamptz[])
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend._dirty_days (account, day)
    SELECT DISTINCT p_account, d.day FROM pg_catalog.unnest(p_days) AS d(day) WHERE d.day IS NOT NULL
    ON CONFLICT (account, day) DO NOTHING;
    PERFORM aispend._note_model(p_account, m.model, m.first_seen, m.last_seen)
       FROM ROWS FROM (pg_catalog.unnest(p_models), pg_catalog.unnest(p_first), pg_catalog.unnest(p_last))
            AS m(model, first_seen, last_seen)
      WHERE m.model IS NOT NULL;
END
$$;
COMMENT ON FUNCTION aispend._facts_written(name, date[], text[], timestamptz[], timestamptz[]) IS
    'Internal: marks dirty the UTC days of facts an aispend writer changed and records the models they name '
    '(model, first and last bucket); what the facts'' triggers do, for Citus, where they cannot run.';

CREATE FUNCTION aispend._facts_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a name;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        FOR a IN SELECT s.account FROM aispend._rollup_state s LOOP
            PERFORM aispend._mark_all_days(a);
        END LOOP;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM aispend._facts_written(o.account, pg_catalog.array_agg(DISTINCT (o.bucket_start AT TIME ZONE 'UTC')::date),
                                       NULL, NULL, NULL)
           FROM old_rows o GROUP BY o.account;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- the days, and the models an account uses: what a price change looks up
        PERFORM aispend._facts_written(d.account, d.days, m.models, m.firsts, m.lasts)
           FROM (SELECT n.account, pg_catalog.array_agg(DISTINCT (n.bucket_start AT TIME ZONE 'UTC')::date) AS days
                   FROM new_rows n GROUP BY n.account) d
           LEFT JOIN (SELECT x.account, pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                             pg_catalog.array_agg(x.l) AS lasts
                        FROM (SELECT n.account, n.model, min(n.bucket_start) AS f, max(n.bucket_start) AS l
                                FROM new_rows n WHERE n.model IS NOT NULL GROUP BY n.account, n.model) x
                       GROUP BY x.account) m ON m.account = d.account;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._facts_changed() IS
    'Internal: statement trigger of aispend.usage and aispend.costs; marks the days of the changed rows dirty and '
    'records the models used (aispend.models).';

CREATE TRIGGER usage_changed_ins AFTER INSERT ON aispend.usage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_upd AFTER UPDATE ON aispend.usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_del AFTER DELETE ON aispend.usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER usage_changed_trunc AFTER TRUNCATE ON aispend.usage
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_ins AFTER INSERT ON aispend.costs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_upd AFTER UPDATE ON aispend.costs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_del AFTER DELETE ON aispend.costs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();
CREATE TRIGGER costs_changed_trunc AFTER TRUNCATE ON aispend.costs
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._facts_changed();

-- ---------------------------------------------------------------- settlement (sync runs of costs)

-- Marks the days between an account's old and new settlement horizon (aispend.settled_before), when it moved.
CREATE FUNCTION aispend._mark_settlement_moved(p_account name, p_old date, p_new date)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    last_day date;
BEGIN
    IF p_old IS NOT DISTINCT FROM p_new THEN
        RETURN;
    END IF;
    -- no horizon = every billed day settled: the days from the other horizon on change
    SELECT GREATEST((SELECT s.last_day FROM aispend._rollup_state s WHERE s.account = p_account),
                    (SELECT (max(c.bucket_start) AT TIME ZONE 'UTC')::date FROM aispend.costs c
                     WHERE c.account = p_account))
      INTO last_day;
    PERFORM aispend._mark_days(p_account, LEAST(p_old, p_new),
                               CASE WHEN p_old IS NULL OR p_new IS NULL THEN last_day
                                    ELSE GREATEST(p_old, p_new) - 1 END);
END
$$;
COMMENT ON FUNCTION aispend._mark_settlement_moved(name, date, date) IS
    'Internal: marks dirty the days between an account''s old and new settlement horizon (aispend.settled_before).';

CREATE FUNCTION aispend._costs_runs_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a name;
    old_h date;
BEGIN
    IF pg_catalog.to_regclass('pg_temp.aispend_runs_changed') IS NULL THEN
        CREATE TEMP TABLE aispend_runs_changed (account name, id bigint, horizon date, is_new boolean) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.aispend_runs_changed;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO pg_temp.aispend_runs_changed
        SELECT o.account, o.id, (o.complete_through AT TIME ZONE 'UTC')::date, false FROM old_rows o
        WHERE o.endpoint = 'costs' AND o.status = 'succeeded' AND o.complete_through IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO pg_temp.aispend_runs_changed
        SELECT n.account, n.id, (n.complete_through AT TIME ZONE 'UTC')::date, true FROM new_rows n
        WHERE n.endpoint = 'costs' AND n.status = 'succeeded' AND n.complete_through IS NOT NULL;
    END IF;
    FOR a IN SELECT DISTINCT c.account FROM pg_temp.aispend_runs_changed c LOOP
        -- the horizon before the statement: the runs it did not write, and the rows it replaced or deleted
        SELECT GREATEST((SELECT (max(r.complete_through) AT TIME ZONE 'UTC')::date FROM aispend.sync_runs r
                         WHERE r.account = a AND r.endpoint = 'costs' AND r.status = 'succeeded'
                           AND NOT EXISTS (SELECT 1 FROM pg_temp.aispend_runs_changed c
                                           WHERE c.account = r.account AND c.id = r.id AND c.is_new)),
                        (SELECT max(c.horizon) FROM pg_temp.aispend_runs_changed c WHERE c.account = a AND NOT c.is_new))
          INTO old_h;
        PERFORM aispend._mark_settlement_moved(a, old_h, aispend.settled_before(a));
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._costs_runs_changed() IS
    'Internal: statement trigger of aispend.sync_runs; when the settlement horizon of an account '
    '(aispend.settled_before) moves, marks the days between the old and the new horizon dirty.';

CREATE TRIGGER sync_runs_settle_ins AFTER INSERT ON aispend.sync_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();
CREATE TRIGGER sync_runs_settle_upd AFTER UPDATE ON aispend.sync_runs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();
CREATE TRIGGER sync_runs_settle_del AFTER DELETE ON aispend.sync_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._costs_runs_changed();

-- ---------------------------------------------------------------- prices

CREATE FUNCTION aispend._model_prices_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a name;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        FOR a IN SELECT s.account FROM aispend._rollup_state s LOOP
            PERFORM aispend._mark_all_days(a);
        END LOOP;
        RETURN NULL;
    END IF;
    IF pg_catalog.to_regclass('pg_temp.aispend_rules_changed') IS NULL THEN
        CREATE TEMP TABLE aispend_rules_changed (provider text, match_kind text, pattern text, valid_from date,
                                                 valid_to date) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.aispend_rules_changed;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO pg_temp.aispend_rules_changed
        SELECT o.provider, o.match_kind, o.pattern, o.valid_from, o.valid_to FROM old_rows o;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO pg_temp.aispend_rules_changed
        SELECT n.provider, n.match_kind, n.pattern, n.valid_from, n.valid_to FROM new_rows n;
    END IF;
    -- the usage days of every (account, model) a changed rule matches, within the rule's validity
    INSERT INTO aispend._dirty_days (account, day)
    SELECT DISTINCT u.account, (u.bucket_start AT TIME ZONE 'UTC')::date
    FROM (SELECT DISTINCT m.account, m.model, r.valid_from, r.valid_to
          FROM pg_temp.aispend_rules_changed r
          JOIN aispend._account_providers() p ON p.provider = r.provider
          JOIN aispend.models m ON m.account = p.account
          WHERE aispend._price_rule_matches(r.match_kind, r.pattern, m.model)) x
    JOIN aispend.usage u ON u.account = x.account AND u.model = x.model
     AND u.bucket_start >= aispend._utc_day_start(x.valid_from)
     AND (x.valid_to IS NULL OR u.bucket_start < aispend._utc_day_start(x.valid_to))
    ON CONFLICT ON CONSTRAINT _dirty_days_pkey DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._model_prices_changed() IS
    'Internal: statement trigger of aispend.model_prices; marks dirty the usage days of every model an inserted, '
    'updated or deleted rule matches (old and new rule, within its validity); TRUNCATE marks everything.';

CREATE TRIGGER model_prices_rollup_ins AFTER INSERT ON aispend.model_prices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_upd AFTER UPDATE ON aispend.model_prices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_del AFTER DELETE ON aispend.model_prices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();
CREATE TRIGGER model_prices_rollup_trunc AFTER TRUNCATE ON aispend.model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._model_prices_changed();

-- ---------------------------------------------------------------- re-roll at commit

CREATE FUNCTION aispend._reroll_at_commit()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._reroll(NEW.account);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._reroll_at_commit() IS
    'Internal: deferred constraint trigger of aispend._dirty_days; re-rolls the marked days of the account at COMMIT.';

CREATE CONSTRAINT TRIGGER dirty_days_reroll AFTER INSERT ON aispend._dirty_days
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION aispend._reroll_at_commit();

REVOKE ALL ON FUNCTION aispend._mark_days(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._mark_all_days(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._note_model(name, text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._mark_settlement_moved(name, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._facts_written(name, date[], text[], timestamptz[], timestamptz[]) FROM PUBLIC;

-- ---- src/sql/54_workspace_management.sql
-- 54_workspace_management.sql: the Workspace Management tab. Renames are plain UPDATEs of
-- aispend.workspaces.display_name (one workspace, or many at once); a trigger records every change of the name
-- shown (custom renames and provider-side renames) in aispend.workspace_name_history. The sync writes only
-- provider_name, never display_name, so a custom name survives a provider-side rename.

CREATE TABLE aispend.workspace_name_history (
    account          name        NOT NULL,
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    workspace_id     text        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('custom', 'provider')),
    old_name         text,
    new_name         text,
    old_display_name text,
    new_display_name text,
    old_provider_name text,
    new_provider_name text,
    changed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    changed_by       name        NOT NULL DEFAULT CURRENT_USER,
    action           text        CHECK (action IN ('rename', 'reset', 'revert', 'provider rename')),
    CONSTRAINT workspace_name_history_pkey PRIMARY KEY (account, id)
);
CREATE INDEX workspace_name_history_ws_idx ON aispend.workspace_name_history (account, workspace_id, changed_at);
COMMENT ON TABLE aispend.workspace_name_history IS
    'Every change of a workspace''s names: custom renames (display_name) and provider-side renames (provider_name).';
COMMENT ON COLUMN aispend.workspace_name_history.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.workspace_name_history.id IS 'Change id (aispend.revert_workspace_name takes it).';
COMMENT ON COLUMN aispend.workspace_name_history.workspace_id IS 'Provider workspace / project id.';
COMMENT ON COLUMN aispend.workspace_name_history.action IS
    'rename (a custom name set), reset (custom name dropped), revert (aispend.revert_workspace_name), provider rename; NULL: added by hand.';
COMMENT ON COLUMN aispend.workspace_name_history.source IS 'custom: display_name changed by a person; provider: the provider renamed it (sync).';
COMMENT ON COLUMN aispend.workspace_name_history.old_name IS 'Name shown before the change.';
COMMENT ON COLUMN aispend.workspace_name_history.new_name IS 'Name shown after the change.';
COMMENT ON COLUMN aispend.workspace_name_history.old_display_name IS 'display_name before (NULL: the provider''s name was shown).';
COMMENT ON COLUMN aispend.workspace_name_history.new_display_name IS 'display_name after (NULL: reset to the provider''s name).';
COMMENT ON COLUMN aispend.workspace_name_history.old_provider_name IS 'The provider''s name before.';
COMMENT ON COLUMN aispend.workspace_name_history.new_provider_name IS 'The provider''s name after (differs for a provider-side rename).';
COMMENT ON COLUMN aispend.workspace_name_history.changed_at IS 'When (transaction start time).';
COMMENT ON COLUMN aispend.workspace_name_history.changed_by IS 'The role that made the change (CURRENT_USER).';
SELECT pg_catalog.pg_extension_config_dump('aispend.workspace_name_history', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.workspace_name_history_id_seq', '');

-- Records one change of a workspace's names (the trigger below, or a writer on Citus: aispend._names_changed).
CREATE FUNCTION aispend._record_name_change(p_account name, p_workspace_id text, p_old_display text,
                                            p_new_display text, p_old_provider text, p_new_provider text,
                                            p_old_name text, p_new_name text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- a sentinel workspace's name placeholder ('(default workspace)') giving way to the provider's own name is no
    -- rename: the name became known
    IF p_old_display IS NOT DISTINCT FROM p_new_display AND p_workspace_id LIKE '(%' AND p_old_provider LIKE '(%' THEN
        RETURN;
    END IF;
    INSERT INTO aispend.workspace_name_history (account, workspace_id, source, action, old_name, new_name,
                                                old_display_name, new_display_name, old_provider_name,
                                                new_provider_name)
    VALUES (p_account, p_workspace_id,
            CASE WHEN p_old_display IS DISTINCT FROM p_new_display THEN 'custom' ELSE 'provider' END,
            CASE WHEN p_old_display IS NOT DISTINCT FROM p_new_display THEN 'provider rename'
                 -- aispend.revert_workspace_name says so for the change it makes
                 WHEN current_setting('aispend_history.action', true) = 'revert' THEN 'revert'
                 WHEN p_new_display IS NULL THEN 'reset'
                 ELSE 'rename' END,
            p_old_name, p_new_name, p_old_display, p_new_display, p_old_provider, p_new_provider);
END
$$;
COMMENT ON FUNCTION aispend._record_name_change(name, text, text, text, text, text, text, text) IS
    'Internal: records one change of a workspace''s names in aispend.workspace_name_history.';

CREATE FUNCTION aispend._workspace_name_changed()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._record_name_change(NEW.account, NEW.workspace_id, OLD.display_name, NEW.display_name,
                                        OLD.provider_name, NEW.provider_name, OLD.name, NEW.name);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION aispend._workspace_name_changed() IS 'Internal: trigger recording workspace name changes.';

CREATE TRIGGER workspace_name_history AFTER UPDATE OF display_name, provider_name ON aispend.workspaces
    FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.provider_name IS DISTINCT FROM NEW.provider_name)
    EXECUTE FUNCTION aispend._workspace_name_changed();

-- On Citus the trigger cannot run (aispend.distribute drops it: from a shard it would write another distributed
-- table); aispend's writers of names then take the names before (aispend._names_before) and record what changed
-- after (aispend._names_changed). With the trigger in place both do nothing.
CREATE FUNCTION aispend._names_before(p_account name)
RETURNS jsonb LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = 'aispend.workspaces'::regclass
                  AND g.tgfoid = 'aispend._workspace_name_changed()'::regprocedure) THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.jsonb_object_agg(w.workspace_id, pg_catalog.jsonb_build_array(w.display_name,
                                                                                          w.provider_name, w.name))
              FROM aispend.workspaces w WHERE w.account = p_account);
END
$$;
COMMENT ON FUNCTION aispend._names_before(name) IS
    'Internal: an account''s workspace names before a change, when the name history trigger is not in place '
    '(Citus); NULL when it is.';

CREATE FUNCTION aispend._names_changed(p_account name, p_before jsonb)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    w record;
    o jsonb;
BEGIN
    IF p_before IS NULL THEN
        RETURN;
    END IF;
    FOR w IN SELECT x.workspace_id, x.display_name, x.provider_name, x.name
               FROM aispend.workspaces x WHERE x.account = p_account ORDER BY x.workspace_id LOOP
        o := p_before -> w.workspace_id;
        -- a workspace inserted by the change is no rename (the trigger fires on UPDATE only)
        CONTINUE WHEN o IS NULL
            OR ((o ->> 0) IS NOT DISTINCT FROM w.display_name AND (o ->> 1) IS NOT DISTINCT FROM w.provider_name);
        PERFORM aispend._record_name_change(p_account, w.workspace_id, o ->> 0, w.display_name, o ->> 1,
                                            w.provider_name, o ->> 2, w.name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._names_changed(name, jsonb) IS
    'Internal: records in the name history what changed since aispend._names_before (nothing when it returned NULL).';

-- A custom name is trimmed of white space of any kind (tabs, line breaks, no-break and other Unicode spaces);
-- one of only white space means "no custom name"; one longer than 200 characters is refused (a name is shown
-- in every tab, chart and CSV).
CREATE FUNCTION aispend._workspace_blank_name()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    blank CONSTANT text := '[[:space:]\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+';
BEGIN
    IF NEW.display_name IS NOT NULL THEN
        IF pg_catalog.octet_length(NEW.display_name) > 4096 OR pg_catalog.length(NEW.display_name) > 1000 THEN
            NEW.display_name := pg_catalog."left"(NEW.display_name, 1000);   -- trimmed below, then refused
        END IF;
        NEW.display_name := pg_catalog.regexp_replace(NEW.display_name, '^' || blank || '|' || blank || '$', '', 'g');
        IF NEW.display_name = '' THEN
            NEW.display_name := NULL;
        ELSIF pg_catalog.length(NEW.display_name) > 200 THEN
            RAISE EXCEPTION 'aispend: a workspace name has at most 200 characters (workspace % of account %)',
                NEW.workspace_id, NEW.account
                USING ERRCODE = 'string_data_right_truncation',
                      HINT = 'Choose a shorter name; every tab, chart and CSV shows it.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION aispend._workspace_blank_name() IS
    'Internal: trims display_name of any white space; blank becomes NULL; more than 200 characters is refused (22001).';
CREATE TRIGGER workspace_blank_name BEFORE INSERT OR UPDATE OF display_name ON aispend.workspaces
    FOR EACH ROW EXECUTE FUNCTION aispend._workspace_blank_name();

CREATE FUNCTION aispend.rename_workspace(account name, workspace_id text, new_name text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    shown text;
    before jsonb := aispend._names_before(account);
BEGIN
    UPDATE aispend.workspaces w SET display_name = new_name
     WHERE w.account = account AND w.workspace_id = workspace_id
    RETURNING w.name INTO shown;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no workspace % in account %', workspace_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_management;';
    END IF;
    PERFORM aispend._names_changed(account, before);
    RETURN shown;
END
$$;
COMMENT ON FUNCTION aispend.rename_workspace(name, text, text) IS
    'Gives a workspace a custom name (NULL or blank: back to the provider''s name); returns the name shown. '
    'Same as UPDATE aispend.workspaces SET display_name = ... WHERE account = ... AND workspace_id = ...';

CREATE FUNCTION aispend.reset_workspace_name(account name, workspace_id text)
RETURNS text LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend.rename_workspace(account, workspace_id, NULL);
END;
COMMENT ON FUNCTION aispend.reset_workspace_name(name, text) IS
    'Drops the custom name: the workspace shows the provider''s name again. Returns the name shown.';

CREATE FUNCTION aispend.revert_workspace_name(account name, history_id bigint)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    h aispend.workspace_name_history;
    shown text;
BEGIN
    SELECT * INTO h FROM aispend.workspace_name_history x WHERE x.account = account AND x.id = history_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: no name change % in account %', history_id, account
            USING ERRCODE = 'no_data_found', HINT = 'SELECT * FROM aispend.workspace_history;';
    END IF;
    PERFORM set_config('aispend_history.action', 'revert', true);
    shown := aispend.rename_workspace(account, h.workspace_id, h.old_display_name);
    PERFORM set_config('aispend_history.action', '', true);
    RETURN shown;
END
$$;
COMMENT ON FUNCTION aispend.revert_workspace_name(name, bigint) IS
    'Reverts a workspace to the custom name it had before the change history_id (NULL then: the provider''s name). '
    'The revert is itself recorded in the history.';

-- The Workspace Management table, searchable like the other tabs. Dates are UTC days:
--   Created     the provider's creation date, where it gives one;
--   First Seen  the earlier of Created and the first day with usage or cost (else the day a sync first saw it);
--   Last Seen   the last day with usage or cost (NULL: never active in the synced data).
-- PL/pgSQL (on Citus an SQL function cannot read a distributed table; inlined, it read the coordinator's empty
-- tables without an error), the days with data as correlated subqueries by the distribution column.
CREATE FUNCTION aispend._workspace_management_rows(p_search text, p_provider text)
RETURNS TABLE (workspace_name text, provider text, workspace_id text, provider_name text, status text,
               created date, first_seen date, last_seen date, first_activity date, last_activity date,
               name_changes bigint, display_name text, provider_status text, account name,
               created_at timestamptz, archived_at timestamptz, first_synced date, last_listed date,
               provider_workspace_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT m.name, m.provider, m.workspace_id, m.provider_name,
           CASE WHEN m.status IN ('active', 'archived', 'unlisted') THEN m.status ELSE 'inactive' END,
           (m.created_at AT TIME ZONE 'UTC')::date,
           coalesce(LEAST((m.created_at AT TIME ZONE 'UTC')::date, m.first_day), (m.first_seen AT TIME ZONE 'UTC')::date),
           m.last_day, m.first_day, m.last_day, m.name_changes,
           m.display_name, m.status, m.account, m.created_at, m.archived_at,
           (m.first_seen AT TIME ZONE 'UTC')::date, (m.last_seen AT TIME ZONE 'UTC')::date, m.provider_workspace_id
    FROM (SELECT w.*,
                 (SELECT min(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS first_day,
                 (SELECT max(r.day) FROM aispend.daily_rollup r
                   WHERE r.account = w.account AND r.workspace_id = w.workspace_id) AS last_day,
                 (SELECT count(*) FROM aispend.workspace_name_history h
                   WHERE h.account = w.account AND h.workspace_id = w.workspace_id) AS name_changes
          FROM aispend.workspaces w
          WHERE aispend._provider_matches(w.provider, p_provider)
            AND (p_search IS NULL OR p_search = ''
                 OR pg_catalog.strpos(pg_catalog.lower(pg_catalog.concat_ws(E'\x1f', w.name, w.provider_name,
                                                                             w.workspace_id)),
                                      pg_catalog.lower(p_search)) > 0)) m
    ORDER BY m.name, m.account, m.workspace_id;
END
$$;
COMMENT ON FUNCTION aispend._workspace_management_rows(text, text) IS
    'Internal: what aispend.workspace_management_table returns.';

CREATE FUNCTION aispend.workspace_management_table(search text DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (workspace_name text, provider text, workspace_id text, provider_name text, status text,
               created date, first_seen date, last_seen date, first_activity date, last_activity date,
               name_changes bigint, display_name text, provider_status text, account name,
               created_at timestamptz, archived_at timestamptz, first_synced date, last_listed date,
               provider_workspace_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT m.* FROM aispend._workspace_management_rows(workspace_management_table.search,
                                                        workspace_management_table.provider) m;
END;
COMMENT ON FUNCTION aispend.workspace_management_table(text, text) IS
    'Workspace Management table: one row per workspace of every account, filtered by search (case-insensitive '
    'substring of the name shown, the provider''s name or the id) and provider. Created = the provider''s '
    'creation date; First Seen = the earlier of Created and the first day with usage or cost; Last Seen = the '
    'last day with usage or cost (NULL: never active). Default order: workspace_name.';

CREATE VIEW aispend.workspace_management WITH (security_invoker = true) AS
SELECT * FROM aispend.workspace_management_table();
COMMENT ON VIEW aispend.workspace_management IS
    'Workspace Management tab: one row per workspace of every account (default order: workspace_name). '
    'Rename with UPDATE aispend.workspaces SET display_name = ... (or aispend.rename_workspace).';
COMMENT ON COLUMN aispend.workspace_management.workspace_name IS 'Workspace Name: the name shown everywhere (custom name, else the provider''s).';
COMMENT ON COLUMN aispend.workspace_management.provider IS 'Provider: openai, anthropic, ...';
COMMENT ON COLUMN aispend.workspace_management.workspace_id IS 'Workspace ID: the provider''s id (''(default)'': Anthropic default workspace / OpenAI usage without project).';
COMMENT ON COLUMN aispend.workspace_management.provider_name IS 'Provider Name: the name the provider gives it (refreshed by every sync).';
COMMENT ON COLUMN aispend.workspace_management.status IS 'Status: active, archived (at the provider, or gone from its list), unlisted (only seen in usage or costs), inactive (another provider status).';
COMMENT ON COLUMN aispend.workspace_management.created IS 'Created: the provider''s creation date (UTC), where it gives one.';
COMMENT ON COLUMN aispend.workspace_management.first_seen IS 'First Seen: the earlier of Created and the first day with usage or cost (UTC); the day a sync first saw it when neither is known.';
COMMENT ON COLUMN aispend.workspace_management.last_seen IS 'Last Seen: the most recent day with usage or cost (UTC); NULL: never active in the synced data.';
COMMENT ON COLUMN aispend.workspace_management.first_activity IS 'First UTC day with usage or cost.';
COMMENT ON COLUMN aispend.workspace_management.last_activity IS 'Last UTC day with usage or cost.';
COMMENT ON COLUMN aispend.workspace_management.name_changes IS 'Number of recorded name changes (aispend.workspace_history).';
COMMENT ON COLUMN aispend.workspace_management.display_name IS 'The custom name (NULL: none). Editable.';
COMMENT ON COLUMN aispend.workspace_management.provider_status IS 'The provider''s status as synced (active, archived, unlisted, ...).';
COMMENT ON COLUMN aispend.workspace_management.account IS 'The account (aispend server).';
COMMENT ON COLUMN aispend.workspace_management.created_at IS 'Creation time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.archived_at IS 'Archival time at the provider, where given.';
COMMENT ON COLUMN aispend.workspace_management.first_synced IS 'The day a sync first saw it (listed, or named by a fact).';
COMMENT ON COLUMN aispend.workspace_management.last_listed IS 'The last day a sync saw it in the provider''s list.';
COMMENT ON COLUMN aispend.workspace_management.provider_workspace_id IS 'The provider''s own id where workspace_id is a sentinel (the Anthropic default workspace''s real id).';

CREATE VIEW aispend.workspace_history WITH (security_invoker = true) AS
SELECT h.id, h.account, h.workspace_id, w.provider, w.name AS current_name, h.source, h.old_name, h.new_name,
       h.old_display_name, h.new_display_name, h.old_provider_name, h.new_provider_name, h.changed_at, h.changed_by,
       h.action
FROM aispend.workspace_name_history h
LEFT JOIN aispend.workspaces w ON w.account = h.account AND w.workspace_id = h.workspace_id;
COMMENT ON VIEW aispend.workspace_history IS
    '"View History": every name change with the workspace''s current name; revert with '
    'aispend.revert_workspace_name(account, id). Default order: changed_at DESC, id DESC.';
COMMENT ON COLUMN aispend.workspace_history.id IS 'Change id (for aispend.revert_workspace_name).';
COMMENT ON COLUMN aispend.workspace_history.account IS 'The account.';
COMMENT ON COLUMN aispend.workspace_history.workspace_id IS 'Provider workspace id.';
COMMENT ON COLUMN aispend.workspace_history.provider IS 'Provider.';
COMMENT ON COLUMN aispend.workspace_history.current_name IS 'The name shown now.';
COMMENT ON COLUMN aispend.workspace_history.source IS 'custom (a person) or provider (the sync saw a provider-side rename).';
COMMENT ON COLUMN aispend.workspace_history.action IS 'rename (a custom name set), reset (custom name dropped), revert (aispend.revert_workspace_name), provider rename; NULL for a row added by hand.';
COMMENT ON COLUMN aispend.workspace_history.old_name IS 'Previous name shown.';
COMMENT ON COLUMN aispend.workspace_history.new_name IS 'Name shown after the change.';
COMMENT ON COLUMN aispend.workspace_history.old_display_name IS 'Custom name before (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.new_display_name IS 'Custom name after (NULL: none).';
COMMENT ON COLUMN aispend.workspace_history.old_provider_name IS 'Provider''s name before.';
COMMENT ON COLUMN aispend.workspace_history.new_provider_name IS 'Provider''s name after.';
COMMENT ON COLUMN aispend.workspace_history.changed_at IS 'Change timestamp.';
COMMENT ON COLUMN aispend.workspace_history.changed_by IS 'Role that made the change.';

CREATE FUNCTION aispend.workspace_management_csv(search text DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE ("Workspace Name" text, "Provider" text, "Workspace ID" text, "Provider Name" text, "Status" text,
               "Created" date, "First Seen" date, "Last Seen" date, "Name Changes" bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(m.workspace_name), m.provider, aispend.csv_cell(m.workspace_id),
           aispend.csv_cell(m.provider_name), m.status, m.created, m.first_seen, m.last_seen, m.name_changes
    FROM aispend.workspace_management_table(search, provider) m
    ORDER BY m.workspace_name, m.account, m.workspace_id;
END;
COMMENT ON FUNCTION aispend.workspace_management_csv(text, text) IS
    'Workspace Management table with the dashboard''s column titles: \copy (SELECT * FROM '
    'aispend.workspace_management_csv()) TO ''workspaces.csv'' WITH (FORMAT csv, HEADER). Default order: name.';

CREATE VIEW aispend.workspace_management_csv WITH (security_invoker = true) AS
SELECT * FROM aispend.workspace_management_csv();
COMMENT ON VIEW aispend.workspace_management_csv IS
    'aispend.workspace_management_csv() for every workspace, for \copy (SELECT * FROM ... ORDER BY "Workspace Name") TO ... CSV HEADER.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace Name" IS 'See aispend.workspace_management.workspace_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider" IS 'See aispend.workspace_management.provider.';
COMMENT ON COLUMN aispend.workspace_management_csv."Workspace ID" IS 'See aispend.workspace_management.workspace_id.';
COMMENT ON COLUMN aispend.workspace_management_csv."Provider Name" IS 'See aispend.workspace_management.provider_name.';
COMMENT ON COLUMN aispend.workspace_management_csv."Status" IS 'See aispend.workspace_management.status.';
COMMENT ON COLUMN aispend.workspace_management_csv."Created" IS 'See aispend.workspace_management.created.';
COMMENT ON COLUMN aispend.workspace_management_csv."First Seen" IS 'See aispend.workspace_management.first_seen.';
COMMENT ON COLUMN aispend.workspace_management_csv."Last Seen" IS 'See aispend.workspace_management.last_seen.';
COMMENT ON COLUMN aispend.workspace_management_csv."Name Changes" IS 'See aispend.workspace_management.name_changes.';

REVOKE ALL ON FUNCTION aispend.rename_workspace(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.reset_workspace_name(name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.revert_workspace_name(name, bigint) FROM PUBLIC;

-- ---- src/sql/55_audit.sql
-- 55_audit.sql: the audit trail. Who changed what and when, kept for good:
--   * aispend.workspace_name_history (54): every name change;
--   * aispend.audit_log: every CREATE / ALTER / DROP of an aispend account (server) or of a user mapping
--     (key mapping) on one, by event triggers. Server options are recorded (they never hold secrets); of a user
--     mapping only the names of its options (admin_key or admin_key_env), never a value.
-- Both are append-only for every role but a superuser: UPDATE, DELETE and TRUNCATE are refused, and a row's
-- author and time are set by the trigger, so a row added by hand still names who added it and when.

CREATE TABLE aispend.audit_log (
    account        name        NOT NULL,
    at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    action         text        NOT NULL,
    object_type    text        NOT NULL,
    object_identity text       NOT NULL,
    details        jsonb,
    by_role        name        NOT NULL DEFAULT CURRENT_USER,
    session_role   name        NOT NULL DEFAULT SESSION_USER
);
CREATE INDEX audit_log_account_idx ON aispend.audit_log (account, at);
COMMENT ON TABLE aispend.audit_log IS
    'Append-only log of changes to aispend accounts (foreign servers) and their key mappings (user mappings): '
    'who, when, what. Never holds a key. Only a superuser can change or remove rows.';
COMMENT ON COLUMN aispend.audit_log.account IS 'The account (aispend server) concerned.';
COMMENT ON COLUMN aispend.audit_log.at IS 'When (clock time of the change).';
COMMENT ON COLUMN aispend.audit_log.action IS 'The command: CREATE SERVER, ALTER SERVER, DROP SERVER, CREATE USER MAPPING, ...';
COMMENT ON COLUMN aispend.audit_log.object_type IS 'server or user mapping.';
COMMENT ON COLUMN aispend.audit_log.object_identity IS 'The object as PostgreSQL names it (e.g. "user mapping for alice on server acme").';
COMMENT ON COLUMN aispend.audit_log.details IS
    'Server: its options after the change. User mapping: the names of its options (admin_key or admin_key_env), '
    'never their values.';
COMMENT ON COLUMN aispend.audit_log.by_role IS 'The role that ran the command (CURRENT_USER).';
COMMENT ON COLUMN aispend.audit_log.session_role IS 'The role that logged in (SESSION_USER), when it differs after SET ROLE.';
SELECT pg_catalog.pg_extension_config_dump('aispend.audit_log', '');

CREATE FUNCTION aispend._is_superuser()
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false);
COMMENT ON FUNCTION aispend._is_superuser() IS 'Internal: whether the current role is a superuser.';

-- BEFORE trigger of the audit trail: a superuser may do anything (pg_restore, a purge); anyone else may only add
-- rows, which then carry their own role and time.
CREATE FUNCTION aispend._append_only()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF aispend._is_superuser() THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD WHEN 'TRUNCATE' THEN NULL ELSE NEW END;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF TG_TABLE_NAME = 'audit_log' THEN
            NEW.by_role := CURRENT_USER;
            NEW.session_role := SESSION_USER;
            NEW.at := pg_catalog.clock_timestamp();
        ELSE
            NEW.changed_by := CURRENT_USER;
            NEW.changed_at := pg_catalog.now();
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'aispend: %.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The audit trail can only be changed or purged by a superuser.';
END
$$;
COMMENT ON FUNCTION aispend._append_only() IS
    'Internal: keeps the audit trail append-only (UPDATE, DELETE, TRUNCATE only by a superuser; the author and '
    'time of an added row are set here).';

CREATE TRIGGER audit_log_append_only BEFORE INSERT OR UPDATE OR DELETE ON aispend.audit_log
    FOR EACH ROW EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON aispend.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER workspace_name_history_append_only BEFORE INSERT OR UPDATE OR DELETE ON aispend.workspace_name_history
    FOR EACH ROW EXECUTE FUNCTION aispend._append_only();
CREATE TRIGGER workspace_name_history_no_truncate BEFORE TRUNCATE ON aispend.workspace_name_history
    FOR EACH STATEMENT EXECUTE FUNCTION aispend._append_only();

-- ---------------------------------------------------------------- accounts and key mappings

CREATE FUNCTION aispend._audit_ddl()
RETURNS event_trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    c record;
    acct name;
    opts text[];
BEGIN
    -- On a Citus worker, DDL that the coordinator propagates arrives on Citus's own connections: the
    -- coordinator wrote its audit row already. (Never skipped elsewhere: the name alone could be set by anyone.)
    IF pg_catalog.current_setting('application_name') LIKE 'citus\_internal gpid=%' AND aispend._on_citus_worker() THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        acct := NULL;
        IF c.object_type = 'server' THEN
            SELECT s.srvname, s.srvoptions INTO acct, opts FROM aispend._servers() s WHERE s.oid = c.objid;
            IF acct IS NOT NULL THEN
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('options', coalesce(opts, '{}')));
            END IF;
        ELSIF c.object_type = 'user mapping' THEN
            SELECT s.srvname INTO acct
            FROM pg_catalog.pg_user_mappings m JOIN aispend._servers() s ON s.oid = m.srvid
            WHERE m.umid = c.objid;
            IF acct IS NOT NULL THEN
                SELECT pg_catalog.array_agg(pg_catalog.split_part(o, '=', 1) ORDER BY 1) INTO opts
                FROM pg_catalog.pg_user_mappings m, pg_catalog.unnest(m.umoptions) AS o
                WHERE m.umid = c.objid;
                INSERT INTO aispend.audit_log (account, action, object_type, object_identity, details)
                VALUES (acct, c.command_tag, c.object_type, c.object_identity,
                        pg_catalog.jsonb_build_object('option_names', opts));
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._audit_ddl() IS
    'Internal: event trigger; records CREATE / ALTER of aispend servers and of user mappings on them in aispend.audit_log.';

CREATE FUNCTION aispend._audit_drop()
RETURNS event_trigger LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    d record;
    acct name;
BEGIN
    FOR d IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
             WHERE object_type IN ('server', 'user mapping') LOOP
        -- a server is named by address_names, a user mapping by (role) and (server) in address_args
        acct := CASE d.object_type WHEN 'user mapping' THEN d.address_args[1] ELSE d.address_names[1] END;
        -- an aispend account: one the audit log or the sync knows (the server itself is gone)
        IF EXISTS (SELECT 1 FROM aispend.audit_log l WHERE l.account = acct)
           OR EXISTS (SELECT 1 FROM aispend.account_providers p WHERE p.account = acct)
           OR EXISTS (SELECT 1 FROM aispend._servers() s WHERE s.srvname = acct) THEN
            INSERT INTO aispend.audit_log (account, action, object_type, object_identity)
            VALUES (acct, TG_TAG, d.object_type, d.object_identity);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._audit_drop() IS
    'Internal: event trigger; records the dropping of aispend servers and of user mappings on them in aispend.audit_log.';

CREATE EVENT TRIGGER aispend_audit_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE SERVER', 'ALTER SERVER', 'CREATE USER MAPPING', 'ALTER USER MAPPING')
    EXECUTE FUNCTION aispend._audit_ddl();
CREATE EVENT TRIGGER aispend_audit_drop ON sql_drop
    WHEN TAG IN ('DROP SERVER', 'DROP USER MAPPING', 'DROP FOREIGN DATA WRAPPER', 'DROP OWNED')
    EXECUTE FUNCTION aispend._audit_drop();

-- ---- src/sql/56_trend.sql
-- 56_trend.sql: the Trend column of every tab, one function so that every tab agrees.
--
--   previous = 0 and current = 0      -> 'flat', change 0
--   previous = 0 and current <> 0     -> 'new',  change NULL (no percentage from zero)
--   |change| < 1 percent              -> 'flat' (the tolerance: moves under 1% are noise)
--   change >= 1 percent               -> 'up'   (the dashboard's red arrow: spending more)
--   change <= -1 percent              -> 'down' (green arrow)
--   comparison period not synced      -> 'incomplete', change NULL (aispend.trend(current, previous, history_from))
-- change_pct = 100 * (current - previous) / |previous|, rounded to one decimal (half away from zero).

-- Declared as a one-row table function so that PostgreSQL inlines it into each tab's query: called once per
-- row as an ordinary function it cost ~9 us a row, 45 ms of the API keys tab at 5,000 keys. A SQL-standard body
-- (bound to its functions and operators when created) rather than a SET search_path, which would stop inlining.
CREATE FUNCTION aispend.trend(current_value numeric, previous_value numeric)
RETURNS TABLE (change_pct numeric, indicator text, label text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT t.pct, t.ind,
           CASE t.ind WHEN 'new' THEN 'new'
                      WHEN 'up' THEN '↑ ' || t.pct::text || '%'
                      WHEN 'down' THEN '↓ ' || pg_catalog.abs(t.pct)::text || '%'
                      ELSE '→ ' || t.pct::text || '%' END
    FROM (SELECT r.pct,
                 CASE WHEN coalesce(previous_value, 0) = 0 AND coalesce(current_value, 0) = 0 THEN 'flat'
                      WHEN coalesce(previous_value, 0) = 0 THEN 'new'
                      WHEN pg_catalog.abs(r.exact) < 1 THEN 'flat'
                      WHEN r.exact > 0 THEN 'up'
                      ELSE 'down' END AS ind
          FROM (SELECT x.exact,
                       CASE WHEN coalesce(previous_value, 0) = 0 AND coalesce(current_value, 0) = 0 THEN 0.0
                            ELSE pg_catalog.round(x.exact, 1) END AS pct
                FROM (SELECT 100 * (coalesce(current_value, 0) - previous_value)
                             / NULLIF(pg_catalog.abs(previous_value), 0) AS exact) x) r) t;
END;
COMMENT ON FUNCTION aispend.trend(numeric, numeric) IS
    'Trend of a figure against the previous period: change_pct (one decimal; NULL when the previous was 0), '
    'indicator up / down / flat (|change| < 1%) / new (previous 0), label (''↑ 12.5%'', ''↓ 3.0%'', ''→ 0.4%'', ''new''). '
    'Every tab uses it.';

-- The first UTC day from which every account in view (provider filter) has its history: the earliest of its
-- first synced window (a succeeded usage or costs run) and its first day with data. A trend compares with a
-- period; when that period starts before this day, some account was not synced that far back and the
-- comparison would read missing history as zero spend. An account never synced (facts loaded by hand) sets no
-- limit, as it settles every billed day (aispend.settled_before).
CREATE FUNCTION aispend.history_from(provider text DEFAULT 'all')
RETURNS date LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
BEGIN
    accounts := (aispend._provider_accounts(history_from.provider)).accounts;
    RETURN (SELECT max(LEAST(s.first_day, w.first_window))
            FROM aispend._rollup_state s
            JOIN (SELECT r.account, (min(r.window_start) AT TIME ZONE 'UTC')::date AS first_window
                  FROM aispend.sync_runs r
                  WHERE r.account = ANY (accounts) AND r.status = 'succeeded' AND r.endpoint IN ('usage', 'costs')
                  GROUP BY r.account) w ON w.account = s.account
            WHERE s.account = ANY (accounts));
END
$$;
COMMENT ON FUNCTION aispend.history_from(text) IS
    'The first UTC day from which every synced account of a provider filter (all, openai, anthropic, other) has '
    'history: per account the earlier of its first synced window and its first day with data; the latest of '
    'those. NULL: no synced account (facts loaded by hand set no limit).';

-- The day history starts, when a period's comparison period starts before it (its trends are incomplete);
-- NULL when the comparison period is covered.
CREATE FUNCTION aispend._incomplete_from(period daterange, provider text, compare_with daterange)
RETURNS date LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.d FROM (SELECT aispend.history_from(_incomplete_from.provider) AS d) h
    WHERE h.d > pg_catalog.lower(coalesce(_incomplete_from.compare_with, aispend.previous_period(_incomplete_from.period)));
END;
COMMENT ON FUNCTION aispend._incomplete_from(daterange, text, daterange) IS
    'Internal: the first day of history when a period''s comparison period is not fully covered by it, else NULL.';

-- The Trend of a figure whose comparison period may lie partly before the synced history: with history_from
-- set, no percentage (indicator 'incomplete', label 'history from <day>') rather than a growth from zero.
CREATE FUNCTION aispend.trend(current_value numeric, previous_value numeric, history_from date)
RETURNS TABLE (change_pct numeric, indicator text, label text)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
BEGIN ATOMIC
    SELECT CASE WHEN history_from IS NULL THEN t.change_pct END,
           CASE WHEN history_from IS NULL THEN t.indicator ELSE 'incomplete' END,
           CASE WHEN history_from IS NULL THEN t.label ELSE 'history from ' || history_from::text END
    FROM aispend.trend(current_value, previous_value) t;
END;
COMMENT ON FUNCTION aispend.trend(numeric, numeric, date) IS
    'Trend as aispend.trend(current, previous), or, when history_from is given (the comparison period starts '
    'before the synced history), indicator ''incomplete'' with no change_pct and the label ''history from <day>''.';

-- ---- src/sql/57_teams.sql
-- 57_teams.sql: per-team access. A team is a role given a scope: workspace names (every workspace shown under
-- that name, in any account: combined workspaces come along, and a rename moves the scope with the name) and
-- API keys. Row-level security on every table that holds spend lets a team's role read the rows of its scope
-- only; every tab, CSV, the report and aispend.daily_facts run as the caller, so their totals and "% of Total"
-- are computed over what the team may see. Roles that are not teams (admins, readers) see everything.
--
-- A row of usage, costs or the rollups is in a team's scope when its workspace is one of the team's workspace
-- names, or its API key one of the team's keys. The cumulative rollup (aispend._cum) adds up every row, so a
-- team never reads it: its tabs add up its own rows of aispend.daily_rollup instead (58_entity_totals.sql).
-- The live cost model (aispend.cost_facts_between and the views on it) shares each bill among all the keys of
-- a slice, which a team cannot see; aispend.grant_team() does not grant it. The views that read these tables
-- themselves (daily_facts, workspace_management, ...) are security_invoker, so the policies apply to their
-- caller, not to their owner.

CREATE TABLE aispend.teams (
    team       name        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT teams_pkey PRIMARY KEY (team)
);
COMMENT ON TABLE aispend.teams IS
    'Roles that are teams: they see only the spend of their scope (aispend.team_scopes). Managed with '
    'aispend.grant_team() and aispend.revoke_team().';
COMMENT ON COLUMN aispend.teams.team IS 'The role (a BI tool logs in as it, or SET ROLE to it).';
COMMENT ON COLUMN aispend.teams.granted_at IS 'When it became a team.';
COMMENT ON COLUMN aispend.teams.granted_by IS 'Who made it a team.';

CREATE TABLE aispend.team_scopes (
    team           name        NOT NULL,
    workspace_name text,
    api_key_id     text,
    granted_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by     name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT team_scopes_one_thing CHECK ((workspace_name IS NULL) <> (api_key_id IS NULL)),
    CONSTRAINT team_scopes_unique UNIQUE NULLS NOT DISTINCT (team, workspace_name, api_key_id),
    CONSTRAINT team_scopes_team_fkey FOREIGN KEY (team) REFERENCES aispend.teams (team) ON DELETE CASCADE
);
COMMENT ON TABLE aispend.team_scopes IS
    'What each team sees: a workspace name (every workspace shown under it, in any account) or an API key id.';
COMMENT ON COLUMN aispend.team_scopes.team IS 'The team (aispend.teams).';
COMMENT ON COLUMN aispend.team_scopes.workspace_name IS 'A workspace name as the dashboard shows it (aispend.workspaces.name), case-sensitive.';
COMMENT ON COLUMN aispend.team_scopes.api_key_id IS 'An API key id (aispend.api_keys.api_key_id), in any account.';
COMMENT ON COLUMN aispend.team_scopes.granted_at IS 'When the scope was given.';
COMMENT ON COLUMN aispend.team_scopes.granted_by IS 'Who gave it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.teams', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.team_scopes', '');

CREATE FUNCTION aispend._team_restricted()
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT EXISTS (SELECT 1 FROM aispend.teams t WHERE t.team OPERATOR(pg_catalog.=) CURRENT_USER);
END;
COMMENT ON FUNCTION aispend._team_restricted() IS 'Internal: whether the current role is a team (sees its scope only).';

-- The workspaces of a team's scope (ROWS 10: a scope is a few names, and a team's tabs then read the rollup by
-- workspace through its index instead of scanning it). SECURITY DEFINER on purpose, and only this: it reads aispend.workspaces,
-- whose own row-level policy calls it (read as the caller, the policy would recurse). The policies pass
-- CURRENT_USER; it answers only for a team the logged-in role is (or may SET ROLE to), so a team cannot list
-- another team's workspaces. PL/pgSQL, the membership checked first: on Citus a query of the workers, which
-- would check it as the function's owner.
CREATE FUNCTION aispend._team_workspaces(team name)
RETURNS TABLE (account name, workspace_id text)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_workspaces.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT w.account, w.workspace_id
        FROM aispend.workspaces w
        JOIN aispend.team_scopes s ON s.workspace_name = w.name
        WHERE s.team = _team_workspaces.team;
END
$$;
COMMENT ON FUNCTION aispend._team_workspaces(name) IS
    'Internal: (account, workspace_id) of every workspace in a team''s scope (by name), for the row-level policies.';

-- The API keys of a team's scope, with their workspaces (a team given a key sees its workspace's name).
CREATE FUNCTION aispend._team_keys(team name)
RETURNS TABLE (account name, api_key_id text, workspace_id text)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 10
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(SESSION_USER, _team_keys.team, 'MEMBER') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT k.account, k.api_key_id, k.workspace_id
        FROM aispend.api_keys k
        JOIN aispend.team_scopes s ON s.api_key_id = k.api_key_id
        WHERE s.team = _team_keys.team;
END
$$;
COMMENT ON FUNCTION aispend._team_keys(name) IS
    'Internal: (account, api_key_id, workspace_id) of every API key in a team''s scope, for the row-level policies.';


-- Row-level security and the functions that manage teams: 67_team_access.sql (after every table it protects).

-- ---- src/sql/58_entity_totals.sql
-- 58_entity_totals.sql: what every tab shares: the period and filter checks, the period totals of any
-- entity kind from the cumulative rollups (52_rollup.sql), and "% of Total".
--
-- Every tab function takes (period daterange, provider text, search text, min_cost numeric, max_cost numeric)
-- with defaults (last 30 days, all providers, no search, no cost range), the API keys and models tabs also
-- workspace and api_key (drill-down), and compares the period with aispend.previous_period(period). Each has an
-- overload taking the period by name (text). Rows are every entity with cost, tokens or requests in the period
-- or in the previous period (an entity whose spend stopped shows Cost 0 and Trend down 100%). "% of Total" is the share
-- of the rows shown (after every filter), in percent with two decimals, rounded by the largest-remainder
-- method so that the column sums to exactly 100.00 (when no cost is negative).
-- The tab functions have SQL-standard bodies: bound to their objects when created (no search_path hijack) and
-- inlined into the caller's query, which is planned with the actual period (as one query, ~2x faster than
-- as nested function calls planned without their arguments).

CREATE FUNCTION aispend._check_period(period daterange)
RETURNS daterange LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend.previous_period(period);   -- raises for NULL, empty and unbounded ranges
    RETURN period;
END
$$;
COMMENT ON FUNCTION aispend._check_period(daterange) IS 'Internal: validates a period.';

-- The arguments every tab shares: the period, what it is compared with and the provider filter, checked once per
-- call (an InitPlan)...
CREATE FUNCTION aispend._check_filters(period daterange, provider text, compare_with daterange)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend._check_period(period);
    IF compare_with IS NOT NULL THEN
        PERFORM aispend._check_period(compare_with);
    END IF;
    PERFORM aispend._provider_matches('openai', provider);   -- raises for an unknown filter
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_filters(daterange, text, daterange) IS
    'Internal: validates the period, compare_with and the provider filter every tab shares (22023).';

-- ... and the cost range, as a plain condition: with literal bounds it is evaluated while the query is planned,
-- before the planner can prove "cost >= 5 AND cost <= 1" empty and skip every check of the query.
CREATE FUNCTION aispend._check_cost_range(min_cost numeric, max_cost numeric)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF min_cost > max_cost THEN
        RAISE EXCEPTION 'aispend: min_cost % is greater than max_cost %', min_cost, max_cost
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give min_cost <= max_cost, or NULL for no bound.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_cost_range(numeric, numeric) IS
    'Internal: 22023 when a tab''s min_cost is greater than its max_cost (which would silently show nothing).';

-- The drill-down filters: a workspace by its shown name (case-insensitive: every workspace with that name, i.e.
-- a combined row of the Workspaces tab) or its id; an API key by its name (case-insensitive) or its id.
CREATE FUNCTION aispend._workspace_is(workspace_name text, workspace_id text, filter text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN filter IS NULL OR pg_catalog.lower(coalesce(workspace_name, workspace_id)) = pg_catalog.lower(filter)
    OR workspace_id = filter;
COMMENT ON FUNCTION aispend._workspace_is(text, text, text) IS 'Internal: the workspace drill-down filter.';

CREATE FUNCTION aispend._api_key_is(key_name text, api_key_id text, filter text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN filter IS NULL OR pg_catalog.lower(coalesce(key_name, api_key_id)) = pg_catalog.lower(filter)
    OR api_key_id = filter;
COMMENT ON FUNCTION aispend._api_key_is(text, text, text) IS 'Internal: the API key drill-down filter.';

-- The four cumulative boundaries of a period and of what it is compared with, per account (clamped to the
-- account's last day with data: nothing happens after it). Slots: 1 the period's last day, 2 the day before
-- it, 3 the previous period's last day, 4 the day before that.
-- PL/pgSQL (ROWS 8: a handful of rows per account), as every function the tabs read a table through: on Citus
-- a query of an SQL function over a distributed table cannot be planned.
CREATE FUNCTION aispend._boundaries(p_period daterange, p_provider text, p_compare daterange)
RETURNS TABLE (account name, provider text, slot integer, day date, month date)
LANGUAGE plpgsql STABLE ROWS 8
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    prev daterange := aispend._check_period(coalesce(p_compare, aispend.previous_period(p_period)));
    accounts name[];
    last_days date[];
BEGIN
    -- the rolled-up accounts first, then their providers: on Citus a query of the shards cannot call
    -- aispend._account_providers() (it reads another distributed table)
    SELECT pg_catalog.array_agg(s.account), pg_catalog.array_agg(s.last_day) INTO accounts, last_days
      FROM aispend._rollup_state s;
    RETURN QUERY
    SELECT s.account, ap.provider, p.slot, LEAST(p.b, s.last_day),
           pg_catalog.date_trunc('month', LEAST(p.b, s.last_day)::timestamp)::date
    FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(last_days)) AS s(account, last_day)
    JOIN aispend._account_providers() ap ON ap.account = s.account,
         (VALUES (1, pg_catalog.upper(p_period) - 1), (2, pg_catalog.lower(p_period) - 1),
                 (3, pg_catalog.upper(prev) - 1), (4, pg_catalog.lower(prev) - 1)) AS p(slot, b)
    WHERE aispend._provider_matches(ap.provider, p_provider);
END
$$;
COMMENT ON FUNCTION aispend._boundaries(daterange, text, daterange) IS
    'Internal: boundary days of a period and of what it is compared with (default aispend.previous_period).';

-- The cumulative rows of one entity kind at those boundaries (with their account's provider and slot).
CREATE FUNCTION aispend._cum_at_boundaries(p_kind "char", p_period daterange, p_provider text,
                                           p_compare daterange)
RETURNS TABLE (account name, provider text, slot integer, workspace_id text, api_key_id text, model text,
               cost numeric, tokens bigint, requests bigint)
LANGUAGE plpgsql STABLE ROWS 200
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
    providers text[];
    slots integer[];
    grains "char"[];
    ats date[];
BEGIN
    -- the boundaries first (each: a day row, and the month row of everything before its month), then the
    -- cumulative rows at them: on Citus a query of the shards, calling no function that reads a table
    SELECT pg_catalog.array_agg(b.account), pg_catalog.array_agg(b.provider), pg_catalog.array_agg(b.slot),
           pg_catalog.array_agg(g.grain), pg_catalog.array_agg(g.at)
      INTO accounts, providers, slots, grains, ats
      FROM aispend._boundaries(p_period, p_provider, p_compare) b
     CROSS JOIN LATERAL (VALUES ('d'::"char", b.day), ('m'::"char", b.month)) AS g(grain, at);
    RETURN QUERY
    SELECT b.account, b.provider, b.slot, c.workspace_id, c.api_key_id, c.model, c.cost, c.tokens, c.requests
    FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers), pg_catalog.unnest(slots),
                    pg_catalog.unnest(grains), pg_catalog.unnest(ats)) AS b(account, provider, slot, grain, at)
    JOIN aispend._cum c ON c.account = b.account AND c.grain = b.grain AND c.at = b.at AND c.kind = p_kind;
END
$$;
COMMENT ON FUNCTION aispend._cum_at_boundaries("char", daterange, text, daterange) IS
    'Internal: the cumulative rows (aispend._cum) of an entity kind at the boundaries of a period and of what it is '
    'compared with (aispend._boundaries); what aispend._entity_totals adds up.';

-- The daily rollup rows of a drill-down to a workspace or an API key (by name or id; a key's id also within a
-- named workspace) on the UTC days [lo, hi) of some accounts; none for a team or without a filter.
CREATE FUNCTION aispend._drilldown_rows(p_accounts name[], lo date, hi date, p_workspace text, p_api_key text)
RETURNS SETOF aispend.daily_rollup
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF aispend._team_restricted() OR (p_workspace IS NULL AND p_api_key IS NULL) THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT r.* FROM aispend.daily_rollup r
    WHERE r.account = ANY (p_accounts) AND r.day >= lo AND r.day < hi
      AND (p_workspace IS NULL
           OR EXISTS (SELECT 1 FROM aispend.workspaces w
                      WHERE w.account = r.account AND w.workspace_id = r.workspace_id
                        AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)))
      AND (p_api_key IS NULL
           OR EXISTS (SELECT 1 FROM aispend.api_keys k
                      WHERE k.account = r.account AND k.api_key_id = r.api_key_id
                        AND aispend._api_key_is(k.name, k.api_key_id, p_api_key))
           OR p_workspace IS NOT NULL AND r.api_key_id = p_api_key);
END
$$;
COMMENT ON FUNCTION aispend._drilldown_rows(name[], date, date, text, text) IS
    'Internal: the daily rollup rows of a drill-down to a workspace or an API key (none for a team).';

-- A team's own daily rollup rows on the UTC days [lo, hi) (row-level security keeps the others out), found by
-- their workspaces (index daily_rollup_workspace_idx): those of its workspaces, and those of its keys in other
-- workspaces; with the drill-down filters. None for a role that is not a team. The scope is read first (on Citus
-- a query of the workers; the query of the rollup then names the accounts it reads).
CREATE FUNCTION aispend._team_rollup_rows(lo date, hi date, p_workspace text, p_api_key text)
RETURNS SETOF aispend.daily_rollup
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_ws_accounts name[];
    v_ws_ids text[];
    v_key_accounts name[];
    v_key_workspaces text[];
    v_key_ids text[];
BEGIN
    IF NOT aispend._team_restricted() THEN
        RETURN;
    END IF;
    SELECT coalesce(pg_catalog.array_agg(w.account), '{}'), coalesce(pg_catalog.array_agg(w.workspace_id), '{}')
      INTO v_ws_accounts, v_ws_ids
      FROM aispend._team_workspaces(CURRENT_USER) w;
    SELECT coalesce(pg_catalog.array_agg(k.account), '{}'), coalesce(pg_catalog.array_agg(k.workspace_id), '{}'),
           coalesce(pg_catalog.array_agg(k.api_key_id), '{}')
      INTO v_key_accounts, v_key_workspaces, v_key_ids
      FROM aispend._team_keys(CURRENT_USER) k
     WHERE (k.account, k.workspace_id) NOT IN (SELECT w.account, w.workspace_id
                                               FROM unnest(v_ws_accounts, v_ws_ids) AS w(account, workspace_id));
    RETURN QUERY
    SELECT r.* FROM aispend.daily_rollup r
    WHERE r.day >= lo AND r.day < hi
      -- each pair checked exactly; the arrays alone let the index (and on Citus the shards) narrow it first
      AND ((r.account = ANY (v_ws_accounts) AND r.workspace_id = ANY (v_ws_ids)
            AND (r.account, r.workspace_id) IN (SELECT w.account, w.workspace_id
                                                FROM unnest(v_ws_accounts, v_ws_ids) AS w(account, workspace_id)))
           OR (r.account = ANY (v_key_accounts) AND r.workspace_id = ANY (v_key_workspaces)
               AND (r.account, r.workspace_id, r.api_key_id)
                   IN (SELECT k.account, k.workspace_id, k.api_key_id
                       FROM unnest(v_key_accounts, v_key_workspaces, v_key_ids) AS k(account, workspace_id, api_key_id))))
    -- the names are looked up only for a filter (a team's whole scope would pay for them on every row)
      AND (p_workspace IS NULL
           OR EXISTS (SELECT 1 FROM aispend.workspaces w
                      WHERE w.account = r.account AND w.workspace_id = r.workspace_id
                        AND aispend._workspace_is(w.name, w.workspace_id, p_workspace))
           OR r.workspace_id = p_workspace)
      AND (p_api_key IS NULL
           OR EXISTS (SELECT 1 FROM aispend.api_keys k
                      WHERE k.account = r.account AND k.api_key_id = r.api_key_id
                        AND aispend._api_key_is(k.name, k.api_key_id, p_api_key))
           OR r.api_key_id = p_api_key);
END
$$;
COMMENT ON FUNCTION aispend._team_rollup_rows(date, date, text, text) IS
    'Internal: a team''s own daily rollup rows, with the drill-down filters (none for another role).';

-- What _entity_totals returns from the daily rollup rather than the cumulative sums: for a team and for a
-- drill-down. PL/pgSQL: its plan stays out of the tabs' plans (no JIT), and its rows are read through the two
-- functions above, with the accounts of the provider filter read first (on Citus, no query of the shards calls a
-- function that reads a table).
CREATE FUNCTION aispend._rollup_entity_rows(p_kind "char", p_period daterange, p_provider text, p_workspace text,
                                            p_api_key text, p_compare daterange)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE plpgsql STABLE ROWS 100
SET search_path = pg_catalog, aispend, pg_temp SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    prev daterange := coalesce(p_compare, aispend.previous_period(p_period));
    -- the bounds as dates: compared with every row, a date is cheaper than a range
    cur_lo date := pg_catalog.lower(p_period);
    cur_hi date := pg_catalog.upper(p_period);
    prev_lo date := pg_catalog.lower(prev);
    prev_hi date := pg_catalog.upper(prev);
    accounts name[];
    providers text[];
BEGIN
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    WITH r AS (
        SELECT * FROM aispend._drilldown_rows(accounts, LEAST(cur_lo, prev_lo), GREATEST(cur_hi, prev_hi),
                                              p_workspace, p_api_key)
        UNION ALL
        SELECT * FROM aispend._team_rollup_rows(LEAST(cur_lo, prev_lo), GREATEST(cur_hi, prev_hi), p_workspace,
                                                p_api_key)),
    f AS (
        SELECT r.account, ap.provider, r.workspace_id, r.api_key_id, r.model, r.cost, r.total_tokens, r.requests,
               r.day >= cur_lo AND r.day < cur_hi AS cur, r.day >= prev_lo AND r.day < prev_hi AS prev
        FROM r
        JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
          ON ap.account = r.account
        WHERE r.day >= cur_lo AND r.day < cur_hi OR r.day >= prev_lo AND r.day < prev_hi)
    SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
           o.previous_cost, o.previous_tokens, o.previous_requests
    FROM (SELECT f.account, f.provider,
                 CASE WHEN p_kind = 'm' THEN '' ELSE f.workspace_id END AS workspace_id,
                 CASE WHEN p_kind = 'k' THEN f.api_key_id ELSE '' END AS api_key_id,
                 CASE WHEN p_kind = 'm' THEN f.model ELSE '' END AS model,
                 coalesce(sum(f.cost) FILTER (WHERE f.cur), 0) AS cost,
                 coalesce(sum(f.total_tokens) FILTER (WHERE f.cur), 0)::bigint AS tokens,
                 sum(f.requests) FILTER (WHERE f.cur)::bigint AS requests,
                 coalesce(sum(f.cost) FILTER (WHERE f.prev), 0) AS previous_cost,
                 coalesce(sum(f.total_tokens) FILTER (WHERE f.prev), 0)::bigint AS previous_tokens,
                 sum(f.requests) FILTER (WHERE f.prev)::bigint AS previous_requests,
                 -- as the cumulative path: left out when nothing moved in either period
                 bool_or(f.cur) AND (sum(f.cost) FILTER (WHERE f.cur) <> 0
                                     OR sum(f.total_tokens) FILTER (WHERE f.cur) <> 0
                                     OR sum(f.requests) FILTER (WHERE f.cur) <> 0)
                 OR bool_or(f.prev) AND (sum(f.cost) FILTER (WHERE f.prev) <> 0
                                            OR sum(f.total_tokens) FILTER (WHERE f.prev) <> 0
                                            OR sum(f.requests) FILTER (WHERE f.prev) <> 0) AS moved
          FROM f
          GROUP BY 1, 2, 3, 4, 5) o
    WHERE o.moved;
END
$$;
COMMENT ON FUNCTION aispend._rollup_entity_rows("char", daterange, text, text, text, daterange) IS
    'Internal: what aispend._rollup_entity_totals returns.';

CREATE FUNCTION aispend._rollup_entity_totals(kind "char", period daterange, provider text, workspace text,
                                              api_key text, compare_with daterange)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT o.* FROM aispend._rollup_entity_rows(_rollup_entity_totals.kind, _rollup_entity_totals.period,
                                                _rollup_entity_totals.provider, _rollup_entity_totals.workspace,
                                                _rollup_entity_totals.api_key, _rollup_entity_totals.compare_with) o;
END;
COMMENT ON FUNCTION aispend._rollup_entity_totals("char", daterange, text, text, text, daterange) IS
    'Internal: _entity_totals from the daily rollup: for a team (57_teams.sql, its own rows) or a drill-down to a '
    'workspace or an API key.';

-- Cost, tokens and requests of every entity of one kind ('w' workspace, 'k' API key, 'm' model) in a period
-- and in what it is compared with (compare_with; default aispend.previous_period(period)), optionally within one workspace or API key (the drill-down filters). Entities
-- without anything in either period are left out. min_cost and max_cost are only checked here (each tab applies
-- them to its own rows).
CREATE FUNCTION aispend._entity_totals(kind "char", period daterange, provider text, workspace text DEFAULT NULL,
                                       api_key text DEFAULT NULL, min_cost numeric DEFAULT NULL,
                                       max_cost numeric DEFAULT NULL, compare_with daterange DEFAULT NULL)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH v AS (
        SELECT b.account, b.provider, b.slot, b.workspace_id, b.api_key_id, b.model, b.cost, b.tokens, b.requests
        FROM aispend._cum_at_boundaries(_entity_totals.kind, _entity_totals.period, _entity_totals.provider,
                                        _entity_totals.compare_with) b),
    t AS (
        SELECT v.account, min(v.provider) AS provider, v.workspace_id, v.api_key_id, v.model,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 1), 0) AS c1,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 2), 0) AS c2,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 3), 0) AS c3,
               coalesce(sum(v.cost) FILTER (WHERE v.slot = 4), 0) AS c4,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 1), 0) AS t1,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 2), 0) AS t2,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 3), 0) AS t3,
               coalesce(sum(v.tokens) FILTER (WHERE v.slot = 4), 0) AS t4,
               sum(v.requests) FILTER (WHERE v.slot = 1) AS r1,
               sum(v.requests) FILTER (WHERE v.slot = 2) AS r2,
               sum(v.requests) FILTER (WHERE v.slot = 3) AS r3,
               sum(v.requests) FILTER (WHERE v.slot = 4) AS r4
        FROM v GROUP BY v.account, v.workspace_id, v.api_key_id, v.model)
    -- Requests: a count (0 when none) for providers that report them, NULL for those that do not (Anthropic)
    SELECT e.account, e.provider, e.workspace_id, e.api_key_id, e.model, e.cost, e.tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.requests, 0) END,
           e.previous_cost, e.previous_tokens,
           CASE WHEN aispend.reports_requests(e.provider) THEN coalesce(e.previous_requests, 0) END
    FROM (
        SELECT t.account, t.provider, t.workspace_id, t.api_key_id, t.model, t.c1 - t.c2 AS cost,
               (t.t1 - t.t2)::bigint AS tokens, (t.r1 - coalesce(t.r2, 0))::bigint AS requests,
               t.c3 - t.c4 AS previous_cost, (t.t3 - t.t4)::bigint AS previous_tokens,
               (t.r3 - coalesce(t.r4, 0))::bigint AS previous_requests
        FROM t
        -- in either period: a change in one that the other cancels out still shows
        WHERE (t.c1 <> t.c2 OR t.c3 <> t.c4 OR t.t1 <> t.t2 OR t.t3 <> t.t4
               OR t.r1 IS DISTINCT FROM t.r2 OR t.r3 IS DISTINCT FROM t.r4)
          AND NOT (SELECT aispend._team_restricted())
          AND _entity_totals.workspace IS NULL AND _entity_totals.api_key IS NULL
        UNION ALL
        -- a team (57_teams.sql) cannot read the cumulative sums, and a drill-down has none: both add up rows
        -- of the daily rollup
        SELECT o.account, o.provider, o.workspace_id, o.api_key_id, o.model, o.cost, o.tokens, o.requests,
               o.previous_cost, o.previous_tokens, o.previous_requests
        FROM aispend._rollup_entity_totals(_entity_totals.kind, _entity_totals.period, _entity_totals.provider,
                                           _entity_totals.workspace, _entity_totals.api_key,
                                           _entity_totals.compare_with) o
        WHERE (SELECT aispend._team_restricted()) OR _entity_totals.workspace IS NOT NULL
           OR _entity_totals.api_key IS NOT NULL) e
    WHERE (SELECT aispend._check_filters(_entity_totals.period, _entity_totals.provider, _entity_totals.compare_with))
      AND aispend._check_cost_range(_entity_totals.min_cost, _entity_totals.max_cost);
END;
COMMENT ON FUNCTION aispend._entity_totals("char", daterange, text, text, text, numeric, numeric, daterange) IS
    'Internal: cost, tokens, requests per entity of a kind (w workspace, k API key, m model) in a period and its '
    'comparison period (compare_with, default aispend.previous_period), from the cumulative rollups (for a team or a drill-down to a '
    'workspace or key: from the daily rollup); every tab reads it.';

-- "% of Total" of a list of costs given in tie-break order: percent with two decimals, largest remainder first
-- (ties: the earlier position), so that the shares add up to exactly 100.00 when no cost is negative; plain
-- rounding otherwise. Returns the position (1-based) and the share.
CREATE FUNCTION aispend._pct_of_total(costs numeric[])
RETURNS TABLE (ord bigint, pct numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp SET jit = off
AS $$
    WITH q AS (
        SELECT u.ord, u.cost, sum(u.cost) OVER () AS total,
               CASE WHEN sum(u.cost) OVER () > 0 AND min(u.cost) OVER () >= 0
                    THEN 10000 * u.cost / sum(u.cost) OVER () END AS raw
        FROM pg_catalog.unnest(costs) WITH ORDINALITY AS u(cost, ord)),
    p AS (
        SELECT q.*, 10000 - sum(pg_catalog.floor(q.raw)) OVER () AS units,
               pg_catalog.row_number() OVER (ORDER BY q.raw - pg_catalog.floor(q.raw) DESC, q.ord) AS rk
        FROM q)
    SELECT p.ord,
           CASE WHEN p.raw IS NOT NULL
                THEN pg_catalog.round((pg_catalog.floor(p.raw) + CASE WHEN p.rk <= p.units THEN 1 ELSE 0 END) / 100, 2)
                WHEN p.total <> 0 THEN pg_catalog.round(100 * p.cost / p.total, 2) END
    FROM p
$$;
COMMENT ON FUNCTION aispend._pct_of_total(numeric[]) IS
    'Internal: "% of Total" of every row of a table or pie (largest-remainder rounding to 2 decimals).';

-- ---- src/sql/60_tab_workspaces.sql
-- 60_tab_workspaces.sql: the Workspaces tab. See docs/dashboard-workspaces.md; arguments and row rules in
-- 58_entity_totals.sql.

-- Per workspace, with the shown name, restricted to the names (combined rows) that pass search and cost range.
CREATE FUNCTION aispend._workspace_rows(period daterange, provider text, search text, min_cost numeric,
                                        max_cost numeric,
                                        compare_with daterange)
RETURNS TABLE (name text, account name, provider text, workspace_id text, cost numeric, tokens bigint,
               requests bigint, previous_cost numeric, previous_tokens bigint, previous_requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT coalesce(w.name, t.workspace_id) AS name, t.account, t.provider, t.workspace_id, t.cost, t.tokens,
               t.requests, t.previous_cost, t.previous_tokens, t.previous_requests
        FROM aispend._entity_totals('w', period, provider, NULL, NULL, min_cost, max_cost, compare_with) t
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id),
    g AS (
        SELECT e.name, sum(e.cost) AS cost FROM e GROUP BY e.name)
    SELECT e.name, e.account, e.provider, e.workspace_id, e.cost, e.tokens, e.requests, e.previous_cost,
           e.previous_tokens, e.previous_requests
    FROM e JOIN g ON g.name = e.name
    WHERE (search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(e.name), pg_catalog.lower(search)) > 0)
      AND (min_cost IS NULL OR g.cost >= min_cost)
      AND (max_cost IS NULL OR g.cost <= max_cost);
END;
COMMENT ON FUNCTION aispend._workspace_rows(daterange, text, text, numeric, numeric, daterange) IS
    'Internal: workspace totals with names, filtered by search and cost range of the combined (same-name) row.';

CREATE FUNCTION aispend.workspaces_table(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         compare_with daterange DEFAULT NULL)
RETURNS TABLE (name text, provider text, cost numeric, pct_of_total numeric, requests bigint, tokens bigint,
               trend text, change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, workspaces integer, accounts name[], workspace_ids text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH g AS (
        SELECT r.name, pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider,
               sum(r.cost) AS cost, sum(r.requests)::bigint AS requests, sum(r.tokens)::bigint AS tokens,
               sum(r.previous_cost) AS previous_cost, sum(r.previous_tokens)::bigint AS previous_tokens,
               sum(r.previous_requests)::bigint AS previous_requests, count(*)::integer AS workspaces,
               pg_catalog.array_agg(DISTINCT r.account) AS accounts,
               pg_catalog.array_agg(r.workspace_id ORDER BY r.account, r.workspace_id) AS workspace_ids
        FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with) r
        GROUP BY r.name),
    o AS (
        SELECT g.*, pg_catalog.row_number() OVER (ORDER BY g.cost DESC, g.name) AS ord FROM g)
    SELECT o.name, o.provider, pg_catalog.round(o.cost, 2), pc.pct, o.requests, o.tokens, tr.indicator,
           tr.change_pct, tr.label, pg_catalog.round(o.previous_cost, 2), o.previous_tokens, o.previous_requests,
           o.workspaces, o.accounts, o.workspace_ids
    FROM o
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(workspaces_table.period, workspaces_table.provider,
                                                 workspaces_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.workspaces_table(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab table: one row per workspace name (workspaces of any account and provider with the same '
    'name are combined). Arguments: period, provider (all|openai|anthropic|other), search (case-insensitive '
    'substring of the name), min_cost, max_cost (of the combined row, before rounding). Money is rounded to the cent '
    '(exact figures: aispend.daily_facts). Rows come in the default order: cost DESC, name.';

CREATE FUNCTION aispend.workspaces_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                           compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_workspaces integer, openai_cost numeric, anthropic_cost numeric,
               other_cost numeric, requests bigint, tokens bigint, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH r AS (SELECT * FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with)),
    s AS (
        SELECT coalesce(sum(r.cost), 0) AS total_cost,
               (SELECT count(*) FROM (SELECT 1 FROM r r2 GROUP BY r2.name
                                      HAVING sum(r2.cost) <> 0 OR sum(r2.tokens) <> 0
                                          OR coalesce(sum(r2.requests), 0) <> 0) a)::integer AS active,
               coalesce(sum(r.cost) FILTER (WHERE r.provider = 'openai'), 0) AS openai_cost,
               coalesce(sum(r.cost) FILTER (WHERE r.provider = 'anthropic'), 0) AS anthropic_cost,
               coalesce(sum(r.cost) FILTER (WHERE r.provider NOT IN ('openai', 'anthropic')), 0) AS other_cost,
               sum(r.requests)::bigint AS requests, coalesce(sum(r.tokens), 0)::bigint AS tokens,
               coalesce(sum(r.previous_cost), 0) AS previous_cost
        FROM r)
    SELECT pg_catalog.round(s.total_cost, 2), s.active, pg_catalog.round(s.openai_cost, 2),
           pg_catalog.round(s.anthropic_cost, 2), pg_catalog.round(s.other_cost, 2), s.requests, s.tokens,
           pg_catalog.round(s.previous_cost, 2), tr.indicator, tr.change_pct, tr.label
    -- the history check once per query (inlined into trend() it would run per row and column)
    FROM s CROSS JOIN (SELECT aispend._incomplete_from(workspaces_summary.period, workspaces_summary.provider,
                                                 workspaces_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total_cost, s.previous_cost, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.workspaces_summary(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab summary: Total Cost, Active Workspaces (names with cost, tokens or requests in the period), '
    'cost per provider, and the total''s trend. Same arguments and filters as aispend.workspaces_table.';

CREATE FUNCTION aispend.workspaces_by_provider(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                               compare_with daterange DEFAULT NULL)
RETURNS TABLE (provider text, cost numeric, pct_of_total numeric, previous_cost numeric, trend text,
               change_pct numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH o AS (
        SELECT r.provider, sum(r.cost) AS cost, sum(r.previous_cost) AS previous_cost,
               pg_catalog.row_number() OVER (ORDER BY sum(r.cost) DESC, r.provider) AS ord
        FROM aispend._workspace_rows(period, provider, search, min_cost, max_cost, compare_with) r
        GROUP BY r.provider)
    SELECT o.provider, pg_catalog.round(o.cost, 2), pc.pct, pg_catalog.round(o.previous_cost, 2), tr.indicator,
           tr.change_pct
    FROM o
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(workspaces_by_provider.period, workspaces_by_provider.provider,
                                                 workspaces_by_provider.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.workspaces_by_provider(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab pie chart "Cost Distribution by Provider": cost and share per provider (largest-remainder "% of Total", as '
    'the tables). Rows come in the default order: cost DESC.';

CREATE FUNCTION aispend.workspaces_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                               provider text DEFAULT 'all', search text DEFAULT NULL,
                                               min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                               compare_with daterange DEFAULT NULL)
RETURNS TABLE (name text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.name, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost, compare_with) t
    ORDER BY t.cost DESC, t.name;
END;
COMMENT ON FUNCTION aispend.workspaces_vs_previous(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces tab bar chart "Current vs Previous Period" per workspace name. Default order: current_cost DESC '
    '(or change DESC to find the workspaces that grew most).';

CREATE FUNCTION aispend.workspaces_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE ("Name" text, "Provider" text, "Cost" numeric, "% of Total" numeric, "Requests" bigint,
               "Tokens" bigint, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.name), t.provider, t.cost, t.pct_of_total, t.requests, t.tokens, t.trend_label
    FROM aispend.workspaces_table(period, provider, search, min_cost, max_cost, compare_with) t
    ORDER BY t.cost DESC, t.name;
END;
COMMENT ON FUNCTION aispend.workspaces_csv(daterange, text, text, numeric, numeric, daterange) IS
    'Workspaces table with the dashboard''s column titles (Cost in dollars to the cent): '
    '\copy (SELECT * FROM aispend.workspaces_csv(''last_30_days'')) TO ''workspaces.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the default order: cost DESC, name.';

-- ---- src/sql/62_tab_api_keys.sql
-- 62_tab_api_keys.sql: the API Key Analytics tab. See docs/dashboard-api-keys.md.
-- A row is an API key within a workspace. Rows that are not keys keep their cost but sit apart, after the keys,
-- with a kind saying what they are and no status: 'console' (Anthropic Console usage), 'no key' (OpenAI usage
-- the provider attributes to no key), 'fees without a key' (billed lines no key can be given). Keys are not
-- combined by name. Listed keys without anything in either period appear too, with cost 0 (include_unused).
-- Drill-down filters: workspace (a workspace name, case-insensitive: every workspace with that name, or an id)
-- and api_key (a key name, case-insensitive, or an id).
-- Search matches the key name, its workspace name, key hint, id or owner (case-insensitive substring).

-- STABLE, not IMMUTABLE: concat_ws is STABLE, and a function declared stricter than its body is never inlined.
CREATE FUNCTION aispend._key_matches(key_name text, workspace_name text, key_hint text, api_key_id text,
                                     owner text, search text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
RETURN search IS NULL OR search = ''
    OR pg_catalog.strpos(pg_catalog.lower(pg_catalog.concat_ws(E'\x1f', key_name, workspace_name, key_hint,
                                                                api_key_id, owner)),
                         pg_catalog.lower(search)) > 0;
COMMENT ON FUNCTION aispend._key_matches(text, text, text, text, text, text) IS 'Internal: the API keys tab''s search.';

CREATE FUNCTION aispend.api_key_kind(api_key_id text, status text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN api_key_id = '(console)' THEN 'console'
            WHEN api_key_id = '(none)' THEN 'no key'
            WHEN api_key_id = '(unattributed)' THEN 'fees without a key'
            WHEN api_key_id LIKE '(%' THEN 'not a key'
            WHEN status = 'deleted' THEN 'deleted key'
            WHEN status IS NULL OR status = 'unlisted' THEN 'unlisted key'
            ELSE 'key' END;
COMMENT ON FUNCTION aispend.api_key_kind(text, text) IS
    'What a row of the API keys tab is, from its api_key_id and aispend.api_keys.status: key (listed by the '
    'provider), deleted key (listed once, gone now), unlisted key (seen in usage or costs only), console '
    '(Anthropic Console usage, no key), no key (usage the provider attributes to no key), fees without a key '
    '(billed lines no key can be given).';

-- The status shown: the provider's, summarised; none for rows that are not keys.
CREATE FUNCTION aispend._api_key_status(api_key_id text, status text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN api_key_id LIKE '(%' THEN NULL
            WHEN status = 'active' THEN 'active'
            WHEN status = 'deleted' THEN 'deleted'
            WHEN status IS NULL OR status = 'unlisted' THEN 'unlisted'
            ELSE 'inactive' END;
COMMENT ON FUNCTION aispend._api_key_status(text, text) IS
    'Internal: active, inactive (the provider''s inactive, archived, expired), deleted, unlisted; NULL for rows '
    'that are not keys.';

CREATE FUNCTION aispend._api_key_label(api_key_id text, key_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(key_name, CASE api_key_id WHEN '(unattributed)' THEN '(fees without an API key)'
                                          WHEN '(console)' THEN '(no API key: Console)'
                                          WHEN '(none)' THEN '(no API key)'
                                          ELSE api_key_id END);
COMMENT ON FUNCTION aispend._api_key_label(text, text) IS 'Internal: the name shown for a key row.';

-- The last UTC day with usage (tokens or requests) of each key with any, from the daily rollup: of one account,
-- of one key, or of all (NULL). The tabs join it once rather than asking per key: asked per key, 120,000 keys
-- took minutes. PL/pgSQL: on Citus a query of one shard, or grouped on each shard, with the arguments' values.
-- (The key is compared in the column's collation: called with an account, of type name, a text argument may
-- come in as collation "C", and the index on the key would not be used.)
CREATE FUNCTION aispend._last_active_days(p_account name, p_api_key_id text)
RETURNS TABLE (account name, api_key_id text, day date)
LANGUAGE plpgsql STABLE ROWS 5000
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
        SELECT r.account, r.api_key_id, max(r.day) FROM aispend.daily_rollup r
        WHERE (p_account IS NULL OR r.account = p_account)
          AND (p_api_key_id IS NULL OR r.api_key_id = p_api_key_id COLLATE "default")
          AND (r.total_tokens > 0 OR r.requests > 0)
        GROUP BY r.account, r.api_key_id;
END
$$;
COMMENT ON FUNCTION aispend._last_active_days(name, text) IS
    'Internal: (account, api_key_id, last UTC day with usage) of every key with usage in the synced data, of one '
    'account or one key (NULL: all).';

CREATE FUNCTION aispend.api_key_last_active(account name, api_key_id text)
RETURNS date LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF api_key_last_active.account IS NULL OR api_key_last_active.api_key_id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT d.day FROM aispend._last_active_days(api_key_last_active.account, api_key_last_active.api_key_id) d);
END
$$;
COMMENT ON FUNCTION aispend.api_key_last_active(name, text) IS
    'The last UTC day with usage (tokens or requests) of an API key in the synced data; NULL: none.';

-- Per key and workspace, exact, with the rows that are not keys and (include_unused) the listed keys without use.
CREATE FUNCTION aispend._api_key_rows(period daterange, provider text, search text, min_cost numeric,
                                      max_cost numeric, workspace text, api_key text, include_unused boolean,
                                      compare_with daterange)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, account name, workspace_id text, api_key_id text, owner text,
               last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH a AS (
        SELECT * FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with)),
    t AS (
        SELECT a.account, a.provider, a.workspace_id, a.api_key_id, a.cost, a.tokens, a.requests, a.previous_cost,
               a.previous_tokens, a.previous_requests
        FROM a
        UNION ALL
        -- listed keys with nothing in either period
        SELECT k.account, k.provider, k.workspace_id, k.api_key_id, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END, 0, 0,
               CASE WHEN aispend.reports_requests(k.provider) THEN 0 END
        FROM aispend._api_keys() k
        LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
        WHERE include_unused AND k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
          AND aispend._provider_matches(k.provider, _api_key_rows.provider)
          AND aispend._workspace_is(w.name, k.workspace_id, _api_key_rows.workspace)
          AND aispend._api_key_is(k.name, k.api_key_id, _api_key_rows.api_key)
          AND NOT EXISTS (SELECT 1 FROM a WHERE a.account = k.account AND a.api_key_id = k.api_key_id)),
    e AS (
        SELECT aispend._api_key_label(t.api_key_id, k.name) AS api_key, aispend.api_key_kind(t.api_key_id, k.status) AS kind,
               coalesce(w.name, t.workspace_id) AS workspace, k.key_hint, t.provider,
               aispend._api_key_status(t.api_key_id, k.status) AS status,
               t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens, t.previous_requests,
               t.account, t.workspace_id, t.api_key_id, k.owner, k.last_used_at
        FROM t
        LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
        LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
        WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
          AND (min_cost IS NULL OR t.cost >= min_cost)
          AND (max_cost IS NULL OR t.cost <= max_cost))
    SELECT e.api_key, e.kind, e.workspace, e.key_hint, e.provider, e.status, e.cost, e.tokens, e.requests,
           e.previous_cost, e.previous_tokens, e.previous_requests, e.account, e.workspace_id, e.api_key_id,
           e.owner, e.last_used_at
    FROM e;
END;
COMMENT ON FUNCTION aispend._api_key_rows(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'Internal: the API keys tab''s rows with exact figures (the tab rounds them; its pie, unused keys and sums '
    'read these).';

CREATE FUNCTION aispend.api_keys_table(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       include_unused boolean DEFAULT true,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (api_key text, kind text, workspace text, key_hint text, provider text, status text, cost numeric,
               tokens bigint, requests bigint, cost_per_1m numeric, pct_of_total numeric, trend text,
               change_pct numeric, trend_label text, previous_cost numeric, previous_tokens bigint,
               previous_requests bigint, last_active_day date, account name, workspace_id text, api_key_id text,
               owner text, last_used_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT * FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key,
                                            include_unused, compare_with)),
    o AS (
        -- keys first, then the rows that are not keys
        SELECT e.*, pg_catalog.row_number() OVER (ORDER BY e.api_key_id LIKE '(%', e.cost DESC, e.api_key, e.account,
                                                          e.workspace_id, e.api_key_id) AS ord
        FROM e)
    SELECT o.api_key, o.kind, o.workspace, o.key_hint, o.provider, o.status, pg_catalog.round(o.cost, 2), o.tokens,
           o.requests, pg_catalog.round(1000000 * o.cost / NULLIF(o.tokens, 0), 4), pc.pct,
           tr.indicator, tr.change_pct, tr.label, pg_catalog.round(o.previous_cost, 2), o.previous_tokens,
           o.previous_requests, la.day, o.account, o.workspace_id, o.api_key_id, o.owner, o.last_used_at
    FROM o
    LEFT JOIN aispend._last_active_days(NULL, NULL) la ON la.account = o.account AND la.api_key_id = o.api_key_id
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = o.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_table.period, api_keys_table.provider,
                                                 api_keys_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(o.cost, o.previous_cost, inc.since) tr
    ORDER BY o.ord;
END;
COMMENT ON FUNCTION aispend.api_keys_table(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'API Key Analytics table: one row per API key and workspace, keys first, then the rows that are not keys '
    '(kind: see aispend.api_key_kind; no status). Arguments: period, provider, search (key name, workspace name, '
    'hint, id, owner), min_cost, max_cost, workspace (name or id: drill-down), api_key (name or id), '
    'include_unused (listed keys with nothing in either period, cost 0). Money rounded to the cent, Cost/1M = '
    'cost per million tokens (4 decimals). last_active_day: the key''s last day with usage. Rows come in the '
    'default order: keys before other rows, then cost DESC, api_key.';

CREATE FUNCTION aispend.api_keys_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', search text DEFAULT NULL,
                                         min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                         workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                         compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, active_keys integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, not_key_cost numeric, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.round(s.total, 2), s.active, s.requests, s.tokens,
           pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4), pg_catalog.round(s.not_key, 2),
           pg_catalog.round(s.previous, 2), tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.api_key_id NOT LIKE '(%'
                                     AND (t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0)))::integer
                     AS active,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.cost) FILTER (WHERE t.api_key_id LIKE '(%'), 0) AS not_key,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend._entity_totals('k', period, provider, workspace, api_key, min_cost, max_cost, compare_with) t
          LEFT JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
          LEFT JOIN aispend._workspaces() w ON w.account = t.account AND w.workspace_id = t.workspace_id
          WHERE aispend._key_matches(k.name, w.name, k.key_hint, t.api_key_id, k.owner, search)
            AND (min_cost IS NULL OR t.cost >= min_cost)
            AND (max_cost IS NULL OR t.cost <= max_cost)) s
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(api_keys_summary.period, api_keys_summary.provider,
                                                 api_keys_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total, s.previous, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.api_keys_summary(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics summary: Total Cost (every row, keys or not), Active API Keys (keys with cost, tokens or '
    'requests in the period; rows that are not keys never count), Total Requests (providers that report them), '
    'Average Cost per 1M Tokens (total cost / total tokens), not_key_cost (the cost of rows that are not keys), trend.';

CREATE FUNCTION aispend.api_keys_top(period daterange DEFAULT aispend.period('last_30_days'), top_n integer DEFAULT 10,
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE (rank integer, label text, api_key text, workspace text, cost numeric, pct_of_total numeric,
               keys integer)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH t AS (
        SELECT x.*, pg_catalog.row_number() OVER (ORDER BY x.cost DESC, x.api_key, x.account, x.workspace_id,
                                                            x.api_key_id) AS rn
        FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key, false,
                                   compare_with) x
        WHERE x.cost <> 0 AND x.api_key_id NOT LIKE '(%'),
    slices AS (
        SELECT LEAST(t.rn, top_n + 1) AS ord,
               CASE WHEN t.rn <= top_n THEN t.api_key || ' (' || t.workspace || ')' ELSE 'Other keys' END AS label,
               CASE WHEN t.rn <= top_n THEN min(t.api_key) END AS api_key,
               CASE WHEN t.rn <= top_n THEN min(t.workspace) END AS workspace,
               sum(t.cost) AS cost, count(*)::integer AS keys
        FROM t
        GROUP BY 1, 2, t.rn <= top_n
        UNION ALL
        -- what no key carries, as one slice, so that the pie adds up to the total
        SELECT top_n + 2, 'Not an API key', NULL, NULL, sum(x.cost), 0
        FROM aispend._api_key_rows(period, provider, search, min_cost, max_cost, workspace, api_key, false,
                                   compare_with) x
        WHERE x.cost <> 0 AND x.api_key_id LIKE '(%'
        HAVING count(*) > 0),
    p AS (
        SELECT s.*, pg_catalog.row_number() OVER (ORDER BY s.ord) AS pos FROM slices s)
    SELECT p.pos::integer, p.label, p.api_key, p.workspace, pg_catalog.round(p.cost, 2), pc.pct, p.keys
    FROM p
    JOIN aispend._pct_of_total(ARRAY(SELECT p2.cost FROM p p2 ORDER BY p2.pos)) pc ON pc.ord = p.pos
    ORDER BY p.pos;
END;
COMMENT ON FUNCTION aispend.api_keys_top(daterange, integer, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics pie chart "Cost Distribution by API Key": the top_n keys by cost, then "Other keys" with '
    'the rest (keys = how many), then "Not an API key" with the cost of rows that are not keys (console, usage '
    'or fees without a key), so that the slices add up to the total; "% of Total" as in the tables. Rows come in '
    'the default order: rank.';

CREATE FUNCTION aispend.api_keys_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                             provider text DEFAULT 'all', search text DEFAULT NULL,
                                             min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                             workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                             compare_with daterange DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, provider text, current_cost numeric, previous_cost numeric,
               change numeric, change_pct numeric, trend text, account name, workspace_id text, api_key_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct,
           t.trend, t.account, t.workspace_id, t.api_key_id
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace, api_key, false, compare_with) t
    WHERE t.api_key_id NOT LIKE '(%'
    ORDER BY t.cost DESC, t.api_key, t.account, t.workspace_id, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_vs_previous(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'API Key Analytics bar chart "API Key Cost Comparison": current vs previous period per key (keys only). '
    'Default order: current_cost DESC (ORDER BY change DESC: the keys driving an increase).';

CREATE FUNCTION aispend.api_keys_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     include_unused boolean DEFAULT true,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE ("API Key" text, "Kind" text, "Workspace" text, "Key Hint" text, "Provider" text, "Status" text,
               "Cost" numeric, "Tokens" bigint, "Requests" bigint, "Cost/1M" numeric, "Trend" text,
               "Last Active" date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.api_key), t.kind, aispend.csv_cell(t.workspace), aispend.csv_cell(t.key_hint),
           t.provider, t.status, t.cost, t.tokens, t.requests, t.cost_per_1m, t.trend_label, t.last_active_day
    FROM aispend.api_keys_table(period, provider, search, min_cost, max_cost, workspace, api_key, include_unused, compare_with) t
    ORDER BY t.api_key_id LIKE '(%', t.cost DESC, t.api_key, t.account, t.workspace_id, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_csv(daterange, text, text, numeric, numeric, text, text, boolean, daterange) IS
    'API Key Analytics table with the dashboard''s column titles ("API Key" is the key name, "Workspace" its '
    'workspace; listed keys without use included with cost 0): '
    '\copy (SELECT * FROM aispend.api_keys_csv(''last_30_days'')) TO ''api_keys.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the order of aispend.api_keys_table.';

-- Listed, enabled keys with nothing in the period.
CREATE FUNCTION aispend.api_keys_unused(period daterange DEFAULT aispend.period('last_30_days'),
                                        provider text DEFAULT 'all', search text DEFAULT NULL,
                                        workspace text DEFAULT NULL)
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, previous_cost numeric,
               account name, workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.api_key, t.workspace, t.key_hint, t.provider, t.status, k.created_at, t.last_used_at, t.last_active_day,
           -- from the end of the period: 0 when the key was used after it
           GREATEST(pg_catalog.upper(period) - 1 - t.last_use, 0)::integer,
           pg_catalog.round(t.previous_cost, 2), t.account, t.workspace_id, t.api_key_id, t.owner
    FROM (SELECT r.*, a.day AS last_active_day, GREATEST((r.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use
          FROM aispend._api_key_rows(period, provider, search, NULL, NULL, workspace, NULL, true, NULL) r
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = r.account AND a.api_key_id = r.api_key_id) t
    JOIN aispend._api_keys() k ON k.account = t.account AND k.api_key_id = t.api_key_id
    WHERE t.kind = 'key' AND t.status = 'active'
      AND t.cost = 0 AND t.tokens = 0 AND coalesce(t.requests, 0) = 0
    ORDER BY t.last_use NULLS FIRST, t.api_key, t.account, t.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_unused(daterange, text, text, text) IS
    'Unused API keys: keys the provider lists as active with 0 requests, no tokens and no cost in the period '
    '(candidates for deactivation; deleted keys are not listed any more and never appear; tokens and cost are '
    'checked too, as Anthropic reports no requests). last_active_day: the last day with usage in the synced data; '
    'days_since_last_use counts from the later of it and the provider''s last_used_at to the end of the period. '
    'Default order: last use NULLS FIRST, api_key.';

CREATE FUNCTION aispend.api_keys_idle(days integer DEFAULT 30, provider text DEFAULT 'all',
                                      as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (api_key text, workspace text, key_hint text, provider text, status text, created_at timestamptz,
               last_used_at timestamptz, last_active_day date, days_since_last_use integer, account name,
               workspace_id text, api_key_id text, owner text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.api_key, x.workspace, x.key_hint, x.provider, x.status, x.created_at, x.last_used_at, x.last_active_day,
           (as_of - x.last_use)::integer, x.account, x.workspace_id, x.api_key_id, x.owner
    FROM (SELECT aispend._api_key_label(k.api_key_id, k.name) AS api_key, coalesce(w.name, k.workspace_id) AS workspace,
                 k.key_hint, k.provider, aispend._api_key_status(k.api_key_id, k.status) AS status, k.created_at,
                 k.last_used_at, a.day AS last_active_day,
                 GREATEST((k.last_used_at AT TIME ZONE 'UTC')::date, a.day) AS last_use,
                 k.account, k.workspace_id, k.api_key_id, k.owner
          FROM aispend._api_keys() k
          LEFT JOIN aispend._workspaces() w ON w.account = k.account AND w.workspace_id = k.workspace_id
          LEFT JOIN aispend._last_active_days(NULL, NULL) a ON a.account = k.account AND a.api_key_id = k.api_key_id
          WHERE k.api_key_id NOT LIKE '(%' AND k.status NOT IN ('deleted', 'unlisted')
            AND aispend._provider_matches(k.provider, api_keys_idle.provider)) x
    WHERE x.last_use IS NULL OR x.last_use <= as_of - api_keys_idle.days
    ORDER BY x.last_use NULLS FIRST, x.api_key, x.account, x.api_key_id;
END;
COMMENT ON FUNCTION aispend.api_keys_idle(integer, text, date) IS
    'Listed API keys (not deleted) whose last use is at least `days` days before as_of: the later of the '
    'provider''s last_used_at and the last day with usage in the synced data (NULL: never used). Default order: '
    'last use NULLS FIRST.';

-- ---- src/sql/64_tab_models.sql
-- 64_tab_models.sql: the Model Efficiency tab. See docs/dashboard-models.md.
-- A row is a model name (the same model in several accounts is one row). Cost/1M = cost per million tokens.
-- Each model has a class (chat, embedding, audio, image, other: aispend.model_class). The star (⭐) marks the
-- most cost-efficient model of each class among the rows shown: the lowest Cost/1M among the class's models
-- with cost > 0 and tokens > 0 in the period (ties: the model with more tokens, then the name); comparing an
-- embedding model with a chat model says nothing.
-- '(no model: tool & service fees)' collects cost lines without a model (e.g. tool calls billed on their own).
-- Drill-down filters: workspace (name or id) and api_key (name or id), as on the API keys tab.

-- The class of a model, from its name: the providers' naming conventions, checked against the shipped price
-- catalogue (embedding and audio models are priced by input only or by audio tokens). A vendor prefix as in
-- OpenRouter's slugs ('openai/gpt-4.1', 'meta-llama/llama-3.3-70b-instruct') is looked through.
CREATE FUNCTION aispend.model_class(model text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN model IS NULL OR model LIKE '(%' THEN 'other'
            WHEN model ~* 'embed' THEN 'embedding'
            WHEN model ~* '(whisper|tts|transcribe|speech|audio)' THEN 'audio'
            WHEN model ~* '(dall-e|gpt-image|image|imagen|sora|video)' THEN 'image'
            WHEN model ~* 'moderation' THEN 'other'
            WHEN model ~* '^([a-z0-9._-]+/)?(gpt|chatgpt|o[0-9]|claude|codex|computer-use|text-davinci|davinci|babbage|gemini|gemma|llama|mistral|mixtral|command|deepseek|grok|qwen|phi)'
                THEN 'chat'
            ELSE 'other' END;
COMMENT ON FUNCTION aispend.model_class(text) IS
    'The class of a model, from its name: chat (chat and text generation), embedding, audio (speech, '
    'transcription, audio models), image (image and video generation), other (moderation, unknown names, and the '
    'tool & service fees row). The Model Efficiency star compares models of one class.';

-- Per model name (all accounts combined), exact, restricted to the rows that pass search and cost range.
CREATE FUNCTION aispend._model_rows(period daterange, provider text, search text, min_cost numeric,
                                    max_cost numeric, workspace text, api_key text,
                                    compare_with daterange)
RETURNS TABLE (model text, provider text, cost numeric, tokens bigint, requests bigint, previous_cost numeric,
               previous_tokens bigint, previous_requests bigint, accounts name[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH g AS (
        SELECT t.model, pg_catalog.string_agg(DISTINCT t.provider, ', ') AS provider, sum(t.cost) AS cost,
               sum(t.tokens)::bigint AS tokens, sum(t.requests)::bigint AS requests,
               sum(t.previous_cost) AS previous_cost, sum(t.previous_tokens)::bigint AS previous_tokens,
               sum(t.previous_requests)::bigint AS previous_requests,
               pg_catalog.array_agg(DISTINCT t.account ORDER BY t.account) AS accounts
        FROM aispend._entity_totals('m', period, provider, workspace, api_key, min_cost, max_cost, compare_with) t
        WHERE search IS NULL OR search = '' OR pg_catalog.strpos(pg_catalog.lower(t.model), pg_catalog.lower(search)) > 0
        GROUP BY t.model)
    SELECT g.model, g.provider, g.cost, g.tokens, g.requests, g.previous_cost, g.previous_tokens,
           g.previous_requests, g.accounts
    FROM g
    WHERE (min_cost IS NULL OR g.cost >= min_cost) AND (max_cost IS NULL OR g.cost <= max_cost);
END;
COMMENT ON FUNCTION aispend._model_rows(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Internal: exact totals per model name, filtered by search and by the cost range of the combined row.';

CREATE FUNCTION aispend.models_table(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', search text DEFAULT NULL,
                                     min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                     workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                     compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, most_efficient boolean, provider text, cost_per_1m numeric, cost numeric,
               tokens bigint, requests bigint, pct_of_total numeric, trend text, change_pct numeric,
               trend_label text, previous_cost numeric, previous_tokens bigint, previous_requests bigint,
               accounts name[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH f AS (
        SELECT * FROM aispend._model_rows(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with)),
    o AS (
        SELECT f.*, aispend.model_class(f.model) AS class,
               CASE WHEN f.cost > 0 AND f.tokens > 0 THEN f.cost / f.tokens END AS eff,
               pg_catalog.row_number() OVER (ORDER BY f.cost DESC, f.model) AS ord
        FROM f),
    e AS (
        SELECT o.*, pg_catalog.row_number() OVER (PARTITION BY o.class ORDER BY o.eff NULLS LAST, o.tokens DESC,
                                                                          o.model) AS erk
        FROM o)
    SELECT e.model, e.class, e.eff IS NOT NULL AND e.erk = 1 AND e.class <> 'other', e.provider,
           pg_catalog.round(1000000 * e.cost / NULLIF(e.tokens, 0), 4), pg_catalog.round(e.cost, 2), e.tokens,
           e.requests, pc.pct, tr.indicator, tr.change_pct, tr.label, pg_catalog.round(e.previous_cost, 2),
           e.previous_tokens, e.previous_requests, e.accounts
    FROM e
    JOIN aispend._pct_of_total(ARRAY(SELECT o2.cost FROM o o2 ORDER BY o2.ord)) pc ON pc.ord = e.ord
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(models_table.period, models_table.provider,
                                                 models_table.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(e.cost, e.previous_cost, inc.since) tr
    ORDER BY 1000000 * e.cost / NULLIF(e.tokens, 0) NULLS LAST, e.model;
END;
COMMENT ON FUNCTION aispend.models_table(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency table: one row per model, with its class (aispend.model_class). most_efficient is the star: '
    'the lowest Cost/1M within the class among models with cost and tokens (none for class other). Arguments: '
    'period, provider, search (model name substring), min_cost, max_cost, workspace (name or id), api_key (name or '
    'id). Money rounded to the cent, Cost/1M to 4 places. Rows come in the default order: cost_per_1m NULLS LAST, '
    'model.';

CREATE FUNCTION aispend.models_summary(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (total_cost numeric, model_count integer, total_requests bigint, tokens bigint,
               avg_cost_per_1m numeric, most_efficient_model text, previous_total_cost numeric, trend text,
               change_pct numeric, trend_label text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.round(s.total, 2), s.models, s.requests, s.tokens,
           pg_catalog.round(1000000 * s.total / NULLIF(s.tokens, 0), 4),
           (SELECT t.model FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
            WHERE t.most_efficient
            ORDER BY t.class = 'chat' DESC, t.cost DESC, t.model LIMIT 1),
           pg_catalog.round(s.previous, 2), tr.indicator, tr.change_pct, tr.label
    FROM (SELECT coalesce(sum(t.cost), 0) AS total,
                 (count(*) FILTER (WHERE t.cost <> 0 OR t.tokens <> 0 OR coalesce(t.requests, 0) <> 0))::integer AS models,
                 sum(t.requests)::bigint AS requests, coalesce(sum(t.tokens), 0)::bigint AS tokens,
                 coalesce(sum(t.previous_cost), 0) AS previous
          FROM aispend._model_rows(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t) s
    -- the history check once per query (inlined into trend() it would run per row and column)
    CROSS JOIN (SELECT aispend._incomplete_from(models_summary.period, models_summary.provider,
                                                 models_summary.compare_with) AS since OFFSET 0) inc
    CROSS JOIN aispend.trend(s.total, s.previous, inc.since) tr;
END;
COMMENT ON FUNCTION aispend.models_summary(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency summary: Total Cost, Model count (models with cost, tokens or requests in the period), Total '
    'Requests, Average Cost per 1M Tokens, the most efficient model (the chat class''s star; else the star of '
    'the class with the most cost), trend.';

CREATE FUNCTION aispend.models_by_cost(period daterange DEFAULT aispend.period('last_30_days'),
                                       provider text DEFAULT 'all', search text DEFAULT NULL,
                                       min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                       workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                       compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, provider text, cost numeric, pct_of_total numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.class, t.provider, t.cost, t.pct_of_total
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    WHERE t.cost <> 0
    ORDER BY t.cost DESC, t.model;
END;
COMMENT ON FUNCTION aispend.models_by_cost(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency pie chart "Cost Distribution by Model". Default order: cost DESC, model.';

CREATE FUNCTION aispend.models_vs_previous(period daterange DEFAULT aispend.period('last_30_days'),
                                           provider text DEFAULT 'all', search text DEFAULT NULL,
                                           min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                           workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                           compare_with daterange DEFAULT NULL)
RETURNS TABLE (model text, class text, provider text, current_cost numeric, previous_cost numeric, change numeric,
               change_pct numeric, trend text, current_tokens bigint, previous_tokens bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.model, t.class, t.provider, t.cost, t.previous_cost, t.cost - t.previous_cost, t.change_pct, t.trend,
           t.tokens, t.previous_tokens
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    ORDER BY t.cost DESC, t.model;
END;
COMMENT ON FUNCTION aispend.models_vs_previous(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency bar chart "Model Cost Comparison": current vs previous period per model (tokens too, to see '
    'a change of model mix; with workspace => ..., within one workspace). Default order: current_cost DESC, model.';

CREATE FUNCTION aispend.models_csv(period daterange DEFAULT aispend.period('last_30_days'),
                                   provider text DEFAULT 'all', search text DEFAULT NULL,
                                   min_cost numeric DEFAULT NULL, max_cost numeric DEFAULT NULL,
                                   workspace text DEFAULT NULL, api_key text DEFAULT NULL,
                                   compare_with daterange DEFAULT NULL)
RETURNS TABLE ("Model" text, "Class" text, "Provider" text, "Cost/1M" numeric, "Cost" numeric, "Tokens" bigint,
               "Requests" bigint, "Trend" text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT aispend.csv_cell(t.model || CASE WHEN t.most_efficient THEN ' ⭐' ELSE '' END), t.class, t.provider,
           t.cost_per_1m, t.cost, t.tokens, t.requests, t.trend_label
    FROM aispend.models_table(period, provider, search, min_cost, max_cost, workspace, api_key, compare_with) t
    ORDER BY t.cost_per_1m NULLS LAST, t.model;
END;
COMMENT ON FUNCTION aispend.models_csv(daterange, text, text, numeric, numeric, text, text, daterange) IS
    'Model Efficiency table with the dashboard''s column titles (each class''s starred model ends with '' ⭐''): '
    '\copy (SELECT * FROM aispend.models_csv(''previous_month'')) TO ''models.csv'' WITH (FORMAT csv, HEADER). '
    'Rows come in the order of aispend.models_table.';

-- Exact cost, tokens and requests per UTC day of any slice (provider, account, workspace, key, model): every day
-- of the period, 0 on days without anything. What the daily series and the budgets' forecasts read.
CREATE FUNCTION aispend._slice_daily(period daterange, provider text, account name, workspace text, api_key text,
                                     model text)
RETURNS TABLE (day date, cost numeric, tokens bigint, requests bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    counts_requests boolean;
BEGIN
    PERFORM aispend._check_period(_slice_daily.period);
    -- the accounts of the provider filter first (on Citus a query of the shards cannot call
    -- aispend._account_providers()); requests are counted (0 on empty days) when one of them reports them, else
    -- NULL (Anthropic only)
    SELECT pg_catalog.array_agg(ap.account) FILTER (WHERE _slice_daily.account IS NULL
                                                       OR ap.account = _slice_daily.account),
           bool_or(aispend.reports_requests(ap.provider))
      INTO accounts, counts_requests
      FROM aispend._account_providers() ap
     WHERE aispend._provider_matches(ap.provider, _slice_daily.provider);
    RETURN QUERY
    WITH r AS (
        SELECT r.day, r.cost, r.total_tokens, r.requests
        FROM aispend.daily_rollup r
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(_slice_daily.period) AND r.day < pg_catalog.upper(_slice_daily.period)
          AND aispend._workspace_is(w.name, r.workspace_id, _slice_daily.workspace)
          AND aispend._api_key_is(k.name, r.api_key_id, _slice_daily.api_key)
          AND (_slice_daily.model IS NULL OR pg_catalog.lower(r.model) = pg_catalog.lower(_slice_daily.model)))
    SELECT d.day::date, coalesce(sum(r.cost), 0), coalesce(sum(r.total_tokens), 0)::bigint,
           CASE WHEN counts_requests THEN coalesce(sum(r.requests), 0)::bigint END
    FROM pg_catalog.generate_series(pg_catalog.lower(_slice_daily.period)::timestamp,
                                    (pg_catalog.upper(_slice_daily.period) - 1)::timestamp, interval '1 day') AS d(day)
    LEFT JOIN r ON r.day = d.day::date
    GROUP BY d.day
    ORDER BY d.day;
END
$$;
COMMENT ON FUNCTION aispend._slice_daily(daterange, text, name, text, text, text) IS
    'Internal: exact cost, tokens and requests per UTC day of a slice (daily_series rounds it; budgets read it).';

-- Cost, tokens and requests per UTC day for any slice: every day of the period, 0 on days without anything.
CREATE FUNCTION aispend.daily_series(period daterange DEFAULT aispend.period('last_30_days'),
                                     provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                     api_key text DEFAULT NULL, model text DEFAULT NULL)
RETURNS TABLE (day date, cost numeric, tokens bigint, requests bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.day, pg_catalog.round(x.cost, 2), x.tokens, x.requests
    FROM aispend._slice_daily(daily_series.period, daily_series.provider, NULL, daily_series.workspace,
                              daily_series.api_key, daily_series.model) x
    ORDER BY x.day;
END;
COMMENT ON FUNCTION aispend.daily_series(daterange, text, text, text, text) IS
    'Cost (to the cent), tokens and requests per UTC day of a period for any slice: provider, workspace (name or '
    'id), api_key (name or id), model (name, case-insensitive); every day of the period, 0 on days without '
    'anything. For line charts: model cost trends over time. Default order: day.';

-- ---- src/sql/65_savings.sql
-- 65_savings.sql: the savings advisor. What a scope's actual usage would have cost at another model's list
-- prices on the same days, each token kind priced as that model prices it; the cheaper models of the same class
-- per key; what prompt caching saves and could save. A re-pricing of token counts, never a judgement of quality.
-- See docs/savings.md.

-- The tokens a scope sent in a period, per day, model and what sets their price (batch, service tier, inference
-- geography, long context), by kind. Usage rows only: billed lines without usage cannot be re-priced.
-- PL/pgSQL (on Citus an SQL function cannot read a distributed table), with the accounts of the provider filter
-- read first.
CREATE FUNCTION aispend._token_mix_rows(p_period daterange, p_provider text, p_workspace text, p_api_key text,
                                        p_model text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint,
               cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint,
               output_audio bigint, input_image bigint, output_image bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    providers text[];
BEGIN
    PERFORM aispend._check_period(p_period);
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    SELECT u.account, ap.provider, u.workspace_id, u.api_key_id, u.model, (u.bucket_start AT TIME ZONE 'UTC')::date,
           coalesce(u.batch, false), u.service_tier, u.inference_geo, aispend._long_context(u.context_window),
           sum(u.uncached_input_tokens)::bigint, sum(u.cache_read_tokens)::bigint,
           sum(u.cache_write_5m_tokens)::bigint, sum(u.cache_write_1h_tokens)::bigint, sum(u.output_tokens)::bigint,
           sum(u.input_audio_tokens)::bigint, sum(u.output_audio_tokens)::bigint,
           sum(u.input_image_tokens)::bigint, sum(u.output_image_tokens)::bigint
    FROM (-- everything in the period
          SELECT u.* FROM aispend.usage u
          WHERE p_workspace IS NULL AND p_api_key IS NULL
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
          UNION ALL
          -- a key's rows, found by the (account, api_key_id, bucket_start) index (in one workspace, if given)
          SELECT u.* FROM aispend.api_keys k
          JOIN aispend.usage u ON u.account = k.account AND u.api_key_id = k.api_key_id
          WHERE p_api_key IS NOT NULL AND aispend._api_key_is(k.name, k.api_key_id, p_api_key)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))
            AND (p_workspace IS NULL OR u.workspace_id = p_workspace
                 OR EXISTS (SELECT 1 FROM aispend.workspaces w WHERE w.account = u.account
                              AND w.workspace_id = u.workspace_id
                              AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)))
          UNION ALL
          -- a workspace's rows, found by the (account, workspace_id, bucket_start) index
          SELECT u.* FROM aispend.workspaces w
          JOIN aispend.usage u ON u.account = w.account AND u.workspace_id = w.workspace_id
          WHERE p_api_key IS NULL AND p_workspace IS NOT NULL
            AND aispend._workspace_is(w.name, w.workspace_id, p_workspace)
            AND u.bucket_start >= aispend._utc_day_start(pg_catalog.lower(p_period))
            AND u.bucket_start < aispend._utc_day_start(pg_catalog.upper(p_period))) u
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
      ON ap.account = u.account
    WHERE u.model IS NOT NULL
      AND (p_model IS NULL OR u.model = p_model)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
END
$$;
COMMENT ON FUNCTION aispend._token_mix_rows(daterange, text, text, text, text) IS
    'Internal (savings): what aispend._token_mix returns.';

CREATE FUNCTION aispend._token_mix(period daterange, provider text, workspace text, api_key text, model text)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               batch boolean, service_tier text, inference_geo text, long_context boolean, uncached bigint,
               cache_read bigint, cache_write_5m bigint, cache_write_1h bigint, output bigint, input_audio bigint,
               output_audio bigint, input_image bigint, output_image bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.* FROM aispend._token_mix_rows(_token_mix.period, _token_mix.provider, _token_mix.workspace,
                                            _token_mix.api_key, _token_mix.model) x;
END;
COMMENT ON FUNCTION aispend._token_mix(daterange, text, text, text, text) IS
    'Internal (savings): the tokens of a scope per day, model and price modifiers, by kind.';

-- The kinds of tokens a price row cannot price as the model would: none of its own price for a kind the usage
-- has. 'input' or 'output' leave the cost unknown; the others are priced by aispend's stated defaults (cache
-- reads at the input price, cache writes at 1.25 x / 2 x input, audio and image at the text price, an unknown
-- service tier at 1 x) and named so that nobody takes them for the model's own price.
CREATE FUNCTION aispend._missing_prices(p aispend.model_prices, uncached bigint, cache_read bigint,
                                        cache_write_5m bigint, cache_write_1h bigint, output bigint,
                                        input_audio bigint, output_audio bigint, input_image bigint,
                                        output_image bigint, batch boolean, service_tier text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN p.id IS NULL THEN ARRAY['no price']
       ELSE pg_catalog.array_remove(ARRAY[
           CASE WHEN p.input_per_mtok IS NULL AND coalesce(uncached, 0) + coalesce(cache_read, 0)
                     + coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0) > 0 THEN 'input' END,
           CASE WHEN p.output_per_mtok IS NULL AND output > 0 THEN 'output' END,
           CASE WHEN p.cache_read_per_mtok IS NULL AND cache_read > 0 THEN 'cache read (priced as input)' END,
           CASE WHEN p.cache_write_5m_per_mtok IS NULL AND cache_write_5m > 0
                THEN 'cache write 5m (priced at 1.25 x input)' END,
           CASE WHEN p.cache_write_1h_per_mtok IS NULL AND cache_write_1h > 0
                THEN 'cache write 1h (priced at 2 x input)' END,
           CASE WHEN p.input_audio_per_mtok IS NULL AND input_audio > 0 THEN 'audio input (priced as text)' END,
           CASE WHEN p.output_audio_per_mtok IS NULL AND output_audio > 0 THEN 'audio output (priced as text)' END,
           CASE WHEN p.input_image_per_mtok IS NULL AND input_image > 0 THEN 'image input (priced as text)' END,
           CASE WHEN p.output_image_per_mtok IS NULL AND output_image > 0 THEN 'image output (priced as text)' END,
           CASE WHEN NOT coalesce(batch, false) AND service_tier IS NOT NULL AND service_tier <> 'batch'
                     AND NOT p.tier_multipliers ? service_tier
                     AND service_tier NOT IN ('default', 'standard', 'standard_only', 'auto')
                THEN 'service tier ' || service_tier || ' (priced at 1 x)' END], NULL) END;
COMMENT ON FUNCTION aispend._missing_prices(aispend.model_prices, bigint, bigint, bigint, bigint, bigint, bigint,
                                            bigint, bigint, bigint, boolean, text) IS
    'Internal (savings): the token kinds a price row has no price of its own for (input or output: the cost is '
    'unknown; the others: priced by a stated default).';

-- The missing prices that leave a re-priced cost unknown (the others are stated defaults).
CREATE FUNCTION aispend._unknown_cost()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['input', 'output', 'no price'];
COMMENT ON FUNCTION aispend._unknown_cost() IS 'Internal (savings): the missing prices that leave a cost unknown.';

-- The models of the same class a model could be swapped for: those the organisation uses (so its accounts can
-- call them), of the same provider unless across_providers. Class 'other' (unknown names, fees) has none.
CREATE FUNCTION aispend._alternatives_of(p_provider text, p_model text, p_across_providers boolean)
RETURNS TABLE (provider text, model text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT DISTINCT m.provider, m.model FROM aispend.models m
    WHERE m.model <> p_model AND aispend.model_class(p_model) <> 'other'
      AND aispend.model_class(m.model) = aispend.model_class(p_model)
      AND (p_across_providers OR m.provider = p_provider);
END
$$;
COMMENT ON FUNCTION aispend._alternatives_of(text, text, boolean) IS
    'Internal (savings): what aispend._alternatives returns (PL/pgSQL: on Citus the models are a distributed table).';

CREATE FUNCTION aispend._alternatives(provider text, model text, across_providers boolean)
RETURNS TABLE (provider text, model text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.* FROM aispend._alternatives_of(_alternatives.provider, _alternatives.model,
                                             _alternatives.across_providers) a;
END;
COMMENT ON FUNCTION aispend._alternatives(text, text, boolean) IS
    'Internal (savings): the models of the same class a model could be swapped for (used by the organisation).';

-- Every row of a token mix priced at list prices: at target_model's (target NULL: each row at its own model's,
-- what aispend estimates), and with alternatives also at every alternative of its model. The price rule is
-- looked up once per (provider, model, day, long context).
CREATE FUNCTION aispend._priced_mix(period daterange, provider text, workspace text, api_key text, model text,
                                    target_provider text, target_model text, alternatives boolean DEFAULT false,
                                    across_providers boolean DEFAULT false)
RETURNS TABLE (account name, provider text, workspace_id text, api_key_id text, model text, day date,
               price_provider text, price_model text, tokens bigint, input_tokens bigint, cache_read bigint,
               cost numeric, missing text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH x AS MATERIALIZED (
        SELECT * FROM aispend._token_mix(_priced_mix.period, _priced_mix.provider, _priced_mix.workspace,
                                         _priced_mix.api_key, _priced_mix.model)),
    m AS MATERIALIZED (
        SELECT x.*, coalesce(_priced_mix.target_provider, x.provider) AS price_provider,
               coalesce(_priced_mix.target_model, x.model) AS price_model
        FROM x
        UNION ALL
        SELECT x.*, a.provider, a.model
        FROM (SELECT DISTINCT x.provider, x.model FROM x) s
        CROSS JOIN LATERAL aispend._alternatives(s.provider, s.model, _priced_mix.across_providers) a
        JOIN x ON x.provider = s.provider AND x.model = s.model
        WHERE _priced_mix.alternatives),
    prices AS MATERIALIZED (
        SELECT k.price_provider, k.price_model, k.day, k.long_context, p AS price
        FROM (SELECT DISTINCT m.price_provider, m.price_model, m.day, m.long_context FROM m) k
        LEFT JOIN LATERAL aispend.price_for(k.price_provider, k.price_model, k.day, k.long_context) p ON true)
    SELECT m.account, m.provider, m.workspace_id, m.api_key_id, m.model, m.day, m.price_provider, m.price_model,
           coalesce(m.uncached, 0) + coalesce(m.cache_read, 0) + coalesce(m.cache_write_5m, 0)
           + coalesce(m.cache_write_1h, 0) + coalesce(m.output, 0),
           coalesce(m.uncached, 0) + coalesce(m.cache_read, 0) + coalesce(m.cache_write_5m, 0)
           + coalesce(m.cache_write_1h, 0),
           coalesce(m.cache_read, 0),
           CASE WHEN (pr.price).id IS NOT NULL
                THEN aispend._token_cost(pr.price, m.uncached, m.cache_read, m.cache_write_5m, m.cache_write_1h,
                                         m.output, m.input_audio, m.output_audio, m.input_image, m.output_image,
                                         m.batch, m.service_tier, m.inference_geo) END,
           aispend._missing_prices(pr.price, m.uncached, m.cache_read, m.cache_write_5m, m.cache_write_1h, m.output,
                                   m.input_audio, m.output_audio, m.input_image, m.output_image, m.batch,
                                   m.service_tier)
    FROM m
    JOIN prices pr ON pr.price_provider = m.price_provider AND pr.price_model = m.price_model AND pr.day = m.day
                  AND pr.long_context = m.long_context;
END;
COMMENT ON FUNCTION aispend._priced_mix(daterange, text, text, text, text, text, text, boolean, boolean) IS
    'Internal (savings): a scope''s token mix priced at list prices day by day: at a target model''s (NULL: each '
    'row at its own model''s), and with alternatives at every alternative of its model too.';

-- A re-pricing needs a model to re-price at.
CREATE FUNCTION aispend._check_target_model(target_model text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF target_model IS NULL OR pg_catalog.btrim(target_model) = '' THEN
        RAISE EXCEPTION 'aispend: reprice needs a target_model' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. aispend.reprice(''last_30_days'', ''claude-haiku-4-5'', api_key => ''my-key'').';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_target_model(text) IS 'Internal: 22023 when reprice is given no target model.';

-- The provider whose price list a model is re-priced at: the one it is used with here, else the one whose
-- catalogue prices it.
CREATE FUNCTION aispend._model_provider(model text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN coalesce((SELECT min(m.provider) FROM aispend.models m WHERE m.model = _model_provider.model),
                    (SELECT min(p.provider) FROM aispend.model_prices p
                     WHERE aispend._price_rule_matches(p.match_kind, p.pattern, _model_provider.model)));
END
$$;
COMMENT ON FUNCTION aispend._model_provider(text) IS
    'Internal (savings): the provider a model belongs to (where it is used, else whose price list has it).';

CREATE FUNCTION aispend.reprice(target_model text, period daterange DEFAULT aispend.period('last_30_days'),
                                provider text DEFAULT 'all',
                                workspace text DEFAULT NULL, api_key text DEFAULT NULL, model text DEFAULT NULL,
                                target_provider text DEFAULT NULL)
RETURNS TABLE (target_model text, target_provider text, models text[], tokens bigint, list_cost numeric,
               repriced_cost numeric, saving numeric, saving_pct numeric, missing_prices text[],
               unpriced_list boolean, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH t AS (
        SELECT reprice.target_model AS model,
               coalesce(reprice.target_provider, aispend._model_provider(reprice.target_model)) AS provider),
    own AS (
        SELECT sum(o.cost) AS cost, bool_or(o.cost IS NULL) AS unpriced, sum(o.tokens)::bigint AS tokens,
               pg_catalog.array_agg(DISTINCT o.model ORDER BY o.model) AS models
        FROM aispend._priced_mix(reprice.period, reprice.provider, reprice.workspace, reprice.api_key,
                                 reprice.model, NULL, NULL) o),
    tx AS MATERIALIZED (
        SELECT x.* FROM t, aispend._priced_mix(reprice.period, reprice.provider, reprice.workspace,
                                               reprice.api_key, reprice.model, t.provider, t.model) x),
    tgt AS (
        SELECT sum(tx.cost) AS cost, bool_or(tx.cost IS NULL) AS unpriced,
               (SELECT pg_catalog.array_agg(DISTINCT k.kind ORDER BY k.kind)
                FROM tx tx2, pg_catalog.unnest(tx2.missing) AS k(kind)) AS missing
        FROM tx)
    SELECT t.model, t.provider, own.models, coalesce(own.tokens, 0), pg_catalog.round(coalesce(own.cost, 0), 2),
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(coalesce(tgt.cost, 0), 2) END,
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(own.unpriced, false)
                     AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(coalesce(own.cost, 0) - coalesce(tgt.cost, 0), 2) END,
           CASE WHEN NOT coalesce(tgt.unpriced, false) AND NOT coalesce(own.unpriced, false) AND own.cost > 0
                     AND NOT coalesce(tgt.missing && aispend._unknown_cost(), false)
                THEN pg_catalog.round(100 * (own.cost - tgt.cost) / own.cost, 1) END,
           coalesce(tgt.missing, '{}'), coalesce(own.unpriced, false),
           'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM t, own, tgt
    WHERE aispend._check_period(reprice.period) IS NOT NULL AND aispend._check_target_model(reprice.target_model);
END;
COMMENT ON FUNCTION aispend.reprice(text, daterange, text, text, text, text, text) IS
    'What the usage of a scope (provider, workspace, api_key, model: the usage of that model only; all of it by '
    'default) in a period would have cost at '
    'target_model''s list prices on the same days: every token kind (uncached input, cache reads, cache writes of '
    '5 minutes and 1 hour, output, audio, image), batch and service-tier multipliers, long-context rates, as that '
    'model prices them; dated price changes apply day by day. list_cost is the same usage at its own models'' '
    'list prices (as aispend estimates it); saving = list_cost - repriced_cost. missing_prices names the kinds the '
    'target has no price of its own for: input or output (then repriced_cost is NULL, not a guess), or a stated '
    'default (cache reads as input, ...). A re-pricing of token counts, not a judgement of quality.';

-- Per key and workspace and model used: the cheaper models of the same class, each the same usage re-priced.
CREATE FUNCTION aispend.savings_opportunities(period daterange DEFAULT aispend.period('last_30_days'),
                                              provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                              api_key text DEFAULT NULL, across_providers boolean DEFAULT false,
                                              min_saving numeric DEFAULT 0.01)
RETURNS TABLE (account name, workspace text, api_key text, model text, class text, alternative text,
               alternative_provider text, list_cost numeric, repriced_cost numeric, saving numeric,
               saving_pct numeric, share_of_key_pct numeric, assumptions text[], workspace_id text,
               api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH px AS MATERIALIZED (
        SELECT * FROM aispend._priced_mix(savings_opportunities.period, savings_opportunities.provider,
                                          savings_opportunities.workspace, savings_opportunities.api_key, NULL, NULL,
                                          NULL, true, savings_opportunities.across_providers)),
    p AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.provider, x.model, x.price_provider, x.price_model,
               sum(x.cost) AS cost, bool_or(x.cost IS NULL OR x.missing && aispend._unknown_cost()) AS unknown,
               (SELECT coalesce(pg_catalog.array_agg(DISTINCT k.kind ORDER BY k.kind), '{}')
                FROM px y, pg_catalog.unnest(y.missing) AS k(kind)
                WHERE y.account = x.account AND y.workspace_id = x.workspace_id AND y.api_key_id = x.api_key_id
                  AND y.model = x.model AND y.price_model = x.price_model
                  AND y.price_provider = x.price_provider) AS assumptions
        FROM px x
        GROUP BY 1, 2, 3, 4, 5, 6, 7),
    own AS (
        SELECT p.*, sum(p.cost) OVER (PARTITION BY p.account, p.workspace_id, p.api_key_id) AS key_cost
        FROM p WHERE p.price_model = p.model AND p.price_provider = p.provider),
    o AS (
        SELECT a.account, a.workspace_id, a.api_key_id, a.model, a.price_model, a.price_provider, own.cost AS list_cost,
               a.cost AS repriced, own.key_cost, a.assumptions
        FROM p a
        JOIN own ON own.account = a.account AND own.workspace_id = a.workspace_id AND own.api_key_id = a.api_key_id
                AND own.model = a.model
        WHERE NOT (a.price_model = a.model AND a.price_provider = a.provider)
          AND NOT a.unknown AND NOT own.unknown
          AND own.cost - a.cost >= coalesce(savings_opportunities.min_saving, 0))
    SELECT o.account, coalesce(w.name, o.workspace_id), aispend._api_key_label(o.api_key_id, k.name), o.model,
           aispend.model_class(o.model), o.price_model, o.price_provider, pg_catalog.round(o.list_cost, 2),
           pg_catalog.round(o.repriced, 2), pg_catalog.round(o.list_cost - o.repriced, 2),
           pg_catalog.round(100 * (o.list_cost - o.repriced) / NULLIF(o.list_cost, 0), 1),
           pg_catalog.round(100 * o.list_cost / NULLIF(o.key_cost, 0), 1), o.assumptions, o.workspace_id,
           o.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM o
    LEFT JOIN aispend._workspaces() w ON w.account = o.account AND w.workspace_id = o.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = o.account AND k.api_key_id = o.api_key_id
    ORDER BY o.list_cost - o.repriced DESC, o.account, o.workspace_id, o.api_key_id, o.model, o.price_model;
END;
COMMENT ON FUNCTION aispend.savings_opportunities(daterange, text, text, text, boolean, numeric) IS
    'Per API key (and workspace) and model used in a period: every cheaper model of the same class '
    '(aispend.model_class) that the organisation uses, of the same provider unless across_providers, with the '
    'key''s usage of that model at its own list prices (list_cost) and re-priced at the alternative''s '
    '(repriced_cost), the saving in dollars and percent, and the share of the key''s list cost the model has. '
    'Alternatives without a price of their own for input or output are left out; stated defaults are named in '
    'assumptions. Sorted by saving. A re-pricing of token counts, not a judgement of quality.';

-- Prompt caching per key and model: how much of the input was read from the cache, what that saved against the
-- model's uncached input price, and what a stated cache-hit rate would save on top.
CREATE FUNCTION aispend.cache_efficiency(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all', workspace text DEFAULT NULL,
                                         api_key text DEFAULT NULL, hit_rate numeric DEFAULT 0.5,
                                         min_input_tokens bigint DEFAULT 1000000)
RETURNS TABLE (account name, workspace text, api_key text, model text, input_tokens bigint, cache_read_tokens bigint,
               cached_pct numeric, caching_saved numeric, saving_at_hit_rate numeric, uncached_heavy boolean,
               workspace_id text, api_key_id text, note text)
LANGUAGE sql STABLE
-- not inlined: planned on its own, without JIT (its plan's cost counts branches that never run)
SET jit = off
BEGIN ATOMIC
    WITH x AS MATERIALIZED (
        SELECT * FROM aispend._token_mix(cache_efficiency.period, cache_efficiency.provider,
                                         cache_efficiency.workspace, cache_efficiency.api_key, NULL)),
    prices AS MATERIALIZED (
        SELECT k.provider, k.model, k.day, k.long_context, p AS price
        FROM (SELECT DISTINCT x.provider, x.model, x.day, x.long_context FROM x) k
        LEFT JOIN LATERAL aispend.price_for(k.provider, k.model, k.day, k.long_context) p ON true),
    -- a cache read costs (input - cache read price) less than the same token uncached, times the row's multipliers
    r AS (
        SELECT x.account, x.workspace_id, x.api_key_id, x.model,
               coalesce(x.uncached, 0) + coalesce(x.cache_read, 0) + coalesce(x.cache_write_5m, 0)
               + coalesce(x.cache_write_1h, 0) AS input,
               coalesce(x.cache_read, 0) AS cache_read,
               (pr.price).cache_read_per_mtok IS NOT NULL AS caches,
               aispend._token_cost(pr.price, 1000000, 0, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier, x.inference_geo)
               - aispend._token_cost(pr.price, 0, 1000000, 0, 0, 0, 0, 0, 0, 0, x.batch, x.service_tier,
                                     x.inference_geo) AS per_mtok_saved
        FROM x
        JOIN prices pr ON pr.provider = x.provider AND pr.model = x.model AND pr.day = x.day
                      AND pr.long_context = x.long_context),
    g AS (
        SELECT r.account, r.workspace_id, r.api_key_id, r.model, sum(r.input)::bigint AS input,
               sum(r.cache_read)::bigint AS cache_read, bool_or(r.caches) AS caches,
               sum(r.cache_read * r.per_mtok_saved) / 1000000 AS saved,
               -- uncached input moved to the cache until the stated hit rate is reached (priced day by day)
               sum(GREATEST(cache_efficiency.hit_rate * r.input - r.cache_read, 0) * r.per_mtok_saved) / 1000000
                   AS would_save
        FROM r GROUP BY 1, 2, 3, 4)
    SELECT g.account, coalesce(w.name, g.workspace_id), aispend._api_key_label(g.api_key_id, k.name), g.model, g.input,
           g.cache_read, pg_catalog.round(100.0 * g.cache_read / NULLIF(g.input, 0), 1),
           pg_catalog.round(g.saved, 2), pg_catalog.round(g.would_save, 2),
           coalesce(g.caches, false) AND g.cache_read = 0 AND g.input >= cache_efficiency.min_input_tokens,
           g.workspace_id, g.api_key_id, 'a re-pricing of the token counts at list prices, not a judgement of quality'
    FROM g
    LEFT JOIN aispend._workspaces() w ON w.account = g.account AND w.workspace_id = g.workspace_id
    LEFT JOIN aispend._api_keys() k ON k.account = g.account AND k.api_key_id = g.api_key_id
    WHERE g.input > 0
    ORDER BY g.would_save DESC NULLS LAST, g.account, g.workspace_id, g.api_key_id, g.model;
END;
COMMENT ON FUNCTION aispend.cache_efficiency(daterange, text, text, text, numeric, bigint) IS
    'Prompt caching per API key and model in a period: input tokens, those read from the cache (cached_pct), what '
    'the cache reads saved against the model''s uncached input price (caching_saved, list prices with the row''s '
    'batch / tier / geography multipliers), what reaching hit_rate (share of input read from the cache) would save '
    'on top (saving_at_hit_rate, 0 where it is reached), and uncached_heavy: at least min_input_tokens of input, '
    'no cache read, on a model with a cache price. A re-pricing of token counts, not a judgement of quality.';

-- ---- src/sql/66_coverage.sql
-- 66_coverage.sql: middleware coverage. Spend captured by your own gateway or middleware is loaded into
-- aispend.middleware_spend (COPY or INSERT); aispend.middleware_coverage compares it with the spend the
-- providers bill (aispend.costs), per provider and overall: "what percentage of spending is captured".

CREATE TABLE aispend.middleware_spend (
    account      name,
    day          date        NOT NULL,
    provider     text        NOT NULL,
    workspace_id text,
    api_key_id   text,
    model        text,
    cost         numeric     NOT NULL,
    source       text,
    loaded_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX middleware_spend_day_idx ON aispend.middleware_spend (day, provider);
COMMENT ON TABLE aispend.middleware_spend IS
    'Spend captured by your own gateway / middleware, loaded by you: '
    '\copy aispend.middleware_spend (day, provider, workspace_id, api_key_id, model, cost) FROM ''spend.csv'' WITH (FORMAT csv, HEADER)';
COMMENT ON COLUMN aispend.middleware_spend.account IS 'The account (aispend server) when known; NULL: matched by provider only.';
COMMENT ON COLUMN aispend.middleware_spend.day IS 'UTC day of the spend.';
COMMENT ON COLUMN aispend.middleware_spend.provider IS 'openai, anthropic, ... (lower case).';
COMMENT ON COLUMN aispend.middleware_spend.workspace_id IS 'Provider workspace / project id, where the gateway knows it.';
COMMENT ON COLUMN aispend.middleware_spend.api_key_id IS 'Provider API key id, where the gateway knows it.';
COMMENT ON COLUMN aispend.middleware_spend.model IS 'Model, where known.';
COMMENT ON COLUMN aispend.middleware_spend.cost IS 'Spend in US dollars as the gateway measured it.';
COMMENT ON COLUMN aispend.middleware_spend.source IS 'Free text: which gateway / load.';
COMMENT ON COLUMN aispend.middleware_spend.loaded_at IS 'When the row was loaded.';
SELECT pg_catalog.pg_extension_config_dump('aispend.middleware_spend', '');

-- The spend the middleware captured in a period, per provider. PL/pgSQL: the table is distributed on Citus, where
-- an SQL function (like the one below) cannot read it.
CREATE FUNCTION aispend._middleware_captured(p_period daterange, p_accounts name[], p_provider text)
RETURNS TABLE (provider text, captured numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT pg_catalog.lower(s.provider), sum(s.cost)
    FROM aispend.middleware_spend s
    WHERE s.day >= pg_catalog.lower(p_period) AND s.day < pg_catalog.upper(p_period)
      AND (p_accounts IS NULL OR s.account IS NULL OR s.account = ANY (p_accounts))
      AND aispend._provider_matches(pg_catalog.lower(s.provider), p_provider)
    GROUP BY 1;
END
$$;
COMMENT ON FUNCTION aispend._middleware_captured(daterange, name[], text) IS
    'Internal: the middleware''s captured spend of a period per provider (aispend.middleware_coverage).';

CREATE FUNCTION aispend.middleware_coverage(period daterange DEFAULT aispend.period('last_30_days'),
                                            accounts name[] DEFAULT NULL, provider text DEFAULT 'all')
RETURNS TABLE (provider text, billed_cost numeric, captured_cost numeric, captured_pct numeric,
               uncaptured_cost numeric, uncaptured_pct numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH b AS (
        SELECT t.provider, sum(t.cost) AS billed
        FROM aispend._entity_totals('w', middleware_coverage.period, middleware_coverage.provider) t
        WHERE accounts IS NULL OR t.account = ANY (accounts)
        GROUP BY t.provider),
    m AS (
        SELECT c.provider, c.captured
        FROM aispend._middleware_captured(middleware_coverage.period, middleware_coverage.accounts,
                                          middleware_coverage.provider) c),
    j AS (
        SELECT coalesce(b.provider, m.provider) AS provider, coalesce(b.billed, 0) AS billed,
               coalesce(m.captured, 0) AS captured
        FROM b FULL JOIN m ON m.provider = b.provider),
    a AS (
        SELECT j.provider, j.billed, j.captured, 1 AS ord FROM j
        UNION ALL
        SELECT 'all', coalesce(sum(j.billed), 0), coalesce(sum(j.captured), 0), 2 FROM j)
    SELECT a.provider, pg_catalog.round(a.billed, 2), pg_catalog.round(a.captured, 2),
           pg_catalog.round(100 * a.captured / NULLIF(a.billed, 0), 2),
           pg_catalog.round(GREATEST(a.billed - a.captured, 0), 2),
           pg_catalog.round(100 * GREATEST(a.billed - a.captured, 0) / NULLIF(a.billed, 0), 2)
    FROM a ORDER BY a.ord, a.provider;
END;
COMMENT ON FUNCTION aispend.middleware_coverage(daterange, name[], text) IS
    'Share of the spend the dashboard shows (the Workspaces tab''s cost: billed, allocated or estimated) that your '
    'middleware captured (aispend.middleware_spend) in a period, per provider and overall (provider ''all''); '
    'accounts: only these accounts'' spend (middleware rows '
    'without an account always count); provider: all, openai, anthropic, other, as on the tabs. Money rounded to the cent; billed_cost of provider ''all'' is the '
    'Workspaces tab''s Total Cost for the same period. captured_pct can exceed 100 if the gateway over-counts.';

CREATE VIEW aispend.middleware_coverage_30d AS
SELECT * FROM aispend.middleware_coverage(aispend.period('last_30_days'));
COMMENT ON VIEW aispend.middleware_coverage_30d IS 'aispend.middleware_coverage for the last 30 days (for BI tools).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.provider IS 'Provider, or ''all'' for the overall row.';
COMMENT ON COLUMN aispend.middleware_coverage_30d.billed_cost IS 'Spend the dashboard shows for the provider (the Workspaces tab''s cost).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.captured_cost IS 'Spend your middleware captured (aispend.middleware_spend).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.captured_pct IS 'captured / billed, percent, two decimals.';
COMMENT ON COLUMN aispend.middleware_coverage_30d.uncaptured_cost IS 'Billed spend not captured (other sources).';
COMMENT ON COLUMN aispend.middleware_coverage_30d.uncaptured_pct IS 'Uncaptured share, percent.';

-- ---- src/sql/67_team_access.sql
-- 67_team_access.sql: row-level security on every table that holds spend, and aispend.grant_team() /
-- aispend.revoke_team(). Teams, scopes and the scope lookups: 57_teams.sql.

-- ---------------------------------------------------------------- row-level security

-- Facts and rollups: a row is in scope by its workspace or its key.
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['aispend.usage', 'aispend.costs', 'aispend.daily_rollup', 'aispend.api_keys',
                             'aispend.middleware_spend']::regclass[] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format($p$
            CREATE POLICY team_scope ON %s
            USING ((SELECT NOT aispend._team_restricted())
                   OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
                   OR (account, api_key_id) IN (SELECT k.account, k.api_key_id FROM aispend._team_keys(CURRENT_USER) k))
            $p$, t);
        EXECUTE pg_catalog.format('COMMENT ON POLICY team_scope ON %s IS %L', t,
            'A team (aispend.teams) reads the rows of its workspaces and API keys only; other roles read every row.');
    END LOOP;
END
$$;
-- Names: the team's workspaces, and the workspaces of its keys.
ALTER TABLE aispend.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.workspaces
USING ((SELECT NOT aispend._team_restricted())
       OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
       OR (account, workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k));
COMMENT ON POLICY team_scope ON aispend.workspaces IS
    'A team reads its workspaces and the workspaces of its API keys; other roles read every row.';
ALTER TABLE aispend.workspace_name_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.workspace_name_history
USING ((SELECT NOT aispend._team_restricted())
       OR (account, workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
       OR (account, workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k));
COMMENT ON POLICY team_scope ON aispend.workspace_name_history IS
    'A team reads the name history of its workspaces; other roles read every row.';
-- Totals over every row: never a team's.
ALTER TABLE aispend._cum ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend._cum USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend._cum IS 'Totals over every row: a team reads none (its tabs add up its own rows).';

-- ---------------------------------------------------------------- managing teams

CREATE FUNCTION aispend.grant_team(role_name name, workspace_names text[] DEFAULT '{}', api_key_ids text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION 'aispend: role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name AND (r.rolsuper OR r.rolbypassrls)) THEN
        RAISE EXCEPTION 'aispend: role "%" bypasses row-level security and cannot be a team', role_name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a role without SUPERUSER and BYPASSRLS.';
    END IF;
    PERFORM aispend.grant_reader(role_name);
    -- the live cost model shares bills among keys a team cannot see: the team reads the rollups instead
    EXECUTE format('REVOKE SELECT ON aispend.cost_facts, aispend.usage_costed, aispend.reconciliation, '
                   'aispend.unpriced_models FROM %I', role_name);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION aispend.cost_facts_between(name, date, date), '
                   'aispend._cost_facts(name, date, date), '
                   'aispend._usage_costed_between(name, timestamptz, timestamptz), '
                   'aispend._usage_costed_rows(name, timestamptz, timestamptz) FROM %I', role_name);
    INSERT INTO aispend.teams (team) VALUES (role_name) ON CONFLICT ON CONSTRAINT teams_pkey DO NOTHING;
    INSERT INTO aispend.team_scopes (team, workspace_name)
    SELECT role_name, n FROM unnest(workspace_names) AS n WHERE n IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    INSERT INTO aispend.team_scopes (team, api_key_id)
    SELECT role_name, k FROM unnest(api_key_ids) AS k WHERE k IS NOT NULL
    ON CONFLICT ON CONSTRAINT team_scopes_unique DO NOTHING;
    PERFORM aispend._citus_copy_routine_grants(role_name);   -- on a Citus cluster, the revokes above too
END
$$;
COMMENT ON FUNCTION aispend.grant_team(name, text[], text[]) IS
    'Makes a role a team (or widens its scope): it reads the dashboard like aispend.grant_reader() gives, but '
    'only the spend of these workspace names (every workspace shown under a name, in any account) and API key '
    'ids. Narrow a scope with DELETE FROM aispend.team_scopes; end it with aispend.revoke_team().';

CREATE FUNCTION aispend.revoke_team(role_name name)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    PERFORM aispend.revoke_all(role_name);
    DELETE FROM aispend.teams t WHERE t.team = role_name;
END
$$;
COMMENT ON FUNCTION aispend.revoke_team(name) IS 'Ends a team: its scope and every aispend privilege of the role.';

REVOKE ALL ON FUNCTION aispend.grant_team(name, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.revoke_team(name) FROM PUBLIC;

-- ---- src/sql/68_billed_elsewhere.sql
-- 68_billed_elsewhere.sql: spend one source reports on behalf of another, shown where it was billed and never
-- added twice. OpenRouter's BYOK inference ("byok_usage_inference") is billed by the user's own provider key: it
-- is on that provider's bill, and in aispend's figures of that provider's account when it is synced. The cost
-- facts leave it out (47_cost_facts.sql); this lists it, with who billed it and where aispend counts it.

CREATE FUNCTION aispend.billed_elsewhere(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all')
RETURNS TABLE (day date, account name, provider text, workspace text, model text, amount_usd numeric,
               billed_by text, counted_in text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (c.bucket_start AT TIME ZONE 'UTC')::date AS day, c.account, ap.provider,
           coalesce(w.name, c.workspace_id) AS workspace, c.model, sum(c.amount_usd) AS amount_usd,
           pg_catalog.split_part(c.line_item, ' | ', 2) AS billed_by,
           (SELECT pg_catalog.string_agg(o.account, ', ' ORDER BY o.account) FROM aispend._account_providers() o
             WHERE o.provider = pg_catalog.lower(pg_catalog.split_part(c.line_item, ' | ', 2))) AS counted_in
    FROM aispend.costs c
    JOIN aispend._account_providers() ap ON ap.account = c.account
    LEFT JOIN aispend.workspaces w ON w.account = c.account AND w.workspace_id = c.workspace_id
    WHERE c.cost_type = 'byok_inference'
      AND c.bucket_start >= aispend._utc_day_start(pg_catalog.lower(aispend._check_period(billed_elsewhere.period)))
      AND c.bucket_start < aispend._utc_day_start(pg_catalog.upper(billed_elsewhere.period))
      AND aispend._provider_matches(ap.provider, billed_elsewhere.provider)
    GROUP BY 1, 2, 3, 4, 5, 7, 8
    ORDER BY 1, 2, 4, 5;
END;
COMMENT ON FUNCTION aispend.billed_elsewhere(daterange, text) IS
    'Spend a source reported that another bills (OpenRouter BYOK inference, billed by your own provider key): '
    'per UTC day, account, workspace and model, with the provider that billed it and the aispend accounts of that '
    'provider, where it is counted (NULL: not synced here). Never part of any total: no dollar is added twice.';

-- ---- src/sql/68_focus.sql
-- 68_focus.sql: FOCUS billing exports of cloud-hosted models (AWS Bedrock, Azure OpenAI / AI Foundry, Google
-- Vertex AI / Gemini API) imported as accounts, and every synced cost exported as FOCUS 1.2 rows. See docs/focus.md.
--
-- A billing source is an account (a server of the wrapper aispend) with OPTIONS (provider 'focus'): it is never
-- fetched over HTTP (aispend.sync skips it) but loaded by aispend.import_focus(account, csv), which
--   1. parses the CSV text (columns found by header name, in any order; x_ columns other than the few read below
--      are ignored; NULL and empty cells are NULL),
--   2. keeps the AI rows (service name or AWS service code matching a pattern: aispend.focus_ai_services()),
--   3. reads model, token type, tier and routing from the SKU / meter / usage-type text (aispend.parse_focus_sku)
--      and keeps the raw text; a row it cannot read keeps its amount under the model '(unparsed)',
--   4. replaces, in one transaction, the account's charges of every (billing account, billing period) in the file
--      in aispend.focus_charges, rebuilds the account's aispend.costs rows of the days that changed (so the
--      rollups and every tab see them) and records a 'costs' run in aispend.sync_runs.
-- The research behind the rules: docs/focus.md ("Conventions per cloud").

-- ---------------------------------------------------------------- CSV

-- RFC 4180 CSV as cells: a cell is "quoted" ("" inside a quote is one ") or bare (no comma, quote or line break);
-- records end at LF or CRLF. Text the grammar does not cover (a quote inside a bare cell) is an error, never skipped.
CREATE FUNCTION aispend._csv_cells(csv text)
RETURNS TABLE (row_no bigint, col_no bigint, cell text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_len bigint;
BEGIN
    csv := pg_catalog.regexp_replace(csv, U&'^\FEFF', '');   -- a UTF-8 byte order mark (Azure's exports)
    IF pg_catalog.to_regclass('pg_temp.aispend_csv_matches') IS NOT NULL THEN
        DROP TABLE pg_temp.aispend_csv_matches;
    END IF;
    CREATE TEMP TABLE aispend_csv_matches (ord bigint, raw text, term text) ON COMMIT DROP;
    INSERT INTO pg_temp.aispend_csv_matches
    SELECT m.ord, m.g[1], m.g[2]
    FROM pg_catalog.regexp_matches(csv, '("(?:[^"]|"")*"|[^,"\r\n]*)(,|\r?\n|$)', 'g') WITH ORDINALITY AS m(g, ord);
    -- the regex matches once more at the end of the text: only the first end-of-text match is a cell
    DELETE FROM pg_temp.aispend_csv_matches x
     WHERE x.term = '' AND x.ord > (SELECT pg_catalog.min(y.ord) FROM pg_temp.aispend_csv_matches y WHERE y.term = '');
    -- every character must belong to a cell or a separator
    SELECT pg_catalog.sum(pg_catalog.length(x.raw) + pg_catalog.length(x.term)) INTO v_len FROM pg_temp.aispend_csv_matches x;
    IF coalesce(v_len, 0) <> pg_catalog.length(csv) THEN
        RAISE EXCEPTION 'aispend: malformed CSV: % of % characters read as cells', coalesce(v_len, 0), pg_catalog.length(csv)
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'A cell with a quote, a comma or a line break must be quoted ("a ""b"", c"); check the file is CSV, not Parquet or gzip bytes (decompress it with zcat).';
    END IF;
    RETURN QUERY
    SELECT r.rn, pg_catalog.row_number() OVER (PARTITION BY r.rn ORDER BY r.ord),
           CASE WHEN r.raw LIKE '"%' THEN pg_catalog.replace(pg_catalog.substr(r.raw, 2, pg_catalog.length(r.raw) - 2), '""', '"')
                ELSE r.raw END
    FROM (SELECT x.ord, x.raw,
                 1 + coalesce(pg_catalog.count(*) FILTER (WHERE x.term ~ '\n')
                              OVER (ORDER BY x.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rn
          FROM pg_temp.aispend_csv_matches x) r;
    DROP TABLE pg_temp.aispend_csv_matches;
END
$$;
COMMENT ON FUNCTION aispend._csv_cells(text) IS
    'Internal: CSV text (RFC 4180, LF or CRLF) as (row, column, cell), unquoted; malformed text raises 22P04.';
REVOKE ALL ON FUNCTION aispend._csv_cells(text) FROM PUBLIC;

-- ---------------------------------------------------------------- reading a charge

-- The cloud of a FOCUS row, from ProviderName (AWS: 'AWS' or 'Amazon Web Services'; Azure: 'Microsoft'; Google:
-- 'Google Cloud'); NULL for any other provider.
CREATE FUNCTION aispend.focus_cloud(provider_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN provider_name ~* '^(aws|amazon)' THEN 'aws'
            WHEN provider_name ~* '^(microsoft|azure)' THEN 'azure'
            WHEN provider_name ~* '^(google)' THEN 'gcp' END;
COMMENT ON FUNCTION aispend.focus_cloud(text) IS
    'The cloud of a FOCUS ProviderName: aws (AWS, Amazon Web Services...), azure (Microsoft), gcp (Google Cloud); '
    'NULL for another provider.';

-- The default AI rule: ServiceName or AWS x_ServiceCode matching one of these ILIKE patterns.
CREATE FUNCTION aispend.focus_ai_services()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['%Bedrock%', 'AmazonBedrock%', 'Azure OpenAI%', 'Azure AI Services', 'Azure AI Foundry%',
             'Foundry Models', 'Vertex AI', 'Gemini API'];
COMMENT ON FUNCTION aispend.focus_ai_services() IS
    'The ILIKE patterns aispend.import_focus keeps a FOCUS row by when called without ai_services: ServiceName or '
    'AWS x_ServiceCode of Amazon Bedrock (also Marketplace "(Amazon Bedrock Edition)" models), Azure OpenAI / AI '
    'Services / AI Foundry / Foundry Models, Vertex AI and the Gemini API.';

-- Model, token type (input, output, cache-read, cache-write, cache-storage), tier and routing of a SKU / meter /
-- usage-type text, by the rules of docs/focus.md; all NULL when no rule reads it.
CREATE FUNCTION aispend.parse_focus_sku(cloud text, sku text, service_name text DEFAULT NULL,
    OUT model text, OUT token_type text, OUT tier text, OUT routing text)
RETURNS record
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    m text[];
    words text[];
    i integer;
    d integer;
BEGIN
    IF sku IS NULL THEN
        RETURN;
    END IF;
    IF cloud = 'aws' THEN
        -- usage types {region}-{model}-{token type}[-{tier}|-cross-region-{scope}] (Bedrock user guide)
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-mantle-(input|output|cache-read|cache-write)-tokens-(standard|batch|flex|priority)$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := m[3]; routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens-cross-region-(global|geo)(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[4], 'standard'); routing := 'cross-region-' || m[3];
            RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(input|output)-tokens(?:-(batch|flex|priority))?$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := coalesce(m[3], 'standard'); routing := 'in-region'; RETURN;
        END IF;
        m := regexp_match(sku, '^[A-Z0-9]+-(.+)-(cache-read|cache-write)-input-token-count$');
        IF m IS NOT NULL THEN
            model := m[1]; token_type := m[2]; tier := 'standard'; routing := 'in-region'; RETURN;
        END IF;
        -- AWS Marketplace models: the model is the product, 'Claude 3 Haiku (Amazon Bedrock Edition)'
        m := regexp_match(sku, '^[A-Z0-9]+-MP:[A-Z0-9]+_(Input|Output)TokenCount-Units$');
        IF m IS NOT NULL AND service_name ~ '\(Amazon Bedrock Edition\)$' THEN
            model := btrim(regexp_replace(service_name, '\s*\(Amazon Bedrock Edition\)$', ''));
            token_type := lower(m[1]); tier := 'standard'; routing := 'marketplace'; RETURN;
        END IF;
    ELSIF cloud = 'azure' THEN
        -- meter names: 'gpt 4o 0513 Input global Tokens', 'gpt-4o-mini-0718-Inp-glbl Tokens', 'gpt 4o 1120 cached
        -- Inp glbl', 'gpt-4-8K-Batch-Inp-glbl Tokens', 'GPT 5 Inpt Glbl': model words, [batch] [cached], direction,
        -- [scope], [tokens]
        words := regexp_split_to_array(lower(btrim(sku)), '[ -]+');
        IF words[array_length(words, 1)] = 'tokens' THEN
            words := words[1:array_length(words, 1) - 1];
        END IF;
        d := NULL;
        FOR i IN REVERSE coalesce(array_length(words, 1), 0)..1 LOOP
            IF words[i] IN ('inp', 'input', 'inpt', 'outp', 'output', 'outpt') THEN d := i; EXIT; END IF;
        END LOOP;
        IF d IS NULL OR d < 2 OR array_length(words, 1) - d > 1
           OR (array_length(words, 1) > d AND words[d + 1] NOT IN ('glbl', 'global', 'regnl', 'regional', 'dzone', 'datazone')) THEN
            RETURN;
        END IF;
        token_type := CASE WHEN words[d] LIKE 'o%' THEN 'output' ELSE 'input' END;
        routing := CASE words[d + 1] WHEN 'glbl' THEN 'global' WHEN 'regnl' THEN 'regional' WHEN 'dzone' THEN 'datazone'
                                     ELSE words[d + 1] END;
        tier := 'standard';
        i := d - 1;
        WHILE i >= 2 AND words[i] IN ('cached', 'batch') LOOP
            IF words[i] = 'cached' THEN token_type := 'cache-read'; ELSE tier := 'batch'; END IF;
            i := i - 1;
        END LOOP;
        model := array_to_string(words[1:i], '-');
        RETURN;
    ELSIF cloud = 'gcp' THEN
        -- Gemini API: 'Generate content input token count gemini 2.5 flash short input text'
        m := regexp_match(sku, '^Generate content (input|output|cached input) token count gemini ([0-9]+(?:\.[0-9]+)?(?: (?:pro|flash|lite|preview))*)', 'i');
        IF m IS NOT NULL THEN
            model := 'gemini-' || replace(lower(m[2]), ' ', '-');
            token_type := CASE lower(m[1]) WHEN 'cached input' THEN 'cache-read' ELSE lower(m[1]) END;
            tier := CASE WHEN sku ~* '\mflex\M' THEN 'flex' WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            RETURN;
        END IF;
        -- Vertex AI: 'Gemini 2.5 Flash GA Text Input - Predictions', '... Thinking Text Output ...', '... Caching'
        m := regexp_match(sku, '^Gemini ([0-9]+(?:\.[0-9]+)?) (Pro|Flash(?: Lite)?)\M');
        IF m IS NOT NULL THEN
            token_type := CASE WHEN sku ~* '\mcaching storage\M' THEN 'cache-storage'
                               WHEN sku ~* '\m(caching|cached)\M' THEN 'cache-read'
                               WHEN sku ~* '\moutput\M' THEN 'output'
                               WHEN sku ~* '\minput\M' THEN 'input' END;
            IF token_type IS NULL THEN
                RETURN;
            END IF;
            model := 'gemini-' || m[1] || '-' || replace(lower(m[2]), ' ', '-');
            tier := CASE WHEN sku ~* '\mbatch\M' THEN 'batch' ELSE 'standard' END;
            routing := CASE WHEN sku ~* '\mglobal\M' THEN 'global' END;
            RETURN;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION aispend.parse_focus_sku(text, text, text) IS
    'How aispend.import_focus reads a FOCUS SKU text (cloud aws: SkuMeter / x_UsageType; azure: SkuMeter / '
    'x_SkuMeterName; gcp: ChargeDescription): model (the cloud''s billing name, e.g. Claude4.6Sonnet, gpt-4o-0513, '
    'gemini-2.5-flash), token_type (input, output, cache-read, cache-write, cache-storage), tier (standard, batch, '
    'flex, priority) and routing; all NULL when no rule reads the text (the charge is then kept as (unparsed)).';

-- Tokens per unit of a FOCUS ConsumedUnit / PricingUnit that counts tokens ('Tokens', '1K Tokens', '1000 Tokens',
-- '1M Tokens', 'Million Tokens'); NULL for any other unit.
CREATE FUNCTION aispend.focus_token_multiplier(unit text)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN unit !~* '\mtokens?\M' THEN NULL
            WHEN unit ~* '^\s*(1\s*m|1\s*000\s*000|1,000,000|million|mtok)' THEN 1000000
            WHEN unit ~* '^\s*(1\s*k|1\s*000|1,000|thousand|ktok)' THEN 1000
            WHEN unit ~* '^\s*(1\s*)?tokens?\s*$' THEN 1 END;
COMMENT ON FUNCTION aispend.focus_token_multiplier(text) IS
    'Tokens per unit of a FOCUS unit that counts tokens: 1 (Tokens), 1000 (1K / 1000 Tokens), 1000000 (1M / '
    'Million Tokens); NULL for other units (Units, count, Requests, GB-Hours...).';

-- FOCUS date/times: '2024-09-01T00:00:00Z', '2024-09-01T00:00Z' (Azure 1.0), '2024-09-01 00:00:00' (no zone:
-- UTC), '2024-09-01', '2024-09-01 07:00:00 UTC' (BigQuery's CSV).
CREATE FUNCTION aispend._focus_ts(v text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN v ~ '( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN pg_catalog.regexp_replace(v, ' ?UTC$', 'Z')::timestamptz
            ELSE v::timestamp AT TIME ZONE 'UTC' END;
COMMENT ON FUNCTION aispend._focus_ts(text) IS 'Internal: a FOCUS date/time (no zone: UTC).';

-- ---------------------------------------------------------------- the imported charges

CREATE TABLE aispend.focus_charges (
    account              name        NOT NULL,
    billing_account_id   text        NOT NULL,
    billing_period_start timestamptz NOT NULL,
    source_row           integer     NOT NULL,
    billing_period_end   timestamptz NOT NULL,
    run_id               bigint      NOT NULL,
    cloud                text,
    charge_period_start  timestamptz NOT NULL,
    charge_period_end    timestamptz,
    charge_category      text        NOT NULL,
    charge_class         text,
    service_category     text,
    service_name         text        NOT NULL,
    sub_account_id       text,
    sub_account_name     text,
    region_id            text,
    sku_id               text,
    sku_text             text,
    charge_description   text,
    model                text,
    token_type           text,
    tier                 text,
    routing              text,
    parsed               boolean     NOT NULL,
    billed_cost          numeric     NOT NULL,
    effective_cost       numeric     NOT NULL,
    list_cost            numeric,
    billing_currency     text        NOT NULL,
    consumed_quantity    numeric,
    consumed_unit        text,
    tokens               numeric,
    CONSTRAINT focus_charges_pkey PRIMARY KEY (account, billing_account_id, billing_period_start, source_row)
);
CREATE INDEX focus_charges_day_idx ON aispend.focus_charges (account, charge_period_start);
COMMENT ON TABLE aispend.focus_charges IS
    'The AI rows of the FOCUS exports imported by aispend.import_focus, one per CSV row, with both costs and the raw '
    'SKU text; an import replaces the rows of each (account, billing account, billing period) in its file. '
    'aispend.costs holds the USD ones summed per UTC day for the dashboard (other currencies stay here only).';
COMMENT ON COLUMN aispend.focus_charges.account IS 'The account (server with provider ''focus'') the file was imported into.';
COMMENT ON COLUMN aispend.focus_charges.billing_account_id IS 'FOCUS BillingAccountId (AWS payer account, Azure billing account, GCP billing account).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_start IS 'FOCUS BillingPeriodStart (inclusive): with billing_account_id, the unit an import replaces.';
COMMENT ON COLUMN aispend.focus_charges.source_row IS 'Row number in the imported CSV (the header is row 1).';
COMMENT ON COLUMN aispend.focus_charges.billing_period_end IS 'FOCUS BillingPeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.run_id IS 'The aispend.sync_runs row (endpoint costs) of the import.';
COMMENT ON COLUMN aispend.focus_charges.cloud IS 'aws, azure or gcp (the import''s cloud argument, else from ProviderName); NULL for another provider.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_start IS 'FOCUS ChargePeriodStart: its UTC day is the day on the dashboard.';
COMMENT ON COLUMN aispend.focus_charges.charge_period_end IS 'FOCUS ChargePeriodEnd (exclusive).';
COMMENT ON COLUMN aispend.focus_charges.charge_category IS 'FOCUS ChargeCategory: Usage, Purchase, Tax, Credit or Adjustment (as written).';
COMMENT ON COLUMN aispend.focus_charges.charge_class IS 'FOCUS ChargeClass: Correction or NULL.';
COMMENT ON COLUMN aispend.focus_charges.service_category IS 'FOCUS ServiceCategory (AI and Machine Learning, ...).';
COMMENT ON COLUMN aispend.focus_charges.service_name IS 'FOCUS ServiceName (Amazon Bedrock, Azure AI Services, Vertex AI, ...).';
COMMENT ON COLUMN aispend.focus_charges.sub_account_id IS 'FOCUS SubAccountId (AWS account, Azure subscription, GCP project): the workspace.';
COMMENT ON COLUMN aispend.focus_charges.sub_account_name IS 'FOCUS SubAccountName: the workspace''s name.';
COMMENT ON COLUMN aispend.focus_charges.region_id IS 'FOCUS RegionId.';
COMMENT ON COLUMN aispend.focus_charges.sku_id IS 'FOCUS SkuId.';
COMMENT ON COLUMN aispend.focus_charges.sku_text IS
    'The text the model was read from, verbatim: SkuMeter (else x_UsageType on AWS, x_SkuMeterName on Azure), '
    'ChargeDescription on Google Cloud and when there is no meter.';
COMMENT ON COLUMN aispend.focus_charges.charge_description IS 'FOCUS ChargeDescription, verbatim.';
COMMENT ON COLUMN aispend.focus_charges.model IS 'Model read from sku_text (the cloud''s billing name); NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.token_type IS 'input, output, cache-read, cache-write or cache-storage; NULL when unparsed.';
COMMENT ON COLUMN aispend.focus_charges.tier IS 'standard, batch, flex or priority.';
COMMENT ON COLUMN aispend.focus_charges.routing IS 'in-region, cross-region-global/geo, marketplace (AWS); global, regional, datazone (Azure).';
COMMENT ON COLUMN aispend.focus_charges.parsed IS 'Whether a rule of aispend.parse_focus_sku read the model; false rows are listed by aispend.focus_unparsed.';
COMMENT ON COLUMN aispend.focus_charges.billed_cost IS 'FOCUS BilledCost (the invoice basis), exact; negative for credits and refunds.';
COMMENT ON COLUMN aispend.focus_charges.effective_cost IS 'FOCUS EffectiveCost (amortized, after discounts and prepayments), exact.';
COMMENT ON COLUMN aispend.focus_charges.list_cost IS 'FOCUS ListCost.';
COMMENT ON COLUMN aispend.focus_charges.billing_currency IS 'FOCUS BillingCurrency, upper-cased.';
COMMENT ON COLUMN aispend.focus_charges.consumed_quantity IS 'FOCUS ConsumedQuantity as written.';
COMMENT ON COLUMN aispend.focus_charges.consumed_unit IS 'FOCUS ConsumedUnit as written (Tokens, 1K Tokens, Units, count...).';
COMMENT ON COLUMN aispend.focus_charges.tokens IS
    'Tokens, where the unit says so: ConsumedQuantity x 1, 1000 or 1000000 (Tokens, 1K / 1M Tokens, else '
    'PricingQuantity x its PricingUnit), or Google''s count of a token SKU; usage rows only (never credits or '
    'corrections). NULL otherwise (Azure''s Units).';
SELECT pg_catalog.pg_extension_config_dump('aispend.focus_charges', '');

CREATE VIEW aispend.focus_unparsed WITH (security_invoker = true) AS
SELECT c.account, c.cloud, c.service_name, c.sku_text, c.charge_category,
       pg_catalog.count(*) AS charges,
       (pg_catalog.min(c.charge_period_start) AT TIME ZONE 'UTC')::date AS first_day,
       (pg_catalog.max(c.charge_period_start) AT TIME ZONE 'UTC')::date AS last_day,
       pg_catalog.sum(c.billed_cost) AS billed_cost, c.billing_currency
FROM aispend.focus_charges c
WHERE NOT c.parsed
GROUP BY c.account, c.cloud, c.service_name, c.sku_text, c.charge_category, c.billing_currency;
COMMENT ON VIEW aispend.focus_unparsed IS
    'Imported FOCUS charges whose model no rule could read: per account and SKU text, the amount. They count in '
    'every total (usage under the model ''(unparsed)''); this lists what a new rule should read.';
COMMENT ON COLUMN aispend.focus_unparsed.account IS 'The account.';
COMMENT ON COLUMN aispend.focus_unparsed.cloud IS 'aws, azure or gcp.';
COMMENT ON COLUMN aispend.focus_unparsed.service_name IS 'FOCUS ServiceName.';
COMMENT ON COLUMN aispend.focus_unparsed.sku_text IS 'The SKU / meter / description text, verbatim.';
COMMENT ON COLUMN aispend.focus_unparsed.charge_category IS 'FOCUS ChargeCategory.';
COMMENT ON COLUMN aispend.focus_unparsed.charges IS 'Number of charges (CSV rows).';
COMMENT ON COLUMN aispend.focus_unparsed.first_day IS 'First UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.last_day IS 'Last UTC day with it.';
COMMENT ON COLUMN aispend.focus_unparsed.billed_cost IS 'Its BilledCost total, exact.';
COMMENT ON COLUMN aispend.focus_unparsed.billing_currency IS 'The currency of billed_cost.';

-- ---------------------------------------------------------------- the import

CREATE FUNCTION aispend.import_focus(account name, csv text, cloud text DEFAULT NULL, ai_services text[] DEFAULT NULL)
RETURNS TABLE (billing_account_id text, billing_period_start timestamptz, billing_period_end timestamptz,
               rows_read bigint, ai_rows bigint, unparsed_rows bigint, skipped_rows bigint,
               billed_cost numeric, effective_cost numeric, replaced_rows bigint, run_id bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_account name := import_focus.account;
    v_cloud text := pg_catalog.lower(import_focus.cloud);
    v_patterns text[] := coalesce(import_focus.ai_services, aispend.focus_ai_services());
    v_opts text[];
    v_h jsonb;
    v_ncols integer;
    v_col text;
    v_bad record;
    v_run bigint;
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_settled date;
    v_names jsonb;
    v_models text[];
    v_firsts timestamptz[];
    v_lasts timestamptz[];
    v_complete timestamptz;
    v_read bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_ts constant text := '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?( ?UTC|Z|[+-][0-9]{2}(:?[0-9]{2})?)?$';
    v_num constant text := '^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$';
BEGIN
    SELECT s.srvoptions INTO v_opts FROM aispend._servers() s WHERE s.srvname = v_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'aispend: unknown account "%"', v_account
            USING ERRCODE = 'undefined_object',
                  HINT = 'A FOCUS billing source is a server of the foreign-data wrapper aispend: '
                         'CREATE SERVER name FOREIGN DATA WRAPPER aispend OPTIONS (provider ''focus'').';
    END IF;
    IF aispend._option(v_opts, 'provider') IS DISTINCT FROM 'focus' THEN
        RAISE EXCEPTION 'aispend: account "%" is a % account, not a FOCUS billing source', v_account,
                        coalesce(aispend._option(v_opts, 'provider'), '(no provider)')
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Import into an account created with OPTIONS (provider ''focus''); '
                         'its synced accounts are filled by aispend.sync.';
    END IF;
    IF v_cloud IS NOT NULL AND v_cloud NOT IN ('aws', 'azure', 'gcp') THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": unknown cloud "%"', v_account, import_focus.cloud
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use aws, azure, gcp, or NULL to read ProviderName.';
    END IF;
    IF csv IS NULL OR pg_catalog.btrim(csv, E' \r\n') = '' THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": the file is empty', v_account
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'In psql: \set focus `zcat export.csv.gz` then SELECT * FROM aispend.import_focus(''account'', :''focus'');';
    END IF;
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1634300784, aispend._lock_key(v_account)) THEN
        RAISE EXCEPTION 'aispend: an import or sync of account % is running', v_account
            USING ERRCODE = 'lock_not_available';
    END IF;

    -- the header: columns by name, in any order
    CREATE TEMP TABLE aispend_focus_cells ON COMMIT DROP AS SELECT * FROM aispend._csv_cells(csv);
    SELECT pg_catalog.jsonb_object_agg(pg_catalog.lower(pg_catalog.btrim(pg_catalog.replace(c.cell, U&'\FEFF', ''))), c.col_no),
           pg_catalog.count(*)
      INTO v_h, v_ncols
      FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1;
    FOREACH v_col IN ARRAY ARRAY['BillingAccountId', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart',
                                 'ChargeCategory', 'ServiceName', 'BilledCost', 'EffectiveCost', 'BillingCurrency'] LOOP
        IF NOT v_h ? pg_catalog.lower(v_col) THEN
            RAISE EXCEPTION 'aispend: FOCUS import into account "%": the required column % is missing', v_account, v_col
                USING ERRCODE = 'bad_copy_file_format',
                      DETAIL = 'The header has: ' || (SELECT pg_catalog.string_agg(c.cell, ', ' ORDER BY c.col_no)
                                                       FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1),
                      HINT = 'Import a FOCUS 1.0, 1.1 or 1.2 export with its header row (docs/focus.md).';
        END IF;
    END LOOP;

    -- the rows: repeated header rows (several files concatenated) and blank lines are skipped
    CREATE TEMP TABLE aispend_focus_rows ON COMMIT DROP AS
    SELECT c.row_no::integer AS row_no, pg_catalog.array_agg(c.cell ORDER BY c.col_no) AS f
    FROM pg_temp.aispend_focus_cells c WHERE c.row_no > 1
    GROUP BY c.row_no;
    DELETE FROM pg_temp.aispend_focus_rows r
     WHERE (pg_catalog.array_length(r.f, 1) = 1 AND r.f[1] = '')
        OR r.f = (SELECT pg_catalog.array_agg(c.cell ORDER BY c.col_no) FROM pg_temp.aispend_focus_cells c WHERE c.row_no = 1);
    DROP TABLE pg_temp.aispend_focus_cells;
    SELECT r.row_no, pg_catalog.array_length(r.f, 1) AS n INTO v_bad
      FROM pg_temp.aispend_focus_rows r WHERE pg_catalog.array_length(r.f, 1) <> v_ncols ORDER BY r.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row % has % cells, the header %', v_account,
                        v_bad.row_no, v_bad.n, v_ncols
            USING ERRCODE = 'bad_copy_file_format', HINT = 'Every row of a CSV export has one cell per header column.';
    END IF;

    -- the cells aispend reads, by column index (one pass; a missing optional column is NULL)
    EXECUTE 'CREATE TEMP TABLE aispend_focus_text ON COMMIT DROP AS SELECT r.row_no, '
         || (SELECT pg_catalog.string_agg(
                        CASE WHEN v_h ? c
                             THEN pg_catalog.format('NULLIF(NULLIF(pg_catalog.btrim(r.f[%s]), %L), %L) AS %I',
                                                    v_h OPERATOR(pg_catalog.->>) c, '', 'NULL', c)
                             ELSE pg_catalog.format('NULL::text AS %I', c) END, ', ' ORDER BY o)
             FROM pg_catalog.unnest(ARRAY['providername', 'billingaccountid', 'billingperiodstart', 'billingperiodend',
                                          'chargeperiodstart', 'chargeperiodend', 'chargecategory', 'chargeclass',
                                          'servicecategory', 'servicename', 'subaccountid', 'subaccountname',
                                          'regionid', 'skuid', 'skumeter', 'x_usagetype', 'x_skumetername',
                                          'chargedescription', 'billedcost', 'effectivecost', 'listcost',
                                          'billingcurrency', 'consumedquantity', 'consumedunit', 'pricingquantity',
                                          'pricingunit', 'x_servicecode']) WITH ORDINALITY AS x(c, o))
         || ' FROM pg_temp.aispend_focus_rows r';
    DROP TABLE pg_temp.aispend_focus_rows;

    -- required cells and the syntax of dates and numbers, with the row and column of the first bad one
    SELECT x.row_no, x.col, x.val INTO v_bad
      FROM (SELECT CASE WHEN t.billingaccountid IS NULL THEN 'BillingAccountId'
                        WHEN t.billingperiodstart IS NULL OR t.billingperiodstart !~ v_ts THEN 'BillingPeriodStart'
                        WHEN t.billingperiodend IS NULL OR t.billingperiodend !~ v_ts THEN 'BillingPeriodEnd'
                        WHEN t.chargeperiodstart IS NULL OR t.chargeperiodstart !~ v_ts THEN 'ChargePeriodStart'
                        WHEN t.chargeperiodend !~ v_ts THEN 'ChargePeriodEnd'
                        WHEN t.chargecategory IS NULL THEN 'ChargeCategory'
                        WHEN t.servicename IS NULL THEN 'ServiceName'
                        WHEN t.billedcost IS NULL OR t.billedcost !~ v_num THEN 'BilledCost'
                        WHEN t.effectivecost IS NULL OR t.effectivecost !~ v_num THEN 'EffectiveCost'
                        WHEN t.billingcurrency IS NULL THEN 'BillingCurrency'
                        WHEN t.listcost !~ v_num THEN 'ListCost'
                        WHEN t.consumedquantity !~ v_num THEN 'ConsumedQuantity'
                        WHEN t.pricingquantity !~ v_num THEN 'PricingQuantity' END AS col,
                   t.*
              FROM pg_temp.aispend_focus_text t) x0
     CROSS JOIN LATERAL (SELECT x0.row_no, x0.col,
                                CASE x0.col WHEN 'BillingAccountId' THEN x0.billingaccountid
                                            WHEN 'BillingPeriodStart' THEN x0.billingperiodstart
                                            WHEN 'BillingPeriodEnd' THEN x0.billingperiodend
                                            WHEN 'ChargePeriodStart' THEN x0.chargeperiodstart
                                            WHEN 'ChargePeriodEnd' THEN x0.chargeperiodend
                                            WHEN 'ChargeCategory' THEN x0.chargecategory
                                            WHEN 'ServiceName' THEN x0.servicename
                                            WHEN 'BilledCost' THEN x0.billedcost
                                            WHEN 'EffectiveCost' THEN x0.effectivecost
                                            WHEN 'BillingCurrency' THEN x0.billingcurrency
                                            WHEN 'ListCost' THEN x0.listcost
                                            WHEN 'ConsumedQuantity' THEN x0.consumedquantity
                                            WHEN 'PricingQuantity' THEN x0.pricingquantity END AS val) x
     WHERE x0.col IS NOT NULL
     ORDER BY x0.row_no LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'aispend: FOCUS import into account "%": row %, column %: %', v_account, v_bad.row_no, v_bad.col,
                        CASE WHEN v_bad.val IS NULL THEN 'a required value is missing'
                             ELSE 'not a FOCUS value: "' || pg_catalog.left(v_bad.val, 60) || '"' END
            USING ERRCODE = 'bad_copy_file_format',
                  HINT = 'Dates are ISO 8601 (2024-09-01T00:00:00Z), numbers plain decimals (-0.5, 1E-3).';
    END IF;

    -- typed, classified, parsed
    CREATE TEMP TABLE aispend_focus_typed ON COMMIT DROP AS
    SELECT t.*,
           aispend._utc_day_start((t.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
           CASE WHEN NOT t.is_ai OR t.charge_category IS DISTINCT FROM 'Usage' OR t.charge_class IS NOT NULL THEN NULL
                WHEN aispend.focus_token_multiplier(t.consumed_unit) IS NOT NULL
                     THEN t.consumed_quantity * aispend.focus_token_multiplier(t.consumed_unit)
                WHEN aispend.focus_token_multiplier(t.pricing_unit) IS NOT NULL
                     THEN t.pricing_quantity * aispend.focus_token_multiplier(t.pricing_unit)
                WHEN t.cloud = 'gcp' AND pg_catalog.lower(t.consumed_unit) = 'count' AND t.sku_text ~* '\mtoken'
                     THEN t.consumed_quantity END AS tokens,
           p.model, p.token_type, p.tier, p.routing
    FROM (SELECT x.row_no, x.cloud, x.billingaccountid AS billing_account_id,
                 aispend._focus_ts(x.billingperiodstart) AS billing_period_start,
                 aispend._focus_ts(x.billingperiodend) AS billing_period_end,
                 aispend._focus_ts(x.chargeperiodstart) AS charge_period_start,
                 aispend._focus_ts(x.chargeperiodend) AS charge_period_end,
                 -- FOCUS casing (Google's view writes usage, tax, adjustment)
                 CASE pg_catalog.lower(x.chargecategory) WHEN 'usage' THEN 'Usage' WHEN 'purchase' THEN 'Purchase'
                      WHEN 'tax' THEN 'Tax' WHEN 'credit' THEN 'Credit' WHEN 'adjustment' THEN 'Adjustment'
                      ELSE x.chargecategory END AS charge_category,
                 CASE WHEN pg_catalog.lower(x.chargeclass) = 'correction' THEN 'Correction' ELSE x.chargeclass END
                     AS charge_class,
                 x.servicecategory AS service_category, x.servicename AS service_name,
                 x.subaccountid AS sub_account_id, x.subaccountname AS sub_account_name, x.regionid AS region_id,
                 x.skuid AS sku_id,
                 CASE WHEN x.cloud = 'gcp' THEN coalesce(x.chargedescription, x.skumeter)
                      ELSE coalesce(x.skumeter, x.x_usagetype, x.x_skumetername, x.chargedescription) END AS sku_text,
                 x.chargedescription AS charge_description,
                 x.billedcost::numeric AS billed_cost, x.effectivecost::numeric AS effective_cost,
                 x.listcost::numeric AS list_cost, pg_catalog.upper(x.billingcurrency) AS billing_currency,
                 x.consumedquantity::numeric AS consumed_quantity, x.consumedunit AS consumed_unit,
                 x.pricingquantity::numeric AS pricing_quantity, x.pricingunit AS pricing_unit,
                 (x.servicename ILIKE ANY (v_patterns) OR coalesce(x.x_servicecode ILIKE ANY (v_patterns), false)) AS is_ai
          FROM (SELECT t.*, coalesce(v_cloud, aispend.focus_cloud(t.providername)) AS cloud
                FROM pg_temp.aispend_focus_text t) x) t
    LEFT JOIN LATERAL aispend.parse_focus_sku(t.cloud, t.sku_text, t.service_name) p ON t.is_ai;
    DROP TABLE pg_temp.aispend_focus_text;
    SELECT pg_catalog.count(*) INTO v_read FROM pg_temp.aispend_focus_typed;

    -- the run
    INSERT INTO aispend.sync_runs AS r (account, endpoint, window_start, window_end, bucket_width, started_at, status,
                                        rows_fetched, http_requests, retries, bytes)
    SELECT v_account, 'costs', pg_catalog.min(t.billing_period_start), pg_catalog.max(t.billing_period_end), '1d', v_now,
           'running', v_read, 0, 0, pg_catalog.octet_length(csv)
    FROM pg_temp.aispend_focus_typed t
    RETURNING r.id INTO v_run;

    -- the days whose costs change: those of the replaced periods and of the new rows
    CREATE TEMP TABLE aispend_focus_periods ON COMMIT DROP AS
    SELECT t.billing_account_id AS bai, t.billing_period_start AS bps, pg_catalog.max(t.billing_period_end) AS bpe
    FROM pg_temp.aispend_focus_typed t GROUP BY 1, 2;
    CREATE TEMP TABLE aispend_focus_days ON COMMIT DROP AS
    SELECT DISTINCT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day
      FROM aispend.focus_charges c JOIN pg_temp.aispend_focus_periods p
        ON c.billing_account_id = p.bai AND c.billing_period_start = p.bps
     WHERE c.account = v_account
    UNION
    SELECT t.day FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;

    CREATE TEMP TABLE aispend_focus_replaced ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM aispend.focus_charges c USING pg_temp.aispend_focus_periods p
         WHERE c.account = v_account AND c.billing_account_id = p.bai AND c.billing_period_start = p.bps
        RETURNING c.billing_account_id, c.billing_period_start)
    SELECT d.billing_account_id AS bai, d.billing_period_start AS bps, pg_catalog.count(*) AS n FROM d GROUP BY 1, 2;
    SELECT coalesce(pg_catalog.sum(x.n), 0) INTO v_deleted FROM pg_temp.aispend_focus_replaced x;

    INSERT INTO aispend.focus_charges
        (account, billing_account_id, billing_period_start, source_row, billing_period_end, run_id, cloud,
         charge_period_start, charge_period_end, charge_category, charge_class, service_category, service_name,
         sub_account_id, sub_account_name, region_id, sku_id, sku_text, charge_description, model, token_type, tier,
         routing, parsed, billed_cost, effective_cost, list_cost, billing_currency, consumed_quantity, consumed_unit,
         tokens)
    SELECT v_account, t.billing_account_id, t.billing_period_start, t.row_no, t.billing_period_end, v_run, t.cloud,
           t.charge_period_start, t.charge_period_end, t.charge_category, t.charge_class, t.service_category,
           t.service_name, t.sub_account_id, t.sub_account_name, t.region_id, t.sku_id, t.sku_text,
           t.charge_description, t.model, t.token_type, t.tier, t.routing, t.model IS NOT NULL, t.billed_cost,
           t.effective_cost, t.list_cost, t.billing_currency, t.consumed_quantity, t.consumed_unit, t.tokens
    FROM pg_temp.aispend_focus_typed t WHERE t.is_ai;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    -- the dashboard's facts of those days, rebuilt from every imported charge of the account
    DELETE FROM aispend.costs c USING pg_temp.aispend_focus_days d
     WHERE c.account = v_account AND c.bucket_start = d.day;
    INSERT INTO aispend.costs (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                               service_tier, context_window, cost_type, inference_geo, amount_usd, currency, quantity,
                               quantity_unit, token_class)
    SELECT v_account, x.day, x.workspace_id, NULL, x.line_item, x.model, x.token_type, x.tier, NULL, x.cost_type,
           x.routing, pg_catalog.sum(x.billed_cost), x.currency,
           pg_catalog.sum(x.quantity), x.quantity_unit, pg_catalog.max(x.token_class)
    FROM (SELECT aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) AS day,
                 coalesce(c.sub_account_id, '(default)') AS workspace_id,
                 coalesce(c.sku_text, c.charge_category) AS line_item,
                 CASE WHEN c.parsed THEN c.model WHEN c.charge_category = 'Usage' THEN '(unparsed)' END AS model,
                 c.token_type, c.tier, c.routing,
                 pg_catalog.lower(c.charge_category) || CASE WHEN c.charge_class = 'Correction' THEN ' correction' ELSE '' END
                     AS cost_type,
                 c.billed_cost, c.billing_currency AS currency,
                 coalesce(c.tokens, c.consumed_quantity) AS quantity,
                 CASE WHEN c.tokens IS NOT NULL THEN 'tokens' ELSE c.consumed_unit END AS quantity_unit,
                 CASE WHEN NOT c.parsed THEN CASE WHEN c.charge_category = 'Usage' THEN 'unrecognised' END
                      ELSE CASE c.token_type WHEN 'input' THEN 'input' WHEN 'output' THEN 'output'
                                             WHEN 'cache-read' THEN 'cached_input' WHEN 'cache-write' THEN 'cache_write'
                                             ELSE 'unrecognised' END END AS token_class
          FROM aispend.focus_charges c
          WHERE c.account = v_account AND c.billing_currency = 'USD'   -- the dashboard sums US dollars
            AND aispend._utc_day_start((c.charge_period_start AT TIME ZONE 'UTC')::date) IN
                (SELECT d.day FROM pg_temp.aispend_focus_days d)) x
    GROUP BY x.day, x.workspace_id, x.line_item, x.model, x.token_type, x.tier, x.cost_type, x.routing, x.currency,
             x.quantity_unit;

    -- the rollups of those days, and the models named (what the facts' triggers also do); read first, then
    -- marked: on Citus a function called in a query of distributed tables runs on a shard
    SELECT pg_catalog.array_agg(x.model), pg_catalog.array_agg(x.f), pg_catalog.array_agg(x.l)
      INTO v_models, v_firsts, v_lasts
      FROM (SELECT c.model, pg_catalog.min(c.bucket_start) AS f, pg_catalog.max(c.bucket_start) AS l
              FROM aispend.costs c
             WHERE c.account = v_account AND c.model IS NOT NULL
               AND c.bucket_start = ANY (ARRAY(SELECT d.day FROM pg_temp.aispend_focus_days d))
             GROUP BY c.model) x;
    PERFORM aispend._facts_written(v_account, ARRAY(SELECT (d.day AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_focus_days d),
                                   v_models, v_firsts, v_lasts);

    IF EXISTS (SELECT 1 FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD') THEN
        RAISE WARNING 'aispend: FOCUS import into account "%": % AI rows billed in % are kept in aispend.focus_charges '
                      'but not shown on the dashboard, which sums US dollars', v_account,
                      (SELECT pg_catalog.count(*) FROM pg_temp.aispend_focus_typed t WHERE t.is_ai AND t.billing_currency <> 'USD'),
                      (SELECT pg_catalog.string_agg(DISTINCT t.billing_currency, ', ') FROM pg_temp.aispend_focus_typed t
                        WHERE t.is_ai AND t.billing_currency <> 'USD')
            USING HINT = 'Export the bill in USD (Azure: x_BilledCostInUsd is not read), or read focus_charges directly.';
    END IF;

    -- sub-accounts are the workspaces, named as the export names them
    PERFORM aispend._note_fact_dimensions(v_account, 'focus', v_now,
        (SELECT pg_catalog.array_agg(DISTINCT coalesce(t.sub_account_id, '(default)')) FROM pg_temp.aispend_focus_typed t
          WHERE t.is_ai), NULL);
    v_names := aispend._names_before(v_account);
    UPDATE aispend.workspaces w SET provider_name = n.name
      FROM (SELECT DISTINCT ON (t.sub_account_id) t.sub_account_id, t.sub_account_name AS name
              FROM pg_temp.aispend_focus_typed t
             WHERE t.is_ai AND t.sub_account_id IS NOT NULL AND t.sub_account_name IS NOT NULL
             ORDER BY t.sub_account_id, t.row_no DESC) n
     WHERE w.account = v_account AND w.workspace_id = n.sub_account_id
       AND w.provider_name IS DISTINCT FROM n.name;
    PERFORM aispend._names_changed(v_account, v_names);
    PERFORM aispend._remember_provider(v_account, 'focus');

    -- complete through the end of the file's last charge: data_freshness shows how far the bill goes
    -- (read into variables first: Citus refuses volatile functions and local tables in an UPDATE of sync_runs)
    SELECT aispend._bucket_floor(pg_catalog.max(coalesce(t.charge_period_end, t.charge_period_start)), '1d')
      INTO v_complete FROM pg_temp.aispend_focus_typed t;
    v_finished := pg_catalog.clock_timestamp();
    v_settled := aispend.settled_before(v_account);
    UPDATE aispend.sync_runs r
       SET status = 'succeeded', finished_at = v_finished, rows_inserted = v_inserted,
           rows_updated = 0, rows_deleted = v_deleted, complete_through = v_complete
     WHERE r.account = v_account AND r.id = v_run;
    PERFORM aispend._mark_settlement_moved(v_account, v_settled, aispend.settled_before(v_account));
    PERFORM aispend._reroll(v_account);

    RETURN QUERY
    SELECT p.bai, p.bps, p.bpe,
           pg_catalog.count(t.row_no),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai),
           pg_catalog.count(t.row_no) FILTER (WHERE t.is_ai AND t.model IS NULL),
           pg_catalog.count(t.row_no) FILTER (WHERE NOT t.is_ai),
           coalesce(pg_catalog.sum(t.billed_cost) FILTER (WHERE t.is_ai), 0),
           coalesce(pg_catalog.sum(t.effective_cost) FILTER (WHERE t.is_ai), 0),
           coalesce((SELECT x.n FROM pg_temp.aispend_focus_replaced x WHERE x.bai = p.bai AND x.bps = p.bps), 0)::bigint,
           v_run
    FROM pg_temp.aispend_focus_periods p
    JOIN pg_temp.aispend_focus_typed t ON t.billing_account_id = p.bai AND t.billing_period_start = p.bps
    GROUP BY p.bai, p.bps, p.bpe
    ORDER BY p.bps, p.bai;
    DROP TABLE pg_temp.aispend_focus_typed, pg_temp.aispend_focus_periods,
               pg_temp.aispend_focus_days, pg_temp.aispend_focus_replaced;
END
$$;
COMMENT ON FUNCTION aispend.import_focus(name, text, text, text[]) IS
    'Imports a FOCUS 1.0-1.2 CSV export (its text: in psql \set focus `zcat export.csv.gz`) into a provider ''focus'' '
    'account, atomically: its AI rows (ServiceName / x_ServiceCode ILIKE one of ai_services, default '
    'aispend.focus_ai_services()) replace the account''s charges of each (BillingAccountId, BillingPeriodStart) in '
    'the file; model, token type and tokens read where the rules allow (aispend.parse_focus_sku), unparsed rows kept '
    'as (unparsed). cloud: aws, azure, gcp (NULL: from ProviderName). Returns one row per billing period: rows read, '
    'AI rows, unparsed and skipped (non-AI) rows, BilledCost and EffectiveCost of the AI rows, rows replaced, and '
    'the aispend.sync_runs id.';
REVOKE ALL ON FUNCTION aispend.import_focus(name, text, text, text[]) FROM PUBLIC;

-- ---- src/sql/69_data_freshness.sql
-- 69_data_freshness.sql: how far each account's figures go, and how much of a period's cost is still an
-- estimate: what a finance user must know before trusting a total (the report shows both).

CREATE VIEW aispend.data_freshness WITH (security_invoker = true) AS
SELECT a.account, a.provider,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'usage') AS usage_day,
       (SELECT (max(f.complete_through) AT TIME ZONE 'UTC')::date - 1 FROM aispend.freshness f
         WHERE f.account = a.account AND f.endpoint = 'costs') AS costs_day,
       aispend.settled_before(a.account) - 1 AS settled_day,
       (SELECT max(f.last_success_at) FROM aispend.freshness f WHERE f.account = a.account) AS last_sync,
       (SELECT f.last_status FROM aispend.freshness f WHERE f.account = a.account
         ORDER BY f.last_attempt_at DESC NULLS LAST LIMIT 1) AS status,
       (SELECT max(f.refresh_state) FROM aispend.freshness f WHERE f.account = a.account) AS refresh_state
FROM aispend._account_providers() a;
COMMENT ON VIEW aispend.data_freshness IS
    'Per account: the last complete UTC day of its usage and of its costs, the last day whose bill is settled '
    '(before it, costs are the bill; after it, estimates), the last successful sync and the latest status.';
COMMENT ON COLUMN aispend.data_freshness.account IS 'The account (aispend server).';
COMMENT ON COLUMN aispend.data_freshness.provider IS 'Its provider.';
COMMENT ON COLUMN aispend.data_freshness.usage_day IS 'Last UTC day whose usage was fetched after it ended (NULL: never synced).';
COMMENT ON COLUMN aispend.data_freshness.costs_day IS 'Last UTC day whose costs were fetched after it ended.';
COMMENT ON COLUMN aispend.data_freshness.settled_day IS 'Last settled UTC day (aispend.settled_before - 1): the figures up to it are billed.';
COMMENT ON COLUMN aispend.data_freshness.last_sync IS 'End of the last successful sync step.';
COMMENT ON COLUMN aispend.data_freshness.status IS 'Status of the latest sync attempt: succeeded, failed, aborted or running.';
COMMENT ON COLUMN aispend.data_freshness.refresh_state IS
    'running or queued: a background refresh of the account is under way (aispend.refresh_progress); else NULL.';

-- The cost of a period by basis: billed (the provider's bill at the grain), allocated (a bill shared out by
-- usage), estimated (list prices; the bill is not settled yet), mixed (a day and grain with several).
CREATE FUNCTION aispend.cost_basis_split(period daterange DEFAULT aispend.period('last_30_days'),
                                         provider text DEFAULT 'all')
RETURNS TABLE (cost_basis text, cost numeric, pct_of_cost numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
BEGIN
    PERFORM aispend._check_period(cost_basis_split.period);
    accounts := (aispend._provider_accounts(cost_basis_split.provider)).accounts;
    RETURN QUERY
    WITH c AS (
        SELECT coalesce(r.cost_basis, 'billed') AS cost_basis, sum(r.cost) AS cost
        FROM aispend.daily_rollup r
        WHERE r.account = ANY (accounts)
          AND r.day >= pg_catalog.lower(cost_basis_split.period) AND r.day < pg_catalog.upper(cost_basis_split.period)
        GROUP BY 1)
    SELECT c.cost_basis, pg_catalog.round(c.cost, 2),
           pg_catalog.round(100 * c.cost / NULLIF(sum(c.cost) OVER (), 0), 2)
    FROM c
    ORDER BY c.cost DESC, c.cost_basis;
END
$$;
COMMENT ON FUNCTION aispend.cost_basis_split(daterange, text) IS
    'The cost of a period by basis: billed, allocated (a bill shared out among keys by usage), estimated (from '
    'list prices: the bill is not settled yet), mixed; cost to the cent and its share in percent. The '
    'estimated share says how much of a total may still move. Default order: cost DESC.';

-- ---- src/sql/70_report.sql
-- 70_report.sql: the chart report. aispend.report_html(period, provider) returns one self-contained HTML page
-- (inline CSS and SVG; no JavaScript, no external assets) with the four tabs of the Provider Dashboard: summary
-- cards, pie charts, current-vs-previous bar charts and tables with trend arrows and the efficiency star.
-- Every figure is read from the tab functions (aispend.workspaces_summary, ..._table, api_keys_top, ...): the
-- report formats, it does not compute. Every piece of user text goes through aispend.html_escape.
-- Export:  psql -Atc "SELECT aispend.report_html()" > report.html          See docs/report.md.

CREATE FUNCTION aispend.html_escape(value text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
           coalesce(value, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION aispend.html_escape(text) IS
    'Escapes text for HTML content and attribute values (& < > " and ''); NULL becomes the empty string.';

-- Number formats of the report (the test's checker formats the tab functions' values the same way).
CREATE FUNCTION aispend._report_money(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—'
            -- an absurd amount (a provider's error, a bad load) is shown as it is, never hidden or crashing
            WHEN pg_catalog.abs(value) >= 1e15
            THEN CASE WHEN value < 0 THEN '-' ELSE '' END || '$' || pg_catalog.btrim(pg_catalog.to_char(pg_catalog.abs(value), '9.99EEEE'))
            WHEN pg_catalog.round(value, 2) < 0
            THEN '-$' || pg_catalog.to_char(pg_catalog.abs(pg_catalog.round(value, 2)), 'FM999,999,999,999,990.00')
            ELSE '$' || pg_catalog.to_char(pg_catalog.round(value, 2), 'FM999,999,999,999,990.00') END;
COMMENT ON FUNCTION aispend._report_money(numeric) IS
    'Internal (report): US dollars to the cent, $1,234.56; $1e15 and more in scientific notation ($1.00e+400); NULL is —.';

CREATE FUNCTION aispend._report_rate(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—'
            ELSE '$' || pg_catalog.to_char(pg_catalog.round(value, 4), 'FM999,999,999,990.0000') END;
COMMENT ON FUNCTION aispend._report_rate(numeric) IS 'Internal (report): Cost/1M with four decimals, $2.6095; NULL is —.';

CREATE FUNCTION aispend._report_int(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—' ELSE pg_catalog.to_char(value, 'FM999,999,999,999,999,990') END;
COMMENT ON FUNCTION aispend._report_int(numeric) IS 'Internal (report): a count with thousands separators; NULL (not reported) is —.';

CREATE FUNCTION aispend._report_pct(value numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value IS NULL THEN '—' ELSE pg_catalog.to_char(pg_catalog.round(value, 2), 'FM999,990.00') || '%' END;
COMMENT ON FUNCTION aispend._report_pct(numeric) IS 'Internal (report): a percentage with two decimals, 12.34%; NULL is —.';

CREATE FUNCTION aispend._report_clip(value text, max_chars integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.length(coalesce(value, '')) <= max_chars THEN coalesce(value, '')
            ELSE pg_catalog.left(value, max_chars - 1) || '…' END;
COMMENT ON FUNCTION aispend._report_clip(text, integer) IS 'Internal (report): shortens a chart label (before escaping).';

CREATE FUNCTION aispend._report_color(i integer)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7',
              '#9c755f', '#86bcb6'])[1 + (i - 1) % 10];
COMMENT ON FUNCTION aispend._report_color(integer) IS 'Internal (report): the i-th chart colour (Other slices are grey).';

-- The efficiency star as an inline SVG (renders without an emoji font); its accessible name is the ⭐ itself.
CREATE FUNCTION aispend._report_star()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<svg class="star" width="14" height="14" viewBox="0 0 24 24" role="img" aria-label="⭐">'
       || '<title>⭐ most cost-efficient</title><path fill="#f5b301" stroke="#b8860b" stroke-width="1" '
       || 'd="M12 1.8l3.1 6.6 7.2.9-5.3 5 1.4 7.1L12 17.9l-6.4 3.5 1.4-7.1-5.3-5 7.2-.9z"/></svg>';
COMMENT ON FUNCTION aispend._report_star() IS 'Internal (report): the ⭐ efficiency star (inline SVG).';

-- A summary card. check names the tab function column the figure comes from; raw is its exact value.
CREATE FUNCTION aispend._report_card(check_name text, title text, shown text, raw text, note text DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<div class="card" data-check="' || aispend.html_escape(check_name) || '" data-value="'
       || aispend.html_escape(raw) || '"><div class="card-title">' || aispend.html_escape(title)
       || '</div><div class="card-value">' || aispend.html_escape(shown) || '</div>'
       || CASE WHEN note IS NULL THEN '' ELSE '<div class="card-note">' || note || '</div>' END || '</div>';
COMMENT ON FUNCTION aispend._report_card(text, text, text, text, text) IS
    'Internal (report): a summary card (title, figure, optional note given as HTML).';

-- The trend arrow as the tabs show it: red for an increase, green for a decrease.
CREATE FUNCTION aispend._report_trend(indicator text, label text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '<span class="trend ' || CASE WHEN indicator IN ('up', 'down', 'flat', 'new', 'incomplete') THEN indicator ELSE 'flat' END
       || '">' || aispend.html_escape(label) || '</span>';
COMMENT ON FUNCTION aispend._report_trend(text, text) IS
    'Internal (report): a trend label (aispend.trend) as a coloured span: up red, down green, flat grey, new blue, '
    'incomplete grey italic.';

-- A pie chart with its legend. Slices of zero or negative cost are not drawn (they stay in the legend).
CREATE FUNCTION aispend._report_pie(title text, check_name text, labels text[], costs numeric[], pcts numeric[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(labels, 1), 0);
    total numeric := 0;
    angle double precision := 0;
    a2 double precision;
    frac double precision;
    cx constant integer := 110;
    cy constant integer := 110;
    r constant integer := 100;
    h integer;
    color text;
    slices text := '';
    legend text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        IF costs[i] > 0 THEN
            total := total + costs[i];
        END IF;
    END LOOP;
    h := GREATEST(230, 30 + 22 * n);
    FOR i IN 1 .. n LOOP
        color := CASE WHEN labels[i] LIKE 'Other%' THEN '#bab0ac' ELSE aispend._report_color(i) END;
        IF total > 0 AND costs[i] > 0 THEN
            -- rounded first: a share too small for a double (one slice beside an absurd one) is 0, not an error
            frac := pg_catalog.round(costs[i] / total, 12)::double precision;
            IF frac > 0.99999 THEN
                slices := slices || format('<circle cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>',
                                           cx, cy, r, color, aispend.html_escape(labels[i]));
            ELSE
                a2 := angle + 2 * pi() * frac;
                slices := slices || format(
                    '<path d="M %s %s L %s %s A %s %s 0 %s 1 %s %s Z" fill="%s" stroke="#fff" stroke-width="1"><title>%s</title></path>',
                    cx, cy, round((cx + r * sin(angle))::numeric, 2), round((cy - r * cos(angle))::numeric, 2), r, r,
                    CASE WHEN frac > 0.5 THEN 1 ELSE 0 END,
                    round((cx + r * sin(a2))::numeric, 2), round((cy - r * cos(a2))::numeric, 2), color,
                    aispend.html_escape(labels[i]));
                angle := a2;
            END IF;
        END IF;
        legend := legend || format(
            '<g class="legend-item" data-label="%s" data-value="%s" data-pct="%s">'
            '<rect x="240" y="%s" width="12" height="12" fill="%s"/>'
            '<text x="258" y="%s">%s</text><text x="530" y="%s" class="num">%s</text>'
            '<text x="596" y="%s" class="num">%s</text></g>',
            aispend.html_escape(labels[i]), costs[i], coalesce(pcts[i]::text, ''),
            14 + 22 * (i - 1), color, 24 + 22 * (i - 1), aispend.html_escape(aispend._report_clip(labels[i], 30)),
            24 + 22 * (i - 1), aispend._report_money(costs[i]), 24 + 22 * (i - 1), aispend._report_pct(pcts[i]));
    END LOOP;
    IF n = 0 OR total = 0 THEN
        slices := format('<circle cx="%s" cy="%s" r="%s" fill="#eee"/><text x="%s" y="%s" text-anchor="middle">'
                         'no cost</text>', cx, cy, r, cx, cy);
    END IF;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="%s" viewBox="0 0 600 %s" role="img">'
                  '<title>%s</title>%s%s</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), h, h, aispend.html_escape(title),
                  slices, legend);
END
$$;
COMMENT ON FUNCTION aispend._report_pie(text, text, text[], numeric[], numeric[]) IS
    'Internal (report): an inline SVG pie chart with a legend (label, cost, % of total as given).';

-- Current vs previous period: one pair of horizontal bars per label (current dark, previous light).
CREATE FUNCTION aispend._report_bars(title text, check_name text, labels text[], current_costs numeric[],
                                     previous_costs numeric[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(labels, 1), 0);
    top numeric := 0;
    x0 constant integer := 190;
    w constant integer := 300;
    h integer;
    y integer;
    bars text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        top := GREATEST(top, coalesce(current_costs[i], 0), coalesce(previous_costs[i], 0));
    END LOOP;
    h := 40 + 36 * GREATEST(n, 1);
    FOR i IN 1 .. n LOOP
        y := 30 + 36 * (i - 1);
        bars := bars || format(
            '<g class="bar-item" data-label="%s" data-current="%s" data-previous="%s">'
            '<text x="%s" y="%s" text-anchor="end">%s</text>'
            '<rect x="%s" y="%s" width="%s" height="13" fill="#4e79a7"><title>current %s</title></rect>'
            '<rect x="%s" y="%s" width="%s" height="13" fill="#a0cbe8"><title>previous %s</title></rect>'
            '<text x="%s" y="%s" class="small">%s</text><text x="%s" y="%s" class="small muted">%s</text></g>',
            aispend.html_escape(labels[i]), current_costs[i], previous_costs[i],
            x0 - 6, y + 17, aispend.html_escape(aispend._report_clip(labels[i], 25)),
            x0, y, CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(current_costs[i], 0), 0) / top, 1) ELSE 0 END,
            aispend._report_money(current_costs[i]),
            x0, y + 15, CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(previous_costs[i], 0), 0) / top, 1) ELSE 0 END,
            aispend._report_money(previous_costs[i]),
            x0 + 4 + CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(current_costs[i], 0), 0) / top) ELSE 0 END,
            y + 11, aispend._report_money(current_costs[i]),
            x0 + 4 + CASE WHEN top > 0 THEN round(w * GREATEST(coalesce(previous_costs[i], 0), 0) / top) ELSE 0 END,
            y + 26, aispend._report_money(previous_costs[i]));
    END LOOP;
    IF n = 0 THEN
        bars := '<text x="20" y="40">no data in either period</text>';
    END IF;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="%s" viewBox="0 0 600 %s" role="img">'
                  '<title>%s</title>'
                  '<rect x="%s" y="6" width="12" height="12" fill="#4e79a7"/><text x="%s" y="16" class="small">current period</text>'
                  '<rect x="%s" y="6" width="12" height="12" fill="#a0cbe8"/><text x="%s" y="16" class="small">previous period</text>'
                  '%s</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), h, h, aispend.html_escape(title),
                  x0, x0 + 16, x0 + 130, x0 + 146, bars);
END
$$;
COMMENT ON FUNCTION aispend._report_bars(text, text, text[], numeric[], numeric[]) IS
    'Internal (report): an inline SVG bar chart, current vs previous period per label.';

-- A budget as a horizontal bar: spent (blue), the forecast band (grey) and the forecast (dark tick) on a scale
-- that holds the amount (the black line) and the band.
CREATE FUNCTION aispend._report_budget_bar(amount numeric, spent numeric, forecast numeric, low numeric, high numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH s AS (SELECT 200.0 / GREATEST(amount, high, spent, 0.01) AS k)
    SELECT format('<svg class="budget" data-spent="%s" data-forecast="%s" data-amount="%s" width="210" height="16" '
                  'viewBox="0 0 210 16" role="img"><title>spent %s, forecast %s (%s to %s), amount %s</title>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#ddd"/>'
                  '<rect x="%s" y="3" width="%s" height="10" fill="#bbb"/>'
                  '<rect x="0" y="4" width="%s" height="8" fill="#4e79a7"/>'
                  '<rect x="%s" y="1" width="2" height="14" fill="#555"/>'
                  '<rect x="%s" y="0" width="1.5" height="16" fill="#000"/></svg>',
                  spent, forecast, amount, aispend._report_money(spent), aispend._report_money(forecast),
                  aispend._report_money(low), aispend._report_money(high), aispend._report_money(amount),
                  round(200.0, 1), round(s.k * low, 1), round(GREATEST(s.k * (high - low), 1), 1),
                  round(s.k * spent, 1), round(s.k * forecast, 1), round(s.k * amount, 1))
    FROM s;
END;
COMMENT ON FUNCTION aispend._report_budget_bar(numeric, numeric, numeric, numeric, numeric) IS
    'Internal (report): an inline SVG bar of a budget: spent, the forecast band and tick, the amount.';

-- Daily cost as vertical bars, one per UTC day of the period (aispend.daily_series).
CREATE FUNCTION aispend._report_daily(title text, check_name text, days date[], costs numeric[], marked date[])
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(array_length(days, 1), 0);
    top numeric := 0;
    chart_h constant integer := 160;
    step numeric;
    bar numeric;
    bars text := '';
    i integer;
BEGIN
    FOR i IN 1 .. n LOOP
        top := GREATEST(top, coalesce(costs[i], 0));
    END LOOP;
    step := 560.0 / GREATEST(n, 1);
    FOR i IN 1 .. n LOOP
        bar := CASE WHEN top > 0 THEN round(chart_h * GREATEST(coalesce(costs[i], 0), 0) / top, 1) ELSE 0 END;
        bars := bars || format(
            '<g class="day-item" data-label="%s" data-value="%s"><rect x="%s" y="%s" width="%s" height="%s" '
            'fill="#4e79a7"><title>%s: %s</title></rect></g>',
            days[i], costs[i], round(30 + step * (i - 1), 1), 20 + chart_h - bar, round(GREATEST(step - 1, 1), 1),
            bar, days[i], aispend._report_money(costs[i]));
        -- a spike that day (aispend.anomalies): a red marker above the bar
        IF days[i] = ANY (marked) THEN
            bars := bars || format('<circle class="anomaly" data-label="%s" cx="%s" cy="%s" r="3" fill="#c62828">'
                                   '<title>%s: spike (aispend.anomalies)</title></circle>',
                                   days[i], round(30 + step * (i - 0.5), 1), 20 + chart_h - bar - 5, days[i]);
        END IF;
    END LOOP;
    RETURN format('<figure class="chart" data-check="%s"><figcaption>%s</figcaption>'
                  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="220" viewBox="0 0 600 220" role="img">'
                  '<title>%s</title><text x="30" y="14" class="small muted">max %s</text>%s'
                  '<text x="30" y="210" class="small">%s</text><text x="590" y="210" class="small num">%s</text>'
                  '</svg></figure>',
                  aispend.html_escape(check_name), aispend.html_escape(title), aispend.html_escape(title),
                  aispend._report_money(top), bars, coalesce(days[1]::text, ''), coalesce(days[n]::text, ''));
END
$$;
COMMENT ON FUNCTION aispend._report_daily(text, text, date[], numeric[], date[]) IS
    'Internal (report): an inline SVG bar chart of the cost per UTC day, a red marker on the days in marked.';

CREATE FUNCTION aispend.report_html(period daterange DEFAULT aispend.period('last_30_days'),
                                    provider text DEFAULT 'all', compare_with daterange DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    max_rows constant integer := 50;   -- table rows shown per tab; the rest is counted below the table
    prev daterange;
    ws record;
    ak record;
    md record;
    html text;
    part text;
    n integer;
    labels text[];
    a numeric[];
    b numeric[];
    c numeric[];
    prov text := lower(coalesce(nullif(btrim(provider), ''), 'all'));
    call_args text;
    n_ws integer;
    n_active integer;
    n_renamed integer;
    est_pct numeric;
    days date[];
BEGIN
    prev := aispend._check_period(coalesce(compare_with, aispend.previous_period(aispend._check_period(period))));
    PERFORM aispend._provider_matches('openai', prov);   -- raises for an unknown provider filter
    call_args := format('%L::daterange, %L', period, prov)
                 || CASE WHEN compare_with IS NOT NULL THEN format(', compare_with => %L::daterange', prev) ELSE '' END;

    SELECT * INTO ws FROM aispend.workspaces_summary(period, prov, compare_with => prev);
    SELECT * INTO ak FROM aispend.api_keys_summary(period, prov, compare_with => prev);
    SELECT * INTO md FROM aispend.models_summary(period, prov, compare_with => prev);
    SELECT b.pct_of_cost INTO est_pct FROM aispend.cost_basis_split(period, prov) b WHERE b.cost_basis = 'estimated';
    est_pct := coalesce(est_pct, 0);

    html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<title>aispend report ' || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</title><style>'
        || 'body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#f6f7f9}'
        || 'h1{margin:0 0 4px;font-size:26px}h2{margin:0 0 12px;font-size:20px;border-bottom:2px solid #4e79a7;padding-bottom:4px}'
        || 'header p{margin:2px 0;color:#555}section{background:#fff;border:1px solid #dde;border-radius:8px;padding:16px 20px;margin:18px 0}'
        || '.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}'
        || '.card{border:1px solid #dde;border-radius:6px;padding:10px 14px;min-width:150px;background:#fbfcfe}'
        || '.card-title{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}'
        || '.card-value{font-size:22px;font-weight:600;margin-top:4px}.card-note{font-size:12px;margin-top:4px;color:#555}'
        || '.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0 0 12px}figcaption{font-weight:600;margin-bottom:4px}'
        || 'svg text{font-size:12px;fill:#222}svg text.num{text-anchor:end}svg text.small{font-size:11px}svg text.muted{fill:#777}'
        || 'table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}'
        || 'th,td{border-bottom:1px solid #e4e6eb;padding:4px 8px;text-align:left}th{background:#f0f2f6}'
        || 'td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}'
        || '.trend{font-weight:600;white-space:nowrap}.trend.up{color:#c62828}.trend.down{color:#2e7d32}'
        || '.trend.flat{color:#777}.trend.new{color:#1565c0}.trend.incomplete{color:#777;font-style:italic;font-weight:400}'
        || '.star{vertical-align:-2px}.muted{color:#777}'
        || '.note{font-size:12px;color:#666}footer{font-size:12px;color:#666;margin-top:20px}code{font-size:12px}'
        || '</style></head><body>'
        || '<header><h1>aispend · Provider Dashboard</h1>'
        || '<p data-check="period" data-value="' || aispend.html_escape(period::text) || '">Period: <b>'
        || aispend.html_escape(aispend.period_first_day(period)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(period)::text) || '</b> ('
        || (upper(period) - lower(period)) || ' UTC days), compared with '
        || aispend.html_escape(aispend.period_first_day(prev)::text) || ' to '
        || aispend.html_escape(aispend.period_last_day(prev)::text) || '</p>'
        || '<p>Provider: <b>' || aispend.html_escape(prov) || '</b> · generated '
        || aispend.html_escape(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC') || '</p></header>';

    -- ---- Workspaces
    html := html || '<section id="workspaces"><h2>Workspaces</h2><div class="cards">'
        || aispend._report_card('workspaces_summary.total_cost', 'Total Cost', aispend._report_money(ws.total_cost),
                                ws.total_cost::text,
                                aispend._report_trend(ws.trend, ws.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ws.previous_total_cost)))
        || aispend._report_card('workspaces_summary.active_workspaces', 'Active Workspaces',
                                aispend._report_int(ws.active_workspaces), ws.active_workspaces::text)
        -- a card per provider in view (none for a provider the filter leaves out; other only when it has cost)
        || CASE WHEN prov IN ('all', 'openai')
                THEN aispend._report_card('workspaces_summary.openai_cost', 'OpenAI',
                                          aispend._report_money(ws.openai_cost), ws.openai_cost::text)
                ELSE '' END
        || CASE WHEN prov IN ('all', 'anthropic')
                THEN aispend._report_card('workspaces_summary.anthropic_cost', 'Anthropic',
                                          aispend._report_money(ws.anthropic_cost), ws.anthropic_cost::text)
                ELSE '' END
        || CASE WHEN prov NOT IN ('all', 'openai', 'anthropic') OR prov = 'all' AND ws.other_cost <> 0
                THEN aispend._report_card('workspaces_summary.other_cost', 'Other providers',
                                          aispend._report_money(ws.other_cost), ws.other_cost::text)
                ELSE '' END
        || aispend._report_card('cost_basis.estimated_pct', 'Estimated',
                                aispend._report_pct(est_pct), coalesce(est_pct::text, ''),
                                'of the cost is estimated from list prices (bill not settled yet)')
        || aispend._report_card('workspaces_summary.requests', 'Requests', aispend._report_int(ws.requests),
                                coalesce(ws.requests::text, ''))
        || aispend._report_card('workspaces_summary.tokens', 'Tokens', aispend._report_int(ws.tokens), ws.tokens::text)
        || '</div><div class="charts">';
    SELECT array_agg(t.provider ORDER BY t.cost DESC, t.provider), array_agg(t.cost ORDER BY t.cost DESC, t.provider),
           array_agg(t.pct_of_total ORDER BY t.cost DESC, t.provider)
      INTO labels, a, c
      FROM aispend.workspaces_by_provider(period, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by Provider', 'workspaces_by_provider', labels, a, c);
    SELECT array_agg(t.name ORDER BY t.current_cost DESC, t.name), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.name),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.name)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.workspaces_vs_previous(period, prov, compare_with => prev) v
            ORDER BY v.current_cost DESC, v.name LIMIT 10) t;
    html := html || aispend._report_bars('Current vs Previous Period (top 10 workspaces)', 'workspaces_vs_previous',
                                         labels, a, b);
    SELECT array_agg(d.day ORDER BY d.day), array_agg(d.cost ORDER BY d.day) INTO days, a
      FROM aispend.daily_series(period, prov) d;
    html := html || aispend._report_daily('Cost per Day (red: a spike, aispend.anomalies)', 'daily_series', days, a,
                                          ARRAY(SELECT DISTINCT x.day FROM aispend.anomalies(period, NULL, prov) x))
                 || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.name) || '</td><td>' || aispend.html_escape(t.provider)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.cost DESC, t.name),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.workspaces_table(period, prov, compare_with => prev) x
            ORDER BY x.cost DESC, x.name LIMIT max_rows) t;
    html := html || '<table data-check="workspaces_table"><thead><tr><th>Name</th><th>Provider</th>'
        || '<th class="num">Cost</th><th class="num">% of Total</th><th class="num">Requests</th>'
        || '<th class="num">Tokens</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.workspaces_table(' || aispend.html_escape(call_args) || ') ORDER BY cost DESC, name;</p>'
                ELSE '' END
        || '</section>';

    -- ---- API keys
    html := html || '<section id="api-keys"><h2>API Keys</h2><div class="cards">'
        || aispend._report_card('api_keys_summary.total_cost', 'Total Cost', aispend._report_money(ak.total_cost),
                                ak.total_cost::text,
                                aispend._report_trend(ak.trend, ak.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(ak.previous_total_cost)))
        || aispend._report_card('api_keys_summary.active_keys', 'Active API Keys', aispend._report_int(ak.active_keys),
                                ak.active_keys::text)
        || aispend._report_card('api_keys_summary.total_requests', 'Total Requests',
                                aispend._report_int(ak.total_requests), coalesce(ak.total_requests::text, ''))
        || aispend._report_card('api_keys_summary.tokens', 'Tokens', aispend._report_int(ak.tokens), ak.tokens::text)
        || aispend._report_card('api_keys_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(ak.avg_cost_per_1m), coalesce(ak.avg_cost_per_1m::text, ''))
        || '</div><div class="charts">';
    SELECT array_agg(CASE WHEN t.label = 'Other keys' THEN 'Other keys (' || t.keys || ')' ELSE t.label END ORDER BY t.rank),
           array_agg(t.cost ORDER BY t.rank), array_agg(t.pct_of_total ORDER BY t.rank)
      INTO labels, a, c
      FROM aispend.api_keys_top(period, 10, prov, compare_with => prev) t;
    html := html || aispend._report_pie('Cost Distribution by API Key (top 10)', 'api_keys_top', labels, a, c);
    SELECT array_agg(t.api_key || ' (' || t.workspace || ')' ORDER BY t.rn), array_agg(t.current_cost ORDER BY t.rn),
           array_agg(t.previous_cost ORDER BY t.rn)
      INTO labels, a, b
      FROM (SELECT v.*, row_number() OVER (ORDER BY v.current_cost DESC, v.api_key, v.account, v.workspace_id,
                                                    v.api_key_id) AS rn
            FROM aispend.api_keys_vs_previous(period, prov, compare_with => prev) v) t
     WHERE t.rn <= 10;
    html := html || aispend._report_bars('API Key Cost Comparison (top 10 keys)', 'api_keys_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.api_key) || '</td><td>' || aispend.html_escape(t.kind)
                      || '</td><td>' || aispend.html_escape(t.workspace)
                      || '</td><td><code>' || aispend.html_escape(t.key_hint) || '</code></td><td>'
                      || aispend.html_escape(t.provider) || '</td><td>' || aispend.html_escape(t.status)
                      || '</td><td class="num">' || aispend._report_money(t.cost) || '</td><td class="num">'
                      || aispend._report_int(t.tokens) || '</td><td class="num">' || aispend._report_int(t.requests)
                      || '</td><td class="num">' || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">'
                      || aispend._report_pct(t.pct_of_total) || '</td><td>'
                      || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', '' ORDER BY t.rn),
           max(t.total)
      INTO part, n
      -- the tab's own order (WITH ORDINALITY); keys without use are left out, so that 50 rows always reach
      -- the rows that are not keys
      FROM (SELECT x.*, x.ordinality AS rn, count(*) OVER () AS total
            FROM aispend.api_keys_table(period, prov, include_unused => false, compare_with => prev)
                 WITH ORDINALITY AS x) t
     WHERE t.rn <= max_rows;
    html := html || '<table data-check="api_keys_table"><thead><tr><th>API Key</th><th>Kind</th><th>Workspace</th><th>Key Hint</th>'
        || '<th>Provider</th><th>Status</th><th class="num">Cost</th><th class="num">Tokens</th>'
        || '<th class="num">Requests</th><th class="num">Cost/1M</th><th class="num">% of Total</th><th>Trend</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.api_keys_table(' || aispend.html_escape(call_args) || ', include_unused => false);</p>'
                ELSE '' END
        || '</section>';

    -- ---- Models
    html := html || '<section id="models"><h2>Models</h2><div class="cards">'
        || aispend._report_card('models_summary.total_cost', 'Total Cost', aispend._report_money(md.total_cost),
                                md.total_cost::text,
                                aispend._report_trend(md.trend, md.trend_label) || ' vs '
                                || aispend.html_escape(aispend._report_money(md.previous_total_cost)))
        || aispend._report_card('models_summary.model_count', 'Models', aispend._report_int(md.model_count),
                                md.model_count::text)
        || aispend._report_card('models_summary.total_requests', 'Total Requests',
                                aispend._report_int(md.total_requests), coalesce(md.total_requests::text, ''))
        || aispend._report_card('models_summary.tokens', 'Tokens', aispend._report_int(md.tokens), md.tokens::text)
        || aispend._report_card('models_summary.avg_cost_per_1m', 'Avg Cost per 1M Tokens',
                                aispend._report_rate(md.avg_cost_per_1m), coalesce(md.avg_cost_per_1m::text, ''))
        || aispend._report_card('models_summary.most_efficient_model', 'Most Efficient',
                                coalesce(md.most_efficient_model, '—'), coalesce(md.most_efficient_model, ''),
                                aispend._report_star() || ' lowest cost per 1M tokens (chat models)')
        || '</div><div class="charts">';
    -- The pie shows the nine costliest models; the rest is one grey slice.
    SELECT array_agg(t.label ORDER BY t.grp), array_agg(t.cost ORDER BY t.grp), array_agg(t.pct ORDER BY t.grp)
      INTO labels, a, c
      FROM (SELECT g.grp, CASE WHEN g.grp <= 9 OR count(*) = 1 THEN min(g.model)
                               ELSE 'Other (' || count(*) || ' models)' END AS label,
                   sum(g.cost) AS cost, sum(g.pct_of_total) AS pct
              FROM (SELECT x.model, x.cost, x.pct_of_total,
                           LEAST(row_number() OVER (ORDER BY x.cost DESC, x.model), 10) AS grp
                      FROM aispend.models_by_cost(period, prov, compare_with => prev) x) g
             GROUP BY g.grp) t;
    html := html || aispend._report_pie('Cost Distribution by Model', 'models_by_cost', labels, a, c);
    SELECT array_agg(t.model ORDER BY t.current_cost DESC, t.model), array_agg(t.current_cost ORDER BY t.current_cost DESC, t.model),
           array_agg(t.previous_cost ORDER BY t.current_cost DESC, t.model)
      INTO labels, a, b
      FROM (SELECT * FROM aispend.models_vs_previous(period, prov, compare_with => prev) v ORDER BY v.current_cost DESC, v.model LIMIT 10) t;
    html := html || aispend._report_bars('Model Cost Comparison (top 10 models)', 'models_vs_previous', labels, a, b)
        || '</div>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(t.model)
                      || CASE WHEN t.most_efficient THEN ' ' || aispend._report_star() ELSE '' END
                      || '</td><td>' || aispend.html_escape(t.class)
                      || '</td><td>' || aispend.html_escape(t.provider) || '</td><td class="num">'
                      || aispend._report_rate(t.cost_per_1m) || '</td><td class="num">' || aispend._report_money(t.cost)
                      || '</td><td class="num">' || aispend._report_int(t.tokens) || '</td><td class="num">'
                      || aispend._report_int(t.requests) || '</td><td class="num">' || aispend._report_pct(t.pct_of_total)
                      || '</td><td>' || aispend._report_trend(t.trend, t.trend_label) || '</td></tr>', ''
                      ORDER BY t.cost_per_1m NULLS LAST, t.model),
           max(t.total)
      INTO part, n
      FROM (SELECT x.*, count(*) OVER () AS total FROM aispend.models_table(period, prov, compare_with => prev) x
            ORDER BY x.cost_per_1m NULLS LAST, x.model LIMIT max_rows) t;
    html := html || '<table data-check="models_table"><thead><tr><th>Model</th><th>Class</th><th>Provider</th>'
        || '<th class="num">Cost/1M</th><th class="num">Cost</th><th class="num">Tokens</th><th class="num">Requests</th>'
        || '<th class="num">% of Total</th><th>Trend</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_star() || ' marks the most cost-efficient model of each class: the lowest cost per '
        || 'million tokens among the class''s models with cost and tokens in the period.</p>'
        || CASE WHEN n > max_rows THEN '<p class="note">' || (n - max_rows) || ' more rows: SELECT * FROM '
                || 'aispend.models_table(' || aispend.html_escape(call_args) || ') ORDER BY cost_per_1m NULLS LAST, model;</p>'
                ELSE '' END
        || '</section>';

    -- ---- Savings: what the same tokens would have cost on cheaper models of the same class, and caching
    SELECT string_agg('<tr><td>' || aispend.html_escape(o.api_key) || '</td><td>' || aispend.html_escape(o.workspace)
                      || '</td><td>' || aispend.html_escape(o.model) || '</td><td>' || aispend.html_escape(o.alternative)
                      || '</td><td class="num">' || aispend._report_money(o.list_cost) || '</td><td class="num">'
                      || aispend._report_money(o.repriced_cost) || '</td><td class="num">'
                      || aispend._report_money(o.saving) || '</td><td class="num">' || aispend._report_pct(o.saving_pct)
                      || '</td></tr>', '' ORDER BY o.ordinality)
      INTO part
      FROM aispend.savings_opportunities(period, prov) WITH ORDINALITY AS o
     WHERE o.ordinality <= 10;
    html := html || '<section id="savings"><h2>Savings Opportunities</h2>'
        || '<p class="note">What each key''s own token mix would have cost at the list prices of a cheaper model of the '
        || 'same class that the organisation uses: a re-pricing of token counts, not a judgement of quality.</p>'
        || '<table data-check="savings_opportunities"><thead><tr><th>API Key</th><th>Workspace</th><th>Model</th>'
        || '<th>Alternative</th><th class="num">List cost</th><th class="num">Re-priced</th><th class="num">Saving</th>'
        || '<th class="num">Saving %</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(c.api_key) || '</td><td>' || aispend.html_escape(c.model)
                      || '</td><td class="num">' || aispend._report_int(c.input_tokens) || '</td><td class="num">'
                      || aispend._report_pct(c.cached_pct) || '</td><td class="num">'
                      || aispend._report_money(c.caching_saved) || '</td><td class="num">'
                      || aispend._report_money(c.saving_at_hit_rate) || '</td><td>'
                      || CASE WHEN c.uncached_heavy THEN 'no caching' ELSE '' END || '</td></tr>', ''
                      ORDER BY c.ordinality)
      INTO part
      FROM aispend.cache_efficiency(period, prov) WITH ORDINALITY AS c
     WHERE c.ordinality <= 10;
    html := html || '<table data-check="cache_efficiency"><thead><tr><th>API Key</th><th>Model</th>'
        || '<th class="num">Input tokens</th><th class="num">Cached</th><th class="num">Caching saved</th>'
        || '<th class="num">At a 50% hit rate</th><th>Flag</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table><p class="note">aispend.savings_opportunities and aispend.cache_efficiency have the rest '
        || '(docs/savings.md).</p></section>';

    -- ---- Budgets (their current period, not the report's) and the open alerts
    SELECT string_agg('<tr><td>' || aispend.html_escape(b.name) || '</td><td>' || aispend.html_escape(b.period::text)
                      || '</td><td class="num">' || aispend._report_money(b.amount_usd) || '</td><td class="num">'
                      || aispend._report_money(b.spent) || '</td><td class="num">' || aispend._report_pct(b.pct_used)
                      || '</td><td class="num">' || aispend._report_money(b.forecast) || '</td><td class="num">'
                      || aispend._report_money(b.forecast_low) || ' – ' || aispend._report_money(b.forecast_high)
                      || '</td><td>' || aispend._report_budget_bar(b.amount_usd, b.spent, b.forecast, b.forecast_low,
                                                                    b.forecast_high) || '</td></tr>', '' ORDER BY b.ordinality)
      INTO part
      FROM aispend.budgets_status() WITH ORDINALITY AS b;
    html := html || '<section id="budgets"><h2>Budgets and Alerts</h2>'
        || '<table data-check="budgets_status"><thead><tr><th>Budget</th><th>Period</th><th class="num">Amount</th>'
        || '<th class="num">Spent</th><th class="num">Used</th><th class="num">Forecast</th><th class="num">Band</th>'
        || '<th>Spent (blue), forecast band (grey), amount (line)</th></tr></thead><tbody>' || coalesce(part, '')
        || '</tbody></table>';
    SELECT string_agg('<tr><td>' || aispend.html_escape(x.state) || '</td><td>' || aispend.html_escape(x.rule)
                      || '</td><td>' || aispend.html_escape(x.message) || '</td><td>'
                      || aispend.html_escape(to_char(x.first_fired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) || ' UTC'
                      || '</td></tr>', '' ORDER BY x.first_fired, x.id)
      INTO part
      FROM aispend.alerts x WHERE x.state <> 'resolved';
    html := html || '<table data-check="alerts"><thead><tr><th>State</th><th>Rule</th><th>Alert</th><th>Since</th>'
        || '</tr></thead><tbody>' || coalesce(part, '') || '</tbody></table><p class="note">Budgets in their current '
        || 'period (aispend.budgets_status, docs/budgets.md); alerts firing or acknowledged (aispend.alerts, '
        || 'docs/alerts.md).</p></section>';

    -- ---- Workspace management (the names; not period-dependent)
    SELECT string_agg('<tr><td>' || aispend.html_escape(m.workspace_name)
                      || CASE WHEN m.display_name IS NOT NULL THEN ' <span class="muted">(renamed)</span>' ELSE '' END
                      || '</td><td>' || aispend.html_escape(m.provider) || '</td><td><code>'
                      || aispend.html_escape(m.workspace_id) || '</code></td><td>' || aispend.html_escape(m.provider_name)
                      || '</td><td>' || aispend.html_escape(m.status) || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.created, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.first_seen, 'YYYY-MM-DD')), '—') || '</td><td>'
                      || coalesce(aispend.html_escape(to_char(m.last_seen, 'YYYY-MM-DD')), '—')
                      || '</td><td class="num">' || m.name_changes || '</td></tr>', ''
                      ORDER BY m.workspace_name, m.account, m.workspace_id),
           count(*), count(*) FILTER (WHERE m.status = 'active'), count(*) FILTER (WHERE m.display_name IS NOT NULL)
      INTO part, n_ws, n_active, n_renamed
      FROM aispend.workspace_management_table(NULL, prov) m;
    html := html || '<section id="workspace-management"><h2>Workspace Management</h2><div class="cards">'
        || aispend._report_card('workspace_management.count', 'Workspaces', aispend._report_int(n_ws), n_ws::text)
        || aispend._report_card('workspace_management.active', 'Active', aispend._report_int(n_active), n_active::text)
        || aispend._report_card('workspace_management.renamed', 'Custom Names', aispend._report_int(n_renamed), n_renamed::text)
        || '</div><table data-check="workspace_management"><thead><tr><th>Workspace Name</th><th>Provider</th>'
        || '<th>Workspace ID</th><th>Provider Name</th><th>Status</th><th>Created</th><th>First Seen</th>'
        || '<th>Last Seen</th><th class="num">Name Changes</th></tr></thead>'
        || '<tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">Created: the provider''s creation date; First Seen: the earlier of Created and the first day '
        || 'with usage or cost; Last Seen: the last day with usage or cost. Rename a workspace: <code>SELECT '
        || 'aispend.rename_workspace(account, workspace_id, ''new name'');</code> (docs/workspace-management.md).</p></section>';

    -- ---- Data freshness: how far each account in view is synced, and what is still an estimate
    SELECT string_agg('<tr><td>' || aispend.html_escape(f.account) || '</td><td>' || aispend.html_escape(f.provider)
                      || '</td><td>' || coalesce(to_char(f.usage_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.costs_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(to_char(f.settled_day, 'YYYY-MM-DD'), '—')
                      || '</td><td>' || coalesce(aispend.html_escape(to_char(f.last_sync AT TIME ZONE 'UTC',
                                                                              'YYYY-MM-DD HH24:MI') || ' UTC'), '—')
                      || '</td><td>' || aispend.html_escape(coalesce(f.status, '—'))
                      || '</td><td>' || aispend.html_escape(coalesce(f.refresh_state, '—')) || '</td></tr>', ''
                      ORDER BY f.account)
      INTO part
      FROM aispend.data_freshness f
     WHERE aispend._provider_matches(f.provider, prov);
    html := html || '<section id="freshness"><h2>Data Freshness</h2>'
        || '<table data-check="data_freshness"><thead><tr><th>Account</th><th>Provider</th><th>Usage complete through</th>'
        || '<th>Costs complete through</th><th>Costs settled through</th><th>Last sync</th><th>Last status</th>'
        || '<th>Refresh now</th></tr></thead><tbody>' || coalesce(part, '') || '</tbody></table>'
        || '<p class="note">' || aispend._report_pct(est_pct) || ' of the cost in this period is estimated from list prices '
        || '(days whose bill is not settled yet: docs/costs.md). A trend marked "history from" compares with a period '
        || 'older than the synced history.</p></section>';

    html := html || '<footer>Figures from aispend.workspaces_summary / _table / _by_provider / _vs_previous, '
        || 'aispend.api_keys_summary / _table / _top / _vs_previous, aispend.models_summary / _table / _by_cost / '
        || '_vs_previous, aispend.anomalies, aispend.budgets_status, aispend.alerts, '
        || 'aispend.workspace_management_table, aispend.data_freshness and aispend.cost_basis_split '
        || 'for the period above; costs in US dollars, days in UTC. '
        || 'Made with <code>psql -Atc "SELECT aispend.report_html(' || aispend.html_escape(call_args)
        || ')" &gt; report.html</code>.</footer></body></html>' || E'\n';
    RETURN html;
END
$$;
COMMENT ON FUNCTION aispend.report_html(daterange, text, daterange) IS
    'The chart report: one self-contained HTML page (inline SVG and CSS, no JavaScript, no external assets) with '
    'the summary cards, pie charts, current-vs-previous bar charts and tables (trend arrows, efficiency star) of '
    'the Workspaces, API Keys, Models and Workspace Management tabs for a period (default last 30 days, UTC) and a '
    'provider filter (all, openai, anthropic, other), compared with compare_with (default '
    'aispend.previous_period(period); by name: aispend.report_html(''month_to_date'')). Export: psql -Atc "SELECT aispend.report_html()" > report.html';

-- ---- src/sql/71_anomalies.sql
-- 71_anomalies.sql: spike detection. The cost of every API key, workspace (by the name shown) and model per UTC
-- day against a robust baseline of its own recent history. See docs/alerts.md "Spikes".
--
-- For a day d of an entity:
--   window     the 28 days before d;
--   expected   the median of the window's days of d's type (weekdays, or Saturdays and Sundays), or of all 28 when
--              fewer than 6 of them have spend (a weekend-only key, a young key);
--   scale      1.4826 x the median absolute deviation from it (the standard deviation of normal noise), at least
--              a tenth of expected and a cent;
--   score      (observed - expected) / scale;
--   spike      score >= min_score, observed - expected >= min_cost and observed >= min_ratio x expected;
--   new        fewer than 7 days with spend in the window and observed >= min_cost (and min_ratio x expected):
--              a key or workspace that starts spending heavily, or comes back after weeks;
--   recurring  (not listed) a spike on a day of the month whose cost was over both cost thresholds (min_ratio x
--              expected, min_cost over it) on that day of each of the two months before: a monthly job is a
--              pattern, not an anomaly.

-- The baselines of days idx (indexes into costs; costs[1] is first_day's cost), set-based. The exact median of
-- a group is the mean of percentile_disc(0.5) read upwards and downwards (percentile_cont computes in floats).
CREATE FUNCTION aispend._baselines(costs numeric[], first_day date, idx integer[])
RETURNS TABLE (i integer, expected numeric, scale numeric, active_days integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH w AS (
        SELECT x.i, costs[j] AS c,
               (pg_catalog.date_part('isodow', first_day + j - 1) >= 6)
                   = (pg_catalog.date_part('isodow', first_day + x.i - 1) >= 6) AS same_type
        FROM pg_catalog.unnest(idx) AS x(i)
        CROSS JOIN LATERAL pg_catalog.generate_series(GREATEST(1, x.i - 28), x.i - 1) AS j),
    g AS (
        SELECT w.i, count(*) FILTER (WHERE w.same_type AND w.c <> 0) >= 6 AS by_type,
               (count(*) FILTER (WHERE w.c <> 0))::integer AS active
        FROM w GROUP BY w.i),
    s AS (
        SELECT w.i, w.c FROM w JOIN g ON g.i = w.i WHERE w.same_type OR NOT g.by_type),
    m AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c)
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY s.c DESC)) / 2 AS med
        FROM s GROUP BY s.i),
    d AS (
        SELECT s.i, (pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med))
                     + pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY pg_catalog.abs(s.c - m.med) DESC)) / 2 AS mad
        FROM s JOIN m ON m.i = s.i GROUP BY s.i)
    SELECT m.i, m.med, GREATEST(1.4826 * d.mad, m.med / 10, 0.01), g.active
    FROM m JOIN d ON d.i = m.i JOIN g ON g.i = m.i;
END;
COMMENT ON FUNCTION aispend._baselines(numeric[], date, integer[]) IS
    'Internal: for days idx of a daily series (costs[1] is first_day), the expected cost (the exact median of the '
    '28 days before, of the day''s type: weekday or weekend, all 28 when fewer than 6 of that type have spend), the '
    'scale (1.4826 x MAD, at least a tenth of expected and a cent) and the days with spend in the 28.';

-- Whether day i of a series is flagged against its baseline (the rule of this file's header).
CREATE FUNCTION aispend._is_flagged(observed numeric, expected numeric, scale numeric, active_days integer,
                                    min_score numeric, min_cost numeric, min_ratio numeric)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN observed - expected >= min_cost AND observed >= min_ratio * expected
       AND (active_days < 7 OR (observed - expected) / scale >= min_score);
COMMENT ON FUNCTION aispend._is_flagged(numeric, numeric, numeric, integer, numeric, numeric, numeric) IS
    'Internal: a day is a spike (or new spending, with fewer than 7 days of spend before) above the thresholds.';

-- The flagged days (from index from_i on) of one entity's daily series starting on first_day.
CREATE FUNCTION aispend._anomaly_points(costs numeric[], first_day date, from_i integer, min_score numeric,
                                        min_cost numeric, min_ratio numeric)
RETURNS TABLE (day date, observed numeric, expected numeric, ratio numeric, score numeric, flag text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH f AS (
        SELECT b.i, first_day + b.i - 1 AS day, costs[b.i] AS observed, b.expected, b.scale,
               CASE WHEN b.active_days < 7 THEN 'new' ELSE 'spike' END AS flag
        FROM aispend._baselines(costs, first_day,
                                ARRAY(SELECT pg_catalog.generate_series(GREATEST(2, from_i),
                                                                        pg_catalog.cardinality(costs)))) b
        WHERE aispend._is_flagged(costs[b.i], b.expected, b.scale, b.active_days, min_score, min_cost, min_ratio)),
    -- the same day of the month, one and two months before each spike: over both cost thresholds in both, a pattern
    before AS (
        SELECT f.i, ((f.day - pg_catalog.make_interval(months => m.n))::date - first_day + 1) AS j
        FROM f CROSS JOIN (VALUES (1), (2)) AS m(n)
        WHERE f.flag = 'spike'),
    recurring AS (
        SELECT before.i
        FROM before
        JOIN aispend._baselines(costs, first_day, ARRAY(SELECT DISTINCT before.j FROM before WHERE before.j >= 2)) b
          ON b.i = before.j
        WHERE costs[b.i] >= min_ratio * b.expected AND costs[b.i] - b.expected >= min_cost AND b.active_days >= 7
        GROUP BY before.i HAVING count(*) = 2)
    SELECT f.day, f.observed, f.expected,
           CASE WHEN f.expected > 0 THEN pg_catalog.round(f.observed / f.expected, 2) END,
           CASE WHEN f.flag = 'spike' THEN pg_catalog.round((f.observed - f.expected) / f.scale, 1) END,
           f.flag
    FROM f
    WHERE f.i NOT IN (SELECT recurring.i FROM recurring)
    ORDER BY f.day;
END;
COMMENT ON FUNCTION aispend._anomaly_points(numeric[], date, integer, numeric, numeric, numeric) IS
    'Internal: the spikes and new spending of one daily cost series (costs[1] is first_day) on the days from index '
    'from_i on, by the method of docs/alerts.md; a spike whose day of the month was over both cost thresholds in each '
    'of the two months before is a monthly pattern and is left out.';

-- The cost per UTC day of every API key, workspace name and model in [from_day, to_day], zero-filled, one array
-- per entity (row-level security applies: a team sees its own). PL/pgSQL (on Citus, an SQL function cannot read
-- a distributed table), with the accounts of the provider filter read first.
CREATE FUNCTION aispend._entity_series_of(p_from date, p_to date, p_kind text, p_provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    accounts name[];
    providers text[];
BEGIN
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(p_provider) a;
    RETURN QUERY
    WITH r AS (
        SELECT e.kind, e.id, e.entity, e.account, ap.provider, r.account AS source, r.day, r.cost
        FROM aispend.daily_rollup r
        JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers)) AS ap(account, provider)
          ON ap.account = r.account
        LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
        LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
        -- a key is itself (its account and id: two keys of one name stay apart, a renamed key stays one); a
        -- workspace name and a model combine across accounts, as on the dashboard
        CROSS JOIN LATERAL (VALUES ('api_key', r.api_key_id, coalesce(k.name, r.api_key_id), r.account),
                                   ('workspace', coalesce(w.name, r.workspace_id), coalesce(w.name, r.workspace_id), NULL::name),
                                   ('model', r.model, r.model, NULL::name)) AS e(kind, id, entity, account)
        WHERE r.day >= p_from AND r.day <= p_to
          AND (p_kind IS NULL OR e.kind = p_kind)),
    per_day AS (
        SELECT r.kind, r.id, r.account, r.day, sum(r.cost) AS cost
        FROM r GROUP BY r.kind, r.id, r.account, r.day),
    -- an account's history starts on its first day of spend (a first sync's backfill)
    starts AS (
        SELECT x.account, min(x.day) AS first_day
        FROM aispend.daily_rollup x WHERE x.account = ANY (accounts) GROUP BY x.account),
    ents AS (
        SELECT r.kind, r.id, r.account, min(r.entity) AS entity,
               pg_catalog.string_agg(DISTINCT r.provider, ', ') AS provider, max(starts.first_day) AS history_from
        FROM r JOIN starts ON starts.account = r.source GROUP BY r.kind, r.id, r.account)
    SELECT ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from,
           pg_catalog.array_agg(coalesce(per_day.cost, 0) ORDER BY d.day)
    FROM ents
    CROSS JOIN pg_catalog.generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN per_day ON per_day.kind = ents.kind AND per_day.id = ents.id
                     AND per_day.account IS NOT DISTINCT FROM ents.account AND per_day.day = d.day::date
    GROUP BY ents.kind, ents.id, ents.entity, ents.account, ents.provider, ents.history_from;
END
$$;
COMMENT ON FUNCTION aispend._entity_series_of(date, date, text, text) IS
    'Internal: what aispend._entity_series returns.';

CREATE FUNCTION aispend._entity_series(from_day date, to_day date, kind text, provider text)
RETURNS TABLE (kind text, entity_id text, entity text, account name, provider text, history_from date,
               costs numeric[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.* FROM aispend._entity_series_of(_entity_series.from_day, _entity_series.to_day, _entity_series.kind,
                                              _entity_series.provider) s;
END;
COMMENT ON FUNCTION aispend._entity_series(date, date, text, text) IS
    'Internal: the exact cost per UTC day of [from_day, to_day] of every API key (by account and id, with its name), '
    'workspace name and model, zero-filled, as one array per entity, and the first day of data of its accounts (the '
    'latest of them).';

CREATE FUNCTION aispend._check_anomaly_kind(kind text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF kind IS NOT NULL AND kind NOT IN ('api_key', 'workspace', 'model') THEN
        RAISE EXCEPTION 'aispend: unknown kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use api_key, workspace, model, or NULL for all three.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_anomaly_kind(text) IS 'Internal: 22023 unless kind is api_key, workspace, model or NULL.';

-- Spikes and new spending on the complete days of a period (today, still being billed, is left out).
CREATE FUNCTION aispend.anomalies(period daterange DEFAULT aispend.period('last_30_days'), kind text DEFAULT NULL,
                                  provider text DEFAULT 'all', min_score numeric DEFAULT 3.5,
                                  min_cost numeric DEFAULT 10, min_ratio numeric DEFAULT 1.5)
RETURNS TABLE (day date, kind text, entity text, account name, provider text, observed numeric, expected numeric,
               ratio numeric, score numeric, flag text, entity_id text)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH p AS (
        SELECT pg_catalog.lower(aispend._check_period(anomalies.period)) AS f,
               LEAST(pg_catalog.upper(anomalies.period), aispend.utc_today()) - 1 AS t
        WHERE aispend._check_anomaly_kind(anomalies.kind)
          AND aispend._check_filters(anomalies.period, anomalies.provider, NULL)),
    -- 28 days of baseline before the period, and two months more for the monthly pattern
    s AS (
        SELECT s.*, p.f - 90 AS first_day, p.f
        FROM p, aispend._entity_series(p.f - 90, p.t, anomalies.kind, anomalies.provider) s
        WHERE p.t >= p.f)
    SELECT a.day, s.kind, s.entity, s.account, s.provider, pg_catalog.round(a.observed, 2),
           pg_catalog.round(a.expected, 2), a.ratio, a.score, a.flag, s.entity_id
    FROM s
    -- a day is judged only with 28 days of its accounts' history before it
    CROSS JOIN LATERAL aispend._anomaly_points(s.costs, s.first_day, GREATEST(s.f, s.history_from + 28) - s.first_day + 1,
                                               anomalies.min_score, anomalies.min_cost,
                                               anomalies.min_ratio) a
    ORDER BY a.day DESC, a.observed - a.expected DESC, s.kind, s.entity;
END;
COMMENT ON FUNCTION aispend.anomalies(daterange, text, text, numeric, numeric, numeric) IS
    'Spikes and new spending per UTC day of a period (complete days) for every API key, workspace name and model '
    '(kind narrows it): observed cost, expected (the median of the 28 days before, of the same day type: weekday or '
    'weekend), ratio, score (robust z-score: excess over 1.4826 x MAD), flag spike or new, entity_id (a key''s id; '
    'the workspace name or the model otherwise). Flagged only above '
    'min_score, min_cost dollars over expected and min_ratio x expected. See docs/alerts.md. Default order: day DESC, '
    'excess DESC.';

-- ---- src/sql/71_budgets.sql
-- 71_budgets.sql: budgets as rows, the spend of any scope per day, the month-end (period-end) forecast and the
-- budgets' status. See docs/budgets.md; their alerts are in 73_alerts.sql.
--
-- aispend.budgets has no account column: a budget may span accounts (the organisation, a provider, a workspace
-- name shown in several accounts). Like aispend.model_prices it is a shared table (a Citus reference table).

CREATE TABLE aispend.budgets (
    name          text        NOT NULL,
    scope_kind    text        NOT NULL DEFAULT 'organisation'
                              CHECK (scope_kind IN ('organisation', 'provider', 'account', 'workspace', 'api_key',
                                                    'model')),
    scope         text,
    period_kind   text        NOT NULL DEFAULT 'month' CHECK (period_kind IN ('month', 'week', 'day', 'custom')),
    custom_period daterange,
    amount_usd    numeric     NOT NULL CHECK (amount_usd > 0),
    thresholds    numeric[]   NOT NULL DEFAULT '{50,80,100}',
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by    name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT budgets_pkey PRIMARY KEY (name),
    CONSTRAINT budgets_scope_given CHECK ((scope_kind = 'organisation') = (scope IS NULL)),
    CONSTRAINT budgets_custom_period CHECK ((period_kind = 'custom') = (custom_period IS NOT NULL)
                                           AND (custom_period IS NULL OR NOT (pg_catalog.isempty(custom_period)
                                                OR pg_catalog.lower_inf(custom_period)
                                                OR pg_catalog.upper_inf(custom_period)))),
    CONSTRAINT budgets_thresholds CHECK (0 < ALL (thresholds))
);
COMMENT ON TABLE aispend.budgets IS
    'Budgets: an amount in US dollars for a scope and a period, with alert thresholds in percent. Managed with '
    'aispend.set_budget / aispend.drop_budget or plain SQL; read with aispend.budgets_status().';
COMMENT ON COLUMN aispend.budgets.name IS 'The budget''s name (unique).';
COMMENT ON COLUMN aispend.budgets.scope_kind IS
    'organisation (everything), provider (openai, anthropic, other), account, workspace (a name shown, so combined '
    'workspaces count together, or an id), api_key (a name or an id), model.';
COMMENT ON COLUMN aispend.budgets.scope IS 'The provider, account, workspace, key or model; NULL for the organisation.';
COMMENT ON COLUMN aispend.budgets.period_kind IS
    'month, week (Monday to Sunday), day (calendar, UTC) or custom (custom_period).';
COMMENT ON COLUMN aispend.budgets.custom_period IS 'The days of a custom budget (a bounded daterange).';
COMMENT ON COLUMN aispend.budgets.amount_usd IS 'The amount of the budget per period, US dollars.';
COMMENT ON COLUMN aispend.budgets.thresholds IS 'Alert thresholds in percent of the amount (e.g. 50, 80, 100).';
COMMENT ON COLUMN aispend.budgets.created_at IS 'When the budget was set.';
COMMENT ON COLUMN aispend.budgets.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.budgets', '');

CREATE FUNCTION aispend.set_budget(name text, amount_usd numeric, scope_kind text DEFAULT 'organisation',
                                   scope text DEFAULT NULL, period_kind text DEFAULT 'month',
                                   thresholds numeric[] DEFAULT '{50,80,100}', custom_period daterange DEFAULT NULL)
RETURNS aispend.budgets LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO aispend.budgets AS b (name, amount_usd, scope_kind, scope, period_kind, thresholds, custom_period)
    VALUES (set_budget.name, set_budget.amount_usd, set_budget.scope_kind, set_budget.scope, set_budget.period_kind,
            set_budget.thresholds, set_budget.custom_period)
    ON CONFLICT (name) DO UPDATE
       SET amount_usd = excluded.amount_usd, scope_kind = excluded.scope_kind, scope = excluded.scope,
           period_kind = excluded.period_kind, thresholds = excluded.thresholds,
           custom_period = excluded.custom_period
    RETURNING b.*;
END;
COMMENT ON FUNCTION aispend.set_budget(text, numeric, text, text, text, numeric[], daterange) IS
    'Sets (or replaces) a budget: SELECT aispend.set_budget(''AI total'', 5000) for the organisation per month, '
    'aispend.set_budget(''Support'', 800, ''workspace'', ''Customer Support Bot'').';

CREATE FUNCTION aispend.drop_budget(name text)
RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    WITH d AS (DELETE FROM aispend.budgets b WHERE b.name = drop_budget.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d);
END;
COMMENT ON FUNCTION aispend.drop_budget(text) IS 'Removes a budget; false when there was none of that name.';

-- A budget scope, checked: a kind aispend knows, and a value where the kind needs one.
CREATE FUNCTION aispend._check_scope(scope_kind text, scope text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    IF scope_kind IS NULL OR scope_kind NOT IN ('organisation', 'provider', 'account', 'workspace', 'api_key', 'model')
       OR (scope_kind = 'organisation') <> (scope IS NULL) THEN
        RAISE EXCEPTION 'aispend: invalid budget scope % %', coalesce(scope_kind, 'NULL'), coalesce(scope, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use organisation (with no scope), or provider, account, workspace, api_key, model with '
                         'its name or id.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION aispend._check_scope(text, text) IS 'Internal: 22023 for an unknown or incomplete budget scope.';

-- The cost of a scope per UTC day, every day of [from_day, to_day] (0 on days without anything), from the
-- daily rollup (row-level security applies: a team sees its own spend).
CREATE FUNCTION aispend.scope_daily_cost(scope_kind text, scope text, from_day date, to_day date)
RETURNS TABLE (day date, cost numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT x.day, x.cost
    FROM aispend._slice_daily(pg_catalog.daterange(scope_daily_cost.from_day, scope_daily_cost.to_day, '[]'),
                              CASE WHEN scope_daily_cost.scope_kind = 'provider' THEN scope_daily_cost.scope
                                   ELSE 'all' END,
                              CASE WHEN scope_daily_cost.scope_kind = 'account' THEN scope_daily_cost.scope::name END,
                              CASE WHEN scope_daily_cost.scope_kind = 'workspace' THEN scope_daily_cost.scope END,
                              CASE WHEN scope_daily_cost.scope_kind = 'api_key' THEN scope_daily_cost.scope END,
                              CASE WHEN scope_daily_cost.scope_kind = 'model' THEN scope_daily_cost.scope END) x
    WHERE aispend._check_scope(scope_daily_cost.scope_kind, scope_daily_cost.scope)
    ORDER BY x.day;
END;
COMMENT ON FUNCTION aispend.scope_daily_cost(text, text, date, date) IS
    'The cost of a budget scope (organisation, provider, account, workspace, api_key, model) per UTC day of '
    '[from_day, to_day], 0 on days without anything. Exact figures.';

-- The period of a budget that contains a day.
CREATE FUNCTION aispend._budget_period(period_kind text, custom_period daterange, day date)
RETURNS daterange LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE period_kind
    WHEN 'month' THEN pg_catalog.daterange(pg_catalog.date_trunc('month', day::timestamp)::date,
                                           (pg_catalog.date_trunc('month', day::timestamp) + interval '1 month')::date)
    WHEN 'week' THEN pg_catalog.daterange(pg_catalog.date_trunc('week', day::timestamp)::date,
                                          (pg_catalog.date_trunc('week', day::timestamp) + interval '7 days')::date)
    WHEN 'day' THEN pg_catalog.daterange(day, day + 1)
    ELSE custom_period END;
COMMENT ON FUNCTION aispend._budget_period(text, daterange, date) IS
    'Internal: the period (month, Monday-to-Sunday week, day, or the custom range) of a budget containing a day.';

-- The spend of a scope at the end of a period, forecast on as_of (see docs/budgets.md "Forecast"):
--   spent      the complete days of the period before as_of (today is still being billed);
--   forecast   spent + for every remaining day (as_of included) the level of the last 7 days (their mean cost)
--              times the day's weekday factor: the median cost of that weekday over the 28 days before as_of
--              relative to the mean of the seven medians (weekends and weekdays differ; a trend shows in the level);
--   low, high  the same with the 25th and 75th percentiles of each weekday: the recent variation;
--   naive      spent / elapsed days x the period's days (linear extrapolation), for comparison.
-- A day with no data counts as 0: a scope that just started has a low forecast, and says so (history_days).
CREATE FUNCTION aispend.forecast(period daterange DEFAULT aispend._budget_period('month', NULL, aispend.utc_today()),
                                 scope_kind text DEFAULT 'organisation', scope text DEFAULT NULL,
                                 as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (period daterange, spent numeric, forecast numeric, low numeric, high numeric, naive numeric,
               days_elapsed integer, days_left integer, history_days integer)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    WITH p AS (
        SELECT pg_catalog.lower(aispend._check_period(forecast.period)) AS f, pg_catalog.upper(forecast.period) AS u,
               LEAST(GREATEST(forecast.as_of, pg_catalog.lower(forecast.period)), pg_catalog.upper(forecast.period)) AS t),
    hist AS (
        SELECT pg_catalog.date_part('isodow', h.day)::integer AS dow, h.cost
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.t - 28, p.t - 1) h),
    -- the weekly shape: each weekday's median over the 28 days, relative to their mean (1 when all are 0) ...
    per_dow AS (
        SELECT hist.dow, pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY hist.cost) AS mid,
               pg_catalog.percentile_cont(0.25) WITHIN GROUP (ORDER BY hist.cost) AS lo,
               pg_catalog.percentile_cont(0.75) WITHIN GROUP (ORDER BY hist.cost) AS hi
        FROM hist GROUP BY hist.dow),
    shape AS (
        SELECT d.dow, CASE WHEN m.mean > 0 THEN d.mid / m.mean ELSE 1 END AS mid,
               CASE WHEN m.mean > 0 THEN d.lo / m.mean ELSE 1 END AS lo,
               CASE WHEN m.mean > 0 THEN d.hi / m.mean ELSE 1 END AS hi
        FROM per_dow d, (SELECT avg(per_dow.mid) AS mean FROM per_dow) m),
    -- ... times the level of the last 7 days (a trend shows in it)
    level AS (
        SELECT coalesce(avg(h.cost), 0) AS v
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.t - 7, p.t - 1) h),
    rest AS (
        SELECT coalesce(sum(level.v * d.mid), 0) AS mid, coalesce(sum(level.v * d.lo), 0) AS lo,
               coalesce(sum(level.v * d.hi), 0) AS hi
        FROM p, level, pg_catalog.generate_series(p.t::timestamp, (p.u - 1)::timestamp, interval '1 day') AS r(day)
        JOIN shape d ON d.dow = pg_catalog.date_part('isodow', r.day)::integer),
    s AS (
        SELECT coalesce(sum(c.cost), 0) AS spent
        FROM p, aispend.scope_daily_cost(forecast.scope_kind, forecast.scope, p.f, p.t - 1) c
        WHERE p.t > p.f),
    h AS (
        SELECT (count(*) FILTER (WHERE hist.cost <> 0))::integer AS n FROM hist)
    SELECT forecast.period, pg_catalog.round(s.spent, 2),
           pg_catalog.round(s.spent + rest.mid::numeric, 2), pg_catalog.round(s.spent + rest.lo::numeric, 2),
           pg_catalog.round(s.spent + rest.hi::numeric, 2),
           CASE WHEN p.t > p.f THEN pg_catalog.round(s.spent / (p.t - p.f) * (p.u - p.f), 2) END,
           (p.t - p.f)::integer, (p.u - p.t)::integer, h.n
    FROM p, s, rest, h;
END;
COMMENT ON FUNCTION aispend.forecast(daterange, text, text, date) IS
    'The spend of a scope at the end of a period, forecast on as_of: spent (complete days before as_of), forecast '
    '(spent + each remaining day at the level of the last 7 days times its weekday factor over the 28 days before), '
    'low / high (with the 25th and 75th percentiles of each weekday), naive (linear extrapolation, for comparison), the days elapsed and left, '
    'and history_days (days with data among the 28). US dollars to the cent. See docs/budgets.md.';

CREATE FUNCTION aispend.budgets_status(as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (name text, scope_kind text, scope text, period daterange, amount_usd numeric, spent numeric,
               pct_used numeric, forecast numeric, forecast_low numeric, forecast_high numeric,
               forecast_pct numeric, will_exceed boolean, threshold_reached numeric, days_left integer)
LANGUAGE sql STABLE
SET jit = off
BEGIN ATOMIC
    SELECT b.name, b.scope_kind, b.scope, f.period, b.amount_usd, f.spent,
           pg_catalog.round(100 * f.spent / b.amount_usd, 1), f.forecast, f.low, f.high,
           pg_catalog.round(100 * f.forecast / b.amount_usd, 1), f.forecast > b.amount_usd,
           (SELECT max(x) FROM pg_catalog.unnest(b.thresholds) AS x WHERE 100 * f.spent / b.amount_usd >= x),
           f.days_left
    FROM aispend.budgets b
    CROSS JOIN LATERAL aispend.forecast(aispend._budget_period(b.period_kind, b.custom_period, budgets_status.as_of),
                                       b.scope_kind, b.scope, budgets_status.as_of) f
    ORDER BY pg_catalog.round(100 * f.forecast / b.amount_usd, 1) DESC, b.name;
END;
COMMENT ON FUNCTION aispend.budgets_status(date) IS
    'Every budget in its current period (as of a day): amount, spent, % used, forecast with its low / high band, '
    'forecast in % of the amount, whether it will exceed, the highest threshold reached, the days left. Default '
    'order: forecast % DESC.';

CREATE VIEW aispend.budgets_current AS SELECT * FROM aispend.budgets_status();
COMMENT ON VIEW aispend.budgets_current IS 'aispend.budgets_status() as of today (UTC), for BI tools.';
COMMENT ON COLUMN aispend.budgets_current.name IS 'The budget.';
COMMENT ON COLUMN aispend.budgets_current.scope_kind IS 'organisation, provider, account, workspace, api_key, model.';
COMMENT ON COLUMN aispend.budgets_current.scope IS 'The provider, account, workspace, key or model (NULL: organisation).';
COMMENT ON COLUMN aispend.budgets_current.period IS 'The budget''s current period (UTC days).';
COMMENT ON COLUMN aispend.budgets_current.amount_usd IS 'The amount, US dollars.';
COMMENT ON COLUMN aispend.budgets_current.spent IS 'Spent in the complete days of the period so far, US dollars.';
COMMENT ON COLUMN aispend.budgets_current.pct_used IS 'spent in percent of the amount.';
COMMENT ON COLUMN aispend.budgets_current.forecast IS 'Forecast spend at the end of the period (docs/budgets.md).';
COMMENT ON COLUMN aispend.budgets_current.forecast_low IS 'Low end of the forecast band (25th percentile per weekday).';
COMMENT ON COLUMN aispend.budgets_current.forecast_high IS 'High end of the forecast band (75th percentile per weekday).';
COMMENT ON COLUMN aispend.budgets_current.forecast_pct IS 'The forecast in percent of the amount.';
COMMENT ON COLUMN aispend.budgets_current.will_exceed IS 'The forecast exceeds the amount.';
COMMENT ON COLUMN aispend.budgets_current.threshold_reached IS 'The highest threshold (percent) the spend has reached.';
COMMENT ON COLUMN aispend.budgets_current.days_left IS 'Days left in the period, today included.';

REVOKE ALL ON FUNCTION aispend.set_budget(text, numeric, text, text, text, numeric[], daterange) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.drop_budget(text) FROM PUBLIC;

-- ---- src/sql/71_focus_export.sql
-- 71_focus_export.sql: every cost of the dashboard as FOCUS 1.2 rows (docs/focus.md, "Export").
--
-- One row per UTC day, account, workspace, API key and model of aispend.daily_rollup (what every tab sums), so
-- that sum("BilledCost") over a period is the dashboard's total for it. The 57 FOCUS 1.2 columns in the
-- specification's order with its types (Decimal numeric, Date/Time timestamptz, JSON jsonb), the columns the
-- specification does not allow to be NULL never NULL, then aispend's own columns prefixed x_.

-- The display name of a provider for ProviderName / PublisherName / InvoiceIssuerName; a FOCUS account says which
-- cloud its imported charges came from.
CREATE FUNCTION aispend._focus_provider_name(account name, provider text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- PL/pgSQL: on Citus a query of an SQL function's parameter reaches a distributed table only through it
    RETURN CASE provider WHEN 'openai' THEN 'OpenAI' WHEN 'anthropic' THEN 'Anthropic' WHEN 'openrouter' THEN 'OpenRouter'
                         WHEN 'focus' THEN coalesce(
                             (SELECT pg_catalog.string_agg(DISTINCT CASE c.cloud WHEN 'aws' THEN 'Amazon Web Services'
                                                                                 WHEN 'azure' THEN 'Microsoft'
                                                                                 WHEN 'gcp' THEN 'Google Cloud'
                                                                                 ELSE 'Other' END, ', ')
                                FROM aispend.focus_charges c WHERE c.account = _focus_provider_name.account),
                             'Imported FOCUS billing')
                         ELSE coalesce(provider, 'Unknown') END;
END
$$;
COMMENT ON FUNCTION aispend._focus_provider_name(name, text) IS
    'Internal: ProviderName of an account''s FOCUS rows (OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds).';

CREATE FUNCTION aispend.focus(period daterange DEFAULT aispend.period('last_30_days'), provider text DEFAULT 'all')
RETURNS TABLE (
    "AvailabilityZone" text, "BilledCost" numeric, "BillingAccountId" text, "BillingAccountName" text,
    "BillingAccountType" text, "BillingCurrency" text, "BillingPeriodEnd" timestamptz, "BillingPeriodStart" timestamptz,
    "CapacityReservationId" text, "CapacityReservationStatus" text, "ChargeCategory" text, "ChargeClass" text,
    "ChargeDescription" text, "ChargeFrequency" text, "ChargePeriodEnd" timestamptz, "ChargePeriodStart" timestamptz,
    "CommitmentDiscountCategory" text, "CommitmentDiscountId" text, "CommitmentDiscountName" text,
    "CommitmentDiscountQuantity" numeric, "CommitmentDiscountStatus" text, "CommitmentDiscountType" text,
    "CommitmentDiscountUnit" text, "ConsumedQuantity" numeric, "ConsumedUnit" text, "ContractedCost" numeric,
    "ContractedUnitPrice" numeric, "EffectiveCost" numeric, "InvoiceId" text, "InvoiceIssuerName" text,
    "ListCost" numeric, "ListUnitPrice" numeric, "PricingCategory" text, "PricingCurrency" text,
    "PricingCurrencyContractedUnitPrice" numeric, "PricingCurrencyEffectiveCost" numeric,
    "PricingCurrencyListUnitPrice" numeric, "PricingQuantity" numeric, "PricingUnit" text, "ProviderName" text,
    "PublisherName" text, "RegionId" text, "RegionName" text, "ResourceId" text, "ResourceName" text,
    "ResourceType" text, "ServiceCategory" text, "ServiceName" text, "ServiceSubcategory" text, "SkuId" text,
    "SkuMeter" text, "SkuPriceDetails" jsonb, "SkuPriceId" text, "SubAccountId" text, "SubAccountName" text,
    "SubAccountType" text, "Tags" jsonb,
    "x_Account" text, "x_Provider" text, "x_WorkspaceId" text, "x_ApiKeyId" text, "x_Model" text,
    "x_CostBasis" text, "x_BilledCost" numeric, "x_AllocatedCost" numeric, "x_EstimatedCost" numeric,
    "x_InputTokens" bigint, "x_OutputTokens" bigint, "x_Requests" bigint, "x_Unpriced" boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    accounts name[];
    providers text[];
    provider_names text[];
BEGIN
    -- the accounts of the provider filter and their FOCUS provider names first: on Citus a query of the shards
    -- cannot call a function that reads another table
    SELECT a.accounts, a.providers INTO accounts, providers FROM aispend._provider_accounts(focus.provider) a;
    provider_names := ARRAY(SELECT aispend._focus_provider_name(x.account, x.provider)
                            FROM ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers))
                                 WITH ORDINALITY AS x(account, provider, n)
                            ORDER BY x.n);
    RETURN QUERY
    SELECT NULL::text,                                                            -- AvailabilityZone
           r.cost,                                                                -- BilledCost
           r.account::text, r.account::text, 'aispend account',                  -- BillingAccountId, Name, Type
           'USD',                                                                 -- BillingCurrency
           aispend._utc_day_start((pg_catalog.date_trunc('month', r.day::timestamp) + interval '1 month')::date),
           aispend._utc_day_start(pg_catalog.date_trunc('month', r.day::timestamp)::date),
           NULL::text, NULL::text,                                                -- CapacityReservation*
           'Usage', NULL::text,                                                   -- ChargeCategory, ChargeClass
           CASE WHEN r.model = aispend._no_model_label() THEN 'Tool and service fees'
                ELSE r.model END || ' on ' || pv.provider_name || ' (' || coalesce(r.cost_basis, 'billed') || ')',
           'Usage-Based',                                                         -- ChargeFrequency
           aispend._utc_day_start(r.day + 1), aispend._utc_day_start(r.day),      -- ChargePeriodEnd, Start
           NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::text, NULL::text, NULL::text,  -- Commitment*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- ConsumedQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- ConsumedUnit
           r.cost, NULL::numeric,                                                 -- ContractedCost, UnitPrice
           r.cost,                                                                -- EffectiveCost
           NULL::text, pv.provider_name,                                          -- InvoiceId, InvoiceIssuerName
           r.cost, NULL::numeric,                                                 -- ListCost, ListUnitPrice
           CASE WHEN r.total_tokens > 0 THEN 'Standard' END,                      -- PricingCategory
           NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,               -- PricingCurrency*
           CASE WHEN r.total_tokens > 0 THEN r.total_tokens::numeric END,         -- PricingQuantity
           CASE WHEN r.total_tokens > 0 THEN 'Tokens' END,                        -- PricingUnit
           pv.provider_name, pv.provider_name,                                    -- ProviderName, PublisherName
           NULL::text, NULL::text,                                                -- RegionId, RegionName
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN r.api_key_id END,            -- ResourceId
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN coalesce(k.name, r.api_key_id) END,
           CASE WHEN r.api_key_id NOT LIKE '(%' THEN 'API Key' END,               -- ResourceType
           'AI and Machine Learning',                                             -- ServiceCategory
           pv.provider_name || ' models',                                         -- ServiceName
           'Generative AI',                                                       -- ServiceSubcategory
           NULL::text,                                                            -- SkuId
           CASE WHEN r.model <> aispend._no_model_label() THEN r.model END,       -- SkuMeter
           NULL::jsonb, NULL::text,                                               -- SkuPriceDetails, SkuPriceId
           r.workspace_id, coalesce(w.name, r.workspace_id), 'Workspace',         -- SubAccountId, Name, Type
           pg_catalog.jsonb_build_object('aispend_workspace', coalesce(w.name, r.workspace_id),
                                         'aispend_model', r.model),               -- Tags
           r.account::text, pv.provider, r.workspace_id, r.api_key_id, r.model, r.cost_basis, r.billed_cost,
           r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.requests, r.unpriced
    FROM aispend.daily_rollup r
    JOIN ROWS FROM (pg_catalog.unnest(accounts), pg_catalog.unnest(providers), pg_catalog.unnest(provider_names))
         AS pv(account, provider, provider_name) ON pv.account = r.account
    LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
    LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id
    WHERE r.day >= pg_catalog.lower(focus.period) AND r.day < pg_catalog.upper(focus.period)
    ORDER BY r.day, r.account, r.workspace_id, r.api_key_id, r.model;
END
$$;
COMMENT ON FUNCTION aispend.focus(daterange, text) IS
    'Every cost of the dashboard in a period (default: the last 30 days) as FOCUS 1.2 rows: one per UTC day, '
    'account, workspace (SubAccount), API key (Resource) and model (SkuMeter), BilledCost = EffectiveCost = '
    'ListCost = ContractedCost = the dashboard''s cost (so its sum is the dashboard''s total), billing periods are '
    'UTC calendar months; aispend''s own figures in the x_ columns. provider: all, openai, anthropic, openrouter, '
    'other. \copy (SELECT * FROM aispend.focus(...)) TO ''focus.csv'' WITH (FORMAT csv, HEADER) writes a FOCUS CSV.';

CREATE VIEW aispend.focus_30d AS SELECT * FROM aispend.focus(aispend.period('last_30_days'));
COMMENT ON VIEW aispend.focus_30d IS 'aispend.focus() for the last 30 days (today UTC included): FOCUS 1.2 rows of every cost.';
COMMENT ON COLUMN aispend.focus_30d."AvailabilityZone" IS 'FOCUS: NULL (providers report none).';
COMMENT ON COLUMN aispend.focus_30d."BilledCost" IS 'FOCUS: the dashboard''s cost of the row, US dollars, exact (billed, allocated or estimated: x_CostBasis).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountId" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountName" IS 'FOCUS: the aispend account (server name).';
COMMENT ON COLUMN aispend.focus_30d."BillingAccountType" IS 'FOCUS: ''aispend account''.';
COMMENT ON COLUMN aispend.focus_30d."BillingCurrency" IS 'FOCUS: USD.';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodEnd" IS 'FOCUS: first instant of the next UTC calendar month (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."BillingPeriodStart" IS 'FOCUS: first instant of the row''s UTC calendar month.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CapacityReservationStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ChargeCategory" IS 'FOCUS: Usage.';
COMMENT ON COLUMN aispend.focus_30d."ChargeClass" IS 'FOCUS: NULL (no corrections).';
COMMENT ON COLUMN aispend.focus_30d."ChargeDescription" IS 'FOCUS: model on provider (cost basis).';
COMMENT ON COLUMN aispend.focus_30d."ChargeFrequency" IS 'FOCUS: Usage-Based.';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodEnd" IS 'FOCUS: midnight UTC ending the day (exclusive).';
COMMENT ON COLUMN aispend.focus_30d."ChargePeriodStart" IS 'FOCUS: midnight UTC starting the day.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountCategory" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountQuantity" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountStatus" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountType" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."CommitmentDiscountUnit" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedQuantity" IS 'FOCUS: tokens (input + output); NULL when none.';
COMMENT ON COLUMN aispend.focus_30d."ConsumedUnit" IS 'FOCUS: Tokens; NULL when no tokens.';
COMMENT ON COLUMN aispend.focus_30d."ContractedCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."EffectiveCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."InvoiceIssuerName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."ListCost" IS 'FOCUS: = BilledCost.';
COMMENT ON COLUMN aispend.focus_30d."ListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCategory" IS 'FOCUS: Standard where tokens are priced; else NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrency" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyContractedUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyEffectiveCost" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingCurrencyListUnitPrice" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."PricingQuantity" IS 'FOCUS: = ConsumedQuantity.';
COMMENT ON COLUMN aispend.focus_30d."PricingUnit" IS 'FOCUS: = ConsumedUnit.';
COMMENT ON COLUMN aispend.focus_30d."ProviderName" IS 'FOCUS: OpenAI, Anthropic, OpenRouter; a FOCUS account: its clouds (Amazon Web Services, Microsoft, Google Cloud).';
COMMENT ON COLUMN aispend.focus_30d."PublisherName" IS 'FOCUS: = ProviderName.';
COMMENT ON COLUMN aispend.focus_30d."RegionId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."RegionName" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."ResourceId" IS 'FOCUS: the API key id; NULL for sentinels ((none), (console), (unattributed), ...).';
COMMENT ON COLUMN aispend.focus_30d."ResourceName" IS 'FOCUS: the API key name.';
COMMENT ON COLUMN aispend.focus_30d."ResourceType" IS 'FOCUS: API Key, when ResourceId is set.';
COMMENT ON COLUMN aispend.focus_30d."ServiceCategory" IS 'FOCUS: AI and Machine Learning.';
COMMENT ON COLUMN aispend.focus_30d."ServiceName" IS 'FOCUS: ''<provider> models''.';
COMMENT ON COLUMN aispend.focus_30d."ServiceSubcategory" IS 'FOCUS: Generative AI.';
COMMENT ON COLUMN aispend.focus_30d."SkuId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuMeter" IS 'FOCUS: the model; NULL for tool and service fees.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceDetails" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SkuPriceId" IS 'FOCUS: NULL.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountId" IS 'FOCUS: the workspace id.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountName" IS 'FOCUS: the workspace name shown on the dashboard.';
COMMENT ON COLUMN aispend.focus_30d."SubAccountType" IS 'FOCUS: Workspace.';
COMMENT ON COLUMN aispend.focus_30d."Tags" IS 'FOCUS: JSON object with aispend_workspace and aispend_model.';
COMMENT ON COLUMN aispend.focus_30d."x_Account" IS 'aispend: the account.';
COMMENT ON COLUMN aispend.focus_30d."x_Provider" IS 'aispend: the account''s provider (openai, anthropic, openrouter, focus).';
COMMENT ON COLUMN aispend.focus_30d."x_WorkspaceId" IS 'aispend: workspace id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_ApiKeyId" IS 'aispend: API key id, sentinels included.';
COMMENT ON COLUMN aispend.focus_30d."x_Model" IS 'aispend: model as on the dashboard ((no model: tool & service fees) included).';
COMMENT ON COLUMN aispend.focus_30d."x_CostBasis" IS 'aispend: billed, allocated, estimated or mixed.';
COMMENT ON COLUMN aispend.focus_30d."x_BilledCost" IS 'aispend: cost billed at this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_AllocatedCost" IS 'aispend: billed cost allocated to this grain.';
COMMENT ON COLUMN aispend.focus_30d."x_EstimatedCost" IS 'aispend: cost estimated from prices.';
COMMENT ON COLUMN aispend.focus_30d."x_InputTokens" IS 'aispend: input tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_OutputTokens" IS 'aispend: output tokens.';
COMMENT ON COLUMN aispend.focus_30d."x_Requests" IS 'aispend: requests (NULL where not reported).';
COMMENT ON COLUMN aispend.focus_30d."x_Unpriced" IS 'aispend: some usage has no price.';

-- ---- src/sql/72_period_names.sql
-- 72_period_names.sql: every dashboard function that takes a period (a daterange argument named period, first
-- or after the arguments it needs, as aispend.reprice's target_model) also takes its name:
-- aispend.workspaces_table('last_30_days') is aispend.workspaces_table(aispend.period('last_30_days')). The
-- overloads are generated from the daterange functions (same arguments after the first, same defaults, same
-- result), so that they can never drift apart. A call without a period still reads the daterange function's
-- default; a quoted literal resolves to the text overload (PostgreSQL prefers text for an untyped literal).
-- By name, a period is compared with aispend.previous_period(name): month_to_date with the same days of the
-- previous month, year_to_date with the same days of the previous year.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset,
               pg_catalog.pg_get_function_arguments(p.oid) AS args,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               p.proargnames[1:x.k - 1] AS before, p.proargnames[x.k + 1:p.pronargs] AS rest
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL (SELECT pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') AS k) x
        WHERE p.pronamespace = 'aispend'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
          AND x.k IS NOT NULL AND p.proargtypes[x.k - 1] = 'daterange'::regtype
          AND (p.proretset OR p.proname = 'report_html')
        ORDER BY p.proname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION aispend.%I(%s) RETURNS %s LANGUAGE sql STABLE BEGIN ATOMIC %s aispend.%I(%s); END',
            f.proname,
            -- the arguments before period as declared, period as text (no default), those after as declared
            pg_catalog.substr(f.args, 1, pg_catalog.strpos(f.args, 'period daterange') - 1) || 'period text'
            || CASE WHEN pg_catalog.cardinality(f.rest) > 0
                    THEN pg_catalog.substr(f.args, pg_catalog.strpos(f.args, ', ' || f.rest[1] || ' '))
                    ELSE '' END,
            f.result,
            CASE WHEN f.proretset THEN 'SELECT * FROM' ELSE 'SELECT' END,
            f.proname,
            pg_catalog.array_to_string(
                ARRAY(SELECT pg_catalog.quote_ident(a) || ' => ' || pg_catalog.quote_ident(a)
                      FROM pg_catalog.unnest(f.before) AS a)
                || ARRAY['period => aispend.period(period)']
                || ARRAY(SELECT pg_catalog.quote_ident(a) || ' => '
                                || CASE WHEN a = 'compare_with'
                                        THEN 'coalesce(compare_with, aispend.previous_period(period))'
                                        ELSE pg_catalog.quote_ident(a) END
                         FROM pg_catalog.unnest(f.rest) AS a), ', '));
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION aispend.%I(%s) IS %L', f.proname,
            pg_catalog.replace(pg_catalog.pg_get_function_identity_arguments(f.oid), 'period daterange',
                               'period text'),
            'aispend.' || f.proname || ' with the period given by name (aispend.period(period)): '
            || 'last_7_days, last_30_days, month_to_date, previous_month, ... compared with '
            || 'aispend.previous_period(period) unless compare_with says otherwise. See that function.');
    END LOOP;
END
$$;

-- ---- src/sql/73_alerts.sql
-- 73_alerts.sql: alert rules, the alerts they raise and their delivery. See docs/alerts.md.
--
-- aispend.evaluate_alerts() computes every rule's conditions now and moves aispend.alerts through its states:
-- a new condition fires (one row, state firing), a condition that holds keeps its row quiet (last_fired moves),
-- a condition that clears resolves it; acknowledge_alert() silences a firing alert until it resolves. Each
-- change is a NOTIFY on channel aispend_alerts and, for a rule with a webhook, a row in alert_deliveries that
-- aispend.deliver_alerts() posts (aispend._post_webhook, src/pg/webhook.cpp). The sync evaluates and delivers at
-- its end; aispend.schedule_alerts() adds a pg_cron job for the conditions a sync cannot see (a sync that no
-- longer runs).
--
-- Like budgets these tables have no account column: a rule may span accounts (Citus reference tables).

-- ---------------------------------------------------------------- webhooks (secret: admins only)

CREATE TABLE aispend.webhooks (
    name       text        NOT NULL,
    url        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT webhooks_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE aispend.webhooks IS
    'Where alerts are posted (a Slack-compatible JSON body). The URL is a secret: readers cannot select this '
    'table, and no error or log line shows it. Set with aispend.set_webhook().';
COMMENT ON COLUMN aispend.webhooks.name IS 'The webhook''s name, as alert_rules.webhook names it.';
COMMENT ON COLUMN aispend.webhooks.url IS
    'The URL posted to (secret): https, on a host in aispend.webhook_hosts; plain http to loopback only with '
    'aispend.allow_loopback.';
COMMENT ON COLUMN aispend.webhooks.created_at IS 'When it was set.';
COMMENT ON COLUMN aispend.webhooks.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.webhooks', '');

CREATE FUNCTION aispend.set_webhook(name text, url text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    -- the URL is never echoed: a refusal names the rule it broke, and nothing reaches the INSERT that could fail
    -- with the row in its detail
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'aispend: a webhook needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF url IS NULL OR url !~* '^https?://[^/?#@[:space:]]+(/[^[:space:]]*)?$' THEN
        RAISE EXCEPTION 'aispend: webhook % has no valid URL', coalesce(name, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a URL such as https://hooks.slack.com/services/...; it is stored as a secret.';
    END IF;
    IF url ~* '^http://' AND url !~* '^http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$)' THEN
        RAISE EXCEPTION 'aispend: webhook % must use https', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Plain http is allowed to loopback only (and only with aispend.allow_loopback).';
    END IF;
    INSERT INTO aispend.webhooks AS w (name, url) VALUES (set_webhook.name, set_webhook.url)
    ON CONFLICT ON CONSTRAINT webhooks_pkey DO UPDATE
       SET url = excluded.url, created_at = excluded.created_at, created_by = excluded.created_by;
    RETURN name;
END
$$;
COMMENT ON FUNCTION aispend.set_webhook(text, text) IS
    'Sets (or replaces) a webhook alerts are posted to; the URL is stored as a secret (readers cannot see it). '
    'Give it to a rule: aispend.set_alert_rule(..., webhook => name).';

-- ---------------------------------------------------------------- rules

CREATE TABLE aispend.alert_rules (
    name          text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('budget_threshold', 'budget_forecast', 'anomaly',
                                                       'sync_failure', 'stale_data')),
    budget        text,
    anomaly_kind  text        CHECK (anomaly_kind IN ('api_key', 'workspace', 'model')),
    min_score     numeric     NOT NULL DEFAULT 3.5 CHECK (min_score > 0),
    min_cost      numeric     NOT NULL DEFAULT 10 CHECK (min_cost >= 0),
    max_age_hours numeric     NOT NULL DEFAULT 36 CHECK (max_age_hours > 0),
    webhook       text,
    enabled       boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by    name        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT alert_rules_pkey PRIMARY KEY (name),
    CONSTRAINT alert_rules_budget_fkey FOREIGN KEY (budget) REFERENCES aispend.budgets (name)
        ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT alert_rules_webhook_fkey FOREIGN KEY (webhook) REFERENCES aispend.webhooks (name)
        ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT alert_rules_budget_kind CHECK (budget IS NULL OR kind IN ('budget_threshold', 'budget_forecast')),
    CONSTRAINT alert_rules_anomaly_kind CHECK (anomaly_kind IS NULL OR kind = 'anomaly')
);
COMMENT ON TABLE aispend.alert_rules IS
    'What raises an alert: budget_threshold (a budget''s spend reached one of its thresholds), budget_forecast (its '
    'forecast exceeds the amount), anomaly (a spike or new spending on the last two complete days, '
    'aispend.anomalies), sync_failure (an account''s latest sync of an endpoint failed), stale_data (no successful '
    'sync for max_age_hours). Managed with aispend.set_alert_rule / drop_alert_rule or plain SQL.';
COMMENT ON COLUMN aispend.alert_rules.name IS 'The rule''s name (unique).';
COMMENT ON COLUMN aispend.alert_rules.kind IS 'budget_threshold, budget_forecast, anomaly, sync_failure or stale_data.';
COMMENT ON COLUMN aispend.alert_rules.budget IS 'For budget rules: the budget watched; NULL watches every budget.';
COMMENT ON COLUMN aispend.alert_rules.anomaly_kind IS 'For anomaly rules: api_key, workspace or model; NULL: all three.';
COMMENT ON COLUMN aispend.alert_rules.min_score IS 'For anomaly rules: the least score (robust z-score) that alerts.';
COMMENT ON COLUMN aispend.alert_rules.min_cost IS 'For anomaly rules: the least excess over expected, US dollars.';
COMMENT ON COLUMN aispend.alert_rules.max_age_hours IS 'For stale_data rules: hours without a successful sync.';
COMMENT ON COLUMN aispend.alert_rules.webhook IS 'The webhook its alerts are posted to (aispend.webhooks); NULL: NOTIFY only.';
COMMENT ON COLUMN aispend.alert_rules.enabled IS 'false: not evaluated (its open alerts resolve).';
COMMENT ON COLUMN aispend.alert_rules.created_at IS 'When the rule was set.';
COMMENT ON COLUMN aispend.alert_rules.created_by IS 'The role that set it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_rules', '');

CREATE FUNCTION aispend.set_alert_rule(name text, kind text, budget text DEFAULT NULL, webhook text DEFAULT NULL,
                                       anomaly_kind text DEFAULT NULL, min_score numeric DEFAULT 3.5,
                                       min_cost numeric DEFAULT 10, max_age_hours numeric DEFAULT 36,
                                       enabled boolean DEFAULT true)
RETURNS aispend.alert_rules LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO aispend.alert_rules AS r (name, kind, budget, webhook, anomaly_kind, min_score, min_cost,
                                          max_age_hours, enabled)
    VALUES (set_alert_rule.name, set_alert_rule.kind, set_alert_rule.budget, set_alert_rule.webhook,
            set_alert_rule.anomaly_kind, set_alert_rule.min_score, set_alert_rule.min_cost,
            set_alert_rule.max_age_hours, set_alert_rule.enabled)
    ON CONFLICT (name) DO UPDATE
       SET kind = excluded.kind, budget = excluded.budget, webhook = excluded.webhook,
           anomaly_kind = excluded.anomaly_kind, min_score = excluded.min_score, min_cost = excluded.min_cost,
           max_age_hours = excluded.max_age_hours, enabled = excluded.enabled
    RETURNING r.*;
END;
COMMENT ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) IS
    'Sets (or replaces) an alert rule: SELECT aispend.set_alert_rule(''budgets'', ''budget_threshold'') watches '
    'every budget''s thresholds; kinds: budget_threshold, budget_forecast, anomaly, sync_failure, stale_data.';

CREATE FUNCTION aispend.drop_alert_rule(name text)
RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    WITH d AS (DELETE FROM aispend.alert_rules r WHERE r.name = drop_alert_rule.name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d);
END;
COMMENT ON FUNCTION aispend.drop_alert_rule(text) IS
    'Removes an alert rule; its open alerts resolve at the next evaluation. false when there was none.';

-- ---------------------------------------------------------------- alerts and their deliveries

CREATE TABLE aispend.alerts (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    rule            text        NOT NULL,
    kind            text        NOT NULL,
    alert_key       text        NOT NULL,
    scope           text        NOT NULL,
    observed        numeric,
    threshold       numeric,
    message         text        NOT NULL,
    details         jsonb,
    state           text        NOT NULL DEFAULT 'firing' CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    first_fired     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_fired      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by name,
    CONSTRAINT alerts_pkey PRIMARY KEY (id)
);
-- one open alert per rule and condition
CREATE UNIQUE INDEX alerts_open_idx ON aispend.alerts (rule, alert_key) WHERE state <> 'resolved';
COMMENT ON TABLE aispend.alerts IS
    'Every alert raised by aispend.alert_rules: firing (the condition holds), acknowledged (it holds, someone has '
    'seen it) or resolved (it cleared). A condition that holds keeps one row; one that clears and comes back is a '
    'new row. Written by aispend.evaluate_alerts().';
COMMENT ON COLUMN aispend.alerts.id IS 'The alert''s id (aispend.acknowledge_alert takes it).';
COMMENT ON COLUMN aispend.alerts.rule IS 'The rule that raised it (aispend.alert_rules.name).';
COMMENT ON COLUMN aispend.alerts.kind IS 'The rule''s kind when it fired.';
COMMENT ON COLUMN aispend.alerts.alert_key IS 'What the condition is about, stable while it holds (budget|period|threshold, kind|account|entity, account|endpoint).';
COMMENT ON COLUMN aispend.alerts.scope IS 'What it is about, for people: a budget, an API key, a workspace, a model, an account.';
COMMENT ON COLUMN aispend.alerts.observed IS 'The value that fired it, last seen: spent or forecast (US dollars), a day''s cost, hours since a sync.';
COMMENT ON COLUMN aispend.alerts.threshold IS 'What it was compared with: the threshold in US dollars, the expected cost, the hours allowed.';
COMMENT ON COLUMN aispend.alerts.message IS 'One line saying what happened.';
COMMENT ON COLUMN aispend.alerts.details IS 'The figures behind it (JSON).';
COMMENT ON COLUMN aispend.alerts.state IS 'firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alerts.first_fired IS 'When the condition was first seen.';
COMMENT ON COLUMN aispend.alerts.last_fired IS 'When it was last seen holding.';
COMMENT ON COLUMN aispend.alerts.resolved_at IS 'When it was seen cleared.';
COMMENT ON COLUMN aispend.alerts.acknowledged_at IS 'When it was acknowledged.';
COMMENT ON COLUMN aispend.alerts.acknowledged_by IS 'Who acknowledged it.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alerts_id_seq', '');

CREATE TABLE aispend.alert_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    alert_id        bigint      NOT NULL,
    event           text        NOT NULL CHECK (event IN ('firing', 'acknowledged', 'resolved')),
    webhook         text        NOT NULL,
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at    timestamptz,
    CONSTRAINT alert_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT alert_deliveries_alert_fkey FOREIGN KEY (alert_id) REFERENCES aispend.alerts (id) ON DELETE CASCADE
);
CREATE INDEX alert_deliveries_pending_idx ON aispend.alert_deliveries (next_attempt_at) WHERE state = 'pending';
COMMENT ON TABLE aispend.alert_deliveries IS
    'The webhook queue and delivery log: one row per alert state change and webhook, posted by '
    'aispend.deliver_alerts() (each run tries up to 4 times in 30 s; a failed run is tried again by a later one, '
    '6 runs at most).';
COMMENT ON COLUMN aispend.alert_deliveries.id IS 'The delivery''s id.';
COMMENT ON COLUMN aispend.alert_deliveries.alert_id IS 'The alert (aispend.alerts.id).';
COMMENT ON COLUMN aispend.alert_deliveries.event IS 'The state the alert moved to: firing, acknowledged or resolved.';
COMMENT ON COLUMN aispend.alert_deliveries.webhook IS 'The webhook''s name (its URL is never shown).';
COMMENT ON COLUMN aispend.alert_deliveries.body IS 'The JSON posted (Slack-compatible: text, and the alert).';
COMMENT ON COLUMN aispend.alert_deliveries.state IS 'pending, delivered (a 2xx answer) or failed (given up).';
COMMENT ON COLUMN aispend.alert_deliveries.attempts IS 'Delivery runs so far.';
COMMENT ON COLUMN aispend.alert_deliveries.next_attempt_at IS 'When a pending delivery is tried next.';
COMMENT ON COLUMN aispend.alert_deliveries.last_status IS 'The HTTP status of the last attempt (NULL: no answer).';
COMMENT ON COLUMN aispend.alert_deliveries.last_error IS 'Why the last attempt failed (never the URL).';
COMMENT ON COLUMN aispend.alert_deliveries.created_at IS 'When the state change was recorded.';
COMMENT ON COLUMN aispend.alert_deliveries.delivered_at IS 'When it was delivered.';
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('aispend.alert_deliveries_id_seq', '');

-- ---------------------------------------------------------------- conditions

-- Every condition that holds now, per enabled rule (row-level security applies: evaluate as an admin).
-- PL/pgSQL, with the rules and budgets read first: the query then reads the tabs' functions only (on Citus a
-- query of the rules, a reference table, cannot call a function that reads the distributed tables).
CREATE FUNCTION aispend.alert_conditions(as_of date DEFAULT aispend.utc_today(), at_time timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (rule text, kind text, alert_key text, scope text, observed numeric, threshold numeric, message text,
               details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    rules aispend.alert_rules[] := ARRAY(SELECT r FROM aispend.alert_rules r WHERE r.enabled);
    budgets aispend.budgets[] := ARRAY(SELECT b FROM aispend.budgets b);
BEGIN
    RETURN QUERY
    WITH r AS (SELECT * FROM pg_catalog.unnest(rules) r),
    budget AS MATERIALIZED (
        SELECT s.*, b.thresholds
        FROM aispend.budgets_status(alert_conditions.as_of) s JOIN pg_catalog.unnest(budgets) b ON b.name = s.name
        -- a custom budget whose days are over has no current period: its alerts resolve
        WHERE s.period @> alert_conditions.as_of
          AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('budget_threshold', 'budget_forecast'))),
    spikes AS MATERIALIZED (
        SELECT a.*, r.name AS rule
        FROM r CROSS JOIN LATERAL aispend.anomalies(pg_catalog.daterange(alert_conditions.as_of - 2, alert_conditions.as_of),
                                                    r.anomaly_kind, 'all', r.min_score, r.min_cost) a
        WHERE r.kind = 'anomaly'),
    -- one condition per rule and key, workspace or model: its latest flagged day
    latest AS (
        SELECT DISTINCT ON (s.rule, s.kind, s.account, s.entity_id) s.*
        FROM spikes s ORDER BY s.rule, s.kind, s.account, s.entity_id, s.day DESC),
    -- FOCUS accounts (provider 'focus') are imported when a cloud publishes its bill, never synced: no sync alerts
    fresh AS MATERIALIZED (
        SELECT f.* FROM aispend.freshness f
        WHERE f.server_exists AND f.provider IS DISTINCT FROM 'focus' AND EXISTS (SELECT 1 FROM r WHERE r.kind IN ('sync_failure', 'stale_data')))
    -- a threshold of a budget reached in its current period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period), t.pct),
           'budget ' || b.name, b.spent, pg_catalog.round(b.amount_usd * t.pct / 100, 2),
           pg_catalog.format('Budget "%s" has used %s%% of $%s (threshold %s%%): $%s spent, %s days left',
                             b.name, b.pct_used, b.amount_usd, t.pct, b.spent, b.days_left),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'pct_used', b.pct_used, 'threshold_pct', t.pct)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    -- each threshold once (80 and 80.0 are one), reached as budgets_status says
    CROSS JOIN LATERAL (SELECT DISTINCT pg_catalog.trim_scale(x) AS pct FROM pg_catalog.unnest(b.thresholds) AS x) t
    WHERE r.kind = 'budget_threshold' AND t.pct <= b.threshold_reached
    UNION ALL
    -- a budget forecast to exceed its amount by the end of its period
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', b.name, pg_catalog.lower(b.period)),
           'budget ' || b.name, b.forecast, b.amount_usd,
           pg_catalog.format('Budget "%s" is forecast to reach $%s (band $%s to $%s) of $%s by %s',
                             b.name, b.forecast, b.forecast_low, b.forecast_high, b.amount_usd,
                             pg_catalog.upper(b.period) - 1),
           pg_catalog.jsonb_build_object('budget', b.name, 'period', b.period::text, 'amount_usd', b.amount_usd,
                                         'spent', b.spent, 'forecast', b.forecast, 'forecast_low', b.forecast_low,
                                         'forecast_high', b.forecast_high, 'days_left', b.days_left)
    FROM r JOIN budget b ON r.budget IS NULL OR r.budget = b.name
    WHERE r.kind = 'budget_forecast' AND b.will_exceed
    UNION ALL
    -- a spike (or new spending) of a key, workspace or model on one of the last two complete days
    SELECT s.rule, 'anomaly', pg_catalog.concat_ws('|', s.kind, s.account, s.entity_id),
           pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
               || coalesce(' (' || s.account || ')', ''),
           s.observed, s.expected,
           pg_catalog.format('%s %s: $%s on %s, expected $%s (%s)',
                             CASE s.flag WHEN 'new' THEN 'New spending of' ELSE 'Spike of' END,
                             pg_catalog.replace(s.kind, '_', ' ') || ' ' || s.entity
                                 || coalesce(' (' || s.account || ')', ''),
                             s.observed, s.day, s.expected,
                             CASE WHEN s.ratio IS NULL THEN 'new' ELSE s.ratio || 'x, score ' || coalesce(s.score::text, '-') END),
           pg_catalog.jsonb_build_object('day', s.day, 'kind', s.kind, 'entity', s.entity, 'account', s.account,
                                         'provider', s.provider, 'observed', s.observed, 'expected', s.expected,
                                         'ratio', s.ratio, 'score', s.score, 'flag', s.flag)
    FROM latest s
    UNION ALL
    -- an account's endpoint failed after its last success (a run in progress changes nothing)
    SELECT r.name, r.kind, pg_catalog.concat_ws('|', f.account, f.endpoint), 'account ' || f.account, NULL, NULL,
           pg_catalog.format('Sync of %s %s failed (SQLSTATE %s)', f.account, f.endpoint,
                             coalesce(f.last_error_sqlstate, '-')),
           pg_catalog.jsonb_build_object('account', f.account, 'endpoint', f.endpoint,
                                         'sqlstate', f.last_error_sqlstate, 'at', f.last_error_at)
    FROM r, fresh f
    WHERE r.kind = 'sync_failure' AND f.last_error_at > coalesce(f.last_success_at, '-infinity')
    UNION ALL
    -- no successful sync of an account for too long (or never)
    SELECT r.name, r.kind, x.account, 'account ' || x.account, x.hours, r.max_age_hours,
           CASE WHEN x.hours IS NULL THEN pg_catalog.format('No successful sync of %s yet', x.account)
                ELSE pg_catalog.format('No successful sync of %s for %s hours', x.account, x.hours) END,
           pg_catalog.jsonb_build_object('account', x.account, 'last_success_at', x.last_success_at,
                                         'max_age_hours', r.max_age_hours)
    FROM r, (SELECT f.account, max(f.last_success_at) AS last_success_at,
                    pg_catalog.round((pg_catalog.date_part('epoch', alert_conditions.at_time - max(f.last_success_at))
                                      / 3600)::numeric, 1) AS hours
             FROM fresh f GROUP BY f.account) x
    WHERE r.kind = 'stale_data' AND (x.hours IS NULL OR x.hours > r.max_age_hours);
END
$$;
COMMENT ON FUNCTION aispend.alert_conditions(date, timestamptz) IS
    'Every condition of the enabled alert rules that holds now: what aispend.evaluate_alerts() would fire or keep '
    'firing. A dry run: it changes nothing.';

-- ---------------------------------------------------------------- the state machine

-- An alert's JSON, as the webhooks carry it (a Slack-compatible body: text, and the alert).
CREATE FUNCTION aispend._alert_payload(a aispend.alerts, event text)
RETURNS jsonb LANGUAGE sql STABLE
RETURN pg_catalog.jsonb_build_object(
    'text', pg_catalog.format('[aispend] %s: %s', pg_catalog.upper(event), a.message),
    'alert', pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'rule', a.rule, 'kind', a.kind,
                                           'scope', a.scope, 'observed', a.observed, 'threshold', a.threshold,
                                           'state', a.state, 'first_fired', a.first_fired,
                                           'last_fired', a.last_fired, 'details', a.details,
                                           'database', pg_catalog.current_database()));
COMMENT ON FUNCTION aispend._alert_payload(aispend.alerts, text) IS
    'Internal: the JSON a webhook is sent of an alert''s state change: {"text": "[aispend] FIRING: ...", "alert": {...}}.';

-- Tells the listeners and queues the webhook of one state change.
CREATE FUNCTION aispend._alert_changed(alert_id bigint, event text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
    v_body jsonb;
BEGIN
    SELECT * INTO a FROM aispend.alerts x WHERE x.id = alert_id;
    v_body := aispend._alert_payload(a, event);
    -- Any role may LISTEN (or NOTIFY) on a channel: it carries the id and the event only, and listeners read the
    -- alert from aispend.alerts, where privileges and row-level security apply.
    PERFORM pg_catalog.pg_notify('aispend_alerts',
        pg_catalog.jsonb_build_object('id', a.id, 'event', event, 'kind', a.kind)::text);
    INSERT INTO aispend.alert_deliveries (alert_id, event, webhook, body)
    SELECT a.id, event, r.webhook, v_body
    FROM aispend.alert_rules r WHERE r.name = a.rule AND r.webhook IS NOT NULL;
END
$$;
COMMENT ON FUNCTION aispend._alert_changed(bigint, text) IS
    'Internal: NOTIFY aispend_alerts with the alert''s id and event, and queue its webhook delivery.';

CREATE FUNCTION aispend.evaluate_alerts(as_of date DEFAULT aispend.utc_today())
RETURNS TABLE (alert_id bigint, event text, rule text, scope text, message text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
SET jit = off
AS $$
DECLARE
    c record;
    v_rules text[];
    v_kinds text[];
    v_keys text[];
    v_scopes text[];
    v_observed numeric[];
    v_thresholds numeric[];
    v_messages text[];
    v_details jsonb[];
    v_fired bigint[];
    v_cleared bigint[];
BEGIN
    -- one evaluation at a time (two syncs ending together would both fire the same condition)
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aispend.evaluate_alerts'));
    -- no rule to evaluate and no alert to resolve: nothing to do
    IF NOT EXISTS (SELECT 1 FROM aispend.alert_rules r WHERE r.enabled)
       AND NOT EXISTS (SELECT 1 FROM aispend.alerts a WHERE a.state <> 'resolved') THEN
        RETURN;
    END IF;
    -- the conditions first, then one statement for each change of the alerts (on Citus the alerts are a
    -- reference table, which a statement cannot change while it reads the tabs' functions; and one with foreign
    -- keys, which Citus changes only after reads over one connection per node)
    PERFORM aispend._citus_sequential();
    SELECT pg_catalog.array_agg(x.rule), pg_catalog.array_agg(x.kind), pg_catalog.array_agg(x.alert_key),
           pg_catalog.array_agg(x.scope), pg_catalog.array_agg(x.observed), pg_catalog.array_agg(x.threshold),
           pg_catalog.array_agg(x.message), pg_catalog.array_agg(x.details)
      INTO v_rules, v_kinds, v_keys, v_scopes, v_observed, v_thresholds, v_messages, v_details
      FROM aispend.alert_conditions(as_of) x;
    -- firing alerts that still hold stay quiet: last_fired moves
    UPDATE aispend.alerts a
       SET last_fired = pg_catalog.now(), observed = cond.observed, threshold = cond.threshold,
           message = cond.message, details = cond.details
      FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys), pg_catalog.unnest(v_observed),
                      pg_catalog.unnest(v_thresholds), pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
           AS cond(rule, alert_key, observed, threshold, message, details)
     WHERE a.state <> 'resolved' AND a.rule = cond.rule AND a.alert_key = cond.alert_key;
    WITH f AS (
        INSERT INTO aispend.alerts (rule, kind, alert_key, scope, observed, threshold, message, details)
        SELECT cond.rule, cond.kind, cond.alert_key, cond.scope, cond.observed, cond.threshold, cond.message,
               cond.details
        FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_kinds), pg_catalog.unnest(v_keys),
                        pg_catalog.unnest(v_scopes), pg_catalog.unnest(v_observed), pg_catalog.unnest(v_thresholds),
                        pg_catalog.unnest(v_messages), pg_catalog.unnest(v_details))
             AS cond(rule, kind, alert_key, scope, observed, threshold, message, details)
        -- NOT IN, not a correlated NOT EXISTS, which Citus cannot plan here (no column is NULL on either side)
        WHERE (cond.rule, cond.alert_key) NOT IN (SELECT a.rule, a.alert_key FROM aispend.alerts a
                                                  WHERE a.state <> 'resolved')
        RETURNING aispend.alerts.id)
    SELECT pg_catalog.array_agg(f.id) INTO v_fired FROM f;
    WITH r AS (
        UPDATE aispend.alerts a SET state = 'resolved', resolved_at = pg_catalog.now()
         WHERE a.state <> 'resolved'
           AND (a.rule, a.alert_key) NOT IN (SELECT cond.rule, cond.alert_key
                                             FROM ROWS FROM (pg_catalog.unnest(v_rules), pg_catalog.unnest(v_keys))
                                                  AS cond(rule, alert_key))
        RETURNING a.id)
    SELECT pg_catalog.array_agg(r.id) INTO v_cleared FROM r;
    FOR c IN
        SELECT x.id, x.event
        FROM (SELECT f.id, 'firing'::text AS event FROM pg_catalog.unnest(v_fired) AS f(id)
              UNION ALL
              SELECT r.id, 'resolved' FROM pg_catalog.unnest(v_cleared) AS r(id)) x
        ORDER BY x.id
    LOOP
        PERFORM aispend._alert_changed(c.id, c.event);
        RETURN QUERY SELECT a.id, c.event, a.rule, a.scope, a.message FROM aispend.alerts a WHERE a.id = c.id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.evaluate_alerts(date) IS
    'Evaluates every enabled alert rule now: fires new conditions, keeps firing alerts quiet (last_fired moves), '
    'resolves those that cleared; NOTIFY aispend_alerts and queues webhooks for each change, which it returns. '
    'The sync calls it at its end; aispend.check_alerts() evaluates and delivers.';

CREATE FUNCTION aispend.acknowledge_alert(id bigint)
RETURNS aispend.alerts LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    a aispend.alerts;
BEGIN
    UPDATE aispend.alerts x SET state = 'acknowledged', acknowledged_at = pg_catalog.now(), acknowledged_by = CURRENT_USER
     WHERE x.id = acknowledge_alert.id AND x.state = 'firing'
    RETURNING x.* INTO a;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'aispend: no firing alert %', acknowledge_alert.id USING ERRCODE = 'no_data_found',
            HINT = 'SELECT id, state, message FROM aispend.alerts WHERE state = ''firing''';
    END IF;
    PERFORM aispend._alert_changed(a.id, 'acknowledged');
    RETURN a;
END
$$;
COMMENT ON FUNCTION aispend.acknowledge_alert(bigint) IS
    'Acknowledges a firing alert: it stays open, quietly, until its condition clears (then it resolves).';

-- ---------------------------------------------------------------- delivery

-- Posts the pending webhook deliveries that are due. A failure is recorded and tried again by a later run
-- (5 minutes, then 10, 20, ...; 6 runs at most), never raised: a sync never fails for a webhook.
CREATE FUNCTION aispend.deliver_alerts(max_deliveries integer DEFAULT 100)
RETURNS TABLE (delivery_id bigint, alert_id bigint, webhook text, state text, http_status integer, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    d record;
    v_url text;
    v_status integer;
    v_attempts integer;
    v_error text;
    v_state text;
    v_failing text[] := '{}';
    v_start timestamptz := pg_catalog.clock_timestamp();
BEGIN
    FOR d IN
        SELECT x.id, x.alert_id, x.webhook, x.body, x.attempts FROM aispend.alert_deliveries x
        WHERE x.state = 'pending' AND x.next_attempt_at <= pg_catalog.now()
          -- an alert's events reach a webhook in order: none overtakes an earlier one still pending
          AND NOT EXISTS (SELECT 1 FROM aispend.alert_deliveries y
                          WHERE y.alert_id = x.alert_id AND y.webhook = x.webhook AND y.state = 'pending' AND y.id < x.id)
        ORDER BY x.id LIMIT max_deliveries
        FOR UPDATE SKIP LOCKED
    LOOP
        -- a webhook that failed in this run is not tried again in it, and a run stops after a minute: a dead
        -- receiver cannot hold up the sync that calls this
        CONTINUE WHEN d.webhook = ANY (v_failing);
        EXIT WHEN pg_catalog.clock_timestamp() - v_start > interval '1 minute';
        v_url := (SELECT w.url FROM aispend.webhooks w WHERE w.name = d.webhook);
        IF v_url IS NULL THEN
            v_status := NULL; v_attempts := 0; v_error := 'the webhook was dropped';
        ELSE
            SELECT r.http_status, r.attempts, r.error INTO v_status, v_attempts, v_error
            FROM aispend._post_webhook(v_url, d.body::text) r;
        END IF;
        -- refused before sending (attempts 0: the host is not allowed) or refused by the receiver (a 4xx other
        -- than 408 and 429): trying again will not help
        v_state := CASE WHEN v_status BETWEEN 200 AND 299 THEN 'delivered'
                        WHEN v_url IS NULL OR v_attempts = 0 OR d.attempts + 1 >= 6
                             OR (v_status BETWEEN 400 AND 499 AND v_status NOT IN (408, 429)) THEN 'failed'
                        ELSE 'pending' END;
        IF v_state <> 'delivered' THEN
            v_failing := v_failing || d.webhook;
        END IF;
        UPDATE aispend.alert_deliveries x
           SET attempts = x.attempts + 1, last_status = v_status, last_error = v_error, state = v_state,
               delivered_at = CASE WHEN v_state = 'delivered' THEN pg_catalog.now() END,
               next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(mins => 5 * (2 ^ x.attempts)::integer)
         WHERE x.id = d.id;
        RETURN QUERY SELECT d.id, d.alert_id, d.webhook, v_state, v_status, v_error;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.deliver_alerts(integer) IS
    'Posts the due webhook deliveries (aispend.alert_deliveries), an alert''s events in order, and records each '
    'outcome. A failure is tried again by a later run (after 5, 10, 20, ... minutes; 6 runs at most), except a '
    'refused host or a 4xx answer (failed at once); it never raises. A run skips a webhook once it failed and '
    'stops after a minute.';

CREATE PROCEDURE aispend.check_alerts()
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM aispend.evaluate_alerts();
    COMMIT;   -- the alerts and their NOTIFY stand whatever the webhooks do
    PERFORM aispend.deliver_alerts();
END
$$;
COMMENT ON PROCEDURE aispend.check_alerts() IS
    'Evaluates the alert rules, COMMITs, then posts the due webhooks: what the pg_cron job of '
    'aispend.schedule_alerts() runs. CALL it outside a transaction block.';

CREATE FUNCTION aispend.schedule_alerts(cron_expression text DEFAULT '*/15 * * * *',
                                        job_name text DEFAULT 'aispend-alerts',
                                        database name DEFAULT NULL, username name DEFAULT NULL)
RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT aispend._schedule(schedule_alerts.job_name, schedule_alerts.cron_expression, 'CALL aispend.check_alerts()',
                             schedule_alerts.database, schedule_alerts.username);
END;
COMMENT ON FUNCTION aispend.schedule_alerts(text, text, name, name) IS
    'Creates (or replaces) the pg_cron job that runs CALL aispend.check_alerts() (default every 15 minutes): '
    'stale data and failed syncs alert even when no sync runs. Remove it with aispend.unschedule_sync(''aispend-alerts'').';

-- Alerts are the organisation's: a team sees none (aispend.grant_team).
ALTER TABLE aispend.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alerts USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alerts IS 'A team (aispend.teams) reads no alerts; other roles read every row.';
ALTER TABLE aispend.alert_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_scope ON aispend.alert_deliveries USING ((SELECT NOT aispend._team_restricted()));
COMMENT ON POLICY team_scope ON aispend.alert_deliveries IS 'A team reads no deliveries; other roles read every row.';

REVOKE ALL ON FUNCTION aispend.set_webhook(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.set_alert_rule(text, text, text, text, text, numeric, numeric, numeric, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.drop_alert_rule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.evaluate_alerts(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.acknowledge_alert(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.deliver_alerts(integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend.check_alerts() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.schedule_alerts(text, text, name, name) FROM PUBLIC;

-- ---- src/sql/74_default_views.sql
-- 74_default_views.sql: default-period views (last 30 days vs the 30 days before, today UTC included) for BI
-- tools that cannot pass parameters, and the tidy daily fact view for ad-hoc questions.

CREATE VIEW aispend.workspaces_summary_30d AS SELECT * FROM aispend.workspaces_summary('last_30_days');
CREATE VIEW aispend.workspaces_by_provider_30d AS SELECT * FROM aispend.workspaces_by_provider('last_30_days');
CREATE VIEW aispend.workspaces_vs_previous_30d AS SELECT * FROM aispend.workspaces_vs_previous('last_30_days');
CREATE VIEW aispend.workspaces_table_30d AS SELECT * FROM aispend.workspaces_table('last_30_days');
CREATE VIEW aispend.api_keys_summary_30d AS SELECT * FROM aispend.api_keys_summary('last_30_days');
CREATE VIEW aispend.api_keys_top_30d AS SELECT * FROM aispend.api_keys_top('last_30_days');
CREATE VIEW aispend.api_keys_vs_previous_30d AS SELECT * FROM aispend.api_keys_vs_previous('last_30_days');
CREATE VIEW aispend.api_keys_table_30d AS SELECT * FROM aispend.api_keys_table('last_30_days');
CREATE VIEW aispend.api_keys_unused_30d AS SELECT * FROM aispend.api_keys_unused('last_30_days');
CREATE VIEW aispend.models_summary_30d AS SELECT * FROM aispend.models_summary('last_30_days');
CREATE VIEW aispend.models_by_cost_30d AS SELECT * FROM aispend.models_by_cost('last_30_days');
CREATE VIEW aispend.models_vs_previous_30d AS SELECT * FROM aispend.models_vs_previous('last_30_days');
CREATE VIEW aispend.models_table_30d AS SELECT * FROM aispend.models_table('last_30_days');
CREATE VIEW aispend.savings_opportunities_30d AS SELECT * FROM aispend.savings_opportunities('last_30_days');
CREATE VIEW aispend.cache_efficiency_30d AS SELECT * FROM aispend.cache_efficiency('last_30_days');

COMMENT ON VIEW aispend.workspaces_summary_30d IS 'Workspaces tab summary, last 30 days vs the 30 days before (aispend.workspaces_summary()).';
COMMENT ON VIEW aispend.workspaces_by_provider_30d IS 'Workspaces tab pie "Cost Distribution by Provider", last 30 days.';
COMMENT ON VIEW aispend.workspaces_vs_previous_30d IS 'Workspaces tab bars "Current vs Previous Period", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.workspaces_table_30d IS 'Workspaces tab table, last 30 days (aispend.workspaces_table()).';
COMMENT ON VIEW aispend.api_keys_summary_30d IS 'API Key Analytics summary, last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.api_keys_top_30d IS 'API Key Analytics pie "Cost Distribution by API Key" (top 10 + Other), last 30 days.';
COMMENT ON VIEW aispend.api_keys_vs_previous_30d IS 'API Key Analytics bars "API Key Cost Comparison", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.api_keys_table_30d IS 'API Key Analytics table, last 30 days (aispend.api_keys_table()).';
COMMENT ON VIEW aispend.api_keys_unused_30d IS 'Listed, active API keys with 0 requests, tokens and cost in the last 30 days.';
COMMENT ON VIEW aispend.models_summary_30d IS 'Model Efficiency summary, last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.models_by_cost_30d IS 'Model Efficiency pie "Cost Distribution by Model", last 30 days.';
COMMENT ON VIEW aispend.models_vs_previous_30d IS 'Model Efficiency bars "Model Cost Comparison", last 30 days vs the 30 days before.';
COMMENT ON VIEW aispend.models_table_30d IS 'Model Efficiency table, last 30 days (aispend.models_table()).';
COMMENT ON VIEW aispend.savings_opportunities_30d IS
    'Savings advisor, last 30 days: cheaper models of the same class per key (aispend.savings_opportunities; same '
    'provider, saving of at least $0.01). A re-pricing of token counts, not a judgement of quality.';
COMMENT ON VIEW aispend.cache_efficiency_30d IS
    'Prompt caching per key and model, last 30 days, at a 50% hit rate (aispend.cache_efficiency).';

CREATE VIEW aispend.daily_facts WITH (security_invoker = true) AS
SELECT r.day, r.account, ap.provider, r.workspace_id, coalesce(w.name, r.workspace_id) AS workspace,
       r.api_key_id, coalesce(k.name, r.api_key_id) AS api_key, k.key_hint, r.model, r.cost, r.cost_basis,
       r.billed_cost, r.allocated_cost, r.estimated_cost, r.input_tokens, r.output_tokens, r.total_tokens,
       r.requests, r.unpriced
FROM aispend.daily_rollup r
LEFT JOIN aispend._account_providers() ap ON ap.account = r.account
LEFT JOIN aispend.workspaces w ON w.account = r.account AND w.workspace_id = r.workspace_id
LEFT JOIN aispend.api_keys k ON k.account = r.account AND k.api_key_id = r.api_key_id;
COMMENT ON VIEW aispend.daily_facts IS
    'Tidy daily facts for ad-hoc BI: one row per UTC day, account, workspace, API key and model, with the current '
    'names, cost and tokens. Filter on day (e.g. WHERE day >= current_date - 90) and group as you like.';
COMMENT ON COLUMN aispend.daily_facts.cost IS
    'Cost of the day and grain, US dollars, exact (the cost model''s cost: billed, allocated or estimated; the tabs '
    'round their sums to the cent).';

-- Column comments of every dashboard view, from one dictionary.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        WITH dict(col, txt) AS (VALUES
            ('name', 'Name: the workspace name shown (custom name, else the provider''s); same names are combined.'),
            ('provider', 'Provider (several, comma-separated, for a combined row).'),
            ('cost', 'Cost in the period, US dollars rounded to the cent (the cost model''s cost: billed, allocated or estimated; exact in daily_facts).'),
            ('pct_of_total', '% of Total: share of the rows shown, percent, 2 decimals, largest-remainder rounded (sums to 100).'),
            ('requests', 'Requests in the period (providers that report them; NULL for Anthropic only).'),
            ('tokens', 'Tokens in the period (input + output).'),
            ('trend', 'Trend indicator vs the previous period: up, down, flat (|change| < 1%), new (previous 0), incomplete (the previous period is older than the synced history).'),
            ('change_pct', 'Trend: percent change vs the previous period, 1 decimal; NULL when the previous was 0 or the trend is incomplete.'),
            ('trend_label', 'Trend as shown: ''↑ 12.5%'', ''↓ 3.0%'', ''→ 0.4%'', ''new'' or ''history from <day>''.'),
            ('previous_cost', 'Cost in the period compared with (aispend.previous_period: the previous calendar period, or as many days before).'),
            ('previous_tokens', 'Tokens in the previous period.'),
            ('previous_requests', 'Requests in the previous period.'),
            ('workspaces', 'Number of workspaces combined in this row.'),
            ('accounts', 'Accounts (aispend servers) of the row.'),
            ('workspace_ids', 'Provider workspace ids combined in this row.'),
            ('total_cost', 'Total Cost of the rows.'),
            ('active_workspaces', 'Active Workspaces: names with cost, tokens or requests in the period.'),
            ('openai_cost', 'Cost of OpenAI workspaces.'),
            ('anthropic_cost', 'Cost of Anthropic workspaces.'),
            ('other_cost', 'Cost of other providers.'),
            ('previous_total_cost', 'Total cost of the previous period.'),
            ('current_cost', 'Cost in the period.'),
            ('change', 'current_cost - previous_cost.'),
            ('api_key', 'API Key: the key''s name (id when unnamed; sentinels for usage without a key).'),
            ('workspace', 'Workspace / project of the key (name shown).'),
            ('key_hint', 'Key Hint: the redacted key the provider shows.'),
            ('status', 'Status: active, inactive, deleted (gone from the provider''s list), unlisted (seen in facts only); NULL for rows that are not keys.'),
            ('kind', 'What the row is (aispend.api_key_kind): key, deleted key, unlisted key, console, no key, fees without a key.'),
            ('class', 'Model class (aispend.model_class): chat, embedding, audio, image, other.'),
            ('last_active_day', 'Last UTC day with usage (tokens or requests) in the synced data.'),
            ('not_key_cost', 'Cost of the rows that are not keys (console, usage or fees without a key).'),
            ('cost_per_1m', 'Cost/1M: cost per million tokens, 4 decimals.'),
            ('account', 'The account (aispend server).'),
            ('workspace_id', 'Provider workspace id.'),
            ('api_key_id', 'Provider API key id.'),
            ('owner', 'Owner of the key, as the provider reports it.'),
            ('last_used_at', 'Last use according to the provider (NULL: never, or not reported).'),
            ('active_keys', 'Active API Keys: keys (not console, usage or fees without a key) with cost, tokens or requests in the period.'),
            ('total_requests', 'Total Requests.'),
            ('avg_cost_per_1m', 'Average Cost per 1M Tokens: total cost / total tokens x 1,000,000.'),
            ('rank', 'Pie slice order: the top keys, then Other keys, then Not an API key.'),
            ('label', 'Slice label: key (workspace), Other keys, or Not an API key.'),
            ('keys', 'Keys in the slice.'),
            ('created_at', 'Creation time at the provider.'),
            ('days_since_last_use', 'Days since the last use: the later of the provider''s last_used_at and last_active_day.'),
            ('model', 'Model (''(no model: tool & service fees)'': cost lines without a model).'),
            ('most_efficient', 'The star: lowest Cost/1M within the model''s class among models with cost and tokens.'),
            ('model_count', 'Models with cost, tokens or requests in the period.'),
            ('most_efficient_model', 'The starred chat model (else the star of the class with the most cost).'),
            ('current_tokens', 'Tokens in the period.'),
            ('day', 'UTC day.'),
            ('billed_cost', 'Cost as billed by the provider at this grain.'),
            ('allocated_cost', 'Billed cost allocated to this grain by usage.'),
            ('estimated_cost', 'Cost estimated from list prices.'),
            ('cost_basis', 'billed, allocated or estimated.'),
            ('input_tokens', 'Input tokens (uncached + cache reads + cache writes).'),
            ('output_tokens', 'Output tokens.'),
            ('total_tokens', 'Input + output tokens.'),
            ('unpriced', 'Some usage had no price: cost incomplete.'),
            ('alternative', 'A cheaper model of the same class the organisation uses.'),
            ('alternative_provider', 'The provider whose list prices the alternative is re-priced at.'),
            ('list_cost', 'The usage at its own model''s list prices (as aispend estimates it), US dollars.'),
            ('repriced_cost', 'The same usage re-priced at the alternative''s list prices, day by day, US dollars.'),
            ('saving', 'list_cost - repriced_cost, US dollars.'),
            ('saving_pct', 'The saving in percent of list_cost.'),
            ('share_of_key_pct', 'The share of the key''s list cost this model has, percent.'),
            ('assumptions', 'Token kinds the alternative has no price of its own for, priced by a stated default.'),
            ('note', 'What the figures are: a re-pricing of token counts at list prices, not a judgement of quality.'),
            ('cache_read_tokens', 'Input tokens read from the prompt cache.'),
            ('cached_pct', 'Cache reads in percent of all input tokens.'),
            ('caching_saved', 'What the cache reads saved against the uncached input price, US dollars.'),
            ('saving_at_hit_rate', 'What reaching the stated cache-hit rate would save on top, US dollars.'),
            ('uncached_heavy', 'Much input, no cache read, on a model that offers caching.'))
        SELECT cl.oid::regclass AS rel, a.attname, d.txt
        FROM pg_catalog.pg_class cl
        JOIN pg_catalog.pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN dict d ON d.col = a.attname
        WHERE cl.relnamespace = 'aispend'::regnamespace AND cl.relkind = 'v'
          AND pg_catalog.col_description(cl.oid, a.attnum) IS NULL
    LOOP
        EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', c.rel, c.attname, c.txt);
    END LOOP;
END
$$;

-- ---- src/sql/90_roles.sql
-- Roles: grant functions for an admin role and a read-only BI role. The extension creates no roles itself.

CREATE FUNCTION aispend._reader_functions() RETURNS SETOF regprocedure
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- What a reader may execute: functions that cannot change anything (STABLE or IMMUTABLE), except the
    -- one that tells where keys come from. Everything that writes is VOLATILE and stays with admins.
    SELECT p.oid::regprocedure
      FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'aispend'::regnamespace
       AND p.prokind OPERATOR(pg_catalog.=) 'f'
       AND p.provolatile OPERATOR(pg_catalog.<>) 'v'
       AND p.proname OPERATOR(pg_catalog.<>) ALL (ARRAY['_key_status', '_reader_functions', '_fdw_validator']::name[])
$$;
COMMENT ON FUNCTION aispend._reader_functions() IS 'Internal: the functions aispend.grant_reader() grants EXECUTE on';

CREATE FUNCTION aispend.grant_reader(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
BEGIN
    PERFORM aispend._citus_sequential();   -- the alerts are a reference table with foreign keys on Citus
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    FOR obj IN SELECT c.oid::regclass AS rel
                 FROM pg_class AS c
                WHERE c.relnamespace = 'aispend'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
                  AND c.relname NOT IN ('accounts', 'sync_runs', 'refresh_requests', 'webhooks')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', obj.rel, role_name);
    END LOOP;
    -- The run log and the refresh requests without the providers' error texts (readers see the SQLSTATE;
    -- aispend.freshness likewise).
    FOR obj IN SELECT t::regclass AS rel FROM unnest(ARRAY['aispend.sync_runs', 'aispend.refresh_requests']) AS t LOOP
        EXECUTE format('GRANT SELECT (%s) ON %s TO %I',
                       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                          FROM pg_attribute AS a
                         WHERE a.attrelid = obj.rel AND a.attnum > 0 AND NOT a.attisdropped
                           AND a.attname NOT IN ('error_message', 'error_detail', 'error_hint')),
                       obj.rel, role_name);
    END LOOP;
    FOR obj IN SELECT f AS fn FROM aispend._reader_functions() AS f LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.fn, role_name);
    END LOOP;
    PERFORM aispend._citus_copy_routine_grants(role_name);
END
$$;
COMMENT ON FUNCTION aispend.grant_reader(name) IS 'Lets an existing role read the dashboard: SELECT on aispend tables and views (except accounts, webhooks, and the providers'' error texts in sync_runs and refresh_requests), EXECUTE on read-only functions; no sync, no renames, no keys.';

CREATE FUNCTION aispend.grant_admin(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    srv record;
BEGIN
    PERFORM aispend._citus_sequential();
    EXECUTE format('GRANT USAGE ON SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA aispend TO %I', role_name);
    EXECUTE format('GRANT USAGE ON FOREIGN DATA WRAPPER aispend TO %I', role_name);
    FOR srv IN SELECT s.srvname FROM aispend._servers() AS s LOOP
        EXECUTE format('GRANT USAGE ON FOREIGN SERVER %I TO %I', srv.srvname, role_name);
    END LOOP;
    PERFORM aispend._citus_copy_routine_grants(role_name);
END
$$;
COMMENT ON FUNCTION aispend.grant_admin(name) IS 'Lets an existing role manage aispend: create accounts (servers) and key mappings, sync, schedule, rename; USAGE on every existing aispend server. Re-run after upgrading aispend.';

CREATE FUNCTION aispend.revoke_all(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    srv record;
BEGIN
    PERFORM aispend._citus_sequential();
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM %I', role_name);
    EXECUTE format('REVOKE ALL ON FOREIGN DATA WRAPPER aispend FROM %I', role_name);
    FOR srv IN SELECT s.srvname FROM aispend._servers() AS s LOOP
        EXECUTE format('REVOKE ALL ON FOREIGN SERVER %I FROM %I', srv.srvname, role_name);
    END LOOP;
    EXECUTE format('REVOKE ALL ON SCHEMA aispend FROM %I', role_name);
    PERFORM aispend._citus_copy_routine_grants(role_name);
END
$$;
COMMENT ON FUNCTION aispend.revoke_all(name) IS 'Takes back every aispend privilege granted to a role by grant_reader() or grant_admin()';

-- ---- src/sql/95_distribute.sql
-- 95_distribute.sql: aispend on a Citus cluster (docs/scaling.md).
--
-- aispend.distribute() turns a single-node install on a Citus coordinator into a distributed one: every table of
-- the schema with an "account" column is distributed by account, all co-located (one account's facts, rollups,
-- names and runs live in shards on one node); every other table (prices, budgets, alerts, teams, webhooks) is a
-- reference table, copied to every node. The tables are read from the catalog, so a table a later version adds
-- is distributed too; aispend.undistributed_tables() lists what is left, and the Citus test fails unless empty.
--
-- What Citus refuses, and how aispend meets it:
--   * triggers: those that read or write other tables (the rollups' invalidation of the facts and runs, the
--     re-roll at COMMIT, the name history) would run on the shards, a nested distributed execution that Citus
--     refuses or does not survive: they are dropped, and aispend's writers mark the days, models and names they
--     change themselves (53_invalidation.sql, 54_workspace_management.sql). Those that only look at their own row
--     (the custom name's clean-up, the audit log's guards) run on the shards (citus.enable_unsafe_triggers). The
--     triggers of reference tables (the prices' invalidation) are dropped: they would fire on every node's copy;
--   * volatile functions in UPDATEs of distributed tables (clock_timestamp() in sync_runs, refresh_requests,
--     the FOCUS runs): the sources compute the time into a variable first;
--   * foreign keys: only between reference tables (alerts, budgets, webhooks, teams); they are dropped while the
--     tables are handed to Citus and added back (a foreign key to a local table makes Citus convert that table,
--     which fails for an extension's table with an identity column);
--   * subqueries in row-level policies (refresh requests): replaced by equivalent function calls
--     (aispend._citus_policies);
--   * teams: a team's rows are chosen by its scope, which a policy on a shard cannot read from the Citus tables
--     (a query of a Citus table there is refused, reference tables included). On a cluster the team_scope
--     policies read the teams, their scopes, names and keys from the shards of the node (aispend._citus_is_team,
--     once per statement, and aispend._team_sees_row for a team's rows). (Citus also loses AS RESTRICTIVE when it
--     copies a policy to the shards, so one policy says it all.);
--   * privileges on functions: Citus propagates GRANTs on tables and schemas, not on an extension's functions,
--     yet a worker runs the functions of a role's query as that role (the policies, the cost model's pure
--     helpers): aispend.grant_reader(), grant_admin() and revoke_all() copy the role's EXECUTE privileges to the
--     workers, and distribute() copies those granted before it (aispend._citus_copy_routine_grants);
--   * a function with an SQL-standard body that names a constraint (ON CONFLICT ON CONSTRAINT): Citus follows
--     the functions that use a table as its dependencies and refuses a constraint among them; those functions
--     infer the conflict from the key's columns instead (ON CONFLICT (columns)), which is the same;
--   * Citus 13.2 cannot run an SQL function whose body is "RETURN expression" when the expression reads a Citus
--     table ("syntax error at or near RETURN"): those functions use BEGIN ATOMIC SELECT expression; END;
--   * a simple CASE (CASE x WHEN ...) on a parameter in DML routed to a shard is deparsed wrongly ("operator does
--     not exist: text = boolean"): the sync writes searched CASEs (CASE WHEN x = ...);
--   * identity columns (sync_runs, workspace_name_history, prices, alerts): all bigint, which Citus supports.

CREATE FUNCTION aispend._citus_present() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus')
$$;
COMMENT ON FUNCTION aispend._citus_present() IS 'Internal: true when the citus extension is installed in this database.';

-- Whether this database is a Citus worker's (its node group is not the coordinator's, 0).
CREATE FUNCTION aispend._on_citus_worker() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
DECLARE
    v_group integer;
BEGIN
    IF NOT aispend._citus_present() THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    RETURN coalesce(v_group, 0) <> 0;
END
$$;
COMMENT ON FUNCTION aispend._on_citus_worker() IS 'Internal: true in a database of a Citus worker node.';

-- Whether this is the coordinator of a distributed installation (aispend.distribute() has run).
CREATE FUNCTION aispend._citus_coordinator() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
BEGIN
    RETURN aispend._citus_kind('aispend.workspaces') IS NOT DISTINCT FROM 'distributed' AND NOT aispend._on_citus_worker();
END
$$;
COMMENT ON FUNCTION aispend._citus_coordinator() IS
    'Internal: true on the Citus coordinator of a distributed installation (after aispend.distribute()).';

-- On Citus, one connection per node for the rest of the transaction: Citus changes a reference table with foreign
-- keys (the alerts, the teams) only after reads and writes over one connection per node, and refuses it after a
-- parallel statement on a distributed table ("cannot modify table ... because there was a parallel operation").
CREATE FUNCTION aispend._citus_sequential() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
BEGIN
    IF aispend._citus_present() THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
END
$$;
COMMENT ON FUNCTION aispend._citus_sequential() IS
    'Internal: on Citus, citus.multi_shard_modify_mode = sequential for the rest of the transaction (before changing '
    'a reference table with foreign keys); nothing elsewhere.';

-- The tables of the schema and what they become: "distributed" (an account column) or "reference".
CREATE FUNCTION aispend._distribution_plan()
RETURNS TABLE (table_name regclass, distribution text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid::regclass,
           CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                             WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                               AND a.attname OPERATOR(pg_catalog.=) 'account' AND NOT a.attisdropped)
                THEN 'distributed' ELSE 'reference' END
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'aispend'::regnamespace
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
       AND NOT c.relispartition
     ORDER BY c.relname
$$;
COMMENT ON FUNCTION aispend._distribution_plan() IS
    'Internal: each table of the schema and what aispend.distribute() makes of it: distributed by account (it has '
    'an account column) or a reference table.';

-- What Citus knows of a table: 'distributed' (hash by account), 'reference', 'other' or NULL (a local table).
CREATE FUNCTION aispend._citus_kind(t regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
DECLARE
    v_method "char";
    v_repmodel "char";
    v_column text;
BEGIN
    IF NOT aispend._citus_present() THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT p.partmethod, p.repmodel, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
               FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1'
       INTO v_method, v_repmodel, v_column USING t;
    RETURN CASE WHEN v_method IS NULL THEN NULL
                WHEN v_method = 'h' AND v_column = 'account' THEN 'distributed'
                WHEN v_method = 'n' AND v_repmodel = 't' THEN 'reference'
                ELSE 'other' END;
END
$$;
COMMENT ON FUNCTION aispend._citus_kind(regclass) IS
    'Internal: how Citus holds a table: distributed (hash by account), reference, other, or NULL (local).';

CREATE FUNCTION aispend.undistributed_tables()
RETURNS TABLE (table_name regclass, expected text, actual text)
LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT p.table_name, p.distribution, coalesce(aispend._citus_kind(p.table_name), 'local')
      FROM aispend._distribution_plan() p
     WHERE aispend._citus_kind(p.table_name) IS DISTINCT FROM p.distribution
$$;
COMMENT ON FUNCTION aispend.undistributed_tables() IS
    'The tables of aispend not held as aispend.distribute() holds them on a Citus cluster: a table with an account '
    'column that is not distributed by account, or another that is not a reference table. Empty after '
    'aispend.distribute(); every table when Citus is absent.';

-- Row-level policies: Citus refuses subqueries in the policies of distributed and reference tables. The
-- refresh requests' policies (20_schema.sql) become one call of aispend._may_act_as per row. The two team_scope
-- functions below are what aispend 0.6.0 and 0.7.0 put in the teams' policies on a cluster; a cluster
-- distributed by them keeps calling them until aispend.distribute() is run again after the update, which puts
-- the policies below in their place. A single node keeps the policies' subqueries.
CREATE FUNCTION aispend._team_row_visible(p_account name, p_workspace_id text, p_api_key_id text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_api_key_id) IN (SELECT k.account, k.api_key_id FROM aispend._team_keys(CURRENT_USER) k)
$$;
COMMENT ON FUNCTION aispend._team_row_visible(name, text, text) IS
    'Internal: the team_scope policy of the facts and rollups as one call (a team reads the rows of its workspaces '
    'and keys), on a cluster distributed by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';

CREATE FUNCTION aispend._team_workspace_visible(p_account name, p_workspace_id text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, aispend, pg_temp AS $$
    SELECT NOT aispend._team_restricted()
        OR (p_account, p_workspace_id) IN (SELECT w.account, w.workspace_id FROM aispend._team_workspaces(CURRENT_USER) w)
        OR (p_account, p_workspace_id) IN (SELECT k.account, k.workspace_id FROM aispend._team_keys(CURRENT_USER) k)
$$;
COMMENT ON FUNCTION aispend._team_workspace_visible(name, text) IS
    'Internal: the team_scope policy of workspaces and their name history as one call, on a cluster distributed '
    'by aispend 0.6.0 or 0.7.0 until aispend.distribute() is run again.';

-- Teams on a cluster. A worker checks a policy inside its query of a shard, where it may read no Citus table
-- (reference tables included), but it may read the shards it holds: the teams and their scopes in its copies of
-- the reference tables, and the names and keys of the row's account in the co-located shards of
-- aispend.workspaces and aispend.api_keys, which are on the same node. The team_scope policies of a cluster ask
-- first whether the role is a team (aispend._citus_is_team: asked once per statement, then one call of a C
-- function per row), and for a team whether the row is in its scope (its scope in the row's account read once per
-- statement, then one C call per row); they say what the single node's policies say (67_team_access.sql).

-- The name of the shard of a Citus table that holds an account's rows (of a reference table, its one shard: the
-- account is then NULL).
CREATE FUNCTION aispend._citus_shard(p_table regclass, p_account name) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text;
BEGIN
    EXECUTE 'SELECT pg_catalog.shard_name($1, pg_catalog.get_shard_id_for_distribution_column($1, $2))'
       INTO v USING p_table, p_account;
    RETURN v;
END
$$;
COMMENT ON FUNCTION aispend._citus_shard(regclass, name) IS
    'Internal: on Citus, the qualified name of the shard of a table that holds an account''s rows (of a reference '
    'table, its one shard).';

-- A team's scope in an account, read from the node's shards: the ids of the workspaces it names, of its keys that
-- the account has, and of those keys' workspaces. Asked once per statement and account by the C functions below.
CREATE FUNCTION aispend._citus_team_scope(p_team name, p_account name, OUT workspace_ids text[], OUT key_ids text[],
                                          OUT key_workspace_ids text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- only a team the logged-in role is (or may SET ROLE to): no role learns another team's scope
    IF NOT pg_catalog.pg_has_role(SESSION_USER, p_team, 'MEMBER') THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT ARRAY(SELECT w.workspace_id FROM %1$s s JOIN %2$s w ON w.name = s.workspace_name
                       WHERE s.team = $1 AND w.account = $2),
                ARRAY(SELECT k.api_key_id FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                       WHERE s.team = $1 AND k.account = $2),
                ARRAY(SELECT k.workspace_id FROM %1$s s JOIN %3$s k ON k.api_key_id = s.api_key_id
                       WHERE s.team = $1 AND k.account = $2)',
        aispend._citus_shard('aispend.team_scopes', NULL), aispend._citus_shard('aispend.workspaces', p_account),
        aispend._citus_shard('aispend.api_keys', p_account))
       INTO workspace_ids, key_ids, key_workspace_ids USING p_team, p_account;
END
$$;
COMMENT ON FUNCTION aispend._citus_team_scope(name, name) IS
    'Internal: on a Citus worker, a team''s scope in an account (the ids of the workspaces it names, of its keys, '
    'and of their workspaces), read from the shards of the node, for a team the logged-in role is a member of; '
    'aispend._team_sees_row and aispend._team_sees_workspace ask it once per statement and account.';

-- A row of the facts or rollups in a team's scope: its workspace is one of the team's names, or its key one of
-- the team's listed keys.
CREATE FUNCTION aispend._team_sees_row(p_team name, p_account name, p_workspace_id text, p_api_key_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_row' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._team_sees_row(name, name, text, text) IS
    'Internal: on a Citus worker, whether a row of the facts or rollups is in a team''s scope (its workspace''s '
    'name or its key), checked against the scope aispend._citus_team_scope reads once per statement; the '
    'team_scope policies of a cluster call it.';

-- A workspace in a team's scope: one of its names, or the workspace of one of its keys.
CREATE FUNCTION aispend._team_sees_workspace(p_team name, p_account name, p_workspace_id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'aispend_team_sees_workspace' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._team_sees_workspace(name, name, text) IS
    'Internal: on a Citus worker, whether a workspace (or its name history) is in a team''s scope (one of its names, '
    'or the workspace of one of its keys), checked against the scope aispend._citus_team_scope reads once per '
    'statement; the team_scope policies of a cluster call it.';

-- Whether a role is a team, read from the node's copy of the reference table aispend.teams.
CREATE FUNCTION aispend._citus_team_check(p_role name) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v boolean;
BEGIN
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.team = $1)',
                              aispend._citus_shard('aispend.teams', NULL))
       INTO v USING p_role;
    RETURN v;
END
$$;
COMMENT ON FUNCTION aispend._citus_team_check(name) IS
    'Internal: on Citus, whether a role is a team, read from the node''s copy of aispend.teams '
    '(aispend._citus_is_team asks it once per statement).';

-- Whether the current role is a team: the policies' first question on every row, answered once per statement.
CREATE FUNCTION aispend._citus_is_team() RETURNS boolean
AS 'MODULE_PATHNAME', 'aispend_citus_is_team' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION aispend._citus_is_team() IS
    'Internal: on Citus, whether the current role is a team (aispend._citus_team_check, asked once per statement '
    'and role); the row-level policies of a distributed installation call it.';

CREATE FUNCTION aispend._may_act_as(p_role name)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname OPERATOR(pg_catalog.=) p_role AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
$$;
COMMENT ON FUNCTION aispend._may_act_as(name) IS
    'Internal: whether the current role is (a member of) a role: the refresh requests'' policies as one call, for '
    'Citus (aispend.distribute).';

-- Rewrites, before distribution, the policies whose expressions hold a subquery; refuses one it does not know.
CREATE FUNCTION aispend._citus_policies() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
DECLARE
    p record;
    v_using text;
    n integer := 0;
BEGIN
    FOR p IN SELECT y.polrelid::regclass AS rel, y.polname, y.polcmd,
                    pg_catalog.pg_get_expr(y.polqual, y.polrelid) AS qual,
                    pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid) AS chk
               FROM pg_catalog.pg_policy y JOIN pg_catalog.pg_class c ON c.oid = y.polrelid
              WHERE c.relnamespace = 'aispend'::regnamespace
                AND (pg_catalog.pg_get_expr(y.polqual, y.polrelid) ~* '\mselect\M'
                     OR pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid) ~* '\mselect\M'
                     OR (y.polname = 'team_scope' AND pg_catalog.pg_get_expr(y.polqual, y.polrelid) !~ '_citus_is_team'))
              ORDER BY 1, 2 LOOP
        IF p.polname = 'team_scope' THEN
            -- what the single node's policies say (67_team_access.sql), asking the shards of the node; a table
            -- not named here holds what a team never reads (the cumulative sums, the alerts)
            v_using := 'NOT aispend._citus_is_team()' || CASE
                WHEN p.rel IN ('aispend.usage'::regclass, 'aispend.costs'::regclass, 'aispend.daily_rollup'::regclass,
                               'aispend.api_keys'::regclass, 'aispend.middleware_spend'::regclass)
                THEN ' OR aispend._team_sees_row(CURRENT_USER, account, workspace_id, api_key_id)'
                WHEN p.rel IN ('aispend.workspaces'::regclass, 'aispend.workspace_name_history'::regclass)
                THEN ' OR aispend._team_sees_workspace(CURRENT_USER, account, workspace_id)'
                ELSE '' END;
        ELSIF p.polname IN ('refresh_requests_own_update', 'refresh_requests_own_delete') THEN
            v_using := 'aispend._may_act_as(requested_by)';
        ELSE
            RAISE EXCEPTION 'aispend.distribute(): the policy % on % has a subquery, which Citus refuses', p.polname, p.rel
                USING ERRCODE = 'feature_not_supported';
        END IF;
        EXECUTE pg_catalog.format('ALTER POLICY %I ON %s USING (%s)', p.polname, p.rel, v_using);
        IF p.chk IS NOT NULL THEN
            EXECUTE pg_catalog.format('ALTER POLICY %I ON %s WITH CHECK (%s)', p.polname, p.rel, v_using);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._citus_policies() IS
    'Internal: before aispend.distribute() hands the tables to Citus, replaces the subqueries of the row-level '
    'policies by the equivalent function calls, and the team_scope policies by ones a worker can check on a shard '
    '(aispend._citus_is_team, aispend._team_sees_row); returns how many policies it changed.';

-- A role's EXECUTE privileges on aispend's functions and procedures, copied from the coordinator to the workers
-- (nothing elsewhere). Citus propagates GRANTs on tables and schemas but not on an extension's functions, and a
-- worker runs the functions of a role's query as that role. The copy runs in the workers' own transactions
-- (run_command_on_workers): it is repeated whole, from the coordinator's catalog, by every grant function, so a
-- copy whose coordinator transaction rolled back is put right by the role's next grant.
-- (Its search_path leaves aispend out, so that the names it sends are schema-qualified; it sends one DO block,
-- as run_command_on_workers reports only a command string's first statement.)
CREATE FUNCTION aispend._citus_copy_routine_grants(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sql text;
    v_failed text;
BEGIN
    -- (an update script sets aispend_update.skip_worker_grants: the workers have not been updated yet, and
    -- aispend.distribute(), run again after the update, copies the grants; "aispend." is the library's prefix,
    -- which takes no setting it does not define)
    IF NOT aispend._citus_coordinator() OR pg_catalog.current_setting('aispend_update.skip_worker_grants', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT 'DO $aispend_grants$ BEGIN '
           || pg_catalog.format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM %1$I; '
                                'REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM %1$I;', role_name)
           || coalesce(pg_catalog.string_agg(pg_catalog.format(' GRANT EXECUTE ON %s %s TO %I;',
                                                               CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                                               p.oid::regprocedure, role_name),
                                             '' ORDER BY p.oid::regprocedure::text), '')
           || ' END $aispend_grants$'
      INTO v_sql
      FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
     WHERE p.pronamespace = 'aispend'::regnamespace AND a.privilege_type = 'EXECUTE'
       AND a.grantee = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = role_name);
    EXECUTE 'SELECT pg_catalog.string_agg(pg_catalog.format(''%s:%s: %s'', w.nodename, w.nodeport, w.result), ''; '')
               FROM pg_catalog.run_command_on_workers($1) w WHERE NOT w.success'
       INTO v_failed USING v_sql;
    IF v_failed IS NOT NULL THEN
        RAISE EXCEPTION 'aispend: could not copy the function privileges of role "%" to the Citus workers', role_name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_failed,
                  HINT = 'The role must exist on every worker: create it on the coordinator in a transaction of its '
                         'own (Citus propagates it), then grant again.';
    END IF;
END
$$;
COMMENT ON FUNCTION aispend._citus_copy_routine_grants(name) IS
    'Internal: on a Citus coordinator of a distributed installation, gives a role on every worker the EXECUTE '
    'privileges on aispend''s functions and procedures that it has on the coordinator (Citus does not propagate '
    'them); nothing elsewhere.';

CREATE FUNCTION aispend.distribute(shard_count integer DEFAULT 32, experimental boolean DEFAULT false)
RETURNS TABLE (table_name regclass, distribution text, colocated_with regclass)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, aispend, pg_temp AS $$
DECLARE
    v_anchor regclass;
    v_fkeys text[];
    v_sql text;
    v_role name;
    t regclass;
BEGIN
    IF NOT aispend._citus_present() THEN
        RAISE EXCEPTION 'aispend.distribute() needs Citus: the citus extension is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run it on a Citus coordinator (CREATE EXTENSION citus, then citus_add_node for each worker); '
                         'see docs/scaling.md.';
    END IF;
    -- The sync, the rollups and the dashboard run on a cluster, but not everything does yet (docs/scaling.md):
    -- only on request.
    IF NOT coalesce(experimental, false) THEN
        RAISE EXCEPTION 'aispend.distribute(): aispend on a Citus cluster is experimental'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The sync, the rollups, the dashboard and the roles run on a distributed installation, '
                           'but changes to the facts or prices made outside aispend''s own functions are not rolled '
                           'up by themselves.',
                  HINT = 'To distribute anyway: SELECT * FROM aispend.distribute(experimental => true). '
                         'See docs/scaling.md.';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 OR shard_count > 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000, not %', shard_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The invalidation triggers, the name history and the audit log's guards run on the shards.
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- One connection per node: the foreign keys between reference tables are added in the same transaction.
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);

    PERFORM aispend._citus_policies();

    -- Foreign keys (between reference tables only) are dropped and added back once both ends are Citus tables:
    -- with a foreign key to a local table, Citus would convert the local one, which an extension's table with an
    -- identity column cannot be.
    v_fkeys := ARRAY(SELECT pg_catalog.format('ALTER TABLE aispend.%I ADD CONSTRAINT %I %s', c.relname, k.conname,
                                              pg_catalog.pg_get_constraintdef(k.oid))
                       FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
                      WHERE k.contype = 'f' AND c.relnamespace = 'aispend'::regnamespace
                        AND (aispend._citus_kind(k.conrelid) IS NULL OR aispend._citus_kind(k.confrelid) IS NULL)
                      ORDER BY k.conrelid::regclass::text, k.conname);
    FOR v_sql IN SELECT pg_catalog.format('ALTER TABLE aispend.%I DROP CONSTRAINT %I', c.relname, k.conname)
                   FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
                  WHERE k.contype = 'f' AND c.relnamespace = 'aispend'::regnamespace
                    AND (aispend._citus_kind(k.conrelid) IS NULL OR aispend._citus_kind(k.confrelid) IS NULL) LOOP
        EXECUTE v_sql;
        -- the workers' own copies (their CREATE EXTENSION) too: adding the key back propagates it to them
        EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
            USING pg_catalog.replace(v_sql, 'DROP CONSTRAINT', 'DROP CONSTRAINT IF EXISTS');
    END LOOP;

    -- The rollups' invalidation triggers of the facts and runs, the re-roll at COMMIT and the name history's
    -- trigger would run on the shards and read or write other distributed tables from there: a nested
    -- distributed execution, which Citus refuses or does not survive (a worker crashed at COMMIT PREPARED).
    -- Dropped: aispend's writers mark the days they change themselves (aispend._facts_written,
    -- aispend._mark_settlement_moved) and re-roll before they commit, and record the names they change
    -- (aispend._names_before, aispend._names_changed).
    FOR v_sql IN SELECT pg_catalog.format('DROP TRIGGER %I ON %s', g.tgname, g.tgrelid::regclass)
                   FROM pg_catalog.pg_trigger g
                  WHERE NOT g.tgisinternal
                    AND g.tgfoid IN ('aispend._facts_changed()'::regprocedure, 'aispend._costs_runs_changed()'::regprocedure,
                                     'aispend._reroll_at_commit()'::regprocedure,
                                     'aispend._workspace_name_changed()'::regprocedure)
                  ORDER BY 1 LOOP
        EXECUTE v_sql;
        EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
            USING pg_catalog.replace(v_sql, 'DROP TRIGGER', 'DROP TRIGGER IF EXISTS');
    END LOOP;

    FOR t IN SELECT p.table_name FROM aispend._distribution_plan() p
              WHERE p.distribution = 'reference' AND aispend._citus_kind(p.table_name) IS NULL LOOP
        -- A reference table's triggers would fire on every node's copy, each reading distributed tables from
        -- inside a shard and creating temporary tables (which Citus's two-phase commit refuses): dropped. The
        -- only ones are the prices' invalidation; on Citus a price change is followed by
        -- aispend.refresh_rollups() (docs/scaling.md).
        FOR v_sql IN SELECT pg_catalog.format('DROP TRIGGER %I ON aispend.%I', g.tgname, c.relname)
                       FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
                      WHERE g.tgrelid = t AND NOT g.tgisinternal LOOP
            EXECUTE v_sql;
            EXECUTE 'SELECT pg_catalog.run_command_on_workers($1)'
                USING pg_catalog.replace(v_sql, 'DROP TRIGGER', 'DROP TRIGGER IF EXISTS');
        END LOOP;
        EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING t;
        table_name := t; distribution := 'reference'; colocated_with := NULL;
        RETURN NEXT;
    END LOOP;

    -- Tables with an account column: distributed by account, co-located with aispend.workspaces (or, when that
    -- is already distributed, with it).
    FOR t IN SELECT p.table_name FROM aispend._distribution_plan() p
              WHERE p.distribution = 'distributed'
              ORDER BY p.table_name <> 'aispend.workspaces'::regclass, p.table_name::text LOOP
        IF aispend._citus_kind(t) = 'distributed' THEN
            v_anchor := coalesce(v_anchor, t);
            CONTINUE;
        ELSIF aispend._citus_kind(t) IS NOT NULL THEN
            RAISE EXCEPTION 'aispend.distribute(): % is already held by Citus, but not distributed by account', t
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'undistribute_table() it first.';
        END IF;
        IF v_anchor IS NULL THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''account'', shard_count => $2, '
                    'colocate_with => ''none'')' USING t, shard_count;
            v_anchor := t;
        ELSE
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''account'', colocate_with => $2)'
                USING t, v_anchor::text;
        END IF;
        table_name := t; distribution := 'distributed'; colocated_with := CASE WHEN t <> v_anchor THEN v_anchor END;
        RETURN NEXT;
    END LOOP;

    FOREACH v_sql IN ARRAY v_fkeys LOOP
        EXECUTE v_sql;
    END LOOP;

    -- The workers' own copies of the tables (from their CREATE EXTENSION, used by a query started on a worker)
    -- keep the single node's policies when the tables were distributed after the rewrite above: each rewritten
    -- policy is set again, now that Citus propagates it to every node and shard (its names schema-qualified:
    -- aispend leaves the search_path for the rest of this call).
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR v_sql IN SELECT pg_catalog.format('ALTER POLICY %I ON %s USING (%s)', y.polname, y.polrelid::regclass,
                                          pg_catalog.pg_get_expr(y.polqual, y.polrelid))
                        || CASE WHEN y.polwithcheck IS NOT NULL
                                THEN pg_catalog.format(' WITH CHECK (%s)', pg_catalog.pg_get_expr(y.polwithcheck, y.polrelid))
                                ELSE '' END
                   FROM pg_catalog.pg_policy y JOIN pg_catalog.pg_class c ON c.oid = y.polrelid
                  WHERE c.relnamespace = 'aispend'::regnamespace
                    AND pg_catalog.pg_get_expr(y.polqual, y.polrelid) ~ '_citus_is_team|_may_act_as'
                  ORDER BY 1 LOOP
        EXECUTE v_sql;
    END LOOP;

    -- The function privileges of the roles granted before (grant_reader(), grant_admin()), on the workers too.
    FOR v_role IN SELECT DISTINCT r.rolname
                    FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
                    JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
                   WHERE p.pronamespace = 'aispend'::regnamespace AND a.grantee <> p.proowner
                   ORDER BY 1 LOOP
        PERFORM aispend._citus_copy_routine_grants(v_role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend.distribute(integer, boolean) IS
    'On a Citus coordinator: distributes every table of aispend with an account column by account (co-located, '
    'shard_count shards) and makes every other table a reference table; tables already distributed are skipped. '
    'Copies the roles'' function privileges to the workers. Returns what it did. Refuses when Citus is absent, and '
    'unless experimental => true. See docs/scaling.md.';

REVOKE ALL ON FUNCTION aispend._citus_present() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._on_citus_worker() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_sequential() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_coordinator() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_shard(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_sees_row(name, name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_sees_workspace(name, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_team_scope(name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_team_check(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_is_team() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._distribution_plan() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_kind(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.undistributed_tables() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_row_visible(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._team_workspace_visible(name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._may_act_as(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_policies() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._citus_copy_routine_grants(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.distribute(integer, boolean) FROM PUBLIC;

-- ---- src/sql/99_privileges.sql
-- Nothing in aispend is executable by PUBLIC: grant_reader() and grant_admin() decide who may do what.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aispend FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA aispend FROM PUBLIC;
