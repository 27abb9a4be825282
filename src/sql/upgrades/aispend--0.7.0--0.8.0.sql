-- aispend 0.7.0 -> 0.8.0: teams on a Citus cluster and a faster API keys tab (docs/upgrading.md, docs/scaling.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.8.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.8.0'" to load this file. \quit
