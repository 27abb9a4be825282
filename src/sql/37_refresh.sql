-- 37_refresh.sql: "Refresh Data" from any client (issue 13). SELECT aispend.request_refresh() returns at once
-- with a request id, from any transaction or function; background workers (src/pg/refresh_worker.cpp), started
-- on demand and connected as the requesting role, sync the accounts, one account per worker at a time, up to
-- aispend.refresh_workers at once. aispend.refresh_progress shows each request, account and endpoint as it
-- goes; LISTEN aispend_refresh is told of each step and state change; aispend.cancel_refresh(id) stops it.
--
-- A request's rows (20_schema.sql: aispend.refresh_requests) go queued -> running -> succeeded, failed or
-- cancelled. The workers wait for the requesting transaction to end, then each runs CALL aispend._refresh_work()
-- outside any transaction block (the sync COMMITs), taking its role's queued rows in order until none is left.

CREATE FUNCTION aispend._start_refresh_workers(wanted integer) RETURNS integer
    AS 'MODULE_PATHNAME', 'aispend_start_refresh_workers' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._start_refresh_workers(integer) IS
    'Internal: starts up to min(wanted, aispend.refresh_workers) background workers connected to this database as '
    'the current role (which must be able to log in); each waits for this transaction to end, then CALLs '
    'aispend._refresh_work(). Returns how many started; raises 53400 when none could (max_worker_processes).';

-- A request's row changed state: tell the listeners (on commit).
CREATE FUNCTION aispend._notify_request(p_id bigint, p_account name, p_state text) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT aispend._notify_refresh(pg_catalog.jsonb_build_object('request', p_id, 'account', p_account,
                                                                 'state', p_state));
END;
COMMENT ON FUNCTION aispend._notify_request(bigint, name, text) IS
    'Internal: NOTIFY aispend_refresh of a refresh request''s new state.';

-- Marks the requests whose worker is gone failed (aispend._refresh_state), so that no row stays running.
-- SECURITY DEFINER: it closes other roles' requests too (row-level security lets a role change only its own),
-- and only those whose worker is gone. The candidates are read first and checked here: on a Citus cluster the
-- workers' processes are the coordinator's, and an UPDATE of a distributed table may call no volatile function.
CREATE FUNCTION aispend._refresh_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_now timestamptz := pg_catalog.clock_timestamp();
    n integer := 0;
BEGIN
    FOR v IN SELECT q.id, q.account, q.state, q.worker_pid, q.requested_by, q.requested_at
               FROM aispend.refresh_requests q
              WHERE q.state IN ('queued', 'running')
              ORDER BY q.account, q.id LOOP
        CONTINUE WHEN aispend._refresh_state(v.state, v.worker_pid, v.requested_by, v.requested_at) <> 'failed';
        UPDATE aispend.refresh_requests q
           SET state = 'failed', finished_at = v_now, error_sqlstate = '57P01',
               error_message = CASE v.state
                   WHEN 'running' THEN 'the refresh''s worker ended without recording an outcome (killed, or a crash)'
                   ELSE 'no worker took the request (it could not connect as its role, or was killed)' END
         WHERE q.account = v.account AND q.id = v.id AND q.state = v.state
           AND q.worker_pid IS NOT DISTINCT FROM v.worker_pid;
        IF FOUND THEN
            PERFORM aispend._notify_request(v.id, v.account, 'failed');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend._refresh_sweep() IS
    'Internal: marks failed the refresh requests left running or queued by a worker that is gone; returns how many.';

-- What every worker CALLs. A procedure (it COMMITs), so it cannot pin search_path: every name is qualified.
CREATE PROCEDURE aispend._refresh_work()
LANGUAGE plpgsql
AS $$
DECLARE
    c record;
    v_id bigint;
    v_account name;
    v_since timestamptz;
    v_steps jsonb;
    -- the time and this process, read here and not in the UPDATEs: on a Citus cluster those run on the shards
    v_now timestamptz;
    v_pid integer := pg_catalog.pg_backend_pid();
