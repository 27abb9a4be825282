// The background refresh (issue 13): aispend._start_refresh_workers(wanted) starts dynamic background workers
// (no shared_preload_libraries needed), each connected to the current database as the current role. A worker
// waits for the requesting transaction to end, then runs CALL aispend._refresh_work()
// (src/sql/37_refresh.sql), which takes the role's queued refresh requests one account at a time until none
// is left.
//
// Non-atomic CALL. A procedure may COMMIT only when CALLed at top level outside a transaction block
// (ProcessUtility's context PROCESS_UTILITY_TOPLEVEL and !IsTransactionBlock(), utility.c). SPI cannot give
// that here: after the procedure's first COMMIT every later statement needs a Portal to rebuild its snapshot
// (EnsurePortalSnapshotExists, pquery.c), and a worker has no Portal. So the CALL is run as the simple-query
// protocol runs a statement (postgres.c exec_simple_query; pg_cron's background workers do the same): parse
// and plan into a context that outlives the transactions, then an unnamed Portal run with isTopLevel = true,
// inside a transaction started by StartTransactionCommand (not a transaction block). The procedure's COMMITs
// end and start transactions under the active Portal; PortalRun puts the resource owner and memory context
// back.
//
// Errors. The worker's main is plain C-style code: no C++ object lives in any frame here, so an ereport
// longjmp skips no destructor, and no C++ exception can be thrown. An error of the CALL (the sync of the
// account in hand failed) is caught with PG_TRY, logged, the transaction rolled back, and recorded on the
// request the worker was running with aispend._refresh_failed in a new transaction; the worker then CALLs
// again for the next queued account. pg_cancel_backend (aispend.cancel_refresh) cancels the account in hand:
// its step rolls back, its sync_runs row is 'aborted', the request is 'cancelled', and the worker goes on.
// SIGTERM (pg_terminate_backend, server shutdown) also cancels the statement first, but the request is
// recorded 'failed' (57P01) and the worker exits; a second SIGTERM ends it at once (FATAL), as in any
// backend. A worker that ends without recording anything (killed, a crash) leaves its request 'running' with
// a dead pid: aispend.request_refresh marks such requests failed, and aispend.refresh_progress shows them
// failed.
#include "pg/pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/analyze.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
}

#include <csignal>
#include <cstring>

#include "pg/guard.hpp"
#include "pg/settings.hpp"

extern "C" {
PGDLLEXPORT void aispend_refresh_worker_main(Datum main_arg);
}

namespace {

// What the requesting backend hands the worker, in BackgroundWorker.bgw_extra (plain data: it is copied).
struct RefreshWorkerArgs {
    uint32 magic;
    Oid database;
    Oid role;
    TransactionId requester_xid;  // the requesting transaction, waited for; InvalidTransactionId: none
};
static_assert(sizeof(RefreshWorkerArgs) <= BGW_EXTRALEN, "the worker's arguments must fit in bgw_extra");
constexpr uint32 kArgsMagic = 0x61737266;  // "asrf"

// ---------------------------------------------------------------- the requesting backend

// Raises when the current role cannot run a worker: PostgreSQL 15 connects a background worker like a login
// (InitializeSessionUserId refuses a role without LOGIN, FATAL at the worker's start, where nothing could
// record it); PostgreSQL 17 added BGWORKER_BYPASS_ROLELOGINCHECK. A security-restricted operation (index
// expressions, VACUUM, REFRESH MATERIALIZED VIEW run as the table owner) may not start anything that outlives
// it.
void check_role_may_run_worker(Oid role) {
    if (InSecurityRestrictedOperation())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("aispend: cannot start a background refresh within a security-restricted "
                               "operation")));
    HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "aispend: cache lookup failed for role %u", role);
    Form_pg_authid form = (Form_pg_authid)GETSTRUCT(tuple);
    bool can_login = form->rolcanlogin;
    NameData name = form->rolname;
    ReleaseSysCache(tuple);
    if (!can_login)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                 errmsg("aispend: role \"%s\" cannot log in, so a background refresh cannot run as it",
                        NameStr(name)),
                 errdetail("The background worker connects as the current role, with exactly its privileges; "
                           "PostgreSQL 15 lets a worker connect only as a role with LOGIN."),
                 errhint("Request the refresh as a role that can log in (RESET ROLE, or SET ROLE to one).")));
}

// Registers one worker; false when no background worker slot is free (max_worker_processes).
bool start_one_worker(const RefreshWorkerArgs &args) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "aispend");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "aispend_refresh_worker_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "aispend refresh worker");
    snprintf(worker.bgw_type, BGW_MAXLEN, "aispend refresh");
    worker.bgw_main_arg = (Datum)0;
    memcpy(worker.bgw_extra, &args, sizeof args);
    worker.bgw_notify_pid = 0;  // nobody waits for its start: its outcome is in aispend.refresh_requests
    BackgroundWorkerHandle *handle = nullptr;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle)) return false;
    pfree(handle);
    return true;
}

