// Changes made by hand on a Citus cluster (UPDATE aispend.usage, COPY into aispend.costs, INSERT INTO
// aispend.model_prices, TRUNCATE, a custom name set by UPDATE aispend.workspaces ...), followed as a single
// node's invalidation and name history triggers follow them (53_invalidation.sql,
// 54_workspace_management.sql), which cannot run on a cluster:
//  * a row trigger on the shards of aispend.usage and aispend.costs (aispend._shard_fact_changed) keeps the
//  row's
//    UTC day and model, and their statement trigger (aispend._shard_facts_written) marks the days in the
//    co-located shard of aispend._dirty_days, on the same node, and notes the models (first and last bucket)
//    in that of aispend.models: once per account, day and model in a statement of a shard;
//  * a row trigger on the shards of aispend.sync_runs (aispend._shard_run_changed, in SQL) marks the days a
//    moved settlement horizon changes;
//  * a row trigger on the shards of aispend.workspaces (aispend._shard_name_changed, in SQL) keeps a change
//    of names in the co-located shard of aispend._name_changes;
//  * a row trigger on the copies of aispend.model_prices (aispend._shard_price_changed) keeps the changed
//    rules for the transaction, in the backend that changes the copy: the coordinator's session its own;
//  * on the coordinator, after each top-level statement that wrote aispend.usage, aispend.costs,
//    aispend.model_prices, aispend.workspaces or aispend.sync_runs (executor and utility hooks, nesting
//    counted as pg_stat_statements counts it), aispend._cluster_edits_done() records the kept name changes,
//    marks the changed rules' days and re-rolls every marked day: a read after the statement sees the new
//    figures and history, as one after a single node's COMMIT does.
// The hooks are installed only by a preloaded library (they must see a statement from its start); the
// triggers work in any backend. Nothing here holds a C++ object: PostgreSQL's memory and error handling only.
#include "pg/pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include <initializer_list>

#include "pg/cluster_edits.hpp"
#include "pg/guard.hpp"

