-- 37_refresh.sql: the foundation of the background refresh (issue 13). A refresh request is a row of
-- aispend.refresh_requests; aispend._start_sync_worker (src/pg/refresh_worker.cpp) starts a dynamic background
-- worker, connected as the calling role, that runs CALL aispend._refresh_account(request, account) outside any
-- transaction block, so that the sync's COMMITs work. The public API (request_refresh, progress, cancel) is
-- built on these.
--
-- The worker first waits for the requesting transaction to end (it may hold the request row uncommitted), then:
-- queued -> running (committed before the sync starts) -> succeeded, or failed / cancelled with the error,
-- recorded by the worker in a new transaction after rolling back (aispend._refresh_failed). pg_cancel_backend
-- and pg_terminate_backend of the worker both end as 'cancelled': the step in flight is rolled back and its
-- sync_runs row marked 'aborted', as for a cancelled CALL aispend.sync().

CREATE TABLE aispend.refresh_requests (
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    account        name        NOT NULL,
    requested_by   name        NOT NULL DEFAULT CURRENT_USER,
    state          text        NOT NULL DEFAULT 'queued'
                               CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at     timestamptz,
    finished_at    timestamptz,
    worker_pid     integer,
    error_sqlstate text,
    error_message  text,
    error_detail   text,
    CONSTRAINT refresh_requests_pkey PRIMARY KEY (account, id)
);
COMMENT ON TABLE aispend.refresh_requests IS
    'One row per background refresh of one account: who asked, its state, the worker that ran it and its error.';
COMMENT ON COLUMN aispend.refresh_requests.requested_by IS
    'The role the worker runs as (the requesting role): its keys and privileges, never more.';
COMMENT ON COLUMN aispend.refresh_requests.state IS
    'queued (no worker has taken it yet), running, succeeded, failed, or cancelled (pg_cancel_backend or '
    'pg_terminate_backend of the worker, or a server shutdown).';
COMMENT ON COLUMN aispend.refresh_requests.worker_pid IS 'The background worker''s process id, once it runs.';
COMMENT ON COLUMN aispend.refresh_requests.error_message IS
    'The error that ended the refresh (it may quote a provider); readers see only error_sqlstate.';

-- What the worker CALLs. A procedure (it COMMITs), so it cannot pin search_path: every name is qualified.
CREATE PROCEDURE aispend._refresh_account(request_id bigint, account name)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_id bigint := request_id;
    v_account name := account;
BEGIN
    -- Only a queued request of this role: a request already taken, cancelled, rolled back or someone else's is
    -- left alone.
    UPDATE aispend.refresh_requests r
       SET state = 'running', started_at = pg_catalog.clock_timestamp(), worker_pid = pg_catalog.pg_backend_pid()
     WHERE r.account = v_account AND r.id = v_id AND r.state = 'queued' AND r.requested_by = CURRENT_USER;
    IF NOT FOUND THEN
        RAISE WARNING 'aispend: refresh request % (account %) is not queued for role %: nothing done',
            v_id, v_account, CURRENT_USER;
        RETURN;
    END IF;
    COMMIT;

    CALL aispend.sync(v_account);

    UPDATE aispend.refresh_requests r
       SET state = 'succeeded', finished_at = pg_catalog.clock_timestamp()
     WHERE r.account = v_account AND r.id = v_id;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE aispend._refresh_account(bigint, name) IS
    'Internal: runs one refresh request in its background worker: marks it running, CALLs aispend.sync for its '
    'account, marks it succeeded. An error propagates to the worker, which records it (_refresh_failed).';

-- Called by the worker, in a new transaction, after the failed refresh was rolled back.
CREATE FUNCTION aispend._refresh_failed(p_request_id bigint, p_account name, p_sqlstate text, p_message text,
                                        p_detail text)
RETURNS void LANGUAGE sql
BEGIN ATOMIC
    UPDATE aispend.refresh_requests
       SET state = CASE WHEN p_sqlstate = '57014' THEN 'cancelled' ELSE 'failed' END,
           finished_at = pg_catalog.clock_timestamp(),
           worker_pid = coalesce(worker_pid, pg_catalog.pg_backend_pid()),
           error_sqlstate = p_sqlstate, error_message = p_message, error_detail = NULLIF(p_detail, '')
     WHERE account = p_account AND id = p_request_id AND state IN ('queued', 'running')
       AND requested_by = CURRENT_USER;
END;
COMMENT ON FUNCTION aispend._refresh_failed(bigint, name, text, text, text) IS
    'Internal: the background worker records how a refresh request ended in error (57014: cancelled).';

CREATE FUNCTION aispend._start_sync_worker(request_id bigint, account name) RETURNS integer
    AS 'MODULE_PATHNAME', 'aispend_start_sync_worker' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, aispend, pg_temp;
COMMENT ON FUNCTION aispend._start_sync_worker(bigint, name) IS
    'Internal: starts a dynamic background worker, connected to this database as the current role (which must '
    'be able to log in), that waits for this transaction to end and then CALLs aispend._refresh_account(request_id, '
    'account). Returns its pid; NULL when no background worker slot is free (max_worker_processes); 0 when it '
    'had already exited before its start was seen (its outcome is in aispend.refresh_requests).';

REVOKE ALL ON PROCEDURE aispend._refresh_account(bigint, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._refresh_failed(bigint, name, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION aispend._start_sync_worker(bigint, name) FROM PUBLIC;
