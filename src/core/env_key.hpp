// Environment variables that may hold an admin key: only names with the documented prefix, and the
// fallback name of each account (server), which maps the server's name exactly.
#pragma once

#include <string>

namespace aispend::core {

// Every environment variable aispend reads a key from starts with this.
constexpr const char *kEnvKeyPrefix = "AISPEND_ADMIN_KEY_";

// True when `name` may be given as admin_key_env: the prefix followed by at least one of [A-Za-z0-9_].
bool is_env_key_name(const std::string &name);

// The variable consulted when a role has no user mapping: the prefix followed by the server name exactly
// (case kept). Letters, digits and "_" are kept; any other byte becomes "_xHH_" (two upper-case hex digits),
// and a "_" that would otherwise be read as the start of such an escape becomes "_x5F_", so that two
// different server names never share a variable: "EnvAcct" -> AISPEND_ADMIN_KEY_EnvAcct, "envacct" ->
// AISPEND_ADMIN_KEY_envacct, "acme-openai" -> AISPEND_ADMIN_KEY_acme_x2D_openai.
std::string fallback_key_env(const std::string &server_name);

}  // namespace aispend::core