namespace {

ExecutorStart_hook_type prev_start = nullptr;
ExecutorRun_hook_type prev_run = nullptr;
ExecutorFinish_hook_type prev_finish = nullptr;
ProcessUtility_hook_type prev_utility = nullptr;

int depth = 0;                // executor steps and utility commands under way in this backend
bool edited = false;          // a statement wrote the facts, prices, names or runs since the last re-roll
bool every_day = false;       // ... truncated one of them: every day of every account
bool prices_written = false;  // ... wrote the prices (their rules, when this backend changed a copy, below)
bool flushing = false;        // the re-roll is running
StringInfo rules = nullptr;   // the changed price rules, a JSON array's elements (TopMemoryContext)

// ---------------------------------------------------------------- what a statement wrote

// One of the tables whose changes a cluster follows (not their shards, whose names carry a shard id).
const char *tracked_name(Oid relid) {
    const Oid nsp = get_namespace_oid("aispend", true);
    if (!OidIsValid(nsp) || get_rel_namespace(relid) != nsp) return nullptr;
    const char *name = get_rel_name(relid);
    if (name == nullptr) return nullptr;
    for (const char *tracked : {"usage", "costs", "model_prices", "workspaces", "sync_runs"})
        if (strcmp(name, tracked) == 0) return name;
    return nullptr;
}

// (A price written without a rule kept, because no copy of the prices changed in this backend, then means
// every day: rows is false when the statement is known to have changed none.)
void note_written(const char *name, bool truncated, bool rows) {
    edited = true;
    every_day = every_day || truncated;
    prices_written = prices_written || (rows && strcmp(name, "model_prices") == 0);
}

// The tables a statement inserts into, updates or deletes from, its data-modifying CTEs included (and those
// it locks FOR UPDATE, which is harmless).
void note_writes(const QueryDesc *qd) {
    if (qd->plannedstmt->commandType == CMD_UTILITY) return;
    const bool rows = qd->estate == nullptr || qd->estate->es_processed > 0;
    ListCell *lc;
    foreach (lc, qd->plannedstmt->rtable) {
        const auto *rte = static_cast<RangeTblEntry *>(lfirst(lc));
        if (rte->rtekind != RTE_RELATION ||
            (rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) == 0)
            continue;
        if (const char *name = tracked_name(rte->relid)) note_written(name, false, rows);
    }
}

// The tables a utility statement truncates or copies rows into.
void note_utility_writes(Node *parsetree) {
    if (IsA(parsetree, TruncateStmt)) {
        ListCell *lc;
        foreach (lc, castNode(TruncateStmt, parsetree)->relations) {
            const Oid relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
            if (const char *name = OidIsValid(relid) ? tracked_name(relid) : nullptr)
                note_written(name, true, true);
        }
    } else if (IsA(parsetree, CopyStmt)) {
        const auto *copy = castNode(CopyStmt, parsetree);
        const Oid relid = copy->is_from && copy->relation != nullptr
                              ? RangeVarGetRelid(copy->relation, NoLock, true)
                              : InvalidOid;
        if (const char *name = OidIsValid(relid) ? tracked_name(relid) : nullptr)
            note_written(name, false, true);
    }
}

// ---------------------------------------------------------------- the re-roll after a top-level statement

void forget_edits() {
    edited = false;
    every_day = false;
    prices_written = false;
    if (rules != nullptr) {
        pfree(rules->data);
        pfree(rules);
        rules = nullptr;
    }
}

// aispend._cluster_edits_done(rules, every_day), when it exists (not before the update that adds it) and
// Citus is installed in this database (a single node's triggers did the work already). The rules are NULL
// when no statement wrote the prices.
void reroll_edits() {
    if (!edited || flushing || depth != 0 || creating_extension || !IsTransactionState() ||
        IsAbortedTransactionBlockState())
        return;
    if (!OidIsValid(get_extension_oid("citus", true))) {
        forget_edits();
        return;
    }
    Oid argtypes[2] = {JSONBOID, BOOLOID};
    List *name = list_make2(makeString(pstrdup("aispend")), makeString(pstrdup("_cluster_edits_done")));
    if (!OidIsValid(LookupFuncName(name, 2, argtypes, true))) {
        forget_edits();
        return;
    }
    StringInfoData json;
    initStringInfo(&json);
    appendStringInfo(&json, "[%s]", rules != nullptr ? rules->data : "");
    Datum values[2] = {CStringGetTextDatum(json.data), BoolGetDatum(every_day)};
    const char nulls[2] = {prices_written ? ' ' : 'n', ' '};
    // after a procedure's COMMIT (CALL aispend.sync) no snapshot is active: one of this transaction's
    const bool own_snapshot = !ActiveSnapshotSet();
    if (own_snapshot) PushActiveSnapshot(GetTransactionSnapshot());
    flushing = true;
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
        Oid types[2] = {TEXTOID, BOOLOID};
        const int rc = SPI_execute_with_args("SELECT aispend._cluster_edits_done($1::pg_catalog.jsonb, $2)",
                                             2, types, values, nulls, false, 0);
        if (rc < 0)
            elog(ERROR, "aispend: aispend._cluster_edits_done failed: %s", SPI_result_code_string(rc));
        SPI_finish();
        if (own_snapshot) PopActiveSnapshot();
    }
    PG_FINALLY();
    {
        flushing = false;
        forget_edits();
    }
    PG_END_TRY();
}

// Each hook counts itself in depth (as pg_stat_statements counts nesting), so that the re-roll runs once the
// outermost statement is done.
void edits_start(QueryDesc *qd, int eflags) {
    depth++;
    PG_TRY();
    {
        if (prev_start != nullptr)
            prev_start(qd, eflags);
        else
            standard_ExecutorStart(qd, eflags);
    }
    PG_FINALLY();
    { depth--; }
    PG_END_TRY();
}

void edits_run(QueryDesc *qd, ScanDirection direction, uint64 count, bool execute_once) {
    depth++;
    PG_TRY();
    {
        if (prev_run != nullptr)
            prev_run(qd, direction, count, execute_once);
        else
            standard_ExecutorRun(qd, direction, count, execute_once);
    }
    PG_FINALLY();
    { depth--; }
    PG_END_TRY();
}

