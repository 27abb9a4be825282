-- Property test: the dashboard's maintained figures never differ from a from-scratch computation.
--
-- Three accounts (two OpenAI, one Anthropic) over the UTC days 2026-07-23..2026-09-20 (a fixed "today",
-- 2026-09-20, never now()). For each of three fixed seeds, 200 random steps; each step is one of
--   a  a sync window: one account, 1-10 days anywhere in the range (overlapping earlier windows), its usage and
--      costs merged as the sync merges them (rows no longer sent deleted, the rest upserted on the natural key),
--      with its sync_runs rows: the costs run started either during the window's last day (that day's bill
--      still open) or after the window ended (settled), sometimes 'running' first and then updated to
--      'succeeded' as the sync does; sometimes only usage, only costs, facts loaded by hand without any run, or a
--      failed / aborted / still running costs run that stored nothing;
--   b  a provider-side correction of past days: amounts or tokens updated, rows deleted, a row moved to another
--      day, key, model or workspace;
--   c  price catalogue changes (origin manual): exact, prefix and regex rules inserted, 10x prices (one row or
--      every row of a provider), validity ranges and patterns changed, rows deleted, every manual row deleted;
--   d  renames: display_name set (sometimes the same name on workspaces of two accounts: one combined row) or
--      reset, or a provider-side rename (provider_name);
--   e  an account dropped (DROP SERVER ... CASCADE + aispend.forget_account) or re-created and loaded again.
-- After every step the pending deferred triggers are fired (SET CONSTRAINTS ALL IMMEDIATE, as a COMMIT would),
-- then the three tabs and their summaries are compared, for five periods, with the oracle: aispend.cost_facts_between
-- read live for every account with facts, summed naively per entity and period with GROUP BY. Per entity (workspace
-- name, (account, workspace, key), model): cost, tokens, requests and the previous period's; per summary: total
-- cost, tokens, requests, previous total cost (the tabs show money to the cent: the oracle's exact sums are rounded
-- before the comparison). Only the public API and the base tables are used, never an
-- internal function, so the test holds whatever the rollups look like inside.
-- One test per seed (0 differences over its steps; the diagnostics show the first differing rows with their step,
-- and per step kind the first step that made a difference), and one that the steps covered what they should.
-- Each seed runs in a savepoint; everything is rolled back.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- the fixture's shape

-- The fixed "today" and the first day with data.
CREATE TEMP TABLE rp_conf AS SELECT date '2026-09-20' AS today, date '2026-07-23' AS first_day;

CREATE TEMP TABLE rp_acct (account name PRIMARY KEY, provider text NOT NULL, present boolean NOT NULL DEFAULT false);
INSERT INTO rp_acct (account, provider) VALUES ('rp_oa', 'openai'), ('rp_ob', 'openai'), ('rp_an', 'anthropic');

-- Workspaces; listed = false: seen in facts only, no aispend.workspaces row (its name is its id).
CREATE TEMP TABLE rp_ws (account name, workspace_id text, provider_name text, listed boolean,
                         PRIMARY KEY (account, workspace_id));
INSERT INTO rp_ws VALUES
    ('rp_oa', 'proj_alpha', 'Alpha', true), ('rp_oa', 'proj_shared', 'Shared', true),
    ('rp_oa', '(default)', NULL, true),
    ('rp_ob', 'proj_beta', 'Beta', true), ('rp_ob', 'proj_sh2', 'Shared', true),
    ('rp_ob', 'proj_old', 'Old Project', true),
    ('rp_an', 'wrk_support', 'Support', true), ('rp_an', '(default)', 'Default Workspace', true),
    ('rp_an', 'wrk_ghost', NULL, false);

CREATE TEMP TABLE rp_key (account name, workspace_id text, api_key_id text, PRIMARY KEY (account, workspace_id, api_key_id));
INSERT INTO rp_key VALUES
    ('rp_oa', 'proj_alpha', 'key_a1'), ('rp_oa', 'proj_alpha', 'key_a2'), ('rp_oa', 'proj_alpha', '(none)'),
    ('rp_oa', 'proj_shared', 'key_s1'), ('rp_oa', '(default)', '(none)'),
    ('rp_ob', 'proj_beta', 'key_b1'), ('rp_ob', 'proj_beta', 'key_b2'), ('rp_ob', 'proj_sh2', 'key_s2'),
    ('rp_ob', 'proj_sh2', '(none)'), ('rp_ob', 'proj_old', 'key_o1'),
    ('rp_an', 'wrk_support', 'ak_s1'), ('rp_an', 'wrk_support', 'ak_s2'), ('rp_an', '(default)', '(console)'),
    ('rp_an', '(default)', 'ak_d1'), ('rp_an', 'wrk_ghost', 'ak_g1');

-- Models per account, with the chance that a workspace uses one on a day: shipped prices (gpt-*, claude-sonnet /
-- haiku), none (rp-custom-1, claude-rp-lab, until a manual rule prices them), embeddings (no output price), usage
-- without a model; gpt-4o in two accounts.
CREATE TEMP TABLE rp_model (account name, provider text, model text, endpoint text, p float8);
INSERT INTO rp_model VALUES
    ('rp_oa', 'openai', 'gpt-4o', 'completions', 0.5), ('rp_oa', 'openai', 'gpt-4o-mini', 'completions', 0.3),
    ('rp_oa', 'openai', 'text-embedding-3-small', 'embeddings', 0.15), ('rp_oa', 'openai', NULL, 'moderations', 0.1),
    ('rp_ob', 'openai', 'gpt-4o', 'completions', 0.45), ('rp_ob', 'openai', 'gpt-4.1', 'completions', 0.35),
    ('rp_ob', 'openai', 'rp-custom-1', 'completions', 0.2),
    ('rp_an', 'anthropic', 'claude-sonnet-4-5', 'messages', 0.5),
    ('rp_an', 'anthropic', 'claude-haiku-4-5', 'messages', 0.35),
    ('rp_an', 'anthropic', 'claude-rp-lab', 'messages', 0.15);

-- The periods compared, relative to the fixed today.
CREATE TEMP TABLE rp_period (pname text PRIMARY KEY, period daterange, prev daterange);
INSERT INTO rp_period (pname, period)
SELECT v.pname, v.period FROM rp_conf c, LATERAL (VALUES
    ('last_7_days', aispend.period('last_7_days', c.today)),
    ('last_30_days', aispend.period('last_30_days', c.today)),
    ('last_365_days', aispend.period('last_365_days', c.today)),
    ('previous_month', aispend.period('previous_month', c.today)),
    ('custom 08-01..08-20', aispend.custom_period('2026-08-01', '2026-08-20'))) AS v(pname, period);
UPDATE rp_period SET prev = aispend.previous_period(period);

-- ---------------------------------------------------------------- bookkeeping

CREATE TEMP TABLE rp_fact (day date, account name, workspace_id text, api_key_id text, model text, cost numeric,
                           tokens bigint, requests bigint, cost_basis text);
CREATE TEMP TABLE rp_want (tab text, pname text, entity text, cost numeric, tokens bigint, requests bigint,
                           previous_cost numeric, previous_tokens bigint, previous_requests bigint);
CREATE TEMP TABLE rp_got (LIKE rp_want);
CREATE TEMP TABLE rp_cur (tab text, pname text, entity text, n_rows bigint,
                          cost numeric, tokens bigint, requests bigint, previous_cost numeric, previous_tokens bigint,
                          previous_requests bigint,
                          want_cost numeric, want_tokens bigint, want_requests bigint, want_previous_cost numeric,
                          want_previous_tokens bigint, want_previous_requests bigint);
CREATE TEMP TABLE rp_prevdiff (LIKE rp_cur);
CREATE TEMP TABLE rp_new (LIKE rp_cur);
CREATE TEMP TABLE rp_step (seed float8, step integer, kind text, descr text, diffs integer, new_diffs integer,
                           facts integer, estimated integer, allocated integer, billed integer, total_cost numeric,
                           step_ms numeric, deferred_ms numeric, compare_ms numeric);
