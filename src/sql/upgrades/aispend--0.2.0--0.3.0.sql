-- aispend 0.2.0 -> 0.3.0 (docs/upgrading.md). Frozen once released: never edit it after; a later change ships
-- in aispend--0.3.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.3.0'" to load this file. \quit