void edits_finish(QueryDesc *qd) {
    depth++;
    PG_TRY();
    {
        if (prev_finish != nullptr)
            prev_finish(qd);
        else
            standard_ExecutorFinish(qd);
    }
    PG_FINALLY();
    { depth--; }
    PG_END_TRY();
    if (!flushing) note_writes(qd);
    reroll_edits();
}

void edits_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
                   ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc) {
    depth++;
    PG_TRY();
    {
        if (prev_utility != nullptr)
            prev_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
        else
            standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    }
    PG_FINALLY();
    { depth--; }
    PG_END_TRY();
    if (!flushing && IsTransactionState()) note_utility_writes(pstmt->utilityStmt);
    reroll_edits();
}

// ---------------------------------------------------------------- the shards' triggers

// What the row trigger of a shard of the facts saw in a statement, which its statement trigger writes: a mark
// per account and day, and per account and model its first and last bucket.
struct PendingKey {
    NameData account;
    int64 day;        // a UTC day (days since 2000-01-01); PG_INT64_MIN for a model
    char model[192];  // a model; empty for a day
};

struct Pending {
    PendingKey key;
    TimestampTz first;
    TimestampTz last;
};

HTAB *pending = nullptr;  // in a memory context of its own (hash_create), under TopMemoryContext

void forget_pending() {
    if (pending != nullptr) hash_destroy(pending);
    pending = nullptr;
}

// One account's days and models, collected into arrays for aispend._shard_facts_kept.
struct AccountMarks {
    ArrayBuildState *days = nullptr;
    ArrayBuildState *models = nullptr;
    ArrayBuildState *firsts = nullptr;
    ArrayBuildState *lasts = nullptr;
};

void add_day(AccountMarks *marks, int64 day) {
    marks->days = accumArrayResult(marks->days, DateADTGetDatum(static_cast<DateADT>(day)), false, DATEOID,
                                   CurrentMemoryContext);
}

void add_model(AccountMarks *marks, const char *model, TimestampTz first, TimestampTz last) {
    marks->models =
        accumArrayResult(marks->models, CStringGetTextDatum(model), false, TEXTOID, CurrentMemoryContext);
    marks->firsts = accumArrayResult(marks->firsts, TimestampTzGetDatum(first), false, TIMESTAMPTZOID,
                                     CurrentMemoryContext);
    marks->lasts = accumArrayResult(marks->lasts, TimestampTzGetDatum(last), false, TIMESTAMPTZOID,
                                    CurrentMemoryContext);
}

Datum array_or_empty(ArrayBuildState *state, Oid type) {
    return state != nullptr ? makeArrayResult(state, CurrentMemoryContext)
                            : PointerGetDatum(construct_empty_array(type));
}