CREATE TEMP TABLE rp_detail (seed float8, step integer, why text, LIKE rp_cur);
CREATE TEMP TABLE rp_result (ord integer, seed float8, steps integer, diffs bigint);
CREATE TEMP TABLE rp_su (endpoint text, bucket_start timestamptz, workspace_id text, api_key_id text, model text,
                         service_tier text, batch boolean, context_window text, inference_geo text, uncached bigint,
                         cache_read bigint, cw5 bigint, cw1h bigint, output bigint, requests bigint, web_search bigint);
CREATE TEMP TABLE rp_sc (bucket_start timestamptz, workspace_id text, api_key_id text, line_item text, model text,
                         token_type text, cost_type text, amount numeric);

-- ---------------------------------------------------------------- random helpers (setseed makes them repeatable)

CREATE FUNCTION pg_temp.rp_int(lo integer, hi integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    RETURN lo + floor(random() * (hi - lo + 1))::integer;
END $$;

CREATE FUNCTION pg_temp.rp_pick(a text[]) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN a[pg_temp.rp_int(1, cardinality(a))];
END $$;

CREATE FUNCTION pg_temp.rp_amount(hi numeric) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    RETURN round((random() * hi)::numeric, pg_temp.rp_int(2, 6));
END $$;

CREATE FUNCTION pg_temp.rp_utc(d date) RETURNS timestamptz LANGUAGE sql IMMUTABLE
RETURN d::timestamp AT TIME ZONE 'UTC';

-- The present accounts, in a fixed order.
CREATE FUNCTION pg_temp.rp_present() RETURNS name[] LANGUAGE sql STABLE
RETURN (SELECT coalesce(array_agg(a.account ORDER BY a.account), '{}') FROM rp_acct a WHERE a.present);

-- ---------------------------------------------------------------- steps

-- An account: its server and the dimension rows a sync would list.
CREATE FUNCTION pg_temp.rp_create_account(p_acct name) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    prov text := (SELECT a.provider FROM rp_acct a WHERE a.account = p_acct);
BEGIN
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER aispend OPTIONS (provider %L)', p_acct, prov);
    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status)
    SELECT w.account, prov, w.workspace_id, w.provider_name, 'active' FROM rp_ws w
    WHERE w.account = p_acct AND w.listed;
    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, status, workspace_id)
    SELECT DISTINCT ON (k.api_key_id) k.account, prov, k.api_key_id, k.api_key_id || ' key', 'active', k.workspace_id
    FROM rp_key k WHERE k.account = p_acct ORDER BY k.api_key_id, k.workspace_id;
    UPDATE rp_acct SET present = true WHERE account = p_acct;
END $$;

