#!/usr/bin/env bash
# Spike detection, measured: precision and recall on the labelled synthetic set (tests/bench/anomaly_synthetic.sql:
# 400 series, 200 spikes of 2x to 8x with weekends, noise, idle days and monthly jobs), by spike size; then, in a
# database synced from a mock organisation (e.g. scripts/demo.sh's), what aispend.anomalies flags there and how long
# it takes. Prints a table and writes tests/bench/results/anomaly-detection.txt.
# Usage: PGHOST=... PGPORT=... PGUSER=... tests/bench/anomaly_bench.sh DB
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
db=${1:?usage: tests/bench/anomaly_bench.sh DB}
out="$here/results/anomaly-detection.txt"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL | tee "$out"
\pset footer off
BEGIN;
\i $here/anomaly_synthetic.sql
SELECT format('spike detection on the labelled synthetic set: %s series, %s spikes; %s',
              count(*), count(spike_day), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')) AS " "
FROM synthetic;
SELECT coalesce(s.spike_x || 'x', 'all') AS spike, count(*) AS spikes,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM detected d WHERE d.n = s.n AND d.i = s.spike_day)) AS on_first_day,
       round(100.0 * count(*) FILTER (WHERE EXISTS (SELECT 1 FROM detected d WHERE d.n = s.n AND d.i = s.spike_day))
             / count(*), 1) AS recall_first_day_pct,
       round(100.0 * count(*) FILTER (WHERE EXISTS (SELECT 1 FROM detected d WHERE d.n = s.n AND d.in_spike))
             / count(*), 1) AS recall_any_day_pct
FROM synthetic s WHERE s.spike_day IS NOT NULL
GROUP BY ROLLUP (s.spike_x) ORDER BY s.spike_x NULLS LAST;
SELECT count(*) AS days_flagged, count(*) FILTER (WHERE in_spike) AS in_a_spike,
       count(*) FILTER (WHERE NOT in_spike) AS false_alarms,
       round(100.0 * count(*) FILTER (WHERE in_spike) / count(*), 1) AS precision_pct,
       count(DISTINCT n) FILTER (WHERE NOT in_spike) AS series_with_a_false_alarm
FROM detected;
ROLLBACK;
SELECT 'aispend.anomalies() in database ' || current_database() || ', last 30 days' AS " ";
SELECT day, kind, entity, observed, expected, ratio, score, flag FROM aispend.anomalies() ORDER BY day, kind, entity;
\timing on
SELECT count(*) AS "timed: anomalies(), 30 days" FROM aispend.anomalies();
SELECT count(*) AS "timed: anomalies(), 90 days" FROM aispend.anomalies('last_90_days');
SQL
