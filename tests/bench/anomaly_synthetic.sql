-- A labelled synthetic set for spike detection (psql \ir from tests/pgtap/anomaly_detection.sql and
-- tests/bench/anomaly_bench.sh): 400 daily cost series of 180 days from Monday 2026-03-02, deterministic
-- (hashes, no random state), each with
--   a level of 12 to 400 USD a day, growing or shrinking by up to 30% over the 180 days;
--   weekends at 35% to 100% of weekdays; multiplicative noise of +-15% to +-40% a day; 3% idle days;
--   a monthly job on the 1st (2x to 5x the level) in one series out of three: a pattern, not a spike;
--   in half of them one spike of a known size (2x to 8x) and length (1 to 5 days), starting on a day of the last
--   90, the days evaluated (from index 91: 28 days of baseline and two months for the monthly pattern before).
-- Creates temp tables synthetic (the series and their labels) and detected (aispend._anomaly_points with the
-- defaults of aispend.anomalies).
CREATE TEMP TABLE synthetic AS
WITH s AS (
    SELECT n, ('x' || substr(md5('synthetic-' || n), 1, 8))::bit(32)::bigint / 4294967296.0 AS u1,
              ('x' || substr(md5('synthetic-' || n), 9, 8))::bit(32)::bigint / 4294967296.0 AS u2,
              ('x' || substr(md5('synthetic-' || n), 17, 8))::bit(32)::bigint / 4294967296.0 AS u3,
              ('x' || substr(md5('synthetic-' || n), 25, 8))::bit(32)::bigint / 4294967296.0 AS u4
    FROM generate_series(1, 400) n),
p AS (
    SELECT n, (12 + 388 * u1 * u1)::numeric AS level, 0.6 * u2 - 0.3 AS growth, 0.35 + 0.65 * u3 AS weekend,
           0.15 + 0.25 * u4 AS noise, n % 3 = 0 AS monthly, 1 + n % 4 AS monthly_x,
           CASE WHEN n % 2 = 0 THEN 91 + (n * 37) % 86 END AS spike_day,
           1 + (n * 7) % 5 AS spike_len, 2 + (n * 13) % 7 AS spike_x
    FROM s)
SELECT p.n, p.level, p.monthly, p.spike_day, p.spike_len, p.spike_x, '2026-03-02'::date AS first_day,
       ARRAY(SELECT round(CASE
                    WHEN h.idle < 0.03 THEN 0
                    ELSE p.level * (1 + p.growth * i / 180.0)
                         * CASE WHEN extract(isodow FROM '2026-03-02'::date + i - 1) >= 6 THEN p.weekend ELSE 1 END
                         * (1 - p.noise + 2 * p.noise * h.u)
                         * CASE WHEN p.monthly AND extract(day FROM '2026-03-02'::date + i - 1) = 1
                                THEN 1 + p.monthly_x ELSE 1 END
                         * CASE WHEN i >= p.spike_day AND i < p.spike_day + p.spike_len THEN p.spike_x ELSE 1 END
                    END::numeric, 2)
             FROM generate_series(1, 180) i
             CROSS JOIN LATERAL (SELECT ('x' || substr(md5(p.n || '-' || i), 1, 8))::bit(32)::bigint / 4294967296.0 AS u,
                                        ('x' || substr(md5(p.n || '-' || i), 9, 8))::bit(32)::bigint / 4294967296.0 AS idle) h
             ORDER BY i) AS costs
FROM p;

CREATE TEMP TABLE detected AS
SELECT s.n, a.day - s.first_day + 1 AS i, a.flag,
       s.spike_day IS NOT NULL AND a.day - s.first_day + 1 >= s.spike_day
           AND a.day - s.first_day + 1 < s.spike_day + s.spike_len AS in_spike
FROM synthetic s
CROSS JOIN LATERAL aispend._anomaly_points(s.costs, s.first_day, 91, 3.5, 10, 1.5) a;