CREATE FUNCTION pg_temp.rp_drop_account(p_acct name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', p_acct);
    PERFORM aispend.forget_account(p_acct);
    UPDATE rp_acct SET present = false WHERE account = p_acct;
END $$;

-- (a) One sync window [p_from, p_to] of an account; p_what: both, usage, costs, failed (a failed costs run, no
-- data), or hand (usage and costs loaded without any sync_runs row). Returns a description.
CREATE FUNCTION pg_temp.rp_sync(p_acct name, p_from date, p_to date, p_what text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    prov text := (SELECT a.provider FROM rp_acct a WHERE a.account = p_acct);
    lo timestamptz := pg_temp.rp_utc(p_from);
    hi timestamptz := pg_temp.rp_utc(p_to + 1);
    d date;
    ws record;
    m record;
    k record;
    keys_used text[];
    models_used text[];
    r float8;
    bs timestamptz;
    started timestamptz;
    run_id bigint;
BEGIN
    IF p_what = 'failed' THEN   -- a costs run that stored nothing: failed, aborted, or still 'running'
        started := pg_temp.rp_utc(p_to) + random() * interval '2 days';
        r := random();
        INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at,
                                       finished_at, status, error_sqlstate, error_message)
        VALUES (p_acct, 'costs', lo, hi, '1d', started, CASE WHEN r < 0.7 THEN started + interval '3 seconds' END,
                CASE WHEN r < 0.5 THEN 'failed' WHEN r < 0.7 THEN 'aborted' ELSE 'running' END,
                CASE WHEN r < 0.5 THEN 'AS005' WHEN r < 0.7 THEN '57014' END,
                CASE WHEN r < 0.7 THEN 'rollup_property: no data stored' END);
        RETURN format('sync %s %s..%s: a %s costs run at %s (nothing stored)', p_acct, p_from, p_to,
                      CASE WHEN r < 0.5 THEN 'failed' WHEN r < 0.7 THEN 'aborted' ELSE 'running' END,
                      to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'));
    END IF;

    TRUNCATE rp_su, rp_sc;
    FOR d IN SELECT g::date FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') g LOOP
        bs := pg_temp.rp_utc(d);
        FOR ws IN SELECT * FROM rp_ws w WHERE w.account = p_acct ORDER BY w.workspace_id LOOP
            CONTINUE WHEN random() < 0.35;
            models_used := '{}';
            FOR m IN SELECT * FROM rp_model x WHERE x.account = p_acct ORDER BY x.model NULLS LAST LOOP
                CONTINUE WHEN random() >= m.p;
                keys_used := '{}';
                FOR k IN SELECT * FROM rp_key y WHERE y.account = p_acct AND y.workspace_id = ws.workspace_id
                         ORDER BY y.api_key_id LOOP
                    CONTINUE WHEN random() < 0.5;
                    keys_used := keys_used || k.api_key_id;
                    IF prov = 'openai' THEN
                        INSERT INTO rp_su VALUES (m.endpoint, bs, ws.workspace_id, k.api_key_id, m.model,
                            CASE WHEN m.endpoint = 'completions' THEN pg_temp.rp_pick('{NULL,NULL,default,flex,priority}') END,
                            CASE WHEN m.endpoint <> 'completions' THEN false
                                 ELSE (ARRAY[true, false, false, NULL])[pg_temp.rp_int(1, 4)] END,
                            NULL, NULL,
                            pg_temp.rp_int(0, 2000000),
                            CASE WHEN m.endpoint = 'completions' AND random() < 0.5 THEN pg_temp.rp_int(0, 400000) END,
                            NULL, NULL,
                            CASE WHEN m.endpoint = 'completions' THEN pg_temp.rp_int(0, 600000) END,
                            pg_temp.rp_int(1, 800), NULL);
                    ELSE
                        INSERT INTO rp_su VALUES (m.endpoint, bs, ws.workspace_id, k.api_key_id, m.model,
                            pg_temp.rp_pick('{standard,standard,batch,NULL}'), NULL,
                            CASE WHEN random() < 0.15 THEN '200k-1M' ELSE '0-200k' END,
                            pg_temp.rp_pick('{NULL,NULL,us,global}'),
                            pg_temp.rp_int(0, 1500000),
                            CASE WHEN random() < 0.7 THEN pg_temp.rp_int(0, 900000) END,
                            CASE WHEN random() < 0.5 THEN pg_temp.rp_int(0, 200000) END,
                            CASE WHEN random() < 0.3 THEN pg_temp.rp_int(0, 100000) END,
                            pg_temp.rp_int(0, 400000), NULL,
                            CASE WHEN random() < 0.2 THEN pg_temp.rp_int(0, 40) END);
                    END IF;
                    -- now and then a second row of the same key (another tier / batch flag): summed by key
                    IF random() < 0.1 THEN
                        INSERT INTO rp_su
                        SELECT s.endpoint, s.bucket_start, s.workspace_id, s.api_key_id, s.model,
                               CASE WHEN prov = 'openai' THEN 'flex' ELSE 'batch' END, s.batch, s.context_window,
                               s.inference_geo, pg_temp.rp_int(0, 300000), NULL, NULL, NULL,
                               CASE WHEN s.output IS NOT NULL THEN pg_temp.rp_int(0, 100000) END, s.requests, NULL
                        FROM (SELECT * FROM rp_su s2 WHERE s2.bucket_start = bs AND s2.workspace_id = ws.workspace_id
                                AND s2.api_key_id = k.api_key_id AND s2.model IS NOT DISTINCT FROM m.model LIMIT 1) s;
                    END IF;
                END LOOP;
                CONTINUE WHEN m.model IS NULL OR cardinality(keys_used) = 0;
                models_used := models_used || m.model;
                -- the bill of the slice (day, workspace, model): shared among its keys, or per key, or none
                r := random();
                IF r < 0.08 THEN
                    NULL;   -- nothing billed for this slice
                ELSIF prov = 'openai' AND r < 0.3 THEN
                    INSERT INTO rp_sc SELECT bs, ws.workspace_id, x, m.model || ', input', m.model, 'input', NULL,
                                             pg_temp.rp_amount(12)
                    FROM unnest(keys_used) WITH ORDINALITY AS u(x, o) ORDER BY o;
                ELSE
                    INSERT INTO rp_sc VALUES (bs, ws.workspace_id, NULL, m.model || ', input', m.model, 'input', NULL,
                                              pg_temp.rp_amount(12));
                    IF random() < 0.6 THEN
                        INSERT INTO rp_sc VALUES (bs, ws.workspace_id, NULL, m.model || ', output', m.model, 'output',
                                                  NULL, pg_temp.rp_amount(20));
                    END IF;
                END IF;
            END LOOP;
            -- tool and service fees (no model), sometimes billed to a key
            IF random() < 0.15 THEN
                INSERT INTO rp_sc VALUES (bs, ws.workspace_id,
                    CASE WHEN prov = 'openai' AND random() < 0.3
                         THEN (SELECT y.api_key_id FROM rp_key y WHERE y.account = p_acct AND y.workspace_id = ws.workspace_id
                               ORDER BY y.api_key_id LIMIT 1) END,
                    pg_temp.rp_pick('{web search,code execution,file search,NULL}'), NULL, NULL,
                    pg_temp.rp_pick('{tool,NULL}'), pg_temp.rp_amount(3));
            END IF;
            -- a model billed without any usage behind it in this workspace that day
            IF random() < 0.05 THEN
                INSERT INTO rp_sc
                SELECT bs, ws.workspace_id, NULL, x.model || ', input', x.model, 'input', NULL, pg_temp.rp_amount(5)
                FROM (SELECT DISTINCT y.model FROM rp_model y WHERE y.provider = prov AND y.model IS NOT NULL) x
                WHERE x.model <> ALL (models_used)
                ORDER BY x.model LIMIT 1;
            END IF;
        END LOOP;
        -- a credit (negative line) now and then
        IF random() < 0.03 THEN
            INSERT INTO rp_sc VALUES (bs, (SELECT w.workspace_id FROM rp_ws w WHERE w.account = p_acct
                                           ORDER BY w.workspace_id LIMIT 1),
                                      NULL, 'credit', NULL, NULL, 'credit', -pg_temp.rp_amount(5));
        END IF;
        -- no bill at all for this day yet
        IF random() < 0.12 THEN
            DELETE FROM rp_sc WHERE bucket_start = bs;
        END IF;
    END LOOP;

    IF p_what IN ('both', 'usage', 'hand') THEN
        IF p_what <> 'hand' THEN
            INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at,
                                           finished_at, status, complete_through)
            VALUES (p_acct, 'usage', lo, hi, '1d', hi, hi + interval '5 seconds', 'succeeded', hi);
        END IF;
        DELETE FROM aispend.usage u
         WHERE u.account = p_acct AND u.bucket_start >= lo AND u.bucket_start < hi
           AND NOT EXISTS (
               SELECT 1 FROM rp_su s
               WHERE ROW(s.endpoint, s.bucket_start, '1d', s.workspace_id, s.api_key_id, s.model, s.service_tier,
                         s.batch, s.context_window, s.inference_geo)
                     IS NOT DISTINCT FROM
                     ROW(u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model,
                         u.service_tier, u.batch, u.context_window, u.inference_geo));
        INSERT INTO aispend.usage AS u (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model,
                                        service_tier, batch, context_window, inference_geo, uncached_input_tokens,
                                        cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                                        output_tokens, requests, web_search_requests)
        SELECT p_acct, s.endpoint, s.bucket_start, '1d', s.workspace_id, s.api_key_id, s.model, s.service_tier,
               s.batch, s.context_window, s.inference_geo, sum(s.uncached)::bigint, sum(s.cache_read)::bigint,
               sum(s.cw5)::bigint, sum(s.cw1h)::bigint, sum(s.output)::bigint, sum(s.requests)::bigint,
               sum(s.web_search)::bigint
        FROM rp_su s
        GROUP BY s.endpoint, s.bucket_start, s.workspace_id, s.api_key_id, s.model, s.service_tier, s.batch,
                 s.context_window, s.inference_geo
        ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE
           SET uncached_input_tokens = excluded.uncached_input_tokens, cache_read_tokens = excluded.cache_read_tokens,
               cache_write_5m_tokens = excluded.cache_write_5m_tokens,
               cache_write_1h_tokens = excluded.cache_write_1h_tokens, output_tokens = excluded.output_tokens,
               requests = excluded.requests, web_search_requests = excluded.web_search_requests
         WHERE (u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                u.output_tokens, u.requests, u.web_search_requests)
               IS DISTINCT FROM
               (excluded.uncached_input_tokens, excluded.cache_read_tokens, excluded.cache_write_5m_tokens,
                excluded.cache_write_1h_tokens, excluded.output_tokens, excluded.requests,
                excluded.web_search_requests);
    END IF;

    IF p_what IN ('both', 'costs', 'hand') THEN
        -- the costs run: started during the window's last day (that day's bill still open) or after it ended
        IF random() < 0.5 THEN
            started := pg_temp.rp_utc(p_to) + random() * interval '23 hours 59 minutes';
        ELSE
            started := hi + random() * interval '3 days';
        END IF;
        run_id := NULL;
        IF p_what <> 'hand' AND random() < 0.5 THEN   -- as the sync does: 'running' first, 'succeeded' after the merge
            INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at)
            VALUES (p_acct, 'costs', lo, hi, '1d', started) RETURNING id INTO run_id;
        END IF;
        DELETE FROM aispend.costs c
         WHERE c.account = p_acct AND c.bucket_start >= lo AND c.bucket_start < hi
           AND NOT EXISTS (
               SELECT 1 FROM rp_sc s
               WHERE ROW(s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type, NULL::text,
                         NULL::text, s.cost_type, NULL::text, 'USD', NULL::text)
                     IS NOT DISTINCT FROM
                     ROW(c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
                         c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit));
        INSERT INTO aispend.costs AS c (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type,
                                        cost_type, amount_usd, currency)
        SELECT p_acct, s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type, s.cost_type,
               sum(s.amount), 'USD'
        FROM rp_sc s
        GROUP BY s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type, s.cost_type
        ON CONFLICT ON CONSTRAINT costs_natural_key DO UPDATE SET amount_usd = excluded.amount_usd
         WHERE c.amount_usd::text <> excluded.amount_usd::text;
        IF p_what = 'hand' THEN
            NULL;
        ELSIF run_id IS NULL THEN
            INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at,
                                           finished_at, status, complete_through)
            VALUES (p_acct, 'costs', lo, hi, '1d', started, started + interval '4 seconds', 'succeeded',
                    LEAST(hi, GREATEST(lo, date_trunc('day', started, 'UTC'))));
        ELSE
            UPDATE aispend.sync_runs r
               SET status = 'succeeded', finished_at = started + interval '4 seconds',
                   complete_through = LEAST(hi, GREATEST(lo, date_trunc('day', started, 'UTC')))
             WHERE r.account = p_acct AND r.id = run_id;
        END IF;
    END IF;
    RETURN format('sync %s %s..%s (%s: %s%s)', p_acct, p_from, p_to, p_what,
                  concat_ws(', ', CASE WHEN p_what <> 'costs' THEN (SELECT count(*) FROM rp_su) || ' usage rows' END,
                            CASE WHEN p_what <> 'usage' THEN (SELECT count(*) FROM rp_sc) || ' cost lines' END),
                  CASE WHEN p_what IN ('both', 'costs')
                       THEN format('; costs run %s, started %s',
                                   CASE WHEN run_id IS NULL THEN 'inserted succeeded' ELSE 'running -> succeeded' END,
                                   to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) ELSE '' END);
