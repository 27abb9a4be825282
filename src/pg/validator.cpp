// The FOREIGN DATA WRAPPER validator: checks options of the wrapper, servers (accounts) and user mappings.
#include "pg/pg_headers.hpp"

#include "core/account_options.hpp"
#include "pg/guard.hpp"

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
    if (auto problem = aispend::core::check_options(context, options))
        throw aispend::pg::SqlError(sqlstate_for(problem->kind), problem->message, "", problem->hint);
    PG_RETURN_VOID();
}
