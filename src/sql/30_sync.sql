-- 30_sync.sql: the sync procedure (aispend.sync, aispend.refresh), its steps, and aispend.freshness.
-- See docs/sync.md. The only callers of aispend._fetch_* are the _sync_* functions below.
--
-- Shape: aispend.sync (PROCEDURE) loops over accounts; per account it takes the account's advisory lock, marks
-- runs left 'running' by a dead sync as 'aborted', then CALLs aispend._sync_step once per endpoint and window
-- chunk. _sync_step inserts the sync_runs row and COMMITs it, does the work in a block with an exception handler
-- (a subtransaction: on error the chunk's changes are rolled back), records success or failure and COMMITs.
-- Procedures that COMMIT must be CALLed outside a transaction block; they cannot carry a SET clause, so every
-- name is schema-qualified instead of pinning search_path.

-- ---------------------------------------------------------------- formatting

-- '2026-09-01..2026-10-01' (UTC days) or '2026-09-01 05:00..2026-09-01 09:00' (hours).
CREATE FUNCTION aispend._fmt_window(since timestamptz, until timestamptz)
RETURNS text LANGUAGE sql STABLE
RETURN CASE WHEN since IS NULL THEN ''
            WHEN aispend._bucket_floor(since, '1d') = since AND aispend._bucket_floor(until, '1d') = until
            THEN ' ' || pg_catalog.to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '..'
                     || pg_catalog.to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            ELSE ' ' || pg_catalog.to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || '..'
                     || pg_catalog.to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') END;

-- ---------------------------------------------------------------- dimensions named by facts

-- Workspaces and keys named by usage or costs but never listed get a row ('unlisted'; sentinels 'active'),
-- so that every fact joins to a dimension row. Existing rows are left untouched.
CREATE FUNCTION aispend._note_fact_dimensions(p_account name, p_provider text, p_now timestamptz,
                                              p_workspaces text[], p_keys text[])
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
BEGIN
    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, first_seen, last_seen)
    SELECT p_account, p_provider, w,
           CASE WHEN w = '(default)' THEN CASE p_provider WHEN 'anthropic' THEN '(default workspace)'
                                                          ELSE '(no project)' END END,
           CASE WHEN w LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_workspaces) AS w
    WHERE w IS NOT NULL
    ON CONFLICT (account, workspace_id) DO NOTHING;
    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, status, first_seen, last_seen)
    SELECT p_account, p_provider, k,
           CASE k WHEN '(console)' THEN '(no API key: Console)' WHEN '(none)' THEN '(no API key)' END,
           CASE WHEN k LIKE '(%' THEN 'active' ELSE 'unlisted' END, p_now, p_now
    FROM pg_catalog.unnest(p_keys) AS k
    WHERE k IS NOT NULL
    ON CONFLICT (account, api_key_id) DO NOTHING;
END
$$;

-- ---------------------------------------------------------------- one endpoint, one window (no COMMIT)

