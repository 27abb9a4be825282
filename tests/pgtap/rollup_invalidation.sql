-- Every change that moves a figure reaches the dashboard at once (53_invalidation.sql), with exact figures:
-- price rows inserted, updated and deleted; a costs sync that settles a day, and its removal; corrections of
-- facts; an account forgotten. The rollups are compared with the cost model read live (cost_facts_between).
BEGIN;
SELECT plan(13);

CREATE SERVER ri_openai FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai');
INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
VALUES ('ri_openai', 'openai', 'proj_ri', 'Invalidation', 'active');
-- 1M uncached input tokens of a model only this test prices, on 2026-09-10, no bill yet
INSERT INTO aispend.usage (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                           uncached_input_tokens, output_tokens, requests)
VALUES ('ri_openai', 'completions', '2026-09-10 00:00+00', '1d', 'proj_ri', 'key_ri', 'ri-model-1', 1000000, 0, 10);

CREATE FUNCTION pg_temp.shown() RETURNS numeric LANGUAGE sql AS $$
    SELECT cost FROM aispend.workspaces_table(aispend.custom_period('2026-09-01', '2026-09-30')) WHERE name = 'Invalidation' $$;
CREATE FUNCTION pg_temp.live() RETURNS numeric LANGUAGE sql AS $$
    SELECT sum(cost) FROM aispend.cost_facts_between('ri_openai', '2026-09-01', '2026-09-30') $$;
CREATE FUNCTION pg_temp.reroll() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET CONSTRAINTS ALL IMMEDIATE;   -- what COMMIT does: re-roll the marked days
    SET CONSTRAINTS ALL DEFERRED;
END $$;

INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, output_per_mtok)
VALUES ('openai', 'exact', 'ri-model-1', 2, 8);
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 2.00::numeric, 'a new price row: the estimate (1M x $2) reaches the tab');

UPDATE aispend.model_prices SET input_per_mtok = 20 WHERE pattern = 'ri-model-1';
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 20.00::numeric, 'the price raised 10x: the tab shows 10x (0.1.0 kept $2)');

INSERT INTO aispend.model_prices (provider, match_kind, pattern, input_per_mtok, output_per_mtok, valid_from)
VALUES ('openai', 'prefix', 'ri-model', 3, 8, '2026-09-10');
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 20.00::numeric, 'a less specific rule changes nothing (the exact rule wins)');

DELETE FROM aispend.model_prices WHERE pattern = 'ri-model-1';
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 3.00::numeric, 'the exact rule deleted: the prefix rule prices it');

UPDATE aispend.model_prices SET valid_from = '2026-09-11' WHERE pattern = 'ri-model';
SELECT pg_temp.reroll();
SELECT is((SELECT ROW(cost, unpriced)::text FROM aispend.daily_facts WHERE account = 'ri_openai'), '(0,t)',
          'no rule valid that day: unpriced, flagged, never priced at an old figure');

-- the bill: with no costs sync recorded, a billed day is settled
UPDATE aispend.model_prices SET valid_from = '2026-09-01' WHERE pattern = 'ri-model';
INSERT INTO aispend.costs (account, bucket_start, workspace_id, line_item, model, amount_usd, currency)
VALUES ('ri_openai', '2026-09-10 00:00+00', 'proj_ri', 'ri-model-1, input', 'ri-model-1', 5.25, 'USD');
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 5.25::numeric, 'a bill loaded by hand (no costs sync): the day is settled, cost = bill');

-- a costs sync that fetched the day before it ended: not settled, the estimate shows
INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, complete_through,
                               started_at, finished_at, status)
VALUES ('ri_openai', 'costs', '2026-09-08 00:00+00', '2026-09-11 00:00+00', '1d', '2026-09-10 00:00+00',
        '2026-09-10 14:00+00', '2026-09-10 14:00+00', 'succeeded');
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 3.00::numeric, 'fetched at 14:00 on the day: the bill is partial, the estimate shows');

-- the next sync after midnight settles it
INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, complete_through,
                               started_at, finished_at, status)
VALUES ('ri_openai', 'costs', '2026-09-08 00:00+00', '2026-09-12 00:00+00', '1d', '2026-09-11 00:00+00',
        '2026-09-11 01:00+00', '2026-09-11 01:00+00', 'running');
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 3.00::numeric, 'a costs run still running settles nothing');
UPDATE aispend.sync_runs SET status = 'succeeded' WHERE account = 'ri_openai' AND status = 'running';
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 5.25::numeric, 'the run that fetched it after midnight succeeds: settled, cost = bill');

DELETE FROM aispend.sync_runs WHERE account = 'ri_openai' AND complete_through = '2026-09-11 00:00+00';
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), 3.00::numeric, 'that run deleted: the horizon moves back and so does the figure');

-- a provider-side correction of the bill, after the day is settled again
DELETE FROM aispend.sync_runs WHERE account = 'ri_openai';
UPDATE aispend.costs SET amount_usd = 6.50 WHERE account = 'ri_openai';
SELECT pg_temp.reroll();
SELECT is(pg_temp.shown(), pg_temp.live(), 'a corrected bill: the tab equals the cost model read live (6.50)');

-- forgetting the account empties its rollups
DROP SERVER ri_openai CASCADE;
SELECT ok((SELECT sum(rows_deleted) FROM aispend.forget_account('ri_openai')) > 0, 'the account is forgotten');
SELECT pg_temp.reroll();
SELECT is((SELECT count(*) FROM aispend.daily_rollup WHERE account = 'ri_openai')
          + (SELECT count(*) FROM aispend._cum WHERE account = 'ri_openai')
          + (SELECT count(*) FROM aispend._rollup_state WHERE account = 'ri_openai'), 0::bigint,
          'a forgotten account leaves no rollup rows');

SELECT * FROM finish();
ROLLBACK;
