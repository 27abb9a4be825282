-- Times every tab's table and summary (rollup-based) against the naive GROUP BY over the raw facts
-- (aispend.costs for cost, aispend.usage for tokens and requests), for 7, 30 and 365 days ending on
-- bench.anchor, with the previous period of the same length (trend). The table is timed again as a reader
-- (row-level security on, every row) and as a team whose scope is five workspaces (its own rows).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.ms(q text, runs int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; a numeric[] := '{}'; i int;
BEGIN
    FOR i IN 1..runs LOOP
        t0 := clock_timestamp();
        EXECUTE 'SELECT count(*) FROM (' || q || ') x';
        a := a || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(a) v);
END $$;
-- Naive: what one writes without rollups: both periods' raw facts grouped per entity, names joined, trend.
CREATE FUNCTION pg_temp.naive(tab text, days int, anchor date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cur text := format('(%L::date - %s + 1)::timestamp AT TIME ZONE ''UTC''', anchor, days);
    lo text := format('(%L::date - 2 * %s + 1)::timestamp AT TIME ZONE ''UTC''', anchor, days);
    hi text := format('(%L::date + 1)::timestamp AT TIME ZONE ''UTC''', anchor);
    ce text; ue text; cj text := ''; uj text := '';
BEGIN
    CASE tab
        WHEN 'workspaces' THEN
            ce := 'w.name'; ue := 'w.name';
            cj := 'JOIN aispend.workspaces w ON w.account = c.account AND w.workspace_id = c.workspace_id';
            uj := 'JOIN aispend.workspaces w ON w.account = u.account AND w.workspace_id = u.workspace_id';
        WHEN 'api_keys' THEN
            ce := 'c.account || c.workspace_id || coalesce(c.api_key_id, '''')';
            ue := 'u.account || u.workspace_id || u.api_key_id || coalesce(k.name, '''')';
            uj := 'LEFT JOIN aispend.api_keys k ON k.account = u.account AND k.api_key_id = u.api_key_id';
        ELSE
            ce := 'c.model'; ue := 'u.model';
    END CASE;
    RETURN format($q$
        WITH c AS (SELECT %1$s AS e, sum(c.amount_usd) FILTER (WHERE c.bucket_start >= %5$s) AS cost,
                          sum(c.amount_usd) FILTER (WHERE c.bucket_start < %5$s) AS prev
                   FROM aispend.costs c %3$s WHERE c.bucket_start >= %6$s AND c.bucket_start < %7$s GROUP BY 1),
        u AS (SELECT %2$s AS e,
                     sum(coalesce(u.uncached_input_tokens, 0) + coalesce(u.cache_read_tokens, 0)
                         + coalesce(u.cache_write_5m_tokens, 0) + coalesce(u.cache_write_1h_tokens, 0)
                         + coalesce(u.output_tokens, 0)) FILTER (WHERE u.bucket_start >= %5$s) AS tokens,
                     sum(u.requests) FILTER (WHERE u.bucket_start >= %5$s) AS requests
              FROM aispend.usage u %4$s WHERE u.bucket_start >= %6$s AND u.bucket_start < %7$s GROUP BY 1),
        g AS (SELECT coalesce(c.e, u.e) AS e, c.cost, c.prev, u.tokens, u.requests FROM c FULL JOIN u ON u.e = c.e)
        SELECT g.*, 100 * g.cost / sum(g.cost) OVER () AS pct, (aispend.trend(g.cost, g.prev)).* FROM g $q$,
        ce, ue, cj, uj, cur, lo, hi);
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_reader') THEN CREATE ROLE bench_reader; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_team') THEN CREATE ROLE bench_team; END IF;
END $$;
DO $$ BEGIN
    PERFORM aispend.grant_reader('bench_reader');
    PERFORM aispend.grant_team('bench_team', workspace_names => ARRAY(
        SELECT DISTINCT name FROM aispend.workspaces WHERE account LIKE 'bench\_%' ORDER BY name LIMIT 5));
END $$;
CREATE TEMP TABLE res (tab text, days int, table_ms numeric, summary_ms numeric, naive_ms numeric,
                       reader_ms numeric, team_ms numeric);
DO $$
DECLARE tab text; d int; per text; anchor date := current_setting('bench.anchor')::date; q text;
        reader numeric; team numeric;
BEGIN
    FOREACH tab IN ARRAY ARRAY['workspaces', 'api_keys', 'models'] LOOP
        FOREACH d IN ARRAY ARRAY[7, 30, 365] LOOP
            per := format('aispend.custom_period(%L::date - %s, %L::date)', anchor, d - 1, anchor);
            q := format('SELECT * FROM aispend.%s_table(%s) ORDER BY cost DESC', tab, per);
            SET ROLE bench_reader;
            reader := pg_temp.ms(q, 7);
            SET ROLE bench_team;
            team := pg_temp.ms(q, 7);
            RESET ROLE;
            INSERT INTO res VALUES (tab, d, pg_temp.ms(q, 7),
                pg_temp.ms(format('SELECT * FROM aispend.%s_summary(%s)', tab, per), 7),
                pg_temp.ms(pg_temp.naive(tab, d, anchor), 3), reader, team);
        END LOOP;
    END LOOP;
END $$;
DO $$ BEGIN
    PERFORM aispend.revoke_team('bench_team');
    PERFORM aispend.revoke_all('bench_reader');
END $$;
DROP ROLE bench_team;
DROP ROLE bench_reader;
SELECT tab, days, round(table_ms, 1) AS table_ms, round(summary_ms, 1) AS summary_ms,
       round(reader_ms, 1) AS reader_rls_ms, round(team_ms, 1) AS team_rls_ms, round(naive_ms, 1) AS naive_ms,
       round(naive_ms / greatest(table_ms, summary_ms, reader_ms), 1) AS speedup,
       CASE WHEN greatest(table_ms, summary_ms, reader_ms, team_ms) < 100
                 AND naive_ms >= 10 * greatest(table_ms, summary_ms, reader_ms)
            THEN 'ok' ELSE 'MISS' END AS target
FROM res ORDER BY tab, days;
