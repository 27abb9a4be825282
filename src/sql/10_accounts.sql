-- Accounts: the aispend foreign servers, as a view that never shows a key.

CREATE VIEW aispend.accounts AS
SELECT s.srvname::text AS account,
       (SELECT split_part(o, '=', 2) FROM pg_catalog.unnest(s.srvoptions) AS o
         WHERE o LIKE 'provider=%') AS provider,
       COALESCE((SELECT substr(o, length('base_url=') + 1) FROM pg_catalog.unnest(s.srvoptions) AS o
                  WHERE o LIKE 'base_url=%'), '(provider default)') AS base_url,
       s.srvoptions::text[] AS options,
       k.has_key,
       k.key_source,
       pg_catalog.pg_get_userbyid(s.srvowner)::text AS owner
  FROM pg_catalog.pg_foreign_server AS s
  JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid OPERATOR(pg_catalog.=) s.srvfdw
 CROSS JOIN LATERAL aispend._key_status(s.oid) AS k
 WHERE w.fdwname OPERATOR(pg_catalog.=) 'aispend';

COMMENT ON VIEW aispend.accounts IS 'Provider accounts (aispend foreign servers): provider, base URL, options, and whether the current role has an admin key for each; never the key';
COMMENT ON COLUMN aispend.accounts.account IS 'Server name; pass it to aispend.sync()';
COMMENT ON COLUMN aispend.accounts.provider IS 'openai or anthropic';
COMMENT ON COLUMN aispend.accounts.base_url IS 'API base URL, or (provider default)';
COMMENT ON COLUMN aispend.accounts.options IS 'All server options (server options never hold secrets)';
COMMENT ON COLUMN aispend.accounts.has_key IS 'Whether a sync run by the current role would find an admin key (NULL: the role has no USAGE on the server)';
COMMENT ON COLUMN aispend.accounts.key_source IS 'Where that key comes from: user mapping, PUBLIC user mapping, or an environment variable (its name only, and whether it is set)';
COMMENT ON COLUMN aispend.accounts.owner IS 'Role that owns the server';
