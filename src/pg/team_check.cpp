// aispend._citus_is_team(): whether the current role is a team (aispend.teams), for the row-level policies of
// a Citus cluster. A worker checks them on every row of its query of a shard, where no Citus table may be
// queried; aispend._citus_team_check() reads the node's copy of the reference table instead, and is asked
// once per query and role: the answer is kept in fn_extra of the policy's call, which lives as long as the
// query.
#include "pg/pg_headers.hpp"

extern "C" {
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
}

#include "pg/guard.hpp"

namespace {

// The answer for a role, kept with the query.
struct Answer {
    Oid role;
    bool is_team;
};

}  // namespace

AISPEND_FUNCTION(aispend_citus_is_team) {
    const Oid role = GetUserId();
    auto *known = static_cast<Answer *>(fcinfo->flinfo->fn_extra);
    if (known != nullptr && known->role == role) return BoolGetDatum(known->is_team);
    const bool is_team = aispend::pg::pg_call([&] {
        Oid argtypes[1] = {NAMEOID};
        List *name = list_make2(makeString(pstrdup("aispend")), makeString(pstrdup("_citus_team_check")));
        const Oid check = LookupFuncName(name, 1, argtypes, false);
        NameData role_name;
        namestrcpy(&role_name, GetUserNameFromId(role, false));
        const bool answer = DatumGetBool(OidFunctionCall1(check, NameGetDatum(&role_name)));
        if (known == nullptr)
            known = static_cast<Answer *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Answer)));
        return answer;
    });
    *known = {role, is_team};
    fcinfo->flinfo->fn_extra = known;
    return BoolGetDatum(is_team);
}
