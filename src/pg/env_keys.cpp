#include "pg/env_keys.hpp"

extern "C" {
#include "utils/acl.h"
#include "utils/varlena.h"
}

#include "pg/settings.hpp"

namespace aispend::pg {

bool role_may_use_env_keys(Oid role) {
    if (superuser_arg(role)) return true;
    char *copy = pstrdup(env_key_roles != nullptr ? env_key_roles : "");
    List *names = NIL;
    bool allowed = false;
    if (SplitIdentifierString(copy, ',', &names)) {  // the check hook accepted it, so it splits
        ListCell *cell;
        foreach (cell, names) {
            Oid listed = get_role_oid(static_cast<const char *>(lfirst(cell)), true);
            if (OidIsValid(listed) && has_privs_of_role(role, listed)) {
                allowed = true;
                break;
            }
        }
    }
    list_free(names);
    pfree(copy);
    return allowed;
}

}  // namespace aispend::pg
