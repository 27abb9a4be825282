// Resolves an account (an aispend foreign server) and the current role's admin key.
#pragma once

#include <string>

#include "core/account_options.hpp"
#include "pg/pg_headers.hpp"

namespace aispend::pg {

struct ResolvedAccount {
    std::string name;
    Oid server_id = InvalidOid;
    core::ServerSettings settings;
    std::string admin_key;    // empty when none was found
    std::string key_source;   // "user mapping", "PUBLIC user mapping (environment K)", "environment
                              // AISPEND_ADMIN_KEY_X"
    std::string missing_env;  // set when admin_key_env names a variable the server process lacks
    bool env_denied = false;  // the mapping names a variable, but environment keys are not allowed here
};

// Looks up the server and, for the current role, its key: the role's user mapping, else the PUBLIC mapping,
// else the environment variable core::fallback_key_env(server). Environment variables are read only when the
// current role and the server's owner may use environment keys (aispend.env_key_roles). Throws SqlError
// (42704 unknown account, 42501 no USAGE on the server or environment keys not allowed, 28000 no key when
// require_key) or PgError.
ResolvedAccount resolve_account(const std::string &account, bool require_key);

}  // namespace aispend::pg
