-- The small SQL helpers that run once per row are inlined into the queries that call them: a helper that
-- PostgreSQL cannot inline (STRICT with a CASE, declared stricter than its body, a SET clause) runs as a
-- function call per row and hides its conditions from the planner. EXPLAIN (VERBOSE) names a function that
-- was not inlined; each helper is called here once per row of a small series and must not be named.
BEGIN;
SELECT plan(15);

CREATE FUNCTION pg_temp.called(helper text, q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE) ' || q LOOP
        IF strpos(line, 'aispend.' || helper || '(') > 0 THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
CREATE TEMP TABLE r AS
SELECT g::bigint AS i, '2026-09-01'::date + g AS day, ('2026-09-01'::timestamptz + g * interval '1 hour') AS ts,
       (g * 1.5)::numeric AS cur, g::numeric AS prev, 'gpt-4o-' || g AS model
FROM generate_series(1, 50) g;

SELECT ok(NOT pg_temp.called('_utc_day_start', 'SELECT aispend._utc_day_start(day) FROM r'), '_utc_day_start inlined');
SELECT ok(NOT pg_temp.called('_utc_add', 'SELECT aispend._utc_add(ts, interval ''1 day'') FROM r'), '_utc_add inlined');
SELECT ok(NOT pg_temp.called('_bucket_floor', 'SELECT aispend._bucket_floor(ts, ''1d'') FROM r'), '_bucket_floor inlined');
SELECT ok(NOT pg_temp.called('_bucket_step', 'SELECT aispend._bucket_step(model) FROM r'), '_bucket_step inlined');
SELECT ok(NOT pg_temp.called('_bucket_ceil', 'SELECT aispend._bucket_ceil(ts, ''1h'') FROM r'), '_bucket_ceil inlined');
SELECT ok(NOT pg_temp.called('_price_rule_matches', 'SELECT aispend._price_rule_matches(''prefix'', ''gpt-4o'', model) FROM r'),
          '_price_rule_matches inlined');
SELECT ok(NOT pg_temp.called('_key_matches', 'SELECT aispend._key_matches(model, model, NULL, model, NULL, ''x'') FROM r'),
          '_key_matches inlined');
SELECT ok(NOT pg_temp.called('trend', 'SELECT t.* FROM r, aispend.trend(r.cur, r.prev) t'), 'trend inlined');
SELECT ok(NOT pg_temp.called('_no_model_label', 'SELECT coalesce(model, aispend._no_model_label()) FROM r'), '_no_model_label inlined');
SELECT ok(NOT pg_temp.called('_token_cost',
          'SELECT aispend._token_cost(p, r.i, r.i, r.i, r.i, r.i, NULL, NULL, NULL, NULL, false, NULL, NULL)
           FROM r, aispend.model_prices p'),
          '_token_cost inlined');
SELECT ok(NOT pg_temp.called('_lock_key', 'SELECT aispend._lock_key(model::name) FROM r'), '_lock_key inlined');
SELECT ok(NOT pg_temp.called('period_last_day', 'SELECT aispend.period_last_day(daterange(day, day + 7)) FROM r'),
          'period_last_day inlined');
-- the check itself notices a helper that is not inlined
SELECT ok(pg_temp.called('_pct_of_total', 'SELECT * FROM aispend._pct_of_total(ARRAY(SELECT cur FROM r))'),
          'a function that is not inlined is named (the check works)');
-- per-row helpers carry no SET clause (it would stop inlining); their SQL-standard bodies are bound when created
SELECT is_empty($$
    SELECT p.proname::text FROM pg_proc p
    WHERE p.pronamespace = 'aispend'::regnamespace
      AND p.proname IN ('_utc_day_start', '_utc_add', '_bucket_floor', '_bucket_step', '_bucket_ceil',
                        '_price_rule_matches', '_key_matches', 'trend', '_no_model_label', '_token_cost',
                        '_lock_key', 'period_first_day', 'period_last_day', 'utc_today')
      AND (p.proconfig IS NOT NULL OR p.prosqlbody IS NULL) $$,
    'per-row helpers: no SET clause, a SQL-standard body');
SELECT ok(NOT pg_temp.called('utc_today', 'SELECT aispend.utc_today() - day FROM r'), 'utc_today inlined');

SELECT * FROM finish();
ROLLBACK;
