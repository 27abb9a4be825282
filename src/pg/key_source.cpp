// aispend._key_source(account): where the current role's admin key for an account comes from, never the key.
#include "pg/pg_headers.hpp"

extern "C" {
#include "utils/acl.h"
}

#include <string>

#include "pg/account.hpp"
#include "pg/guard.hpp"

AISPEND_FUNCTION(aispend_key_source) {
    Oid server_id = PG_GETARG_OID(0);
    bool usable = aispend::pg::pg_call(
        [&] { return pg_foreign_server_aclcheck(server_id, GetUserId(), ACL_USAGE) == ACLCHECK_OK; });
    if (!usable) PG_RETURN_NULL();
    std::string name =
        aispend::pg::pg_call([&] { return std::string(GetForeignServer(server_id)->servername); });
    aispend::pg::ResolvedAccount account = aispend::pg::resolve_account(name, false);
    if (account.key_source.empty()) PG_RETURN_NULL();
    return aispend::pg::pg_call([&] { return CStringGetTextDatum(account.key_source.c_str()); });
}
