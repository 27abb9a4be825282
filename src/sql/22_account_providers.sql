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
