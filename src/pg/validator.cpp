// The FOREIGN DATA WRAPPER validator: checks options of the wrapper, servers (accounts) and user mappings.
#include "pg/pg_headers.hpp"

#include "core/account_options.hpp"
#include "pg/env_keys.hpp"
#include "pg/guard.hpp"
#include "pg/settings.hpp"

namespace {

using aispend::core::OptionContext;
using aispend::core::OptionProblem;

int sqlstate_for(OptionProblem::Kind kind) {
    switch (kind) {
        case OptionProblem::Kind::UnknownName:
            return ERRCODE_FDW_INVALID_OPTION_NAME;
        case OptionProblem::Kind::Missing:
            return ERRCODE_FDW_OPTION_NAME_NOT_FOUND;
        case OptionProblem::Kind::BadValue:
        case OptionProblem::Kind::Conflict:
            break;
    }
    return ERRCODE_INVALID_PARAMETER_VALUE;
}

}  // namespace

AISPEND_FUNCTION(aispend_fdw_validator) {
    List *defs = untransformRelOptions(PG_GETARG_DATUM(0));
    Oid catalog = PG_GETARG_OID(1);

    OptionContext context;
    if (catalog == ForeignDataWrapperRelationId)
        context = OptionContext::Wrapper;
    else if (catalog == ForeignServerRelationId)
        context = OptionContext::Server;
    else if (catalog == UserMappingRelationId)
        context = OptionContext::UserMapping;
    else
        throw aispend::pg::SqlError(ERRCODE_FDW_INVALID_OPTION_NAME,
                                    "aispend servers are provider accounts and cannot back foreign tables",
                                    "",
                                    "Query the aispend views instead, e.g. SELECT * FROM aispend.accounts.");

    aispend::core::OptionList options;
    ListCell *cell;
    foreach (cell, defs) {
        DefElem *def = lfirst_node(DefElem, cell);
        options.emplace_back(def->defname, strVal(def->arg));  // option values are always strings here
    }
    if (auto problem = aispend::core::check_options(context, options, aispend::pg::host_policy()))
        throw aispend::pg::SqlError(sqlstate_for(problem->kind), problem->message, "", problem->hint);
    bool names_env = false;
    for (const auto &option : options) names_env = names_env || option.first == "admin_key_env";
    if (names_env && !aispend::pg::pg_call([] { return aispend::pg::role_may_use_env_keys(GetUserId()); }))
        throw aispend::pg::SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                                    "permission denied to read admin keys from the server's environment", "",
                                    "Only superusers and roles listed in aispend.env_key_roles may use "
                                    "admin_key_env (a superuser sets "
                                    "it: ALTER SYSTEM SET aispend.env_key_roles = 'role'; SELECT "
                                    "pg_reload_conf()). Or store the key in "
                                    "the user mapping: OPTIONS (admin_key '...').");
    PG_RETURN_VOID();
}
