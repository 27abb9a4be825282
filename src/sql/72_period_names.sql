-- 72_period_names.sql: every dashboard function that takes a period (a daterange argument named period, first
-- or after the arguments it needs, as aispend.reprice's target_model) also takes its name:
-- aispend.workspaces_table('last_30_days') is aispend.workspaces_table(aispend.period('last_30_days')). The
-- overloads are generated from the daterange functions (same arguments after the first, same defaults, same
-- result), so that they can never drift apart. A call without a period still reads the daterange function's
-- default; a quoted literal resolves to the text overload (PostgreSQL prefers text for an untyped literal).
-- By name, a period is compared with aispend.previous_period(name): month_to_date with the same days of the
-- previous month, year_to_date with the same days of the previous year.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset,
               pg_catalog.pg_get_function_arguments(p.oid) AS args,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               p.proargnames[1:x.k - 1] AS before, p.proargnames[x.k + 1:p.pronargs] AS rest
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL (SELECT pg_catalog.array_position(p.proargnames[1:p.pronargs], 'period') AS k) x
        WHERE p.pronamespace = 'aispend'::regnamespace AND p.prokind = 'f' AND p.proname !~ '^_'
          AND x.k IS NOT NULL AND p.proargtypes[x.k - 1] = 'daterange'::regtype
          AND (p.proretset OR p.proname = 'report_html')
        ORDER BY p.proname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION aispend.%I(%s) RETURNS %s LANGUAGE sql STABLE BEGIN ATOMIC %s aispend.%I(%s); END',
            f.proname,
            -- the arguments before period as declared, period as text (no default), those after as declared
            pg_catalog.substr(f.args, 1, pg_catalog.strpos(f.args, 'period daterange') - 1) || 'period text'
            || CASE WHEN pg_catalog.cardinality(f.rest) > 0
                    THEN pg_catalog.substr(f.args, pg_catalog.strpos(f.args, ', ' || f.rest[1] || ' '))
                    ELSE '' END,
            f.result,
            CASE WHEN f.proretset THEN 'SELECT * FROM' ELSE 'SELECT' END,
            f.proname,
            pg_catalog.array_to_string(
                ARRAY(SELECT pg_catalog.quote_ident(a) || ' => ' || pg_catalog.quote_ident(a)
                      FROM pg_catalog.unnest(f.before) AS a)
                || ARRAY['period => aispend.period(period)']
                || ARRAY(SELECT pg_catalog.quote_ident(a) || ' => '
                                || CASE WHEN a = 'compare_with'
                                        THEN 'coalesce(compare_with, aispend.previous_period(period))'
                                        ELSE pg_catalog.quote_ident(a) END
                         FROM pg_catalog.unnest(f.rest) AS a), ', '));
        EXECUTE pg_catalog.format('COMMENT ON FUNCTION aispend.%I(%s) IS %L', f.proname,
            pg_catalog.replace(pg_catalog.pg_get_function_identity_arguments(f.oid), 'period daterange',
                               'period text'),
            'aispend.' || f.proname || ' with the period given by name (aispend.period(period)): '
            || 'last_7_days, last_30_days, month_to_date, previous_month, ... compared with '
            || 'aispend.previous_period(period) unless compare_with says otherwise. See that function.');
    END LOOP;
END
$$;
