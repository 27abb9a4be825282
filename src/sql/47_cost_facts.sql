-- 47_cost_facts.sql: the one cost fact the dashboards read: billed where the provider bills at the grain,
-- allocated where a bill is shared out among keys, estimated where no settled bill exists yet.
-- See docs/costs.md "Cost facts" and "Allocation".
--
-- Grain: (day, account, provider, workspace_id, api_key_id, model, line_item).
--   * usage rows: line_item NULL;
--   * billed lines without a model (file search, code execution, web search, ...): api_key_id
--     '(unattributed)' (or the billed key), model NULL, line_item = the provider's label;
--   * a billed model whose slice has no usage: api_key_id '(unattributed)', model set, line_item NULL.
-- Allocation rounding: each key's share is round(B * w / W, 12); the key with the largest weight (ties: the
-- smallest api_key_id) gets B minus the others' shares, so the shares add up to B exactly.

-- Midnight UTC starting a day; -infinity / infinity stay infinite. Inlined, so the planner sees the bounds
-- of a window as values (a CTE holding them hid the range, and estimates of 1 row led to nested loops).
CREATE FUNCTION aispend._utc_day_start(day date)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN day = '-infinity' THEN '-infinity'::timestamptz WHEN day = 'infinity' THEN 'infinity'::timestamptz
            ELSE day::timestamp AT TIME ZONE 'UTC' END;
COMMENT ON FUNCTION aispend._utc_day_start(date) IS 'Internal: the timestamptz of midnight UTC starting a day.';

-- The day before which the account's billed days are settled: the latest complete_through of its succeeded
-- costs runs (the sync re-fetches every day from the last complete one, so each day before it was fetched
-- after it ended). NULL when the account has no such run (costs loaded by hand): every billed day is settled.
-- Pruning old sync_runs rows changes nothing as long as the latest succeeded costs run is kept.
CREATE FUNCTION aispend.settled_before(account name)
RETURNS date LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
-- PL/pgSQL: Citus plans a query of an SQL function's parameter on the distribution column only through PL/pgSQL
AS $$
BEGIN
    RETURN (SELECT (max(r.complete_through) AT TIME ZONE 'UTC')::date FROM aispend.sync_runs r
             WHERE r.account = settled_before.account AND r.endpoint = 'costs' AND r.status = 'succeeded');
END
$$;
COMMENT ON FUNCTION aispend.settled_before(name) IS
    'The UTC day before which an account''s billed days are settled (their cost is the bill): the latest '
    'complete_through of its succeeded costs syncs. NULL: no costs sync recorded (facts loaded by hand), every '
    'billed day is settled.';

