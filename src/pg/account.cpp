// Account and admin-key resolution (see account.hpp). The key is copied only into the returned struct.
#include "pg/account.hpp"

#include <cstdlib>
#include <optional>

extern "C" {
#include "utils/acl.h"
}

#include "core/env_key.hpp"
#include "pg/env_keys.hpp"
#include "pg/guard.hpp"

namespace aispend::pg {
namespace {

core::OptionList to_option_list(List *defs) {
    core::OptionList options;
    ListCell *cell;
    foreach (cell, defs) {
        DefElem *def = lfirst_node(DefElem, cell);
        options.emplace_back(def->defname, strVal(def->arg));
    }
    return options;
}

// Options of the user mapping for (role, server), or nullopt when there is none. Never errors for "missing".
std::optional<core::OptionList> mapping_options(Oid role, Oid server) {
    bool found = false;
    List *defs = pg_call([&]() -> List * {
        HeapTuple tuple =
            SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(role), ObjectIdGetDatum(server));
        if (!HeapTupleIsValid(tuple)) return nullptr;
        found = true;
        bool isnull = false;
        Datum datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tuple, Anum_pg_user_mapping_umoptions, &isnull);
        List *result = isnull ? NIL : untransformRelOptions(datum);
        ReleaseSysCache(tuple);
        return result;
    });
    if (!found) return std::nullopt;
    return to_option_list(defs);
}

// The key named by a mapping's options: the literal admin_key, or the variable admin_key_env names, read
// only when environment keys are allowed (so key_source never tells a role whether a variable is set).
void key_from_mapping(const core::OptionList &options, const char *mapping_kind, bool env_allowed,
                      ResolvedAccount *out) {
    for (const auto &[name, value] : options) {
        if (name == "admin_key") {
            out->admin_key = value;
            out->key_source = mapping_kind;
            return;
        }
        if (name == "admin_key_env") {
            if (!env_allowed) {
                out->key_source = std::string(mapping_kind) + " (environment " + value +
                                  ", not allowed by aispend.env_key_roles)";
                out->env_denied = true;
                return;
            }
            const char *env = std::getenv(value.c_str());
            bool set = env != nullptr && *env != '\0';
            out->admin_key = set ? env : "";
            out->key_source =
                std::string(mapping_kind) + " (environment " + value + (set ? ")" : ", not set)");
            out->missing_env = set ? "" : value;
            return;
        }
    }
}

}  // namespace

ResolvedAccount resolve_account(const std::string &account, bool require_key) {
    ResolvedAccount resolved;
    resolved.name = account;
    bool owned_by_aispend = false;
    bool has_usage = false;
    bool env_allowed = false;
    List *server_options = NIL;
    Oid server_id = pg_call([&]() -> Oid {
        ForeignServer *server = GetForeignServerByName(account.c_str(), true);
        if (server == nullptr) return InvalidOid;
        ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
        owned_by_aispend = strcmp(fdw->fdwname, "aispend") == 0;
        has_usage = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
        // The owner chooses the base URL and may write any role's mapping: both must be trusted with
        // environment keys, or a key could be read for one account and sent where another points.
        env_allowed = role_may_use_env_keys(GetUserId()) && role_may_use_env_keys(server->owner);
        server_options = server->options;
        return server->serverid;
    });
    if (server_id == InvalidOid || !owned_by_aispend)
        throw SqlError(
            ERRCODE_UNDEFINED_OBJECT, "aispend account \"" + account + "\" does not exist", "",
            "Accounts are foreign servers of the aispend wrapper: CREATE SERVER " + account +
                " FOREIGN DATA WRAPPER aispend OPTIONS (provider 'openai'). SELECT * FROM aispend.accounts "
                "lists them.");
    if (!has_usage)
        throw SqlError(
            ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied for aispend account \"" + account + "\"", "",
            "GRANT USAGE ON FOREIGN SERVER " + account + " TO <role>, or use aispend.grant_admin(<role>).");
    resolved.server_id = server_id;
    resolved.settings = core::server_settings(to_option_list(server_options));

    Oid role = pg_call([] { return GetUserId(); });
    if (auto own = mapping_options(role, server_id))
        key_from_mapping(*own, "user mapping", env_allowed, &resolved);
    else if (auto shared = mapping_options(InvalidOid, server_id))
        key_from_mapping(*shared, "PUBLIC user mapping", env_allowed, &resolved);
    else if (env_allowed) {
        std::string env_name = core::fallback_key_env(account);
        const char *env = std::getenv(env_name.c_str());
        if (env != nullptr && *env != '\0') {
            resolved.admin_key = env;
            resolved.key_source = "environment " + env_name;
        }
    }
    if (require_key && resolved.env_denied)
        throw SqlError(
            ERRCODE_INSUFFICIENT_PRIVILEGE,
            "aispend account \"" + account +
                "\": " + resolved.key_source.substr(0, resolved.key_source.find(" (")) +
                " names an environment variable, and environment keys are not allowed here",
            "",
            "Environment keys are used only when both the role running the sync and the account's "
            "owner are superusers or listed in aispend.env_key_roles (a superuser sets it: ALTER "
            "SYSTEM SET aispend.env_key_roles = 'role'; SELECT pg_reload_conf()). Or store the key "
            "in a user mapping: OPTIONS (admin_key '...').");
    if (require_key && !resolved.missing_env.empty())
        throw SqlError(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                       "aispend account \"" + account + "\": environment variable " + resolved.missing_env +
                           ", named by admin_key_env of the " +
                           resolved.key_source.substr(0, resolved.key_source.find(" (")) +
                           ", is not set in the server process",
                       "",
                       "Set it in the environment PostgreSQL starts with (e.g. the systemd unit or "
                       "/etc/postgresql/15/main/environment) and restart the server.");
    if (require_key && resolved.admin_key.empty())
        throw SqlError(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                       "no admin key for aispend account \"" + account + "\" and the current role", "",
                       "CREATE USER MAPPING FOR CURRENT_USER SERVER " + account +
                           " OPTIONS (admin_key '...'), or (admin_key_env '" + core::kEnvKeyPrefix +
                           "...'), or set " + core::fallback_key_env(account) +
                           " in the server's environment (used for roles in aispend.env_key_roles).");
    return resolved;
}

}  // namespace aispend::pg