BEGIN
    LOOP
        -- The role's oldest queued account; a request another worker holds is skipped, not waited for. Each
        -- candidate's row is locked on its own (one shard on Citus, which locks no rows across shards).
        v_id := NULL;
        FOR c IN SELECT n.account, n.id FROM aispend.refresh_requests n
                  WHERE n.state = 'queued' AND n.requested_by = CURRENT_USER
                  ORDER BY n.id, n.account LOOP
            SELECT q.id, q.account, q.since INTO v_id, v_account, v_since FROM aispend.refresh_requests q
             WHERE q.account = c.account AND q.id = c.id AND q.state = 'queued'
               FOR UPDATE SKIP LOCKED;
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
        EXIT WHEN v_id IS NULL;
        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'running', started_at = v_now, worker_pid = v_pid
         WHERE q.account = v_account AND q.id = v_id;
        PERFORM aispend._notify_request(v_id, v_account, 'running');
        COMMIT;

        -- The steps to come, for the progress (an error here, e.g. the server dropped meanwhile, fails the request).
        v_steps := (SELECT pg_catalog.jsonb_object_agg(p.endpoint, p.n)
                      FROM (SELECT s.endpoint,
                                   pg_catalog.count(*) FILTER (WHERE NOT s.chunk_from >= s.chunk_to
                                                                  OR s.chunk_from IS NULL) AS n
                              FROM aispend._sync_plan(v_account, v_since, NULL, pg_catalog.clock_timestamp()) s
                             GROUP BY s.endpoint) p);
        UPDATE aispend.refresh_requests q SET steps_planned = v_steps WHERE q.account = v_account AND q.id = v_id;
        COMMIT;

        -- A sync of the account already running (a scheduled one, a CALL) is waited for, not failed on: the sync
        -- then sees it holds the account's lock, and releases it when done.
        PERFORM pg_catalog.pg_advisory_lock(1634300784, aispend._lock_key(v_account));
        CALL aispend.sync(v_account, v_since);

        v_now := pg_catalog.clock_timestamp();
        UPDATE aispend.refresh_requests q
           SET state = 'succeeded', finished_at = v_now
         WHERE q.account = v_account AND q.id = v_id AND q.state = 'running';
        PERFORM aispend._notify_request(v_id, v_account, 'succeeded');
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE aispend._refresh_work() IS
    'Internal: run by each background refresh worker: takes the role''s queued refresh requests one account at a '
    'time (running, CALL aispend.sync, succeeded) until none is left. An error propagates to the worker, which '
    'records it (aispend._refresh_failed) and CALLs again.';

