-- The exception boundary: every kind of C++ failure becomes a clean SQL error and the session goes on.
CREATE EXTENSION aispend;
SELECT aispend._boundary_selftest('std');
\echo :LAST_ERROR_SQLSTATE
SELECT aispend._boundary_selftest('unknown');
\echo :LAST_ERROR_SQLSTATE
SELECT aispend._boundary_selftest('bad_alloc');
\echo :LAST_ERROR_SQLSTATE
SELECT aispend._boundary_selftest('sql');
\echo :LAST_ERROR_SQLSTATE
SELECT aispend._boundary_selftest('provider');
\echo :LAST_ERROR_SQLSTATE
-- a PostgreSQL error raised while C++ objects are alive keeps its own SQLSTATE (22P02)
SELECT aispend._boundary_selftest('pg');
\echo :LAST_ERROR_SQLSTATE
-- inside a transaction, a savepoint rolls back cleanly after each failure
BEGIN;
SAVEPOINT s;
SELECT aispend._boundary_selftest('std');
ROLLBACK TO SAVEPOINT s;
SELECT aispend._boundary_selftest('pg');
ROLLBACK TO SAVEPOINT s;
SELECT aispend._boundary_selftest('fine');
COMMIT;
-- the backend survived every one of them
SELECT aispend._boundary_selftest('still alive');
DROP EXTENSION aispend;
