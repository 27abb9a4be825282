// Changes made by hand on a Citus cluster (UPDATE aispend.usage, COPY into aispend.costs, INSERT INTO
// aispend.model_prices, TRUNCATE ...), followed as a single node's invalidation triggers follow them
// (53_invalidation.sql), which cannot run on a cluster:
//  * a row trigger on every shard of aispend.usage and aispend.costs (aispend._shard_fact_changed) marks the
//  row's
//    UTC day in the co-located shard of aispend._dirty_days, on the same node, and notes its model in that of
//    aispend.models: once per account, day and model in a query of a shard;
//  * a row trigger on the copies of aispend.model_prices (aispend._shard_price_changed) keeps the changed
//  rules for
//    the transaction, in the backend that changes the copy: the coordinator's session changes its own copy;
//  * on the coordinator, after each top-level statement that wrote aispend.usage, aispend.costs or
//    aispend.model_prices (executor and utility hooks, as pg_stat_statements counts nesting),
//    aispend._cluster_edits_done() marks the changed rules' days and re-rolls every marked day: a read after
//    the statement sees the new figures, as it does after a single node's COMMIT.
// Nothing here holds a C++ object: the hooks and triggers use PostgreSQL's memory and error handling only.
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
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "pg/cluster_edits.hpp"
#include "pg/guard.hpp"

namespace {

ExecutorRun_hook_type prev_run = nullptr;
ExecutorFinish_hook_type prev_finish = nullptr;
ProcessUtility_hook_type prev_utility = nullptr;

int depth = 0;               // executor runs and utility commands under way in this backend
bool edited = false;         // a statement wrote the facts or prices since the last re-roll
bool every_day = false;      // ... truncated them: every day of every account
bool flushing = false;       // the re-roll is running
StringInfo rules = nullptr;  // the changed price rules, a JSON array's elements (TopMemoryContext)

// ---------------------------------------------------------------- what a statement wrote

bool is_tracked(Oid relid) {
    const Oid nsp = get_namespace_oid("aispend", true);
    if (!OidIsValid(nsp) || get_rel_namespace(relid) != nsp) return false;
    const char *name = get_rel_name(relid);
    return name != nullptr &&
           (strcmp(name, "usage") == 0 || strcmp(name, "costs") == 0 || strcmp(name, "model_prices") == 0);
}

bool writes_tracked(const PlannedStmt *stmt) {
    if (stmt->commandType == CMD_SELECT || stmt->commandType == CMD_UTILITY) return false;
    ListCell *lc;
    foreach (lc, stmt->rtable) {
        const auto *rte = static_cast<RangeTblEntry *>(lfirst(lc));
        if (rte->rtekind == RTE_RELATION &&
            (rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) != 0 && is_tracked(rte->relid))
            return true;
    }
    return false;
}

bool names_tracked(RangeVar *rv) {
    const Oid relid = RangeVarGetRelid(rv, NoLock, true);
    return OidIsValid(relid) && is_tracked(relid);
}

// ---------------------------------------------------------------- the re-roll after a top-level statement

void forget_edits() {
    edited = false;
    every_day = false;
    if (rules != nullptr) {
        pfree(rules->data);
        pfree(rules);
        rules = nullptr;
    }
}

// aispend._cluster_edits_done(rules, every_day), when it exists (not before the update that adds it) and
// Citus is installed in this database (a single node's triggers did the work already).
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
    // after a procedure's COMMIT (CALL aispend.sync) no snapshot is active: one of this transaction's, for
    // the call
    const bool own_snapshot = !ActiveSnapshotSet();
    if (own_snapshot) PushActiveSnapshot(GetTransactionSnapshot());
    flushing = true;
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
        Oid types[2] = {TEXTOID, BOOLOID};
        SPI_execute_with_args("SELECT aispend._cluster_edits_done($1::jsonb, $2)", 2, types, values, nullptr,
                              false, 0);
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
    if (!flushing && writes_tracked(qd->plannedstmt)) edited = true;
    reroll_edits();
}

// Whether a utility statement truncates (or copies rows into) the facts or prices.
bool truncates_tracked(Node *parsetree) {
    if (!IsA(parsetree, TruncateStmt)) return false;
    ListCell *lc;
    foreach (lc, castNode(TruncateStmt, parsetree)->relations)
        if (names_tracked(lfirst_node(RangeVar, lc))) return true;
    return false;
}

bool copies_into_tracked(Node *parsetree) {
    if (!IsA(parsetree, CopyStmt)) return false;
    const auto *copy = castNode(CopyStmt, parsetree);
    return copy->is_from && copy->relation != nullptr && names_tracked(copy->relation);
}

void edits_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
                   ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc) {
    const bool truncates = !flushing && truncates_tracked(pstmt->utilityStmt);
    const bool copies = !flushing && copies_into_tracked(pstmt->utilityStmt);
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
    if (truncates) every_day = true;
    edited = edited || truncates || copies;
    reroll_edits();
}

// What a transaction wrote goes with it: re-rolled after its statements, or rolled back. (A procedure that
// commits between its statements leaves its marks to the next statement's or sync's re-roll.)
void edits_xact(XactEvent event, void *) {
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT)
        forget_edits();
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) forget_edits();
}

// ---------------------------------------------------------------- the shards' triggers

// The account, day and model marked or noted in the current query of a shard (reset with the query).
struct Seen {
    char key[NAMEDATALEN + 200];
    TimestampTz first;
    TimestampTz last;
};

HTAB *seen = nullptr;
MemoryContext seen_cxt = nullptr;
LocalTransactionId seen_xact = InvalidLocalTransactionId;
TimestampTz seen_statement = 0;

