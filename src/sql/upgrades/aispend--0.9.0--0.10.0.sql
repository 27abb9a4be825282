-- aispend 0.9.0 -> 0.10.0: changes made by hand on a Citus cluster rolled up as on a single node
-- (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.10.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.10.0'" to load this file. \quit
