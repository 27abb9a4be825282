-- aispend 0.8.0 -> 0.9.0.
-- Frozen once released: never edit it; a later change ships in aispend--0.9.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.9.0'" to load this file. \quit
