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