END $$;

-- An account created and its whole range loaded in windows of p_len days (by hand: without sync_runs rows).
CREATE FUNCTION pg_temp.rp_load_account(p_acct name, p_len integer, p_hand boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    today date := (SELECT c.today FROM rp_conf c);
    d date := (SELECT c.first_day FROM rp_conf c);
BEGIN
    PERFORM pg_temp.rp_create_account(p_acct);
    WHILE d <= today LOOP
        PERFORM pg_temp.rp_sync(p_acct, d, LEAST(d + (p_len - 1), today), CASE WHEN p_hand THEN 'hand' ELSE 'both' END);
        d := d + p_len;
    END LOOP;
END $$;

-- A random window of a present account.
CREATE FUNCTION pg_temp.rp_step_sync() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    accts name[] := pg_temp.rp_present();
    acct name := accts[pg_temp.rp_int(1, cardinality(accts))];
    today date := (SELECT c.today FROM rp_conf c);
    first date := (SELECT c.first_day FROM rp_conf c);
    len integer := pg_temp.rp_int(1, 10);
    d0 date;
    d1 date;
    r float8;
BEGIN
    IF random() < 0.2 THEN
        d1 := today;
        d0 := today - (len - 1);
    ELSE
        d0 := first + pg_temp.rp_int(0, today - first);
        d1 := LEAST(d0 + (len - 1), today);
    END IF;
    r := random();
    RETURN pg_temp.rp_sync(acct, d0, d1, CASE WHEN r < 0.68 THEN 'both' WHEN r < 0.78 THEN 'usage'
                                              WHEN r < 0.88 THEN 'costs' WHEN r < 0.94 THEN 'hand' ELSE 'failed' END);
END $$;

-- (b) A provider-side correction of past days.
CREATE FUNCTION pg_temp.rp_step_correct() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    accts name[] := pg_temp.rp_present();
    acct name := accts[pg_temp.rp_int(1, cardinality(accts))];
    r float8 := random();
    n integer;
    i integer;
    t tid;
    done integer := 0;
    what text;
BEGIN
    IF r < 0.55 OR r >= 0.85 AND random() < 0.5 THEN   -- usage
        SELECT count(*) INTO n FROM aispend.usage u WHERE u.account = acct;
        IF n = 0 THEN RETURN format('correction %s: no usage', acct); END IF;
        FOR i IN 1 .. pg_temp.rp_int(1, 4) LOOP
            SELECT u.ctid INTO t FROM aispend.usage u WHERE u.account = acct
            ORDER BY u.bucket_start, u.endpoint, u.workspace_id, u.api_key_id, u.model, u.service_tier, u.batch,
                     u.context_window, u.inference_geo
            OFFSET pg_temp.rp_int(0, n - 1) LIMIT 1;
            CONTINUE WHEN t IS NULL;
            IF r < 0.3 THEN
                what := 'usage tokens updated';
                UPDATE aispend.usage u SET output_tokens = (u.output_tokens * (0.5 + random() * 1.5))::bigint,
                                           uncached_input_tokens = u.uncached_input_tokens + pg_temp.rp_int(0, 50000),
                                           requests = u.requests + pg_temp.rp_int(0, 20)
                 WHERE u.ctid = t;
            ELSIF r < 0.55 THEN
                what := 'usage rows deleted';
                DELETE FROM aispend.usage u WHERE u.ctid = t;
                n := n - 1;
                EXIT WHEN n = 0;
            ELSE
                what := 'usage row moved (day, key or model)';
                BEGIN
                    CASE pg_temp.rp_int(1, 3)
                        WHEN 1 THEN
                            UPDATE aispend.usage u
                               SET bucket_start = GREATEST(pg_temp.rp_utc((SELECT c.first_day FROM rp_conf c)),
                                                   LEAST(pg_temp.rp_utc((SELECT c.today FROM rp_conf c)),
                                                         ((u.bucket_start AT TIME ZONE 'UTC') + pg_temp.rp_int(-6, 6) * interval '1 day') AT TIME ZONE 'UTC'))
                             WHERE u.ctid = t;
                        WHEN 2 THEN
                            UPDATE aispend.usage u
                               SET api_key_id = (SELECT k.api_key_id FROM rp_key k WHERE k.account = acct
                                                 ORDER BY k.workspace_id, k.api_key_id
                                                 OFFSET pg_temp.rp_int(0, 4) LIMIT 1)
                             WHERE u.ctid = t;
                        ELSE
                            UPDATE aispend.usage u
                               SET model = (SELECT m.model FROM rp_model m WHERE m.account = acct AND m.model IS NOT NULL
                                            ORDER BY m.model OFFSET pg_temp.rp_int(0, 2) LIMIT 1)
                             WHERE u.ctid = t;
                    END CASE;
                EXCEPTION WHEN unique_violation THEN
                    NULL;   -- the target already exists: no correction this time
                END;
            END IF;
            done := done + 1;
        END LOOP;
    ELSE   -- costs
        SELECT count(*) INTO n FROM aispend.costs c WHERE c.account = acct;
        IF n = 0 THEN RETURN format('correction %s: no costs', acct); END IF;
        FOR i IN 1 .. pg_temp.rp_int(1, 4) LOOP
            SELECT c.ctid INTO t FROM aispend.costs c WHERE c.account = acct
            ORDER BY c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
                     c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit
            OFFSET pg_temp.rp_int(0, n - 1) LIMIT 1;
            CONTINUE WHEN t IS NULL;
            IF r < 0.72 THEN
                what := 'cost amounts updated';
                UPDATE aispend.costs c SET amount_usd = round(c.amount_usd * (0.5 + random())::numeric, 6) + 0.01 WHERE c.ctid = t;
            ELSIF r < 0.85 THEN
                what := 'cost lines deleted';
                DELETE FROM aispend.costs c WHERE c.ctid = t;
                n := n - 1;
                EXIT WHEN n = 0;
            ELSE
                what := 'cost line moved (day or workspace)';
                BEGIN
                    IF random() < 0.5 THEN
                        UPDATE aispend.costs c
                           SET bucket_start = GREATEST(pg_temp.rp_utc((SELECT x.first_day FROM rp_conf x)),
                                                       LEAST(pg_temp.rp_utc((SELECT x.today FROM rp_conf x)),
                                                             ((c.bucket_start AT TIME ZONE 'UTC') + pg_temp.rp_int(-6, 6) * interval '1 day') AT TIME ZONE 'UTC'))
                         WHERE c.ctid = t;
                    ELSE
                        UPDATE aispend.costs c
                           SET workspace_id = (SELECT w.workspace_id FROM rp_ws w WHERE w.account = acct
                                               ORDER BY w.workspace_id OFFSET pg_temp.rp_int(0, 2) LIMIT 1)
                         WHERE c.ctid = t;
                    END IF;
                EXCEPTION WHEN unique_violation THEN
                    NULL;
                END;
            END IF;
            done := done + 1;
        END LOOP;
    END IF;
    RETURN format('correction %s: %s (%s rows)', acct, what, done);
END $$;

-- (c) The price catalogue: manual rules for the models in use.
CREATE FUNCTION pg_temp.rp_step_prices() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    first date := (SELECT c.first_day FROM rp_conf c);
    r float8 := random();
    n integer := (SELECT count(*) FROM aispend.model_prices p WHERE p.origin = 'manual');
    prov text;
    kind text;
    pat text;
    vf date;
    vt date;
    inp numeric;
    pid bigint;
    k integer;
BEGIN
    IF n = 0 OR r < 0.45 THEN
        prov := pg_temp.rp_pick('{openai,openai,anthropic}');
        r := random();
        IF r < 0.55 THEN
            kind := 'exact';
            pat := (SELECT m.model FROM (SELECT DISTINCT y.model FROM rp_model y
                                         WHERE y.provider = prov AND y.model IS NOT NULL) m
                    ORDER BY m.model OFFSET pg_temp.rp_int(0, CASE prov WHEN 'openai' THEN 4 ELSE 2 END) LIMIT 1);
        ELSIF r < 0.7 THEN
            kind := 'regex';
            pat := CASE prov WHEN 'openai' THEN pg_temp.rp_pick(ARRAY['^gpt-4o', '^(gpt-4\.1|rp-custom-1)$', 'small$'])
                             ELSE pg_temp.rp_pick(ARRAY['^claude-(sonnet|haiku)-4-5$', 'lab$']) END;
        ELSE
            kind := 'prefix';
            pat := CASE prov WHEN 'openai' THEN pg_temp.rp_pick('{gpt-4o,gpt-4,gpt-,rp-,text-embedding}')
                             ELSE pg_temp.rp_pick('{claude-,claude-sonnet,claude-haiku-4,claude-rp}') END;
        END IF;
        vf := CASE WHEN random() < 0.5 THEN '-infinity' ELSE first + pg_temp.rp_int(0, 59) END;
        vt := CASE WHEN random() < 0.6 THEN NULL
                   ELSE CASE WHEN vf = '-infinity' THEN first ELSE vf END + pg_temp.rp_int(1, 40) END;
        inp := round((0.05 + random() * 5)::numeric, 3);
        INSERT INTO aispend.model_prices (provider, match_kind, pattern, valid_from, valid_to, min_input_tokens,
                                          input_per_mtok, cache_read_per_mtok, cache_write_5m_per_mtok,
                                          output_per_mtok, web_search_per_k, batch_multiplier, tier_multipliers,
                                          geo_multipliers, origin, source, note)
        VALUES (prov, kind, pat, vf, vt,
                CASE WHEN prov = 'anthropic' AND random() < 0.15 THEN 200000 ELSE 0 END,
                inp, CASE WHEN random() < 0.5 THEN round(inp / 10, 4) END,
                CASE WHEN random() < 0.3 THEN round(inp * 1.25, 4) END,
                CASE WHEN random() < 0.05 THEN NULL ELSE round(inp * pg_temp.rp_int(2, 8), 3) END,
                CASE WHEN random() < 0.5 THEN 10 END,
                (ARRAY[0.5, 0.5, 1, 0.25])[pg_temp.rp_int(1, 4)],
                pg_temp.rp_pick('{"{}","{\"flex\": 0.5}","{\"priority\": 2}"}')::jsonb,
                pg_temp.rp_pick('{"{}","{\"us\": 1.1}"}')::jsonb,
                'manual', 'manual', 'rollup_property')
        RETURNING id INTO pid;
        RETURN format('price: INSERT manual %s %s %s [%s, %s) input %s (id %s)', prov, kind, pat, vf,
                      coalesce(vt::text, 'open'), inp, pid);
    END IF;
    SELECT p.id, p.pattern INTO pid, pat FROM aispend.model_prices p WHERE p.origin = 'manual'
    ORDER BY p.id OFFSET pg_temp.rp_int(0, n - 1) LIMIT 1;
    IF r < 0.62 THEN
        IF random() < 0.3 THEN
            prov := pg_temp.rp_pick('{openai,anthropic}');
            UPDATE aispend.model_prices p
               SET input_per_mtok = p.input_per_mtok * 10, output_per_mtok = p.output_per_mtok * 10,
                   cache_read_per_mtok = p.cache_read_per_mtok * 10
             WHERE p.origin = 'manual' AND p.provider = prov;
            GET DIAGNOSTICS k = ROW_COUNT;
            RETURN format('price: UPDATE every manual %s row x10 (%s rows)', prov, k);
        END IF;
        UPDATE aispend.model_prices p
           SET input_per_mtok = p.input_per_mtok * 10, output_per_mtok = p.output_per_mtok * 10,
               cache_read_per_mtok = p.cache_read_per_mtok * 10
         WHERE p.id = pid;
        RETURN format('price: UPDATE manual id %s (%s) x10', pid, pat);
    ELSIF r < 0.74 THEN
        vf := CASE WHEN random() < 0.3 THEN '-infinity' ELSE first + pg_temp.rp_int(0, 59) END;
        vt := CASE WHEN random() < 0.5 THEN NULL
                   ELSE CASE WHEN vf = '-infinity' THEN first ELSE vf END + pg_temp.rp_int(1, 40) END;
        UPDATE aispend.model_prices p SET valid_from = vf, valid_to = vt WHERE p.id = pid;
        RETURN format('price: UPDATE manual id %s (%s) valid [%s, %s)', pid, pat, vf, coalesce(vt::text, 'open'));
    ELSIF r < 0.82 THEN
        SELECT p.provider INTO prov FROM aispend.model_prices p WHERE p.id = pid;
        kind := pg_temp.rp_pick('{exact,prefix}');
        pat := CASE WHEN kind = 'prefix'
                    THEN CASE prov WHEN 'openai' THEN pg_temp.rp_pick('{gpt-4o-m,gpt-4.,rp-custom}')
                                   ELSE pg_temp.rp_pick('{claude-s,claude-h,claude-rp-}') END
                    ELSE (SELECT m.model FROM (SELECT DISTINCT y.model FROM rp_model y
                                               WHERE y.provider = prov AND y.model IS NOT NULL) m
                          ORDER BY m.model OFFSET pg_temp.rp_int(0, 2) LIMIT 1) END;
        UPDATE aispend.model_prices p SET match_kind = kind, pattern = pat WHERE p.id = pid;
        RETURN format('price: UPDATE manual id %s pattern -> %s %s', pid, kind, pat);
    ELSIF r < 0.94 THEN
        DELETE FROM aispend.model_prices p WHERE p.id = pid;
        RETURN format('price: DELETE manual id %s (%s)', pid, pat);
    ELSE
        DELETE FROM aispend.model_prices p WHERE p.origin = 'manual';
        RETURN format('price: DELETE every manual row (%s)', n);
    END IF;
END $$;

-- (d) Renames.
CREATE FUNCTION pg_temp.rp_step_rename() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
    n integer := (SELECT count(*) FROM aispend.workspaces w JOIN rp_acct a ON a.account = w.account);
    w1 record;
    w2 record;
    nm text;
BEGIN
    IF n = 0 THEN RETURN 'rename: no workspace'; END IF;
    SELECT w.account, w.workspace_id INTO w1 FROM aispend.workspaces w JOIN rp_acct a ON a.account = w.account
    ORDER BY w.account, w.workspace_id OFFSET pg_temp.rp_int(0, n - 1) LIMIT 1;
    IF r < 0.5 OR NOT EXISTS (SELECT 1 FROM aispend.workspaces w JOIN rp_acct a ON a.account = w.account
                              WHERE w.account <> w1.account) THEN
        nm := pg_temp.rp_pick('{Team Red,Team Blue,Shared,Alpha,wrk_ghost,NULL,NULL}');
        UPDATE aispend.workspaces w SET display_name = nm WHERE w.account = w1.account AND w.workspace_id = w1.workspace_id;
        RETURN format('rename: %s/%s display_name = %s', w1.account, w1.workspace_id, coalesce(nm, 'NULL'));
    ELSIF r < 0.78 THEN
        SELECT w.account, w.workspace_id INTO w2 FROM aispend.workspaces w JOIN rp_acct a ON a.account = w.account
        WHERE w.account <> w1.account ORDER BY w.account, w.workspace_id
        OFFSET pg_temp.rp_int(0, (SELECT count(*)::integer - 1 FROM aispend.workspaces w JOIN rp_acct a ON a.account = w.account
                                  WHERE w.account <> w1.account)) LIMIT 1;
        nm := pg_temp.rp_pick('{Team Red,Combined,Shared}');
        UPDATE aispend.workspaces w SET display_name = nm
         WHERE (w.account, w.workspace_id) IN ((w1.account, w1.workspace_id), (w2.account, w2.workspace_id));
        RETURN format('rename: %s/%s and %s/%s display_name = %s (combined)', w1.account, w1.workspace_id,
                      w2.account, w2.workspace_id, nm);
    ELSIF r < 0.88 THEN
        UPDATE aispend.workspaces w SET display_name = NULL
         WHERE w.account IN (SELECT a.account FROM rp_acct a) AND w.display_name IS NOT NULL;
        RETURN 'rename: every display_name reset';
    ELSE
        nm := pg_temp.rp_pick('{Alpha,Beta,Shared,Support,Renamed upstream}');
        UPDATE aispend.workspaces w SET provider_name = nm WHERE w.account = w1.account AND w.workspace_id = w1.workspace_id;
        RETURN format('rename: %s/%s provider_name = %s (provider side)', w1.account, w1.workspace_id, nm);
    END IF;
END $$;

-- (e) An account dropped and forgotten, or re-created and loaded again (its whole range, window by window).
CREATE FUNCTION pg_temp.rp_step_account() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    present name[] := pg_temp.rp_present();
    absent name[] := (SELECT coalesce(array_agg(a.account ORDER BY a.account), '{}') FROM rp_acct a WHERE NOT a.present);
    acct name;
    hand boolean;
BEGIN
    IF cardinality(absent) > 0 AND (random() < 0.75 OR cardinality(present) <= 1) THEN
        acct := absent[pg_temp.rp_int(1, cardinality(absent))];
        hand := random() < 0.3;
        PERFORM pg_temp.rp_load_account(acct, pg_temp.rp_int(4, 10), hand);
        RETURN format('account %s re-created and loaded%s', acct,
                      CASE WHEN hand THEN ' by hand (no sync_runs: every billed day settled)' ELSE '' END);
    END IF;
    acct := present[pg_temp.rp_int(1, cardinality(present))];
    PERFORM pg_temp.rp_drop_account(acct);
    RETURN format('account %s: DROP SERVER CASCADE + forget_account', acct);
END $$;

-- ---------------------------------------------------------------- the oracle and the comparison

-- Compares every tab and summary with the oracle; records the step; returns the number of differing rows.
CREATE FUNCTION pg_temp.rp_compare(p_seed float8, p_step integer, p_kind text, p_descr text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    lo date := (SELECT min(lower(p.prev)) FROM rp_period p);
    hi date := (SELECT max(upper(p.period)) - 1 FROM rp_period p);
    n integer;
    n_new integer;
    have integer;
BEGIN
    TRUNCATE rp_fact, rp_want, rp_got, rp_cur;

    -- The oracle: the cost model read live, from scratch, for every account with facts.
    INSERT INTO rp_fact
    SELECT f.day, f.account, f.workspace_id, f.api_key_id, coalesce(f.model, '(no model: tool & service fees)'),
           f.cost, f.total_tokens, f.requests, f.cost_basis
    FROM (SELECT u.account FROM aispend.usage u UNION SELECT c.account FROM aispend.costs c) a
    CROSS JOIN LATERAL aispend.cost_facts_between(a.account, lo, hi) f;

    INSERT INTO rp_want
    SELECT 'workspaces', p.pname, coalesce(w.name, f.workspace_id),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.period), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.period), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.period),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.prev), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.prev), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.prev)
    FROM rp_period p
    JOIN rp_fact f ON f.day <@ p.period OR f.day <@ p.prev
    LEFT JOIN aispend.workspaces w ON w.account = f.account AND w.workspace_id = f.workspace_id
    GROUP BY p.pname, coalesce(w.name, f.workspace_id);
    INSERT INTO rp_want
    SELECT 'api_keys', p.pname, format('%s / %s / %s', f.account, f.workspace_id, f.api_key_id),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.period), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.period), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.period),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.prev), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.prev), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.prev)
    FROM rp_period p
    JOIN rp_fact f ON f.day <@ p.period OR f.day <@ p.prev
    GROUP BY p.pname, f.account, f.workspace_id, f.api_key_id;
    INSERT INTO rp_want
    SELECT 'models', p.pname, f.model,
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.period), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.period), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.period),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.prev), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.prev), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.prev)
    FROM rp_period p
    JOIN rp_fact f ON f.day <@ p.period OR f.day <@ p.prev
    GROUP BY p.pname, f.model;
    -- every summary's total is the sum over everything
    INSERT INTO rp_want
    SELECT s.tab, p.pname, '(summary)',
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.period), 0),
           coalesce(sum(f.tokens) FILTER (WHERE f.day <@ p.period), 0),
           sum(f.requests) FILTER (WHERE f.day <@ p.period),
           coalesce(sum(f.cost) FILTER (WHERE f.day <@ p.prev), 0), NULL, NULL
    FROM rp_period p
    CROSS JOIN (VALUES ('workspaces_summary'), ('api_keys_summary'), ('models_summary')) s(tab)
    LEFT JOIN rp_fact f ON f.day <@ p.period OR f.day <@ p.prev
    GROUP BY s.tab, p.pname;

    -- What the dashboard shows.
    INSERT INTO rp_got
    SELECT 'workspaces', p.pname, t.name, t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens,
           t.previous_requests
    FROM rp_period p CROSS JOIN LATERAL aispend.workspaces_table(p.period) t;
    INSERT INTO rp_got
    SELECT 'api_keys', p.pname, format('%s / %s / %s', t.account, t.workspace_id, t.api_key_id), t.cost, t.tokens,
           t.requests, t.previous_cost, t.previous_tokens, t.previous_requests
    FROM rp_period p CROSS JOIN LATERAL aispend.api_keys_table(p.period, include_unused => false) t;
    INSERT INTO rp_got
    SELECT 'models', p.pname, t.model, t.cost, t.tokens, t.requests, t.previous_cost, t.previous_tokens,
           t.previous_requests
    FROM rp_period p CROSS JOIN LATERAL aispend.models_table(p.period) t;
    INSERT INTO rp_got
    SELECT 'workspaces_summary', p.pname, '(summary)', s.total_cost, s.tokens, s.requests, s.previous_total_cost,
           NULL, NULL
    FROM rp_period p CROSS JOIN LATERAL aispend.workspaces_summary(p.period) s;
    INSERT INTO rp_got
    SELECT 'api_keys_summary', p.pname, '(summary)', s.total_cost, s.tokens, s.total_requests,
           s.previous_total_cost, NULL, NULL
    FROM rp_period p CROSS JOIN LATERAL aispend.api_keys_summary(p.period) s;
    INSERT INTO rp_got
    SELECT 'models_summary', p.pname, '(summary)', s.total_cost, s.tokens, s.total_requests, s.previous_total_cost,
           NULL, NULL
    FROM rp_period p CROSS JOIN LATERAL aispend.models_summary(p.period) s;

    -- Differences: a row shown twice, or any figure that differs (a row missing on one side counts as zeros: an
    -- entity with nothing in either period may be shown or not; requests NULL (not reported) equals 0).
    INSERT INTO rp_cur
    SELECT coalesce(g.tab, w.tab), coalesce(g.pname, w.pname), coalesce(g.entity, w.entity), g.n,
           g.cost, g.tokens, g.requests, g.previous_cost, g.previous_tokens, g.previous_requests,
           w.cost, w.tokens, w.requests, w.previous_cost, w.previous_tokens, w.previous_requests
    FROM (SELECT x.tab, x.pname, x.entity, count(*) AS n, sum(x.cost) AS cost, sum(x.tokens)::bigint AS tokens,
                 sum(x.requests)::bigint AS requests, sum(x.previous_cost) AS previous_cost,
                 sum(x.previous_tokens)::bigint AS previous_tokens, sum(x.previous_requests)::bigint AS previous_requests
          FROM rp_got x GROUP BY x.tab, x.pname, x.entity) g
    FULL JOIN rp_want w ON w.tab = g.tab AND w.pname = g.pname AND w.entity = g.entity
    WHERE g.n > 1
       OR coalesce(g.cost, 0) <> round(coalesce(w.cost, 0), 2)
       OR coalesce(g.tokens, 0) <> coalesce(w.tokens, 0)
       OR coalesce(g.requests, 0) <> coalesce(w.requests, 0)
       OR coalesce(g.previous_cost, 0) <> round(coalesce(w.previous_cost, 0), 2)
       OR coalesce(g.previous_tokens, 0) <> coalesce(w.previous_tokens, 0)
       OR coalesce(g.previous_requests, 0) <> coalesce(w.previous_requests, 0);
    GET DIAGNOSTICS n = ROW_COUNT;

    -- Differences this step introduced (not present, with the same figures, after the previous step).
    TRUNCATE rp_new;
    INSERT INTO rp_new SELECT * FROM rp_cur EXCEPT SELECT * FROM rp_prevdiff;
    GET DIAGNOSTICS n_new = ROW_COUNT;
    TRUNCATE rp_prevdiff;
    INSERT INTO rp_prevdiff SELECT * FROM rp_cur;

    INSERT INTO rp_step
    SELECT p_seed, p_step, p_kind, p_descr, n, n_new, count(*), count(*) FILTER (WHERE f.cost_basis = 'estimated'),
           count(*) FILTER (WHERE f.cost_basis = 'allocated'), count(*) FILTER (WHERE f.cost_basis = 'billed'),
           sum(f.cost)
    FROM rp_fact f;

    -- The first differing rows of the seed, and the first new ones of each step kind.
    SELECT count(*) INTO have FROM rp_detail d WHERE d.seed = p_seed AND d.why = 'first';
    IF n > 0 AND have < 4 THEN
        INSERT INTO rp_detail
        SELECT p_seed, p_step, 'first', c.* FROM rp_cur c ORDER BY c.tab, c.pname, c.entity LIMIT 4 - have;
    END IF;
    IF n_new > 0 AND NOT EXISTS (SELECT 1 FROM rp_detail d JOIN rp_step s ON s.seed = d.seed AND s.step = d.step
                                 WHERE d.seed = p_seed AND d.why = 'new' AND s.kind = p_kind) THEN
        INSERT INTO rp_detail
        SELECT p_seed, p_step, 'new', x.* FROM rp_new x ORDER BY x.tab, x.pname, x.entity LIMIT 1;
    END IF;
    RETURN n;
