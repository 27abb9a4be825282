-- aispend 0.6.0 -> 0.7.0: the dashboard on a Citus cluster (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.7.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.7.0'" to load this file. \quit
