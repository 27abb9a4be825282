-- Keys from the server's environment (issue 11, findings 1 and 10): only AISPEND_ADMIN_KEY_* variables, the
-- fallback variable maps the server's name exactly, and only roles a superuser allows (aispend.env_key_roles)
-- may use them, for accounts whose owner is allowed too. The test cluster's environment holds
-- AISPEND_ADMIN_KEY_aispend_env_openai = the mock's OpenAI key (scripts/lib.sh start_cluster).
-- pg_prove --set mock_url=http://127.0.0.1:PORT
BEGIN;
SELECT plan(20);

CREATE ROLE aispend_k_admin NOLOGIN;
SELECT aispend.grant_admin('aispend_k_admin');
GRANT CREATE ON SCHEMA public TO aispend_k_admin;

-- finding 1: any variable of the server could be named and sent where the account points
SELECT throws_ok($$CREATE SERVER aispend_k_path FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
                   CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_k_path OPTIONS (admin_key_env 'PATH')$$,
                 '22023', 'invalid admin_key_env: not an environment variable name starting with AISPEND_ADMIN_KEY_',
                 'admin_key_env must name an AISPEND_ADMIN_KEY_ variable: PATH is refused');
-- finding 10: a key typed into admin_key_env by mistake is not echoed
SELECT throws_ok($$CREATE SERVER aispend_k_typo FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
                   CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_k_typo
                       OPTIONS (admin_key_env 'sk-admin-Zq81xLmP0aQw73NbVcXe')$$,
                 '22023', 'invalid admin_key_env: not an environment variable name starting with AISPEND_ADMIN_KEY_',
                 'a key typed into admin_key_env is refused without being echoed');

-- the fallback variable maps the server name exactly: aispend_env_openai finds it, other spellings do not
CREATE SERVER aispend_env_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER "Aispend_Env_Openai" FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
CREATE SERVER "AISPEND_ENV_OPENAI" FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
SELECT is((SELECT ROW(has_key, key_source)::text FROM aispend.accounts WHERE account = 'aispend_env_openai'),
          '(t,"environment AISPEND_ADMIN_KEY_aispend_env_openai")',
          'the fallback variable is AISPEND_ADMIN_KEY_ + the server name, case kept');
SELECT is((SELECT count(*)::int FROM aispend._fetch_workspaces('aispend_env_openai')), 3,
          'a superuser syncs with the key from the environment');
SELECT is((SELECT array_agg(ROW(account, has_key, key_source)::text ORDER BY account) FROM aispend.accounts
            WHERE account IN ('Aispend_Env_Openai', 'AISPEND_ENV_OPENAI')),
          ARRAY['(AISPEND_ENV_OPENAI,f,)', '(Aispend_Env_Openai,f,)'],
          'servers whose names differ only in case do not collect that key');

-- roles: an aispend admin that is not allowed never gets environment keys, and is not told what is set
GRANT USAGE ON FOREIGN SERVER aispend_env_openai TO aispend_k_admin;
CREATE SERVER aispend_k_unset FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url :'mock_url');
GRANT USAGE ON FOREIGN SERVER aispend_k_unset TO aispend_k_admin;
CREATE USER MAPPING FOR aispend_k_admin SERVER aispend_env_openai
    OPTIONS (admin_key_env 'AISPEND_ADMIN_KEY_aispend_env_openai');
CREATE USER MAPPING FOR aispend_k_admin SERVER aispend_k_unset OPTIONS (admin_key_env 'AISPEND_ADMIN_KEY_nothing_here');
SET ROLE aispend_k_admin;
SELECT is((SELECT array_agg(ROW(account, has_key, key_source)::text ORDER BY account) FROM aispend.accounts
            WHERE account IN ('aispend_env_openai', 'aispend_k_unset')),
          ARRAY['(aispend_env_openai,f,"user mapping (environment AISPEND_ADMIN_KEY_aispend_env_openai, not allowed by aispend.env_key_roles)")',
                '(aispend_k_unset,f,"user mapping (environment AISPEND_ADMIN_KEY_nothing_here, not allowed by aispend.env_key_roles)")'],
          'a role not allowed: no key, and key_source is the same whether the variable is set or not');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_env_openai')$$, '42501',
                 'aispend account "aispend_env_openai": user mapping names an environment variable, and environment keys are not allowed here',
                 'a sync by a role not allowed fails with 42501');