END $$;

-- ---------------------------------------------------------------- one seed

CREATE FUNCTION pg_temp.rp_run(p_ord integer, p_seed float8, p_steps integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    today date := (SELECT c.today FROM rp_conf c);
    first date := (SELECT c.first_day FROM rp_conf c);
    acct name;
    i integer;
    r float8;
    kind text;
    descr text;
    total bigint := 0;
    t0 timestamptz;
    t1 timestamptz;
    t2 timestamptz;
BEGIN
    PERFORM setseed(p_seed);
    -- a clean start: no account of this test, no manual price
    FOR acct IN SELECT a.account FROM rp_acct a ORDER BY a.account LOOP
        PERFORM pg_temp.rp_drop_account(acct);
    END LOOP;
    DELETE FROM aispend.model_prices p WHERE p.origin = 'manual';
    TRUNCATE rp_prevdiff;
    -- step 0: every account, the whole range loaded window by window (now and then by hand, without sync runs)
    descr := '';
    FOR acct IN SELECT a.account FROM rp_acct a ORDER BY a.account LOOP
        r := random();
        PERFORM pg_temp.rp_load_account(acct, 10, r < 0.25);
        descr := descr || CASE WHEN r < 0.25 THEN ' ' || acct || ' (by hand)' ELSE ' ' || acct END;
    END LOOP;
    SET CONSTRAINTS ALL IMMEDIATE;
    SET CONSTRAINTS ALL DEFERRED;
    total := pg_temp.rp_compare(p_seed, 0, 'setup', format('accounts%s loaded %s..%s in 10-day windows', descr, first, today));

    FOR i IN 1 .. p_steps LOOP
        t0 := clock_timestamp();
        r := random();
        IF r < 0.38 THEN
            kind := 'a';
            descr := pg_temp.rp_step_sync();
        ELSIF r < 0.53 THEN
            kind := 'b';
            descr := pg_temp.rp_step_correct();
        ELSIF r < 0.78 THEN
            kind := 'c';
            descr := pg_temp.rp_step_prices();
        ELSIF r < 0.93 THEN
            kind := 'd';
            descr := pg_temp.rp_step_rename();
        ELSE
            kind := 'e';
            descr := pg_temp.rp_step_account();
        END IF;
        -- what a COMMIT would do: fire the pending deferred (constraint) triggers
        t1 := clock_timestamp();
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
        t2 := clock_timestamp();
        total := total + pg_temp.rp_compare(p_seed, i, kind, descr);
        UPDATE rp_step s SET step_ms = 1000 * extract(epoch FROM t1 - t0), deferred_ms = 1000 * extract(epoch FROM t2 - t1),
                             compare_ms = 1000 * extract(epoch FROM clock_timestamp() - t2)
         WHERE s.seed = p_seed AND s.step = i;
    END LOOP;
    INSERT INTO rp_result VALUES (p_ord, p_seed, p_steps, total);
END $$;

-- One differing row, readably.
CREATE FUNCTION pg_temp.rp_fmt(d rp_detail) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s, %s, %s: ', d.tab, d.pname, d.entity)
        || CASE WHEN d.n_rows IS NULL
                THEN format('no row on the tab; the oracle has cost %s, previous %s, tokens %s, requests %s',
                            d.want_cost, d.want_previous_cost, d.want_tokens, coalesce(d.want_requests::text, 'NULL'))
                WHEN d.want_cost IS NULL
                THEN format('not in the oracle; the tab has cost %s, previous %s, tokens %s, requests %s',
                            d.cost, d.previous_cost, d.tokens, coalesce(d.requests::text, 'NULL'))
                ELSE concat_ws('; ',
                    CASE WHEN d.n_rows > 1 THEN format('%s rows on the tab', d.n_rows) END,
                    CASE WHEN coalesce(d.cost, 0) <> coalesce(d.want_cost, 0)
                         THEN format('cost %s, oracle %s', d.cost, d.want_cost) END,
                    CASE WHEN coalesce(d.previous_cost, 0) <> coalesce(d.want_previous_cost, 0)
                         THEN format('previous cost %s, oracle %s', d.previous_cost, d.want_previous_cost) END,
                    CASE WHEN coalesce(d.tokens, 0) <> coalesce(d.want_tokens, 0)
                         THEN format('tokens %s, oracle %s', d.tokens, d.want_tokens) END,
                    CASE WHEN coalesce(d.previous_tokens, 0) <> coalesce(d.want_previous_tokens, 0)
                         THEN format('previous tokens %s, oracle %s', d.previous_tokens, d.want_previous_tokens) END,
                    CASE WHEN coalesce(d.requests, 0) <> coalesce(d.want_requests, 0)
                         THEN format('requests %s, oracle %s', coalesce(d.requests::text, 'NULL'), coalesce(d.want_requests::text, 'NULL')) END,
                    CASE WHEN coalesce(d.previous_requests, 0) <> coalesce(d.want_previous_requests, 0)
                         THEN format('previous requests %s, oracle %s', coalesce(d.previous_requests::text, 'NULL'),
                                     coalesce(d.want_previous_requests::text, 'NULL')) END)
           END
$$;

-- The diagnostics of a seed: what ran, and on failure the first differences with their steps.
CREATE FUNCTION pg_temp.rp_report(p_seed float8) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    x record;
    res rp_result;
BEGIN
    SELECT * INTO res FROM rp_result r WHERE r.seed = p_seed;
    SELECT string_agg(format('%s %s', k.kind, k.n), ', ' ORDER BY k.kind) AS kinds,
           (SELECT round(avg(s.facts)) FROM rp_step s WHERE s.seed = p_seed) AS facts,
           (SELECT round(avg(s.estimated)) FROM rp_step s WHERE s.seed = p_seed) AS est,
           (SELECT round(avg(s.allocated)) FROM rp_step s WHERE s.seed = p_seed) AS alloc,
           (SELECT round(avg(s.billed)) FROM rp_step s WHERE s.seed = p_seed) AS billed
      INTO x
      FROM (SELECT s.kind, count(*) AS n FROM rp_step s WHERE s.seed = p_seed AND s.step > 0 GROUP BY s.kind) k;
    RETURN NEXT format('seed %s: steps %s; the oracle had ~%s cost facts a step (%s estimated, %s allocated, '
                       '%s billed)', p_seed, x.kinds, x.facts, x.est, x.alloc, x.billed);
    SELECT round(avg(s.step_ms), 1) AS st, round(avg(s.deferred_ms), 1) AS df, round(avg(s.compare_ms), 1) AS cm,
           round(max(s.deferred_ms), 1) AS dfmax
      INTO x FROM rp_step s WHERE s.seed = p_seed AND s.step > 0;
    RETURN NEXT format('seed %s: ms a step: %s the step, %s the deferred triggers (max %s), %s the comparison',
                       p_seed, x.st, x.df, x.dfmax, x.cm);
    IF res.diffs = 0 THEN
        RETURN;
    END IF;
    FOR x IN SELECT s.step, s.kind, s.descr, s.diffs FROM rp_step s WHERE s.seed = p_seed AND s.diffs > 0
             ORDER BY s.step LIMIT 1 LOOP
        RETURN NEXT format('seed %s: %s differing rows over all steps; the first at step %s (%s: %s):', p_seed,
                           res.diffs, x.step, x.kind, x.descr);
    END LOOP;
    FOR x IN SELECT pg_temp.rp_fmt(d) AS line FROM rp_detail d WHERE d.seed = p_seed AND d.why = 'first'
             ORDER BY d.step, d.tab, d.pname, d.entity LOOP
        RETURN NEXT '    ' || x.line;
    END LOOP;
    RETURN NEXT format('seed %s: per step kind (a sync window, b correction, c prices, d rename, e account):', p_seed);
    FOR x IN SELECT s.kind, count(*) AS n, count(*) FILTER (WHERE s.diffs > 0) AS with_diffs,
                    count(*) FILTER (WHERE s.new_diffs > 0) AS new_diffs,
                    (SELECT format(' first: step %s (%s): %s', d.step, s2.descr, pg_temp.rp_fmt(d))
                       FROM rp_detail d JOIN rp_step s2 ON s2.seed = d.seed AND s2.step = d.step
                      WHERE d.seed = p_seed AND d.why = 'new' AND s2.kind = s.kind
                      ORDER BY d.step, d.tab, d.pname, d.entity LIMIT 1) AS first_new
             FROM rp_step s WHERE s.seed = p_seed GROUP BY s.kind ORDER BY s.kind LOOP
        RETURN NEXT format('  %s: %s steps, %s ended with differences, %s made new or changed ones.%s', x.kind, x.n,
                           x.with_diffs, x.new_diffs, coalesce(x.first_new, ''));
    END LOOP;
END $$;

-- Not vacuous: the seed ran every kind of step (5 times or more), the oracle saw estimated, allocated and billed
-- costs, and price steps did move the total cost (so a rollup that ignored them would be caught).
CREATE FUNCTION pg_temp.rp_covered(p_seed float8) RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM (SELECT 1 FROM rp_step s WHERE s.seed = p_seed AND s.step > 0
                                  GROUP BY s.kind HAVING count(*) >= 5) k) = 5
       AND (SELECT max(s.estimated) > 0 AND max(s.allocated) > 0 AND max(s.billed) > 0 AND min(s.facts) > 0
            FROM rp_step s WHERE s.seed = p_seed)
       AND (SELECT count(*) FROM (SELECT s.kind, s.total_cost IS DISTINCT FROM lag(s.total_cost) OVER (ORDER BY s.step) AS moved
                                  FROM rp_step s WHERE s.seed = p_seed) m
            WHERE m.kind = 'c' AND m.moved) >= 3
