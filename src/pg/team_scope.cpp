// aispend._team_sees_row() and aispend._team_sees_workspace(): on a Citus worker, whether a row is in a
// team's scope, for the team_scope policies of a cluster. They are asked on every row a team's query reads on
// a shard; the team's scope in an account (the ids of its named workspaces, its keys and their workspaces) is
// read once per statement from the node's shards by aispend._citus_team_scope() and kept here, and each row
// is then checked in memory.
#include "pg/pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
}

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

// The statement the cached scopes belong to.
struct Statement {
    LocalTransactionId transaction;
    CommandId command;
    Oid role;
    bool operator==(const Statement &o) const {
        return transaction == o.transaction && command == o.command && role == o.role;
    }
};

Statement cached_for = {InvalidLocalTransactionId, 0, InvalidOid};
std::unordered_map<std::string, Scope> cached_scopes;  // by team '\0' account

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

const Scope &scope_of(Name team, Name account) {
    const Statement now = {MyProc->lxid, GetCurrentCommandId(false), GetUserId()};
    if (!(now == cached_for)) {
        cached_scopes.clear();
        cached_for = now;
    }
    std::string key = std::string(NameStr(*team)) + '\0' + NameStr(*account);
    auto found = cached_scopes.find(key);
    if (found != cached_scopes.end()) return found->second;
    const ScopeArrays arrays = read_scope(team, account);
    Scope scope;
    IdSet *sets[3] = {&scope.workspaces, &scope.keys, &scope.key_workspaces};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < arrays.lists[s].count; i++) sets[s]->insert(arrays.lists[s].items[i]);
    return cached_scopes.emplace(std::move(key), std::move(scope)).first->second;
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
    const Scope &scope = scope_of(PG_GETARG_NAME(0), PG_GETARG_NAME(1));
    return BoolGetDatum(contains(scope.workspaces, text_arg(fcinfo, 2)) ||
                        contains(scope.keys, text_arg(fcinfo, 3)));
}

// _team_sees_workspace(team, account, workspace_id): one the team names, or the workspace of one of its keys.
AISPEND_FUNCTION(aispend_team_sees_workspace) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) return BoolGetDatum(false);
    const Scope &scope = scope_of(PG_GETARG_NAME(0), PG_GETARG_NAME(1));
    const text *workspace = text_arg(fcinfo, 2);
    return BoolGetDatum(contains(scope.workspaces, workspace) || contains(scope.key_workspaces, workspace));
}