SELECT throws_ok($$CREATE SERVER aispend_k_evil FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://127.0.0.1:9');
                   CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_k_evil
                       OPTIONS (admin_key_env 'AISPEND_ADMIN_KEY_aispend_env_openai')$$,
                 '42501', 'permission denied to read admin keys from the server''s environment',
                 'a role not allowed cannot name an environment variable in a mapping');
SELECT throws_ok($$SET aispend.env_key_roles = 'aispend_k_admin'$$, '42501', NULL,
                 'only a superuser can change aispend.env_key_roles');
-- the hostile admin's own account (it owns it, so it may write a mapping for the superuser) gets no key either
SELECT lives_ok($$CREATE SERVER aispend_k_evil FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://127.0.0.1:9');
                  CREATE USER MAPPING FOR postgres SERVER aispend_k_evil OPTIONS (admin_key 'placeholder-for-the-test')$$,
                'the admin owns an account and writes a mapping for the superuser');
RESET ROLE;
SELECT is((SELECT has_key FROM aispend.accounts WHERE account = 'aispend_k_evil'), true,
          'the superuser sees the mapping the admin wrote');
ALTER USER MAPPING FOR postgres SERVER aispend_k_evil
    OPTIONS (DROP admin_key, ADD admin_key_env 'AISPEND_ADMIN_KEY_aispend_env_openai');
SELECT is((SELECT ROW(has_key, key_source)::text FROM aispend.accounts WHERE account = 'aispend_k_evil'),
          '(f,"user mapping (environment AISPEND_ADMIN_KEY_aispend_env_openai, not allowed by aispend.env_key_roles)")',
          'an account whose owner is not allowed never reads the environment, even for a superuser');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_k_evil')$$, '42501', NULL,
                 'so a superuser''s sync sends no environment key to an account a non-allowed role points');
ALTER USER MAPPING FOR postgres SERVER aispend_k_evil OPTIONS (DROP admin_key_env, ADD admin_key 'x');

-- a superuser allows the admin role: its own syncs may use environment keys of accounts with allowed owners
SET aispend.env_key_roles = 'aispend_k_admin';
SET ROLE aispend_k_admin;
SELECT is((SELECT ROW(has_key, key_source)::text FROM aispend.accounts WHERE account = 'aispend_env_openai'),
          '(t,"user mapping (environment AISPEND_ADMIN_KEY_aispend_env_openai)")',
          'an allowed role reads its mapping''s variable');
SELECT is((SELECT ROW(has_key, key_source)::text FROM aispend.accounts WHERE account = 'aispend_k_unset'),
          '(f,"user mapping (environment AISPEND_ADMIN_KEY_nothing_here, not set)")',
          'and is told when it is not set');
SELECT is((SELECT count(*)::int FROM aispend._fetch_workspaces('aispend_env_openai')), 3,
          'an allowed role syncs with the environment key');
SELECT lives_ok($$CREATE SERVER aispend_k_own FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://127.0.0.1:9');
                  CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_k_own
                      OPTIONS (admin_key_env 'AISPEND_ADMIN_KEY_aispend_env_openai')$$,
                'an allowed role may name an environment variable');
RESET ROLE;
-- membership counts: a role granted the allowed role is allowed too
CREATE ROLE aispend_k_member NOLOGIN IN ROLE aispend_k_admin;
SET ROLE aispend_k_member;
SELECT is((SELECT ROW(has_key, key_source)::text FROM aispend.accounts WHERE account = 'aispend_env_openai'),
          '(t,"environment AISPEND_ADMIN_KEY_aispend_env_openai")',
          'a member of an allowed role is allowed: with no mapping of its own it gets the fallback variable');
RESET ROLE;
SET aispend.env_key_roles = '';
SET ROLE aispend_k_admin;
SELECT is((SELECT has_key FROM aispend.accounts WHERE account = 'aispend_env_openai'), false,
          'taking the role out of aispend.env_key_roles takes the key away at once');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name IN ('aispend.env_key_roles', 'aispend.allowed_hosts',
           'aispend.allow_loopback', 'aispend.max_parse_mb') AND context = 'superuser'), 4,
          'the security settings are superuser-only');

SELECT * FROM finish();
ROLLBACK;
