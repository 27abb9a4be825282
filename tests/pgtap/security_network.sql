-- Where aispend may connect (issue 11, findings 3 and 15): a superuser's allow-list of provider hosts, checked
-- when a base_url is set and before every request; loopback only with aispend.allow_loopback (on in the test
-- cluster, for the mock providers); errors that do not tell what answered.
-- pg_prove --set mock_url=http://127.0.0.1:PORT
BEGIN;
SELECT plan(14);

CREATE ROLE aispend_n_admin NOLOGIN;
SELECT aispend.grant_admin('aispend_n_admin');

-- finding 3: any https host and port was accepted (link-local, private ranges, internal names)
SELECT throws_ok($$CREATE SERVER aispend_n_meta FOREIGN DATA WRAPPER aispend
                   OPTIONS (provider 'openai', base_url 'https://169.254.169.254/latest')$$,
                 '22023', 'invalid base_url: host 169.254.169.254 is not in aispend.allowed_hosts',
                 'a link-local metadata address is refused');
SELECT throws_ok($$CREATE SERVER aispend_n_lan FOREIGN DATA WRAPPER aispend
                   OPTIONS (provider 'openai', base_url 'https://10.0.0.5:8443')$$,
                 '22023', 'invalid base_url: host 10.0.0.5:8443 is not in aispend.allowed_hosts',
                 'a private address is refused');
SELECT throws_ok($$CREATE SERVER aispend_n_port FOREIGN DATA WRAPPER aispend
                   OPTIONS (provider 'openai', base_url 'https://api.openai.com:22')$$,
                 '22023', 'invalid base_url: host api.openai.com:22 is not in aispend.allowed_hosts',
                 'another port of a provider host is refused');
SELECT lives_ok($$CREATE SERVER aispend_n_ok FOREIGN DATA WRAPPER aispend
                  OPTIONS (provider 'anthropic', base_url 'https://api.anthropic.com/')$$,
                'the providers'' own hosts are allowed by default');
-- finding 15: base_url had no length limit
SELECT throws_ok(format($$CREATE SERVER aispend_n_long FOREIGN DATA WRAPPER aispend
                          OPTIONS (provider 'openai', base_url 'https://api.openai.com/%s')$$, repeat('a', 600)),
                 '22023', 'invalid base_url: the URL is longer than 512 characters', 'base_url is at most 512 characters');

-- loopback: allowed while the setting is on, refused at ALTER SERVER time and at request time when it is off
CREATE SERVER aispend_n_mock FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'mock_url', max_retries '0', timeout_ms '2000');
CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_n_mock OPTIONS (admin_key 'sk-admin-test-openai');
SELECT is((SELECT count(*)::int FROM aispend._fetch_workspaces('aispend_n_mock')), 3, 'loopback works while allowed');
SET aispend.allow_loopback = off;
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_n_mock')$$, '22023',
                 'aispend account "aispend_n_mock": openai GET ' || rtrim(:'mock_url', '/') || '/v1/organization/projects: bad configuration: refused to connect: loopback addresses are allowed only when a superuser sets aispend.allow_loopback',
                 'an account made while loopback was allowed is refused at request time once it is not');
SELECT throws_ok($$ALTER SERVER aispend_n_mock OPTIONS (SET timeout_ms '3000')$$, '22023',
                 'invalid base_url: loopback addresses are allowed only when a superuser sets aispend.allow_loopback',
                 'and refused when the server is altered');
RESET aispend.allow_loopback;
CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_n_ok OPTIONS (admin_key 'sk-ant-admin01-test');
SET aispend.allowed_hosts = 'api.openai.com';
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_n_ok')$$, '22023',
                 'aispend account "aispend_n_ok": anthropic GET https://api.anthropic.com/v1/organizations/workspaces: bad configuration: refused to connect: host api.anthropic.com is not in aispend.allowed_hosts',
                 'the allow-list also governs accounts that were allowed when they were made');
RESET aispend.allowed_hosts;

-- only a superuser changes where aispend may connect
SET ROLE aispend_n_admin;
SELECT throws_ok($$SET aispend.allowed_hosts = '*.example.com'$$, '42501', NULL, 'an admin cannot widen the allow-list');
SELECT throws_ok($$SET aispend.allow_loopback = on$$, '42501', NULL, 'an admin cannot allow loopback');
RESET ROLE;

-- a closed port and an open listener that is not TLS give the same error (no port scanning through errors)
CREATE SERVER aispend_n_closed FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url 'https://127.0.0.1:1', max_retries '0', timeout_ms '2000');
CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_n_closed OPTIONS (admin_key 'sk-admin-test-openai');
SELECT replace(:'mock_url', 'http://', 'https://') AS tls_url \gset
CREATE SERVER aispend_n_open FOREIGN DATA WRAPPER aispend
    OPTIONS (provider 'openai', base_url :'tls_url', max_retries '0', timeout_ms '2000');
CREATE USER MAPPING FOR CURRENT_USER SERVER aispend_n_open OPTIONS (admin_key 'sk-admin-test-openai');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_n_closed')$$, 'AS004',
                 'aispend account "aispend_n_closed": openai GET https://127.0.0.1:1/v1/organization/projects: connection failed (after 0 retries)',
                 'a closed port: a generic connection failure');
SELECT throws_ok($$SELECT * FROM aispend._fetch_workspaces('aispend_n_open')$$, 'AS004',
                 'aispend account "aispend_n_open": openai GET ' || rtrim(:'tls_url', '/') || '/v1/organization/projects: connection failed (after 0 retries)',
                 'an open port that does not speak TLS: the very same failure (but for the URL)');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name = 'aispend.allowed_hosts'
             AND boot_val = 'api.openai.com, api.anthropic.com, openrouter.ai'), 1,
          'the default allow-list is the providers'' API hosts');

SELECT * FROM finish();
ROLLBACK;
