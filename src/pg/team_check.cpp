// aispend._citus_is_team(): whether the current role is a team (aispend.teams), for the row-level policies of
// a Citus cluster. A worker checks them on every row of its query of a shard, where no Citus table may be
// queried; aispend._citus_team_check() reads the node's copy of the reference table instead, and is asked
// once per statement: the answer is kept for the transaction, command and role it was asked in.
#include "pg/pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
}

#include "pg/guard.hpp"

namespace {

// The last answer, and the statement it belongs to.
struct Answer {
    bool valid;
    LocalTransactionId transaction;
    CommandId command;
    Oid role;
    bool is_team;
};
Answer last_answer = {false, InvalidLocalTransactionId, 0, InvalidOid, false};

}  // namespace

AISPEND_FUNCTION(aispend_citus_is_team) {
    const LocalTransactionId transaction = MyProc->lxid;
    const CommandId command = GetCurrentCommandId(false);
    const Oid role = GetUserId();
    if (last_answer.valid && last_answer.transaction == transaction && last_answer.command == command &&
        last_answer.role == role)
        return BoolGetDatum(last_answer.is_team);
    const bool is_team = aispend::pg::pg_call([&] {
        Oid argtypes[1] = {NAMEOID};
        List *name = list_make2(makeString(pstrdup("aispend")), makeString(pstrdup("_citus_team_check")));
        const Oid check = LookupFuncName(name, 1, argtypes, false);
        NameData role_name;
        namestrcpy(&role_name, GetUserNameFromId(role, false));
        return DatumGetBool(OidFunctionCall1(check, NameGetDatum(&role_name)));
    });
    last_answer = {true, transaction, command, role, is_team};
    return BoolGetDatum(is_team);
}