// Marks an account's days and notes its models in the node's co-located shards, in one call.
void write_marks(const NameData &account, AccountMarks *marks) {
    Oid types[5] = {NAMEOID, DATEARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
    Datum values[5] = {NameGetDatum(&account), array_or_empty(marks->days, DATEOID),
                       array_or_empty(marks->models, TEXTOID), array_or_empty(marks->firsts, TIMESTAMPTZOID),
                       array_or_empty(marks->lasts, TIMESTAMPTZOID)};
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
    const int rc = SPI_execute_with_args("SELECT aispend._shard_facts_kept($1, $2, $3, $4, $5)", 5, types,
                                         values, nullptr, false, 0);
    if (rc < 0) elog(ERROR, "aispend: aispend._shard_facts_kept failed: %s", SPI_result_code_string(rc));
    SPI_finish();
}

void add_pending(const PendingKey &key, TimestampTz at) {
    if (pending == nullptr) {
        HASHCTL ctl;
        memset(&ctl, 0, sizeof(ctl));
        ctl.keysize = sizeof(PendingKey);
        ctl.entrysize = sizeof(Pending);
        ctl.hcxt = TopMemoryContext;
        pending = hash_create("aispend shard marks", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    bool found = false;
    auto *entry = static_cast<Pending *>(hash_search(pending, &key, HASH_ENTER, &found));
    entry->first = found ? Min(entry->first, at) : at;
    entry->last = found ? Max(entry->last, at) : at;
}

// One row of a shard of the facts: its day to mark, and the model of a new row (what a price change looks
// up).
void fact_row_written(HeapTuple tuple, TupleDesc desc, bool is_new) {
    bool null_account = false, null_bucket = false, null_model = true;
    const Datum account = heap_getattr(tuple, SPI_fnumber(desc, "account"), desc, &null_account);
    const Datum bucket = heap_getattr(tuple, SPI_fnumber(desc, "bucket_start"), desc, &null_bucket);
    const int model_at = is_new ? SPI_fnumber(desc, "model") : SPI_ERROR_NOATTRIBUTE;
    const Datum model = model_at > 0 ? heap_getattr(tuple, model_at, desc, &null_model) : Datum(0);
    if (null_account || null_bucket) return;  // the table's NOT NULL constraints refuse the row
    const TimestampTz at = DatumGetTimestampTz(bucket);
    PendingKey key;
    memset(&key, 0, sizeof(key));
    namestrcpy(&key.account, NameStr(*DatumGetName(account)));
    key.day = at / USECS_PER_DAY - (at % USECS_PER_DAY < 0 ? 1 : 0);
    add_pending(key, at);
    if (null_model) return;
    const char *model_text = TextDatumGetCString(model);
    if (strlen(model_text) >= sizeof(key.model)) {  // too long to keep: noted now
        AccountMarks marks;
        add_model(&marks, model_text, at, at);
        write_marks(key.account, &marks);
        return;
    }
    key.day = PG_INT64_MIN;
    strlcpy(key.model, model_text, sizeof(key.model));
    add_pending(key, at);
}

// One call of aispend._shard_facts_kept per account of a table of kept marks.
void write_marks_of(HTAB *written) {
    List *accounts = NIL;  // their names, in the order first seen
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, written);
    while (const auto *entry = static_cast<Pending *>(hash_seq_search(&scan))) {
        ListCell *lc;
        bool known = false;
        foreach (lc, accounts)
            known = known || strcmp(static_cast<const char *>(lfirst(lc)), NameStr(entry->key.account)) == 0;
        if (!known) accounts = lappend(accounts, pstrdup(NameStr(entry->key.account)));
    }
    ListCell *lc;
    foreach (lc, accounts) {
        NameData account;
        namestrcpy(&account, static_cast<const char *>(lfirst(lc)));
        AccountMarks marks;
        hash_seq_init(&scan, written);
        while (const auto *entry = static_cast<Pending *>(hash_seq_search(&scan))) {
            if (namestrcmp(&account, NameStr(entry->key.account)) != 0) continue;
            if (entry->key.day == PG_INT64_MIN)
                add_model(&marks, entry->key.model, entry->first, entry->last);
            else
                add_day(&marks, entry->key.day);
        }
        write_marks(account, &marks);
    }
}

// Writes what the statement's rows kept (aispend._shard_facts_kept), once per account. The table is taken
// first: what the writes themselves might keep starts a new one. (What a statement rolled back in a
// subtransaction kept is written too, by the next statement's trigger: a day marked more is re-rolled for
// nothing, never wrongly.)
void write_pending() {
    HTAB *const written = pending;
    pending = nullptr;
    if (written == nullptr) return;
    PG_TRY();
    { write_marks_of(written); }
    PG_CATCH();
    {
        hash_destroy(written);
        PG_RE_THROW();
    }
    PG_END_TRY();
    hash_destroy(written);
}

TriggerData *trigger_data(FunctionCallInfo fcinfo, const char *name, bool for_row) {
    if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "aispend: %s is a trigger function", name);
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (static_cast<bool>(TRIGGER_FIRED_FOR_ROW(td->tg_event)) != for_row ||
        !TRIGGER_FIRED_AFTER(td->tg_event))
        elog(ERROR, "aispend: %s fires after each %s", name, for_row ? "row" : "statement");
    return td;
}

// Keeps one changed price rule: {"provider":..., "match_kind":..., "pattern":..., "valid_from":...,
// "valid_to":...}.
void keep_rule(HeapTuple tuple, TupleDesc desc) {
    StringInfoData one;
    initStringInfo(&one);
    const char *fields[] = {"provider", "match_kind", "pattern", "valid_from", "valid_to"};
    appendStringInfoChar(&one, '{');
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *value = SPI_getvalue(tuple, desc, SPI_fnumber(desc, fields[i]));
        appendStringInfo(&one, "%s\"%s\":", i > 0 ? "," : "", fields[i]);
        if (value == nullptr)
            appendStringInfoString(&one, "null");
        else
            escape_json(&one, value);
    }
    appendStringInfoChar(&one, '}');
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    if (rules == nullptr)
        rules = makeStringInfo();
    else
        appendStringInfoChar(rules, ',');
    appendStringInfoString(rules, one.data);
    MemoryContextSwitchTo(old);
}