HTAB *seen_in_query() {
    if (seen != nullptr && seen_xact == MyProc->lxid && seen_statement == GetCurrentStatementStartTimestamp())
        return seen;
    if (seen_cxt == nullptr)
        seen_cxt = AllocSetContextCreate(TopMemoryContext, "aispend shard marks", ALLOCSET_SMALL_SIZES);
    MemoryContextReset(seen_cxt);
    HASHCTL ctl;
    memset(&ctl, 0, sizeof(ctl));
    ctl.keysize = sizeof(Seen::key);
    ctl.entrysize = sizeof(Seen);
    ctl.hcxt = seen_cxt;
    seen = hash_create("aispend shard marks", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
    seen_xact = MyProc->lxid;
    seen_statement = GetCurrentStatementStartTimestamp();
    return seen;
}

// Forgets what was marked when a subtransaction rolls back (its marks are gone with it).
void seen_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
    if (event == SUBXACT_EVENT_ABORT_SUB) seen = nullptr;
}

// True the first time a key (a day of an account, or a model) is seen in this query, or when a time widens
// the range of times seen with it (a model's first and last bucket).
bool first_sighting(const char *kind, const char *account, const char *what, TimestampTz at) {
    char key[sizeof(Seen::key)];
    const int n = snprintf(key, sizeof(key), "%s|%s|%s", kind, account, what);
    if (n < 0 || static_cast<size_t>(n) >= sizeof(key)) return true;  // too long to keep: always written
    bool found = false;
    auto *entry = static_cast<Seen *>(hash_search(seen_in_query(), key, HASH_ENTER, &found));
    if (!found) {
        entry->first = at;
        entry->last = at;
        return true;
    }
    if (at >= entry->first && at <= entry->last) return false;
    entry->first = Min(entry->first, at);
    entry->last = Max(entry->last, at);
    return true;
}

void call_sql(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls) {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "aispend: SPI_connect failed");
    SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
    SPI_finish();
}

// Marks the day of one row of a shard of the facts, and notes the model of a new row (what a price change
// looks up).
void fact_row_written(HeapTuple tuple, TupleDesc desc, bool is_new) {
    bool null_account = false, null_bucket = false, null_model = true;
    const Datum account = heap_getattr(tuple, SPI_fnumber(desc, "account"), desc, &null_account);
    const Datum bucket = heap_getattr(tuple, SPI_fnumber(desc, "bucket_start"), desc, &null_bucket);
    const int model_at = is_new ? SPI_fnumber(desc, "model") : SPI_ERROR_NOATTRIBUTE;
    const Datum model = model_at > 0 ? heap_getattr(tuple, model_at, desc, &null_model) : Datum(0);
    if (null_account || null_bucket) return;  // the table's NOT NULL constraints refuse the row
    const TimestampTz at = DatumGetTimestampTz(bucket);
    const TimestampTz day_start = at - (at % USECS_PER_DAY) - (at % USECS_PER_DAY < 0 ? USECS_PER_DAY : 0);
    const char *acct = NameStr(*DatumGetName(account));
    const char *model_text = null_model ? nullptr : TextDatumGetCString(model);
    char day[32];
    snprintf(day, sizeof(day), "%lld", static_cast<long long>(day_start / USECS_PER_DAY));
    const bool mark = first_sighting("day", acct, day, day_start);
    const bool note = model_text != nullptr && first_sighting("model", acct, model_text, at);
    if (!mark && !note) return;
    Oid types[3] = {NAMEOID, TIMESTAMPTZOID, TEXTOID};
    Datum values[3] = {account, bucket, note ? model : Datum(0)};
    const char nulls[3] = {' ', ' ', note ? ' ' : 'n'};
    call_sql("SELECT aispend._shard_fact_written($1, $2, $3)", 3, types, values, nulls);
}

TriggerData *row_trigger(FunctionCallInfo fcinfo, const char *name) {
    if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "aispend: %s is a trigger function", name);
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
        elog(ERROR, "aispend: %s fires after each row", name);
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

}  // namespace

void aispend::pg::install_cluster_edit_hooks() {
    prev_run = ExecutorRun_hook;
    ExecutorRun_hook = edits_run;
    prev_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = edits_finish;
    prev_utility = ProcessUtility_hook;
    ProcessUtility_hook = edits_utility;
    RegisterXactCallback(edits_xact, nullptr);
    RegisterSubXactCallback(seen_subxact, nullptr);
}

AISPEND_FUNCTION(aispend_shard_fact_changed) {
    return aispend::pg::pg_call([&] {
        TriggerData *td = row_trigger(fcinfo, "aispend._shard_fact_changed()");
        const TupleDesc desc = RelationGetDescr(td->tg_relation);
        // the old row of an UPDATE or DELETE, then the new row of an INSERT or UPDATE
        if (!TRIGGER_FIRED_BY_INSERT(td->tg_event)) fact_row_written(td->tg_trigtuple, desc, false);
        if (TRIGGER_FIRED_BY_INSERT(td->tg_event)) fact_row_written(td->tg_trigtuple, desc, true);
        if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) fact_row_written(td->tg_newtuple, desc, true);
        return PointerGetDatum(nullptr);
    });
}

AISPEND_FUNCTION(aispend_shard_price_changed) {
    return aispend::pg::pg_call([&] {
        TriggerData *td = row_trigger(fcinfo, "aispend._shard_price_changed()");
        const TupleDesc desc = RelationGetDescr(td->tg_relation);
        keep_rule(td->tg_trigtuple, desc);
        if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) keep_rule(td->tg_newtuple, desc);
        return PointerGetDatum(nullptr);
    });
}