// Starts min(wanted, aispend.refresh_workers) workers; returns how many started. None at all is an error (the
// requests would wait for a worker that never comes), fewer than wanted a notice.
Datum start_refresh_workers(FunctionCallInfo fcinfo) {
    int32 wanted = PG_GETARG_INT32(0);
    RefreshWorkerArgs args;
    memset(&args, 0, sizeof args);
    args.magic = kArgsMagic;
    args.database = MyDatabaseId;
    args.role = GetUserId();
    args.requester_xid = GetTopTransactionIdIfAny();
    check_role_may_run_worker(args.role);

    int32 target = wanted < aispend::pg::refresh_workers ? wanted : aispend::pg::refresh_workers;
    int32 started = 0;
    while (started < target && start_one_worker(args)) started++;
    if (started == 0 && target > 0)
        ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("aispend: no background worker slot is free for a refresh"),
                        errdetail("Every one of the max_worker_processes slots is in use."),
                        errhint("Try again when a worker has finished, or raise max_worker_processes (a "
                                "restart).")));
    if (started < target)
        ereport(NOTICE, (errmsg("aispend: %d of %d refresh workers started (no background worker slot free)",
                                started, target),
                         errhint("The accounts are refreshed by fewer workers, one after another.")));
    PG_RETURN_INT32(started);
}

// ---------------------------------------------------------------- the worker

volatile sig_atomic_t got_sigterm = false;

// SIGTERM: the first one cancels the running statement (a catchable 57014: the sync records the step as
// aborted, the worker the request as cancelled, then it exits); a second one is the usual die().
void refresh_worker_sigterm(SIGNAL_ARGS) {
    if (!got_sigterm) {
        got_sigterm = true;
        StatementCancelHandler(postgres_signal_arg);
    } else {
        die(postgres_signal_arg);
    }
}

// The parse trees and plans of the statement being run (freed by recover_from_error after an error).
MemoryContext stmt_context = nullptr;

// Runs one statement as a top-level command outside a transaction block, so that a CALL is non-atomic (see
// the top of the file). Called inside a transaction started with StartTransactionCommand; when it returns the
// current transaction is the one the procedure's last COMMIT started (or still the first).
void run_nonatomic(const char *sql) {
    // Parse trees and plans must survive the procedure's COMMITs: not in a transaction's memory.
    stmt_context =
        AllocSetContextCreate(TopMemoryContext, "aispend refresh statement", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old_context = MemoryContextSwitchTo(stmt_context);
    List *parsed = pg_parse_query(sql);
    MemoryContextSwitchTo(old_context);
    if (list_length(parsed) != 1) elog(ERROR, "aispend: one statement expected: %s", sql);
    RawStmt *raw = linitial_node(RawStmt, parsed);

    bool snapshot_set = false;
    if (analyze_requires_snapshot(raw)) {
        PushActiveSnapshot(GetTransactionSnapshot());
        snapshot_set = true;
    }
    MemoryContextSwitchTo(stmt_context);
    List *queries = pg_analyze_and_rewrite_fixedparams(raw, sql, nullptr, 0, nullptr);
    List *plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, nullptr);
    MemoryContextSwitchTo(old_context);
    if (snapshot_set) PopActiveSnapshot();
    CHECK_FOR_INTERRUPTS();

    Portal portal = CreatePortal("", true, true);
    portal->visible = false;
    PortalDefineQuery(portal, nullptr, sql, CreateCommandTag(raw->stmt), plans, nullptr);
    PortalStart(portal, nullptr, 0, InvalidSnapshot);
    QueryCompletion qc;
    InitializeQueryCompletion(&qc);
    // isTopLevel = true: PROCESS_UTILITY_TOPLEVEL, so CALL runs non-atomically (its procedure may COMMIT).
    (void)PortalRun(portal, FETCH_ALL, true, true, None_Receiver, None_Receiver, &qc);
    PortalDrop(portal, false);
    MemoryContextDelete(stmt_context);
    stmt_context = nullptr;
}

// After an error: log it, roll back, and keep a copy (in TopMemoryContext) for the record. Called in
// PG_CATCH.
ErrorData *recover_from_error() {
    HOLD_INTERRUPTS();
    MemoryContextSwitchTo(TopMemoryContext);
    EmitErrorReport();
    ErrorData *edata = CopyErrorData();
    FlushErrorState();
    // As PostgresMain's error recovery: the portals (the procedure's cursors kept across its COMMITs), the
    // transaction, then what a session keeps past it: session advisory locks (a sync's account lock would
    // otherwise stay held while this worker goes on to other accounts) and the statement's memory.
    PortalErrorCleanup();
    AbortOutOfAnyTransaction();
    LockReleaseSession(USER_LOCKMETHOD);
    if (stmt_context != nullptr) {
        MemoryContextDelete(stmt_context);
        stmt_context = nullptr;
    }
    RESUME_INTERRUPTS();
    return edata;
}

