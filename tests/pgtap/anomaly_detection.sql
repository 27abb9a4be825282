-- Spike detection on the labelled synthetic set of tests/bench/anomaly_synthetic.sql (400 series, 200 spikes of
-- 2x to 8x, weekends, noise, idle days, monthly jobs): exact counts of a deterministic set, so that a change of
-- the method shows here with its effect on precision and recall (tests/bench/anomaly_bench.sh prints them).
BEGIN;
SELECT plan(5);
\ir ../bench/anomaly_synthetic.sql
SELECT is((SELECT count(*)::integer FROM synthetic WHERE spike_day IS NOT NULL), 200, 'the set: 200 labelled spikes');
SELECT is((SELECT count(DISTINCT d.n)::integer FROM detected d JOIN synthetic s USING (n) WHERE d.i = s.spike_day), 186,
    'recall: 186 of the 200 spikes are flagged on their first day (93%)');
SELECT results_eq($$ SELECT count(*)::integer, count(*) FILTER (WHERE in_spike)::integer FROM detected $$,
    $$ VALUES (611, 549) $$, 'precision: 549 of the 611 days flagged are spike days (89.9%)');
SELECT is((SELECT count(*)::integer FROM detected d JOIN synthetic s USING (n)
           WHERE NOT d.in_spike AND s.monthly AND extract(day FROM s.first_day + d.i - 1) = 1), 27,
    'monthly jobs: 27 of the 399 monthly-job days judged are flagged (a job of 2x is hardly above the noise, '
    'and the month before may not show it)');
SELECT is((SELECT count(*)::integer FROM synthetic s LEFT JOIN detected d ON d.n = s.n AND d.i = s.spike_day
           WHERE s.spike_x >= 3 AND s.spike_day IS NOT NULL AND d.n IS NULL), 6,
    'spikes of 3x or more: 6 of 172 missed on their first day');
SELECT * FROM finish();
ROLLBACK;
