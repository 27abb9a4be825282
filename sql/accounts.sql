-- Accounts are foreign servers of the aispend wrapper; admin keys live in user mappings.
-- Every rejected option shows its message, hint and SQLSTATE; no secret is ever echoed.
CREATE EXTENSION aispend;
SELECT aispend.library_version() = extversion AS library_matches_extension
  FROM pg_extension WHERE extname = 'aispend';

-- valid servers: every option, with its range limits
CREATE SERVER acme_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
CREATE SERVER acme_anthropic FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'anthropic', base_url 'https://api.anthropic.com', backfill_days '3650', resync_days '0', page_buckets '180',
             bucket_width '1h', timeout_ms '100', max_retries '20');
CREATE SERVER local_mock FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://127.0.0.1:8080/');
CREATE SERVER local_mock6 FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic', base_url 'http://[::1]:8080');
ALTER SERVER acme_openai OPTIONS (ADD backfill_days '1', ADD resync_days '365', ADD timeout_ms '600000', ADD max_retries '0');
ALTER SERVER acme_openai OPTIONS (SET backfill_days '30');

-- rejected server options
CREATE SERVER bad FOREIGN DATA WRAPPER aispend;
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'gemini');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', colour 'blue');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://api.openai.com');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://10.0.0.5:8080');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'ftp://127.0.0.1/');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'https://user:pw@api.openai.com');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', backfill_days 'ninety');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', backfill_days '0');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', backfill_days '3651');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', resync_days '-1');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', bucket_width '1m');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', timeout_ms '99');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', max_retries '21');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', max_retries '2.5');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', page_buckets '0');
\echo :LAST_ERROR_SQLSTATE
-- a key on the server would be readable by every role: refused, and its value is not echoed
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', admin_key 'sk-admin-SECRET-VALUE');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER bad FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', admin_key_env 'OPENAI_ADMIN_KEY');
\echo :LAST_ERROR_SQLSTATE
ALTER SERVER acme_openai OPTIONS (DROP provider);
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN DATA WRAPPER aispend OPTIONS (ADD provider 'openai');
\echo :LAST_ERROR_SQLSTATE
CREATE FOREIGN TABLE nope (a int) SERVER acme_openai;
\echo :LAST_ERROR_SQLSTATE

-- user mappings: exactly one of admin_key and admin_key_env
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key 'sk-admin-SECRET-VALUE', admin_key_env 'AISPEND_ADMIN_KEY_K');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai;
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key '');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key_env '1BAD');
\echo :LAST_ERROR_SQLSTATE
-- only variables with the documented prefix, and the value is never echoed (a key typed there by mistake)
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key_env 'PATH');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key_env 'sk-admin-SECRET-VALUE');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (api_key 'sk-admin-SECRET-VALUE');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (admin_key 'sk-admin-SECRET-VALUE');
CREATE USER MAPPING FOR PUBLIC SERVER acme_anthropic OPTIONS (admin_key_env 'AISPEND_ADMIN_KEY_REGRESS_UNSET');
ALTER USER MAPPING FOR CURRENT_USER SERVER acme_openai OPTIONS (ADD admin_key_env 'AISPEND_ADMIN_KEY_K');
\echo :LAST_ERROR_SQLSTATE

-- the accounts view: where each key comes from, never the key
SELECT account, provider, base_url, has_key, key_source FROM aispend.accounts ORDER BY account;
SELECT count(*) AS views_showing_the_key FROM aispend.accounts WHERE options::text LIKE '%SECRET%';

-- a mapping that names an unset environment variable is reported when a sync needs the key
SELECT * FROM aispend._fetch_workspaces('acme_anthropic');
\echo :LAST_ERROR_SQLSTATE
-- no mapping at all
SELECT * FROM aispend._fetch_workspaces('local_mock');
\echo :LAST_ERROR_SQLSTATE
-- no such account
SELECT * FROM aispend._fetch_workspaces('nobody');
\echo :LAST_ERROR_SQLSTATE

-- the extension drops with its accounts and comes back clean
DROP EXTENSION aispend;
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION aispend CASCADE;
CREATE EXTENSION aispend;
SELECT count(*) AS accounts_after_recreate FROM aispend.accounts;
DROP EXTENSION aispend;