-- Called by a worker, in a new transaction, after the sync of the account in hand failed and was rolled back.
CREATE FUNCTION aispend._refresh_failed(p_sqlstate text, p_message text, p_detail text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
DECLARE
    v record;
    v_marked boolean := false;
    -- read here, not in the UPDATE: on a Citus cluster it runs on the shards
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_pid integer := pg_catalog.pg_backend_pid();
    v_role name := CURRENT_USER;
    v_state text := CASE WHEN p_sqlstate = '57014' THEN 'cancelled' ELSE 'failed' END;
BEGIN
    FOR v IN
        UPDATE aispend.refresh_requests q
           SET state = v_state, finished_at = v_now, error_sqlstate = p_sqlstate, error_message = p_message,
               error_detail = NULLIF(p_detail, '')
         WHERE q.state = 'running' AND q.worker_pid = v_pid AND q.requested_by = v_role
        RETURNING q.id, q.account, q.state
    LOOP
        PERFORM aispend._notify_request(v.id, v.account, v.state);
        v_marked := true;
    END LOOP;
    RETURN v_marked;
END
$$;
COMMENT ON FUNCTION aispend._refresh_failed(text, text, text) IS
    'Internal: a background worker records how the refresh request it was running ended in error (57014: '
    'cancelled); false when it was running none.';

-- ---------------------------------------------------------------- the public API

CREATE FUNCTION aispend.request_refresh(accounts name[] DEFAULT NULL, since timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_id bigint;
    v_accounts name[];
    v_acct name;
    v_missing name[] := '{}';
    v_active record;
    v_queued integer;
BEGIN
    -- On a Citus cluster the workers run on the coordinator, where the requests are watched (aispend._refresh_live)
    IF aispend._on_citus_worker() THEN
        RAISE EXCEPTION 'aispend: request a refresh on the Citus coordinator, not on a worker node'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Connect to the coordinator and call aispend.request_refresh() there: docs/scaling.md.';
    END IF;
    IF since IS NOT NULL AND (since >= pg_catalog.clock_timestamp() OR NOT pg_catalog.isfinite(since)) THEN
        RAISE EXCEPTION 'aispend: since (%) must be a time in the past', since USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF accounts IS NULL THEN
        SELECT pg_catalog.array_agg(s.srvname ORDER BY s.srvname) INTO v_accounts FROM aispend._servers() s
         WHERE aispend._option(s.srvoptions, 'provider') IS DISTINCT FROM 'focus';   -- imported, not synced
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no accounts to refresh (no server of the foreign-data wrapper aispend)'
                USING ERRCODE = 'no_data_found', HINT = 'Create one first: docs/accounts.md.';
        END IF;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT a ORDER BY a) INTO v_accounts FROM pg_catalog.unnest(accounts) a
         WHERE a IS NOT NULL;
        IF v_accounts IS NULL THEN
            RAISE EXCEPTION 'aispend: no account named' USING ERRCODE = 'null_value_not_allowed',
                HINT = 'Pass accounts => NULL for every account, or ARRAY[''name''].';
        END IF;
    END IF;
    -- Each account exists (42704 otherwise) and this role has a key for it: refused now, not in the worker.
    FOREACH v_acct IN ARRAY v_accounts LOOP
        PERFORM aispend._account_settings(v_acct);
        IF NOT coalesce((SELECT k.has_key FROM pg_catalog.pg_foreign_server s
                                     CROSS JOIN LATERAL aispend._key_status(s.oid) k
                                     WHERE s.srvname = v_acct), false) THEN
            v_missing := v_missing || v_acct;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'aispend: role % has no admin key for account %', CURRENT_USER,
                        pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A background refresh runs as the role that requests it, with that role''s keys.',
                  HINT = 'Give the role a key (CREATE USER MAPPING FOR ... SERVER ... OPTIONS (admin_key ...)), '
                         'or name only the accounts it has keys for: docs/accounts.md.';
    END IF;

    PERFORM aispend._refresh_sweep();
    v_id := pg_catalog.nextval('aispend.refresh_request_ids');
    FOREACH v_acct IN ARRAY v_accounts LOOP
        -- Two requests for one account at once: the second waits here for the first's transaction, then joins.
        PERFORM pg_catalog.pg_advisory_xact_lock(1634300786, aispend._lock_key(v_acct));
        SELECT q.id, q.since, q.state INTO v_active FROM aispend.refresh_requests q
         WHERE q.account = v_acct AND q.state IN ('queued', 'running')
         ORDER BY q.id LIMIT 1;
        IF FOUND AND NOT (since IS NULL OR coalesce(since >= v_active.since, false)) THEN
            RAISE EXCEPTION 'aispend: account % is already being refreshed (request %) from a later start', v_acct,
                            v_active.id
                USING ERRCODE = 'lock_not_available',
                      HINT = pg_catalog.format('Request again when it ends, or cancel it: SELECT aispend.cancel_refresh(%s);',
                                               v_active.id);
        END IF;
        IF FOUND THEN
            INSERT INTO aispend.refresh_requests (id, account, since, state, joined_request)
            VALUES (v_id, v_acct, since, 'joined', v_active.id);
            PERFORM aispend._notify_request(v_id, v_acct, 'joined');
        ELSE
            INSERT INTO aispend.refresh_requests (id, account, since) VALUES (v_id, v_acct, since);
            PERFORM aispend._notify_request(v_id, v_acct, 'queued');
        END IF;
    END LOOP;

    -- Workers for the role's queued accounts; they take queued requests of the role, so none is left waiting.
    SELECT pg_catalog.count(*) INTO v_queued FROM aispend.refresh_requests q
     WHERE q.state = 'queued' AND q.requested_by = CURRENT_USER;
    -- Workers already running for the role count against aispend.refresh_workers (the library is loaded: its
    -- _key_status ran above); one is started anyway, to wait for this transaction's requests.
    IF v_queued > 0 THEN
        PERFORM aispend._start_refresh_workers(GREATEST(1, LEAST(v_queued,
            pg_catalog.current_setting('aispend.refresh_workers')::integer
            - (SELECT pg_catalog.count(*)::integer FROM aispend._refresh_workers(CURRENT_USER)))));
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION aispend.request_refresh(name[], timestamptz) IS
    'The dashboard''s "Refresh Data" from any client: queues a sync of the accounts (default: all) and returns its '
    'request id at once; background workers running as this role sync them, up to aispend.refresh_workers '
    'accounts at a time, once this transaction commits. An account already being refreshed is joined. Progress: '
    'aispend.refresh_progress, LISTEN aispend_refresh. See docs/sync.md.';

CREATE FUNCTION aispend.cancel_refresh(request bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    a record;
    v record;
    v_now timestamptz;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found',
            HINT = 'SELECT DISTINCT request, state FROM aispend.refresh_progress;';
    END IF;
    -- The row lock keeps a worker from finishing this account and starting the next one under our cancel.
    -- Row-level security leaves out the rows of roles this one is not a member of.
    -- (Each row is locked on its own: one shard on Citus, which locks no rows across shards.)
    FOR a IN SELECT q.account FROM aispend.refresh_requests q
              WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')
              ORDER BY q.account
    LOOP
        SELECT q.* INTO v FROM aispend.refresh_requests q
         WHERE q.account = a.account AND q.id = request AND q.state IN ('queued', 'running', 'joined')
           FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        IF v.state = 'running' THEN
            -- The worker rolls the step back and records the request cancelled itself.
            -- only that role's live worker: a pid left by a dead one may belong to another process by now
            IF NOT aispend._refresh_worker_alive(v.requested_by, v.worker_pid)
               OR NOT pg_catalog.pg_cancel_backend(v.worker_pid) THEN
                RAISE WARNING 'aispend: the worker of request % (account %) is gone', request, v.account;
            END IF;
        ELSE
            v_now := pg_catalog.clock_timestamp();   -- not in the UPDATE, which runs on a shard on Citus
            UPDATE aispend.refresh_requests q
               SET state = 'cancelled', finished_at = v_now, error_sqlstate = '57014',
                   error_message = CASE v.state WHEN 'queued' THEN 'cancelled before it started'
                                   ELSE pg_catalog.format('cancelled; request %s, which it had joined, goes on',
                                                          v.joined_request) END
             WHERE q.account = v.account AND q.id = v.id;
            PERFORM aispend._notify_request(v.id, v.account, 'cancelled');
        END IF;
        n := n + 1;
    END LOOP;
    IF n = 0 AND EXISTS (SELECT 1 FROM aispend.refresh_requests q
                          WHERE q.id = request AND q.state IN ('queued', 'running', 'joined')) THEN
        RAISE EXCEPTION 'aispend: refresh request % is another role''s', request
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the role that requested it (or a member of that role) may cancel it.';
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION aispend.cancel_refresh(bigint) IS
    'Cancels a refresh request: its queued accounts at once, its running ones by cancelling their worker''s '
    'statement (the step in flight rolls back, as when a sync is cancelled). Returns how many accounts it '
    'cancelled; a joined account stops sharing the other request, which goes on. Only the requesting role (or a '
    'member of it) may.';

-- ---------------------------------------------------------------- progress

CREATE VIEW aispend.refresh_progress AS
WITH req AS (
    SELECT r.id AS request, r.account, r.requested_by, r.requested_at, r.since,
           CASE WHEN r.state = 'joined' THEN x.id END AS joined_request,
           aispend._refresh_state_of(x.state, x.worker_pid, x.requested_by, x.requested_at, l.pids, l.roles,
                                     l.at) AS state,
           x.started_at, x.finished_at, x.steps_planned, x.error_sqlstate, l.at
    FROM aispend.refresh_requests r
    JOIN aispend.refresh_requests x
      ON x.account = r.account AND x.id = CASE WHEN r.state = 'joined' THEN r.joined_request ELSE r.id END
    -- the live workers and the time, read once (on Citus, on the coordinator, where the workers run: the subquery,
    -- kept apart by OFFSET 0, is planned there)
    CROSS JOIN (SELECT w.pids, w.roles, w.at FROM aispend._refresh_live() w OFFSET 0) l
), steps AS (
    SELECT req.*, e.ord, e.endpoint,
           (req.steps_planned ->> e.endpoint)::integer AS steps_planned_ep,
           s.steps_done, s.busy, s.in_flight, s.failed, s.rows_fetched, s.http_requests, s.retries
    FROM req
    CROSS JOIN (VALUES (1, 'workspaces'), (2, 'api_keys'), (3, 'usage'), (4, 'costs')) AS e(ord, endpoint)
    LEFT JOIN LATERAL (
        SELECT pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded')::integer AS steps_done,
               pg_catalog.bool_or(r.status = 'running') AS busy,
               pg_catalog.max(CASE WHEN r.status = 'running'
                                   THEN NULLIF(pg_catalog.ltrim(aispend._fmt_window(r.window_start, r.window_end)), '')
                              END) AS in_flight,
               pg_catalog.bool_or(r.status IN ('failed', 'aborted')) AS failed,
               pg_catalog.sum(r.rows_fetched) AS rows_fetched, pg_catalog.sum(r.http_requests) AS http_requests,
               pg_catalog.sum(r.retries) AS retries
        FROM aispend.sync_runs r
        WHERE r.account = req.account AND r.endpoint = e.endpoint AND r.started_at >= req.started_at
          AND (req.finished_at IS NULL OR r.started_at <= req.finished_at)) s ON true
)
SELECT st.request, st.account, st.requested_by, st.state, st.endpoint,
       CASE WHEN st.busy THEN CASE WHEN st.state = 'running' THEN 'running' ELSE 'interrupted' END
            WHEN st.failed THEN 'failed'
            WHEN st.steps_planned_ep = 0 THEN 'nothing to fetch'
            WHEN st.steps_done >= st.steps_planned_ep THEN 'done'
            WHEN st.state IN ('queued', 'running') THEN 'waiting'
            ELSE 'not reached' END AS endpoint_state,
       st.in_flight AS chunk_in_flight,
       st.steps_done, st.steps_planned_ep AS steps_planned,
       coalesce(st.rows_fetched, 0) AS rows_fetched,
       coalesce(st.http_requests, 0) AS http_requests,
       coalesce(st.retries, 0) AS retries,
       st.requested_at, st.started_at, st.finished_at,
       coalesce(st.finished_at, st.at) - st.started_at AS elapsed,
       -- the time per step so far times the steps still to run (NULL before the first step ends)
       CASE WHEN st.state NOT IN ('queued', 'running') THEN interval '0'
            WHEN pg_catalog.sum(st.steps_done) OVER w > 0
                THEN (st.at - st.started_at) / (pg_catalog.sum(st.steps_done) OVER w)
                     * GREATEST(0, pg_catalog.sum(st.steps_planned_ep) OVER w - pg_catalog.sum(st.steps_done) OVER w)
       END AS remaining,
       st.joined_request, st.error_sqlstate
FROM steps st
WINDOW w AS (PARTITION BY st.request, st.account)
ORDER BY st.request DESC, st.account, st.ord;
COMMENT ON VIEW aispend.refresh_progress IS
    'Background refreshes as they go, per request, account and endpoint: state, the chunk in flight, steps done of '
    'those planned, rows, HTTP requests and retries so far, elapsed time and an estimate of what remains. Counts '
    'grow as each step commits. No secret: readers may watch it. LISTEN aispend_refresh to hear of each change.';
COMMENT ON COLUMN aispend.refresh_progress.request IS 'The id aispend.request_refresh returned.';
COMMENT ON COLUMN aispend.refresh_progress.state IS
    'The account''s refresh: queued, running, succeeded, failed or cancelled (a joined request shows the state of '
    'the request it joined).';
COMMENT ON COLUMN aispend.refresh_progress.endpoint_state IS
    'running, waiting, done, nothing to fetch, failed, interrupted (the refresh ended during it) or not reached.';
COMMENT ON COLUMN aispend.refresh_progress.chunk_in_flight IS 'The window of the step being fetched now (usage, costs).';
COMMENT ON COLUMN aispend.refresh_progress.steps_done IS 'Steps (month chunks) of this endpoint committed so far.';
COMMENT ON COLUMN aispend.refresh_progress.steps_planned IS 'Steps of this endpoint planned when the refresh started.';
COMMENT ON COLUMN aispend.refresh_progress.rows_fetched IS 'Rows the provider returned in the committed steps.';
COMMENT ON COLUMN aispend.refresh_progress.http_requests IS 'HTTP requests of the committed and failed steps.';
COMMENT ON COLUMN aispend.refresh_progress.retries IS 'Of which retried (429, 5xx, network; Retry-After honoured).';
COMMENT ON COLUMN aispend.refresh_progress.elapsed IS 'Since the account''s refresh started (to its end once ended).';
COMMENT ON COLUMN aispend.refresh_progress.remaining IS
    'Estimate: the time per committed step so far times the steps still planned for the account; NULL until a step '
    'ends, 0 once ended.';
COMMENT ON COLUMN aispend.refresh_progress.joined_request IS 'For a joined request: the request whose run it shows.';
COMMENT ON COLUMN aispend.refresh_progress.error_sqlstate IS
    'How it failed (the message: aispend.refresh_requests.error_message, for admins).';

-- For psql and scripts: wait for a request to end, a NOTICE at each change of its progress.
CREATE FUNCTION aispend.wait_refresh(request bigint, timeout interval DEFAULT interval '10 minutes')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, aispend, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_deadline timestamptz := pg_catalog.clock_timestamp() + timeout;
    v_line text;
    v_key text;
    v_last text;
    v_state text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM aispend.refresh_requests q WHERE q.id = request) THEN
        RAISE EXCEPTION 'aispend: no refresh request %', request USING ERRCODE = 'no_data_found';
    END IF;
    -- The workers wait for the requesting transaction to end: waiting inside it would wait forever.
    IF EXISTS (SELECT 1 FROM aispend.refresh_requests q
                WHERE q.id = request
                  AND q.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())) THEN
        RAISE EXCEPTION 'aispend: refresh request % is not committed yet, so it has not started', request
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'COMMIT the transaction that requested it (or request it in autocommit mode), then wait.';
    END IF;
    LOOP
        -- one statement, one snapshot: what the workers have committed by now
        SELECT pg_catalog.string_agg(DISTINCT p.state, '/'),
               pg_catalog.string_agg(pg_catalog.format('%s %s%s (%s/%s steps, %s rows%s)', p.account, p.endpoint,
                                                       coalesce(' ' || p.chunk_in_flight, ''), t.done, t.planned,
                                                       t.rows_fetched,
                                                       coalesce(', ~' || pg_catalog.ceil(EXTRACT(epoch FROM p.remaining))
                                                                || ' s left', '')), '; '
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running'),
               -- what changed, the estimate aside
               pg_catalog.string_agg(p.account || p.endpoint || coalesce(p.chunk_in_flight, '') || t.done, ';'
                                     ORDER BY p.account) FILTER (WHERE p.endpoint_state = 'running')
          INTO v_state, v_line, v_key
          FROM aispend.refresh_progress p
          CROSS JOIN LATERAL (SELECT pg_catalog.sum(a.steps_done) AS done, pg_catalog.sum(a.steps_planned) AS planned,
                                     pg_catalog.sum(a.rows_fetched) AS rows_fetched
                                FROM aispend.refresh_progress a
                               WHERE a.request = p.request AND a.account = p.account) t
         WHERE p.request = request;
        EXIT WHEN v_state !~ '(queued|running)';
        v_line := coalesce(v_line, CASE WHEN v_state ~ 'running' THEN 'between steps' ELSE 'waiting for a worker' END);
        IF coalesce(v_key, v_line) IS DISTINCT FROM v_last THEN
            RAISE NOTICE 'aispend: refresh %: %', request, v_line;
            v_last := coalesce(v_key, v_line);
        END IF;
        IF pg_catalog.clock_timestamp() >= v_deadline THEN
            RAISE NOTICE 'aispend: refresh % still %s after %; it goes on in the background', request, v_state, timeout;
            RETURN v_state;
        END IF;
        PERFORM pg_catalog.pg_sleep(0.2);
    END LOOP;
    RAISE NOTICE 'aispend: refresh %: %', request,
        (SELECT pg_catalog.string_agg(DISTINCT p.account || ' ' || p.state || coalesce(' (' || p.error_sqlstate || ')', ''),
                                      ', ')
           FROM aispend.refresh_progress p WHERE p.request = request);
    RETURN v_state;
END
$$;
COMMENT ON FUNCTION aispend.wait_refresh(bigint, interval) IS
    'Waits for a refresh request (committed) to end, with a NOTICE at each step (account, endpoint, chunk, steps, '
    'rows, time left); returns its state (succeeded, failed, cancelled, or several joined by /). After timeout it '
    'returns the state so far; the refresh goes on. For psql and scripts; a BI tool reads aispend.refresh_progress.';

REVOKE ALL ON FUNCTION aispend._start_refresh_workers(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._notify_request(bigint, name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_sweep() FROM PUBLIC;
REVOKE ALL ON PROCEDURE aispend._refresh_work() FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_failed(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.request_refresh(name[], timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.cancel_refresh(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend.wait_refresh(bigint, interval) FROM PUBLIC;
