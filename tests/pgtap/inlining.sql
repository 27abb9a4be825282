-- The small SQL helpers that run once per row are inlined into the queries that call them: a helper that
-- PostgreSQL cannot inline (STRICT with a CASE, declared stricter than its body, a SET clause) runs as a
-- function call per row and hides its conditions from the planner. EXPLAIN (VERBOSE) names a function that
-- was not inlined; it must name none of these.
BEGIN;
SELECT plan(9);

CREATE SERVER il_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');

CREATE FUNCTION pg_temp.plan_calls(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    found text[] := '{}';
    helper text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE) ' || q LOOP
        FOREACH helper IN ARRAY ARRAY['_price_rule_matches', '_utc_day_start', '_bucket_floor', '_bucket_ceil',
                                      '_bucket_step', '_key_matches', 'trend', '_entity_totals', '_no_model_label',
                                      'price_for', '_token_cost', '_usage_costed_between', '_utc_add'] LOOP
            IF strpos(line, 'aispend.' || helper || '(') > 0 AND NOT helper = ANY (found) THEN
                found := found || helper;
            END IF;
        END LOOP;
    END LOOP;
    RETURN array_to_string(found, ', ');
END
$$;

SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.workspaces_table()$$), '', 'Workspaces table: helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.workspaces_summary()$$), '', 'Workspaces summary: helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.api_keys_table(search => 'x')$$), '', 'API keys table (with search): helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.api_keys_summary()$$), '', 'API keys summary: helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.models_table()$$), '', 'Models table: helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.models_summary()$$), '', 'Models summary: helpers inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.cost_facts_between('il_openai', '2026-09-01', '2026-09-30')$$), '',
          'the cost model: usage costing, price lookup and day bounds inlined');
SELECT is(pg_temp.plan_calls($$SELECT aispend._bucket_ceil(now(), '1h'), aispend._bucket_floor(now(), '1d')$$), '',
          'bucket arithmetic inlined');
SELECT is(pg_temp.plan_calls($$SELECT * FROM aispend.daily_facts$$), '', 'daily_facts: helpers inlined');

SELECT * FROM finish();
ROLLBACK;
