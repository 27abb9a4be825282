// Who may use admin keys from the server's environment (aispend.env_key_roles).
#pragma once

#include "pg/pg_headers.hpp"

namespace aispend::pg {

// True for a superuser and for a role with the privileges of a role named in aispend.env_key_roles (names
// of roles that do not exist are ignored). Calls PostgreSQL: use it inside pg_call().
bool role_may_use_env_keys(Oid role);

}  // namespace aispend::pg