-- The first day a provider still reports at p_now: OpenRouter's /activity covers the last 30 completed UTC days,
-- so a sync never deletes a stored day before them (the API is silent about it, not restating it). -infinity
-- for the providers whose reports reach back as far as asked.
CREATE FUNCTION aispend._retained_since(p_provider text, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, aispend, pg_temp
RETURN CASE WHEN p_provider = 'openrouter'
            THEN aispend._utc_add(aispend._bucket_floor(p_now, '1d'), pg_catalog.make_interval(days => -30))
            ELSE '-infinity'::timestamptz END;
COMMENT ON FUNCTION aispend._retained_since(text, timestamptz) IS
    'Internal: the first UTC day a provider still reports at a time (OpenRouter: 30 completed days back; others: '
    '-infinity). A sync deletes no stored fact before it.';
REVOKE ALL ON FUNCTION aispend._retained_since(text, timestamptz) FROM PUBLIC;

CREATE FUNCTION aispend._sync_workspaces(p_account name, p_provider text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
    v_names jsonb := aispend._names_before(p_account);
BEGIN
    CREATE TEMP TABLE aispend_stage_workspaces ON COMMIT DROP AS
    -- the default workspace (Anthropic's, listed under its real id) is the '(default)' of the reports
    SELECT DISTINCT ON (1)
           CASE WHEN f.is_default THEN '(default)' ELSE coalesce(f.workspace_id, '(default)') END AS workspace_id,
           f.name AS provider_name,
           coalesce(f.status, CASE WHEN f.archived_at IS NULL THEN 'active' ELSE 'archived' END) AS status,
           f.created_at, f.archived_at, CASE WHEN f.is_default THEN f.workspace_id END AS provider_workspace_id
    FROM aispend._fetch_workspaces(p_account) f
    ORDER BY 1, f.archived_at NULLS FIRST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_workspaces;

    UPDATE aispend.workspaces w
       SET provider = p_provider, provider_name = s.provider_name, status = s.status,
           created_at = s.created_at, archived_at = s.archived_at, last_seen = p_now,
           provider_workspace_id = s.provider_workspace_id
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id
       AND (w.provider, w.provider_name, w.status, w.created_at, w.archived_at, w.provider_workspace_id)
           IS DISTINCT FROM (p_provider, s.provider_name, s.status, s.created_at, s.archived_at,
                             s.provider_workspace_id);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.workspaces w SET last_seen = p_now
      FROM pg_temp.aispend_stage_workspaces s
     WHERE w.account = p_account AND w.workspace_id = s.workspace_id AND w.last_seen <> p_now;

    INSERT INTO aispend.workspaces (account, provider, workspace_id, provider_name, status, created_at, archived_at,
                                    first_seen, last_seen, provider_workspace_id)
    SELECT p_account, p_provider, s.workspace_id, s.provider_name, s.status, s.created_at, s.archived_at, p_now, p_now,
           s.provider_workspace_id
    FROM pg_temp.aispend_stage_workspaces s
    ON CONFLICT (account, workspace_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (the list includes archived ones): kept, marked archived.
    UPDATE aispend.workspaces w SET status = 'archived'
     WHERE w.account = p_account AND w.status NOT IN ('archived', 'unlisted') AND w.workspace_id NOT LIKE '(%'
       AND w.workspace_id NOT IN (SELECT s.workspace_id FROM pg_temp.aispend_stage_workspaces s);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;
    PERFORM aispend._names_changed(p_account, v_names);
    DROP TABLE pg_temp.aispend_stage_workspaces;
END
$$;

CREATE FUNCTION aispend._sync_api_keys(p_account name, p_provider text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    CREATE TEMP TABLE aispend_stage_api_keys ON COMMIT DROP AS
    SELECT DISTINCT ON (f.api_key_id)
           f.api_key_id, f.name, f.key_hint, coalesce(f.status, 'active') AS status,
           coalesce(f.workspace_id, '(default)') AS workspace_id, f.owner, f.created_at, f.last_used_at
    FROM aispend._fetch_api_keys(p_account) f
    WHERE f.api_key_id IS NOT NULL
    ORDER BY f.api_key_id, f.last_used_at DESC NULLS LAST;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_api_keys;

    UPDATE aispend.api_keys k
       SET provider = p_provider, name = s.name, key_hint = s.key_hint, status = s.status,
           workspace_id = s.workspace_id, owner = s.owner, created_at = s.created_at,
           last_used_at = s.last_used_at, last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id
       AND (k.provider, k.name, k.key_hint, k.status, k.workspace_id, k.owner, k.created_at, k.last_used_at)
           IS DISTINCT FROM (p_provider, s.name, s.key_hint, s.status, s.workspace_id, s.owner, s.created_at,
                             s.last_used_at);
    GET DIAGNOSTICS updated = ROW_COUNT;
    UPDATE aispend.api_keys k SET last_seen = p_now
      FROM pg_temp.aispend_stage_api_keys s
     WHERE k.account = p_account AND k.api_key_id = s.api_key_id AND k.last_seen <> p_now;

    INSERT INTO aispend.api_keys (account, provider, api_key_id, name, key_hint, status, workspace_id, owner,
                                  created_at, last_used_at, first_seen, last_seen)
    SELECT p_account, p_provider, s.api_key_id, s.name, s.key_hint, s.status, s.workspace_id, s.owner,
           s.created_at, s.last_used_at, p_now, p_now
    FROM pg_temp.aispend_stage_api_keys s
    ON CONFLICT (account, api_key_id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;

    -- Vanished upstream (OpenAI lists only live keys): kept, marked deleted.
    UPDATE aispend.api_keys k SET status = 'deleted'
     WHERE k.account = p_account AND k.status NOT IN ('deleted', 'unlisted') AND k.api_key_id NOT LIKE '(%'
       AND k.api_key_id NOT IN (SELECT s.api_key_id FROM pg_temp.aispend_stage_api_keys s WHERE s.api_key_id IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    updated := updated + n;
    deleted := 0;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_api_keys s), NULL);
    DROP TABLE pg_temp.aispend_stage_api_keys;
END
$$;

-- Replaces the usage of [p_since, p_until) with what the provider returns now, touching only rows that differ:
-- rows gone upstream are deleted, changed rows updated, new rows inserted, identical rows left alone.
CREATE FUNCTION aispend._sync_usage(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_width text, p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_days date[];
BEGIN
    -- Normalised and de-duplicated (a natural key seen twice is summed; NULL stays NULL).
    CREATE TEMP TABLE aispend_stage_usage ON COMMIT DROP AS
    SELECT f.endpoint, f.bucket_start,
           coalesce(f.workspace_id, '(default)') AS workspace_id,
           -- OpenRouter's activity report is not split by key: '(all keys)', not '(none)' (it was keys' usage)
           coalesce(f.api_key_id, CASE p_provider WHEN 'anthropic' THEN '(console)' WHEN 'openrouter' THEN '(all keys)'
                                                  ELSE '(none)' END) AS api_key_id,
           f.model, f.service_tier, f.batch, f.context_window, f.inference_geo,
           sum(f.uncached_input_tokens)::bigint AS uncached_input_tokens,
           sum(f.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(f.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
           sum(f.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
           sum(f.output_tokens)::bigint AS output_tokens,
           sum(f.input_audio_tokens)::bigint AS input_audio_tokens,
           sum(f.output_audio_tokens)::bigint AS output_audio_tokens,
           sum(f.input_image_tokens)::bigint AS input_image_tokens,
           sum(f.output_image_tokens)::bigint AS output_image_tokens,
           sum(f.requests)::bigint AS requests,
           sum(f.web_search_requests)::bigint AS web_search_requests
    FROM aispend._fetch_usage(p_account, p_since, p_until, p_width) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_usage;

    -- OpenRouter reports only its last 30 completed UTC days: older days it no longer sends are history, kept.
    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_usage ON COMMIT DROP AS
    SELECT u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model, u.service_tier,
           u.batch, u.context_window, u.inference_geo
      FROM aispend.usage u
     WHERE u.account = p_account AND u.bucket_start >= p_since AND u.bucket_start < p_until
       AND u.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(u.endpoint, u.bucket_start, u.bucket_width, u.workspace_id, u.api_key_id, u.model,
               u.service_tier, u.batch, u.context_window, u.inference_geo)::text
           NOT IN (SELECT ROW(s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model,
                              s.service_tier, s.batch, s.context_window, s.inference_geo)::text
                     FROM pg_temp.aispend_stage_usage s);
    DELETE FROM aispend.usage u USING pg_temp.aispend_gone_usage g
     WHERE u.account = p_account AND u.bucket_start = g.bucket_start
       AND u.endpoint IS NOT DISTINCT FROM g.endpoint
       AND u.bucket_width IS NOT DISTINCT FROM g.bucket_width
       AND u.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND u.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND u.model IS NOT DISTINCT FROM g.model
       AND u.service_tier IS NOT DISTINCT FROM g.service_tier
       AND u.batch IS NOT DISTINCT FROM g.batch
       AND u.context_window IS NOT DISTINCT FROM g.context_window
       AND u.inference_geo IS NOT DISTINCT FROM g.inference_geo;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.usage AS u
            (account, endpoint, bucket_start, bucket_width, workspace_id, api_key_id, model, service_tier, batch,
             context_window, inference_geo, uncached_input_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens, output_tokens, input_audio_tokens, output_audio_tokens, input_image_tokens,
             output_image_tokens, requests, web_search_requests)
        SELECT p_account, s.endpoint, s.bucket_start, p_width, s.workspace_id, s.api_key_id, s.model, s.service_tier,
               s.batch, s.context_window, s.inference_geo, s.uncached_input_tokens, s.cache_read_tokens,
               s.cache_write_5m_tokens, s.cache_write_1h_tokens, s.output_tokens, s.input_audio_tokens,
               s.output_audio_tokens, s.input_image_tokens, s.output_image_tokens, s.requests, s.web_search_requests
        FROM pg_temp.aispend_stage_usage s
        ON CONFLICT ON CONSTRAINT usage_natural_key DO UPDATE
           SET uncached_input_tokens = excluded.uncached_input_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_5m_tokens = excluded.cache_write_5m_tokens,
               cache_write_1h_tokens = excluded.cache_write_1h_tokens,
               output_tokens = excluded.output_tokens,
               input_audio_tokens = excluded.input_audio_tokens,
               output_audio_tokens = excluded.output_audio_tokens,
               input_image_tokens = excluded.input_image_tokens,
               output_image_tokens = excluded.output_image_tokens,
               requests = excluded.requests,
               web_search_requests = excluded.web_search_requests
         WHERE (u.uncached_input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                u.output_tokens, u.input_audio_tokens, u.output_audio_tokens, u.input_image_tokens,
                u.output_image_tokens, u.requests, u.web_search_requests)
               IS DISTINCT FROM
               (excluded.uncached_input_tokens, excluded.cache_read_tokens, excluded.cache_write_5m_tokens,
                excluded.cache_write_1h_tokens, excluded.output_tokens, excluded.input_audio_tokens,
                excluded.output_audio_tokens, excluded.input_image_tokens, excluded.output_image_tokens,
                excluded.requests, excluded.web_search_requests)
        RETURNING u.xmax = 0 AS is_new, (u.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_usage g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_usage s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_usage s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_usage s));
    DROP TABLE pg_temp.aispend_stage_usage;
    DROP TABLE pg_temp.aispend_gone_usage;
END
$$;

-- Same for the billed costs of the UTC days [p_since, p_until).
CREATE FUNCTION aispend._sync_costs(p_account name, p_provider text, p_since timestamptz, p_until timestamptz,
                                    p_now timestamptz,
    OUT fetched bigint, OUT inserted bigint, OUT updated bigint, OUT deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_days date[];
BEGIN
    CREATE TEMP TABLE aispend_stage_costs ON COMMIT DROP AS
    SELECT f.bucket_start, coalesce(f.workspace_id, '(default)') AS workspace_id, f.api_key_id, f.line_item,
           f.model, f.token_type, f.service_tier, f.context_window, f.cost_type, f.inference_geo,
           coalesce(pg_catalog.upper(f.currency), 'USD') AS currency, f.quantity_unit,
           sum(f.amount_usd) AS amount_usd, sum(f.quantity) AS quantity, max(f.token_class) AS token_class
    FROM aispend._fetch_costs(p_account, p_since, p_until) f
    WHERE f.bucket_start >= p_since AND f.bucket_start < p_until
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
    SELECT count(*) INTO fetched FROM pg_temp.aispend_stage_costs;

    -- Rows gone upstream are found first, then deleted by their key: Citus refuses a STABLE function (the
    -- row-to-text cast) on a column in a DELETE of a distributed table.
    CREATE TEMP TABLE aispend_gone_costs ON COMMIT DROP AS
    SELECT c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type, c.service_tier,
           c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit
      FROM aispend.costs c
     WHERE c.account = p_account AND c.bucket_start >= p_since AND c.bucket_start < p_until
       AND c.bucket_start >= aispend._retained_since(p_provider, p_now)
       AND ROW(c.bucket_start, c.workspace_id, c.api_key_id, c.line_item, c.model, c.token_type,
               c.service_tier, c.context_window, c.cost_type, c.inference_geo, c.currency, c.quantity_unit)::text
           NOT IN (SELECT ROW(s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
                              s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.currency,
                              s.quantity_unit)::text
                     FROM pg_temp.aispend_stage_costs s);
    DELETE FROM aispend.costs c USING pg_temp.aispend_gone_costs g
     WHERE c.account = p_account AND c.bucket_start = g.bucket_start
       AND c.workspace_id IS NOT DISTINCT FROM g.workspace_id
       AND c.api_key_id IS NOT DISTINCT FROM g.api_key_id
       AND c.line_item IS NOT DISTINCT FROM g.line_item
       AND c.model IS NOT DISTINCT FROM g.model
       AND c.token_type IS NOT DISTINCT FROM g.token_type
       AND c.service_tier IS NOT DISTINCT FROM g.service_tier
       AND c.context_window IS NOT DISTINCT FROM g.context_window
       AND c.cost_type IS NOT DISTINCT FROM g.cost_type
       AND c.inference_geo IS NOT DISTINCT FROM g.inference_geo
       AND c.currency IS NOT DISTINCT FROM g.currency
       AND c.quantity_unit IS NOT DISTINCT FROM g.quantity_unit;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    WITH up AS (
        INSERT INTO aispend.costs AS c
            (account, bucket_start, workspace_id, api_key_id, line_item, model, token_type, service_tier,
             context_window, cost_type, inference_geo, amount_usd, currency, quantity, quantity_unit, token_class)
        SELECT p_account, s.bucket_start, s.workspace_id, s.api_key_id, s.line_item, s.model, s.token_type,
               s.service_tier, s.context_window, s.cost_type, s.inference_geo, s.amount_usd, s.currency,
               s.quantity, s.quantity_unit, s.token_class
        FROM pg_temp.aispend_stage_costs s
        ON CONFLICT ON CONSTRAINT costs_natural_key DO UPDATE
           SET amount_usd = excluded.amount_usd, quantity = excluded.quantity, token_class = excluded.token_class
         -- compared as text: numeric equality ignores scale (1.50 = 1.5), and the digits as sent are kept
         WHERE c.amount_usd::text <> excluded.amount_usd::text
            OR c.quantity::text IS DISTINCT FROM excluded.quantity::text
            OR c.token_class IS DISTINCT FROM excluded.token_class
        RETURNING c.xmax = 0 AS is_new, (c.bucket_start AT TIME ZONE 'UTC')::date AS day)
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new),
           pg_catalog.array_agg(DISTINCT up.day)
      INTO inserted, updated, v_days FROM up;
    -- the rollups of the days that changed, and the models named (what the facts' triggers also do)
    PERFORM aispend._facts_written(p_account,
        v_days || ARRAY(SELECT DISTINCT (g.bucket_start AT TIME ZONE 'UTC')::date FROM pg_temp.aispend_gone_costs g),
        m.models, m.firsts, m.lasts)
      FROM (SELECT pg_catalog.array_agg(x.model) AS models, pg_catalog.array_agg(x.f) AS firsts,
                   pg_catalog.array_agg(x.l) AS lasts
              FROM (SELECT s.model, min(s.bucket_start) AS f, max(s.bucket_start) AS l
                      FROM pg_temp.aispend_stage_costs s WHERE s.model IS NOT NULL GROUP BY s.model) x) m;

    PERFORM aispend._note_fact_dimensions(p_account, p_provider, p_now,
        (SELECT pg_catalog.array_agg(DISTINCT s.workspace_id) FROM pg_temp.aispend_stage_costs s),
        (SELECT pg_catalog.array_agg(DISTINCT s.api_key_id) FROM pg_temp.aispend_stage_costs s));
    DROP TABLE pg_temp.aispend_stage_costs;
    DROP TABLE pg_temp.aispend_gone_costs;
END
$$;

-- ---------------------------------------------------------------- windows

-- The window a sync without since/until fetches for one endpoint: the first sync backfills backfill_days
-- (before today, UTC); later ones re-fetch from the earlier of (the end of the last complete bucket) and
-- (today - resync_days). The end is the end of the still-open bucket (it is fetched, not counted as complete).
-- Explicit since/until are aligned down/up to the bucket width; until never goes beyond the open bucket.
CREATE FUNCTION aispend._sync_window(p_account name, p_endpoint text, p_width text, p_backfill_days integer,
                                     p_resync_days integer, p_since timestamptz, p_until timestamptz,
                                     p_now timestamptz,
    OUT w_start timestamptz, OUT w_end timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    w text := CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END;
    v_open_end timestamptz := aispend._utc_add(aispend._bucket_floor(p_now, w), aispend._bucket_step(w));
    v_today timestamptz := aispend._bucket_floor(p_now, '1d');
    v_resume timestamptz;
BEGIN
    w_end := CASE WHEN p_until IS NULL THEN v_open_end ELSE LEAST(aispend._bucket_ceil(p_until, w), v_open_end) END;
    IF p_since IS NOT NULL THEN
        w_start := aispend._bucket_floor(p_since, w);
        RETURN;
    END IF;
    SELECT max(r.complete_through) INTO v_resume
    FROM aispend.sync_runs r
    WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
    IF v_resume IS NULL AND p_endpoint = 'usage' THEN
        SELECT max(u.bucket_start) INTO v_resume FROM aispend.usage u WHERE u.account = p_account;
    ELSIF v_resume IS NULL AND p_endpoint = 'costs' THEN
        SELECT max(c.bucket_start) INTO v_resume FROM aispend.costs c WHERE c.account = p_account;
    END IF;
    IF v_resume IS NULL THEN
        w_start := aispend._utc_add(v_today, pg_catalog.make_interval(days => -p_backfill_days));
    ELSE
        w_start := LEAST(aispend._bucket_floor(v_resume, w),
                         aispend._utc_add(v_today, pg_catalog.make_interval(days => -p_resync_days)));
    END IF;
END
$$;

-- The steps a sync of one account runs, in order: workspaces, api_keys, then usage and costs in chunks of at
-- most one calendar month (UTC) of their windows. An endpoint with nothing to fetch has one row with
-- chunk_from >= chunk_to (the sync says so and skips it). aispend.sync runs these; a background refresh counts
-- them to show its progress.
CREATE FUNCTION aispend._sync_plan(p_account name, p_since timestamptz, p_until timestamptz, p_now timestamptz)
RETURNS TABLE (step integer, endpoint text, chunk_from timestamptz, chunk_to timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v_cfg record;
    v_win record;
    v_from timestamptz;
BEGIN
    SELECT * INTO v_cfg FROM aispend._account_settings(p_account);
    step := 0;
    FOREACH endpoint IN ARRAY ARRAY['workspaces', 'api_keys', 'usage', 'costs'] LOOP
        IF endpoint IN ('workspaces', 'api_keys') THEN
            chunk_from := NULL; chunk_to := NULL;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO v_win FROM aispend._sync_window(p_account, endpoint, v_cfg.bucket_width, v_cfg.backfill_days,
                                                      v_cfg.resync_days, p_since, p_until, p_now);
        IF v_win.w_start >= v_win.w_end THEN
            chunk_from := v_win.w_start; chunk_to := v_win.w_end;
            step := step + 1;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT pg_catalog.isfinite(v_win.w_start) OR NOT pg_catalog.isfinite(v_win.w_end) THEN
            RAISE EXCEPTION 'aispend: account %: the % window must be finite', p_account, endpoint
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_from := v_win.w_start;
        WHILE v_from < v_win.w_end LOOP
            chunk_from := v_from;
            chunk_to := LEAST(v_win.w_end, aispend._utc_add(aispend._bucket_floor(v_from, 'month'), interval '1 month'));
            step := step + 1;
            RETURN NEXT;
            v_from := chunk_to;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) IS
    'Internal: the steps (endpoint and month chunk) a sync of the account would run now, in order.';

-- ---------------------------------------------------------------- after the accounts (COMMITs)

-- The alert rules see the new figures: evaluated, committed, then the webhooks posted (73_alerts.sql). Nothing
-- here fails the sync: an error becomes a warning. A role that cannot write alerts (not an admin) skips it.
CREATE PROCEDURE aispend._after_sync()
LANGUAGE plpgsql
AS $$
DECLARE
    v_msg text;
BEGIN
    IF NOT pg_catalog.has_table_privilege('aispend.alerts', 'INSERT') THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM aispend.evaluate_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert rules not evaluated: %', v_msg;
    END;
    COMMIT;
    BEGIN
        PERFORM aispend.deliver_alerts();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
        RAISE WARNING 'aispend: alert webhooks not posted: %', v_msg;
    END;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE aispend._after_sync() IS
    'Internal: the end of a sync: evaluate the alert rules and post their webhooks, warning (never failing) on error.';

-- LISTEN aispend_refresh: a JSON payload at each step of a sync and each state change of a refresh request,
-- delivered when its transaction commits. Names and states only: any role may LISTEN.
CREATE FUNCTION aispend._notify_refresh(payload jsonb) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT pg_catalog.pg_notify('aispend_refresh', payload::text);
END;
COMMENT ON FUNCTION aispend._notify_refresh(jsonb) IS
    'Internal: NOTIFY aispend_refresh with a payload (account, endpoint, run and status of a sync step; or '
    'request, account and state of a refresh request).';

-- ---------------------------------------------------------------- one step (COMMITs)

-- Runs one endpoint for one window chunk: a committed 'running' row first, then the work in a subtransaction,
-- then 'succeeded' (with counts) or 'failed' / 'aborted' (with the error), committed. An error is not raised
-- here but handed back in the INOUT parameters, so the caller can release the account lock before raising it.
CREATE PROCEDURE aispend._sync_step(p_account name, p_provider text, p_endpoint text,
                                    p_since timestamptz, p_until timestamptz, p_width text,
                                    INOUT o_sqlstate text, INOUT o_message text,
                                    INOUT o_detail text, INOUT o_hint text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_run bigint;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_finished timestamptz;
    v_res record;
    v_http bigint;
    v_retries bigint;
    v_bytes bigint;
    v_resume timestamptz;
    v_complete timestamptz;
    v_settled date;
BEGIN
    o_sqlstate := NULL; o_message := NULL; o_detail := NULL; o_hint := NULL;
    INSERT INTO aispend.sync_runs (account, endpoint, window_start, window_end, bucket_width, started_at)
    VALUES (p_account, p_endpoint, p_since, p_until,
            CASE WHEN p_endpoint = 'usage' THEN p_width WHEN p_endpoint = 'costs' THEN '1d' END, v_t0)
    RETURNING id INTO v_run;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'running'));
    COMMIT;

    BEGIN
        CASE p_endpoint
            WHEN 'workspaces' THEN
                SELECT * INTO v_res FROM aispend._sync_workspaces(p_account, p_provider, v_t0);
            WHEN 'api_keys' THEN
                SELECT * INTO v_res FROM aispend._sync_api_keys(p_account, p_provider, v_t0);
            WHEN 'usage' THEN
                SELECT * INTO v_res FROM aispend._sync_usage(p_account, p_provider, p_since, p_until, p_width, v_t0);
            WHEN 'costs' THEN
                SELECT * INTO v_res FROM aispend._sync_costs(p_account, p_provider, p_since, p_until, v_t0);
        END CASE;
        SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes FROM aispend._last_fetch_stats() s;
        -- The dashboard's rollups of these days change in the same transaction as the facts. A large change
        -- is analyzed first: with the statistics of a much smaller table, the cost model's joins are planned
        -- as nested loops, and a backfill month of a large organisation then takes minutes instead of seconds.

        -- Complete through the last closed bucket, if this window continues the complete history (a window
        -- that starts after it would leave a gap, which the next sync must still fetch).
        IF p_endpoint IN ('usage', 'costs') THEN
            SELECT pg_catalog.max(r.complete_through) INTO v_resume FROM aispend.sync_runs r
            WHERE r.account = p_account AND r.endpoint = p_endpoint AND r.status = 'succeeded';
            IF v_resume IS NULL OR p_since <= v_resume THEN
                v_complete := LEAST(p_until, GREATEST(p_since, aispend._bucket_floor(v_t0,
                                  CASE p_endpoint WHEN 'costs' THEN '1d' ELSE p_width END)));
            END IF;
        END IF;

        -- The time is read first: Citus refuses volatile functions in UPDATEs of distributed tables.
        v_finished := pg_catalog.clock_timestamp();
        v_settled := aispend.settled_before(p_account);
        UPDATE aispend.sync_runs r
           SET status = 'succeeded', finished_at = v_finished, complete_through = v_complete,
               rows_fetched = v_res.fetched, rows_inserted = v_res.inserted, rows_updated = v_res.updated,
               rows_deleted = v_res.deleted, http_requests = v_http, retries = v_retries, bytes = v_bytes
         WHERE r.account = p_account AND r.id = v_run;
        IF p_endpoint = 'costs' THEN
            PERFORM aispend._mark_settlement_moved(p_account, v_settled, aispend.settled_before(p_account));
        END IF;
        -- The facts' triggers (and, for costs, the run that settles its days) marked the days that changed; the
        -- dashboard's rollups of those days change in this transaction. A large change is analyzed first: with
        -- the statistics of a much smaller table, the cost model's joins are planned as nested loops, and a
        -- backfill month of a large organisation then takes minutes instead of seconds.
        IF p_endpoint IN ('usage', 'costs') THEN
            IF v_res.inserted + v_res.deleted >= 10000 THEN
                IF p_endpoint = 'usage' THEN ANALYZE aispend.usage; ELSE ANALYZE aispend.costs; END IF;
            END IF;
            PERFORM aispend._reroll(p_account);
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS o_sqlstate = RETURNED_SQLSTATE, o_message = MESSAGE_TEXT,
                                o_detail = PG_EXCEPTION_DETAIL, o_hint = PG_EXCEPTION_HINT;
    END;

    IF o_sqlstate IS NOT NULL THEN
        BEGIN
            SELECT s.http_requests, s.retries, s.bytes INTO v_http, v_retries, v_bytes
            FROM aispend._last_fetch_stats() s;
        EXCEPTION WHEN OTHERS THEN
            v_http := NULL;
        END;
        v_finished := pg_catalog.clock_timestamp();
        UPDATE aispend.sync_runs r
           SET status = CASE WHEN o_sqlstate = '57014' THEN 'aborted' ELSE 'failed' END,
               finished_at = v_finished, http_requests = v_http, retries = v_retries,
               bytes = v_bytes, error_sqlstate = o_sqlstate, error_message = o_message,
               error_detail = NULLIF(o_detail, ''), error_hint = NULLIF(o_hint, '')
         WHERE r.account = p_account AND r.id = v_run;
        PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
            'run', v_run, 'status', CASE o_sqlstate WHEN '57014' THEN 'aborted' ELSE 'failed' END));
        COMMIT;
        o_detail := pg_catalog.concat_ws(E'\n', NULLIF(o_detail, ''),
            pg_catalog.format('aispend: account %s, %s%s (aispend.sync_runs id %s); nothing of this chunk was stored.',
                              p_account, p_endpoint, aispend._fmt_window(p_since, p_until), v_run));
        RETURN;
    END IF;
    PERFORM aispend._notify_refresh(pg_catalog.jsonb_build_object('account', p_account, 'endpoint', p_endpoint,
                                                                  'run', v_run, 'status', 'succeeded'));
    COMMIT;
    RAISE NOTICE '%', pg_catalog.format('aispend: %s %s%s: %s rows (+%s ~%s -%s) in %s s', p_account, p_endpoint,
        aispend._fmt_window(p_since, p_until), v_res.fetched, v_res.inserted, v_res.updated, v_res.deleted,
        pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - v_t0)::numeric, 2));
END
$$;

-- ---------------------------------------------------------------- the procedure

CREATE PROCEDURE aispend.sync(account name DEFAULT NULL, since timestamptz DEFAULT NULL,
                              until timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_only name := account;
    v_since timestamptz := since;
    v_until timestamptz := until;
    v_accounts name[];
    v_acct name;
    v_cfg record;
    v_now timestamptz;
    v_step record;
    v_state text; v_msg text; v_detail text; v_hint text;
    v_first_state text; v_first_msg text; v_first_detail text; v_first_hint text;
    v_failed name[] := '{}';
    v_mine boolean;
BEGIN
    IF NOT pg_catalog.isfinite(coalesce(v_since, '2000-01-01'::timestamptz))
       OR NOT pg_catalog.isfinite(coalesce(v_until, '2000-01-01'::timestamptz)) THEN
        RAISE EXCEPTION 'aispend: since and until must be finite times' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_since IS NOT NULL AND v_until IS NOT NULL AND v_since >= v_until THEN
        RAISE EXCEPTION 'aispend: since (%) must be before until (%)', v_since, v_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_only IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE NOTICE 'aispend: no accounts to sync (no server of the foreign-data wrapper aispend)';
            RETURN;
        END IF;
    ELSE
        PERFORM aispend._account_settings(v_only);   -- raises 42704 for an unknown account
        v_accounts := ARRAY[v_only];
    END IF;

    FOREACH v_acct IN ARRAY v_accounts LOOP
        <<one_account>>
        DECLARE
            v_cfg_ok boolean := true;
        BEGIN
            BEGIN
                SELECT * INTO v_cfg FROM aispend._account_settings(v_acct);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                        v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
                v_cfg_ok := false;
            END;
            IF NOT v_cfg_ok THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
                END IF;
                RAISE WARNING 'aispend: account % skipped: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                EXIT one_account;
            END IF;

            PERFORM aispend._remember_provider(v_acct, v_cfg.provider);

            -- One sync per account at a time (a session-level lock: it survives our COMMITs).
            v_mine := EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                              WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                                AND l.classid = 1634300784::oid AND l.objid = aispend._lock_key(v_acct)::oid
                                AND l.objsubid = 2);
            IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(1634300784, aispend._lock_key(v_acct)) THEN
                IF v_only IS NOT NULL THEN
                    RAISE EXCEPTION 'aispend: a sync of account % is already running', v_acct
                        USING ERRCODE = 'lock_not_available',
                              HINT = 'Wait for it to finish (SELECT * FROM aispend.freshness), or cancel it: '
                                     'SELECT pg_cancel_backend(pid) FROM pg_locks WHERE locktype = ''advisory'' '
                                     'AND classid = 1634300784 AND objid = aispend._lock_key(' ||
                                     pg_catalog.quote_literal(v_acct) || ')::oid;';
                END IF;
                RAISE WARNING 'aispend: account % skipped: a sync of it is already running', v_acct;
                EXIT one_account;
            END IF;

            -- Runs still 'running' belong to a sync that died (crash, cancel, lost session): we hold the lock.
            v_now := pg_catalog.clock_timestamp();
            UPDATE aispend.sync_runs r
               SET status = 'aborted', finished_at = v_now,
                   error_message = coalesce(r.error_message,
                                            'interrupted: the sync was cancelled or its session ended before it finished')
             WHERE r.account = v_acct AND r.status = 'running';
            COMMIT;

            v_now := pg_catalog.clock_timestamp();
            FOR v_step IN SELECT * FROM aispend._sync_plan(v_acct, v_since, v_until, v_now) p ORDER BY p.step LOOP
                IF v_step.chunk_from >= v_step.chunk_to THEN
                    RAISE NOTICE 'aispend: % %: nothing to sync in%', v_acct, v_step.endpoint,
                        aispend._fmt_window(v_step.chunk_from, v_step.chunk_to);
                    CONTINUE;
                END IF;
                CALL aispend._sync_step(v_acct, v_cfg.provider, v_step.endpoint, v_step.chunk_from, v_step.chunk_to,
                                        v_cfg.bucket_width, v_state, v_msg, v_detail, v_hint);
                EXIT WHEN v_state IS NOT NULL;
            END LOOP;

            PERFORM pg_catalog.pg_advisory_unlock(1634300784, aispend._lock_key(v_acct));

            IF v_state IS NOT NULL THEN
                IF v_only IS NOT NULL OR v_state = '57014' THEN
                    IF v_state <> '57014' THEN
                        CALL aispend._after_sync();
                    END IF;
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail,
                                          HINT = coalesce(NULLIF(v_hint, ''),
                                                          'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
                END IF;
                RAISE WARNING 'aispend: sync of account % failed: %', v_acct, v_msg;
                v_failed := v_failed || v_acct;
                IF v_first_state IS NULL THEN
                    v_first_state := v_state; v_first_msg := v_msg; v_first_detail := v_detail; v_first_hint := v_hint;
                END IF;
                v_state := NULL;
            END IF;
        END one_account;
    END LOOP;

    CALL aispend._after_sync();
    IF v_first_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = v_first_state, MESSAGE = v_first_msg,
            DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(v_first_detail, ''),
                pg_catalog.format('aispend: %s of %s accounts failed: %s; the others were synced.',
                                  pg_catalog.cardinality(v_failed), pg_catalog.cardinality(v_accounts),
                                  pg_catalog.array_to_string(v_failed, ', '))),
            HINT = coalesce(NULLIF(v_first_hint, ''), 'See SELECT * FROM aispend.sync_runs ORDER BY id DESC.');
    END IF;
END
$$;
COMMENT ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) IS
    'Syncs workspaces, API keys, usage and costs of one account (default: every aispend server) for a window '
    '(default: backfill on the first sync, then resync_days plus everything since the last complete bucket). '
    'COMMITs per endpoint and month chunk; CALL it outside a transaction block. See docs/sync.md.';

CREATE PROCEDURE aispend.refresh()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL aispend.sync();
END
$$;
COMMENT ON PROCEDURE aispend.refresh() IS
    'The dashboard''s "Refresh Data": CALL aispend.sync() for every account, now.';

-- ---------------------------------------------------------------- freshness

-- Per account and endpoint, in PL/pgSQL: on Citus each account's runs are read by a query of its shard, and
-- what only the coordinator knows (the sync's lock, the refresh workers) is asked here, not on the shard. The
-- provider's error text is read only for a role that may read it (admins); readers see the SQLSTATE.
CREATE FUNCTION aispend._freshness_rows()
RETURNS TABLE (account name, provider text, endpoint text, complete_through timestamptz,
               last_success_at timestamptz, last_status text, last_attempt_at timestamptz,
               last_error_at timestamptz, last_error_sqlstate text, last_error_message text, running boolean,
               running_since timestamptz, server_exists boolean, refresh_request bigint, refresh_state text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    servers name[] := ARRAY(SELECT s.srvname FROM aispend._servers() s);
    read_errors boolean := pg_catalog.has_column_privilege('aispend.sync_runs', 'error_message', 'SELECT');
    a record;
    q record;
    e record;
    locked boolean;
BEGIN
    FOR a IN
        SELECT x.account, x.provider, x.server_exists
        FROM (SELECT s.srvname AS account, aispend._option(s.srvoptions, 'provider') AS provider,
                     true AS server_exists
              FROM aispend._servers() s
              UNION ALL
              -- a dropped server's runs (its data stays until aispend.forget_account)
              SELECT o.account, NULL, false
              FROM (SELECT DISTINCT r.account FROM aispend.sync_runs r WHERE r.account <> ALL (servers)) o) x
        ORDER BY x.account
    LOOP
        locked := aispend._sync_lock_held(a.account);
        refresh_request := NULL;
        refresh_state := NULL;
        FOR q IN SELECT x.id, x.state, x.worker_pid, x.requested_by, x.requested_at FROM aispend.refresh_requests x
                  WHERE x.account = a.account AND x.state IN ('queued', 'running') ORDER BY x.id LOOP
            IF aispend._refresh_state(q.state, q.worker_pid, q.requested_by, q.requested_at) IN ('queued', 'running') THEN
                refresh_request := q.id;
                refresh_state := q.state;
                EXIT;
            END IF;
        END LOOP;
        FOR e IN
            SELECT x.endpoint, ok.complete_through, ok.last_success_at, last.status, last.started_at,
                   err.id AS error_run, err.finished_at, err.error_sqlstate, run.started_at AS running_since
            FROM (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS x(ord, endpoint)
            LEFT JOIN LATERAL (
                SELECT max(r.complete_through) AS complete_through, max(r.finished_at) AS last_success_at
                FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'succeeded') ok ON true
            LEFT JOIN LATERAL (
                SELECT r.status, r.started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last ON true
            LEFT JOIN LATERAL (
                SELECT r.id, r.finished_at, r.error_sqlstate FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status IN ('failed', 'aborted')
                ORDER BY r.started_at DESC, r.id DESC LIMIT 1) err ON true
            LEFT JOIN LATERAL (
                SELECT min(r.started_at) AS started_at FROM aispend.sync_runs r
                WHERE r.account = a.account AND r.endpoint = x.endpoint AND r.status = 'running' AND locked) run ON true
            ORDER BY x.ord
        LOOP
            account := a.account;
            provider := a.provider;
            endpoint := e.endpoint;
            complete_through := e.complete_through;
            last_success_at := e.last_success_at;
            last_status := e.status;
            last_attempt_at := e.started_at;
            last_error_at := e.finished_at;
            last_error_sqlstate := e.error_sqlstate;
            last_error_message := NULL;
            IF read_errors AND e.error_run IS NOT NULL THEN
                SELECT r.error_message INTO last_error_message FROM aispend.sync_runs r
                 WHERE r.account = a.account AND r.id = e.error_run;
            END IF;
            running := e.running_since IS NOT NULL;
            running_since := e.running_since;
            server_exists := a.server_exists;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION aispend._freshness_rows() IS 'Internal: the rows of aispend.freshness.';

CREATE VIEW aispend.freshness AS
SELECT f.account, f.provider COLLATE "C" AS provider, f.endpoint, f.complete_through, f.last_success_at,
       f.last_status, f.last_attempt_at, f.last_error_at, f.last_error_sqlstate, f.last_error_message, f.running,
       f.running_since, f.server_exists, f.refresh_request, f.refresh_state
FROM aispend._freshness_rows() f;
COMMENT ON VIEW aispend.freshness IS
    'Per account and endpoint: data complete through which bucket, last success, last error, and whether a sync is running now.';
COMMENT ON COLUMN aispend.freshness.complete_through IS
    'End of the last closed bucket fetched (usage, costs); later buckets may be partial. Costs settle for days after.';
COMMENT ON COLUMN aispend.freshness.last_status IS 'Status of the latest attempt: succeeded, failed, aborted or running.';
COMMENT ON COLUMN aispend.freshness.last_error_message IS 'Message of the latest failed or aborted attempt (it may be older than the last success).';
COMMENT ON COLUMN aispend.freshness.running IS 'A sync of this account holds its lock and is working on this endpoint.';
COMMENT ON COLUMN aispend.freshness.refresh_request IS
    'The background refresh of this account queued or running now (aispend.request_refresh), if any.';
COMMENT ON COLUMN aispend.freshness.refresh_state IS 'Its state: queued or running (aispend.refresh_progress has the detail).';
COMMENT ON COLUMN aispend.freshness.server_exists IS 'false: the server was dropped; aispend.forget_account removes its data.';

REVOKE ALL ON PROCEDURE aispend.sync(name, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend.refresh() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._after_sync() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._sync_step(name, text, text, timestamptz, timestamptz, text, text, text, text, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_workspaces(name, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_api_keys(name, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_usage(name, text, timestamptz, timestamptz, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_costs(name, text, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._note_fact_dimensions(name, text, timestamptz, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._sync_plan(name, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_refresh(jsonb) FROM PUBLIC;
