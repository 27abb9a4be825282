-- Times every tab's table and summary (rollup-based) against the naive GROUP BY over the raw facts
-- (aispend.cost_facts_between), for 7, 30 and 365 days ending on :'anchor' with the previous-period trend.
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
-- Naive: every fact of both periods grouped per entity, names joined, trend computed.
CREATE FUNCTION pg_temp.naive(tab text, days int, anchor date) RETURNS text LANGUAGE sql AS $$
    SELECT format($q$
        WITH f AS (SELECT f.* FROM (SELECT srvname AS account FROM pg_foreign_server WHERE srvname IN ('bench_openai', 'bench_anthropic')) a,
                   aispend.cost_facts_between(a.account, %1$L::date - 2 * %2$s + 1, %1$L::date + 1) f
                   WHERE f.day BETWEEN %1$L::date - 2 * %2$s + 1 AND %1$L::date),
        g AS (SELECT %3$s AS e, sum(f.cost) FILTER (WHERE f.day > %1$L::date - %2$s) AS cost,
                     sum(f.cost) FILTER (WHERE f.day <= %1$L::date - %2$s) AS prev,
                     sum(f.total_tokens) FILTER (WHERE f.day > %1$L::date - %2$s) AS tokens,
                     sum(f.requests) FILTER (WHERE f.day > %1$L::date - %2$s) AS requests
              FROM f %4$s GROUP BY 1)
        SELECT g.*, 100 * g.cost / sum(g.cost) OVER () AS pct, (aispend.trend(g.cost, g.prev)).* FROM g $q$,
        anchor, days,
        CASE tab WHEN 'workspaces' THEN 'w.name' WHEN 'api_keys' THEN 'f.account || f.workspace_id || f.api_key_id || coalesce(k.name, '''')'
                 ELSE 'f.model' END,
        CASE tab WHEN 'workspaces' THEN 'JOIN aispend.workspaces w ON w.account = f.account AND w.workspace_id = f.workspace_id'
                 WHEN 'api_keys' THEN 'LEFT JOIN aispend.api_keys k ON k.account = f.account AND k.api_key_id = f.api_key_id'
                 ELSE '' END)
$$;
CREATE TEMP TABLE res (tab text, days int, table_ms numeric, summary_ms numeric, naive_ms numeric);
DO $$
DECLARE tab text; d int; per text; anchor date := current_setting('bench.anchor')::date;
BEGIN
    FOREACH tab IN ARRAY ARRAY['workspaces', 'api_keys', 'models'] LOOP
        FOREACH d IN ARRAY ARRAY[7, 30, 365] LOOP
            per := format('aispend.custom_period(%L::date - %s, %L::date)', anchor, d - 1, anchor);
            INSERT INTO res VALUES (tab, d,
                pg_temp.ms(format('SELECT * FROM aispend.%s_table(%s) ORDER BY cost DESC', tab, per), 7),
                pg_temp.ms(format('SELECT * FROM aispend.%s_summary(%s)', tab, per), 7),
                pg_temp.ms(pg_temp.naive(tab, d, anchor), CASE WHEN d = 365 THEN 1 ELSE 3 END));
        END LOOP;
    END LOOP;
END $$;
SELECT tab, days, round(table_ms, 1) AS table_ms, round(summary_ms, 1) AS summary_ms, round(naive_ms, 1) AS naive_ms,
       round(naive_ms / greatest(table_ms, summary_ms), 1) AS speedup,
       CASE WHEN greatest(table_ms, summary_ms) < 100 AND naive_ms >= 10 * greatest(table_ms, summary_ms)
            THEN 'ok' ELSE 'MISS' END AS target
FROM res ORDER BY tab, days;
