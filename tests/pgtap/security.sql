-- Roles and secrets: the admin role manages accounts; the BI reader sees dashboard objects only, never a key.
BEGIN;
SELECT plan(22);

CREATE ROLE aispend_t_admin NOLOGIN;
CREATE ROLE aispend_t_reader NOLOGIN;
CREATE ROLE aispend_t_stranger NOLOGIN;
SELECT aispend.grant_admin('aispend_t_admin');
SELECT aispend.grant_reader('aispend_t_reader');
CREATE SERVER t_sec_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai', base_url 'http://127.0.0.1:9/');
GRANT USAGE ON FOREIGN SERVER t_sec_openai TO aispend_t_admin;

-- the admin manages accounts and its own key
SET ROLE aispend_t_admin;
SELECT lives_ok($$CREATE SERVER t_sec_anthropic FOREIGN DATA WRAPPER aispend OPTIONS (provider 'anthropic')$$,
                'the admin role can create an account');
SELECT lives_ok($$CREATE USER MAPPING FOR CURRENT_USER SERVER t_sec_openai OPTIONS (admin_key 'sk-admin-t-SECRET')$$,
                'the admin role can store its admin key in a user mapping');
SELECT is((SELECT umoptions FROM pg_user_mappings WHERE srvname = 't_sec_openai' AND usename = 'aispend_t_admin'),
          ARRAY['admin_key=sk-admin-t-SECRET'], 'the key''s owner can read its own mapping (PostgreSQL rule)');
SELECT is((SELECT has_key FROM aispend.accounts WHERE account = 't_sec_openai'), true,
          'accounts shows that the admin has a key');
SELECT is((SELECT key_source FROM aispend.accounts WHERE account = 't_sec_openai'), 'user mapping',
          'accounts says where the key comes from');
SELECT is((SELECT count(*)::int FROM aispend.accounts AS a WHERE a::text LIKE '%SECRET%'), 0,
          'no column of accounts shows the key');
SELECT ok(has_function_privilege('aispend._fetch_usage(name,timestamptz,timestamptz,text)', 'EXECUTE'),
          'the admin may fetch (sync)');
RESET ROLE;

-- the reader: dashboard objects only
SET ROLE aispend_t_reader;
SELECT is((SELECT umoptions FROM pg_user_mappings WHERE srvname = 't_sec_openai' AND usename = 'aispend_t_admin'),
          NULL, 'another role sees NULL options in pg_user_mappings');
SELECT throws_ok($$SELECT * FROM pg_user_mapping$$, '42501', NULL, 'the reader cannot read pg_user_mapping');
SELECT throws_ok($$SELECT * FROM aispend.accounts$$, '42501', NULL, 'the reader cannot read the accounts view');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('t_sec_openai')$$, '42501', NULL,
                 'the reader cannot fetch from a provider');
SELECT throws_ok($$SELECT aispend._key_status(oid) FROM pg_foreign_server$$, '42501', NULL,
                 'the reader cannot ask where keys come from');
SELECT throws_ok($$SELECT aispend.grant_admin('aispend_t_reader')$$, '42501', NULL,
                 'the reader cannot grant itself admin');
SELECT throws_ok($$CREATE SERVER t_sec_x FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai')$$, '42501', NULL,
                 'the reader cannot create accounts');
SELECT is(aispend.library_version(), (SELECT extversion FROM pg_extension WHERE extname = 'aispend'),
          'the reader may call read-only functions');
SELECT is((SELECT count(*)::int FROM pg_proc AS p
            WHERE p.pronamespace = 'aispend'::regnamespace AND p.provolatile = 'v'
              AND has_function_privilege(p.oid, 'EXECUTE')), 0,
          'the reader can execute no function that changes anything');
RESET ROLE;

-- a role with no grant sees nothing at all
SET ROLE aispend_t_stranger;
SELECT throws_ok($$SELECT aispend.library_version()$$, '42501', NULL, 'a stranger cannot use the schema');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('t_sec_openai')$$, '42501', NULL,
                 'a stranger cannot fetch');
RESET ROLE;

-- PUBLIC has nothing executable in aispend
SELECT is((SELECT count(*)::int FROM pg_proc AS p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
            WHERE p.pronamespace = 'aispend'::regnamespace AND a.grantee = 0), 0,
          'no aispend function is executable by PUBLIC');
-- no table or view of aispend has a column that could hold a key
SELECT is((SELECT count(*)::int FROM information_schema.columns
            WHERE table_schema = 'aispend' AND column_name ~* '(admin_key|secret|password)'), 0,
          'no aispend column is meant to hold a secret');

SELECT lives_ok($$SELECT aispend.revoke_all('aispend_t_reader')$$, 'revoke_all takes the reader''s grants back');
SET ROLE aispend_t_reader;
SELECT throws_ok($$SELECT aispend.library_version()$$, '42501', NULL, 'after revoke_all the reader sees nothing');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
