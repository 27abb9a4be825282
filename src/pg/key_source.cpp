// aispend._key_status(server): whether the current role has an admin key for an account, and where it
// comes from; never the key itself.
#include "pg/pg_headers.hpp"

extern "C" {
#include "utils/acl.h"
}

#include <string>

#include "pg/account.hpp"
#include "pg/guard.hpp"

AISPEND_FUNCTION(aispend_key_status) {
    Oid server_id = PG_GETARG_OID(0);
    std::string name;
    bool usable = aispend::pg::pg_call([&] {
        ForeignServer *server = GetForeignServerExtended(server_id, FSV_MISSING_OK);
        if (server == nullptr) return false;
        name = server->servername;
        return pg_foreign_server_aclcheck(server_id, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
    });
    aispend::pg::ResolvedAccount account;
    if (usable) account = aispend::pg::resolve_account(name, false);
    return aispend::pg::pg_call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "aispend._key_status must return a record");
        desc = BlessTupleDesc(desc);
        Datum values[2] = {BoolGetDatum(!account.admin_key.empty()), (Datum)0};
        bool nulls[2] = {false, account.key_source.empty()};
        if (!nulls[1]) values[1] = CStringGetTextDatum(account.key_source.c_str());
        if (!usable) nulls[0] = true;  // no USAGE on the server: not this role's business
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}
