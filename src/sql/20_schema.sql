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
