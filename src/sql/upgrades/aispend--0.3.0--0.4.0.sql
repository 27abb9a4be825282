-- aispend 0.3.0 -> 0.4.0: budgets' alerts, spike detection and their delivery (docs/upgrading.md).
-- Frozen once released: never edit it; a later change ships in aispend--0.4.0--<next>.sql.
\echo Use "ALTER EXTENSION aispend UPDATE TO '0.4.0'" to load this file. \quit
