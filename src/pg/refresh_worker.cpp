// The background refresh worker (issue 13): aispend._start_sync_worker(request_id, account) starts a dynamic
// background worker (no shared_preload_libraries needed) connected to the current database as the current
// role, which runs CALL aispend._refresh_account(request_id, account) (src/sql/37_refresh.sql).
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
// longjmp skips no destructor, and no C++ exception can be thrown. An error of the CALL is caught with
// PG_TRY, logged, the transaction rolled back (as a logical replication worker does before disabling its
// subscription), and recorded with aispend._refresh_failed in a new transaction; the worker then exits with
// code 1 (never restarted). SIGTERM (pg_terminate_backend, server shutdown) first acts as a query cancel, so
// the sync step in flight rolls back, marks its sync_runs row 'aborted' and the request is recorded
// 'cancelled'; a second SIGTERM ends the worker at once (FATAL), as in any backend.
#include "pg/pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/analyze.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
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
    int64 request_id;
    NameData account;
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

Datum start_sync_worker(FunctionCallInfo fcinfo) {
    RefreshWorkerArgs args;
    memset(&args, 0, sizeof args);
    args.magic = kArgsMagic;
    args.database = MyDatabaseId;
    args.role = GetUserId();
    args.requester_xid = GetTopTransactionIdIfAny();
    args.request_id = PG_GETARG_INT64(0);
    namestrcpy(&args.account, NameStr(*PG_GETARG_NAME(1)));
    check_role_may_run_worker(args.role);

    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "aispend");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "aispend_refresh_worker_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "aispend refresh %lld of %s", (long long)args.request_id,
             NameStr(args.account));
    snprintf(worker.bgw_type, BGW_MAXLEN, "aispend refresh");
    worker.bgw_main_arg = (Datum)0;
    memcpy(worker.bgw_extra, &args, sizeof args);
    worker.bgw_notify_pid = MyProcPid;  // WaitForBackgroundWorkerStartup needs the postmaster to signal us

    BackgroundWorkerHandle *handle = nullptr;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle)) {
        ereport(NOTICE, (errmsg("aispend: no background worker slot is free for refresh request %lld",
                                (long long)args.request_id),
                         errhint("Raise max_worker_processes, or try again when a worker has finished.")));
        fcinfo->isnull = true;
        return (Datum)0;
    }
    pid_t pid = 0;
    BgwHandleStatus status = WaitForBackgroundWorkerStartup(handle, &pid);
    pfree(handle);
    if (status == BGWH_POSTMASTER_DIED)
        ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN),
                        errmsg("aispend: the postmaster died while starting a background refresh")));
    if (status != BGWH_STARTED) pid = 0;  // BGWH_STOPPED: it ran and ended already, or could not start
    return Int32GetDatum((int32)pid);
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

// Runs one statement as a top-level command outside a transaction block, so that a CALL is non-atomic (see
// the top of the file). Called inside a transaction started with StartTransactionCommand; when it returns the
// current transaction is the one the procedure's last COMMIT started (or still the first).
void run_nonatomic(const char *sql) {
    // Parse trees and plans must survive the procedure's COMMITs: not in a transaction's memory.
    MemoryContext stmt_context =
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
}

// After an error: log it, roll back, and keep a copy (in TopMemoryContext) for the record. Called in
// PG_CATCH.
ErrorData *recover_from_error() {
    HOLD_INTERRUPTS();
    MemoryContextSwitchTo(TopMemoryContext);
    EmitErrorReport();
    ErrorData *edata = CopyErrorData();
    FlushErrorState();
    AbortOutOfAnyTransaction();
    RESUME_INTERRUPTS();
    return edata;
}

// Records the error that ended the request (aispend._refresh_failed), in a new transaction. Failing to record
// is logged, nothing more: the worker exits anyway.
void record_failure(const RefreshWorkerArgs *args, ErrorData *edata) {
    PG_TRY();
    {
        const char *message = edata->message != nullptr ? edata->message : "unknown error";
        if (got_sigterm && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
            message = "the refresh was terminated (pg_terminate_backend, or the server shutting down)";
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, "SELECT aispend._refresh_failed(...)");
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
        Oid types[5] = {INT8OID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
        Datum values[5] = {Int64GetDatum(args->request_id), NameGetDatum(&args->account),
                           CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode)),
                           CStringGetTextDatum(message),
                           CStringGetTextDatum(edata->detail != nullptr ? edata->detail : "")};
        int rc = SPI_execute_with_args("SELECT aispend._refresh_failed($1, $2, $3, $4, $5)", 5, types, values,
                                       nullptr, false, 0);
        if (rc != SPI_OK_SELECT) elog(ERROR, "aispend: recording the failed refresh returned %d", rc);
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
    }
    PG_CATCH();
    { (void)recover_from_error(); }
    PG_END_TRY();
}

}  // namespace

AISPEND_FUNCTION(aispend_start_sync_worker) {
    return aispend::pg::pg_call([&] { return start_sync_worker(fcinfo); });
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

    MemoryContextSwitchTo(TopMemoryContext);
    char *sql = psprintf("CALL aispend._refresh_account(%lld, %s)", (long long)args.request_id,
                         quote_literal_cstr(NameStr(args.account)));

    ErrorData *volatile failure = nullptr;
    PG_TRY();
    {
        // The request may be a row the requesting transaction has not committed yet: wait for it to end.
        if (TransactionIdIsValid(args.requester_xid)) {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            pgstat_report_activity(STATE_RUNNING, "waiting for the requesting transaction to end");
            XactLockTableWait(args.requester_xid, nullptr, nullptr, XLTW_None);
            CommitTransactionCommand();
        }

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

    if (failure != nullptr) record_failure(&args, failure);
    pgstat_report_activity(STATE_IDLE, nullptr);
    proc_exit(failure != nullptr ? 1 : 0);  // 0 and 1 only: any other code makes the postmaster restart all
}