// Records the error on the request this worker was running (aispend._refresh_failed), in a new transaction.
// Returns whether a request was marked; failing to record is logged, nothing more.
bool record_failure(ErrorData *edata) {
    volatile bool marked = false;
    PG_TRY();
    {
        const char *message = edata->message != nullptr ? edata->message : "unknown error";
        const char *sqlstate = unpack_sql_state(edata->sqlerrcode);
        if (got_sigterm && edata->sqlerrcode == ERRCODE_QUERY_CANCELED) {
            message =
                "the refresh's worker was terminated (pg_terminate_backend, or the server shutting down)";
            sqlstate = "57P01";
        }
        // A cancel (cancel_refresh) that comes now is for the account that already failed: it must not stop
        // the recording, nor the next account.
        QueryCancelPending = false;
        HOLD_CANCEL_INTERRUPTS();
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, "SELECT aispend._refresh_failed(...)");
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
        Oid types[3] = {TEXTOID, TEXTOID, TEXTOID};
        Datum values[3] = {CStringGetTextDatum(sqlstate), CStringGetTextDatum(message),
                           CStringGetTextDatum(edata->detail != nullptr ? edata->detail : "")};
        int rc = SPI_execute_with_args("SELECT aispend._refresh_failed($1, $2, $3)", 3, types, values,
                                       nullptr, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "aispend: recording the failure returned %d", rc);
        bool isnull = true;
        Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        marked = !isnull && DatumGetBool(d);
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        RESUME_CANCEL_INTERRUPTS();
        QueryCancelPending = false;
    }
    PG_CATCH();
    {
        RESUME_CANCEL_INTERRUPTS();
        (void)recover_from_error();
    }
    PG_END_TRY();
    return marked;
}

// One CALL of aispend._refresh_work(); the error that stopped it, or nullptr when the queue was emptied.
ErrorData *run_queue(const char *sql) {
    ErrorData *volatile failure = nullptr;
    PG_TRY();
    {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        debug_query_string = sql;
        pgstat_report_activity(STATE_RUNNING, sql);
        run_nonatomic(sql);
        CommitTransactionCommand();
    }
    PG_CATCH();
    { failure = recover_from_error(); }
    PG_END_TRY();
    debug_query_string = nullptr;
    return failure;
}

}  // namespace

AISPEND_FUNCTION(aispend_start_refresh_workers) {
    return aispend::pg::pg_call([&] { return start_refresh_workers(fcinfo); });
}

void aispend_refresh_worker_main(Datum) {
    RefreshWorkerArgs args;
    memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof args);

    pqsignal(SIGTERM, refresh_worker_sigterm);  // SIGINT (pg_cancel_backend) is already a query cancel
    BackgroundWorkerUnblockSignals();
    if (args.magic != kArgsMagic)
        ereport(FATAL, (errmsg("aispend: refresh worker started without its arguments")));

    // As the requesting role, never the bootstrap superuser: its privileges, settings (ALTER ROLE ... SET)
    // and keys. FATAL (exit code 1) if the role or the database went away meanwhile.
    BackgroundWorkerInitializeConnectionByOid(args.database, args.role, 0);
    SetConfigOption("application_name", "aispend refresh", PGC_USERSET, PGC_S_SESSION);

    // The session settings of the role and database (ALTER ROLE / DATABASE ... SET) must not change what the
    // sync's SQL means: operators resolve through search_path, and a read-only or repeatable-read default
    // would fail every step. (application_name is how aispend._refresh_state tells a live worker: any role
    // sees the application_name, user and database of any backend in pg_stat_activity.)
    SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_OVERRIDE);
    SetConfigOption("default_transaction_read_only", "off", PGC_USERSET, PGC_S_OVERRIDE);
    SetConfigOption("default_transaction_isolation", "read committed", PGC_USERSET, PGC_S_OVERRIDE);

    // The requests may be rows the requesting transaction has not committed yet: wait for it to end.
    if (TransactionIdIsValid(args.requester_xid)) {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        pgstat_report_activity(STATE_RUNNING, "waiting for the requesting transaction to end");
        XactLockTableWait(args.requester_xid, nullptr, nullptr, XLTW_None);
        CommitTransactionCommand();
    }

    MemoryContextSwitchTo(TopMemoryContext);
    const char *sql = "CALL aispend._refresh_work()";
    bool any_failure = false;
    for (;;) {
        ErrorData *failure = run_queue(sql);
        if (failure == nullptr) break;
        any_failure = true;
        // Stop when terminated, or when the error was not on a request (it would come back at once).
        if (!record_failure(failure) || got_sigterm) break;
        FreeErrorData(failure);
    }
    pgstat_report_activity(STATE_IDLE, nullptr);
    proc_exit(any_failure ? 1 : 0);  // 0 and 1 only: any other code makes the postmaster restart all
}