// What a transaction wrote goes with it: re-rolled after its statements, or rolled back. A procedure's COMMIT
// between its statements keeps it for the re-roll after the CALL.
void edits_xact(XactEvent event, void *) {
    const bool ended = event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE ||
                       event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_ABORT ||
                       event == XACT_EVENT_PARALLEL_ABORT;
    if (!ended) return;
    forget_pending();
    if (depth == 0 || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) forget_edits();
}

}  // namespace

void aispend::pg::install_cluster_edit_hooks() {
    // the shards' marks are written by their statement triggers in any backend; the re-roll after a statement
    // needs the hooks from its start, so only a preloaded library installs them (docs/scaling.md)
    RegisterXactCallback(edits_xact, nullptr);
    if (!process_shared_preload_libraries_in_progress) return;
    prev_start = ExecutorStart_hook;
    ExecutorStart_hook = edits_start;
    prev_run = ExecutorRun_hook;
    ExecutorRun_hook = edits_run;
    prev_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = edits_finish;
    prev_utility = ProcessUtility_hook;
    ProcessUtility_hook = edits_utility;
}

AISPEND_FUNCTION(aispend_shard_fact_changed) {
    return aispend::pg::pg_call([&] {
        TriggerData *td = trigger_data(fcinfo, "aispend._shard_fact_changed()", true);
        const TupleDesc desc = RelationGetDescr(td->tg_relation);
        // the old row of an UPDATE or DELETE, then the new row of an INSERT or UPDATE
        if (!TRIGGER_FIRED_BY_INSERT(td->tg_event)) fact_row_written(td->tg_trigtuple, desc, false);
        if (TRIGGER_FIRED_BY_INSERT(td->tg_event)) fact_row_written(td->tg_trigtuple, desc, true);
        if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) fact_row_written(td->tg_newtuple, desc, true);
        return PointerGetDatum(nullptr);
    });
}

AISPEND_FUNCTION(aispend_shard_facts_written) {
    return aispend::pg::pg_call([&] {
        trigger_data(fcinfo, "aispend._shard_facts_written()", false);
        write_pending();
        return PointerGetDatum(nullptr);
    });
}

AISPEND_FUNCTION(aispend_shard_price_changed) {
    return aispend::pg::pg_call([&] {
        TriggerData *td = trigger_data(fcinfo, "aispend._shard_price_changed()", true);
        const TupleDesc desc = RelationGetDescr(td->tg_relation);
        keep_rule(td->tg_trigtuple, desc);
        if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) keep_rule(td->tg_newtuple, desc);
        return PointerGetDatum(nullptr);
    });
}

// Whether a row version was written by this transaction, any of its subtransactions included (the sync log's
// trigger tells the runs a statement wrote from those it found).
AISPEND_FUNCTION(aispend_written_here) {
    return BoolGetDatum(TransactionIdIsCurrentTransactionId(DatumGetTransactionId(PG_GETARG_DATUM(0))));
}