-- The cost facts of an account's UTC days p_from..p_to. PL/pgSQL, with the account's provider, settled day and
-- usage prices read first: on Citus the query below then reads only the account's shard and runs there whole
-- (a router query); no function in it reads a table.
CREATE FUNCTION aispend._cost_facts(p_account name, p_from date, p_to date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_account name := p_account;
    v_lo timestamptz := aispend._utc_day_start(p_from);
    v_hi timestamptz := aispend._utc_day_start(p_to + 1);
    v_provider text := aispend.account_provider(p_account);
    v_settled_before date := coalesce(aispend.settled_before(p_account), 'infinity');
    v_models text[];
    v_days date[];
    v_long_contexts boolean[];
    v_prices aispend.model_prices[];
BEGIN
    SELECT pg_catalog.array_agg(k.model), pg_catalog.array_agg(k.day), pg_catalog.array_agg(k.long_context),
           pg_catalog.array_agg(k.price)
      INTO v_models, v_days, v_long_contexts, v_prices
      FROM aispend._usage_prices(v_account, v_provider, v_lo, v_hi) k;
    RETURN QUERY
    WITH
    -- usage, costed, per day / workspace / key / model
    u AS (
        SELECT uc.day, uc.workspace_id, uc.api_key_id, uc.model,
               sum(pg_catalog.trim_scale(e.token_cost + e.web_search_cost)) AS est,
               sum(pg_catalog.trim_scale(e.token_cost)) AS est_tok,
               bool_or(e.token_cost + e.web_search_cost IS NULL) AS unpriced,
               sum(uc.input_tokens) AS inp, sum(uc.output_tokens) AS outp,
               sum(uc.input_tokens + coalesce(uc.output_tokens, 0)) AS tot,
               sum(uc.requests) AS req, sum(uc.web_search_requests) AS wsr
        FROM (SELECT x.*, (x.bucket_start AT TIME ZONE 'UTC')::date AS day,
                     aispend._input_tokens(x.uncached_input_tokens, x.cache_read_tokens, x.cache_write_5m_tokens,
                                           x.cache_write_1h_tokens) AS input_tokens
              FROM aispend.usage x
              WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi) uc
        JOIN aispend._price_keys(v_models, v_days, v_long_contexts, v_prices) pr
          ON pr.day = uc.day AND pr.long_context = aispend._long_context(uc.context_window)
         AND coalesce(pr.model, '') = coalesce(uc.model, '')
        CROSS JOIN LATERAL aispend._usage_estimate(pr.price, uc.uncached_input_tokens, uc.cache_read_tokens,
            uc.cache_write_5m_tokens, uc.cache_write_1h_tokens, uc.output_tokens, uc.input_audio_tokens,
            uc.output_audio_tokens, uc.input_image_tokens, uc.output_image_tokens, uc.batch, uc.service_tier,
            uc.inference_geo, uc.web_search_requests) e
        GROUP BY 1, 2, 3, 4
    ),
    -- billed lines per day / workspace / key / model (lines without a model keep their label). OpenRouter's BYOK
    -- inference is not OpenRouter's bill but the user's own provider key's: it is left to that provider's figures
    -- (aispend.billed_elsewhere lists it), so that no total adds the same dollar twice.
    c AS (
        SELECT (x.bucket_start AT TIME ZONE 'UTC')::date AS day, x.workspace_id, x.api_key_id, x.model,
               CASE WHEN x.model IS NULL THEN coalesce(x.line_item, x.cost_type, '(unlabelled)') END AS line_item,
               sum(x.amount_usd) AS billed
        FROM aispend.costs x
        WHERE x.account = v_account AND x.bucket_start >= v_lo AND x.bucket_start < v_hi
          AND x.cost_type IS DISTINCT FROM 'byok_inference'
        GROUP BY 1, 2, 3, 4, 5
    ),
    -- a day is settled when the account has billed lines for it that were fetched after it ended (see
    -- aispend.settled_before): a property of the synced data, never of the clock
    settled_days AS (
        SELECT DISTINCT c.day FROM c
        WHERE c.day < v_settled_before
    ),
    -- model lines the provider does not attribute to a key: shared among the keys of (day, workspace, model)
    slices AS (
        SELECT c.day, c.workspace_id, c.model, sum(c.billed) AS b
        FROM c WHERE c.api_key_id IS NULL AND c.model IS NOT NULL
        GROUP BY 1, 2, 3
    ),
    -- each slice's bill beside the usage rows of its keys, by window functions over a union rather than a join:
    -- right after a sync the planner's row estimates for these CTEs are ~1, and a join became a nested loop
    -- (minutes for a month of a large organisation)
    slice_rows AS (
        SELECT x.*, max(x.bill) OVER w AS b, count(x.api_key_id) OVER w AS keys,
               sum(x.est_tok) OVER w AS sum_est, sum(x.tot) OVER w AS sum_tot
        FROM (SELECT u.day, u.workspace_id, u.model, u.api_key_id, u.est_tok, u.tot, NULL::numeric AS bill
              FROM u WHERE u.model IS NOT NULL
              UNION ALL
              SELECT s.day, s.workspace_id, s.model, NULL, NULL, NULL, s.b FROM slices s) x
        WINDOW w AS (PARTITION BY x.day, x.workspace_id, x.model)
    ),
    weights AS (
        SELECT r.day, r.workspace_id, r.api_key_id, r.model, r.b,
               CASE WHEN r.sum_est > 0 THEN coalesce(r.est_tok, 0)
                    WHEN r.sum_tot > 0 THEN coalesce(r.tot, 0)::numeric
                    ELSE 1 END AS wt
        FROM slice_rows r
        WHERE r.api_key_id IS NOT NULL AND r.b IS NOT NULL
    ),
    shares AS (
        SELECT wg.day, wg.workspace_id, wg.api_key_id, wg.model, wg.b,
               pg_catalog.round(wg.b * wg.wt / sum(wg.wt) OVER w, 12) AS r,
               row_number() OVER (PARTITION BY wg.day, wg.workspace_id, wg.model ORDER BY wg.wt DESC, wg.api_key_id) AS rk
        FROM weights wg
        WINDOW w AS (PARTITION BY wg.day, wg.workspace_id, wg.model)
    ),
    alloc AS (
        SELECT sh.day, sh.workspace_id, sh.api_key_id, sh.model,
               CASE WHEN sh.rk = 1 THEN sh.b - (sum(sh.r) OVER w - sh.r) ELSE sh.r END AS allocated
        FROM shares sh
        WINDOW w AS (PARTITION BY sh.day, sh.workspace_id, sh.model)
    ),
    -- one row per fact: the usage, a bill at key grain and an allocated share of (day, workspace, key, model) meet
    -- in one row through FULL JOINs (never planned as nested loops, whatever the estimates); the billed lines
    -- that no usage row can take keep rows of their own
    g AS (
        SELECT day, workspace_id, api_key_id, model, NULL::text AS line_item, kb.billed, aa.allocated, uu.est,
               coalesce(uu.unpriced, false) AS unpriced, uu.inp::bigint AS inp, uu.outp::bigint AS outp,
               uu.tot::bigint AS tot, uu.req::bigint AS req, uu.wsr::bigint AS wsr, uu.has_usage IS NOT NULL AS has_usage
        FROM (SELECT u.*, true AS has_usage FROM u) AS uu
        FULL JOIN (SELECT a.day, a.workspace_id, a.api_key_id, a.model, a.allocated FROM alloc a) AS aa
             USING (day, workspace_id, api_key_id, model)
        FULL JOIN (SELECT c.day, c.workspace_id, c.api_key_id, c.model, c.billed
                   FROM c WHERE c.api_key_id IS NOT NULL AND c.model IS NOT NULL) AS kb   -- newer OpenAI costs
             USING (day, workspace_id, api_key_id, model)
        UNION ALL
        -- billed lines without a model: their own rows, under their key (newer OpenAI costs) or '(unattributed)'
        SELECT c.day, c.workspace_id, coalesce(c.api_key_id, '(unattributed)'), NULL, c.line_item, c.billed, NULL,
               NULL, false, NULL, NULL, NULL, NULL, NULL, false
        FROM c WHERE c.model IS NULL
        UNION ALL
        -- billed model with no usage behind it in its slice
        SELECT r.day, r.workspace_id, '(unattributed)', r.model, NULL, r.bill, NULL, NULL, false, NULL, NULL, NULL,
               NULL, NULL, false
        FROM slice_rows r
        WHERE r.api_key_id IS NULL AND r.keys = 0
    )
    SELECT g.day, v_account, v_provider, g.workspace_id, g.api_key_id, g.model, g.line_item,
           g.billed,
           CASE WHEN sd.day IS NOT NULL AND g.billed IS NULL THEN coalesce(g.allocated, 0) ELSE g.allocated END,
           g.est,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage THEN coalesce(g.billed, 0) + coalesce(g.allocated, 0)
                ELSE g.est END,
           CASE WHEN sd.day IS NOT NULL OR NOT g.has_usage
                THEN CASE WHEN g.allocated IS NOT NULL OR g.billed IS NULL THEN 'allocated' ELSE 'billed' END
                ELSE 'estimated' END,
           g.inp, g.outp, g.tot, g.req, g.wsr, g.unpriced, sd.day IS NOT NULL
    FROM g LEFT JOIN settled_days sd ON sd.day = g.day;
END
$$;
COMMENT ON FUNCTION aispend._cost_facts(name, date, date) IS
    'Internal: what aispend.cost_facts_between returns, for the re-roll (52_rollup.sql).';

CREATE FUNCTION aispend.cost_facts_between(account name, from_day date, to_day date)
RETURNS TABLE (day date, account name, provider text, workspace_id text, api_key_id text, model text,
               line_item text, billed_cost numeric, allocated_cost numeric, estimated_cost numeric, cost numeric,
               cost_basis text, input_tokens bigint, output_tokens bigint, total_tokens bigint, requests bigint,
               web_search_requests bigint, unpriced boolean, settled boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.* FROM aispend._cost_facts(cost_facts_between.account, cost_facts_between.from_day,
                                        cost_facts_between.to_day) f;
END;
COMMENT ON FUNCTION aispend.cost_facts_between(name, date, date) IS
    'aispend.cost_facts for one account and the UTC days from_day..to_day (inclusive), computed from that slice '
    'only: what a rollup refresh calls.';

CREATE VIEW aispend.cost_facts WITH (security_invoker = true) AS
SELECT f.*
FROM (SELECT w.account FROM aispend._workspaces() w GROUP BY w.account) a
CROSS JOIN LATERAL aispend.cost_facts_between(a.account, '-infinity', 'infinity') f;
COMMENT ON VIEW aispend.cost_facts IS
    'Cost per UTC day, account, provider, workspace, API key and model (line_item for billed lines without usage), '
    'with the billed, allocated and estimated figures and the one dashboards use (cost, cost_basis). On a settled '
    'day sum(cost) over a workspace equals its bill exactly. For one account and a day range call '
    'aispend.cost_facts_between(account, from_day, to_day).';
COMMENT ON COLUMN aispend.cost_facts.day IS 'UTC day.';
COMMENT ON COLUMN aispend.cost_facts.account IS 'The account: name of the aispend foreign server.';
COMMENT ON COLUMN aispend.cost_facts.provider IS 'openai, anthropic or openrouter: the account''s provider (aispend.account_provider).';
COMMENT ON COLUMN aispend.cost_facts.workspace_id IS 'Workspace / project (''(default)'' sentinel as in usage and costs).';
COMMENT ON COLUMN aispend.cost_facts.api_key_id IS
    'API key (sentinels ''(console)'', ''(none)'' as in usage); ''(unattributed)'' for billed lines no key can be given.';
COMMENT ON COLUMN aispend.cost_facts.model IS 'Model; NULL for billed lines that have none (see line_item).';
COMMENT ON COLUMN aispend.cost_facts.line_item IS
    'The provider''s label of a billed line without a model (web search, code execution, file search, ...); '
    'NULL on usage rows.';
COMMENT ON COLUMN aispend.cost_facts.billed_cost IS 'USD the provider billed at exactly this grain (key-level costs, unattributed lines).';
COMMENT ON COLUMN aispend.cost_facts.allocated_cost IS
    'This key''s share of the bill of its (day, workspace, model) slice, in proportion to estimated cost (tokens '
    'when nothing is priced); 0 on a settled day when the bill has nothing for this row.';
COMMENT ON COLUMN aispend.cost_facts.estimated_cost IS 'Tokens x catalogue price (priced usage only; NULL when nothing is priced).';
COMMENT ON COLUMN aispend.cost_facts.cost IS
    'The figure to show: billed + allocated on settled days and for rows without usage, else estimated_cost.';
COMMENT ON COLUMN aispend.cost_facts.cost_basis IS 'billed, allocated or estimated: where cost comes from.';
COMMENT ON COLUMN aispend.cost_facts.input_tokens IS 'All input tokens (uncached + cache reads + cache writes).';
COMMENT ON COLUMN aispend.cost_facts.output_tokens IS 'Output tokens.';
COMMENT ON COLUMN aispend.cost_facts.total_tokens IS 'input_tokens + output_tokens.';
COMMENT ON COLUMN aispend.cost_facts.requests IS 'Model requests (OpenAI); NULL for Anthropic and billed-only rows, never 0-filled.';
COMMENT ON COLUMN aispend.cost_facts.web_search_requests IS 'Server-side web searches (usage).';
COMMENT ON COLUMN aispend.cost_facts.unpriced IS 'Some usage of the row has no price: its estimate excludes it.';
COMMENT ON COLUMN aispend.cost_facts.settled IS
    'The account has billed lines for the day, fetched after the day ended (day < aispend.settled_before(account)): '
    'cost comes from the bill.';
