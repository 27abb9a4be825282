// aispend._team_sees_row() and aispend._team_sees_workspace(): on a Citus worker, whether a row is in a
// team's scope, for the team_scope policies of a cluster. They are asked on every row a team's query reads on
// a shard; the team's scope in an account (the ids of its named workspaces, its keys and their workspaces) is
// read once per statement from the node's shards by aispend._citus_team_scope() and kept here, and each row
// is then checked in memory.
#include "pg/pg_headers.hpp"

extern "C" {
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
}

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "pg/guard.hpp"

namespace {

using IdSet = std::unordered_set<std::string>;

// A team's scope in one account.
struct Scope {
    IdSet workspaces;      // the workspaces the team names
    IdSet keys;            // the team's keys that exist in the account
    IdSet key_workspaces;  // the workspaces of those keys
};

// The scopes one query has read, by team '\0' account: kept in fn_extra of the policy's call, so they live as
// long as the query (a later statement, even in the same transaction, reads the scope again), and freed with
// it.
using Scopes = std::unordered_map<std::string, Scope>;

void free_scopes(void *scopes) {
    delete static_cast<Scopes *>(scopes);
}

Scopes &scopes_of(FunctionCallInfo fcinfo) {
    FmgrInfo *call = fcinfo->flinfo;
    if (call->fn_extra == nullptr) {
        auto scopes = std::make_unique<Scopes>();
        aispend::pg::pg_call([&] {
            auto *callback = static_cast<MemoryContextCallback *>(
                MemoryContextAllocZero(call->fn_mcxt, sizeof(MemoryContextCallback)));
            callback->func = free_scopes;
            callback->arg = scopes.get();
            MemoryContextRegisterResetCallback(call->fn_mcxt, callback);
        });
        call->fn_extra = scopes.release();
    }
    return *static_cast<Scopes *>(call->fn_extra);
}

// One array of text ids as C strings (palloc'd), NULL elements left out.
struct Ids {
    char **items;
    int count;
};

struct ScopeArrays {
    Ids lists[3];  // workspaces, keys, key_workspaces: the out columns of aispend._citus_team_scope()
};

Ids ids_of(HeapTupleHeader row, int column) {
    bool is_null = false;
    Datum value = GetAttributeByNum(row, column, &is_null);
    Ids ids = {nullptr, 0};
    if (is_null) return ids;
    Datum *elements;
    bool *nulls;
    int n;
    deconstruct_array(DatumGetArrayTypeP(value), TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &n);
    ids.items = static_cast<char **>(palloc(sizeof(char *) * (n > 0 ? n : 1)));
    for (int i = 0; i < n; i++)
        if (!nulls[i]) ids.items[ids.count++] = TextDatumGetCString(elements[i]);
    return ids;
}

// Reads the team's scope in the account from the node's shards (aispend._citus_team_scope, SECURITY DEFINER).
ScopeArrays read_scope(Name team, Name account) {
    return aispend::pg::pg_call([&] {
        Oid argtypes[2] = {NAMEOID, NAMEOID};
        List *name = list_make2(makeString(pstrdup("aispend")), makeString(pstrdup("_citus_team_scope")));
        const Oid scope_fn = LookupFuncName(name, 2, argtypes, false);
        ScopeArrays arrays = {};
        Datum row = OidFunctionCall2(scope_fn, NameGetDatum(team), NameGetDatum(account));
        HeapTupleHeader tuple = DatumGetHeapTupleHeader(row);
        for (int column = 1; column <= 3; column++) arrays.lists[column - 1] = ids_of(tuple, column);
        return arrays;
    });
}

const Scope &scope_of(FunctionCallInfo fcinfo, Name team, Name account) {
    Scopes &scopes = scopes_of(fcinfo);
    std::string key = std::string(NameStr(*team)) + '\0' + NameStr(*account);
    auto found = scopes.find(key);
    if (found != scopes.end()) return found->second;
    const ScopeArrays arrays = read_scope(team, account);
    Scope scope;
    IdSet *sets[3] = {&scope.workspaces, &scope.keys, &scope.key_workspaces};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < arrays.lists[s].count; i++) sets[s]->insert(arrays.lists[s].items[i]);
    return scopes.emplace(std::move(key), std::move(scope)).first->second;
}

// Argument i as text, or nullptr when it is NULL.
const text *text_arg(FunctionCallInfo fcinfo, int i) {
    if (PG_ARGISNULL(i)) return nullptr;
    return aispend::pg::pg_call([&] { return PG_GETARG_TEXT_PP(i); });
}

bool contains(const IdSet &set, const text *id) {
    return id != nullptr && set.count(std::string(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id))) > 0;
}

}  // namespace

// _team_sees_row(team, account, workspace_id, api_key_id): its workspace is one the team names, or its key
// one of the team's keys.
AISPEND_FUNCTION(aispend_team_sees_row) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) return BoolGetDatum(false);
    const Scope &scope = scope_of(fcinfo, PG_GETARG_NAME(0), PG_GETARG_NAME(1));
    return BoolGetDatum(contains(scope.workspaces, text_arg(fcinfo, 2)) ||
                        contains(scope.keys, text_arg(fcinfo, 3)));
}

// _team_sees_workspace(team, account, workspace_id): one the team names, or the workspace of one of its keys.
AISPEND_FUNCTION(aispend_team_sees_workspace) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) return BoolGetDatum(false);
    const Scope &scope = scope_of(fcinfo, PG_GETARG_NAME(0), PG_GETARG_NAME(1));
    const text *workspace = text_arg(fcinfo, 2);
    return BoolGetDatum(contains(scope.workspaces, workspace) || contains(scope.key_workspaces, workspace));
}
