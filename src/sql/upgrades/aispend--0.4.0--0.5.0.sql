-- aispend 0.4.0 -> 0.5.0: the background refresh (docs/upgrading.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.5.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.5.0'" to load this file. \quit