$$;

-- ---------------------------------------------------------------- the seeds
-- Each seed runs in a savepoint that is rolled back after its results are kept in psql variables: every seed
-- starts from the same state, and the rows it wrote (dead after the rollback) do not slow down the next one.

SAVEPOINT seed_1;
DO $$ BEGIN PERFORM pg_temp.rp_run(1, 0.1234, 200); END $$;
-- the cumulative rows the incremental re-rolls left are those a rebuild from scratch makes (row for row, zero
-- rows included: a re-roll that started before an entity's first month once left one there)
CREATE TEMP TABLE rp_cum_incremental AS
SELECT c.account, c.grain, c.at, c.kind, c.workspace_id, c.api_key_id, c.model, c.cost::text, c.tokens, c.requests
FROM aispend._cum c;
SELECT count(*) FROM aispend.refresh_rollups() \g /dev/null
SELECT (SELECT count(*) FROM (TABLE rp_cum_incremental
                              EXCEPT ALL
                              SELECT c.account, c.grain, c.at, c.kind, c.workspace_id, c.api_key_id, c.model,
                                     c.cost::text, c.tokens, c.requests FROM aispend._cum c) x)
     + (SELECT count(*) FROM (SELECT c.account, c.grain, c.at, c.kind, c.workspace_id, c.api_key_id, c.model,
                                     c.cost::text, c.tokens, c.requests FROM aispend._cum c
                              EXCEPT ALL
                              TABLE rp_cum_incremental) x) AS cum_diffs_1,
       (SELECT count(*) FROM rp_cum_incremental) AS cum_rows_1,
       -- a month row (everything before the month) only for an entity with a day row before it
       (SELECT count(*) FROM rp_cum_incremental m
         WHERE m.grain = 'm'
           AND NOT EXISTS (SELECT 1 FROM rp_cum_incremental d
                           WHERE d.grain = 'd' AND d.account = m.account AND d.kind = m.kind
                             AND d.workspace_id = m.workspace_id AND d.api_key_id = m.api_key_id
                             AND d.model = m.model AND d.at < m.at)) AS cum_orphans_1 \gset
SELECT r.diffs AS diffs_1, format('seed %s: %s steps, 0 differences', r.seed, r.steps) AS name_1,
       (SELECT string_agg(m, E'\n') FROM pg_temp.rp_report(r.seed) m) AS diag_1, pg_temp.rp_covered(r.seed) AS covered_1
FROM rp_result r WHERE r.ord = 1 \gset
ROLLBACK TO SAVEPOINT seed_1;
SELECT is(:'diffs_1'::bigint, 0::bigint, :'name_1');
SELECT ok(:'cum_diffs_1'::bigint = 0 AND :'cum_orphans_1'::bigint = 0 AND :'cum_rows_1'::bigint > 0,
          format('seed 0.1234: refresh_rollups() rebuilds the %s cumulative rows the incremental re-rolls left, row '
                 'for row (%s differ), and no month row precedes its entity''s first day (%s do)',
                 :'cum_rows_1', :'cum_diffs_1', :'cum_orphans_1'));
SELECT diag(:'diag_1');

SAVEPOINT seed_2;
DO $$ BEGIN PERFORM pg_temp.rp_run(2, 0.5678, 200); END $$;
SELECT r.diffs AS diffs_2, format('seed %s: %s steps, 0 differences', r.seed, r.steps) AS name_2,
       (SELECT string_agg(m, E'\n') FROM pg_temp.rp_report(r.seed) m) AS diag_2, pg_temp.rp_covered(r.seed) AS covered_2
FROM rp_result r WHERE r.ord = 2 \gset
ROLLBACK TO SAVEPOINT seed_2;
SELECT is(:'diffs_2'::bigint, 0::bigint, :'name_2');
SELECT diag(:'diag_2');

SAVEPOINT seed_3;
DO $$ BEGIN PERFORM pg_temp.rp_run(3, -0.9012, 200); END $$;
SELECT r.diffs AS diffs_3, format('seed %s: %s steps, 0 differences', r.seed, r.steps) AS name_3,
       (SELECT string_agg(m, E'\n') FROM pg_temp.rp_report(r.seed) m) AS diag_3, pg_temp.rp_covered(r.seed) AS covered_3
FROM rp_result r WHERE r.ord = 3 \gset
ROLLBACK TO SAVEPOINT seed_3;
SELECT is(:'diffs_3'::bigint, 0::bigint, :'name_3');
SELECT diag(:'diag_3');

SELECT ok(:'covered_1'::boolean AND :'covered_2'::boolean AND :'covered_3'::boolean,
          'every seed covered every step kind, every cost basis, and price changes that move costs');

SELECT * FROM finish();
ROLLBACK;
